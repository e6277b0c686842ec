// Finite-M references of Fantechi & Merkli (PRL 136, 060402 (2026), Eqs. (1)-(9)):
// - full: against a dense construction here (explicit Kronecker products, e^{-iHt} or the
//   exponential of the dense Liouvillian, partial trace by hand);
// - symmetric: against full (pure rho_R, small M), its truncation check, and its convergence to
//   S + F (Eq. (19)) for the paper's Q-level example, with S + F built here on a Fock space;
// - the named errors.
#include "support/dense.hpp"
#include "qfluct/core/error.hpp"
#include "qfluct/model/finite_reservoir.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unsupported/Eigen/KroneckerProduct>
#include <unsupported/Eigen/MatrixFunctions>

#include <cmath>
#include <random>
#include <string>

using namespace qfluct;
using namespace qfluct::test;

namespace {







/// A component (h_R, rho_R) with rho_R stationary: both diagonal in one random basis U.
/// pure_level >= 0: rho_R = |U e_level><U e_level|; else full rank.
void random_component(ReservoirSpec& spec, Index dR, int pure_level, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.2, 1.0);
  const CMat U = random_unitary(dR, rng);
  RVec E(dR), p(dR);
  for (Index j = 0; j < dR; ++j) {
    E(j) = 2.0 * u(rng) - 1.0 + double(j);  // distinct levels
    p(j) = pure_level < 0 ? u(rng) : (j == pure_level ? 1.0 : 0.0);
  }
  p /= p.sum();
  spec.h = U * E.cast<cplx>().asDiagonal() * U.adjoint();
  spec.rho = U * p.cast<cplx>().asDiagonal() * U.adjoint();
}

/// Two couplings: random G on S, random v centred (Eq. (8)).
void random_couplings(ReservoirSpec& spec, double g, std::mt19937& rng) {
  const Index dS = spec.system_dim(), dR = spec.component_dim();
  spec.couplings.clear();
  for (int q = 0; q < 2; ++q) {
    CMat v = random_matrix(dR, rng);
    v -= (spec.rho * v).trace() * CMat::Identity(dR, dR);
    spec.couplings.push_back({g * random_matrix(dS, rng), v});
  }
}

ReservoirSpec random_spec(Index dS, Index dR, long long M, int pure_level, std::mt19937& rng) {
  ReservoirSpec spec;
  spec.system.H = random_hermitian(dS, rng);
  spec.system.initial = random_density(dS, rng);
  random_component(spec, dR, pure_level, rng);
  random_couplings(spec, 0.4, rng);
  spec.M = M;
  return spec;
}

/// rho_S(t) by dense linear algebra on S (x) R^(x)M: H from explicit Kronecker products; e^{-iHt}
/// without channels, else the exponential of the dense Liouvillian (vec column-stacked:
/// vec(A X B) = (B^T (x) A) vec(X)).
std::vector<CMat> dense_reference(const ReservoirSpec& spec, const std::vector<double>& times) {
  const Index dS = spec.system_dim(), dR = spec.component_dim();
  Index dE = 1;
  for (long long m = 0; m < spec.M; ++m) dE *= dR;
  const Index D = dS * dE;
  const CMat IS = CMat::Identity(dS, dS);
  // A^[m] = 1_{dR^m} (x) A (x) 1_{dR^(M-1-m)}; the sum over m.
  auto collective = [&](const CMat& A) {
    CMat sum = CMat::Zero(dE, dE);
    for (long long m = 0; m < spec.M; ++m) {
      CMat term = CMat::Identity(1, 1);
      for (long long k = 0; k < spec.M; ++k) term = kron(term, k == m ? A : CMat(CMat::Identity(dR, dR)));
      sum += term;
    }
    return sum;
  };
  const double lambda = spec.scaling == ReservoirScaling::sqrt ? 1.0 / std::sqrt(double(spec.M)) : 1.0 / double(spec.M);
  CMat H = kron(spec.system.H, CMat::Identity(dE, dE)) + kron(IS, collective(spec.h));
  for (const auto& c : spec.couplings) {
    const CMat V = kron(c.G, lambda * collective(c.v));
    H += V + V.adjoint();
  }
  CMat rho0 = spec.system.initial;
  for (long long m = 0; m < spec.M; ++m) rho0 = kron(rho0, spec.rho);
  std::vector<CMat> out;
  if (spec.system.channels.empty()) {
    for (double t : times) {
      const CMat U = CMat(-I * t * H).exp();
      out.push_back(partial_trace_env(U * rho0 * U.adjoint(), dS, dE));
    }
    return out;
  }
  const CMat ID = CMat::Identity(D, D);
  CMat Lv = -I * (kron(ID, H) - kron(H.transpose(), ID));
  for (const auto& ch : spec.system.channels) {
    const CMat J = std::sqrt(ch.rate) * kron(ch.L, CMat::Identity(dE, dE));
    const CMat JdJ = J.adjoint() * J;
    Lv += kron(J.conjugate(), J) - 0.5 * kron(ID, JdJ) - 0.5 * kron(JdJ.transpose(), ID);
  }
  const CVec r0 = Eigen::Map<const CVec>(rho0.data(), D * D);
  for (double t : times) {
    const CVec r = CMat(t * Lv).exp() * r0;
    out.push_back(partial_trace_env(Eigen::Map<const CMat>(r.data(), D, D), dS, dE));
  }
  return out;
}

double max_difference(const std::vector<CMat>& a, const std::vector<CMat>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).cwiseAbs().maxCoeff());
  return worst;
}

double trace_distance(const CMat& a, const CMat& b) {
  const CMat d = a - b;
  return 0.5 * Eigen::SelfAdjointEigenSolver<CMat>(0.5 * (d + d.adjoint())).eigenvalues().cwiseAbs().sum();
}

void add_channel(ReservoirSpec& spec, std::mt19937& rng) {
  spec.system.channels.push_back({"L0", random_matrix(spec.system_dim(), rng), 0.3});
}

// Dopri5 at rtol 1e-12: global errors ~1e-11 over these short times (||H|| ~ 5), far below the
// 1e-9 asserted; the dense references are exact to rounding (~1e-13).
const FiniteReservoirOptions kTight{{1e-12, 1e-14}, 1e-10};

/// The paper's "Q-level reservoir" (Emergence of multiple fluctuation modes): S a qubit, qutrit
/// components h_R = diag(0, E_1, E_2), rho_R = |0><0|, v_q = |q><0| (q = 1, 2), G_q on S.
ReservoirSpec qlevel_spec(long long M) {
  ReservoirSpec spec;
  spec.system.H = CMat::Zero(2, 2);
  spec.system.H(0, 0) = 0.5;
  spec.system.H(1, 1) = -0.5;
  spec.system.initial = CMat::Constant(2, 2, 0.5);  // |+><+|
  spec.h = CMat::Zero(3, 3);
  spec.h(1, 1) = 1.0;
  spec.h(2, 2) = 1.6;
  spec.rho = CMat::Zero(3, 3);
  spec.rho(0, 0) = 1.0;
  CMat G1(2, 2), G2(2, 2);
  G1 << 0.0, 0.3, 0.3, 0.0;                        // 0.3 sigma_x: does not conserve excitations
  G2 << 0.1, cplx(0, -0.25), cplx(0, 0.25), -0.1;  // 0.25 sigma_y + 0.1 sigma_z
  for (int q = 1; q <= 2; ++q) {
    CMat v = CMat::Zero(3, 3);
    v(q, 0) = 1.0;
    spec.couplings.push_back({q == 1 ? G1 : G2, v});
  }
  spec.M = M;
  return spec;
}

/// S + F for qlevel_spec (Eq. (17)): H_SF = H_S + sum_q omega_q a_q^+ a_q + G_q a_q^+ + G_q^+ a_q,
/// two modes from the vacuum on Fock spaces 0..N; Schroedinger equation for S pure.
std::vector<CMat> qlevel_sf(const ReservoirSpec& spec, const std::vector<double>& times, Index N) {
  const Index n = N + 1, dS = 2, D = dS * n * n;
  CMat a = CMat::Zero(n, n);
  for (Index k = 1; k < n; ++k) a(k - 1, k) = std::sqrt(double(k));
  const CMat In = CMat::Identity(n, n);
  const CMat a1 = kron(a, In), a2 = kron(In, a);
  CMat H = kron(spec.system.H, CMat::Identity(n * n, n * n)) +
           kron(CMat::Identity(dS, dS), spec.h(1, 1) * a1.adjoint() * a1 + spec.h(2, 2) * a2.adjoint() * a2);
  const CMat B[2] = {a1, a2};
  for (int q = 0; q < 2; ++q) {
    const CMat T = kron(spec.couplings[q].G, B[q].adjoint());
    H += T + T.adjoint();
  }
  const SparseMat Hs = H.sparseView();
  CVec psi = CVec::Zero(D);
  psi(0) = psi(n * n) = 1.0 / std::sqrt(2.0);  // |+> (x) |0, 0>
  std::vector<CMat> out(times.size());
  Dopri5 ode([&](double, const CVec& y, CVec& dy) { dy.noalias() = -I * (Hs * y); }, D, {1e-12, 1e-14});
  ode.integrate(0.0, psi, times, [&](std::size_t i, const CVec& y) {
    const Eigen::Map<const CMat> A(y.data(), n * n, dS);  // A(e, s) = psi(s n^2 + e)
    out[i] = A.transpose() * A.conjugate();
  });
  return out;
}

}  // namespace

TEST_CASE("finite reservoir full equals a dense construction (mixed rho_R, M = 1..3)", "[bosonization]") {
  std::mt19937 rng(2026);
  const std::vector<double> times{0.0, 0.6, 1.5};
  for (Index dR : {2, 3})
    for (long long M = 1; M <= 3; ++M) {
      ReservoirSpec spec = random_spec(2, dR, M, -1, rng);
      const auto res = finite_reservoir_full(spec, times, kTight);
      CHECK(res.method == "full");
      CHECK(res.info["dimension"].get<long long>() == 2 * std::llround(std::pow(double(dR), double(M))));
      CHECK(max_difference(res.rho, dense_reference(spec, times)) < 1e-9);
      // A channel on S (density-matrix path); the dense Liouvillian has D^2 = (2 d_R^M)^2 rows,
      // kept to D <= 8 here (its exponential costs D^6).
      if (2 * std::pow(double(dR), double(M)) <= 8) {
        add_channel(spec, rng);
        spec.scaling = ReservoirScaling::linear;
        const auto ch = finite_reservoir_full(spec, times, kTight);
        CHECK(ch.info["evolution"] == "density_matrix");
        CHECK(max_difference(ch.rho, dense_reference(spec, times)) < 1e-9);
      }
    }
}

TEST_CASE("finite reservoir full with a pure rho_R uses the pure path and equals the dense construction",
          "[bosonization]") {
  std::mt19937 rng(5);
  const std::vector<double> times{0.0, 1.0, 2.0};
  ReservoirSpec spec = random_spec(2, 3, 3, 1, rng);
  const auto res = finite_reservoir_full(spec, times, kTight);
  CHECK(res.info["reservoir_start"] == "pure");
  CHECK(res.info["evolution"] == "pure_components");
  CHECK(max_difference(res.rho, dense_reference(spec, times)) < 1e-9);
}

TEST_CASE("finite reservoir symmetric equals full for a pure rho_R (M = 2..5)", "[bosonization]") {
  std::mt19937 rng(17);
  const std::vector<double> times{0.0, 0.7, 1.5};
  for (Index dR : {2, 3})
    for (long long M = 2; M <= 5; ++M)
      for (int variant = 0; variant < 3; ++variant) {
        // 0: unitary, sqrt scaling; 1: linear scaling; 2: a channel on S. The cost of full, not of
        // symmetric, sets the limits: D = 2 d_R^M <= 32 for its density matrix, <= 200 for linear.
        const double D = 2 * std::pow(double(dR), double(M));
        if ((variant == 2 && D > 32) || (variant == 1 && D > 200)) continue;
        ReservoirSpec spec = random_spec(2, dR, M, int(M % dR), rng);
        if (variant == 1) spec.scaling = ReservoirScaling::linear;
        if (variant == 2) add_channel(spec, rng);
        // Random centred v: <chi_p|v|chi_p> = 0, but the other diagonal elements are not.
        const auto sym = finite_reservoir_symmetric(spec, times, kTight);
        const auto full = finite_reservoir_full(spec, times, kTight);
        INFO("d_R = " << dR << ", M = " << M << ", variant " << variant);
        CHECK(sym.method == "symmetric");
        CHECK(sym.info["truncated"] == false);  // K = min(8, M) = M: the whole symmetric subspace
        CHECK(max_difference(sym.rho, full.rho) < 1e-9);
      }
}

TEST_CASE("finite reservoir symmetric with a truncation equals full (M = 10 qubits)", "[bosonization]") {
  std::mt19937 rng(3);
  const std::vector<double> times{0.0, 0.8, 1.6};
  ReservoirSpec spec = random_spec(2, 2, 10, 0, rng);
  random_couplings(spec, 0.15, rng);
  const auto sym = finite_reservoir_symmetric(spec, times, kTight);
  const auto full = finite_reservoir_full(spec, times, kTight);
  CHECK(sym.info["quanta_cutoff"] == 8);  // weak coupling: K = 8 < M passes the check
  CHECK(sym.info["truncated"] == true);
  CHECK(sym.info["top_population"].get<double>() <= 1e-10);
  // The states at the cutoff hold population <= 1e-10, and those beyond it (dropped) less again:
  // the truncation costs <~ 1e-10 in rho_S (measured 1.5e-11 at M = 11), on top of the ODE's ~1e-11.
  CHECK(max_difference(sym.rho, full.rho) < 1e-9);
}

TEST_CASE("finite reservoir symmetric: the quanta cutoff grows until the truncation check holds", "[bosonization]") {
  ReservoirSpec spec = qlevel_spec(10000);
  for (auto& c : spec.couplings) c.G *= 3.0;  // strong enough that K = 8 does not pass
  std::vector<double> times;
  for (int i = 0; i <= 20; ++i) times.push_back(0.25 * i);
  // Default ODE tolerances: the comparisons below are at 1e-7 and above.
  const FiniteReservoirOptions opt;
  const auto res = finite_reservoir_symmetric(spec, times, opt);
  const long long K = res.info["quanta_cutoff"].get<long long>();
  const auto tried = res.info["cutoffs_tried"].get<std::vector<long long>>();
  CHECK(K >= 16);
  REQUIRE(tried.size() >= 2);
  CHECK(tried.front() == 8);
  CHECK(tried.back() == K);
  CHECK(res.info["top_population"].get<double>() <= 1e-10);
  for (const auto& e : res.env) CHECK(e.at(0) <= 1e-10);

  // The cutoff before the last one fails the check: the top population is reported over tol.
  const auto small = finite_reservoir_symmetric_at(spec, times, opt, tried[tried.size() - 2]);
  CHECK(small.info["top_population"].get<double>() > 1e-10);
  // A tiny forced cutoff is far off and says so.
  const auto tiny = finite_reservoir_symmetric_at(spec, times, opt, 2);
  CHECK(tiny.info["top_population"].get<double>() > 1e-3);
  CHECK(max_difference(tiny.rho, res.rho) > 1e-3);
  // The accepted cutoff is converged: doubling it changes rho_S by far less than the tolerance's
  // amplitude scale sqrt(1e-10) = 1e-5.
  const auto twice = finite_reservoir_symmetric_at(spec, times, opt, 2 * K);
  CHECK(max_difference(twice.rho, res.rho) < 1e-7);
}

TEST_CASE("finite reservoir methods: named errors", "[bosonization]") {
  std::mt19937 rng(9);
  const std::vector<double> times{0.0, 1.0};
  SECTION("symmetric needs a pure rho_R") {
    const ReservoirSpec spec = random_spec(2, 3, 4, -1, rng);
    try {
      finite_reservoir_symmetric(spec, times, kTight);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.key() == "solver.reservoir_method");
      CHECK(std::string(e.what()).find("rank 3") != std::string::npos);
    }
  }
  SECTION("full refuses a space that does not fit, before allocating it") {
    ReservoirSpec spec = random_spec(2, 2, 40, -1, rng);  // 2^41: would not fit in memory
    try {
      finite_reservoir_full(spec, times, kTight);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.key() == "reservoir.M");
      CHECK(std::string(e.what()).find("2.19902e+12") != std::string::npos);  // D = 2^41
    }
    spec.M = 16;  // D = 2^17 fits as vectors, but not as a density matrix (mixed rho_R)
    CHECK_THROWS_AS(finite_reservoir_full(spec, times, kTight), InputError);
  }
  SECTION("symmetric refuses a cutoff that does not fit") {
    const ReservoirSpec spec = random_spec(2, 3, 1000000, 0, rng);
    try {
      finite_reservoir_symmetric_at(spec, times, kTight, 100000);  // C(100002, 2) ~ 5e9 states
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.key() == "reservoir.M");
    }
  }
  SECTION("a non-stationary rho_R") {
    ReservoirSpec spec = random_spec(2, 2, 3, -1, rng);
    spec.rho = random_density(2, rng);
    CHECK_THROWS_AS(finite_reservoir_symmetric(spec, times, kTight), InputError);
    CHECK_THROWS_AS(finite_reservoir_full(spec, times, kTight), InputError);
  }
}

TEST_CASE("finite reservoir symmetric converges to S + F like 1/M (Q-level reservoir)", "[bosonization]") {
  std::vector<double> times;
  for (int i = 0; i <= 20; ++i) times.push_back(0.25 * i);
  // S + F: the mode occupations stay ~ (g/omega)^2 ~ 0.1; cutoff 14 is converged (checked below
  // against cutoff 10) far below the 1/M differences (~1e-4 at M = 1600).
  const auto sf = qlevel_sf(qlevel_spec(1), times, 14);
  CHECK(max_difference(sf, qlevel_sf(qlevel_spec(1), times, 10)) < 1e-10);
  double dist[2];
  const long long Ms[2] = {400, 1600};
  for (int i = 0; i < 2; ++i) {
    const auto res = finite_reservoir_symmetric(qlevel_spec(Ms[i]), times, kTight);
    dist[i] = 0.0;
    for (std::size_t k = 0; k < times.size(); ++k) dist[i] = std::max(dist[i], trace_distance(res.rho[k], sf[k]));
  }
  // v_q off-diagonal (no diagonal elements in the eigenbasis): odd correlations vanish, error ~ 1/M.
  const double exponent = std::log(dist[1] / dist[0]) / std::log(4.0);
  INFO("max-over-t trace distance " << dist[0] << " (M = 400), " << dist[1] << " (M = 1600), exponent " << exponent);
  CHECK(dist[0] > 1e-5);  // not the trivial case: finite M differs from S + F
  CHECK(exponent > -1.1);  // measured -1.0004
  CHECK(exponent < -0.9);
}
