#pragma once
/// Exact evolution of S coupled to a finite environment E, reduced to S: the engine behind the
/// finite-M references (model/finite_reservoir.hpp) and the unitary S + F shortcut.
///
/// Space S (x) E, index s * d_E + e (S outer, E inner, as the Kronecker operators of
/// space/operator.hpp). The generator is
///   d rho/dt = -i [H, rho] + sum_j ( J_j rho J_j^+ - {J_j^+ J_j, rho}/2 ),
/// with the rates folded into the J_j (J = sqrt(rate) L (x) 1 for a channel of S).
/// Without J_j and with a pure environment start, only the pure components of rho_S are evolved
/// (rho_S = sum_i lambda_i |s_i><s_i|, each |s_i> (x) |psi_E> under the Schroedinger equation):
/// cost (rank rho_S) x nnz(H) per step instead of a density matrix on the whole space.
/// Otherwise the density matrix on S (x) E is evolved (dimension D = d_S d_E; D^2 complex numbers).
/// Integrator: Dopri5 (solver/dopri5.hpp) at the given tolerances, output from its dense output.
#include "qfluct/core/types.hpp"
#include "qfluct/solver/dopri5.hpp"
#include "qfluct/solver/time_series.hpp"
#include "qfluct/space/operator.hpp"

#include <functional>
#include <string>
#include <vector>

namespace qfluct {

struct CompositeSystem {
  Index d_S = 0;                 ///< dimension of S
  Index d_E = 0;                 ///< dimension of E
  SparseMat H;                   ///< (d_S d_E) x (d_S d_E), Hermitian
  std::vector<SparseMat> jumps;  ///< J_j, (d_S d_E) x (d_S d_E), rates folded in
  /// Diagonal observables of E (length d_E each): their expectation values are reported at
  /// every output time (mode occupations, or the population of a truncation's top levels).
  std::vector<RVec> env_diagonals;
};

/// rho_S at the output times, with the expectation values of the environment's diagonals.
struct ReducedEvolution {
  std::vector<CMat> rho;                     ///< rho_S(t_i), d_S x d_S, one per output time
  std::vector<std::vector<double>> env;      ///< env[i][k]: <env_diagonals[k]> at t_i
  std::string method;                        ///< which solver produced it (for the sidecar)
  Diagnostics info;                          ///< steps, dimensions, truncation, ...
};

/// From rho_S (x) |psi_E><psi_E| (psi_E of length d_E, normalised). Pure components when there
/// are no jumps, else the density matrix. std::invalid_argument for shapes that disagree.
/// `progress` (optional) is called with the fraction of output times done, from this thread.
ReducedEvolution reduced_evolution(const CompositeSystem& sys, const CMat& rho_S, const CVec& psi_E,
                                   const std::vector<double>& times, OdeTolerances tol,
                                   const std::function<void(double)>& progress = {});

/// From rho_S (x) rho_E (rho_E: d_E x d_E density matrix): the density matrix on S (x) E.
ReducedEvolution reduced_evolution(const CompositeSystem& sys, const CMat& rho_S, const CMat& rho_E,
                                   const std::vector<double>& times, OdeTolerances tol,
                                   const std::function<void(double)>& progress = {});

/// A (x) 1_E as a sparse (d_S d_E) x (d_S d_E) matrix, index s * d_E + e: an operator of S (a
/// Hamiltonian term, or sqrt(rate) L for a channel of S) on the composite space.
SparseMat on_system(const CMat& A, Index d_E);

/// Accumulates weight * (the result of `part`) into `sum` (same times; used to sum the
/// evolutions of a mixture, e.g. Dicke sectors weighted by their multiplicities).
void accumulate(ReducedEvolution& sum, const ReducedEvolution& part, double weight);

}  // namespace qfluct
