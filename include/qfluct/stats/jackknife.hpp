#pragma once
/// Delete-one-group jackknife for smooth functions of means (Efron and Stein 1981; Efron 1982,
/// chapter 3), over samples that arrive in groups (qfluct's blocks of consecutive trajectories).
///
/// GroupedSamples keeps, per group g, the component sums s_g and the count n_g, in the order the
/// groups were added. With S = sum_g s_g and n = sum_g n_g, the leave-one-group-out means are
/// (S - s_g) / (n - n_g). For a function f of the means, jackknife() reports
///   plain    = f(S / n)
///   estimate = G plain - (G - 1) theta_bar          (bias removed to O(1/n^2))
///   error    = sqrt((G - 1) / G  sum_g (theta_g - theta_bar)^2)
/// with theta_g = f(leave-one-out means of g) and theta_bar their average.
/// These are the formulas for G equal groups; a group of different size (the short last block
/// when ntraj is not a multiple of the block size) perturbs them by a relative O(1/G), which is
/// harmless for tens of groups or more but not for a handful.
///
///   GroupedSamples data(4);
///   for (const auto& block : blocks) data.add_group(block.sums.data(), block.count);
///   const JackknifeResult r = jackknife(data, central_moments, central_moments_size);
///   r.estimate(3), r.error(3);   // Q4 - 3 Q2^2 and its standard error
#include "qfluct/core/types.hpp"

#include <functional>
#include <vector>

namespace qfluct {

class MomentAccumulator;

class GroupedSamples {
 public:
  /// No groups yet, for samples of `dim` components; dim >= 1.
  explicit GroupedSamples(Index dim);

  /// Appends a group of `count` >= 1 samples whose component sums are sums[0 .. dim-1].
  void add_group(const double* sums, Index count);
  /// Appends a group with sums = mean * count taken from an accumulator of the same dim.
  void add_group(const MomentAccumulator& group);

  Index dim() const { return dim_; }
  /// Number of groups G.
  Index groups() const { return Index(counts_.size()); }
  /// Total number of samples n over all groups.
  Index count() const { return n_; }
  /// Number of samples in group g.
  Index group_count(Index g) const { return counts_[std::size_t(g)]; }

  /// Means S / n over all groups; NaN when there are no groups.
  RVec means() const;
  /// Means (S - s_g) / (n - n_g) without group g, 0 <= g < groups(); NaN for a single group.
  RVec leave_one_out_means(Index g) const;
  /// The same, written to out[0 .. dim-1] without allocating.
  void leave_one_out_means(Index g, double* out) const;
  /// Jackknife covariance of the means of components first .. first + count - 1:
  ///   (G - 1) / G  sum_g (L_g - L_bar)(L_g - L_bar)^T,  L_g = leave-one-out means of group g,
  /// the same spread the jackknife error of a linear function measures (for equal groups it is
  /// the usual covariance of the group means divided by G). A count x count matrix; NaN for
  /// fewer than two groups.
  Eigen::MatrixXd covariance_of_means(Index first, Index count) const;

 private:
  Index dim_;
  Index n_ = 0;
  std::vector<double> sums_;  ///< group-major: sums_[g * dim + i]
  std::vector<Index> counts_;
  RVec total_;                ///< S, summed in group order
};

/// A function of the means: reads means[0 .. dim-1], writes out[0 .. out_dim-1].
/// Outputs it leaves unwritten read as NaN.
using MeanFunction = std::function<void(const double* means, double* out)>;

/// Jackknife of a function of the means, one entry per output (see the file comment).
struct JackknifeResult {
  RVec plain;     ///< f at the means of all samples
  RVec estimate;  ///< bias-corrected G plain - (G - 1) theta_bar
  RVec error;     ///< jackknife standard error
  Index groups = 0;
  Index count = 0;  ///< samples over all groups
};

/// Delete-one-group jackknife of f over `samples`, for f with `out_dim` >= 1 outputs.
/// With G = 1 group, estimate = plain and error is NaN; with none, everything is NaN.
/// An output for which f gives a non-finite value, at the full means or at any leave-one-out
/// means (e.g. the square root of a variance that came out negative), gets NaN estimate and
/// error; plain keeps f's value and the other outputs are unaffected.
JackknifeResult jackknife(const GroupedSamples& samples, const MeanFunction& f, Index out_dim);

}  // namespace qfluct
