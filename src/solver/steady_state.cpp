#include "qfluct/solver/steady_state.hpp"

#include "qfluct/core/error.hpp"

#include <Eigen/SparseLU>
#include <chrono>
#include <fmt/format.h>

namespace qfluct {

SteadyState solve_steady_state(const BlockMasterEquation& me) {
  const auto start = std::chrono::steady_clock::now();
  SteadyState out;
  Eigen::SparseMatrix<cplx> L = me.assemble();
  const Index n = L.rows();
  out.unknowns = n;
  // Replace the equation of rho_s(0,0) in the largest block by the trace condition.
  const auto& dims = me.block_dims();
  const auto& offsets = me.block_offsets();
  int largest = 0;
  for (int s = 0; s < int(dims.size()); ++s)
    if (dims[s] > dims[largest]) largest = s;
  const Index replaced = offsets[largest];
  Eigen::SparseMatrix<cplx, Eigen::RowMajor> A(L);
  A.row(replaced) *= 0.0;
  A.prune(cplx(0.0));
  std::vector<Eigen::Triplet<cplx>> trace;
  for (int s = 0; s < int(dims.size()); ++s)
    for (Index i = 0; i < dims[s]; ++i) trace.emplace_back(replaced, offsets[s] + i * dims[s] + i, 1.0);
  Eigen::SparseMatrix<cplx, Eigen::RowMajor> T(n, n);
  T.setFromTriplets(trace.begin(), trace.end());
  Eigen::SparseMatrix<cplx> system = A + T;
  system.makeCompressed();
  out.nonzeros = system.nonZeros();
  Eigen::SparseLU<Eigen::SparseMatrix<cplx>, Eigen::COLAMDOrdering<int>> lu;
  lu.compute(system);
  if (lu.info() != Eigen::Success)
    throw NumericalError(fmt::format("steady state: sparse LU failed ({}); is the stationary state unique?", lu.lastErrorMessage()));
  CVec b = CVec::Zero(n);
  b(replaced) = 1.0;
  CVec x = lu.solve(b);
  if (lu.info() != Eigen::Success || !x.allFinite()) throw NumericalError("steady state: the sparse solve failed");
  // Hermitian part, block by block (the exact solution is Hermitian).
  for (int s = 0; s < int(dims.size()); ++s) {
    Eigen::Map<CMat> rho(x.data() + offsets[s], dims[s], dims[s]);
    out.anti_hermitian = std::max(out.anti_hermitian, (rho - rho.adjoint()).cwiseAbs().maxCoeff());
    const CMat h = 0.5 * (rho + rho.adjoint());
    rho = h;
  }
  cplx tr = 0.0;
  for (int s = 0; s < int(dims.size()); ++s) tr += Eigen::Map<const CMat>(x.data() + offsets[s], dims[s], dims[s]).trace();
  out.trace_error = std::abs(tr - 1.0);
  CVec dx(n);
  me.derivative(x, dx);
  out.residual = dx.cwiseAbs().maxCoeff();
  out.rho = std::move(x);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace qfluct
