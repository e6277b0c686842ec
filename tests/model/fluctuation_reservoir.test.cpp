// The fluctuation reservoir F (Fantechi & Merkli 2026, Eqs. (13)-(18)): the modes and X_q
// coefficients against hand derivations, the common eigenbasis for degenerate h_R, the defining
// property (vacuum two-point functions of X_q equal the reservoir's, Eq. (11)/(14)) computed on an
// explicit Fock space against e^{ith_R} directly, the S+F OpenSystemSpec, and every named error.
#include "support/dense.hpp"
#include "qfluct/core/error.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"

#include <Eigen/QR>
#include <catch2/catch.hpp>
#include <unsupported/Eigen/MatrixFunctions>

#include <cmath>
#include <random>
#include <string>

using namespace qfluct;
using namespace qfluct::test;

namespace {

CMat mat(std::initializer_list<std::initializer_list<cplx>> rows) {
  CMat m(static_cast<Index>(rows.size()), static_cast<Index>(rows.begin()->size()));
  Index i = 0;
  for (const auto& r : rows) {
    Index j = 0;
    for (const cplx& x : r) m(i, j++) = x;
    ++i;
  }
  return m;
}


CMat random_centred(const CMat& rho, std::mt19937& rng) {
  std::normal_distribution<double> g;
  const Index d = rho.rows();
  CMat v(d, d);
  for (Index i = 0; i < d; ++i)
    for (Index j = 0; j < d; ++j) v(i, j) = cplx(g(rng), g(rng));
  return v - (rho * v).trace() * CMat::Identity(d, d);  // Eq. (8)
}

/// X_q (or X_q^+ when dag) on the Fock space of all modes, cutoff 1 each (state bit i = n_i).
/// Exact for vacuum two-point functions: <0| A e^{-iH_F t} B |0> only visits 0 and 1 quanta.
CMat fock_x(const FluctuationReservoir& F, std::size_t q, bool dag) {
  const Index n = static_cast<Index>(F.modes.size());
  const Index D = Index(1) << n;
  CMat X = CMat::Zero(D, D);
  for (Index s = 0; s < D; ++s)
    for (Index i = 0; i < n; ++i) {
      const Index bit = Index(1) << i;
      if (s & bit) X(s ^ bit, s) += F.a[q][i];       // a_i
      else X(s | bit, s) += F.a_dag[q][i];           // a_i^+
    }
  return dag ? CMat(X.adjoint()) : X;
}

/// <0| A(t) B |0> in the vacuum of F, A(t) = e^{iH_F t} A e^{-iH_F t} (H_F |0> = 0).
cplx vacuum_two_point(const FluctuationReservoir& F, const CMat& A, const CMat& B, double t) {
  const Index D = A.rows();
  CVec psi = B.col(0);
  for (Index s = 0; s < D; ++s) {
    double e = 0.0;
    for (std::size_t i = 0; i < F.modes.size(); ++i)
      if (s & (Index(1) << i)) e += F.modes[i].omega;
    psi(s) *= std::exp(-I * e * t);
  }
  return (A.row(0) * psi)(0);
}

/// tr(rho_R A(t) B) directly from h_R, A(t) = e^{ih_R t} A e^{-ih_R t}.
cplx reservoir_two_point(const CMat& h, const CMat& rho, const CMat& A, const CMat& B, double t) {
  const CMat U = (I * t * h).exp();
  return (rho * U * A * U.adjoint() * B).trace();
}

/// Every vacuum two-point function of X_q, X_q^+ equals the reservoir's of v_q, v_q^+.
/// Tolerance 1e-12: both sides are sums of O(1) terms evaluated in double precision
/// (matrix exponential and eigendecomposition errors ~1e-15).
void check_two_point(const CMat& h, const CMat& rho, const std::vector<CMat>& v) {
  const FluctuationReservoir F = fluctuation_reservoir(h, rho, v);
  REQUIRE(F.modes.size() <= 10);
  for (std::size_t q = 0; q < v.size(); ++q)
    for (std::size_t r = 0; r < v.size(); ++r)
      for (int dq = 0; dq < 2; ++dq)
        for (int dr = 0; dr < 2; ++dr) {
          const CMat XA = fock_x(F, q, dq == 1), XB = fock_x(F, r, dr == 1);
          const CMat vA = dq ? CMat(v[q].adjoint()) : v[q], vB = dr ? CMat(v[r].adjoint()) : v[r];
          for (double t : {0.0, 0.37, 1.9, -2.4, 7.3}) {
            INFO("q=" << q << " r=" << r << " dag=" << dq << dr << " t=" << t);
            const cplx f = vacuum_two_point(F, XA, XB, t);
            const cplx c = reservoir_two_point(h, rho, vA, vB, t);
            CHECK(std::abs(f - c) < 1e-12);
          }
        }
}

template <class Fn>
void require_input_error(Fn&& fn, const std::string& key, const std::vector<std::string>& words) {
  try {
    fn();
    FAIL("no InputError for " << key);
  } catch (const InputError& e) {
    CHECK(e.key() == key);
    for (const auto& w : words) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(w) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("Fluctuation reservoir of the issue's qubit example, by hand", "[bosonization]") {
  // h_R = diag(1, 0), rho_R = diag(0.2, 0.8), v = |0><1| (input basis |0>, |1>).
  // Eq. (13), energies ascending: chi_0 = |1> (E_0 = 0, p_0 = 0.8), chi_1 = |0> (E_1 = 1, p_1 = 0.2).
  // [v]_kl = <chi_k|v|chi_l>: only [v]_10 = <0|v|1> = 1.
  // Eq. (16): (0,1): p_0 != 0, [v]_10 != 0 -> mode; (1,0): p_1 != 0, [v]_10 != 0 -> mode;
  //           (0,0), (1,1): [v]_00 = [v]_11 = 0 -> none.
  // omega_01 = E_1 - E_0 = 1, omega_10 = -1.
  // Eq. (18): X = sqrt(0.8) ([v]_10 a_01^+ + [v]_01 a_01) + sqrt(0.2) ([v]_01 a_10^+ + [v]_10 a_10)
  //             = sqrt(0.8) a_01^+ + sqrt(0.2) a_10.
  const CMat h = mat({{1, 0}, {0, 0}});
  const CMat rho = mat({{0.2, 0}, {0, 0.8}});
  const CMat v = mat({{0, 1}, {0, 0}});
  const FluctuationReservoir F = fluctuation_reservoir(h, rho, {v});
  CHECK(F.energies(0) == 0.0);
  CHECK(F.energies(1) == 1.0);
  CHECK(F.populations(0) == Approx(0.8).margin(1e-15));
  CHECK(F.populations(1) == Approx(0.2).margin(1e-15));
  CHECK((F.basis - mat({{0, 1}, {1, 0}})).norm() < 1e-15);
  REQUIRE(F.modes.size() == 2);
  CHECK(F.modes[0].k == 0);
  CHECK(F.modes[0].l == 1);
  CHECK(F.modes[0].omega == 1.0);
  CHECK(F.modes[1].k == 1);
  CHECK(F.modes[1].l == 0);
  CHECK(F.modes[1].omega == -1.0);
  CHECK(std::abs(F.a[0][0]) < 1e-15);
  CHECK(std::abs(F.a_dag[0][0] - std::sqrt(0.8)) < 1e-15);
  CHECK(std::abs(F.a[0][1] - std::sqrt(0.2)) < 1e-15);
  CHECK(std::abs(F.a_dag[0][1]) < 1e-15);
  check_two_point(h, rho, {v});

  // Same reservoir, v = sigma_x = |0><1| + |1><0|: both pairs again, now X = sqrt(0.8)(a_01^+ + a_01)
  // + sqrt(0.2)(a_10^+ + a_10). Pure rho_R = |1><1| (p_1 = 0): only (0,1) remains.
  const CMat sx = mat({{0, 1}, {1, 0}});
  const FluctuationReservoir Fx = fluctuation_reservoir(h, rho, {sx});
  REQUIRE(Fx.modes.size() == 2);
  CHECK(std::abs(Fx.a[0][0] - std::sqrt(0.8)) < 1e-15);
  CHECK(std::abs(Fx.a_dag[0][0] - std::sqrt(0.8)) < 1e-15);
  CHECK(std::abs(Fx.a[0][1] - std::sqrt(0.2)) < 1e-15);
  CHECK(std::abs(Fx.a_dag[0][1] - std::sqrt(0.2)) < 1e-15);
  check_two_point(h, rho, {sx});
  const FluctuationReservoir Fp = fluctuation_reservoir(h, mat({{0, 0}, {0, 1}}), {sx});
  REQUIRE(Fp.modes.size() == 1);
  CHECK(Fp.modes[0].k == 0);
  CHECK(Fp.modes[0].l == 1);
  CHECK(std::abs(Fp.a[0][0] - 1.0) < 1e-15);
  CHECK(std::abs(Fp.a_dag[0][0] - 1.0) < 1e-15);
}

TEST_CASE("Fluctuation reservoir rotates rho inside a degenerate eigenspace of h", "[bosonization]") {
  // h_R = diag(0, 0, 1); rho_R = [[0.35, 0.15, 0], [0.15, 0.35, 0], [0, 0, 0.3]] commutes with h_R
  // but is not diagonal in h_R's eigenbasis |0>, |1>. Inside the E = 0 eigenspace rho_R has
  // eigenvalues 0.5 ((|0> + |1>)/sqrt2) and 0.2 ((|0> - |1>)/sqrt2). Eq. (13), populations descending
  // inside the eigenspace: chi_0 = (|0> + |1>)/sqrt2 (E 0, p 0.5), chi_1 = (|0> - |1>)/sqrt2 (E 0, p 0.2),
  // chi_2 = |2> (E 1, p 0.3). v = |2><0|: tr(rho v) = rho_02 = 0 (Eq. (8)).
  // [v]_kl = <chi_k|2><0|chi_l>: [v]_20 = [v]_21 = 1/sqrt2, all others 0.
  // Eq. (16): (0,2), (1,2) (p 0.5, 0.2; [v]_20, [v]_21), (2,0), (2,1) (p 0.3); omega +1, +1, -1, -1.
  // Eq. (18): X = sqrt(0.5)/sqrt2 a_02^+ + sqrt(0.2)/sqrt2 a_12^+ + sqrt(0.3)/sqrt2 (a_20 + a_21)
  //             = 0.5 a_02^+ + sqrt(0.1) a_12^+ + sqrt(0.15) a_20 + sqrt(0.15) a_21.
  const CMat h = mat({{0, 0, 0}, {0, 0, 0}, {0, 0, 1}});
  const CMat rho = mat({{0.35, 0.15, 0}, {0.15, 0.35, 0}, {0, 0, 0.3}});
  CMat v = CMat::Zero(3, 3);
  v(2, 0) = 1.0;
  const FluctuationReservoir F = fluctuation_reservoir(h, rho, {v});
  const double r = 1.0 / std::sqrt(2.0);
  CHECK((F.basis - mat({{r, r, 0}, {r, -r, 0}, {0, 0, 1}})).norm() < 1e-14);
  CHECK((F.populations - Eigen::Vector3d(0.5, 0.2, 0.3)).norm() < 1e-14);
  CHECK((F.energies - Eigen::Vector3d(0, 0, 1)).norm() < 1e-14);
  REQUIRE(F.modes.size() == 4);
  const Index ks[] = {0, 1, 2, 2}, ls[] = {2, 2, 0, 1};
  const double om[] = {1, 1, -1, -1};
  const double a[] = {0, 0, std::sqrt(0.15), std::sqrt(0.15)}, ad[] = {0.5, std::sqrt(0.1), 0, 0};
  for (int i = 0; i < 4; ++i) {
    INFO("mode " << i);
    CHECK(F.modes[i].k == ks[i]);
    CHECK(F.modes[i].l == ls[i]);
    CHECK(F.modes[i].omega == Approx(om[i]).margin(1e-14));
    CHECK(std::abs(F.a[0][i] - a[i]) < 1e-14);
    CHECK(std::abs(F.a_dag[0][i] - ad[i]) < 1e-14);
  }
  check_two_point(h, rho, {v});
  // h_R = 0: one eigenspace, rho_R diagonalised as a whole; every mode has omega = 0.
  const FluctuationReservoir Z = fluctuation_reservoir(CMat::Zero(3, 3), rho, {v});
  CHECK((Z.populations - Eigen::Vector3d(0.5, 0.3, 0.2)).norm() < 1e-14);
  for (const auto& m : Z.modes) CHECK(m.omega == 0.0);
  check_two_point(CMat::Zero(3, 3), rho, {v});
}

TEST_CASE("Fluctuation reservoir reproduces the reservoir two-point functions (random models)", "[bosonization]") {
  std::mt19937 rng(12);
  std::uniform_real_distribution<double> u(0.05, 1.0);
  for (int trial = 0; trial < 3; ++trial) {
    INFO("trial " << trial);
    // Qutrit, doubly degenerate h_R in a random basis; rho_R full rank and mixing the degenerate
    // pair; two couplings. Up to 9 modes.
    const CMat Uh = random_unitary(3, rng);
    CMat B = CMat::Identity(3, 3);
    B.topLeftCorner(2, 2) = random_unitary(2, rng);
    const Eigen::Vector3d p = Eigen::Vector3d(u(rng), u(rng), u(rng)).normalized().cwiseAbs2();
    const CMat h = Uh * Eigen::Vector3cd(0.3, 0.3, -0.7).asDiagonal() * Uh.adjoint();
    const CMat rho = Uh * B * p.cast<cplx>().asDiagonal() * B.adjoint() * Uh.adjoint();
    const std::vector<CMat> v = {random_centred(rho, rng), random_centred(rho, rng)};
    const FluctuationReservoir F = fluctuation_reservoir(h, rho, v);
    const CMat& U = F.basis;
    CHECK((U.adjoint() * U - CMat::Identity(3, 3)).norm() < 1e-13);
    CHECK((U.adjoint() * h * U - CMat(F.energies.cast<cplx>().asDiagonal())).norm() < 1e-13);
    CHECK((U.adjoint() * rho * U - CMat(F.populations.cast<cplx>().asDiagonal())).norm() < 1e-13);
    CHECK(F.modes.size() == 9);  // random v: every pair allowed, rank 3 (|M| = d_R rank rho_R)
    check_two_point(h, rho, v);

    // Four levels, non-degenerate, rank-2 rho_R: d_R x rank = 8 modes, two of them k = l
    // (zero frequency, from the diagonal elements of v in the common eigenbasis).
    const CMat U4 = random_unitary(4, rng);
    const CMat h4 = U4 * Eigen::Vector4cd(-1.1, 0.2, 0.9, 2.3).asDiagonal() * U4.adjoint();
    const CMat rho4 = U4 * Eigen::Vector4cd(0, 0.35, 0, 0.65).asDiagonal() * U4.adjoint();
    const std::vector<CMat> v4 = {random_centred(rho4, rng)};
    const FluctuationReservoir F4 = fluctuation_reservoir(h4, rho4, v4);
    CHECK(F4.modes.size() == 8);
    int zero = 0;
    for (const auto& m : F4.modes) zero += m.k == m.l;
    CHECK(zero == 2);
    check_two_point(h4, rho4, v4);
  }
}

TEST_CASE("Bosonized S+F as an OpenSystemSpec", "[bosonization]") {
  const CMat h = mat({{1, 0}, {0, 0}});
  const CMat rho = mat({{0.2, 0}, {0, 0.8}});
  const FluctuationReservoir F = fluctuation_reservoir(h, rho, {mat({{0, 1}, {0, 0}}), mat({{0, 1}, {1, 0}})});
  const CMat HS = mat({{0.55, 0}, {0, -0.55}});
  const CMat rS = mat({{0.7, {0.3, -0.2}}, {{0.3, 0.2}, 0.3}});
  const std::vector<CMat> G = {mat({{0, 0}, {0.5, 0}}), mat({{0.1, 0}, {0, -0.1}})};
  const OpenSystemSpec spec = bosonized_spec(HS, rS, G, F);
  CHECK(spec.H == HS);
  CHECK(spec.initial == rS);
  CHECK(spec.channels.empty());
  REQUIRE(spec.modes.size() == F.modes.size());
  for (std::size_t i = 0; i < spec.modes.size(); ++i) {
    CHECK(spec.modes[i].omega == F.modes[i].omega);
    CHECK(spec.modes[i].nbar == 0.0);
    CHECK(spec.modes[i].kappa_down == 0.0);
    CHECK(spec.modes[i].kappa_up == 0.0);
    CHECK(spec.modes[i].fock_cutoff == 0);
  }
  REQUIRE(spec.couplings.size() == 2);
  for (std::size_t q = 0; q < 2; ++q) {
    CHECK(spec.couplings[q].G == G[q]);
    CHECK(spec.couplings[q].a == F.a[q]);
    CHECK(spec.couplings[q].a_dag == F.a_dag[q]);
  }
  require_input_error([&] { bosonized_spec(HS, rS, {G[0]}, F); }, "reservoir.coupling", {"2 operators v"});
  require_input_error([&] { bosonized_spec(HS, rS, {G[0], CMat::Zero(3, 3)}, F); }, "reservoir.coupling[1].G",
                      {"2 x 2"});
  require_input_error([&] { bosonized_spec(mat({{0, 1}, {0, 0}}), rS, G, F); }, "system.H", {"Hermitian"});
  require_input_error([&] { bosonized_spec(CMat::Zero(2, 3), rS, G, F); }, "system.H", {"square"});
  require_input_error([&] { bosonized_spec(HS, CMat::Identity(3, 3), G, F); }, "system.initial", {"2 x 2"});
}

TEST_CASE("Fluctuation reservoir names every bad input", "[bosonization]") {
  const CMat h = mat({{1, 0}, {0, 0}});
  const CMat rho = mat({{0.2, 0}, {0, 0.8}});
  const CMat v = mat({{0, 1}, {0, 0}});
  require_input_error([&] { fluctuation_reservoir(CMat::Zero(2, 3), rho, {v}); }, "reservoir.h", {"square"});
  require_input_error([&] { fluctuation_reservoir(CMat(), rho, {v}); }, "reservoir.h", {"square"});
  require_input_error([&] { fluctuation_reservoir(mat({{1, 0.1}, {0, 0}}), rho, {v}); }, "reservoir.h",
                      {"Hermitian"});
  require_input_error([&] { fluctuation_reservoir(h, CMat::Identity(3, 3) / 3.0, {v}); }, "reservoir.rho",
                      {"2 x 2"});
  require_input_error([&] { fluctuation_reservoir(h, mat({{0.2, {0, 0.1}}, {{0, 0.1}, 0.8}}), {v}); },
                      "reservoir.rho", {"Hermitian"});
  require_input_error([&] { fluctuation_reservoir(h, mat({{0.3, 0}, {0, 0.8}}), {v}); }, "reservoir.rho",
                      {"trace 1"});
  require_input_error([&] { fluctuation_reservoir(h, mat({{1.2, 0}, {0, -0.2}}), {v}); }, "reservoir.rho",
                      {"positive"});
  // Not stationary: a coherence between the non-degenerate levels of h_R (Eq. (7)); 1e-8 is far
  // above the 1e-10 tolerance, 1e-13 (rounding size) below it.
  require_input_error([&] { fluctuation_reservoir(h, mat({{0.5, 0.1}, {0.1, 0.5}}), {v}); }, "reservoir.rho",
                      {"stationary", "Eq. (7)"});
  require_input_error([&] { fluctuation_reservoir(h, mat({{0.2, 1e-8}, {1e-8, 0.8}}), {v}); }, "reservoir.rho",
                      {"stationary"});
  CHECK(fluctuation_reservoir(h, mat({{0.2, 1e-13}, {1e-13, 0.8}}), {v}).modes.size() == 2);
  // Mean value of v (Eq. (8)), named per coupling.
  require_input_error([&] { fluctuation_reservoir(h, rho, {mat({{1, 0}, {0, 0}})}); }, "reservoir.coupling[0].v",
                      {"Eq. (8)", "sqrt(M)", "system.H"});
  require_input_error([&] { fluctuation_reservoir(h, rho, {v, mat({{0, 1}, {1, 0}}) + CMat::Identity(2, 2)}); },
                      "reservoir.coupling[1].v", {"Eq. (8)", "sqrt(M)", "system.H"});
  require_input_error([&] { fluctuation_reservoir(h, rho, {v, CMat::Zero(3, 3)}); }, "reservoir.coupling[1].v",
                      {"2 x 2"});
  // Nearly degenerate levels split by 2e-10 (> the 1e-10 grouping tolerance) that rho_R mixes
  // strongly: [h, rho] = 6e-11 passes Eq. (7)'s check, but rho_R is not diagonal in h_R's
  // eigenbasis -> named, not silently wrong modes. Split 1e-11 (grouped): rho_R is diagonalised.
  require_input_error([&] { fluctuation_reservoir(mat({{2e-10, 0}, {0, 0}}), mat({{0.5, 0.3}, {0.3, 0.5}}), {}); },
                      "reservoir.rho", {"not diagonal"});
  CHECK(fluctuation_reservoir(mat({{1e-11, 0}, {0, 0}}), mat({{0.5, 0.3}, {0.3, 0.5}}), {}).populations(0) ==
        Approx(0.8));
}
