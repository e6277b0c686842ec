#pragma once
/// A finite system S coupled to a reservoir R of M identical, independent components
/// (Fantechi & Merkli, PRL 136, 060402 (2026), Eqs. (1)-(8)): plain data, filled from a
/// configuration (model.kind = "bosonized" or "finite_reservoir") or built in code.
///
///   H = H_S (x) 1 + sum_m h_R^[m] + V_M,
///   V_M = sum_q G_q (x) lambda_M sum_m v_q^[m] + h.c.,   lambda_M = M^(-1/2) ("sqrt", Eq. (5))
///                                                        or M^(-1) ("linear", mean field),
///   rho(0) = rho_S (x) rho_R^(x)M,   [h_R, rho_R] = 0 (Eq. (7)),   tr(rho_R v_q) = 0 (Eq. (8)),
/// and, optionally, Lindblad channels rate D[L] acting on S alone (system.channel).
/// Units: hbar = 1. Basis of S as for open_system (index 0 first); full space S (x) R_1 (x) ... (x) R_M.
#include "qfluct/model/open_system_spec.hpp"

#include <vector>

namespace qfluct {

enum class ReservoirScaling { sqrt, linear };

/// How the finite-M reference is computed (solver.reservoir_method); for model.kind =
/// "bosonized", `fock` (S + F on truncated Fock spaces) or `nondemolition` (closed form).
enum class ReservoirMethod { automatic, full, symmetric, dicke, nondemolition, fock };

struct ReservoirSpec {
  /// S: H, initial, channels, observables, entanglement, fock_tol (modes and couplings empty).
  OpenSystemSpec system;
  CMat h;    ///< h_R: d_R x d_R Hermitian
  CMat rho;  ///< rho_R: d_R x d_R density matrix, stationary under h_R
  struct Coupling {
    CMat G;  ///< d_S x d_S, on S (any)
    CMat v;  ///< d_R x d_R, on one component (any), tr(rho_R v) = 0
  };
  std::vector<Coupling> couplings;
  long long M = 0;  ///< finite_reservoir: number of components (>= 1); unused by bosonized
  ReservoirScaling scaling = ReservoirScaling::sqrt;
  ReservoirMethod method = ReservoirMethod::automatic;

  Index system_dim() const { return system.dim(); }
  Index component_dim() const { return h.rows(); }
  /// lambda_M: the factor in front of sum_m v_q^[m] in V_M.
  double coupling_factor() const;
};

}  // namespace qfluct
