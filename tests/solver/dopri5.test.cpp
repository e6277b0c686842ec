// The Dormand-Prince integrator on problems with known solutions, and its dense output, which
// reports the master equation's output grid without cutting its steps.
#include "qfluct/solver/dopri5.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace qfluct;

namespace {
std::vector<double> grid(double t_end, double dt) {
  std::vector<double> t;
  for (int i = 0; i * dt <= t_end + 1e-12; ++i) t.push_back(i * dt);
  return t;
}
}  // namespace

TEST_CASE("dense output is exact for a quartic solution", "[ode]") {
  // y' = 4 t^3 (1 + i), y = t^4 (1 + i): the continuous extension has order 4, so it reproduces
  // polynomials of degree 4 exactly, at every point inside every step (rounding: 1e-13 relative).
  Dopri5 ode([](double t, const CVec&, CVec& dy) { dy.setConstant(4.0 * t * t * t * cplx(1.0, 1.0)); }, 1,
             {1e-6, 1e-8});
  CVec y = CVec::Zero(1);
  const auto times = grid(2.0, 0.013);  // not commensurate with the steps
  double worst = 0.0;
  ode.integrate(0.0, y, times, [&](std::size_t i, const CVec& yi) {
    const double t = times[i];
    worst = std::max(worst, std::abs(yi(0) - std::pow(t, 4) * cplx(1.0, 1.0)) / 16.0);
  });
  CHECK(worst < 1e-13);
  CHECK(ode.statistics().steps < Index(times.size()));  // the grid did not set the steps
  CHECK(std::abs(y(0) - std::pow(times.back(), 4) * cplx(1.0, 1.0)) < 1e-12);  // ends at the last time
}

TEST_CASE("dense output keeps the tolerance on a damped oscillation", "[ode]") {
  // y' = (i w - g) y: with rtol = 1e-10 the global error stays within 100 rtol of the closed form
  // at every grid time, whether the time lies on a step or inside one; and a grid 20 times
  // finer costs no extra steps.
  const cplx lambda(0.0, 7.0);
  const cplx rate = lambda - 0.3;
  auto solve = [&](double dt, double& worst) {
    Dopri5 ode([&](double, const CVec& x, CVec& dx) { dx = rate * x; }, 2, {1e-10, 1e-12});
    CVec y(2);
    y << 1.0, cplx(0.0, 0.5);
    const auto times = grid(5.0, dt);
    worst = 0.0;
    ode.integrate(0.0, y, times, [&](std::size_t i, const CVec& yi) {
      const cplx e = std::exp(rate * times[i]);
      worst = std::max({worst, std::abs(yi(0) - e), std::abs(yi(1) - cplx(0.0, 0.5) * e)});
    });
    return ode.statistics().steps;
  };
  double coarse_err = 0.0, fine_err = 0.0;
  const long coarse = solve(0.5, coarse_err), fine = solve(0.025, fine_err);
  CHECK(coarse_err < 1e-8);
  CHECK(fine_err < 1e-8);
  CHECK(fine == coarse);
}
