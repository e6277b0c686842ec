#pragma once
/// Any finite open system S coupled to bosonic modes (model.kind = "open_system"), from the
/// plain-data description OpenSystemSpec (open_system_spec.hpp: Hamiltonian, channels, modes,
/// couplings, initial state, named observables).
///
/// Layout: one sector; system index c (d levels), ladder index k = the flattened Fock numbers
/// (n_0, ..., n_{M-1}) of the modes, the last mode fastest, each truncated at its cutoff. The
/// ladder is no single ladder, so states carry the whole space (windowed() is false).
/// Operators are sums of Kronecker terms S (x) B (a d x d matrix on S times a sparse matrix on
/// the modes), never expanded element by element. The truncated operators are used exactly
/// (a^+ at the top level gives 0, and D[a^+]'s decay term is a a^+ truncated alike), so the
/// truncated model is itself a Lindblad equation and conserves the trace.
///
/// Channels: one per system channel with rate > 0 (its name), and per mode i "mode_i_loss"
/// (kappa_down_i D[a_i]) and "mode_i_gain" (kappa_up_i D[a_i^+]) where those rates are > 0.
/// sum K^+K is diagonal (the fast path) when every system channel's L^+L is; otherwise the
/// solvers take the general path.
///
/// Columns (the CSV contract of issue 11): rho_ab_re, rho_ab_im (row-major over a, b; rho_a_b_re
/// for d > 10, where rho_111 would be ambiguous), n_i,
/// named observables, purity, and concurrence, negativity when spec.entanglement (d = 4).
#include "qfluct/model/open_system_spec.hpp"
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/reduced_evolution.hpp"

#include <functional>
#include <vector>

namespace qfluct {

class OpenSystemModel final : public SectorModel {
 public:
  /// `cutoffs`: the highest Fock number kept per mode (one per spec.modes, each >= 1). The spec
  /// must be valid (the configuration checks it); std::invalid_argument for shapes that disagree.
  OpenSystemModel(OpenSystemSpec spec, std::vector<long> cutoffs);

  int sector_count() const override { return 1; }
  Index system_dim() const override { return d_; }
  Index ladder_size(int) const override { return L_; }
  bool windowed() const override { return false; }

  void fill_hamiltonian(int s, Window in, Window out, Operator& H) const override;
  const std::vector<Channel>& channels() const override { return channels_; }
  void fill_kraus(int c, int b, int s, Window in, Window out, Operator& K) const override;
  bool diagonal_channel_weights() const override { return diagonal_; }
  void fill_channel_weight(int c, int s, Window w, RVec& weight) const override;
  void fill_channel_operator(int c, int s, Window w, Operator& W) const override;
  void fill_kraus_weight(int c, int b, int s, Window w, RVec& weight) const override;
  ObservableDeclaration declare_observables() const override;
  void fill_observable(int id, int s, Window in, Window out, Operator& O) const override;
  BlockDensity initial_density() const override;
  SectorState sample_initial(Rng& rng, bool full, double window_tol) const override;
  bool ladder_truncated() const override { return !spec_.modes.empty(); }
  std::vector<std::string> truncated_modes() const override;
  void fill_truncation_weight(int i, int s, Window w, RVec& weight) const override;
  double truncation_population(int i, const SectorState& state) const override;
  std::string kind() const override { return "open_system"; }

  const OpenSystemSpec& spec() const { return spec_; }
  const std::vector<long>& cutoffs() const { return cutoffs_; }

 private:
  struct ChannelOps {
    Operator K, W;  // Kraus operator and K^+K
    RVec weight;    // diagonal of W (fast path)
  };
  void check_full(Window in, Window out) const;

  OpenSystemSpec spec_;
  std::vector<long> cutoffs_;
  Index d_ = 0, L_ = 1;
  std::vector<Index> stride_;
  bool diagonal_ = true;
  Operator H_;
  std::vector<Channel> channels_;
  std::vector<ChannelOps> ops_;
  std::vector<Operator> observables_;  // n_0 .. n_{M-1}, then the named observables
};

/// The unitary evolution of a model without channels whose modes start in their vacuum (S + F
/// of a fluctuation reservoir, or any such OpenSystemSpec): rho_S = sum_i lambda_i |s_i><s_i| is
/// evolved as its pure components |s_i> (x) |0> (solver/reduced_evolution.hpp), never as a
/// density matrix on the Fock space. env[t][i] = <n_i> for i < modes, then env[t][modes + i] = the
/// population of mode i's two highest Fock levels. std::invalid_argument when the model has
/// channels or a mode that does not start in the vacuum.
ReducedEvolution unitary_evolution(const OpenSystemModel& model, const std::vector<double>& times, OdeTolerances tol,
                                   const std::function<void(double)>& progress = {});

/// A first Fock cutoff per mode, estimated without solving anything: the mode's amplitude grows
/// at most at the rate f = ||F_i||, F_i = sum_c (a_dag_c[i] G_c + conj(a_c[i]) G_c^+) (the
/// operator norm of the force the system exerts on it: [a_i, H] = omega_i a_i + F_i), damped at (kappa_down - kappa_up)/2, on top of its thermal occupation
/// (initial nbar relaxing to kappa_up / (kappa_down - kappa_up)). The cutoff holds a Poisson tail
/// for the coherent part and a geometric one for the thermal part, each below tol/2, over times up
/// to t_end (infinite for stationary states). An estimate: solvers verify it by monitoring the
/// top levels (SectorModel::fill_truncation_weight). Modes with a fixed fock_cutoff keep it.
/// InputError naming the mode's key when a stationary state is asked of a mode that is not damped.
/// `floor` (see starting_cutoff): 32 by default; S + F of a fluctuation reservoir passes 12, since
/// its several undamped modes multiply their cutoffs and the f t bound is loose for them.
std::vector<long> estimate_fock_cutoffs(const OpenSystemSpec& spec, double t_end, double tol, long floor = 32);

/// The force bound is generous for a system that cannot sustain its largest force (a spin
/// delivers one excitation at a time: the Fig. 2 spin-boson point gets 81 where 32 suffices, 213
/// at g0 = 8): solvers start from starting_cutoff(bound, thermal) = max(thermal, min(bound,
/// max(floor, 2 thermal))), floor = 32, thermal being the cutoff of the thermal part alone, monitor the top
/// levels during the run and double the cutoff where they exceed the tolerance.
long starting_cutoff(long bound, long thermal, long floor = 32);

/// One mode's starting cutoff (the rules above): force f, rates of D[a] and D[a^+], initial thermal nbar,
/// up to time t_end (infinity: stationary). -1 when a stationary state is asked of an undamped mode.
long mode_cutoff_estimate(double force, double kappa_down, double kappa_up, double nbar, double t_end, double tol,
                          long floor = 32);

/// The cutoff that holds a displaced thermal distribution: coherent amplitude A (mean A^2 of a
/// Poisson part), thermal mean n_th; the smallest cutoff whose two top levels carry <= tol by
/// the estimate above. Shared by the spin_boson model's automatic cutoff.
long displaced_thermal_cutoff(double amplitude, double thermal_mean, double tol);

}  // namespace qfluct
