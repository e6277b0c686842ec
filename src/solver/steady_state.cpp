#include "qfluct/solver/steady_state.hpp"

#include "qfluct/core/random.hpp"

#include <nlohmann/json.hpp>
#include <Eigen/Eigenvalues>
#include <Eigen/SparseLU>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <numeric>

namespace qfluct {

namespace {

/// Fitted nonzeros of the LU factors of one coupled block of n unknowns (see the header).
double factor_nonzeros(double n, bool dicke_sectors) {
  return dicke_sectors ? 0.80 * std::pow(n, 1.677) : 9.6 * std::pow(n, 1.273);
}

/// Bytes of everything but the factors: about 11 generator nonzeros per unknown (measured:
/// 10.9 central spin, 7.5 spin_boson) in four sparse copies (16-byte value, 4-byte index), and
/// about ten work vectors.
double generator_bytes(double n) { return 4.0 * 11.0 * n * 20.0 + 10.0 * 16.0 * n; }

constexpr double bytes_per_factor_nonzero = 1.25 * 32.0;

/// Sizes of the connected components of the sparsity pattern of L (union-find): the LU fills
/// each component separately, so a generator that falls apart (a conserved quantity that blocks
/// it, e.g. w_x = 0) fills far less than one of the same size that does not.
std::vector<Index> component_sizes(const Eigen::SparseMatrix<cplx>& L) {
  std::vector<Index> parent(std::size_t(L.rows()));
  std::iota(parent.begin(), parent.end(), Index(0));
  auto find = [&](Index i) {
    while (parent[std::size_t(i)] != i) i = parent[std::size_t(i)] = parent[std::size_t(parent[std::size_t(i)])];
    return i;
  };
  for (Index j = 0; j < L.outerSize(); ++j)
    for (Eigen::SparseMatrix<cplx>::InnerIterator it(L, j); it; ++it) {
      const Index a = find(it.row()), b = find(j);
      if (a != b) parent[std::size_t(std::max(a, b))] = std::min(a, b);
    }
  std::vector<Index> size(parent.size(), 0);
  for (Index i = 0; i < L.rows(); ++i) ++size[std::size_t(find(i))];
  std::vector<Index> out;
  for (Index s : size)
    if (s > 0) out.push_back(s);
  return out;
}

}  // namespace

double steady_state_generator_memory(double unknowns) { return generator_bytes(unknowns); }

double steady_state_memory(double unknowns, bool dicke_sectors) {
  return bytes_per_factor_nonzero * factor_nonzeros(unknowns, dicke_sectors) + generator_bytes(unknowns);
}

SteadyState solve_steady_state(const BlockMasterEquation& me, const SteadyOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SteadyState out;
  Eigen::SparseMatrix<cplx> L = me.assemble();
  const Index n = L.rows();
  out.unknowns = n;
  const bool dicke = me.model().sector_count() > 1;
  // Replace the equation of rho_s(0,0) in the largest block by the trace condition.
  const auto& dims = me.block_dims();
  const auto& offsets = me.block_offsets();
  int largest = 0;
  for (int s = 0; s < int(dims.size()); ++s)
    if (dims[s] > dims[largest]) largest = s;
  const Index replaced = offsets[largest];
  std::vector<Index> diagonal;  // positions of the diagonal elements: Tr y = sum of y there
  for (int s = 0; s < int(dims.size()); ++s)
    for (Index i = 0; i < dims[s]; ++i) diagonal.push_back(offsets[s] + i * dims[s] + i);
  if (options.check_memory) {
    // The trace row couples everything, but it is one row: it adds at most n to the fill.
    double fill = double(n);
    for (Index size : component_sizes(L)) fill += factor_nonzeros(double(size), dicke);
    options.check_memory(bytes_per_factor_nonzero * fill + generator_bytes(double(n)));
  }
  Eigen::SparseMatrix<cplx> system;
  {
    Eigen::SparseMatrix<cplx, Eigen::RowMajor> A(L);
    A.row(replaced) *= 0.0;
    A.prune(cplx(0.0));
    std::vector<Eigen::Triplet<cplx>> trace;
    for (Index d : diagonal) trace.emplace_back(replaced, d, 1.0);
    Eigen::SparseMatrix<cplx, Eigen::RowMajor> T(n, n);
    T.setFromTriplets(trace.begin(), trace.end());
    system = A + T;
  }
  system.makeCompressed();
  out.nonzeros = system.nonZeros();
  Eigen::SparseLU<Eigen::SparseMatrix<cplx>, Eigen::COLAMDOrdering<int>> lu;
  lu.compute(system);
  if (lu.info() != Eigen::Success) {
    const std::string why = lu.lastErrorMessage();
    if (why.find("MEMORY") != std::string::npos)
      throw NumericalError(fmt::format("steady state: out of memory in the sparse LU of {} unknowns (Eigen: {})", n, why));
    // A zero pivot column: the replaced system is singular, which happens exactly when L has a
    // second, traceless stationary state.
    throw SteadyStateNotUnique("is not unique",
                               fmt::format("the linear system is exactly singular (Eigen SparseLU: {}), so the Liouvillian "
                                           "has a second stationary state",
                                           why),
                               0.0);
  }
  out.factor_nonzeros = lu.nnzL() + lu.nnzU();
  CVec b = CVec::Zero(n);
  b(replaced) = 1.0;
  CVec x = lu.solve(b);
  if (lu.info() != Eigen::Success) throw NumericalError("steady state: the sparse solve failed");
  if (!x.allFinite())
    throw SteadyStateNotUnique("is not unique",
                               "the solution is not finite (a zero pivot), so the Liouvillian has a second stationary state",
                               0.0);

  // Gap: inverse iteration on traceless vectors (see the header).
  for (Index j = 0; j < L.outerSize(); ++j) {
    double column = 0.0;
    for (Eigen::SparseMatrix<cplx>::InnerIterator it(L, j); it; ++it) column += std::abs(it.value());
    out.scale = std::max(out.scale, column);
  }
  auto remove_trace = [&](CVec& v) {
    cplx tr = 0.0;
    for (Index d : diagonal) tr += v(d);
    tr /= double(diagonal.size());
    for (Index d : diagonal) v(d) -= tr;
  };
  Rng rng(0x5ca1ab1eULL);  // a fixed start: the verdict is reproducible
  CVec z(n);
  for (Index i = 0; i < n; ++i) z(i) = cplx(uniform_open0(rng) - 0.5, uniform_open0(rng) - 0.5);
  remove_trace(z);
  z.normalize();
  out.gap = std::numeric_limits<double>::infinity();
  for (int it = 0; it < options.gap_iterations && out.gap > 0; ++it) {
    z(replaced) = 0.0;
    CVec y = lu.solve(z);
    remove_trace(y);  // traceless up to rounding already
    const double norm = y.norm();
    if (!std::isfinite(norm) || !y.allFinite() || norm == 0.0) {
      out.gap = 0.0;
      break;
    }
    const CVec Ly = L * y;
    out.gap = std::min(out.gap, Ly.norm() / (out.scale * norm));
    z = y / norm;
  }
  if (out.gap < options.min_gap) {
    // Below 1e-14 the residual is at rounding level (a true second stationary state measures
    // 1e-18 to 1e-16); above, it is a slow mode whose rate the message gives.
    if (out.gap < 1e-14)
      throw SteadyStateNotUnique("is not unique",
                                 fmt::format("the Liouvillian has a second stationary state, a traceless X with |L X| = "
                                             "{:.1e} |L| |X|, at rounding level",
                                             out.gap),
                                 out.gap);
    throw SteadyStateNotUnique(
        "is not resolved",
        fmt::format("the Liouvillian's slowest relaxation rate, about {:.1e} (a traceless X with |L X| = {:.1e} |L| |X|, "
                    "|L| = {:.3g}), is below the solver's resolution {:.0e} |L|: nearly a second stationary state",
                    out.gap * out.scale, out.gap, out.scale, options.min_gap),
        out.gap);
  }
  out.state_tolerance = std::max(1e-9, 1e3 * std::numeric_limits<double>::epsilon() / out.gap);

  // Hermitian part, block by block (the exact solution is Hermitian), and its spectrum.
  out.min_eigenvalue = std::numeric_limits<double>::infinity();
  cplx tr = 0.0;
  for (int s = 0; s < int(dims.size()); ++s) {
    Eigen::Map<CMat> rho(x.data() + offsets[s], dims[s], dims[s]);
    out.anti_hermitian = std::max(out.anti_hermitian, (rho - rho.adjoint()).cwiseAbs().maxCoeff());
    const CMat h = 0.5 * (rho + rho.adjoint());
    rho = h;
    tr += rho.trace();
    const Eigen::SelfAdjointEigenSolver<CMat> eig(h, Eigen::EigenvaluesOnly);
    out.min_eigenvalue = std::min(out.min_eigenvalue, eig.eigenvalues().minCoeff());
  }
  out.trace_error = std::abs(tr - 1.0);
  if (!(out.anti_hermitian <= out.state_tolerance && out.trace_error <= out.state_tolerance &&
        out.min_eigenvalue >= -out.state_tolerance))
    throw SteadyStateNotUnique(
        "is not unique or not resolved",
        fmt::format("the solution is not a density matrix (anti-Hermitian part {:.1e}, smallest eigenvalue {:.1e}, trace "
                    "error {:.1e}; tolerance {:.1e})",
                    out.anti_hermitian, out.min_eigenvalue, out.trace_error, out.state_tolerance),
        out.gap);
  CVec dx(n);
  me.derivative(x, dx);
  out.residual = dx.cwiseAbs().maxCoeff();
  out.rho = std::move(x);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace qfluct
