#include "qfluct/solver/wiener_increments.hpp"

#include <boost/math/special_functions/trigamma.hpp>
#include <boost/random/normal_distribution.hpp>
#include <cmath>
#include <numbers>

namespace qfluct {

int levy_area_terms(Index m, double rate, double h) {
  if (m < 2) return 0;
  const double rh = std::max(rate * h, 1e-300);
  const double n = std::sqrt(double(m)) / (std::sqrt(12.0) * std::numbers::pi * std::sqrt(rh));
  return int(std::clamp(std::ceil(n), 1.0, 1e6));
}

void WienerIncrements::draw(Rng& rng, double h, int terms, WienerStep& out) {
  boost::random::normal_distribution<double> normal;
  const double sh = std::sqrt(h);
  out.h = h;
  out.dW.resize(m_);
  out.I.resize(m_, m_);
  RVec& xi = xi_;  // dW / sqrt(h): the areas are drawn for a unit step and scaled by h
  xi.resize(m_);
  for (Index i = 0; i < m_; ++i) xi(i) = normal(rng), out.dW(i) = sh * xi(i);
  for (Index i = 0; i < m_; ++i)
    for (Index j = 0; j < m_; ++j) out.I(i, j) = 0.5 * out.dW(i) * out.dW(j);
  for (Index i = 0; i < m_; ++i) out.I(i, i) -= 0.5 * h;
  if (m_ < 2 || terms <= 0) return;
  // Unit step: A = (1/2pi) antisym( sum_r X_r (Y_r - sqrt2 xi)^T / r + a xi psi^T ) + tail noise,
  // with X_r, Y_r, psi ~ N(0, 1) and a^2 = 2 sum_{r > n} 1/r^2, which gives the tail its exact
  // conditional variance (Mrongowius & Roessler 2022, Algorithm 1).
  const int n = terms;
  x_.resize(m_, n);
  y_.resize(n, m_);
  for (Index i = 0; i < m_; ++i)
    for (int r = 0; r < n; ++r) x_(i, r) = normal(rng);
  for (int r = 0; r < n; ++r)
    for (Index j = 0; j < m_; ++j) y_(r, j) = (normal(rng) - std::numbers::sqrt2 * xi(j)) / double(r + 1);
  area_.noalias() = x_ * y_;
  psi_.resize(m_);
  for (Index j = 0; j < m_; ++j) psi_(j) = normal(rng);
  const double a = std::sqrt(2.0 * boost::math::trigamma(double(n + 1)));
  area_.noalias() += a * xi * psi_.transpose();
  const double scale = h / (2.0 * std::numbers::pi);
  for (Index i = 0; i < m_; ++i)
    for (Index j = i + 1; j < m_; ++j) {
      const double A = scale * (area_(i, j) - area_(j, i) + a * normal(rng));
      out.I(i, j) += A;
      out.I(j, i) -= A;
    }
}

void append_wiener_step(WienerStep& total, const WienerStep& next) {
  if (total.dW.size() == 0) {
    total = next;
    return;
  }
  total.I += next.I + total.dW * next.dW.transpose();
  total.dW += next.dW;
  total.h += next.h;
}

}  // namespace qfluct
