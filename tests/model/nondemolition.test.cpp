// Nondemolition models (Fantechi & Merkli 2026, Eqs. (21)-(22), End Matter): the closed forms for
// S + F and for finite M against explicit dense evolutions built here (truncated Fock spaces, the
// full tensor product S (x) R^(x)M), the convergence finite M -> F, the common-basis detector, and
// Eq. (21) as printed and corrected.
#include "support/dense.hpp"
#include "qfluct/core/error.hpp"
#include "qfluct/model/finite_reservoir.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"
#include "qfluct/model/nondemolition.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <catch2/catch.hpp>
#include <unsupported/Eigen/KroneckerProduct>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

using namespace qfluct;
using namespace qfluct::test;

namespace {




cplx random_cplx(std::mt19937& rng, double scale) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  return scale * cplx(u(rng), u(rng));
}


CMat annihilation(Index levels) {
  CMat a = CMat::Zero(levels, levels);
  for (Index n = 1; n < levels; ++n) a(n - 1, n) = std::sqrt(double(n));
  return a;
}

// exp(-iHt) rho exp(iHt) for Hermitian H via one eigendecomposition (independent of the library).
struct DenseEvolution {
  Eigen::SelfAdjointEigenSolver<CMat> es;
  explicit DenseEvolution(const CMat& H) : es((H + H.adjoint()) / 2.0) {}
  CMat operator()(const CMat& rho, double t) const {
    const CVec ph = (es.eigenvalues() * (-t)).unaryExpr([](double x) { return std::polar(1.0, x); });
    const CMat U = es.eigenvectors() * ph.asDiagonal() * es.eigenvectors().adjoint();
    return U * rho * U.adjoint();
  }
};

// tr_E of a (d_S d_E) x (d_S d_E) matrix, index s * d_E + e.
CMat trace_env(const CMat& rho, Index dS, Index dE) {
  CMat r = CMat::Zero(dS, dS);
  for (Index a = 0; a < dS; ++a)
    for (Index b = 0; b < dS; ++b) r(a, b) = rho.block(a * dE, b * dE, dE, dE).trace();
  return r;
}

// A random nondemolition system: H_S and G_q diagonal in a random basis B.
struct RandomSystem {
  CMat B, H, rho;
  std::vector<CMat> G;
};

RandomSystem random_system(Index dS, std::size_t Q, double g_scale, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  RandomSystem s;
  s.B = random_unitary(dS, rng);
  RVec e(dS);
  for (Index j = 0; j < dS; ++j) e(j) = u(rng);
  s.H = s.B * e.cast<cplx>().asDiagonal() * s.B.adjoint();
  for (std::size_t q = 0; q < Q; ++q) {
    CVec g(dS);
    for (Index j = 0; j < dS; ++j) g(j) = random_cplx(rng, g_scale);
    s.G.push_back(s.B * g.asDiagonal() * s.B.adjoint());
  }
  s.rho = random_density(dS, rng);
  return s;
}

// S + bosonic modes (vacuum or thermal, undamped) on truncated Fock spaces, densely; returns rho_S
// and <n_i> per time. The start rho_S (x) rho_modes is split into its pure product components, each
// evolved as a vector. Also checks that the top Fock level of every mode stays empty (< 1e-22: the
// amplitude leaking past the cutoff, ~ sqrt(1e-22) |f| sqrt(N) t < 1e-10, cannot reach the 1e-9
// tolerance), so the truncation cannot be what makes the comparison pass or fail.
void explicit_s_plus_modes(const OpenSystemSpec& sf, Index cutoff, const std::vector<double>& times,
                           std::vector<CMat>& rho_out, std::vector<std::vector<double>>& n_out) {
  const Index dS = sf.dim();
  const std::size_t nm = sf.modes.size();
  const Index L = cutoff + 1;
  Index dE = 1;
  for (std::size_t i = 0; i < nm; ++i) dE *= L;
  auto mode_op = [&](std::size_t i, const CMat& op) {
    CMat out = CMat::Identity(1, 1);
    for (std::size_t k = 0; k < nm; ++k) out = kron(out, k == i ? op : CMat::Identity(L, L));
    return out;
  };
  const CMat a1 = annihilation(L);
  std::vector<CMat> a;
  std::vector<RVec> n_diag, top_diag;  // diagonals on S (x) E
  for (std::size_t i = 0; i < nm; ++i) {
    a.push_back(mode_op(i, a1));
    const CMat n = a.back().adjoint() * a.back();
    CMat top = CMat::Zero(L, L);
    top(L - 1, L - 1) = 1.0;
    n_diag.push_back(kron(CMat::Identity(dS, dS), n).diagonal().real());
    top_diag.push_back(kron(CMat::Identity(dS, dS), mode_op(i, top)).diagonal().real());
  }
  CMat H = kron(sf.H, CMat::Identity(dE, dE));
  for (std::size_t i = 0; i < nm; ++i)
    H += sf.modes[i].omega * kron(CMat::Identity(dS, dS), CMat(a[i].adjoint() * a[i]));
  for (const auto& c : sf.couplings) {
    CMat X = CMat::Zero(dE, dE);
    for (std::size_t i = 0; i < nm; ++i) X += c.a[i] * a[i] + c.a_dag[i] * CMat(a[i].adjoint());
    H += kron(c.G, X) + kron(CMat(c.G.adjoint()), CMat(X.adjoint()));
  }
  // Pure components: eigenvectors of rho_S times Fock product states weighted thermally.
  const Eigen::SelfAdjointEigenSolver<CMat> rs(sf.initial);
  std::vector<double> w;
  std::vector<CVec> psi;
  for (Index s = 0; s < dS; ++s) {
    if (rs.eigenvalues()(s) <= 0.0) continue;
    for (Index e = 0; e < dE; ++e) {
      double p = rs.eigenvalues()(s);
      Index rest = e;
      for (std::size_t i = nm; i-- > 0;) {
        const Index k = rest % L;
        rest /= L;
        const double nb = sf.modes[i].nbar;
        p *= nb == 0.0 ? (k == 0 ? 1.0 : 0.0) : std::pow(nb / (1 + nb), double(k)) / (1 + nb);
      }
      if (p < 1e-300) continue;
      CVec basis_e = CVec::Zero(dE);
      basis_e(e) = 1.0;
      w.push_back(p);
      psi.push_back(kron(rs.eigenvectors().col(s), basis_e));
    }
  }
  const Eigen::SelfAdjointEigenSolver<CMat> es(H);
  const CMat& V = es.eigenvectors();
  std::vector<CVec> c;  // components in the eigenbasis of H
  for (const CVec& x : psi) c.push_back(V.adjoint() * x);
  for (double t : times) {
    const CVec ph = (es.eigenvalues() * (-t)).unaryExpr([](double x) { return std::polar(1.0, x); });
    CMat r = CMat::Zero(dS, dS);
    std::vector<double> occ(nm, 0.0);
    std::vector<double> top(nm, 0.0);
    for (std::size_t k = 0; k < psi.size(); ++k) {
      const CVec xt = V * ph.cwiseProduct(c[k]);
      const Eigen::Map<const CMat> blocks(xt.data(), dE, dS);  // column s = the E part of S index s
      r += w[k] * (blocks.transpose() * blocks.conjugate());
      const RVec prob = xt.cwiseAbs2();
      for (std::size_t i = 0; i < nm; ++i) {
        occ[i] += w[k] * prob.dot(n_diag[i]);
        top[i] += w[k] * prob.dot(top_diag[i]);
      }
    }
    const double top_pop = *std::max_element(top.begin(), top.end());
    INFO("top Fock level population " << top_pop);
    REQUIRE(top_pop < 1e-22);
    rho_out.push_back(r);
    n_out.push_back(occ);
  }
}

double max_diff(const std::vector<CMat>& a, const std::vector<CMat>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, (a[k] - b[k]).cwiseAbs().maxCoeff());
  return m;
}

void check_against_explicit(const OpenSystemSpec& sf, Index cutoff, const std::vector<double>& times) {
  std::vector<CMat> rho_ref;
  std::vector<std::vector<double>> n_ref;
  explicit_s_plus_modes(sf, cutoff, times, rho_ref, n_ref);
  const ReducedEvolution r = nondemolition_open_system(sf, times);
  CHECK(r.method == "nondemolition");
  // 1e-9: the closed form is exact to rounding (~1e-15); the dense reference carries eigensolver
  // rounding ~1e-13 ||H|| t and a truncation whose top level holds < 1e-18 (checked above).
  CHECK(max_diff(r.rho, rho_ref) < 1e-9);
  REQUIRE(r.env.size() == times.size());
  for (std::size_t k = 0; k < times.size(); ++k) {
    REQUIRE(r.env[k].size() == sf.modes.size());
    for (std::size_t i = 0; i < sf.modes.size(); ++i) CHECK(std::abs(r.env[k][i] - n_ref[k][i]) < 1e-9);
  }
}

ReservoirSpec reservoir_spec(const RandomSystem& s, const CMat& h, const CMat& rho, const std::vector<CMat>& v) {
  ReservoirSpec spec;
  spec.system.H = s.H;
  spec.system.initial = s.rho;
  spec.h = h;
  spec.rho = rho;
  for (std::size_t q = 0; q < v.size(); ++q) spec.couplings.push_back({s.G[q], v[q]});
  return spec;
}

CMat diag2(double a, double b) {
  CMat m = CMat::Zero(2, 2);
  m(0, 0) = a;
  m(1, 1) = b;
  return m;
}

CMat offdiag2(cplx a01, cplx a10) {
  CMat m = CMat::Zero(2, 2);
  m(0, 1) = a01;
  m(1, 0) = a10;
  return m;
}

// Least-squares slope of log y against log x.
double loglog_slope(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = double(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

}  // namespace

TEST_CASE("Nondemolition displaced mode equals the dense single-mode evolution", "[bosonization]") {
  // e^{-iHt}|0> = e^{i phase}|alpha>, H = omega a^+a + f a^+ + conj(f) a, on 40 levels (|alpha| <= 1:
  // Poisson tail beyond 40 quanta < 1e-45). omega t across 0, tiny, the series switch at |x| = 1, large.
  const Index L = 41;
  const CMat a = annihilation(L);
  const cplx f(0.31, -0.42);
  const double t = 1.7;
  for (double omega : {0.0, 1e-9, 1e-4, 1.0 / 1.7 - 1e-9, 1.0 / 1.7 + 1e-9, 1.3, -2.5, 9.0}) {
    const CMat H = omega * a.adjoint() * a + f * CMat(a.adjoint()) + std::conj(f) * a;
    CMat vac = CMat::Zero(L, L);
    vac(0, 0) = 1.0;
    const Eigen::SelfAdjointEigenSolver<CMat> es(H);
    const CVec ph = (es.eigenvalues() * (-t)).unaryExpr([](double x) { return std::polar(1.0, x); });
    const CVec psi = es.eigenvectors() * ph.asDiagonal() * es.eigenvectors().adjoint().col(0);
    const DisplacedMode m = displaced_mode(omega, f, t);
    CVec coh(L);
    cplx c = std::polar(std::exp(-std::norm(m.alpha) / 2.0), m.phase);
    for (Index n = 0; n < L; ++n) {
      coh(n) = c;
      c *= m.alpha / std::sqrt(double(n + 1));
    }
    INFO("omega = " << omega);
    CHECK((psi - coh).cwiseAbs().maxCoeff() < 1e-12);  // eigensolver rounding ~1e-14 ||H|| t
  }
}

TEST_CASE("Nondemolition S+F closed form equals S+F on truncated Fock spaces", "[bosonization]") {
  std::mt19937 rng(1201);
  const std::vector<double> times{0.0, 0.37, 1.1, 2.0};
  const double w = 1.3;
  const CMat h = diag2(0.0, w);
  // Coupling sizes keep |alpha| <= ~0.6 in the two-mode cases, so 15 quanta per mode hold the states
  // (checked: top level < 1e-22); the one-mode cases are cheap and get 30.
  const Index cutoff = 15, cutoff1 = 30;

  SECTION("one mode at +omega (pure lower level), d_S = 3, one coupling") {
    const RandomSystem s = random_system(3, 1, 0.5, rng);
    const ReservoirSpec spec = reservoir_spec(s, h, diag2(1, 0), {offdiag2(random_cplx(rng, 0.5), random_cplx(rng, 0.5))});
    const FluctuationReservoir F = fluctuation_reservoir(spec.h, spec.rho, {spec.couplings[0].v});
    REQUIRE(F.modes.size() == 1);
    REQUIRE(F.modes[0].omega == Approx(w));
    check_against_explicit(bosonized_spec(s.H, s.rho, s.G, F), cutoff1, times);
  }
  SECTION("one mode at -omega (pure upper level), d_S = 3, two couplings") {
    const RandomSystem s = random_system(3, 2, 0.35, rng);
    const std::vector<CMat> v{offdiag2(random_cplx(rng, 0.5), random_cplx(rng, 0.5)),
                              offdiag2(random_cplx(rng, 0.5), random_cplx(rng, 0.5))};
    const FluctuationReservoir F = fluctuation_reservoir(h, diag2(0, 1), v);
    REQUIRE(F.modes.size() == 1);
    REQUIRE(F.modes[0].omega == Approx(-w));
    check_against_explicit(bosonized_spec(s.H, s.rho, s.G, F), cutoff1, times);
  }
  SECTION("two modes at +-omega (mixed rho_R), d_S = 2, two couplings, through ReservoirSpec") {
    const RandomSystem s = random_system(2, 2, 0.3, rng);
    const std::vector<CMat> v{offdiag2(random_cplx(rng, 0.5), random_cplx(rng, 0.5)),
                              offdiag2(random_cplx(rng, 0.5), random_cplx(rng, 0.5))};
    const ReservoirSpec spec = reservoir_spec(s, h, diag2(0.7, 0.3), v);
    const FluctuationReservoir F = fluctuation_reservoir(h, spec.rho, v);
    REQUIRE(F.modes.size() == 2);
    const OpenSystemSpec sf = bosonized_spec(s.H, s.rho, s.G, F);
    check_against_explicit(sf, cutoff, times);
    // The ReservoirSpec entry point is the same computation.
    const ReducedEvolution a = bosonized_nondemolition(spec, times);
    const ReducedEvolution b = nondemolition_open_system(sf, times);
    CHECK(max_diff(a.rho, b.rho) == 0.0);
  }
  SECTION("two zero-frequency modes from diagonal elements of v, d_S = 2") {
    const RandomSystem s = random_system(2, 1, 0.5, rng);
    // tr(rho v) = 0.6 * 0.4 - 0.4 * 0.6 = 0 (Eq. (8)).
    const FluctuationReservoir F = fluctuation_reservoir(h, diag2(0.6, 0.4), {diag2(0.4, -0.6)});
    REQUIRE(F.modes.size() == 2);
    REQUIRE(F.modes[0].omega == 0.0);
    REQUIRE(F.modes[1].omega == 0.0);
    check_against_explicit(bosonized_spec(s.H, s.rho, s.G, F), cutoff, times);
  }
  SECTION("two modes, zero and negative frequency, random coefficients, one thermal") {
    const RandomSystem s = random_system(2, 2, 0.4, rng);
    OpenSystemSpec sf;
    sf.H = s.H;
    sf.initial = s.rho;
    sf.modes.resize(2);
    sf.modes[0].omega = 0.0;
    sf.modes[1].omega = -0.8;
    sf.modes[1].nbar = 0.02;  // thermal tail (0.02/1.02)^15 ~ 2e-26 at the cutoff
    for (std::size_t q = 0; q < 2; ++q)
      sf.couplings.push_back({s.G[q], {random_cplx(rng, 0.15), random_cplx(rng, 0.15)},
                              {random_cplx(rng, 0.15), random_cplx(rng, 0.15)}});
    check_against_explicit(sf, cutoff, times);
  }
}

TEST_CASE("Nondemolition finite M equals the full tensor product", "[bosonization]") {
  std::mt19937 rng(1202);
  const std::vector<double> times{0.0, 0.6, 1.9, 3.0};
  for (Index dR : {2, 3}) {
    for (long long M = 1; M <= 4; ++M) {
      const RandomSystem s = random_system(dR == 2 ? 3 : 2, 2, 0.6, rng);
      CMat hR = random_matrix(dR, rng);
      hR = (hR + hR.adjoint()).eval() / 2.0;
      const Eigen::SelfAdjointEigenSolver<CMat> hs(hR);
      RVec p = RVec::Random(dR).cwiseAbs() + RVec::Constant(dR, 0.1);
      p /= p.sum();
      // Stationary mixed rho_R, except once: the factorisation D = d^M needs no stationarity.
      const CMat rhoR = dR == 3 && M == 2 ? random_density(dR, rng)
                                          : CMat(hs.eigenvectors() * p.cast<cplx>().asDiagonal() *
                                                 hs.eigenvectors().adjoint());
      // Any v (Eq. (8) is not needed at finite M: the first-order term is exercised too).
      const std::vector<CMat> v{random_matrix(dR, rng) * 0.5, random_matrix(dR, rng) * 0.5};
      ReservoirSpec spec = reservoir_spec(s, hR, rhoR, v);
      spec.M = M;
      spec.scaling = M == 3 && dR == 2 ? ReservoirScaling::linear : ReservoirScaling::sqrt;
      const double lambda = spec.coupling_factor();

      Index dE = 1;
      for (long long m = 0; m < M; ++m) dE *= dR;
      auto site = [&](long long m, const CMat& op) {
        CMat out = CMat::Identity(1, 1);
        for (long long k = 0; k < M; ++k) out = kron(out, k == m ? op : CMat::Identity(dR, dR));
        return out;
      };
      const Index dS = s.H.rows();
      CMat H = kron(s.H, CMat::Identity(dE, dE));
      CMat rhoE = CMat::Identity(1, 1);
      for (long long m = 0; m < M; ++m) {
        H += kron(CMat::Identity(dS, dS), site(m, hR));
        rhoE = kron(rhoE, rhoR);
      }
      for (std::size_t q = 0; q < v.size(); ++q) {
        CMat sum = CMat::Zero(dE, dE);
        for (long long m = 0; m < M; ++m) sum += site(m, v[q]);
        H += lambda * (kron(s.G[q], sum) + kron(CMat(s.G[q].adjoint()), CMat(sum.adjoint())));
      }
      const DenseEvolution evolve(H);
      const CMat rho0 = kron(s.rho, rhoE);
      std::vector<CMat> ref;
      for (double t : times) ref.push_back(trace_env(evolve(rho0, t), dS, dE));
      const ReducedEvolution r = finite_reservoir_nondemolition(spec, times, FiniteReservoirOptions{});
      INFO("d_R = " << dR << ", M = " << M);
      CHECK(r.method == "nondemolition");
      // 1e-10: the dense reference's rounding is ~1e-14 ||H|| t with ||H|| <~ 10, t <= 3.
      CHECK(max_diff(r.rho, ref) < 1e-10);
    }
  }
}

TEST_CASE("Nondemolition finite M converges to S+F like 1/M, or 1/sqrt(M) with diagonal v", "[bosonization]") {
  // Qubit S with diagonal H_S and G (complex g), qubit reservoir components, t in [0, 5].
  // Off-diagonal v (in the eigenbasis of rho_R, h_R): every odd reservoir cumulant vanishes (a
  // product of an odd number of off-diagonal 2 x 2 matrices has no diagonal), so M log d = c2 +
  // c4/M + ..., error ~ 1/M. Diagonal elements give a third cumulant, error ~ c3/sqrt(M).
  // The fit over M = 1e2..1e5 sees the leading power; the next correction is down by a relative
  // 1/sqrt(M) <= 0.1 (diagonal case) or 1/M (off-diagonal), so exponent ranges of +-0.1 around
  // -1 and -1/2 hold with room (the measured slopes are within 0.01 of them).
  ReservoirSpec spec;
  spec.system.H = diag2(0.55, -0.55);
  CMat G = CMat::Zero(2, 2);
  G(0, 0) = cplx(0.6, 0.2);
  G(1, 1) = cplx(-0.3, 0.4);
  CMat rhoS(2, 2);
  rhoS << 0.6, cplx(0.3, -0.2), cplx(0.3, 0.2), 0.4;
  spec.system.initial = rhoS;
  spec.h = diag2(0.0, 1.0);
  spec.rho = diag2(0.7, 0.3);
  std::vector<double> times;
  for (int i = 0; i <= 50; ++i) times.push_back(0.1 * i);

  auto errors = [&](const CMat& v, const std::vector<double>& Ms) {
    spec.couplings = {{G, v}};
    const ReducedEvolution F = bosonized_nondemolition(spec, times);
    std::vector<double> e;
    for (double M : Ms) {
      spec.M = static_cast<long long>(M);
      e.push_back(max_diff(finite_reservoir_nondemolition(spec, times, {}).rho, F.rho));
    }
    return e;
  };
  const std::vector<double> Ms{1e2, 3e2, 1e3, 3e3, 1e4, 3e4, 1e5};

  const std::vector<double> e_off = errors(offdiag2(0.5, cplx(0.3, 0.1)), Ms);
  const double slope_off = loglog_slope(Ms, e_off);
  INFO("off-diagonal v: slope " << slope_off << ", error at M = 1e2: " << e_off.front());
  CHECK(slope_off > -1.1);
  CHECK(slope_off < -0.9);
  CHECK(e_off.front() > 1e-4);  // the convergence is real, not rounding

  // tr(rho v) = 0.7 * 0.3 - 0.3 * 0.7 = 0.
  CMat vd = offdiag2(0.5, cplx(0.3, 0.1));
  vd(0, 0) = 0.3;
  vd(1, 1) = -0.7;
  const std::vector<double> e_diag = errors(vd, Ms);
  const double slope_diag = loglog_slope(Ms, e_diag);
  INFO("diagonal v: slope " << slope_diag);
  CHECK(slope_diag > -0.6);
  CHECK(slope_diag < -0.4);

  // Far beyond: the 1/M law continues to M = 1e12 (error * M constant to 1%), so the finite-M
  // closed form stays accurate there (its rounding would show as a floor).
  const std::vector<double> big{1e6, 1e9, 1e12};
  const std::vector<double> e_big = errors(offdiag2(0.5, cplx(0.3, 0.1)), big);
  const double c6 = e_big[0] * big[0];
  for (std::size_t i = 1; i < big.size(); ++i) {
    INFO("M = " << big[i] << ": error * M = " << e_big[i] * big[i] << " vs " << c6 << " at M = 1e6");
    CHECK(std::abs(e_big[i] * big[i] / c6 - 1.0) < 0.01);
  }
}

TEST_CASE("Nondemolition basis detector", "[bosonization]") {
  std::mt19937 rng(1203);
  const CMat B = random_unitary(3, rng);
  auto rotated = [&](std::initializer_list<cplx> d) {
    CVec x(3);
    Index i = 0;
    for (cplx c : d) x(i++) = c;
    return CMat(B * x.asDiagonal() * B.adjoint());
  };
  // Found basis: unitary, every operator diagonal to 1e-12 relative, and e, g are the diagonals.
  auto check_found = [](const std::optional<NondemolitionBasis>& b, const CMat& H, const std::vector<CMat>& G) {
    REQUIRE(b.has_value());
    const Index d = H.rows();
    CHECK((b->basis.adjoint() * b->basis - CMat::Identity(d, d)).cwiseAbs().maxCoeff() < 1e-13);
    CMat Hd = b->basis.adjoint() * H * b->basis;
    CHECK((Hd - CMat(b->e.cast<cplx>().asDiagonal())).cwiseAbs().maxCoeff() < 1e-12);
    for (std::size_t q = 0; q < G.size(); ++q) {
      CMat Gd = b->basis.adjoint() * G[q] * b->basis;
      CHECK((Gd - CMat(b->g[q].asDiagonal())).cwiseAbs().maxCoeff() < 1e-12);
    }
  };

  SECTION("degenerate H_S, rotated basis") {
    const CMat H = rotated({1.0, 1.0, -0.5});
    const std::vector<CMat> G{rotated({cplx(0.3, 0.1), -0.2, cplx(0, 0.5)})};
    check_found(nondemolition_basis(H, G), H, G);
  }
  SECTION("H_S = 0 and a normal, non-Hermitian G") {
    const CMat H = CMat::Zero(3, 3);
    const std::vector<CMat> G{rotated({cplx(0.3, 0.1), cplx(0.3, -0.1), cplx(0, 0.5)})};
    check_found(nondemolition_basis(H, G), H, G);
  }
  SECTION("H_S and G degenerate on the same pair: any basis of that pair will do") {
    const CMat H = rotated({0.7, 0.7, 0.1});
    const std::vector<CMat> G{rotated({0.2, 0.2, -1.0}), rotated({cplx(0, 1), cplx(0, 1), 0.3})};
    check_found(nondemolition_basis(H, G), H, G);
  }
  SECTION("a rotated basis is found up to order and phases") {
    const CMat H = rotated({0.3, -0.8, 1.1});
    const std::vector<CMat> G{rotated({0.1, 0.2, 0.3})};
    const auto b = nondemolition_basis(H, G);
    check_found(b, H, G);
    const Eigen::MatrixXd overlap = (b->basis.adjoint() * B).cwiseAbs();
    // A permutation matrix: every row has one entry 1, the others 0.
    for (Index i = 0; i < 3; ++i) {
      CHECK(overlap.row(i).maxCoeff() == Approx(1.0).epsilon(1e-12));
      CHECK(overlap.row(i).sum() == Approx(1.0).epsilon(1e-10));
    }
  }
  SECTION("already diagonal: the identity, exactly") {
    const CMat H = diag2(1.0, 1.0);
    const auto b = nondemolition_basis(H, {diag2(0.2, -0.1)});
    REQUIRE(b.has_value());
    CHECK(b->basis == CMat::Identity(2, 2));
  }
  SECTION("a non-normal G is refused") {
    CMat G(2, 2);
    G << 1.0, 1.0, 0.0, 2.0;  // diagonalisable, but not by a unitary
    CHECK_FALSE(nondemolition_basis(diag2(0.0, 0.0), {G}).has_value());
    ReservoirSpec spec;
    spec.system.H = diag2(0.3, -0.3);
    spec.system.initial = diag2(1, 0);
    spec.couplings = {{G, offdiag2(1, 0)}};
    try {
      require_nondemolition(spec);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.key() == "solver.reservoir_method");
      CHECK(std::string(e.what()).find("reservoir.coupling[0].G is not normal") != std::string::npos);
    }
  }
  SECTION("a G that does not commute with H_S is refused, and named") {
    CMat sx = offdiag2(1.0, 1.0);
    CHECK_FALSE(nondemolition_basis(diag2(1.0, -1.0), {diag2(0.2, 0.1), sx}).has_value());
    ReservoirSpec spec;
    spec.system.H = diag2(1.0, -1.0);
    spec.system.initial = diag2(1, 0);
    spec.h = diag2(0, 1);
    spec.rho = diag2(1, 0);
    spec.M = 10;
    spec.couplings = {{diag2(0.2, 0.1), offdiag2(1, 0)}, {sx, offdiag2(1, 0)}};
    try {
      finite_reservoir_nondemolition(spec, {0.0, 1.0}, {});
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.key() == "solver.reservoir_method");
      CHECK(std::string(e.what()).find("nondemolition needs H_S and every G_q diagonal in one basis") !=
            std::string::npos);
      CHECK(std::string(e.what()).find("reservoir.coupling[1].G is not diagonal") != std::string::npos);
    }
  }
  SECTION("channels on S are refused") {
    ReservoirSpec spec;
    spec.system.H = diag2(1.0, -1.0);
    spec.system.initial = diag2(1, 0);
    spec.system.channels.push_back({"L0", offdiag2(0, 1), 0.1});
    spec.couplings = {{diag2(0.2, 0.1), offdiag2(1, 0)}};
    CHECK_FALSE(nondemolition_basis(spec).has_value());
    try {
      require_nondemolition(spec);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(std::string(e.what()).find("system.channel") != std::string::npos);
    }
  }
}

TEST_CASE("Nondemolition Eq. (21): the modulus with all modes is exact, the printed k != l is not", "[bosonization]") {
  // Qubit S with real g, Hermitian v; d_R = 3, non-degenerate h_R, mixed rho_R.
  std::mt19937 rng(1204);
  const RandomSystem s0 = random_system(2, 1, 1.0, rng);
  CMat H = diag2(0.4, -0.4);
  const double g0 = 0.7, g1 = -0.25;
  const std::vector<CMat> G{diag2(g0, g1)};
  CMat h = CMat::Zero(3, 3);
  h.diagonal() << 0.0, 0.9, 2.1;
  CMat rho = CMat::Zero(3, 3);
  rho.diagonal() << 0.5, 0.3, 0.2;
  CMat v = random_matrix(3, rng) * 0.4;
  v = (v + v.adjoint()).eval() / 2.0;
  std::vector<double> times;
  for (int i = 1; i <= 40; ++i) times.push_back(0.2 * i);

  auto D01 = [&](const CMat& vv) {
    const FluctuationReservoir F = fluctuation_reservoir(h, rho, {vv});
    OpenSystemSpec sf = bosonized_spec(H, s0.rho, G, F);
    const auto b = nondemolition_basis(H, G);
    REQUIRE(b.has_value());
    REQUIRE(b->basis == CMat::Identity(2, 2));
    return std::make_pair(F, bosonic_decoherence(sf, *b, times));
  };

  SECTION("diagonal elements present: all modes exact, k != l off") {
    v -= (rho * v).trace() * CMat::Identity(3, 3);  // Eq. (8), keeps v Hermitian with diagonal
    const auto [F, D] = D01(v);
    double worst_printed = 0.0;
    for (std::size_t k = 0; k < times.size(); ++k) {
      const double exact = std::abs(D[k](0, 1));
      // 1e-12: both are exp of the same sum, computed in two ways.
      CHECK(std::abs(eq21_modulus(F, g0, g1, times[k], Eq21Product::all_modes) - exact) < 1e-12);
      worst_printed = std::max(worst_printed, std::abs(eq21_modulus(F, g0, g1, times[k], Eq21Product::printed) - exact));
    }
    INFO("largest |printed - exact| = " << worst_printed);
    CHECK(worst_printed > 0.05);
  }
  SECTION("no diagonal elements: the printed product is the same") {
    v.diagonal().setZero();
    const auto [F, D] = D01(v);
    for (std::size_t k = 0; k < times.size(); ++k) {
      CHECK(std::abs(eq21_modulus(F, g0, g1, times[k], Eq21Product::printed) - std::abs(D[k](0, 1))) < 1e-12);
    }
  }
  SECTION("Eq. (22): the short-time Gaussian rate, and its homogeneous value 2 (d_R - 1) u^2") {
    v -= (rho * v).trace() * CMat::Identity(3, 3);
    const auto [F, D] = D01(v);
    // -log|D| / t^2 -> Gamma (g0 - g1)^2 with relative corrections ~ (omega t)^2 / 12 ~ 4e-7 at t = 1e-3.
    const double t = 1e-3;
    const auto Dt = bosonic_decoherence(bosonized_spec(H, s0.rho, G, F), *nondemolition_basis(H, G), {t});
    const double rate = -std::log(std::abs(Dt[0](0, 1))) / (t * t);
    CHECK(rate == Approx(eq22_gaussian_rate(F) * (g0 - g1) * (g0 - g1)).epsilon(1e-5));

    // Homogeneous |v_kl| = u, random phases, zero diagonal: Gamma = 2 (d_R - 1) u^2, not (2 d_R - 1) u^2.
    const double u = 0.37;
    CMat vh = CMat::Zero(3, 3);
    for (Index k = 0; k < 3; ++k)
      for (Index l = k + 1; l < 3; ++l) {
        vh(k, l) = std::polar(u, std::uniform_real_distribution<double>(0, 6.28)(rng));
        vh(l, k) = std::conj(vh(k, l));
      }
    const FluctuationReservoir Fh = fluctuation_reservoir(h, rho, {vh});
    CHECK(eq22_gaussian_rate(Fh) == Approx(eq22_homogeneous_rate(3, u)).epsilon(1e-12));
    CHECK(eq22_homogeneous_rate(3, u) == Approx(4 * u * u));
    CHECK(eq22_homogeneous_rate_as_printed(3, u) == Approx(5 * u * u));
  }
}
