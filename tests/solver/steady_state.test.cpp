// Stationary states from the sparse direct solver: residual, trace, Hermiticity, agreement with
// long-time integration of the master equation, and uniqueness (second stationary states found,
// slow unique ones solved to their right values, unresolvable ones refused).
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/spin_boson.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/steady_state.hpp"

#include <nlohmann/json.hpp>
#include <Eigen/LU>
#include <catch2/catch.hpp>
#include <limits>

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

namespace {

/// Parameters for models whose bath is not in Omega_SS (zero bath rates): no fluctuation
/// observables, bath initially up (irrelevant to the stationary state).
CentralSpinParameters without_fluctuations(CentralSpinParameters p) {
  p.fluctuations = false;
  p.bath.steady = false;
  p.bath.r = {0.0, 0.0, 1.0};
  return p;
}

/// The stationary Bloch vector of a lone spin-1/2 under H = w.tau and decay gamma_down D[tau_-]
/// (tau_- = |down><up|), from its Bloch equations, independently of the solver:
///   dr/dt = 2 w x r - (gamma/2) (r_x, r_y, 2 r_z) - gamma (0, 0, 1) = 0.
Eigen::Vector3d lone_spin_stationary(const Vec3& w, double gamma) {
  Eigen::Matrix3d M;
  M << -gamma / 2, -2 * w[2], 2 * w[1],  //
      2 * w[2], -gamma / 2, -2 * w[0],   //
      -2 * w[1], 2 * w[0], -gamma;
  return M.fullPivLu().solve(Eigen::Vector3d(0, 0, gamma));
}

}  // namespace

TEST_CASE("steady state: a second stationary state is found, whatever conserves it", "[steady]") {
  struct Case {
    std::string name;
    std::unique_ptr<SectorModel> model;
  };
  std::vector<Case> cases;
  // The input (N = 3), other N and w = 0: the central spin without dissipation or coupling.
  for (int N : {1, 3, 6}) {
    CentralSpinParameters p;
    p.N = N;
    p.g0 = 0.0;
    p.gamma_up = p.gamma_down = 0.0;
    cases.push_back({"isolated central spin, N = " + std::to_string(N), std::make_unique<CentralSpinModel>(p)});
    p.w = {0.0, 0.0, 0.0};
    cases.push_back({"isolated central spin, w = 0, N = " + std::to_string(N), std::make_unique<CentralSpinModel>(p)});
  }
  {
    CentralSpinParameters p;
    p.g0 = 0.0;
    p.gamma_up = p.gamma_down = 0.0;
    cases.push_back({"spin_boson, isolated central spin", std::make_unique<SpinBosonModel>(p, 16)});
  }
  // Not a decoupled part: with g0 = 4 but no bath dissipation the total bath spin j is
  // conserved (N >= 2: several Dicke sectors; the LU meets an exactly singular system for some
  // N, inverse iteration finds the mode for others).
  for (int N : {2, 3, 4, 6}) {
    CentralSpinParameters p = without_fluctuations({});
    p.N = N;
    p.Gamma_up = p.Gamma_down = p.Gamma_phi = 0.0;
    cases.push_back({"bath without dissipation, N = " + std::to_string(N), std::make_unique<CentralSpinModel>(p)});
  }
  // An uncoupled bath with dephasing only: its magnetisation J_z is conserved.
  for (int N : {1, 3}) {
    CentralSpinParameters p = without_fluctuations({});
    p.N = N;
    p.g0 = 0.0;
    p.Gamma_up = p.Gamma_down = 0.0;
    p.Gamma_phi = 0.3;
    cases.push_back({"uncoupled bath with dephasing only, N = " + std::to_string(N), std::make_unique<CentralSpinModel>(p)});
  }
  for (const auto& c : cases) {
    INFO(c.name);
    const BlockMasterEquation me(*c.model);
    std::string verdict = "(solved)";
    double gap = 1.0;
    try {
      solve_steady_state(me);
    } catch (const SteadyStateNotUnique& e) {
      verdict = e.verdict();
      gap = e.gap();
      INFO(e.what());
    }
    CHECK(verdict == "is not unique");
    CHECK(gap < 1e-14);  // rounding level: measured 1e-18 .. 1e-16, or 0 for an exactly singular system
  }
}

TEST_CASE("steady state: unique states, slow ones included, are density matrices with the right values",
          "[steady]") {
  // Negative controls: nothing here has a second stationary state. Each solve must pass the
  // gap check and give a Hermitian, positive, trace-1 state within the stated tolerance.
  struct Case {
    std::string name;
    std::unique_ptr<SectorModel> model;
  };
  std::vector<Case> cases;
  for (int N : {1, 3, 6, 10}) {
    CentralSpinParameters p;
    p.N = N;
    cases.push_back({"Fig. 2, N = " + std::to_string(N), std::make_unique<CentralSpinModel>(p)});
    p.gamma_up = p.gamma_down = 0.0;  // relaxes only through the bath
    cases.push_back({"central spin damped only by the bath, N = " + std::to_string(N), std::make_unique<CentralSpinModel>(p)});
  }
  {
    CentralSpinParameters p = without_fluctuations({});
    p.N = 1;  // one Dicke sector: a bath without dissipation conserves nothing here
    p.Gamma_up = p.Gamma_down = p.Gamma_phi = 0.0;
    cases.push_back({"one bath spin without dissipation", std::make_unique<CentralSpinModel>(p)});
    cases.push_back({"spin_boson, Fig. 2", std::make_unique<SpinBosonModel>(CentralSpinParameters{}, 32)});
  }
  for (const auto& c : cases) {
    INFO(c.name);
    const BlockMasterEquation me(*c.model);
    const SteadyState ss = solve_steady_state(me);
    INFO("gap " << ss.gap << ", tolerance " << ss.state_tolerance);
    CHECK(ss.gap >= 1e-4);  // these relax at rates of order 0.01 .. 1 against |L| of order 10 .. 100
    CHECK(ss.residual < 1e-12);
    CHECK(ss.trace_error < 1e-12);
    CHECK(ss.anti_hermitian <= ss.state_tolerance);
    CHECK(ss.min_eigenvalue >= -ss.state_tolerance);
    CHECK(ss.state_tolerance == 1e-9);  // the floor: 1e3 eps / gap is smaller for gap >= 1e-4
  }

  // Slow but resolvable: the central spin decoupled (g0 = 0) relaxes only through a tiny
  // gamma_down. Its reduced state is the lone spin's, whatever the bath does; the solve is
  // accurate to the stated tolerance 1e3 eps / gap (measured errors are 1 to 10 eps / gap).
  for (double gamma : {1e-4, 1e-6, 1e-8}) {
    RunConfig c;
    c.model.N = 3;
    c.model.g0 = 0.0;
    c.model.gamma_up = 0.0;
    c.model.gamma_down = gamma;
    const Stationary st = stationary(c);
    const Eigen::Vector3d exact = lone_spin_stationary(c.model.w, gamma);
    const double tol = st.info["state_tolerance"].get<double>();
    const double gap = st.info["relative_gap"].get<double>();
    INFO("gamma_down = " << gamma << ", gap " << gap << ", tolerance " << tol);
    CHECK(gap > 1e-10);
    CHECK(gap < 1e-1 * gamma);  // the slowest mode is the central spin's, ~gamma / |L| with |L| ~ 10
    CHECK(tol == Approx(std::max(1e-9, 1e3 * std::numeric_limits<double>::epsilon() / gap)));
    CHECK(st.info["smallest_eigenvalue"].get<double>() >= -tol);
    CHECK(st.info["anti_hermitian_part"].get<double>() <= tol);
    for (int a = 0; a < 3; ++a) CHECK(st.values[a] == Approx(exact(a)).margin(tol));
  }
}

TEST_CASE("steady state: a relaxation too slow to resolve is refused with its rate", "[steady]") {
  for (double gamma : {1e-10, 1e-12}) {
    CentralSpinParameters p;
    p.N = 3;
    p.g0 = 0.0;
    p.gamma_up = 0.0;
    p.gamma_down = gamma;
    const CentralSpinModel model(p);
    const BlockMasterEquation me(model);
    std::string verdict, what;
    double gap = 1.0;
    try {
      solve_steady_state(me);
    } catch (const SteadyStateNotUnique& e) {
      verdict = e.verdict();
      what = e.what();
      gap = e.gap();
    }
    INFO(what);
    CHECK(verdict == "is not resolved");
    // The slow mode is the central spin's decay: its coherences relax at gamma/2, its
    // population at gamma; gap * |L| is ||L y|| / ||y|| for the mode found, between the two.
    const Eigen::SparseMatrix<cplx> L = me.assemble();
    double scale = 0.0;  // ||L||_1
    for (Index j = 0; j < L.outerSize(); ++j) {
      double column = 0.0;
      for (Eigen::SparseMatrix<cplx>::InnerIterator it(L, j); it; ++it) column += std::abs(it.value());
      scale = std::max(scale, column);
    }
    CHECK(gap * scale >= 0.4 * gamma);
    CHECK(gap * scale <= 1.1 * gamma);
    CHECK(gap > 1e-14);
    CHECK(gap < 1e-10);
    CHECK(what.find("slowest relaxation rate") != std::string::npos);
  }
}

TEST_CASE("stationary(): a state that is not unique is an input error naming what is conserved", "[steady]") {
  RunConfig c;
  c.model.N = 3;
  c.model.g0 = 0.0;
  c.model.gamma_up = c.model.gamma_down = 0.0;
  for (auto kind : {ModelKind::central_spin, ModelKind::spin_boson}) {
    c.kind = kind;
    try {
      stationary(c);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(e.key() == "model.g0");
      CHECK_THAT(e.what(), Catch::Contains("the stationary state is not unique: the central spin has no dissipation"));
    }
  }
  RunConfig bath;
  bath.model = without_fluctuations({});
  bath.model.N = 4;
  bath.model.Gamma_up = bath.model.Gamma_down = bath.model.Gamma_phi = 0.0;
  try {
    stationary(bath);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.key() == "model.Gamma_down");
    CHECK_THAT(e.what(), Catch::Contains("not unique") && Catch::Contains("total spin j is conserved"));
  }
  RunConfig slow;
  slow.model.g0 = 0.0;
  slow.model.gamma_up = 0.0;
  slow.model.gamma_down = 1e-12;
  try {
    stationary(slow);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.key() == "model");
    CHECK_THAT(e.what(), Catch::Contains("is not resolved") && Catch::Contains("below the solver's resolution"));
  }
}

TEST_CASE("stationary(): inhomogeneous couplings are refused up front, naming the key", "[steady]") {
  // The full-space generator is not assembled; the refusal must come before any memory estimate
  // of its 4^(N+1) unknowns (at N = 20 that estimate alone would be the message).
  for (int N : {3, 20}) {
    RunConfig c;
    c.model.N = N;
    c.couplings.assign(std::size_t(N), 1.0);
    CHECK_THROWS_WITH(stationary(c), Catch::StartsWith("model.couplings: steady solves the Dicke-sector and spin_boson"));
  }
}
