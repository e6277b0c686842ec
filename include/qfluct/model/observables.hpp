#pragma once
/// The observables qfluct reports, defined once for pure states and block densities (so the
/// trajectory and master-equation paths average the same code).
///
/// A state is first reduced to a raw record of expectation values that are linear in the
/// state, and so can be averaged over trajectories:
///   tau_x, tau_y, tau_z, <q>, <q^2>, <q^3>, <q^4>, n      (q = scale X, docs/theory.md section 2)
/// and the reported columns are functions of the (averaged) raw record:
///   tau_x, tau_y, tau_z, q, Q2, Q4, nongauss = Q4 - 3 Q2^2, n
/// with Q = q - <q> centred on the ensemble mean (Q2, Q4 are central moments of the mixture).
/// Models without a fluctuation mode report the three tau columns only; models with extra
/// c-number columns (the mean-field m_x, m_y, m_z) append them to both.
#include "qfluct/model/sector_model.hpp"

#include <string>
#include <vector>

namespace qfluct {

class ObservableSet {
 public:
  explicit ObservableSet(const SectorModel& model);

  Index raw_size() const { return Index(raw_names_.size()); }
  Index column_count() const { return Index(column_names_.size()); }
  const std::vector<std::string>& raw_names() const { return raw_names_; }
  const std::vector<std::string>& column_names() const { return column_names_; }
  bool fluctuations() const { return fluctuations_; }
  /// Whether column c is a raw expectation value itself (tau_a, q, n, model extras), rather
  /// than a nonlinear function of several (Q2, Q4, nongauss).
  bool column_is_linear(Index c) const { return raw_of_column_[std::size_t(c)] >= 0; }
  /// For a linear column, its index in the raw record.
  Index raw_index_of_column(Index c) const { return raw_of_column_[std::size_t(c)]; }
  /// Index of <q^4> in the raw record (fluctuations only).
  static constexpr Index raw_q4 = 6;

  /// Raw record of a pure sector state at time t (need not be normalised).
  void measure(const SectorState& state, double t, double* raw) const;
  /// Raw record of a block-diagonal density operator at time t.
  void measure(const std::vector<Eigen::Map<const CMat>>& blocks, double t, double* raw) const;
  /// Columns from a raw record (or from an average of raw records).
  void derive(const double* raw, double* columns) const;
  /// Moves estimates of the nonlinear columns onto the bounds every state obeys (0 <= Q2 <=
  /// <q^2>, Q4 >= Q2^2, nongauss >= -2 Q2^2; see bound_central_moments), given the averaged raw
  /// record. derive() of an average obeys them already; bias-corrected estimates need not.
  void bound(const double* raw, double* columns) const;

 private:
  const SectorModel& model_;
  bool fluctuations_;
  double scale_ = 1.0;
  Index extras_ = 0;
  std::vector<std::string> raw_names_, column_names_;
  std::vector<Index> raw_of_column_;  // -1 for nonlinear columns
  // Full-sector operators for densities, built lazily once per sector: tau_x, tau_y, tau_z, X, n.
  mutable std::vector<std::vector<Operator>> full_;
  const std::vector<Operator>& full_operators(int s) const;
};

}  // namespace qfluct
