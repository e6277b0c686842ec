#include "qfluct/core/phase.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"

#include "qfluct/core/error.hpp"

#include <Eigen/Eigenvalues>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace qfluct {
namespace {

constexpr double kTol = 1e-10;       // relative tolerance of every check (see the header)
constexpr double kDiagonalTol = 1e-8;  // rho_R must be diagonal in the final basis to this

double scale(const CMat& m) { return std::max(1.0, m.cwiseAbs().maxCoeff()); }

std::string coupling_key(std::size_t q, const char* field) {
  return fmt::format("reservoir.coupling[{}].{}", q, field);
}

void check_square(const CMat& m, const std::string& key, Index d) {
  if (m.rows() != d || m.cols() != d)
    throw InputError(key, fmt::format("must be {} x {} (the dimension of reservoir.h), got {} x {}", d, d,
                                      m.rows(), m.cols()));
}

void check_hermitian(const CMat& m, const std::string& key) {
  const double dev = (m - m.adjoint()).cwiseAbs().maxCoeff();
  if (dev > kTol * scale(m))
    throw InputError(key, fmt::format("must be Hermitian (largest |A - A^+| entry {:.3g})", dev));
}


}  // namespace

FluctuationReservoir fluctuation_reservoir(const CMat& h, const CMat& rho, const std::vector<CMat>& v,
                                           bool require_centred) {
  const Index d = h.rows();
  if (d == 0 || h.cols() != d)
    throw InputError("reservoir.h", fmt::format("must be a non-empty square matrix, got {} x {}", h.rows(), h.cols()));
  check_hermitian(h, "reservoir.h");
  check_square(rho, "reservoir.rho", d);
  check_hermitian(rho, "reservoir.rho");
  const double trace = rho.trace().real();
  if (std::abs(trace - 1.0) > kTol)
    throw InputError("reservoir.rho", fmt::format("must have trace 1 (a density matrix), got {:.12g}", trace));
  const CMat rho_h = (rho + rho.adjoint()) / 2.0;
  const double min_eig = Eigen::SelfAdjointEigenSolver<CMat>(rho_h, Eigen::EigenvaluesOnly).eigenvalues().minCoeff();
  if (min_eig < -kTol)
    throw InputError("reservoir.rho",
                     fmt::format("must be positive semidefinite (a density matrix), has eigenvalue {:.3g}", min_eig));
  const CMat h_h = (h + h.adjoint()) / 2.0;
  const double comm = (h_h * rho_h - rho_h * h_h).cwiseAbs().maxCoeff();
  if (comm > kTol * scale(h))
    throw InputError("reservoir.rho",
                     fmt::format("must be stationary under reservoir.h (Eq. (7): [h_R, rho_R] = 0), largest "
                                 "|[h_R, rho_R]| entry {:.3g}",
                                 comm));
  for (std::size_t q = 0; q < v.size(); ++q) {
    check_square(v[q], coupling_key(q, "v"), d);
    const cplx mean = (rho_h * v[q]).trace();
    if (require_centred && std::abs(mean) > kTol * scale(v[q]))
      throw InputError(coupling_key(q, "v"),
                       fmt::format("tr(rho_R v) = {:.6g}{:+.6g}i must vanish (Eq. (8)): its mean-field part would "
                                   "diverge like sqrt(M) under the 1/sqrt(M) scaling; move it into system.H yourself "
                                   "(sqrt(M) (tr(rho_R v) G + h.c.) at the M you mean) and use v - tr(rho_R v) 1",
                                   mean.real(), mean.imag()));
  }

  // Common eigenbasis: h_R's eigenvalues come ascending; rho_R is diagonalised inside each group.
  const Eigen::SelfAdjointEigenSolver<CMat> hs(h_h);
  CMat U = hs.eigenvectors();
  const RVec& E = hs.eigenvalues();
  const double e_tol = kTol * scale(h);
  for (Index start = 0; start < d;) {
    Index end = start + 1;
    while (end < d && E(end) - E(end - 1) <= e_tol) ++end;
    const Index n = end - start;
    if (n > 1) {
      const CMat block = U.middleCols(start, n).adjoint() * rho_h * U.middleCols(start, n);
      const Eigen::SelfAdjointEigenSolver<CMat> rs((block + block.adjoint()) / 2.0);
      // Populations descending: the solver's ascending order reversed.
      const CMat W = rs.eigenvectors().rowwise().reverse();
      U.middleCols(start, n) = (U.middleCols(start, n) * W).eval();
    }
    start = end;
  }
  fix_column_phases(U);

  FluctuationReservoir F;
  F.basis = U;
  const CMat hd = U.adjoint() * h_h * U;
  const CMat rd = U.adjoint() * rho_h * U;
  F.energies = hd.diagonal().real();
  F.populations = rd.diagonal().real().cwiseMax(0.0);
  const double off = (rd - CMat(rd.diagonal().asDiagonal())).cwiseAbs().maxCoeff();
  if (off > kDiagonalTol)
    throw InputError("reservoir.rho",
                     fmt::format("is not diagonal in the eigenbasis of reservoir.h (off-diagonal {:.3g}): it mixes "
                                 "levels of h_R that are nearly but not exactly degenerate; make them degenerate "
                                 "or rho_R stationary",
                                 off));

  double v_scale = 0.0;
  for (const CMat& vq : v) {
    F.v.push_back(U.adjoint() * vq * U);
    v_scale = std::max(v_scale, scale(vq));
  }
  const double v_tol = kTol * v_scale;
  for (Index k = 0; k < d; ++k) {
    if (F.populations(k) <= kTol) continue;
    for (Index l = 0; l < d; ++l) {
      const bool allowed = std::any_of(F.v.begin(), F.v.end(), [&](const CMat& vq) {
        return std::abs(vq(k, l)) > v_tol || std::abs(vq(l, k)) > v_tol;
      });
      if (allowed) F.modes.push_back({k, l, F.energies(l) - F.energies(k), F.populations(k)});
    }
  }
  F.a.assign(v.size(), {});
  F.a_dag.assign(v.size(), {});
  for (std::size_t q = 0; q < v.size(); ++q)
    for (const auto& m : F.modes) {
      const double s = std::sqrt(m.p_k);
      F.a[q].push_back(s * F.v[q](m.k, m.l));
      F.a_dag[q].push_back(s * F.v[q](m.l, m.k));
    }
  return F;
}

OpenSystemSpec bosonized_spec(const CMat& H_S, const CMat& rho_S, const std::vector<CMat>& G,
                              const FluctuationReservoir& F) {
  const Index d = H_S.rows();
  if (d == 0 || H_S.cols() != d)
    throw InputError("system.H", fmt::format("must be a non-empty square matrix, got {} x {}", H_S.rows(), H_S.cols()));
  check_hermitian(H_S, "system.H");
  if (rho_S.rows() != d || rho_S.cols() != d)
    throw InputError("system.initial", fmt::format("must be {} x {} (the dimension of system.H), got {} x {}", d, d,
                                                   rho_S.rows(), rho_S.cols()));
  if (G.size() != F.a.size())
    throw InputError("reservoir.coupling", fmt::format("{} operators G for {} operators v: each coupling needs both",
                                                       G.size(), F.a.size()));
  OpenSystemSpec spec;
  spec.H = H_S;
  spec.initial = rho_S;
  for (const auto& m : F.modes) {
    OpenSystemSpec::Mode mode;
    mode.omega = m.omega;
    spec.modes.push_back(mode);
  }
  for (std::size_t q = 0; q < G.size(); ++q) {
    if (G[q].rows() != d || G[q].cols() != d)
      throw InputError(coupling_key(q, "G"), fmt::format("must be {} x {} (the dimension of system.H), got {} x {}", d,
                                                         d, G[q].rows(), G[q].cols()));
    spec.couplings.push_back({G[q], F.a[q], F.a_dag[q]});
  }
  return spec;
}

}  // namespace qfluct
