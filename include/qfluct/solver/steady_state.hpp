#pragma once
/// The stationary state of a block master equation: L rho = 0 with Tr rho = 1, solved with a
/// sparse direct solver (Eigen SparseLU on the assembled Liouvillian; one equation for a
/// diagonal element, redundant because L is trace preserving, is replaced by the trace
/// condition). The residual ||L rho||_max is then recomputed through the matrix-free
/// derivative, an independent check of the assembly, and reported.
///
/// Uniqueness. The replaced system A is singular exactly when L has a second, traceless
/// stationary state X (then A X = 0; conversely A X = 0 gives (L X)_i = 0 off the replaced row,
/// and Tr L X = 0 gives the replaced row too). Solving A y = P z (P zeroes the replaced row) for
/// traceless z gives the traceless y with L y = z, so a few steps of inverse iteration with the
/// same factorisation find the slowest traceless mode of L and measure
///   gap = min ||L y||_2 / (||L||_1 ||y||_2)   over the iterates y.
/// A second stationary state puts gap at rounding level (~1e-16); a unique state with slowest
/// relaxation rate lambda gives gap ~ |lambda| / ||L||_1 or, for strongly non-normal L, a
/// smaller value that still bounds how well the state is determined: the solution's error
/// along the slow mode is about (machine epsilon) / gap. Below SteadyOptions::min_gap the
/// solve fails with SteadyStateNotUnique. A solution that passes is also checked to be a
/// density matrix: Hermitian, positive semidefinite and of trace 1, each within
/// state_tolerance = max(1e-9, 1e3 eps / gap) (the error bound above with a factor 1e3 for the
/// LU's growth and the size of the system; a non-unique solve misses by O(1)).
#include "qfluct/core/error.hpp"
#include "qfluct/solver/master_equation.hpp"

#include <functional>

namespace qfluct {

struct SteadyState {
  CVec rho;                 ///< packed blocks, Hermitian part
  double residual = 0.0;    ///< max |(L rho)_i| from the matrix-free derivative
  double trace_error = 0.0; ///< |Tr rho - 1|
  double anti_hermitian = 0.0;  ///< largest |rho - rho^+| before symmetrising
  double min_eigenvalue = 0.0;  ///< smallest eigenvalue of rho (over blocks)
  double gap = 0.0;             ///< relative spectral gap estimate (see above)
  double scale = 0.0;           ///< ||L||_1, the scale gap is relative to
  double state_tolerance = 0.0; ///< tolerance of the density-matrix checks
  Index unknowns = 0, nonzeros = 0;
  Index factor_nonzeros = 0;    ///< nonzeros of the LU factors
  double seconds = 0.0;
};

struct SteadyOptions {
  /// Smallest accepted relative gap: 1e-10 leaves six orders of magnitude above rounding
  /// (a true second stationary state gives ~1e-16 to 1e-13), and a state accepted at it is
  /// determined to about 1e-6 or better.
  double min_gap = 1e-10;
  /// Inverse-iteration steps for the gap (one finds a second stationary state; more sharpen the
  /// estimate for slow unique models).
  int gap_iterations = 3;
  /// Called with the estimated peak memory of the factorisation (bytes) before it starts; may
  /// throw to refuse it.
  std::function<void(double bytes)> check_memory;
};

/// The stationary state is not unique (a second stationary state), not resolved (a traceless
/// mode slower than min_gap), or the solve gave something that is not a density matrix.
/// what() is "the stationary state VERDICT: EVIDENCE".
class SteadyStateNotUnique : public NumericalError {
 public:
  SteadyStateNotUnique(std::string verdict, std::string evidence, double gap)
      : NumericalError("the stationary state " + verdict + ": " + evidence), verdict_(std::move(verdict)),
        evidence_(std::move(evidence)), gap_(gap) {}
  /// "is not unique", "is not resolved" or "is not unique or not resolved".
  const std::string& verdict() const noexcept { return verdict_; }
  /// What was measured.
  const std::string& evidence() const noexcept { return evidence_; }
  /// The measured relative gap (0 when the factorisation found the system exactly singular).
  double gap() const noexcept { return gap_; }

 private:
  std::string verdict_, evidence_;
  double gap_;
};

/// Throws SteadyStateNotUnique as above; NumericalError when the factorisation runs out of
/// memory or fails otherwise.
SteadyState solve_steady_state(const BlockMasterEquation& me, const SteadyOptions& options = {});

/// About the peak memory (bytes) of solve_steady_state on `unknowns` unknowns in one coupled
/// block, before the generator is built. The fill of Eigen's SparseLU with COLAMD was measured on
/// these generators (central spin N = 10 .. 56, spin_boson cutoffs 16 .. 256) and fits
///   Dicke sectors (several blocks):  nnz(L + U) = 0.80 n^1.677,
///   one Fock ladder (spin_boson):   nnz(L + U) = 9.6 n^1.273,
/// both within 8% (32% for the smallest spin_boson case) over that range; the estimate takes
/// 1.25 times that (extrapolation margin) at 32 bytes per factor nonzero (the measured peak of
/// virtual memory is 30 to 35: 16-byte values, 4-byte indices, and the copies made when Eigen
/// grows its buffers by 1.5), plus the generator's copies.
double steady_state_memory(double unknowns, bool dicke_sectors);
/// The part of that not in the factors: the generator's copies and the work vectors.
double steady_state_generator_memory(double unknowns);

}  // namespace qfluct
