#pragma once
/// The emergent open Jaynes-Cummings model of Carollo 2023, Eq. (9): the central spin coupled to
/// one boson, the quantum fluctuation of the bath, on a truncated Fock space n = 0 .. cutoff:
///   H = w.tau + G (tau_- a^+ + tau_+ a) + omega a^+ a,      G = g0 sqrt(eps),
///   jumps sqrt(gamma_down) tau_-, sqrt(gamma_up) tau_+, sqrt(kappa_down) a, sqrt(kappa_up) a^+,
///   kappa_down = Gamma_+ + Gamma_up/eps,  kappa_up = Gamma_up/eps,
/// and the boson starts thermal with nbar = Gamma_up / (eps Gamma_+) (Proposition 1).
/// Beyond the paper, from the same Heisenberg-picture argument on a_N = J_-/sqrt(eps N):
///   - a bath field h_z (2 h_z J_z) gives the boson the frequency omega = 2 h_z;
///   - local bath dephasing Gamma_phi (D[sigma_z] on every spin) damps a at 2 Gamma_phi and
///     relaxes a^+a to p_up/eps at 4 Gamma_phi: extra rates kappa'_up = 4 Gamma_phi p_up/eps,
///     kappa'_down = 4 Gamma_phi + kappa'_up (tested by convergence from finite N).
/// Transverse fields h_x, h_y rotate the bath away from Omega_SS and have no such limit: they are
/// rejected. The coupling scaling must be "sqrt" (the fluctuation regime).
/// Layout: one sector, system index c = 0 (up), 1 (down), ladder = Fock number.
/// Derivation, rates and the automatic cutoff: docs/theory.md section 6.1.
#include "qfluct/model/central_spin_parameters.hpp"
#include "qfluct/model/sector_model.hpp"

namespace qfluct {

/// Rates and couplings of the emergent model derived from the central-spin parameters.
struct SpinBosonRates {
  double eps, G, omega, kappa_down, kappa_up, nbar;
  static SpinBosonRates from(const CentralSpinParameters& p);
};

/// Fock-cutoff bounds known before any solve (used to refuse, or to skip, cutoffs that cannot keep
/// the top levels below model.fock_tol).
///
/// The population of the two highest levels (cutoff - 1 and cutoff) of the initial state, the
/// truncated thermal distribution P(n) ~ x^n with x = nbar/(nbar + 1):
///   (1 - x^2) x^(cutoff - 1) / (1 - x^(cutoff + 1));   1 for cutoff = 1.
double thermal_top_population(double nbar, Index cutoff);

/// A lower bound on the population of the two highest levels in the stationary state of the
/// model truncated at `cutoff`, for any G, omega, w and central rates. Only the boson channels
/// and the coupling G change the Fock number, so stationarity makes the net flow across every
/// cut n | n+1 vanish:
///   kappa_down (n+1) p_(n+1) = kappa_up (n+1) p_n + J_n,   |J_n| <= 2 G sqrt(n+1) sqrt(p_n p_(n+1)),
/// (J_n: the coherent flow through <down, n+1| H |up, n> = G sqrt(n+1), bounded by positivity of
/// rho). Hence p_(n+1) >= r_n p_n and p_(n+1) <= R_n p_n with sqrt(r_n), sqrt(R_n) the positive
/// roots of kappa_down s^2 -+ 2 G s / sqrt(n+1) - kappa_up = 0, and with sum p_n = 1
///   p_c >= 1 / S_c,   S_0 = 1,   S_(m+1) = 1 + S_m / r_m,     p_(c-1) >= p_c / R_(c-1).
/// The truncated model keeps every term above up to the cutoff, so the bound holds for it.
/// Decreasing in `cutoff`; 0 when kappa_up = 0.
double stationary_top_population_bound(const SpinBosonRates& rates, Index cutoff);

/// The smallest cutoff >= 1 for which `bound` (one of the two above, as a function of the
/// cutoff) is <= target, searched up to `cap`; cap + 1 when there is none. One pass for the
/// stationary bound (O(cutoff)), bisection for the thermal one.
Index smallest_thermal_cutoff(double nbar, double target, Index cap);
Index smallest_stationary_cutoff(const SpinBosonRates& rates, double target, Index cap);

class SpinBosonModel final : public SectorModel {
 public:
  /// `cutoff`: highest Fock number kept (ladder size cutoff + 1).
  SpinBosonModel(const CentralSpinParameters& p, Index cutoff);

  int sector_count() const override { return 1; }
  Index system_dim() const override { return 2; }
  Index ladder_size(int) const override { return cutoff_ + 1; }

  void fill_hamiltonian(int s, Window in, Window out, Operator& H) const override;
  const std::vector<Channel>& channels() const override { return channels_; }
  void fill_kraus(int c, int b, int s, Window in, Window out, Operator& K) const override;
  void fill_channel_weight(int c, int s, Window w, RVec& weight) const override;
  ObservableDeclaration declare_observables() const override;
  void fill_observable(int id, int s, Window in, Window out, Operator& O) const override;
  bool has_fluctuations() const { return true; }
  double quadrature_scale() const { return 1.0 / std::sqrt(2.0); }
  BlockDensity initial_density() const override;
  SectorState sample_initial(Rng& rng, bool full, double window_tol) const override;
  std::string kind() const override { return "spin_boson"; }
  bool ladder_truncated() const override { return true; }

  const SpinBosonRates& rates() const { return r_; }
  Index cutoff() const { return cutoff_; }

 private:
  enum class Kind { tau_minus, tau_plus, loss, gain };
  CentralSpinParameters p_;
  SpinBosonRates r_;
  Index cutoff_;
  std::vector<Channel> channels_;
  std::vector<Kind> kinds_;
};

}  // namespace qfluct
