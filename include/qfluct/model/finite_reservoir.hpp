#pragma once
/// Exact reduced dynamics of S coupled to M identical reservoir components (ReservoirSpec,
/// Fantechi & Merkli Eqs. (1)-(9) at finite M): the references against which the fluctuation
/// reservoir F (model/fluctuation_reservoir.hpp) is checked.
///
/// Methods (solver.reservoir_method), each exact up to a checked truncation:
/// - full:          the full tensor-product space S (x) R^(x)M (small M; the independent check).
///                  Limits (refused before allocating): D = d_S d_R^M <= 1e6, D^2 <= 4e6 when a
///                  density matrix is evolved (mixed rho_R or channels on S), and a bound on
///                  nnz(H) <= 2e7. info: "dimension", "environment_dimension", "reservoir_start"
///                  ("pure" or "mixed"), "hamiltonian_nonzeros", "evolution" (the engine's path).
/// - symmetric:     pure rho_R: the symmetric subspace of R^(x)M (occupation numbers of the
///                  d_R levels summing to M, collective operators b_k^+ b_l), truncated in the
///                  number of quanta outside the populated level; checked at every output time.
///                  Same size limits as full, on d_S x (the truncated subspace's dimension).
/// - dicke:         qubit components (d_R = 2), any rho_R: Dicke sectors j weighted by their
///                  multiplicities and the populations of rho_R, each truncated in the number of
///                  flips away from the more populated level; sectors of negligible weight skipped.
/// - nondemolition: H_S and every G_q diagonal in one orthonormal basis and no channels on S:
///                  coherences rho_mn(t) = rho_mn(0) e^{-i(e_m - e_n)t} [tr(rho_R e^{i h_n t}
///                  e^{-i h_m t})]^M with h_j = h_R + lambda_M sum_q (g_qj v_q + conj(g_qj) v_q^+);
///                  any d_R, rho_R and M (model/nondemolition.hpp; no truncation, no ODE: opt is
///                  unused; env has one empty row per time). d^M = exp(M log(1 + delta)) with
///                  delta = d - 1 = O(1/M) computed to relative rounding (a Duhamel expansion around
///                  h_R, never forming h_R + lambda V). Accuracy, measured for M up to 1e12 (t up to
///                  10, ||v|| ~ 1): |D_M - D_F| follows its c/M or c/sqrt(M) law to 1e-16 absolute
///                  when h_R is given diagonal; otherwise the basis change of h_R adds ~1e-16
///                  sqrt(M) t ||V|| (7e-11 at M = 1e12), the same size as the order-lambda phase
///                  that rounding of Eq. (8) (tr(rho_R v) = 0 only to ~1e-17) puts in the input.
///                  InputError "solver.reservoir_method" when not nondemolition, "reservoir.M" for M < 1.
/// choose_finite_method() picks one for `automatic`; the sidecar records which and why.
/// Errors: InputError naming "solver.reservoir_method" when a forced method does not apply to
/// the model (saying why), and "reservoir.M" when the chosen space would not fit.
#include "qfluct/model/fluctuation_reservoir.hpp"
#include "qfluct/model/reservoir_spec.hpp"
#include "qfluct/solver/reduced_evolution.hpp"

#include <functional>
#include <string>
#include <vector>

namespace qfluct {

struct FiniteReservoirOptions {
  OdeTolerances ode{1e-10, 1e-12};
  double truncation_tol = 1e-10;  ///< bound on the population of a truncation's top levels
  /// Called with the fraction done (0..1) as parts of the work finish (dicke: per sector; full and
  /// symmetric: per output time, symmetric starting over when its cutoff grows); may be called
  /// from several threads at once, so it must be thread-safe. Empty: no reports.
  std::function<void(double)> progress;
};

ReducedEvolution finite_reservoir_full(const ReservoirSpec& spec, const std::vector<double>& times,
                                       const FiniteReservoirOptions& opt);
ReducedEvolution finite_reservoir_symmetric(const ReservoirSpec& spec, const std::vector<double>& times,
                                            const FiniteReservoirOptions& opt);
/// dicke (src/model/finite_reservoir_dicke.cpp): d_R = 2, any rho_R, S, couplings and channels.
/// In the common eigenbasis chi_0, chi_1 of h_R and rho_R (fluctuation_reservoir(); chi_0 = "up"),
/// |j,m> has weight d_j p_0^(M/2+m) p_1^(M/2-m); the weights fall geometrically with the number of
/// flips from the sector's extreme rung in the more populated level. The lightest sectors are
/// skipped and each kept sector's initial rungs cut where the dropped weight reaches
/// truncation_tol/2 (each); the ladder is kept to K rungs beyond, K doubled until the last rung's
/// population stays <= truncation_tol at every output time; rho_S is renormalised over what was
/// kept. Without channels each window's H is diagonalised (exact up to rounding; opt.ode unused),
/// with channels the window goes through reduced_evolution's Lindblad path at opt.ode.
/// Cost ~ (number of sectors ~ 13 sqrt(M p_0 p_1)) x (d_S L)^3 with windows of L ~ log(tol)/log(r)
/// + K rungs, r = min(p)/max(p): fast away from p = 1/2, whole ladders (2j + 1 ~ sqrt(M)) at p = 1/2.
/// info: sectors_total, sectors_used, skipped_weight (= skipped_sector_weight +
/// skipped_rung_weight), rung_cutoff (largest K), largest_window, top_population (largest
/// last-rung population), populations, energies, start_level, evolution, ode_steps (channels).
/// Errors: InputError "solver.reservoir_method" (d_R != 2), "reservoir.M" (M < 1, M > 2^30, a
/// window that would not fit in memory), and those of fluctuation_reservoir() and bosonized_spec()
/// (reservoir.h, reservoir.rho, reservoir.coupling[q].v / .G, system.H, system.initial), and
/// "system.channel[c].L" / ".rate". Deterministic for any thread count (OpenMP over sectors,
/// summed in sector order).
ReducedEvolution finite_reservoir_dicke(const ReservoirSpec& spec, const std::vector<double>& times,
                                        const FiniteReservoirOptions& opt);
ReducedEvolution finite_reservoir_nondemolition(const ReservoirSpec& spec, const std::vector<double>& times,
                                                const FiniteReservoirOptions& opt);

/// The method `automatic` stands for, with the reason in one line: nondemolition when it applies
/// (exact for any M, no truncation), else symmetric for a pure rho_R, else dicke for qubit
/// components, else full (which refuses, naming reservoir.M, when the space does not fit).
struct MethodChoice {
  ReservoirMethod method;
  std::string reason;
};
MethodChoice choose_finite_method(const ReservoirSpec& spec);

/// spec.method (or the automatic choice) run; r.info["method_reason"] says why it was chosen.
ReducedEvolution finite_reservoir_evolution(const ReservoirSpec& spec, const std::vector<double>& times,
                                            const FiniteReservoirOptions& opt);

/// The fluctuation reservoir of spec's component, after checking the whole spec with named
/// errors (h_R, rho_R, Eq. (7), the v_q with Eq. (8) under the sqrt scaling only, H_S, rho_S and
/// the G_q): every finite-M method starts here, for its errors and for the common eigenbasis.
FluctuationReservoir checked_reservoir(const ReservoirSpec& spec);

/// "full", "symmetric", ... (the solver.reservoir_method names; "auto" for automatic).
std::string to_string(ReservoirMethod m);

/// finite_reservoir_symmetric at one fixed quanta cutoff K (min(K, M); K >= 1, else
/// std::invalid_argument): no doubling and no check, for tests and convergence studies of the
/// truncation. info: "quanta_cutoff", "dimension", "top_population" (the largest population of
/// the states with exactly K quanta outside the populated level over the output times, also
/// env[i][0]), "truncated" (K < M). finite_reservoir_symmetric reports the same for the K it
/// settled on, plus "cutoffs_tried": K starts at min(8, M) (lower if that does not fit) and
/// doubles (capped at M, and once at the largest K that fits) until top_population <=
/// opt.truncation_tol or K = M (nothing truncated); InputError "reservoir.M" when the next K
/// would not fit.
ReducedEvolution finite_reservoir_symmetric_at(const ReservoirSpec& spec, const std::vector<double>& times,
                                               const FiniteReservoirOptions& opt, long long quanta_cutoff);

}  // namespace qfluct
