// The reduced-evolution engine against dense references built here: e^{-iHt} for the unitary
// paths (pure components from a pure or mixed environment), the exponential of the dense
// Liouvillian (column-stacked vec(rho)) for the Lindblad path, partial traces and environment
// expectations done by hand.
#include "support/dense.hpp"
#include "qfluct/solver/reduced_evolution.hpp"

#include <Eigen/QR>
#include <catch2/catch.hpp>
#include <unsupported/Eigen/KroneckerProduct>
#include <unsupported/Eigen/MatrixFunctions>

#include <random>

using namespace qfluct;
using namespace qfluct::test;

namespace {




SparseMat sparse(const CMat& m) { return m.sparseView(); }

}  // namespace

TEST_CASE("reduced evolution: unitary paths equal the dense propagator", "[reduced_evolution]") {
  std::mt19937 rng(7);
  const Index dS = 2, dE = 3, D = dS * dE;
  for (int trial = 0; trial < 3; ++trial) {
    CMat H = random_matrix(D, rng);
    H = (0.5 * (H + H.adjoint())).eval();  // eval: H.adjoint() aliases H
    CompositeSystem sys{dS, dE, sparse(H), {}, {RVec::LinSpaced(dE, 0.0, double(dE - 1))}};
    const CMat rho_S = random_density(dS, rng, 2);
    CVec psi = random_matrix(dE, rng).col(0);
    psi.normalize();
    const CMat rho_E_mixed = random_density(dE, rng, 2);
    const std::vector<double> times{0.0, 0.3, 1.1};
    const auto pure = reduced_evolution(sys, rho_S, psi, times, {1e-11, 1e-13});
    const auto mixed = reduced_evolution(sys, rho_S, rho_E_mixed, times, {1e-11, 1e-13});
    CHECK(pure.method == "pure_components");
    CHECK(mixed.method == "pure_components");  // rank 2 x 2 < D = 6
    for (std::size_t i = 0; i < times.size(); ++i) {
      const CMat U = (CMat(-I * times[i] * H)).exp();
      for (const auto& [res, rhoE] : {std::pair{&pure, CMat(psi * psi.adjoint())}, std::pair{&mixed, rho_E_mixed}}) {
        const CMat rho = U * CMat(Eigen::kroneckerProduct(rho_S, rhoE)) * U.adjoint();
        // Dopri5 at rtol 1e-11 over t <= 1.1 with ||H|| ~ 3: global error well below 1e-9.
        CHECK((res->rho[i] - partial_trace_env(rho, dS, dE)).norm() < 1e-9);
        double n = 0;
        for (Index s = 0; s < dS; ++s)
          for (Index e = 0; e < dE; ++e) n += double(e) * rho(s * dE + e, s * dE + e).real();
        CHECK(std::abs(res->env[i][0] - n) < 1e-9);
      }
    }
  }
}

TEST_CASE("reduced evolution: the Lindblad path equals the dense Liouvillian exponential", "[reduced_evolution]") {
  std::mt19937 rng(11);
  const Index dS = 2, dE = 2, D = dS * dE;
  CMat H = random_matrix(D, rng);
  H = (0.5 * (H + H.adjoint())).eval();  // eval: H.adjoint() aliases H
  const CMat L1 = Eigen::kroneckerProduct(random_matrix(dS, rng), CMat::Identity(dE, dE)).eval();
  const CMat L2 = 0.4 * random_matrix(D, rng);
  CompositeSystem sys{dS, dE, sparse(H), {sparse(L1), sparse(L2)}, {RVec::Ones(dE)}};
  const CMat rho_S = random_density(dS, rng, 2);
  CVec psi = random_matrix(dE, rng).col(0);
  psi.normalize();
  const std::vector<double> times{0.0, 0.25, 0.8};
  const auto res = reduced_evolution(sys, rho_S, psi, times, {1e-11, 1e-13});
  CHECK(res.method == "density_matrix");
  // vec(A rho B) = (B^T (x) A) vec(rho), column stacking.
  const CMat Id = CMat::Identity(D, D);
  CMat Lv = Eigen::kroneckerProduct(Id, CMat(-I * H)).eval() + Eigen::kroneckerProduct(CMat(I * H.transpose()), Id).eval();
  for (const CMat& L : {L1, L2}) {
    const CMat LdL = L.adjoint() * L;
    Lv += Eigen::kroneckerProduct(L.conjugate(), L).eval() - 0.5 * Eigen::kroneckerProduct(Id, LdL).eval() -
          0.5 * Eigen::kroneckerProduct(LdL.transpose(), Id).eval();
  }
  const CMat rho0 = Eigen::kroneckerProduct(rho_S, CMat(psi * psi.adjoint()));
  const CVec v0 = Eigen::Map<const CVec>(rho0.data(), D * D);
  for (std::size_t i = 0; i < times.size(); ++i) {
    const CVec v = CMat(times[i] * Lv).exp() * v0;
    const CMat rho = Eigen::Map<const CMat>(v.data(), D, D);
    CHECK((res.rho[i] - partial_trace_env(rho, dS, dE)).norm() < 1e-9);
    CHECK(std::abs(res.env[i][0] - 1.0) < 1e-9);  // the trace, through the env diagonal of ones
  }
  SECTION("accumulate adds weighted evolutions") {
    ReducedEvolution sum;
    accumulate(sum, res, 0.25);
    accumulate(sum, res, 0.5);
    CHECK((sum.rho[2] - 0.75 * res.rho[2]).norm() < 1e-15);
    CHECK(sum.env[1][0] == Approx(0.75 * res.env[1][0]).epsilon(1e-15));
  }
}
