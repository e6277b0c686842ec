// Stationary states from the sparse direct solver: residual, trace, Hermiticity, and agreement
// with long-time integration of the master equation.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/spin_boson.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/steady_state.hpp"

#include <catch2/catch.hpp>

using namespace qfluct;

TEST_CASE("steady state: L rho = 0, trace 1, Hermitian, equal to the long-time ME", "[steady]") {
  // The slowest relaxation rate at these parameters is ~0.1 or more, so by t = 400 the ME has
  // forgotten its initial state to exp(-40); its integration error (rtol 1e-10) sets the 1e-7
  // tolerance of the comparison.
  CentralSpinParameters p;
  p.N = 6;
  p.Gamma_phi = 0.2;
  p.h = {0.0, 0.0, 0.3};
  for (int which = 0; which < 2; ++which) {
    std::unique_ptr<SectorModel> model;
    if (which == 0) model = std::make_unique<SpinBosonModel>(p, 32);
    else model = std::make_unique<CentralSpinModel>(p);
    const BlockMasterEquation me(*model);
    const SteadyState ss = solve_steady_state(me);
    INFO(model->kind() << ": residual " << ss.residual << ", unknowns " << ss.unknowns);
    CHECK(ss.residual < 1e-12);
    CHECK(ss.trace_error < 1e-12);
    CHECK(ss.anti_hermitian < 1e-10);
    MasterOptions o;
    o.tol = {1e-10, 1e-12};
    CVec y = me.pack(model->initial_density());
    const TimeSeries late = me.solve(y, {0.0, 400.0}, o);
    CHECK((y - ss.rho).cwiseAbs().maxCoeff() < 1e-7);
  }
}

TEST_CASE("stationary() reports the Fig. 2(d) columns consistently", "[steady]") {
  RunConfig c;
  c.kind = ModelKind::spin_boson;
  const Stationary st = stationary(c);
  REQUIRE(st.columns == std::vector<std::string>{"tau_x", "tau_y", "tau_z", "n", "q", "Q2", "Q4", "nongauss", "Q2sq3"});
  const double Q2 = st.values[5], Q4 = st.values[6];
  CHECK(st.values[7] == Approx(Q4 - 3 * Q2 * Q2).margin(1e-14));
  CHECK(st.values[8] == Approx(3 * Q2 * Q2).margin(1e-14));
  // At the Fig. 2 point the stationary state is non-Gaussian (the paper's Fig. 2(d)): Q4 is
  // clearly below its Gaussian value.
  CHECK(st.values[7] < -0.1);
  CHECK(st.info["residual_max"].get<double>() < 1e-12);
}
