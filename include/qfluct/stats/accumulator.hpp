#pragma once
/// Streaming, mergeable first and second moments of a stream of fixed-length sample vectors.
///
/// For each component i the accumulator holds the count n, the running mean and
/// M2 = sum_k (x_k,i - mean_i)^2, updated one sample at a time by Welford's recurrence and
/// combined across accumulators by the pairwise formula of Chan, Golub and LeVeque (1979).
/// Neither forms sum x^2, so a large common offset (1e8 + noise) does not cancel away the
/// variance. Every operation is a fixed sequence of floating-point steps: the same sequence of
/// add() and merge() calls gives the same bits, whatever thread runs it.
///
///   MomentAccumulator acc(5);
///   for (const auto& raw : records) acc.add(raw.data());
///   acc.mean(2), acc.standard_error(2);
#include "qfluct/core/types.hpp"

namespace qfluct {

class MomentAccumulator {
 public:
  /// An empty accumulator for samples of `dim` components; dim >= 1.
  explicit MomentAccumulator(Index dim);

  /// An accumulator in a given state (count, means, M2 as the accessors below give them): what
  /// one process sends another (ranks, checkpoints). Throws InputError on mismatched sizes.
  MomentAccumulator(Index count, RVec mean, RVec m2);

  /// Adds one sample x[0 .. dim-1].
  void add(const double* x);
  /// Adds one sample; its size must equal dim().
  void add(const Eigen::Ref<const RVec>& x);
  /// Absorbs the samples of `other` (same dim), as if they had been added after this one's.
  /// Exact in exact arithmetic; in floating point it agrees with the single stream to rounding.
  void merge(const MomentAccumulator& other);

  Index count() const { return n_; }
  Index dim() const { return mean_.size(); }

  /// Sample mean of component i; NaN when count() == 0.
  double mean(Index i) const;
  /// Unbiased sample variance sum (x - mean)^2 / (n - 1) of component i; NaN when count() < 2,
  /// since one sample says nothing about the spread.
  double variance(Index i) const;
  /// Standard error of the mean, sqrt(variance / n); NaN when count() < 2 (not infinity, so
  /// that a z-score test built on it fails rather than passes).
  double standard_error(Index i) const;

  /// The per-component values above, as vectors of length dim().
  RVec means() const;
  RVec variances() const;
  RVec standard_errors() const;
  /// The state itself: running means and sums of squared deviations.
  const RVec& mean_state() const { return mean_; }
  const RVec& m2_state() const { return m2_; }

 private:
  Index n_ = 0;
  RVec mean_;
  RVec m2_;  ///< sum of squared deviations from the current mean
};

}  // namespace qfluct
