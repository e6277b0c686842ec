#pragma once
/// Nondemolition models (Fantechi & Merkli, PRL 136, 060402 (2026), Eqs. (21)-(22) and the End
/// Matter) in closed form: H_S and every G_q diagonal in one orthonormal basis psi_j of S,
///   H_S = sum_j e_j |psi_j><psi_j|,   G_q = sum_j g_qj |psi_j><psi_j|   (g_qj complex),
/// and no channels on S. The populations of S in that basis are constant; every coherence evolves
/// on its own,  <psi_m|rho_S(t)|psi_n> = <psi_m|rho_S(0)|psi_n> e^{-i(e_m - e_n)t} D_mn(t).
///
/// - S + F (bosonic modes i, omega_i, X_q = sum_i (a_q[i] a_i + a_dag_q[i] a_i^+), Eq. (17)): in
///   branch j, mode i sees  omega_i a^+a + f_ij a^+ + conj(f_ij) a  with
///   f_ij = sum_q (g_qj a_dag_q[i] + conj(g_qj) conj(a_q[i])), and D_mn = prod_i D_i,mn with
///   D_i,mn = <0|e^{iH_n t} e^{-iH_m t}|0> = e^{i(Phi_m - Phi_n)} <alpha_n|alpha_m>,
///   alpha_j = (f_ij/omega_i)(e^{-i omega_i t} - 1),  Phi_j = |f_ij|^2 (omega_i t - sin omega_i t)/omega_i^2
///   (omega -> 0: alpha_j = -i f_ij t, Phi_j -> 0). Any number of modes; exact up to rounding.
///   A mode starting thermal (nbar > 0) is handled too: D_i,mn = e^{i theta} e^{-|alpha_m - alpha_n|^2 (nbar + 1/2)}
///   with the same phase theta as for the vacuum (derivation in src/model/nondemolition.cpp).
/// - Finite M (ReservoirSpec, Eqs. (1)-(5)): D_mn = d_mn^M, d_mn(t) = tr(rho_R e^{ih_n t} e^{-ih_m t}),
///   h_j = h_R + lambda_M sum_q (g_qj v_q + conj(g_qj) v_q^+): finite_reservoir_nondemolition()
///   in model/finite_reservoir.hpp (src/model/finite_reservoir_nondemolition.cpp), which documents
///   its accuracy for large M.
/// Units: hbar = 1. Matrices of S are in the INPUT basis of S unless stated ("psi basis").
#include "qfluct/core/types.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"
#include "qfluct/model/open_system_spec.hpp"
#include "qfluct/model/reservoir_spec.hpp"
#include "qfluct/solver/reduced_evolution.hpp"

#include <optional>
#include <string>
#include <vector>

namespace qfluct {

/// The common eigenbasis of H_S and the G_q.
struct NondemolitionBasis {
  CMat basis;           ///< d_S x d_S unitary; column j = psi_j in the input basis of S
  RVec e;               ///< e_j = <psi_j|H_S|psi_j>, length d_S
  std::vector<CVec> g;  ///< g[q](j) = <psi_j|G_q|psi_j>, one vector of length d_S per coupling
};

/// The common eigenbasis of H (Hermitian) and the G (any; they must be normal to qualify), or
/// nullopt when there is none. The identity when all are diagonal in the input basis already;
/// otherwise the eigenvectors of a generic Hermitian combination of H/s_H, (G_q + G_q^+)/s_q and
/// i(G_q - G_q^+)/s_q (s = largest entry modulus; fixed irrational weights), refined inside nearly
/// degenerate eigenvalue clusters (relative gap < 1e-4) by other combinations, so degenerate H_S
/// is handled. Verified: every operator A must satisfy |<psi_j|A|psi_k>| <= 1e-10 s_A for j != k.
/// Columns ordered by the combination's eigenvalues, phases fixed (largest-modulus entry of each
/// column real positive). InputError: "system.H" (not square or not Hermitian to 1e-10 s_H),
/// "reservoir.coupling[q].G" (shape differs from H).
std::optional<NondemolitionBasis> nondemolition_basis(const CMat& H, const std::vector<CMat>& G);
/// The same for spec.system.H and the G_q of spec.couplings; nullopt also when S has channels.
std::optional<NondemolitionBasis> nondemolition_basis(const ReservoirSpec& spec);
/// The basis, or InputError("solver.reservoir_method", "nondemolition needs H_S and every G_q
/// diagonal in one basis and no system.channel; this model is not: <which operator fails and why>").
NondemolitionBasis require_nondemolition(const ReservoirSpec& spec);

/// One mode, H = omega a^+a + f a^+ + conj(f) a, started in the vacuum:
/// e^{-iHt}|0> = e^{i phase} |alpha> (coherent state). Stable for omega t -> 0 (series).
struct DisplacedMode {
  cplx alpha;    ///< (f/omega)(e^{-i omega t} - 1)
  double phase;  ///< |f|^2 (omega t - sin omega t)/omega^2
};
DisplacedMode displaced_mode(double omega, cplx f, double t);

/// D_mn(t) of S + bosonic modes (sf: couplings G_c with X_c coefficients a, a_dag; modes with
/// omega and nbar, undamped), in the psi basis of `b` (which must be nondemolition_basis(sf.H,
/// {G_c})): one d_S x d_S matrix per time, D_mm = 1, D_nm = conj(D_mn).
/// InputError("solver.reservoir_method", ...) for damped modes (kappa_down or kappa_up != 0).
std::vector<CMat> bosonic_decoherence(const OpenSystemSpec& sf, const NondemolitionBasis& b,
                                      const std::vector<double>& times);

/// rho_S(t) in the input basis from D (one d_S x d_S psi-basis matrix per time, as returned by
/// bosonic_decoherence or finite_decoherence): <psi_m|rho_S(t)|psi_n> = <psi_m|rho_S|psi_n>
/// e^{-i(e_m - e_n)t} D_mn(t). std::invalid_argument when the sizes disagree.
std::vector<CMat> nondemolition_states(const CMat& rho_S, const NondemolitionBasis& b, const std::vector<CMat>& D,
                                       const std::vector<double>& times);

/// The closed-form evolution of S + bosonic modes (e.g. bosonized_spec(...)): rho_S per time in
/// the input basis of S, env[t][i] = <n_i>(t) = nbar_i + sum_j rho_jj |alpha_ij(t)|^2 (one entry
/// per mode, in sf.modes order), method = "nondemolition". Times: any, any order.
/// InputError("solver.reservoir_method", ...) when not nondemolition (S has channels, no common
/// basis) or a mode is damped; the shape errors of nondemolition_basis().
ReducedEvolution nondemolition_open_system(const OpenSystemSpec& sf, const std::vector<double>& times);

/// S + F for a ReservoirSpec (model.kind = "bosonized", method nondemolition): builds F with
/// fluctuation_reservoir() (its InputErrors apply) and evaluates the closed form above.
/// env[t][i] = <n_i>(t) for the modes of F (FluctuationReservoir::modes order).
ReducedEvolution bosonized_nondemolition(const ReservoirSpec& spec, const std::vector<double>& times);

/// D_mn(t) at finite M (the d_mn^M of finite_reservoir_nondemolition), psi basis of `b`, one
/// matrix per time. InputError("reservoir.M") for M < 1.
std::vector<CMat> finite_decoherence(const ReservoirSpec& spec, const NondemolitionBasis& b,
                                     const std::vector<double>& times);

// ---- Eqs. (21)-(22) as printed and corrected (Q = 1, real g_j, v = v^+), for the studies. ----

/// Which product Eq. (21) runs over.
enum class Eq21Product {
  printed,    ///< the paper: (k, l) with k != l only (zero-frequency k != l modes of degenerate
              ///< levels enter with their limit t^2/4)
  all_modes,  ///< every mode of F, k = l (zero frequency, diagonal v elements) included
};

/// |D_mn(t)| = exp[-8 (g_m - g_n)^2 sum_(k,l) p_k |v_kl|^2 sin^2(omega_kl t/2)/omega_kl^2] over the
/// modes of F (sin^2(omega t/2)/omega^2 -> t^2/4 at omega = 0). With Eq21Product::all_modes this
/// equals |D_mn| of the closed form exactly for real g and Hermitian v (checked in the tests); the
/// printed k != l product is wrong when v has diagonal elements in the eigenbasis of rho_R and h_R.
/// std::invalid_argument unless F has exactly one coupling.
double eq21_modulus(const FluctuationReservoir& F, double g_m, double g_n, double t, Eq21Product product);

/// The short-time Gaussian rate of Eq. (22) (left side, correct as printed):
/// |D_mn(t)| ~ exp[-Gamma (g_m - g_n)^2 t^2] for t << 1/max|omega_kl|, Gamma = 2 sum_{k,l} p_k |v_kl|^2
/// (all k, l, diagonal elements included). std::invalid_argument unless F has one coupling.
double eq22_gaussian_rate(const FluctuationReservoir& F);
/// Gamma for homogeneous coupling |v_kl| = u (k != l), 0 (k = l): the sum is (d_R - 1) u^2, so
/// Gamma = 2 (d_R - 1) u^2 (corrected; the "Facts checked numerically").
double eq22_homogeneous_rate(Index d_R, double u);
/// Eq. (22)'s right side as printed, e^{-t^2 (2 d_R - 1) u^2}: the exponent's coefficient
/// (2 d_R - 1) u^2, without the factor (g_m - g_n)^2 (misprinted; for contrast only).
double eq22_homogeneous_rate_as_printed(Index d_R, double u);

}  // namespace qfluct
