#pragma once
/// The fluctuation reservoir F of Fantechi & Merkli, PRL 136, 060402 (2026), Eqs. (13)-(19):
/// the bosonic modes, in their vacuum, that reproduce the two-point functions of M -> infinity
/// identical reservoir components (h_R, rho_R) coupled through V_M = sum_q G_q (x) M^(-1/2)
/// sum_m v_q^[m] + h.c. (Eq. (5)).
///
/// Construction:
/// - the common eigenbasis chi_j of h_R and rho_R (Eq. (13)): h_R is diagonalised, its eigenvalues
///   are grouped into degenerate eigenspaces, and rho_R is diagonalised inside each of them (h_R's
///   eigenbasis alone gives wrong modes when rho_R is not diagonal in a degenerate eigenspace).
///   Order: energies ascending; inside a degenerate eigenspace, populations descending. Phase: the
///   largest-modulus entry of every chi_j (the first one on ties) is real and positive.
/// - the mode set of Eq. (16): (k, l) with p_k != 0 and [v_q]_kl != 0 or [v_q]_lk != 0 for some
///   q; k = l included (zero-frequency modes from diagonal elements of v_q). Listed with k
///   ascending, then l ascending. Indices are 0-based (the paper counts from 1).
/// - omega_kl = E_l - E_k (negative for transitions down in energy; H_F = sum omega_kl a^+ a).
/// - X_q of Eq. (18): X_q = sum_(k,l) sqrt(p_k) ([v_q]_lk a_kl^+ + [v_q]_kl a_kl), stored as the
///   OpenSystemSpec coefficients a[i] = sqrt(p_k) [v_q]_kl and a_dag[i] = sqrt(p_k) [v_q]_lk.
/// Defining property (checked in the tests): in the vacuum of F, <X_q(t) Y(0)> = tr(rho_R v_q(t) w)
/// for Y, w = X_q', v_q' or X_q'^+, v_q'^+, with A(t) = e^{iHt} A e^{-iHt}; and likewise for X_q^+.
///
/// Tolerances (all relative to the scale s = max(1, largest entry modulus of the matrix checked),
/// 1e-10 unless stated): inputs typed in decimal or computed in double precision carry errors of
/// order 1e-16 s; 1e-10 leaves room for a user's own accumulated rounding (e.g. a thermal state
/// from a matrix exponential) while any intended violation is far larger.
/// - "zero" population: p_k <= 1e-10. A dropped mode changes the two-point functions by at most
///   p_k |v|^2 <= 1e-10 |v|^2, the same size as the negative eigenvalues rho_R may have.
/// - "zero" matrix element: |[v_q]_kl| <= 1e-10 max_q s(v_q); a dropped element changes the
///   two-point functions by at most 1e-20 relative, and rounding of the basis change (~1e-16)
///   cannot create spurious modes.
/// - degenerate energies: eigenvalues of h_R closer than 1e-10 s(h_R) form one eigenspace. The
///   result is verified: rho_R must be diagonal in the final basis to 1e-8, else InputError on
///   "reservoir.rho" (nearly degenerate levels that rho_R mixes: not stationary in practice).
#include "qfluct/core/types.hpp"
#include "qfluct/model/open_system_spec.hpp"

#include <vector>

namespace qfluct {

struct FluctuationReservoir {
  struct Mode {
    Index k = 0, l = 0;  ///< transition chi_k -> chi_l, 0-based
    double omega = 0.0;  ///< E_l - E_k
    double p_k = 0.0;    ///< population of the initial level (> 1e-10)
  };
  CMat basis;             ///< d_R x d_R unitary; column j = chi_j in the input basis
  RVec energies;          ///< E_j = <chi_j|h_R|chi_j>, ascending
  RVec populations;       ///< p_j = <chi_j|rho_R|chi_j>, clamped at 0 from below
  std::vector<CMat> v;    ///< [v_q]_kl = <chi_k|v_q|chi_l>, one d_R x d_R matrix per coupling
  std::vector<Mode> modes;                 ///< the mode set of Eq. (16)
  std::vector<std::vector<cplx>> a;        ///< a[q][i]: coefficient of a_i in X_q
  std::vector<std::vector<cplx>> a_dag;    ///< a_dag[q][i]: coefficient of a_i^+ in X_q
};

/// The fluctuation reservoir of one component (h: d_R x d_R Hermitian h_R; rho: d_R x d_R density
/// matrix rho_R; v: the v_q, each d_R x d_R, any). InputError naming the key:
/// "reservoir.h" (empty, not square, not Hermitian), "reservoir.rho" (shape differs from h, not
/// Hermitian, trace != 1, negative eigenvalue, [h, rho] != 0 (Eq. (7)) to 1e-10 s(h)),
/// "reservoir.coupling[q].v" (shape differs from h, tr(rho v_q) != 0 (Eq. (8)) to 1e-10 s(v_q)).
/// require_centred = false skips the Eq. (8) check (the finite-M methods under the mean-field
/// scaling 1/M, where tr(rho_R v) != 0 is the mean-field term and legitimate); the modes and
/// coefficients are built the same way.
FluctuationReservoir fluctuation_reservoir(const CMat& h, const CMat& rho, const std::vector<CMat>& v,
                                           bool require_centred = true);

/// S + F as an OpenSystemSpec: H = H_S, initial = rho_S, no channels, one mode per reservoir mode
/// (omega = omega_kl, vacuum, undamped, cutoff chosen automatically) and one coupling per G_q with
/// the coefficients of X_q (Eq. (17)). InputError: "system.H" (empty, not square, not Hermitian to
/// 1e-10 s(H_S)), "system.initial" (shape differs from H_S), "reservoir.coupling" (number of G_q
/// differs from the number of v_q), "reservoir.coupling[q].G" (shape differs from H_S).
OpenSystemSpec bosonized_spec(const CMat& H_S, const CMat& rho_S, const std::vector<CMat>& G,
                              const FluctuationReservoir& F);

}  // namespace qfluct
