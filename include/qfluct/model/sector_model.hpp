#pragma once
/// The model description every solver consumes (docs/theory.md section 4): per sector, the
/// Hamiltonian, the jump channels (target sector, Kraus operator, rate), the observables and
/// the initial state. The block master equation, the quantum-jump unravelling and the
/// steady-state solver all read this interface and nothing else.
///
/// Conventions (docs/theory.md section 1): hbar = 1, Schrodinger-picture Lindblad equation
///   d rho/dt = -i[H, rho] + sum_c rate_c sum_b ( K_cb rho K_cb^+ - {K_cb^+ K_cb, rho}/2 ),
/// where rho = (+)_s rho_s is block diagonal over sectors s and branch b of channel c maps
/// sector s to sector s + sector_shift(b).
///
/// A sector space is C^d (x) C^L (d system levels, a ladder of L rungs); operators are built on
/// ladder windows (space/window.hpp), so a trajectory can carry only the rungs where its
/// amplitude lives. Models without ladder structure use d = 1 and full windows.
#include "qfluct/core/random.hpp"
#include "qfluct/core/types.hpp"
#include "qfluct/model/observable_declaration.hpp"
#include "qfluct/space/operator.hpp"
#include "qfluct/space/window.hpp"

#include <string>
#include <vector>

namespace qfluct {

/// A jump channel: Lindblad terms rate * D[K_b], one Kraus operator per branch b.
struct Channel {
  std::string name;               ///< e.g. "tau_minus", "sigma_minus" (bath decay)
  double rate = 0.0;
  std::vector<int> sector_shift;  ///< per branch: target sector - source sector
  std::vector<Index> ladder_shift;///< per branch: k' - k of its Kraus operator (for windows)
  Index branches() const { return Index(sector_shift.size()); }
};

/// A pure state of one sector restricted to a window: the state of a trajectory.
struct SectorState {
  int sector = 0;
  Window window;
  CVec psi;  ///< index c * window.size + (k - window.begin)
};

/// A block-diagonal density operator: one dense block per sector (empty where unused).
struct BlockDensity {
  std::vector<CMat> blocks;
};

class SectorModel {
 public:
  virtual ~SectorModel() = default;

  virtual int sector_count() const = 0;
  virtual Index system_dim() const = 0;
  virtual Index ladder_size(int sector) const = 0;
  Index dim(int sector) const { return system_dim() * ladder_size(sector); }
  Window full_window(int sector) const { return Window::full(ladder_size(sector)); }
  /// Whether sector s exists.
  bool has_sector(int s) const { return s >= 0 && s < sector_count(); }

  // --- What a model implements. The fill_ calls write into caller-owned storage, so solvers
  // --- can reuse it (the trajectory loop allocates nothing once warm).

  /// H restricted to sector s, from window `in` to window `out`.
  virtual void fill_hamiltonian(int s, Window in, Window out, Operator& H) const = 0;
  virtual const std::vector<Channel>& channels() const = 0;
  /// Kraus operator of branch b of channel c, from sector s (window in) to its target (window out).
  virtual void fill_kraus(int c, int b, int s, Window in, Window out, Operator& K) const = 0;
  /// Whether sum_b K_cb^+ K_cb is diagonal in the basis for every channel and sector. Then
  /// solvers take the fast path: fill_channel_weight gives the diagonal, the decay part of H_eff
  /// is a vector, and a branch's weight is a dot product with the populations. Otherwise they
  /// take the general path through fill_channel_operator and ||K phi||^2, and never call
  /// fill_channel_weight or fill_kraus_weight. A model that declares diagonal weights wrongly is
  /// caught by the trajectories' branch-weight self-check (NumericalError).
  virtual bool diagonal_channel_weights() const { return true; }
  /// Diagonal of sum_b K_cb^+ K_cb on sector s (window layout); diagonal models only.
  virtual void fill_channel_weight(int c, int s, Window w, RVec& weight) const = 0;
  /// sum_b K_cb^+ K_cb on sector s as an operator from window w to itself (the general path).
  /// The default wraps fill_channel_weight as a diagonal operator.
  virtual void fill_channel_operator(int c, int s, Window w, Operator& W) const;
  /// Diagonal of K_cb^+ K_cb on sector s: the weight of branch b is <phi|this|phi>; diagonal
  /// models only. The default builds K and takes its column norms.
  virtual void fill_kraus_weight(int c, int b, int s, Window w, RVec& weight) const;

  /// What the model reports (observable_declaration.hpp): linear quantities and columns.
  virtual ObservableDeclaration declare_observables() const = 0;
  /// The operator `id` of the declaration on sector s from window in to window out.
  virtual void fill_observable(int id, int s, Window in, Window out, Operator& O) const = 0;

  /// The exact initial density operator, block by block.
  virtual BlockDensity initial_density() const = 0;
  /// The initial density on one sector, for solvers that carry only part of the sectors and
  /// rungs (the pruned block master equation): the sector's weight (trace of its block), the
  /// smallest window holding every rung whose population (summed over the system levels) is at
  /// least `tol` (size 0 when none is), and the block on window w (d w.size square). The
  /// defaults cut initial_density(), whole, at each call (initial_window through
  /// initial_block); ladder models with large sectors override them with closed forms.
  virtual double initial_sector_weight(int s) const;
  virtual Window initial_window(int s, double tol) const;
  virtual CMat initial_block(int s, Window w) const;
  /// One pure initial state drawn from the initial ensemble; window trimmed to amplitude
  /// above `window_tol` in population when windows are in use (`full` = whole sector).
  virtual SectorState sample_initial(Rng& rng, bool full, double window_tol) const = 0;

  /// Time-dependent Hamiltonians H(t) = H + sum_i f_i(t) H_i: the number of drive terms, ...
  virtual int drive_count() const { return 0; }
  /// ... the real function f_i(t), ...
  virtual double drive(int i, double t) const;
  /// ... and H_i on sector s.
  virtual void fill_drive(int i, int s, Window in, Window out, Operator& H) const;
  bool time_dependent() const { return drive_count() > 0; }

  /// The values of the declaration's c-number quantities at time t (the mean-field bath Bloch
  /// vector m_x, m_y, m_z), in declaration order.
  virtual void extra_values(double t, double* out) const;

  /// Whether states may live on windows of the ladder (space/window.hpp). Models whose ladder is
  /// not one ladder (several bosonic modes flattened into one index) carry whole sectors.
  virtual bool windowed() const { return true; }

  /// Whether the ladder is a truncation of an infinite one (Fock cutoffs): then the population
  /// reaching the top levels is a truncation error that solvers report, per truncated mode.
  virtual bool ladder_truncated() const { return false; }
  /// Names of the truncated modes (one, "boson", by default when the ladder is truncated).
  virtual std::vector<std::string> truncated_modes() const;
  /// Diagonal weight (window layout) whose expectation is the population of the two highest
  /// levels of truncated mode i. The default: the top two rungs of the ladder, on every level.
  virtual void fill_truncation_weight(int i, int s, Window w, RVec& weight) const;
  /// The same population in the pure state `state` (divided by its squared norm). The default
  /// sums the top two rungs directly (trajectories call this at every output time).
  virtual double truncation_population(int i, const SectorState& state) const;

  /// Short name of the kind ("central_spin", "spin_boson", ...).
  virtual std::string kind() const = 0;

  // --- Conveniences returning new objects.
  Operator hamiltonian(int s, Window in, Window out) const;
  Operator kraus(int c, int b, int s, Window in, Window out) const;
  RVec channel_weight(int c, int s, Window w) const;
  RVec kraus_weight(int c, int b, int s, Window w) const;
  Operator observable(int id, int s, Window in, Window out) const;
  Operator channel_operator(int c, int s, Window w) const;
  /// The window of branch b's target when jumping from window w of sector s.
  Window branch_window(int c, int b, int s, Window w) const;
};

/// The decay operator sum_c rate_c sum_b K^+K on sector s, diagonal over the window.
RVec decay_diagonal(const SectorModel& model, int s, Window w);

}  // namespace qfluct
