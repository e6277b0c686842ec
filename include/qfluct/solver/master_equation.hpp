#pragma once
/// The exact reference: the block master equation (docs/theory.md section 4). rho = (+)_s rho_s with
/// dense blocks, each evolving as
///   d rho_s/dt = -i (H_eff rho_s - rho_s H_eff^+) + sum_{c,b} rate_c K_cb rho_{s'} K_cb^+,
///   H_eff = H - (i/2) sum_c rate_c sum_b K_cb^+ K_cb   (a diagonal, or an operator on the
///           general path of SectorModel::diagonal_channel_weights),
/// where the Kraus terms bring weight in from the neighbouring sectors s' = s - shift_b.
/// Integrated with adaptive Dormand-Prince 5(4); OpenMP over blocks inside one derivative.
#include "qfluct/model/observables.hpp"
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/banded_lindbladian.hpp"
#include "qfluct/solver/dopri5.hpp"
#include "qfluct/solver/time_series.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace qfluct {

/// Per truncated mode (SectorModel::truncated_modes), the population of its two highest levels:
/// the truncation measure of a Fock cutoff.
std::vector<double> top_level_populations(const SectorModel& model, const std::vector<Eigen::Map<const CMat>>& blocks);
/// The largest of those (0 without truncated modes).
double top_rung_population(const SectorModel& model, const std::vector<Eigen::Map<const CMat>>& blocks);

/// How the master equation is integrated: Dormand-Prince 5(4) (explicit: steps limited by the
/// fastest rate), the Rosenbrock method Rodas3 on the assembled generator (solver/rosenbrock.hpp:
/// steps limited by accuracy only; time-independent models), or chosen by stiffness.
enum class MasterIntegrator { automatic, dopri5, rosenbrock };

struct MasterOptions {
  OdeTolerances tol{1e-9, 1e-11};
  /// automatic: when stability alone would make the explicit method take more than 10^4 steps
  /// (span x spectral_radius_estimate() / 3.3 > 10^4), the model is time-independent and has
  /// at most 2e4 unknowns (the sparse LU's fill grows fast beyond),
  /// Dormand-Prince takes the first output interval and, if its mean step is at the stability
  /// limit (h |lambda|max > 1, 100 steps or more), Rosenbrock the rest; Dormand-Prince otherwise.
  MasterIntegrator integrator = MasterIntegrator::automatic;
  std::function<void(double fraction)> progress;  ///< called after each output time
  /// Called at each output time with the per-mode populations of the two highest Fock levels
  /// (top_level_populations); it may throw to stop the run (an automatic cutoff found too small).
  std::function<void(const std::vector<double>& top)> monitor;
};

class BlockMasterEquation {
 public:
  explicit BlockMasterEquation(const SectorModel& model);

  /// Number of complex numbers in the packed state.
  Index size() const { return offset_.back(); }
  CVec pack(const BlockDensity& rho) const;
  std::vector<Eigen::Map<const CMat>> blocks(const CVec& y) const;
  /// dy = L(t) y: the Lindblad generator on the packed blocks (t matters for drives only).
  void derivative(const CVec& y, CVec& dy, double t = 0.0) const;

  /// The generator as a sparse matrix (banded models only; for steady states).
  Eigen::SparseMatrix<cplx> assemble() const;
  const SectorModel& model() const { return model_; }
  const std::vector<Index>& block_dims() const { return dim_; }
  const std::vector<Index>& block_offsets() const { return offset_; }

  /// An estimate of the generator's spectral radius |lambda|_max, which bounds the explicit
  /// method's step by ~3.3 / |lambda|_max: 30 power iterations of L from a fixed pseudo-random
  /// vector (a lower bound that converges from below; deterministic).
  double spectral_radius_estimate() const;

  /// Integrates from the model's initial density and reports the observables at `times`.
  TimeSeries solve(const std::vector<double>& times, const MasterOptions& options = {}) const;
  /// The same from a given packed state; the final state is left in y.
  TimeSeries solve(CVec& y, const std::vector<double>& times, const MasterOptions& options = {}) const;

 private:
  using Incoming = BandedLindbladian::Incoming;
  const SectorModel& model_;
  std::vector<Index> dim_, offset_;
  std::vector<Operator> H_;
  std::vector<std::vector<Operator>> drives_;  // [drive][sector]
  std::vector<RVec> decay_;
  std::vector<std::vector<Incoming>> decay_operators_;  // general path: per sector, rate_c and W_c
  std::vector<std::vector<Incoming>> incoming_;
  std::vector<int> order_;  // sectors, largest first (load balance)
  std::unique_ptr<BandedLindbladian> banded_;  // the fast kernel, when every operator is banded
};

}  // namespace qfluct
