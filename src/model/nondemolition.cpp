#include "qfluct/core/phase.hpp"
#include "qfluct/model/nondemolition.hpp"

#include "qfluct/core/error.hpp"

#include <Eigen/Eigenvalues>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

// Derivation of the per-mode closed form (End Matter of the paper, redone here).
// Branch j of S (S in psi_j) gives each mode H = omega a^+a + f a^+ + conj(f) a (the coupling
// sum_q g_qj X_q + conj(g_qj) X_q^+ collected per mode: f = sum_q g_qj a_dag_q + conj(g_qj) conj(a_q)).
// Heisenberg picture: da/dt = -i[a, H] = -i(omega a + f), so a(t) = a e^{-i omega t} + alpha(t),
// alpha(t) = (f/omega)(e^{-i omega t} - 1). H is linear in a, a^+: e^{-iHt}|0> is a coherent state
// e^{i Phi(t)} |alpha(t)> (its <a> is alpha(t)). The phase follows from
// <psi| i d/dt |psi> = <psi|H|psi> with psi = e^{i Phi}|alpha>:
//   -Phi' - Im(conj(alpha) alpha') = omega |alpha|^2 + 2 Re(conj(f) alpha).
// With alpha' = -i f e^{-i omega t}: conj(alpha) alpha' = -i (|f|^2/omega)(1 - e^{-i omega t}), and
// omega |alpha|^2 + 2 Re(conj(f) alpha) = (2|f|^2/omega)[(1 - cos) + (cos - 1)] = 0, so
//   Phi' = (|f|^2/omega)(1 - cos omega t),   Phi(t) = |f|^2 (omega t - sin omega t)/omega^2
// (the polaron shift -|f|^2/omega at long times). Then, S starting in rho_S (x) |0><0|,
//   rho_mn(t) = rho_mn(0) e^{-i(e_m - e_n)t} prod_i <0|e^{iH_n t} e^{-iH_m t}|0>,
//   <0|e^{iH_n t} e^{-iH_m t}|0> = e^{i(Phi_m - Phi_n)} <alpha_n|alpha_m>,
//   <a|b> = exp(-|a|^2/2 - |b|^2/2 + conj(a) b) = exp(-|b - a|^2/2 + i Im(conj(a) b)).
// Thermal start: e^{-iH_j t} = (phase) D(alpha_j) e^{-i omega t a^+a} (both implement
// a -> a e^{-i omega t} + alpha_j), so e^{iH_n t} e^{-iH_m t} = e^{i theta} D(beta) with
// |beta| = |alpha_m - alpha_n|; the vacuum fixes e^{i theta} = e^{i(Phi_m - Phi_n) + i Im(conj(alpha_n) alpha_m)},
// and tr(rho_th D(beta)) = exp(-|beta|^2 (nbar + 1/2)). Occupation in branch j: nbar + |alpha_j|^2.
// omega t -> 0: alpha = -i f t e^{-i x/2} sinc(x/2) (x = omega t, no cancellation) and
// Phi = |f|^2 t^2 (x - sin x)/x^2 by its series for |x| < 1 (Phi ~ |f|^2 omega t^3/6).

namespace qfluct {
namespace {

constexpr double kDiagTol = 1e-10;    // relative off-diagonal bound of a common eigenbasis
constexpr double kClusterGap = 1e-4;  // eigenvalues closer than this (relative) are refined together
constexpr int kMaxLevels = 4;         // refinement depth inside degenerate clusters

double max_abs(const CMat& m) { return m.size() ? m.cwiseAbs().maxCoeff() : 0.0; }

double offdiag_max(const CMat& m) {
  CMat o = m;
  o.diagonal().setZero();
  return max_abs(o);
}

bool diagonal_in(const CMat& B, const std::vector<CMat>& ops) {
  for (const CMat& A : ops) {
    const double s = max_abs(A);
    if (s == 0.0) continue;
    if (offdiag_max(B.adjoint() * A * B) > kDiagTol * s) return false;
  }
  return true;
}

// Fixed, irrational-looking weights in (0.5, 1.5), different for every level and operator piece.
double weight(int level, std::size_t k) {
  const double x = double(k + 1 + 7 * std::size_t(level)) * 0.6180339887498949 + 0.1 * std::sqrt(2.0) * level;
  return 0.5 + (x - std::floor(x));
}

// Diagonalises the combination of the Hermitian pieces inside span(B) and refines clusters.
void refine(CMat& B, const std::vector<CMat>& pieces, int level) {
  CMat K = CMat::Zero(B.cols(), B.cols());
  for (std::size_t k = 0; k < pieces.size(); ++k) K += weight(level, k) * (B.adjoint() * pieces[k] * B);
  const Eigen::SelfAdjointEigenSolver<CMat> es((K + K.adjoint()) / 2.0);
  B = (B * es.eigenvectors()).eval();
  if (level + 1 >= kMaxLevels) return;
  const RVec& ev = es.eigenvalues();
  const double gap = kClusterGap * std::max(1.0, ev.cwiseAbs().maxCoeff());
  for (Index start = 0; start < ev.size();) {
    Index end = start + 1;
    while (end < ev.size() && ev(end) - ev(end - 1) < gap) ++end;
    if (end - start > 1) {
      CMat sub = B.middleCols(start, end - start);
      refine(sub, pieces, level + 1);
      B.middleCols(start, end - start) = sub;
    }
    start = end;
  }
}


std::string coupling_key(std::size_t q, const char* field) {
  return fmt::format("reservoir.coupling[{}].{}", q, field);
}

void check_system(const CMat& H, const std::vector<CMat>& G) {
  const Index d = H.rows();
  if (d == 0 || H.cols() != d)
    throw InputError("system.H", fmt::format("must be a non-empty square matrix, got {} x {}", H.rows(), H.cols()));
  const double dev = max_abs(H - H.adjoint());
  if (dev > kDiagTol * std::max(1.0, max_abs(H)))
    throw InputError("system.H", fmt::format("must be Hermitian (largest |A - A^+| entry {:.3g})", dev));
  for (std::size_t q = 0; q < G.size(); ++q)
    if (G[q].rows() != d || G[q].cols() != d)
      throw InputError(coupling_key(q, "G"), fmt::format("must be {} x {} (the dimension of system.H), got {} x {}",
                                                         d, d, G[q].rows(), G[q].cols()));
}

std::optional<NondemolitionBasis> find_basis(const CMat& H, const std::vector<CMat>& G) {
  const Index d = H.rows();
  std::vector<CMat> ops{H};
  ops.insert(ops.end(), G.begin(), G.end());
  CMat B = CMat::Identity(d, d);
  if (!diagonal_in(B, ops)) {
    // Hermitian pieces, each normalised so that no operator dominates the combination.
    std::vector<CMat> pieces;
    for (const CMat& A : ops) {
      const double s = max_abs(A);
      if (s == 0.0) continue;
      pieces.push_back((A + A.adjoint()) / (2.0 * s));
      pieces.push_back((A - A.adjoint()) / (cplx(0.0, 2.0) * s));
    }
    refine(B, pieces, 0);
    if (!diagonal_in(B, ops)) return std::nullopt;
    fix_column_phases(B);
  }
  NondemolitionBasis b;
  b.basis = B;
  b.e = (B.adjoint() * H * B).diagonal().real();
  for (const CMat& Gq : G) b.g.push_back((B.adjoint() * Gq * B).diagonal());
  return b;
}

// Why there is no common basis: the first G that is not normal, else the first G that breaks it.
std::string why_not(const CMat& H, const std::vector<CMat>& G) {
  for (std::size_t q = 0; q < G.size(); ++q) {
    const double s = max_abs(G[q]);
    const double c = max_abs(G[q] * G[q].adjoint() - G[q].adjoint() * G[q]);
    if (c > kDiagTol * s * s)
      return fmt::format("{} is not normal (largest |G G^+ - G^+ G| entry {:.3g}), so no orthonormal basis "
                         "diagonalises it",
                         coupling_key(q, "G"), c);
  }
  for (std::size_t q = 0; q < G.size(); ++q)
    if (!find_basis(H, std::vector<CMat>(G.begin(), G.begin() + std::ptrdiff_t(q) + 1)))
      return fmt::format("{} is not diagonal in any basis that diagonalises system.H{}", coupling_key(q, "G"),
                         q == 0 ? "" : " and the G before it");
  return "no common eigenbasis of system.H and the G_q";
}

[[noreturn]] void refuse(const std::string& reason) {
  throw InputError("solver.reservoir_method",
                   "nondemolition needs H_S and every G_q diagonal in one basis and no system.channel; this model "
                   "is not: " +
                       reason);
}

std::vector<CMat> couplings_G(const ReservoirSpec& spec) {
  std::vector<CMat> G;
  for (const auto& c : spec.couplings) G.push_back(c.G);
  return G;
}

std::vector<CMat> couplings_G(const OpenSystemSpec& spec) {
  std::vector<CMat> G;
  for (const auto& c : spec.couplings) G.push_back(c.G);
  return G;
}

NondemolitionBasis require_basis(const CMat& H, const std::vector<CMat>& G, std::size_t channels) {
  check_system(H, G);
  if (channels > 0) refuse(fmt::format("system.channel is present ({} channel(s) on S)", channels));
  auto b = find_basis(H, G);
  if (!b) refuse(why_not(H, G));
  return *b;
}

// (x - sin x)/x^2, odd, ~ x/6: series below |x| = 1 (terms to x^17, next < 2e-20 relative).
double phase_kernel(double x) {
  if (std::abs(x) < 1.0) {
    const double x2 = x * x;
    double term = 1.0 / 6.0, sum = 0.0;
    for (int k = 0; k < 9; ++k) {
      sum += term;
      term *= -x2 / double((2 * k + 4) * (2 * k + 5));
    }
    return x * sum;
  }
  return (x - std::sin(x)) / (x * x);
}

double sinc(double y) { return y == 0.0 ? 1.0 : std::sin(y) / y; }

}  // namespace

std::optional<NondemolitionBasis> nondemolition_basis(const CMat& H, const std::vector<CMat>& G) {
  check_system(H, G);
  return find_basis(H, G);
}

std::optional<NondemolitionBasis> nondemolition_basis(const ReservoirSpec& spec) {
  const std::vector<CMat> G = couplings_G(spec);
  check_system(spec.system.H, G);
  if (!spec.system.channels.empty()) return std::nullopt;
  return find_basis(spec.system.H, G);
}

NondemolitionBasis require_nondemolition(const ReservoirSpec& spec) {
  return require_basis(spec.system.H, couplings_G(spec), spec.system.channels.size());
}

DisplacedMode displaced_mode(double omega, cplx f, double t) {
  const double x = omega * t;
  DisplacedMode m;
  m.alpha = cplx(0.0, -1.0) * f * t * std::polar(sinc(x / 2.0), -x / 2.0);
  m.phase = std::norm(f) * t * t * phase_kernel(x);
  return m;
}

std::vector<CMat> bosonic_decoherence(const OpenSystemSpec& sf, const NondemolitionBasis& b,
                                      const std::vector<double>& times) {
  const Index d = sf.dim();
  const std::size_t n_modes = sf.modes.size();
  if (b.basis.rows() != d || b.g.size() != sf.couplings.size())
    throw std::invalid_argument("bosonic_decoherence: the basis does not belong to this system");
  for (std::size_t i = 0; i < n_modes; ++i)
    if (sf.modes[i].kappa_down != 0.0 || sf.modes[i].kappa_up != 0.0)
      throw InputError("solver.reservoir_method",
                       fmt::format("the nondemolition closed form needs undamped modes; mode {} has kappa_down = "
                                   "{:.6g}, kappa_up = {:.6g}",
                                   i, sf.modes[i].kappa_down, sf.modes[i].kappa_up));
  // f[i](j): the coefficient of a_i^+ in branch j.
  std::vector<CVec> f(n_modes, CVec::Zero(d));
  for (std::size_t q = 0; q < sf.couplings.size(); ++q) {
    const auto& c = sf.couplings[q];
    if (c.a.size() != n_modes || c.a_dag.size() != n_modes)
      throw std::invalid_argument(fmt::format("bosonic_decoherence: coupling {} has {} / {} coefficients for {} modes",
                                              q, c.a.size(), c.a_dag.size(), n_modes));
    for (std::size_t i = 0; i < n_modes; ++i)
      for (Index j = 0; j < d; ++j) f[i](j) += b.g[q](j) * c.a_dag[i] + std::conj(b.g[q](j)) * std::conj(c.a[i]);
  }
  std::vector<CMat> out;
  out.reserve(times.size());
  std::vector<DisplacedMode> dm(static_cast<std::size_t>(d));
  for (double t : times) {
    CMat L = CMat::Zero(d, d);  // log D_mn, accumulated over modes
    for (std::size_t i = 0; i < n_modes; ++i) {
      const double omega = sf.modes[i].omega;
      const double width = sf.modes[i].nbar + 0.5;
      for (Index j = 0; j < d; ++j) dm[std::size_t(j)] = displaced_mode(omega, f[i](j), t);
      for (Index m = 0; m < d; ++m)
        for (Index n = m + 1; n < d; ++n) {
          const DisplacedMode& am = dm[std::size_t(m)];
          const DisplacedMode& an = dm[std::size_t(n)];
          const double phase = am.phase - an.phase + std::imag(std::conj(an.alpha) * am.alpha);
          L(m, n) += cplx(-std::norm(am.alpha - an.alpha) * width, phase);
        }
    }
    CMat D = CMat::Identity(d, d);
    for (Index m = 0; m < d; ++m)
      for (Index n = m + 1; n < d; ++n) {
        D(m, n) = std::exp(L(m, n));
        D(n, m) = std::conj(D(m, n));
      }
    out.push_back(std::move(D));
  }
  return out;
}

std::vector<CMat> nondemolition_states(const CMat& rho_S, const NondemolitionBasis& b, const std::vector<CMat>& D,
                                       const std::vector<double>& times) {
  const Index d = b.basis.rows();
  if (rho_S.rows() != d || rho_S.cols() != d || D.size() != times.size())
    throw std::invalid_argument("nondemolition_states: sizes disagree");
  const CMat r0 = b.basis.adjoint() * rho_S * b.basis;
  std::vector<CMat> out;
  out.reserve(times.size());
  for (std::size_t k = 0; k < times.size(); ++k) {
    if (D[k].rows() != d || D[k].cols() != d) throw std::invalid_argument("nondemolition_states: D has the wrong shape");
    CMat r(d, d);
    for (Index m = 0; m < d; ++m)
      for (Index n = 0; n < d; ++n) r(m, n) = r0(m, n) * D[k](m, n) * std::polar(1.0, -(b.e(m) - b.e(n)) * times[k]);
    out.push_back(b.basis * r * b.basis.adjoint());
  }
  return out;
}

ReducedEvolution nondemolition_open_system(const OpenSystemSpec& sf, const std::vector<double>& times) {
  const NondemolitionBasis b = require_basis(sf.H, couplings_G(sf), sf.channels.size());
  if (sf.initial.rows() != sf.dim() || sf.initial.cols() != sf.dim())
    throw InputError("system.initial", fmt::format("must be {} x {} (the dimension of system.H), got {} x {}",
                                                   sf.dim(), sf.dim(), sf.initial.rows(), sf.initial.cols()));
  const std::vector<CMat> D = bosonic_decoherence(sf, b, times);
  ReducedEvolution r;
  r.rho = nondemolition_states(sf.initial, b, D, times);
  r.method = "nondemolition";

  // Occupations: <n_i> = nbar_i + sum_j rho_jj |alpha_ij|^2 (populations in the psi basis).
  const Index d = sf.dim();
  const RVec pop = (b.basis.adjoint() * sf.initial * b.basis).diagonal().real();
  const std::size_t n_modes = sf.modes.size();
  std::vector<CVec> f(n_modes, CVec::Zero(d));
  for (std::size_t q = 0; q < sf.couplings.size(); ++q)
    for (std::size_t i = 0; i < n_modes; ++i)
      for (Index j = 0; j < d; ++j)
        f[i](j) += b.g[q](j) * sf.couplings[q].a_dag[i] + std::conj(b.g[q](j)) * std::conj(sf.couplings[q].a[i]);
  for (double t : times) {
    std::vector<double> n(n_modes, 0.0);
    for (std::size_t i = 0; i < n_modes; ++i) {
      n[i] = sf.modes[i].nbar;
      for (Index j = 0; j < d; ++j) n[i] += pop(j) * std::norm(displaced_mode(sf.modes[i].omega, f[i](j), t).alpha);
    }
    r.env.push_back(std::move(n));
  }
  r.info["method"] = "nondemolition";
  r.info["modes"] = n_modes;
  r.info["basis_rotated"] = !b.basis.isIdentity(0.0);
  return r;
}

ReducedEvolution bosonized_nondemolition(const ReservoirSpec& spec, const std::vector<double>& times) {
  std::vector<CMat> v;
  for (const auto& c : spec.couplings) v.push_back(c.v);
  // The nondemolition check first: its error names the method, F's errors name the reservoir.
  const std::vector<CMat> G = couplings_G(spec);
  require_basis(spec.system.H, G, spec.system.channels.size());
  const FluctuationReservoir F = fluctuation_reservoir(spec.h, spec.rho, v);
  return nondemolition_open_system(bosonized_spec(spec.system.H, spec.system.initial, G, F), times);
}

double eq21_modulus(const FluctuationReservoir& F, double g_m, double g_n, double t, Eq21Product product) {
  if (F.v.size() != 1) throw std::invalid_argument("eq21_modulus: Eq. (21) is stated for one coupling (Q = 1)");
  double sum = 0.0;
  for (const auto& mode : F.modes) {
    if (product == Eq21Product::printed && mode.k == mode.l) continue;
    // sin^2(omega t/2)/omega^2 = (t/2)^2 sinc^2(omega t/2): finite at omega = 0.
    const double s = 0.5 * t * sinc(0.5 * mode.omega * t);
    sum += mode.p_k * std::norm(F.v[0](mode.k, mode.l)) * s * s;
  }
  return std::exp(-8.0 * (g_m - g_n) * (g_m - g_n) * sum);
}

double eq22_gaussian_rate(const FluctuationReservoir& F) {
  if (F.v.size() != 1) throw std::invalid_argument("eq22_gaussian_rate: Eq. (22) is stated for one coupling (Q = 1)");
  double sum = 0.0;
  for (Index k = 0; k < F.v[0].rows(); ++k)
    for (Index l = 0; l < F.v[0].cols(); ++l) sum += F.populations(k) * std::norm(F.v[0](k, l));
  return 2.0 * sum;
}

double eq22_homogeneous_rate(Index d_R, double u) { return 2.0 * double(d_R - 1) * u * u; }

double eq22_homogeneous_rate_as_printed(Index d_R, double u) { return double(2 * d_R - 1) * u * u; }

}  // namespace qfluct
