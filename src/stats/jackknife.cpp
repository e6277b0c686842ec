#include "qfluct/stats/jackknife.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/stats/accumulator.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace qfluct {

namespace {
constexpr double nan = std::numeric_limits<double>::quiet_NaN();
}

GroupedSamples::GroupedSamples(Index dim) : dim_(dim) {
  if (dim < 1) throw InputError("dim", "must be at least 1, got " + std::to_string(dim));
  total_ = RVec::Zero(dim);
}

void GroupedSamples::add_group(const double* sums, Index count) {
  // An empty group would count as a group and shrink the error by sqrt((G-1)/G) for nothing.
  if (count < 1) throw InputError("count", "a group needs at least one sample, got " + std::to_string(count));
  sums_.insert(sums_.end(), sums, sums + dim_);
  counts_.push_back(count);
  for (Index i = 0; i < dim_; ++i) total_[i] += sums[i];
  n_ += count;
}

void GroupedSamples::add_group(const MomentAccumulator& group) {
  if (group.dim() != dim_)
    throw InputError("group", "dimension " + std::to_string(group.dim()) + " differs from " + std::to_string(dim_));
  RVec sums = group.means() * double(group.count());
  add_group(sums.data(), group.count());
}

RVec GroupedSamples::means() const {
  if (n_ == 0) return RVec::Constant(dim_, nan);
  return total_ / double(n_);
}

void GroupedSamples::leave_one_out_means(Index g, double* out) const {
  if (g < 0 || g >= groups())
    throw InputError("g", "group " + std::to_string(g) + " of " + std::to_string(groups()));
  const double rest = double(n_ - counts_[std::size_t(g)]);  // 0 for a single group: NaN means
  const double* s = sums_.data() + g * dim_;
  for (Index i = 0; i < dim_; ++i) out[i] = (total_[i] - s[i]) / rest;
}

Eigen::MatrixXd GroupedSamples::covariance_of_means(Index first, Index count) const {
  if (first < 0 || count < 0 || first + count > dim_)
    throw InputError("count", "components " + std::to_string(first) + " .. " + std::to_string(first + count - 1) +
                                  " outside 0 .. " + std::to_string(dim_ - 1));
  const Index G = groups();
  if (G < 2) return Eigen::MatrixXd::Constant(count, count, nan);
  Eigen::MatrixXd loo(count, G);
  for (Index g = 0; g < G; ++g) {
    const double rest = double(n_ - counts_[std::size_t(g)]);
    const double* s = sums_.data() + g * dim_ + first;
    for (Index i = 0; i < count; ++i) loo(i, g) = (total_[first + i] - s[i]) / rest;
  }
  const Eigen::MatrixXd centred = loo.colwise() - loo.rowwise().mean();
  return (double(G) - 1.0) / double(G) * (centred * centred.transpose());
}

RVec GroupedSamples::leave_one_out_means(Index g) const {
  RVec out(dim_);
  leave_one_out_means(g, out.data());
  return out;
}

JackknifeResult jackknife(const GroupedSamples& samples, const MeanFunction& f, Index out_dim) {
  if (!f) throw InputError("f", "no function given");
  if (out_dim < 1) throw InputError("out_dim", "must be at least 1, got " + std::to_string(out_dim));
  const Index G = samples.groups();
  JackknifeResult r;
  r.groups = G;
  r.count = samples.count();
  r.plain = r.estimate = r.error = RVec::Constant(out_dim, nan);
  if (G == 0) return r;

  // Outputs start as NaN so that any f leaves undefined is reported as undefined.
  const RVec means = samples.means();
  f(means.data(), r.plain.data());
  if (G == 1) {
    r.estimate = r.plain;
    return r;
  }

  Eigen::MatrixXd theta = Eigen::MatrixXd::Constant(out_dim, G, nan);  // column g: f without group g
  RVec loo(samples.dim());
  for (Index g = 0; g < G; ++g) {
    samples.leave_one_out_means(g, loo.data());
    f(loo.data(), theta.col(g).data());
  }

  const double Gd = double(G);
  for (Index k = 0; k < out_dim; ++k) {
    bool finite = std::isfinite(r.plain[k]);
    double sum = 0.0;
    for (Index g = 0; g < G; ++g) {
      finite = finite && std::isfinite(theta(k, g));
      sum += theta(k, g);
    }
    if (!finite) continue;  // estimate and error stay NaN
    const double bar = sum / Gd;
    // Two passes: the replicates agree to about error / G, so sum theta^2 - G bar^2 would cancel.
    double ss = 0.0;
    for (Index g = 0; g < G; ++g) ss += (theta(k, g) - bar) * (theta(k, g) - bar);
    // G plain - (G - 1) bar, written as a small correction to plain.
    r.estimate[k] = r.plain[k] + (Gd - 1.0) * (r.plain[k] - bar);
    r.error[k] = std::sqrt((Gd - 1.0) / Gd * ss);
  }
  return r;
}

}  // namespace qfluct
