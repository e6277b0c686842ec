#pragma once
/// Purity and two-qubit entanglement measures of a density matrix, for the derived columns of
/// model.kind = "open_system" (purity; concurrence and negativity when output.entanglement = true).
///
/// Inputs are averages: a master-equation state carries integration error, a trajectory mean or
/// a jackknife leave-one-out mean carries rounding, so rho may be slightly non-Hermitian or have
/// eigenvalues slightly below zero. Every function therefore first replaces rho by its Hermitian
/// part rho_h = (rho + rho^+)/2 (the anti-Hermitian part is noise: it has no expectation value)
/// and does NOT renormalise the trace: purity is quadratic and concurrence and negativity are
/// homogeneous of degree one in rho, so a trace of 1 + e changes them by a relative O(e).
/// What each function does with negative eigenvalues of rho_h is stated below.
/// Non-finite entries give a quiet NaN (a NaN average propagates into the column); a matrix of the
/// wrong shape throws std::invalid_argument.
///
/// Two-qubit basis (d = 4): index 2 a + b for qubit states a, b in {0 = up, 1 = down}, i.e.
/// uu, ud, du, dd, the first qubit outer (the open_system basis of S for two spin-1/2).
#include "qfluct/core/types.hpp"

namespace qfluct {

/// tr(rho_h^2) = sum_ab |(rho_h)_ab|^2 for a square d x d rho (d >= 1). Pure states give 1 and
/// the maximally mixed state 1/d. Negative eigenvalues are kept (purity is a polynomial in rho).
double purity(const CMat& rho);

/// Wootters' concurrence (PRL 80, 2245 (1998)) of a 4 x 4 two-qubit rho:
///   C = max(0, l1 - l2 - l3 - l4),
/// l_i in decreasing order the square roots of the eigenvalues of rho rho~, with the spin flip
/// rho~ = (sigma_y (x) sigma_y) rho^* (sigma_y (x) sigma_y). Computed stably as the singular
/// values of W^T (sigma_y (x) sigma_y) W with rho_h = W W^+, W = V sqrt(max(p, 0)) from the
/// eigen-decomposition rho_h = V diag(p) V^+ (Wootters' tau matrix), so no non-Hermitian
/// eigenproblem is solved: negative eigenvalues p of rho_h are set to zero, i.e. C is that of the
/// positive part of rho_h. Bell states give 1, product states and the identity 0.
/// Near rank-deficient states the l_i themselves move like sqrt(rounding) ~ 1e-8, but in pairs
/// that cancel in C: for pure states C agrees with |<psi| sigma_y (x) sigma_y |psi^*>| to ~1e-15.
double concurrence(const CMat& rho);

/// Negativity of a 4 x 4 two-qubit rho: the sum of |negative eigenvalues| of the partial
/// transpose of rho_h on the second qubit, (rho^T_B)_{(a b),(c d)} = rho_{(a d),(c b)}
/// (Vidal and Werner, PRA 65, 032314 (2002); = (||rho^T_B||_1 - tr rho)/2 for a trace-one state).
/// Bell states give 1/2, separable states 0. A negative eigenvalue of rho_h itself, if
/// unphysical, is counted like any other, so rounding-size negatives add rounding-size N.
double negativity(const CMat& rho);

}  // namespace qfluct
