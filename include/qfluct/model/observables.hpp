#pragma once
/// The observables a model declares (observable_declaration.hpp), measured once for pure states
/// and block densities, so the trajectory and master-equation paths average the same code.
///
/// A state is reduced to a raw record of quantities linear in the state (expectation values,
/// moments <q^k> of a quadrature, the reduced density matrix of the system levels, c-numbers),
/// which can be averaged over trajectories; the reported columns are functions of the (averaged)
/// raw record: copies of raw entries (linear columns) or nonlinear functions of several (central
/// moments Q2 = <(q - <q>)^2>, Q4, nongauss = Q4 - 3 Q2^2 of the mixture; purity; concurrence and
/// negativity). For the central-spin family the raw record is
///   tau_x, tau_y, tau_z, <q>, <q^2>, <q^3>, <q^4>, n      (q = scale X, docs/theory.md section 2)
/// and the columns tau_x, tau_y, tau_z, q, Q2, Q4, nongauss, n (central_spin_terms.hpp).
#include "qfluct/model/observable_declaration.hpp"
#include "qfluct/model/sector_model.hpp"

#include <string>
#include <vector>

namespace qfluct {

class ObservableSet {
 public:
  explicit ObservableSet(const SectorModel& model);

  const ObservableDeclaration& declaration() const { return decl_; }
  Index raw_size() const { return Index(raw_names_.size()); }
  Index column_count() const { return Index(column_names_.size()); }
  const std::vector<std::string>& raw_names() const { return raw_names_; }
  const std::vector<std::string>& column_names() const { return column_names_; }
  /// Whether the model reports quadrature moments (q, Q2, Q4, nongauss).
  bool fluctuations() const { return fourth_moment_ >= 0; }
  /// Index of the first <q^4> in the raw record (-1 without moments): the heavy-tail check.
  Index fourth_moment_raw() const { return fourth_moment_; }
  /// Whether column c is a raw entry itself, rather than a nonlinear function of several.
  bool column_is_linear(Index c) const { return raw_of_column_[std::size_t(c)] >= 0; }
  /// For a linear column, its index in the raw record.
  Index raw_index_of_column(Index c) const { return raw_of_column_[std::size_t(c)]; }
  /// Column index of a name (-1 when absent).
  Index column_index(const std::string& name) const;

  /// Raw record of a pure sector state at time t (need not be normalised).
  void measure(const SectorState& state, double t, double* raw) const;
  /// Raw record of a block-diagonal density operator at time t.
  void measure(const std::vector<Eigen::Map<const CMat>>& blocks, double t, double* raw) const;
  /// The same for blocks on ladder windows (block s is d windows[s].size square, zero outside
  /// its window; empty blocks are skipped). Moments are taken on the window widened by two
  /// rungs, so they are exact for quadratures that move one rung (the Dicke J_+ + J_-).
  void measure(const std::vector<Eigen::Map<const CMat>>& blocks, const std::vector<Window>& windows, double t,
               double* raw) const;
  /// The block form of measure() as linear functionals: block s on window w (d w.size square, zero
  /// outside the window; w may be the whole ladder) adds Re sum W(row, col) rho(row, col) to
  /// raw[raw] for each weight {raw, row, col, W} returned. The same sums as measure(blocks,
  /// windows, ...) (up to rounding), in a form that a series can apply to each of its terms
  /// without forming the state at every output time (pruned_master_equation.cpp). The c-number
  /// entries take no weights: see c_numbers.
  struct Weight {
    Index raw, row, col;
    cplx value;
  };
  std::vector<Weight> linear_weights(int s, Window w) const;
  /// raw <- the c-number entries of the record at time t, every other entry 0.
  void c_numbers(double t, double* raw) const;
  /// Columns from a raw record (or from an average of raw records).
  void derive(const double* raw, double* columns) const;
  /// Moves estimates of the central moments onto the bounds every state obeys (0 <= Q2 <=
  /// <q^2>, Q4 >= Q2^2, nongauss >= -2 Q2^2; see bound_central_moments), given the averaged raw
  /// record. derive() of an average obeys them already; bias-corrected estimates need not.
  void bound(const double* raw, double* columns) const;

  /// Nonlinear column groups whose error needs the second-order (curvature) term because their
  /// gradient can vanish (central moments at <q> ~ 0): first column, column count, first raw
  /// entry and raw count they depend on.
  struct CurvatureGroup {
    Index column, columns, raw, raws;
  };
  const std::vector<CurvatureGroup>& curvature_groups() const { return curvature_; }
  /// Derives the columns of one group (column index `column`) from its raw entries alone.
  void derive_group(Index column, const double* raw_of_group, double* columns) const;

 private:
  const SectorModel& model_;
  ObservableDeclaration decl_;
  std::vector<Index> raw_offset_;     // per linear quantity
  std::vector<Index> column_offset_;  // per column group
  Index fourth_moment_ = -1;
  std::vector<std::string> raw_names_, column_names_;
  std::vector<Index> raw_of_column_;  // -1 for nonlinear columns
  std::vector<CurvatureGroup> curvature_;
  // Full-sector operators for densities, built lazily once per sector, per linear quantity.
  mutable std::vector<std::vector<Operator>> full_;
  const std::vector<Operator>& full_operators(int s) const;
  // Likewise on a window, rebuilt when the window of the sector changes.
  mutable std::vector<std::pair<Window, std::vector<Operator>>> windowed_;
  std::vector<Operator> operators_on(int s, Window w) const;
  /// Adds sector s's contribution (rho on window w: d w.size square) to the raw record.
  void accumulate(const CMatCRef& rho, Index ladder, const std::vector<Operator>& ops, double* raw) const;
  void derive_one(std::size_t group, const double* raw, double* columns) const;
};

}  // namespace qfluct
