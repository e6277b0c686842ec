#pragma once
/// The exact reference: the block master equation (docs/theory.md section 4). rho = (+)_s rho_s with
/// dense blocks, each evolving as
///   d rho_s/dt = -i (H_eff rho_s - rho_s H_eff^+) + sum_{c,b} rate_c K_cb rho_{s'} K_cb^+,
///   H_eff = H - (i/2) sum_c rate_c sum_b K_cb^+ K_cb   (a diagonal, or an operator on the
///           general path of SectorModel::diagonal_channel_weights),
/// where the Kraus terms bring weight in from the neighbouring sectors s' = s - shift_b.
/// Integrated with adaptive Dormand-Prince 5(4), the Chebyshev exponential (solver/chebyshev.hpp)
/// or Rosenbrock (solver/rosenbrock.hpp); OpenMP over blocks inside one derivative.
/// A support (one ladder window per sector, size 0 = sector left out) restricts every block to
/// its window: the pruned master equation (solver/pruned_master_equation.hpp) carries only
/// where rho lives. Weight that a Kraus term would carry outside the support is lost (the trace
/// falls by exactly the discarded weight), and the Hamiltonian is cut to the window.
#include "qfluct/model/observables.hpp"
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/banded_lindbladian.hpp"
#include "qfluct/solver/chebyshev.hpp"
#include "qfluct/solver/dopri5.hpp"
#include "qfluct/solver/time_series.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace qfluct {

/// Per truncated mode (SectorModel::truncated_modes), the population of its two highest levels:
/// the truncation measure of a Fock cutoff. Blocks on whole ladders, or on `windows`.
std::vector<double> top_level_populations(const SectorModel& model, const std::vector<Eigen::Map<const CMat>>& blocks,
                                          const std::vector<Window>* windows = nullptr);
/// The largest of those (0 without truncated modes).
double top_rung_population(const SectorModel& model, const std::vector<Eigen::Map<const CMat>>& blocks);

/// How the master equation is integrated: Dormand-Prince 5(4) (explicit: steps limited by the
/// fastest rate), the Rosenbrock method Rodas3 on the assembled generator (solver/rosenbrock.hpp:
/// steps limited by accuracy only; time-independent models), the Chebyshev exponential from
/// output time to output time (solver/chebyshev.hpp: time-independent models; cost ~
/// sqrt(dt x decay rate) + dt x frequency per output interval), or chosen by stiffness.
enum class MasterIntegrator { automatic, dopri5, rosenbrock, chebyshev };

/// The automatic choice for a time-independent generator with the given spectrum over `span`
/// with `intervals` output intervals: Chebyshev when stability alone would cost Dormand-Prince
/// over 1e3 steps and the series is estimated at under half its derivative evaluations.
bool prefer_chebyshev(const SpectrumBox& box, double span, std::size_t intervals);

struct MasterOptions {
  OdeTolerances tol{1e-9, 1e-11};
  /// automatic: for time-independent models, the Chebyshev exponential when prefer_chebyshev()
  /// (the spectrum from spectrum_box()); Dormand-Prince otherwise.
  MasterIntegrator integrator = MasterIntegrator::automatic;
  std::function<void(double fraction)> progress;  ///< called after each output time
  /// Called at each output time with the per-mode populations of the two highest Fock levels
  /// (top_level_populations); it may throw to stop the run (an automatic cutoff found too small).
  std::function<void(const std::vector<double>& top)> monitor;
};

class BlockMasterEquation {
 public:
  /// support: one window per sector (empty vector = every rung of every sector).
  explicit BlockMasterEquation(const SectorModel& model, std::vector<Window> support = {});

  /// Number of complex numbers in the packed state.
  Index size() const { return offset_.back(); }
  /// Whole blocks (as initial_density gives them) cut to the support.
  CVec pack(const BlockDensity& rho) const;
  /// The model's initial density on the support (SectorModel::initial_block per sector).
  CVec initial_state() const;
  const std::vector<Window>& support() const { return window_; }
  /// Whether some sector is cut (a window short of its ladder, or left out).
  bool pruned() const { return pruned_; }
  std::vector<Eigen::Map<const CMat>> blocks(const CVec& y) const;
  /// dy = L(t) y: the Lindblad generator on the packed blocks (t matters for drives only).
  void derivative(const CVec& y, CVec& dy, double t = 0.0) const;

  /// dy = L y for any packed y, Hermitian blocks or not (derivative() assumes Hermitian blocks
  /// on the fast banded path): L applied to the Hermitian and anti-Hermitian parts.
  void derivative_general(const CVec& y, CVec& dy) const;

  /// derivative (general: derivative_general) of a time-independent model, calling then(t,
  /// begin, end) for every sector t right after block t of dy = dy[begin, end) is written
  /// (begin == end for an empty block), on the thread that wrote it: work on the new block
  /// while it is in cache.
  void derivative_blockwise(const CVec& y, CVec& dy, bool general,
                            const std::function<void(int, Index, Index)>& then) const;

  /// The generator as a sparse matrix (banded models only; for steady states).
  Eigen::SparseMatrix<cplx> assemble() const;
  const SectorModel& model() const { return model_; }
  const std::vector<Index>& block_dims() const { return dim_; }
  const std::vector<Index>& block_offsets() const { return offset_; }

  /// An estimate of the generator's spectral radius |lambda|_max, which bounds the explicit
  /// method's step by ~3.3 / |lambda|_max: 30 power iterations of L from a fixed pseudo-random
  /// vector (a lower bound that converges from below; deterministic).
  double spectral_radius_estimate() const;
  /// The box holding L's spectrum, estimated by 30 power iterations each of the dissipative part
  /// (decay and Kraus terms: the real extent) and of -i[H, .] (the imaginary extent), times 1.2.
  /// Exact for commuting parts; otherwise the Chebyshev series' own checks cover the difference.
  SpectrumBox spectrum_box() const;
  /// Which terms derivative_part applies.
  enum class Part { all, hamiltonian, dissipator };
  void derivative_part(const CVec& y, CVec& dy, Part part, double t = 0.0) const;

  /// The raw observable record (ObservableSet::measure) of the packed state y at time t.
  void measure(const CVec& y, double t, const ObservableSet& observables, double* raw) const;
  /// tr rho, real part (1 minus the discarded weight, on a pruned support).
  double trace(const CVec& y) const;

  /// Integrates from the model's initial density and reports the observables at `times`.
  TimeSeries solve(const std::vector<double>& times, const MasterOptions& options = {}) const;
  /// The same from a given packed state; the final state is left in y.
  TimeSeries solve(CVec& y, const std::vector<double>& times, const MasterOptions& options = {}) const;

 private:
  using Incoming = BandedLindbladian::Incoming;
  const SectorModel& model_;
  std::vector<Window> window_;
  bool pruned_ = false;
  std::vector<Index> dim_, offset_;
  std::vector<Operator> H_;
  std::vector<std::vector<Operator>> drives_;  // [drive][sector]
  std::vector<RVec> decay_;
  std::vector<std::vector<Incoming>> decay_operators_;  // general path: per sector, rate_c and W_c
  std::vector<std::vector<Incoming>> incoming_;
  std::vector<int> order_;  // sectors, largest first (load balance)
  std::unique_ptr<BandedLindbladian> banded_;  // the fast kernel, when every operator is banded
  std::unique_ptr<BandedLindbladian> banded_hamiltonian_, banded_dissipator_;  // its two parts
};

}  // namespace qfluct
