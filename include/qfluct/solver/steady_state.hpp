#pragma once
/// The stationary state of a block master equation: L rho = 0 with Tr rho = 1, solved with a
/// sparse direct solver (Eigen SparseLU on the assembled Liouvillian; one equation for a
/// diagonal element, redundant because L is trace preserving, is replaced by the trace
/// condition). The residual ||L rho||_max is then recomputed through the matrix-free
/// derivative, an independent check of the assembly, and reported.
#include "qfluct/solver/master_equation.hpp"

namespace qfluct {

struct SteadyState {
  CVec rho;                 ///< packed blocks, Hermitian part
  double residual = 0.0;    ///< max |(L rho)_i| from the matrix-free derivative
  double trace_error = 0.0; ///< |Tr rho - 1|
  double anti_hermitian = 0.0;  ///< largest |rho - rho^+| before symmetrising
  Index unknowns = 0, nonzeros = 0;
  double seconds = 0.0;
};

SteadyState solve_steady_state(const BlockMasterEquation& me);

}  // namespace qfluct
