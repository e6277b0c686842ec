#include "qfluct/solver/rosenbrock.hpp"

#include "qfluct/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <stdexcept>

namespace qfluct {

namespace {

// Rodas3 in the form k_i = (I - gamma h L)^{-1} h L (y + sum_{j<i} c_ij k_j), c = a + Gamma
// (the stage weights a_ij and the off-diagonal Gamma_ij of the usual tableau; for linear L the two
// enter only as their sum), y_new = y + sum_i b_i k_i, error = sum_i e_i k_i (b minus the
// embedded weights). Its stability function 8 (z^3 - 6 z + 6) / (3 (z - 2)^4) equals e^z to
// O(z^4) and vanishes at infinity; the embedded one, 2 (z^2 + 2 z - 4) / (z - 2)^3, is e^z to
// O(z^3) (checked symbolically; tests/solver/rosenbrock.test.cpp measures the orders).
constexpr double gamma = 0.5;
constexpr double c[4][3] = {{0, 0, 0}, {1.0, 0, 0}, {0.75, -0.25, 0}, {0.75 + 1.0 / 12, -0.25 + 1.0 / 12, 0.5 - 2.0 / 3}};
constexpr double b[4] = {5.0 / 6, -1.0 / 6, -1.0 / 6, 0.5};
constexpr double e[4] = {5.0 / 6 - 0.75, -1.0 / 6 + 0.25, -1.0 / 6 - 0.5, 0.5};

}  // namespace

LinearRosenbrock::LinearRosenbrock(Eigen::SparseMatrix<cplx> L, OdeTolerances tol, long max_steps)
    : L_(std::move(L)), tol_(tol), max_steps_(max_steps) {
  if (L_.rows() != L_.cols()) throw std::invalid_argument("LinearRosenbrock: L must be square");
  identity_.resize(L_.rows(), L_.cols());
  identity_.setIdentity();
  L_.makeCompressed();
  for (auto& k : k_) k.resize(L_.rows());
  w_.resize(L_.rows());
}

void LinearRosenbrock::factor(double h) {
  if (h == factored_h_) return;
  Eigen::SparseMatrix<cplx> A = identity_ - cplx(gamma * h) * L_;
  A.makeCompressed();
  if (!analyzed_) {
    lu_.analyzePattern(A);
    analyzed_ = true;
  }
  lu_.factorize(A);
  if (lu_.info() != Eigen::Success)
    throw NumericalError(fmt::format("Rosenbrock: I - h/2 L is singular at h = {:.3g} ({})", h, lu_.lastErrorMessage()));
  factored_h_ = h;
  ++stats_.factorizations;
}

double LinearRosenbrock::try_step(const CVec& y, double h, CVec& y_new) {
  factor(h);
  for (int i = 0; i < 4; ++i) {
    w_ = y;
    for (int j = 0; j < i; ++j)
      if (c[i][j] != 0.0) w_ += c[i][j] * k_[j];
    k_[i] = lu_.solve(cplx(h) * (L_ * w_));
    ++stats_.solves;
  }
  y_new = y;
  for (int i = 0; i < 4; ++i) y_new += b[i] * k_[i];
  double sum = 0.0;
  for (Index n = 0; n < y.size(); ++n) {
    cplx err = 0.0;
    for (int i = 0; i < 4; ++i) err += e[i] * k_[i](n);
    const double scale = tol_.atol + tol_.rtol * std::max(std::abs(y(n)), std::abs(y_new(n)));
    const double r = std::abs(err) / scale;
    sum += r * r;
  }
  return y.size() > 0 ? std::sqrt(sum / double(y.size())) : 0.0;
}

void LinearRosenbrock::integrate(double t, CVec& y, const std::vector<double>& times, const Dopri5::Output& output) {
  std::size_t next = 0;
  while (next < times.size() && times[next] <= t) output(next++, y);
  if (next == times.size()) return;
  // First step: a small fraction of the span, grown up to 5-fold per accepted step.
  double h = 1e-6 * (times.back() - t);
  CVec y_new(y.size());
  while (next < times.size()) {
    const double target = times[next];
    // Equal steps to the next output time, so that they share one factorisation.
    const double left = target - t;
    const double pieces = std::ceil(left / h * (1.0 - 1e-12));
    double step = pieces <= 1.0 ? left : left / pieces;
    // Rounding makes the equal pieces differ in the last bits: keep the factorised size (the
    // last piece then lands on the grid time up to that rounding, ~1e-16 relative).
    if (std::abs(step - factored_h_) <= 1e-12 * step) step = factored_h_;
    if (stats_.steps + stats_.rejected >= max_steps_)
      throw NumericalError(fmt::format("Rosenbrock: more than {} steps before t = {:.6g}", max_steps_, target));
    if (!(step > 1e-14 * std::max(1.0, std::abs(t))))
      throw NumericalError(fmt::format("Rosenbrock: the step size underflows at t = {:.6g}", t));
    const double err = try_step(y, step, y_new);
    const double grow = err > 0 ? std::clamp(0.9 * std::pow(err, -1.0 / 3.0), 0.2, 5.0) : 5.0;
    if (!(err <= 1.0)) {  // NaN included
      ++stats_.rejected;
      h = step * std::min(grow, 0.9);
      continue;
    }
    ++stats_.steps;
    const bool last = pieces <= 1.0;
    t = last ? target : t + step;
    y.swap(y_new);
    // Growth below 20% is not worth a new factorisation.
    if (grow < 1.0 || grow > 1.2) h = step * grow;
    else h = std::max(h, step);
    if (last) output(next++, y);
  }
}

}  // namespace qfluct
