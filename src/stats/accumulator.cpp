#include "qfluct/stats/accumulator.hpp"

#include "qfluct/core/error.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace qfluct {

namespace {
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
}

MomentAccumulator::MomentAccumulator(Index count, RVec mean, RVec m2) : n_(count), mean_(std::move(mean)), m2_(std::move(m2)) {
  if (mean_.size() < 1 || m2_.size() != mean_.size() || count < 0)
    throw InputError("state", "needs count >= 0 and means and M2 of one length >= 1");
}

MomentAccumulator::MomentAccumulator(Index dim) {
  if (dim < 1) throw InputError("dim", "must be at least 1, got " + std::to_string(dim));
  mean_ = RVec::Zero(dim);
  m2_ = RVec::Zero(dim);
}

void MomentAccumulator::add(const double* x) {
  ++n_;
  const double n = double(n_);
  for (Index i = 0; i < mean_.size(); ++i) {
    const double delta = x[i] - mean_[i];
    mean_[i] += delta / n;
    // delta * (x - new mean) = delta^2 (n-1)/n, written so no squared magnitude of x appears.
    m2_[i] += delta * (x[i] - mean_[i]);
  }
}

void MomentAccumulator::add(const Eigen::Ref<const RVec>& x) {
  if (x.size() != dim())
    throw InputError("x", "sample has " + std::to_string(x.size()) + " components, expected " + std::to_string(dim()));
  add(x.data());
}

void MomentAccumulator::merge(const MomentAccumulator& other) {
  if (other.dim() != dim())
    throw InputError("other", "dimension " + std::to_string(other.dim()) + " differs from " + std::to_string(dim()));
  if (other.n_ == 0) return;
  if (n_ == 0) {
    *this = other;
    return;
  }
  const double na = double(n_), nb = double(other.n_), n = na + nb;
  const double wb = nb / n, wab = na * nb / n;
  for (Index i = 0; i < mean_.size(); ++i) {
    const double delta = other.mean_[i] - mean_[i];
    mean_[i] += delta * wb;
    m2_[i] += other.m2_[i] + delta * delta * wab;
  }
  n_ += other.n_;
}

double MomentAccumulator::mean(Index i) const { return n_ > 0 ? mean_[i] : nan; }

double MomentAccumulator::variance(Index i) const { return n_ > 1 ? m2_[i] / double(n_ - 1) : nan; }

double MomentAccumulator::standard_error(Index i) const {
  return n_ > 1 ? std::sqrt(variance(i) / double(n_)) : nan;
}

RVec MomentAccumulator::means() const {
  RVec v(dim());
  for (Index i = 0; i < dim(); ++i) v[i] = mean(i);
  return v;
}

RVec MomentAccumulator::variances() const {
  RVec v(dim());
  for (Index i = 0; i < dim(); ++i) v[i] = variance(i);
  return v;
}

RVec MomentAccumulator::standard_errors() const {
  RVec v(dim());
  for (Index i = 0; i < dim(); ++i) v[i] = standard_error(i);
  return v;
}

}  // namespace qfluct
