// finite_reservoir_symmetric: pure rho_R = |chi_p><chi_p|. The start chi_p^(x)M and H are symmetric
// under permutations of the components, so the evolution stays in the symmetric subspace of
// R^(x)M: occupation numbers n_j of the levels chi_j (sum M), sum_m |k><l|^[m] = b_k^+ b_l.
// Truncated at K quanta outside the populated level; K doubles until the states with exactly K
// quanta outside stay below opt.truncation_tol at every output time.
#include "qfluct/core/error.hpp"
#include "qfluct/model/finite_reservoir.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace qfluct {

namespace {

constexpr double kZero = 1e-10;  // "zero" population, as fluctuation_reservoir
// Size limits (as finite_reservoir_full): density matrix D^2, pure components D.
constexpr double kMaxDensityEntries = 4e6;
constexpr double kMaxPureDimension = 1e6;
constexpr long long kFirstCutoff = 8;

/// The symmetric subspace truncated at K quanta outside level 0: the vectors (n_1 .. n_L), L =
/// d_R - 1, with n_1 + ... + n_L <= K, in lexicographic order (n_1 slowest). rank() inverts the
/// enumeration in O(L) from count[j][r] = C(r + j, j) = #{length-j vectors with sum <= r}.
class OccupationSpace {
 public:
  OccupationSpace(Index L, Index K) : L_(L), K_(K), count_(std::size_t(L + 2), std::vector<Index>(std::size_t(K + 1), 1)) {
    for (Index j = 1; j <= L + 1; ++j)
      for (Index r = 1; r <= K; ++r) count_[j][r] = count_[j - 1][r] + count_[j][r - 1];
    states_.reserve(std::size_t(size() * std::max<Index>(L, 1)));
    std::vector<int> n(std::size_t(L), 0);
    enumerate(n, 0, K);
  }
  Index size() const { return count_[L_][K_]; }
  const int* state(Index i) const { return states_.data() + i * L_; }
  Index rank(const int* n) const {
    Index r = 0, rest = K_;
    for (Index i = 0; i < L_; ++i) {
      if (n[i] > 0) r += count_[L_ - i][rest] - count_[L_ - i][rest - n[i]];
      rest -= n[i];
    }
    return r;
  }

 private:
  void enumerate(std::vector<int>& n, Index i, Index rest) {
    if (i == L_) {
      states_.insert(states_.end(), n.begin(), n.end());
      return;
    }
    for (Index x = 0; x <= rest; ++x) {
      n[i] = int(x);
      enumerate(n, i + 1, rest - x);
    }
    n[i] = 0;
  }
  Index L_, K_;
  std::vector<std::vector<Index>> count_;
  std::vector<int> states_;
};

/// C(K + L, L): the dimension at cutoff K, in floating point (checked before enumerating).
double space_size(Index L, double K) {
  double s = 1.0;
  for (Index j = 1; j <= L; ++j) s *= (K + double(j)) / double(j);
  return s;
}

struct Model {
  Index d_S = 0, d_R = 0;
  std::vector<double> eps;   // E_j - E_p in slot order (slot 0 = the populated level, eps = 0)
  std::vector<CMat> v;       // [v_q] in slot order
  bool density = false;      // channels: reduced_evolution evolves the density matrix
};

/// One evolution at cutoff K. env_diagonals[0]: the states with exactly K quanta outside.
ReducedEvolution evolve(const ReservoirSpec& spec, const Model& mod, const std::vector<double>& times,
                        const FiniteReservoirOptions& opt, Index K) {
  const Index L = mod.d_R - 1, d_S = mod.d_S;
  const long long M = spec.M;
  const OccupationSpace space(L, K);
  const Index d_E = space.size(), dim = d_S * d_E;
  const double lambda = spec.coupling_factor();

  // A_q = lambda sum_{k,l} [v_q]_kl b_k^+ b_l on the truncated space (entries leaving it dropped,
  // so P H P stays Hermitian). n_0 = M - (quanta outside).
  std::vector<Eigen::Triplet<cplx>> t;
  std::vector<SparseMat> A(mod.v.size());
  std::vector<int> target(static_cast<std::size_t>(L));
  for (std::size_t q = 0; q < mod.v.size(); ++q) {
    t.clear();
    for (Index e = 0; e < d_E; ++e) {
      const int* n = space.state(e);
      long long outside = 0;
      for (Index i = 0; i < L; ++i) outside += n[i];
      const double n0 = double(M - outside);
      for (Index k = 0; k < mod.d_R; ++k)
        for (Index l = 0; l < mod.d_R; ++l) {
          const cplx x = mod.v[q](k, l);
          if (x == cplx(0.0)) continue;
          const double nl = l == 0 ? n0 : double(n[l - 1]);
          if (nl == 0.0) continue;
          if (k == l) {
            t.emplace_back(e, e, lambda * x * nl);
            continue;
          }
          const double nk = k == 0 ? n0 : double(n[k - 1]);
          // n + e_k - e_l: stays inside when it does not add a quantum outside at the cutoff.
          if (l == 0 && outside == K) continue;
          std::copy(n, n + L, target.begin());
          if (k > 0) ++target[std::size_t(k - 1)];
          if (l > 0) --target[std::size_t(l - 1)];
          t.emplace_back(space.rank(target.data()), e, lambda * x * std::sqrt((nk + 1.0) * nl));
        }
    }
    A[q].resize(d_E, d_E);
    A[q].setFromTriplets(t.begin(), t.end());
  }

  // H = H_S (x) 1 + 1 (x) sum_j eps_j n_j + sum_q (G_q (x) A_q + G_q^+ (x) A_q^+), index s d_E + e.
  t.clear();
  RVec top = RVec::Zero(d_E);
  for (Index e = 0; e < d_E; ++e) {
    const int* n = space.state(e);
    double energy = 0.0;
    long long outside = 0;
    for (Index i = 0; i < L; ++i) {
      energy += mod.eps[std::size_t(i + 1)] * n[i];
      outside += n[i];
    }
    if (outside == K) top(e) = 1.0;
    for (Index s = 0; s < d_S; ++s) {
      if (energy != 0.0) t.emplace_back(s * d_E + e, s * d_E + e, energy);
      for (Index s2 = 0; s2 < d_S; ++s2)
        if (spec.system.H(s, s2) != cplx(0.0)) t.emplace_back(s * d_E + e, s2 * d_E + e, spec.system.H(s, s2));
    }
  }
  for (std::size_t q = 0; q < A.size(); ++q) {
    const CMat& G = spec.couplings[q].G;
    const SparseMat Ad = A[q].adjoint();
    for (Index s = 0; s < d_S; ++s)
      for (Index s2 = 0; s2 < d_S; ++s2) {
        const cplx g = G(s, s2), gd = std::conj(G(s2, s));
        if (g != cplx(0.0))
          for (Index e = 0; e < d_E; ++e)
            for (SparseMat::InnerIterator it(A[q], e); it; ++it)
              t.emplace_back(s * d_E + e, s2 * d_E + it.col(), g * it.value());
        if (gd != cplx(0.0))
          for (Index e = 0; e < d_E; ++e)
            for (SparseMat::InnerIterator it(Ad, e); it; ++it)
              t.emplace_back(s * d_E + e, s2 * d_E + it.col(), gd * it.value());
      }
  }
  CompositeSystem sys;
  sys.d_S = d_S;
  sys.d_E = d_E;
  sys.H.resize(dim, dim);
  sys.H.setFromTriplets(t.begin(), t.end());
  std::vector<Eigen::Triplet<cplx>>().swap(t);
  for (const auto& ch : spec.system.channels)
    if (ch.rate > 0.0) sys.jumps.push_back(on_system(std::sqrt(ch.rate) * ch.L, d_E));
  sys.env_diagonals.push_back(std::move(top));

  CVec psi = CVec::Zero(d_E);
  psi(0) = 1.0;  // (M, 0, ..., 0): every component in chi_p (rank 0: all n_i = 0)
  ReducedEvolution out = reduced_evolution(sys, spec.system.initial, psi, times, opt.ode, opt.progress);
  double reached = 0.0;
  for (const auto& e : out.env) reached = std::max(reached, e.at(0));
  out.info["evolution"] = out.method;  // the engine's path: pure_components or density_matrix
  out.method = "symmetric";
  out.info["quanta_cutoff"] = K;
  out.info["dimension"] = dim;
  out.info["environment_dimension"] = d_E;
  out.info["top_population"] = reached;
  out.info["truncation_tol"] = opt.truncation_tol;
  out.info["truncated"] = K < M;
  return out;
}

Model prepare(const ReservoirSpec& spec) {
  // Named errors for h_R, rho_R (Eqs. (7)-(8)), the v_q, H_S, rho_S and the G_q.
  const FluctuationReservoir F = checked_reservoir(spec);
  Model mod;
  mod.d_S = spec.system_dim();
  mod.d_R = spec.component_dim();
  for (std::size_t i = 0; i < spec.system.channels.size(); ++i) {
    const auto& ch = spec.system.channels[i];
    if (ch.L.rows() != mod.d_S || ch.L.cols() != mod.d_S)
      throw InputError(fmt::format("system.channel[{}].L", i),
                       fmt::format("must be {} x {} (the dimension of system.H), got {} x {}", mod.d_S, mod.d_S,
                                   ch.L.rows(), ch.L.cols()));
  }
  if (spec.M < 1) throw InputError("reservoir.M", fmt::format("must be >= 1, got {}", spec.M));

  std::vector<Index> populated;
  for (Index j = 0; j < mod.d_R; ++j)
    if (F.populations(j) > kZero) populated.push_back(j);
  if (populated.size() != 1)
    throw InputError("solver.reservoir_method",
                     fmt::format("symmetric needs a pure reservoir.rho (rank 1, populations <= {:g} count as 0); "
                                 "this one has rank {} (populations {:.3g}); use dicke (d_R = 2), full or "
                                 "nondemolition",
                                 kZero, populated.size(),
                                 fmt::join(std::vector<double>(F.populations.begin(), F.populations.end()), ", ")));
  // Slot order: the populated level first, the others as in F.
  std::vector<Index> slot;
  slot.push_back(populated[0]);
  for (Index j = 0; j < mod.d_R; ++j)
    if (j != populated[0]) slot.push_back(j);
  const double Ep = F.energies(populated[0]);
  for (Index j : slot) mod.eps.push_back(F.energies(j) - Ep);  // E_p M: a global phase, dropped
  for (const CMat& vq : F.v) {
    CMat w(mod.d_R, mod.d_R);
    for (Index i = 0; i < mod.d_R; ++i)
      for (Index j = 0; j < mod.d_R; ++j) w(i, j) = vq(slot[std::size_t(i)], slot[std::size_t(j)]);
    mod.v.push_back(std::move(w));
  }
  for (const auto& ch : spec.system.channels) mod.density = mod.density || ch.rate > 0.0;
  return mod;
}

bool fits(const Model& mod, Index K) {
  const double D = double(mod.d_S) * space_size(mod.d_R - 1, double(K));
  return mod.density ? D * D <= kMaxDensityEntries : D <= kMaxPureDimension;
}

/// Refuses (InputError "reservoir.M") a cutoff whose space would not fit.
void check_size(const Model& mod, Index K, const std::string& why) {
  const double D = double(mod.d_S) * space_size(mod.d_R - 1, double(K));
  if (!fits(mod, K))
    throw InputError("reservoir.M",
                     fmt::format("the symmetric subspace at {} quanta outside the populated level has dimension "
                                 "{:.6g} (d_S {} x {:.6g}), over the limit {}{}",
                                 K, D, mod.d_S, D / double(mod.d_S),
                                 mod.density ? fmt::format("D^2 <= {:.3g} (density matrix: channels on S)", kMaxDensityEntries)
                                             : fmt::format("D <= {:.3g}", kMaxPureDimension),
                                 why));
}

}  // namespace

ReducedEvolution finite_reservoir_symmetric(const ReservoirSpec& spec, const std::vector<double>& times,
                                            const FiniteReservoirOptions& opt) {
  const Model mod = prepare(spec);
  const long long M = spec.M;
  Index K = Index(std::min(kFirstCutoff, M));
  while (K > 1 && !fits(mod, K)) --K;  // many levels: start lower (check_size refuses K = 1)
  std::vector<Index> tried;
  for (;;) {
    check_size(mod, K,
               tried.empty() ? std::string()
                             : fmt::format(" (needed: at cutoff {} the states with exactly {} quanta outside reached a "
                                           "population above the truncation tolerance {:.3g}; a shorter time, weaker "
                                           "couplings or a looser tolerance need fewer)",
                                           tried.back(), tried.back(), opt.truncation_tol));
    ReducedEvolution out = evolve(spec, mod, times, opt, K);
    tried.push_back(K);
    // K = M keeps every state: nothing is truncated, nothing to check.
    if (K >= M || out.info["top_population"].get<double>() <= opt.truncation_tol) {
      out.info["cutoffs_tried"] = tried;
      return out;
    }
    // Double; when that does not fit, the largest cutoff that does (if it is still larger).
    const Index previous = K;
    K = Index(std::min<long long>(2 * K, M));
    if (!fits(mod, K)) {
      Index lo = previous, hi = K;  // fits(lo), !fits(hi)
      while (hi - lo > 1) {
        const Index mid = lo + (hi - lo) / 2;
        (fits(mod, mid) ? lo : hi) = mid;
      }
      if (lo > previous) K = lo;  // else check_size refuses K with the reason
    }
  }
}

ReducedEvolution finite_reservoir_symmetric_at(const ReservoirSpec& spec, const std::vector<double>& times,
                                               const FiniteReservoirOptions& opt, long long quanta_cutoff) {
  const Model mod = prepare(spec);
  if (quanta_cutoff < 1) throw std::invalid_argument("finite_reservoir_symmetric_at: quanta_cutoff must be >= 1");
  const Index K = Index(std::min(quanta_cutoff, spec.M));
  check_size(mod, K, "");
  return evolve(spec, mod, times, opt, K);
}

}  // namespace qfluct
