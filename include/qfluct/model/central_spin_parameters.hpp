#pragma once
/// Parameters of the central spin model, Carollo 2023 Eqs. (1)-(2) plus H_bath:
///   H = w.tau + g (tau_+ J_- + tau_- J_+) + 2 h.J,
///   jumps sqrt(gamma_down) tau_-, sqrt(gamma_up) tau_+, and on every bath spin
///   sqrt(Gamma_down) sigma_-, sqrt(Gamma_up) sigma_+, sqrt(Gamma_phi) sigma_z.
/// Defaults are the paper's Fig. 2 point (gamma = 1). Conventions: docs/theory.md sections 1-2.
#include <array>
#include <string>

namespace qfluct {

using Vec3 = std::array<double, 3>;

/// How g depends on N: g0/sqrt(N) (fluctuations, Theorem 1), g0/N (mean field, Theorem 2) or g0.
enum class CouplingScaling { sqrt, linear, fixed };

std::string to_string(CouplingScaling c);

/// How far outside the unit sphere a Bloch vector may lie and still count as on it: 1e-12
/// covers the rounding of a normalised vector and decimal input written with 12 or more digits
/// ([0.6, 0, 0.80000000000001], [1, 0, 1e-6] with |r| = 1 + 5e-13). It is the one tolerance for
/// every Bloch vector (initial.central, initial.bath) and every consumer: the input check refuses
/// |r| > 1 + bloch_tolerance and scales 1 < |r| <= 1 + bloch_tolerance back onto the sphere, and a
/// vector with |r| >= 1 - bloch_tolerance is treated as a pure state.
inline constexpr double bloch_tolerance = 1e-12;

/// r itself when its computed length is <= 1; otherwise r scaled onto the sphere, with a computed
/// length <= 1 (so that 1 - |r|^2, 1 - p and the like are never negative). Idempotent.
Vec3 onto_bloch_ball(const Vec3& r);
/// Whether r is a pure state within bloch_tolerance: |r| >= 1 - bloch_tolerance.
bool is_pure_bloch(const Vec3& r);
/// The input check of a Bloch vector: finite entries and |r| <= 1 + bloch_tolerance (else an
/// InputError naming `key` and printing |r| to 15 digits). Returns onto_bloch_ball(r).
Vec3 checked_bloch(const std::string& key, const Vec3& r);

/// Initial bath: Omega_SS (each spin diagonal with p_up = Gamma_up/Gamma_+) or the product of
/// identical spins with Bloch vector r.
struct BathInitial {
  bool steady = true;
  Vec3 r{0.0, 0.0, 0.0};
};

struct CentralSpinParameters {
  int N = 10;
  CouplingScaling coupling = CouplingScaling::sqrt;
  double g0 = 4.0;
  Vec3 w{1.0, 0.0, 0.5};
  Vec3 h{0.0, 0.0, 0.0};
  double gamma_up = 0.8;
  double gamma_down = 0.1;
  double Gamma_up = 0.2;
  double Gamma_down = 1.0;
  double Gamma_phi = 0.0;
  Vec3 central{0.0, 0.0, 1.0};  ///< Bloch vector of the central spin (|up> = (0,0,1))
  BathInitial bath;
  bool fluctuations = true;     ///< whether q, Q2, Q4, nongauss, n are wanted (they need eps > 0)

  /// The coupling g for this N.
  double g() const;
  double Gamma_plus() const { return Gamma_up + Gamma_down; }
  /// eps = -<sigma_z> in Omega_SS = (Gamma_down - Gamma_up) / Gamma_+.
  double eps() const;
  /// Probability of "up" of one bath spin in the initial state, along the bath's Bloch axis.
  double bath_p_up() const;

  /// Throws InputError (naming the config key, "model.N", ...) for inconsistent parameters.
  void validate() const;
};

}  // namespace qfluct
