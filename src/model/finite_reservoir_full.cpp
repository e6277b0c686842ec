// finite_reservoir_full: S coupled to M components on the whole tensor-product space
// S (x) R_1 (x) ... (x) R_M (R_M fastest), the independent check of the other finite-M methods.
#include "qfluct/core/error.hpp"
#include "qfluct/model/finite_reservoir.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <vector>

namespace qfluct {

namespace {

// Size limits, checked before anything of that size is allocated.
// Density matrix on S (x) E: D^2 complex numbers (64 MB at the limit; Dopri5 keeps ~9 copies).
constexpr double kMaxDensityEntries = 4e6;
// Pure components: D complex numbers per vector.
constexpr double kMaxPureDimension = 1e6;
// Nonzeros of H (an upper bound, counted before assembly): ~24 bytes each while assembling.
constexpr double kMaxNonzeros = 2e7;
constexpr double kZero = 1e-10;  // "zero" population, as fluctuation_reservoir

using Triplets = std::vector<Eigen::Triplet<cplx>>;

Index row_nonzeros(const CMat& A) {
  Index best = 0;
  for (Index i = 0; i < A.rows(); ++i) best = std::max(best, Index((A.row(i).array() != cplx(0.0)).count()));
  return best;
}

/// sum_m A^[m] on R^(x)M (d_E = d^M, R_M fastest), times `factor`, as triplets offset by
/// (row0, col0) and multiplied by `outer` (the S factor of a Kronecker product); `outer` = 0 skips.
void add_collective(Triplets& out, const CMat& A, long long M, Index d_E, cplx factor, Index row0, Index col0) {
  const Index d = A.rows();
  Index stride = d_E;
  for (long long m = 0; m < M; ++m) {
    stride /= d;  // site m has stride d^(M-1-m)
    for (Index e = 0; e < d_E; ++e) {
      const Index b = (e / stride) % d;
      for (Index a = 0; a < d; ++a) {
        const cplx x = A(a, b);
        if (x == cplx(0.0)) continue;
        out.emplace_back(row0 + e + (a - b) * stride, col0 + e, factor * x);
      }
    }
  }
}

}  // namespace

ReducedEvolution finite_reservoir_full(const ReservoirSpec& spec, const std::vector<double>& times,
                                       const FiniteReservoirOptions& opt) {
  // Validation (named errors) through the fluctuation reservoir: h_R, rho_R, Eqs. (7)-(8), shapes.
  const FluctuationReservoir F = checked_reservoir(spec);
  const Index d_S = spec.system_dim();
  for (std::size_t i = 0; i < spec.system.channels.size(); ++i) {
    const auto& ch = spec.system.channels[i];
    if (ch.L.rows() != d_S || ch.L.cols() != d_S)
      throw InputError(fmt::format("system.channel[{}].L", i),
                       fmt::format("must be {} x {} (the dimension of system.H), got {} x {}", d_S, d_S, ch.L.rows(),
                                   ch.L.cols()));
  }
  if (spec.M < 1) throw InputError("reservoir.M", fmt::format("must be >= 1, got {}", spec.M));

  const Index d_R = spec.component_dim();
  const long long M = spec.M;
  Index populated = 0, rank = 0;
  for (Index j = 0; j < d_R; ++j)
    if (F.populations(j) > kZero) {
      ++rank;
      populated = j;
    }
  const bool pure_R = rank == 1;
  bool jumps = false;
  for (const auto& ch : spec.system.channels) jumps = jumps || ch.rate > 0.0;
  const bool density = !pure_R || jumps;

  // Sizes in floating point (d_R^M overflows long before it is refused).
  const double dE = std::pow(double(d_R), double(M));
  const double D = double(d_S) * dE;
  double row_bound = double(row_nonzeros(spec.system.H)) + double(M) * double(row_nonzeros(spec.h));
  for (std::size_t q = 0; q < spec.couplings.size(); ++q)
    row_bound += double(M) * double(row_nonzeros(spec.couplings[q].G) * row_nonzeros(spec.couplings[q].v) +
                                    row_nonzeros(spec.couplings[q].G.adjoint()) * row_nonzeros(spec.couplings[q].v.adjoint()));
  for (const auto& ch : spec.system.channels) row_bound = std::max(row_bound, double(row_nonzeros(ch.L)));
  const double nnz_bound = D * row_bound;
  const std::string sizes = fmt::format("d_S d_R^M = {} x {}^{} = {:.6g}", d_S, d_R, M, D);
  if (density && D * D > kMaxDensityEntries)
    throw InputError("reservoir.M",
                     fmt::format("the full tensor-product space is too large for a density matrix: {}, D^2 = {:.3g} "
                                 "complex numbers, limit {:.3g} (D <= {}); use a smaller M or another "
                                 "solver.reservoir_method",
                                 sizes, D * D, kMaxDensityEntries, Index(std::sqrt(kMaxDensityEntries))));
  if (D > kMaxPureDimension)
    throw InputError("reservoir.M", fmt::format("the full tensor-product space is too large: {}, limit {:.3g}; use a "
                                                "smaller M or another solver.reservoir_method",
                                                sizes, kMaxPureDimension));
  if (nnz_bound > kMaxNonzeros)
    throw InputError("reservoir.M",
                     fmt::format("the Hamiltonian on the full tensor-product space ({}) would have up to {:.3g} "
                                 "nonzeros, limit {:.3g}; use a smaller M or another solver.reservoir_method",
                                 sizes, nnz_bound, kMaxNonzeros));

  const Index d_E = Index(std::llround(dE));
  const Index dim = d_S * d_E;
  const double lambda = spec.coupling_factor();

  // H = H_S (x) 1 + 1 (x) sum_m h^[m] + sum_q (G_q (x) lambda sum_m v_q^[m] + h.c.), index s d_E + e.
  Triplets t;
  t.reserve(std::size_t(std::min(nnz_bound, kMaxNonzeros)));
  for (Index s = 0; s < d_S; ++s)
    for (Index s2 = 0; s2 < d_S; ++s2) {
      const cplx h = spec.system.H(s, s2);
      if (h != cplx(0.0))
        for (Index e = 0; e < d_E; ++e) t.emplace_back(s * d_E + e, s2 * d_E + e, h);
    }
  for (Index s = 0; s < d_S; ++s) add_collective(t, spec.h, M, d_E, 1.0, s * d_E, s * d_E);
  for (std::size_t q = 0; q < spec.couplings.size(); ++q) {
    const CMat vd = spec.couplings[q].v.adjoint();
    for (Index s = 0; s < d_S; ++s)
      for (Index s2 = 0; s2 < d_S; ++s2) {
        const cplx g = spec.couplings[q].G(s, s2), gd = std::conj(spec.couplings[q].G(s2, s));  // (G^+)(s, s2)
        if (g != cplx(0.0)) add_collective(t, spec.couplings[q].v, M, d_E, lambda * g, s * d_E, s2 * d_E);
        if (gd != cplx(0.0)) add_collective(t, vd, M, d_E, lambda * gd, s * d_E, s2 * d_E);
      }
  }
  CompositeSystem sys;
  sys.d_S = d_S;
  sys.d_E = d_E;
  sys.H.resize(dim, dim);
  sys.H.setFromTriplets(t.begin(), t.end());
  Triplets().swap(t);

  // Channels of S: sqrt(rate) L (x) 1.
  for (const auto& ch : spec.system.channels)
    if (ch.rate > 0.0) sys.jumps.push_back(on_system(std::sqrt(ch.rate) * ch.L, d_E));

  ReducedEvolution out;
  if (pure_R) {
    // rho_R = |chi_p><chi_p| (to 1e-10): psi_E = chi_p^(x)M, built site by site (R_M fastest).
    const CVec chi = F.basis.col(populated);
    CVec psi = CVec::Ones(1);
    for (long long m = 0; m < M; ++m) {
      CVec next(psi.size() * d_R);
      for (Index i = 0; i < psi.size(); ++i) next.segment(i * d_R, d_R) = psi(i) * chi;
      psi.swap(next);
    }
    out = reduced_evolution(sys, spec.system.initial, psi, times, opt.ode, opt.progress);
  } else {
    CMat rhoE = CMat::Ones(1, 1);
    for (long long m = 0; m < M; ++m) {
      CMat next(rhoE.rows() * d_R, rhoE.cols() * d_R);
      for (Index i = 0; i < rhoE.rows(); ++i)
        for (Index j = 0; j < rhoE.cols(); ++j) next.block(i * d_R, j * d_R, d_R, d_R) = rhoE(i, j) * spec.rho;
      rhoE.swap(next);
    }
    out = reduced_evolution(sys, spec.system.initial, rhoE, times, opt.ode, opt.progress);
  }
  out.info["evolution"] = out.method;  // the engine's path: pure_components or density_matrix
  out.method = "full";
  out.info["dimension"] = dim;
  out.info["environment_dimension"] = d_E;
  out.info["reservoir_start"] = pure_R ? "pure" : "mixed";
  out.info["hamiltonian_nonzeros"] = sys.H.nonZeros();
  return out;
}

}  // namespace qfluct
