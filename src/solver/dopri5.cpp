#include "qfluct/solver/dopri5.hpp"

#include "qfluct/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace qfluct {

namespace {
// Butcher tableau of Dormand & Prince (1980).
constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                 a65 = -5103.0 / 18656;
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84;
// e = b(5th order) - b(4th order)
constexpr double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200,
                 e6 = 22.0 / 525, e7 = -1.0 / 40;
// Dense output of order 4 (Hairer's dopri5.f, contd5; Shampine 1986).
constexpr double d1 = -12715105075.0 / 11282082432, d3 = 87487479700.0 / 32700410799,
                 d4 = -10690763975.0 / 1880347072, d5 = 701980252875.0 / 199316789632,
                 d6 = -1453857185.0 / 822651844, d7 = 69997945.0 / 29380423;
}  // namespace

Dopri5::Dopri5(Rhs f, Index n, OdeTolerances tol, long max_steps)
    : f_(std::move(f)), tol_(tol), max_steps_(max_steps),
      k1_(n), k2_(n), k3_(n), k4_(n), k5_(n), k6_(n), k7_(n), ytmp_(n) {}

double Dopri5::initial_step(double t, const CVec& y) {
  // Hairer's heuristic: h0 = 0.01 |y| / |f|, refined with a second derivative estimate.
  auto scaled_norm = [&](const CVec& v) {
    double s = 0.0;
    for (Index i = 0; i < v.size(); ++i) {
      const double sc = tol_.atol + tol_.rtol * std::abs(y(i));
      s += std::norm(v(i)) / (sc * sc);
    }
    return std::sqrt(s / double(std::max<Index>(1, v.size())));
  };
  const double d0 = scaled_norm(y), d1 = scaled_norm(k1_);
  double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  ytmp_ = y + h0 * k1_;
  f_(t + h0, ytmp_, k2_);
  ++stats_.evaluations;
  const double d2 = scaled_norm(k2_ - k1_) / h0;
  const double h1 = std::max(d1, d2) <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 1.0 / 5);
  return std::min(100 * h0, h1);
}

void Dopri5::prepare(double t, const CVec& y) {
  for (CVec* k : {&k1_, &k2_, &k3_, &k4_, &k5_, &k6_, &k7_, &ytmp_}) k->resize(y.size());
  if (!have_k1_ || t_k1_ != t) {
    f_(t, y, k1_);
    ++stats_.evaluations;
    have_k1_ = true;
    t_k1_ = t;
  }
  if (h_ <= 0) h_ = initial_step(t, y);
}

void Dopri5::dense_output(const CVec& y0, const CVec& y1, double h, double theta, CVec& out) const {
  // y(t + theta h) = y0 + theta (dy + (1 - theta) (b + theta (c + (1 - theta) d))) with
  // dy = y1 - y0, b = h k1 - dy, c = dy - h k7 - b, d = h sum_i d_i k_i; element by element.
  const Index n = y0.size();
  out.resize(n);
  const double s = 1.0 - theta;
  for (Index i = 0; i < n; ++i) {
    const cplx dy = y1(i) - y0(i), b = h * k1_(i) - dy, c = dy - h * k7_(i) - b;
    const cplx d = h * (d1 * k1_(i) + d3 * k3_(i) + d4 * k4_(i) + d5 * k5_(i) + d6 * k6_(i) + d7 * k7_(i));
    out(i) = y0(i) + theta * (dy + s * (b + theta * (c + s * d)));
  }
}

bool Dopri5::controlled_step(double t, const CVec& y, double t_end, double& h, double& t_new) {
  if (stats_.steps + stats_.rejected >= max_steps_)
    throw NumericalError(fmt::format("Dopri5: more than {} steps before t = {} (stiff or tolerances too tight)",
                                     max_steps_, t_end));
  bool last = false;
  h = h_;
  if (t + 1.01 * h >= t_end) {
    h = t_end - t;
    last = true;
  }
  const double err = step_from_k1(t, y, h, ytmp_);
  if (!std::isfinite(err)) throw NumericalError("Dopri5: non-finite state (the model produced NaN or overflow)");
  const double factor = std::clamp(0.9 * std::pow(std::max(err, 1e-10), -0.2), 0.2, 5.0);
  if (!(err <= 1.0)) {
    h_ = h * std::min(1.0, factor);
    ++stats_.rejected;
    return false;
  }
  // Keep the controller's step, not the clipped one, for the next interval.
  if (!last || h >= h_) h_ = h * factor;
  t_new = last ? t_end : t + h;
  return true;
}

void Dopri5::accept(double& t, CVec& y, double t_new) {
  t = t_new;
  y.swap(ytmp_);
  k1_.swap(k7_);  // first same as last
  t_k1_ = t;
  ++stats_.steps;
}

void Dopri5::integrate(double t, CVec& y, const std::vector<double>& times, const Output& output) {
  std::size_t next = 0;
  while (next < times.size() && times[next] <= t) output(next++, y);
  if (next == times.size()) return;
  prepare(t, y);
  double h = 0.0, t_new = 0.0;
  while (next < times.size()) {
    if (!controlled_step(t, y, times.back(), h, t_new)) continue;
    // Grid times inside the step, from its dense output while the stages are still here.
    for (; next < times.size() && times[next] < t_new; ++next) {
      dense_output(y, ytmp_, h, (times[next] - t) / h, yout_);
      output(next, yout_);
    }
    accept(t, y, t_new);
    for (; next < times.size() && times[next] <= t; ++next) output(next, y);
  }
}

void Dopri5::advance(double& t, CVec& y, double t_target) {
  if (!(t_target > t)) return;
  prepare(t, y);
  double h = 0.0, t_new = 0.0;
  while (t < t_target)
    if (controlled_step(t, y, t_target, h, t_new)) accept(t, y, t_new);
}

double Dopri5::step_from_k1(double t, const CVec& y, double h, CVec& y_new) {
  CVec& stage = y_new;  // the stages are assembled in y_new, which ends as the 5th-order solution
  stage = y + h * a21 * k1_;
  f_(t + c2 * h, stage, k2_);
  stage = y + h * (a31 * k1_ + a32 * k2_);
  f_(t + c3 * h, stage, k3_);
  stage = y + h * (a41 * k1_ + a42 * k2_ + a43 * k3_);
  f_(t + c4 * h, stage, k4_);
  stage = y + h * (a51 * k1_ + a52 * k2_ + a53 * k3_ + a54 * k4_);
  f_(t + c5 * h, stage, k5_);
  stage = y + h * (a61 * k1_ + a62 * k2_ + a63 * k3_ + a64 * k4_ + a65 * k5_);
  f_(t + h, stage, k6_);
  y_new = y + h * (b1 * k1_ + b3 * k3_ + b4 * k4_ + b5 * k5_ + b6 * k6_);
  f_(t + h, y_new, k7_);
  stats_.evaluations += 6;
  // Error estimate, element by element to avoid another full-size temporary.
  const Index n = y.size();
  double err2 = 0.0;
  for (Index i = 0; i < n; ++i) {
    const cplx e = h * (e1 * k1_(i) + e3 * k3_(i) + e4 * k4_(i) + e5 * k5_(i) + e6 * k6_(i) + e7 * k7_(i));
    const double sc = tol_.atol + tol_.rtol * std::sqrt(std::max(std::norm(y(i)), std::norm(y_new(i))));
    err2 += std::norm(e) / (sc * sc);
  }
  return std::sqrt(err2 / double(std::max<Index>(1, n)));
}

double Dopri5::try_step(double t, const CVec& y, double h, CVec& y_new) {
  const Index n = y.size();
  for (CVec* k : {&k1_, &k2_, &k3_, &k4_, &k5_, &k6_, &k7_, &ytmp_}) k->resize(n);
  have_k1_ = false;  // the buffers are reused: advance() must re-evaluate its first stage
  f_(t, y, k1_);
  ++stats_.evaluations;
  return step_from_k1(t, y, h, y_new);
}

}  // namespace qfluct
