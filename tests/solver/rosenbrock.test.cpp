// The Rosenbrock integrator for stiff linear systems (solver/rosenbrock.hpp): its order, its
// indifference to fast decay, and the stiff master equation against Dormand-Prince.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/rosenbrock.hpp"

#include <Eigen/Dense>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <cmath>

using namespace qfluct;

namespace {

/// L = V diag(lambda) V^{-1} with a fixed well-conditioned V: y(t) = V exp(lambda t) V^{-1} y0
/// exactly, an independent reference.
struct Diagonalised {
  CMat V, Vinv;
  CVec lambda;
  Eigen::SparseMatrix<cplx> L() const { return CMat(V * lambda.asDiagonal() * Vinv).sparseView(); }
  CVec exact(const CVec& y0, double t) const {
    CVec c = Vinv * y0;
    for (Index i = 0; i < c.size(); ++i) c(i) *= std::exp(lambda(i) * t);
    return V * c;
  }
};

Diagonalised system(std::vector<cplx> lambda) {
  const Index n = Index(lambda.size());
  Diagonalised d;
  d.lambda = Eigen::Map<CVec>(lambda.data(), n);
  d.V = CMat::Identity(n, n);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j)
      if (i != j) d.V(i, j) = cplx(0.3 * std::sin(1.0 + double(i) + 2.0 * double(j)), 0.2 * std::cos(double(3 * i + j)));
  d.Vinv = d.V.inverse();
  return d;
}

}  // namespace

TEST_CASE("Rosenbrock (Rodas3): order 3 on smooth dynamics, the embedded estimate order 2", "[rosenbrock]") {
  const Diagonalised d = system({{-1.0, 2.0}, {-0.5, 0.0}, {-0.2, -3.0}});
  CVec y0(3);
  y0 << 1.0, cplx(0.0, 1.0), 0.5;
  std::vector<double> errors;
  for (int n : {8, 16, 32, 64}) {
    LinearRosenbrock ode(d.L(), {1.0, 1.0});
    CVec y = y0, y_new(3);
    for (int k = 0; k < n; ++k) {
      ode.try_step(y, 1.0 / n, y_new);
      y = y_new;
    }
    errors.push_back((y - d.exact(y0, 1.0)).norm());
  }
  // Global order 3: the error falls 8-fold per halving; the fitted slope over three halvings is
  // within 0.3 of 3 (a scheme of order 2 or 4 would miss by 1).
  const double slope = std::log2(errors.front() / errors.back()) / 3.0;
  INFO("errors " << errors[0] << " " << errors[1] << " " << errors[2] << " " << errors[3]);
  CHECK(slope == Approx(3.0).margin(0.3));
  // The local error estimate (b minus the embedded weights) falls like h^3 (order 2 + 1).
  LinearRosenbrock ode(d.L(), {0.0, 1.0});  // atol 0, rtol 1: the norm is the relative error
  CVec y_new(3);
  const double e1 = ode.try_step(y0, 0.1, y_new), e2 = ode.try_step(y0, 0.05, y_new);
  CHECK(std::log2(e1 / e2) == Approx(3.0).margin(0.3));
}

TEST_CASE("Rosenbrock: decay rates up to 1e8 cost no more steps than the slow dynamics needs", "[rosenbrock]") {
  const Diagonalised d = system({{-1.0, 2.0}, {-0.5, 0.0}, {-1e8, 0.0}, {-1e5, 1e3}});
  CVec y0(4);
  y0 << 1.0, cplx(0.0, 1.0), 0.5, -0.25;
  const std::vector<double> times = {0.0, 0.5, 1.0, 1.5, 2.0};
  LinearRosenbrock ode(d.L(), {1e-10, 1e-12});
  CVec y = y0;
  double worst = 0.0;
  ode.integrate(0.0, y, times, [&](std::size_t i, const CVec& yi) {
    if (i > 0) worst = std::max(worst, (yi - d.exact(y0, times[i])).norm());
  });
  // rtol 1e-10 per step over ~10^3 steps: 1e-8 is the accumulated bound, as in the ME tests.
  CHECK(worst < 1e-8);
  // An explicit method would need 2 x 1e8 / 3.3 = 6e7 steps for stability alone; order 3 at
  // rtol 1e-10 takes ~1e4 (the accuracy of the slow modes sets them).
  CHECK(ode.statistics().steps < 6e7 / 1000);
  CHECK(ode.statistics().factorizations < ode.statistics().steps);
}

TEST_CASE("the stiff block master equation: Rosenbrock and Chebyshev equal Dormand-Prince, Chebyshev chosen when stiff",
          "[rosenbrock][master]") {
  CentralSpinParameters p;  // the Fig. 2 point with a fast bath decay
  p.N = 4;
  p.Gamma_down = 300.0;  // explicit steps limited to ~0.01 by stability: feasible for the reference
  const CentralSpinModel model(p);
  const BlockMasterEquation me(model);
  const auto times = time_grid(2.0, 0.25);
  MasterOptions o;
  o.tol = {1e-10, 1e-12};
  o.integrator = MasterIntegrator::dopri5;
  const TimeSeries explicit_run = me.solve(times, o);
  o.integrator = MasterIntegrator::rosenbrock;
  const TimeSeries implicit_run = me.solve(times, o);
  o.integrator = MasterIntegrator::chebyshev;
  const TimeSeries chebyshev_run = me.solve(times, o);
  // All at rtol 1e-10: they agree to 1e-8 (the accumulated error of 10^3 - 10^4 steps each).
  CHECK((explicit_run.values - implicit_run.values).cwiseAbs().maxCoeff() < 1e-8);
  CHECK((explicit_run.values - chebyshev_run.values).cwiseAbs().maxCoeff() < 1e-8);
  CHECK(implicit_run.info["integrator"].get<std::string>().rfind("rosenbrock", 0) == 0);
  CHECK(chebyshev_run.info["integrator"].get<std::string>().rfind("chebyshev", 0) == 0);

  // automatic: Dormand-Prince at the Fig. 2 point; with gamma_down = 1e5 (2 x 1e5 / 3.3 explicit
  // steps for stability alone) the Chebyshev exponential.
  MasterOptions automatic;
  CentralSpinParameters plain;
  plain.N = 4;
  const CentralSpinModel fig2(plain);
  CHECK(BlockMasterEquation(fig2).solve(times, automatic).info["integrator"].get<std::string>().rfind("dopri5", 0) == 0);
  p.Gamma_down = 1.0;
  p.gamma_down = 1e5;
  const CentralSpinModel stiff(p);
  const TimeSeries s = BlockMasterEquation(stiff).solve(times, automatic);
  CHECK(s.info["integrator"].get<std::string>().rfind("chebyshev", 0) == 0);
  CHECK(s.info["spectrum_real_extent"].get<double>() > 1e5);
  // ... and the same numbers as Dormand-Prince alone (which takes ~2e5 / 3.3 steps here).
  MasterOptions explicit_only;
  explicit_only.integrator = MasterIntegrator::dopri5;
  const TimeSeries reference = BlockMasterEquation(stiff).solve(times, explicit_only);
  CHECK((reference.values - s.values).cwiseAbs().maxCoeff() < 1e-8);
}
