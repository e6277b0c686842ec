// The sector reduction is exact: the block master equation reproduces the full 2^(N+1)
// tensor-product master equation for every observable (docs/theory.md section 4).
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/full_space_central_spin.hpp"
#include "qfluct/solver/master_equation.hpp"

#include <catch2/catch.hpp>
#include <random>

using namespace qfluct;

namespace {

CentralSpinParameters random_parameters(int N, bool steady_bath, std::mt19937& gen) {
  std::uniform_real_distribution<double> u(-1.0, 1.0), rate(0.05, 1.0);
  CentralSpinParameters p;
  p.N = N;
  p.g0 = 2.0 + u(gen);
  p.w = {u(gen), u(gen), u(gen)};
  p.h = {0.5 * u(gen), 0.5 * u(gen), 0.5 * u(gen)};
  p.gamma_up = rate(gen);
  p.gamma_down = rate(gen);
  p.Gamma_up = 0.3 * rate(gen);
  p.Gamma_down = 0.5 + rate(gen);  // eps > 0
  p.Gamma_phi = 0.5 * rate(gen);
  p.central = {0.3, -0.4, 0.5};
  p.bath.steady = steady_bath;
  // Off the x-z plane (phi != 0), so the rotation order matters; mixed (|r| < 1), so several j.
  p.bath.r = {0.35, 0.45, -0.5};
  return p;
}

double max_difference(const TimeSeries& a, const TimeSeries& b) { return (a.values - b.values).cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("block ME equals the full-space ME for N = 1..5", "[master][full-space]") {
  std::mt19937 gen(20231130);
  const auto times = time_grid(1.5, 0.25);
  MasterOptions tight;
  tight.tol = {1e-12, 1e-14};
  for (int N = 1; N <= 5; ++N)
    for (bool steady : {true, false}) {
      const CentralSpinParameters p = random_parameters(N, steady, gen);
      const CentralSpinModel sectors(p);
      const FullSpaceCentralSpin full(p);
      const TimeSeries a = BlockMasterEquation(sectors).solve(times, tight);
      const TimeSeries b = BlockMasterEquation(full).solve(times, tight);
      INFO("N = " << N << (steady ? ", Omega_SS bath" : ", Bloch-vector bath"));
      REQUIRE(a.columns == b.columns);
      // Both integrations are accurate to ~1e-11; the reduction itself is exact.
      CHECK(max_difference(a, b) < 1e-8);
    }
}

TEST_CASE("default tolerances match the full space to 1e-8 at the Fig. 2 point", "[master][full-space]") {
  CentralSpinParameters p;  // defaults are the Fig. 2 point
  p.N = 5;
  const auto times = time_grid(4.0, 0.05);
  MasterOptions tight;
  tight.tol = {1e-12, 1e-14};
  const TimeSeries reference = BlockMasterEquation(FullSpaceCentralSpin(p)).solve(times, tight);
  const TimeSeries a = BlockMasterEquation(CentralSpinModel(p)).solve(times);
  CHECK(max_difference(a, reference) < 1e-8);
}
