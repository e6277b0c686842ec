// The emergent spin-boson model (Carollo 2023, Eq. (9)): closed forms at g0 = 0, Fock-cutoff
// convergence, trajectories against its master equation, and the 1/N convergence of the
// finite-N central spin model to it.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/spin_boson.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/steady_state.hpp"

#include <nlohmann/json.hpp>
#include <catch2/catch.hpp>
#include <cmath>

using namespace qfluct;

namespace {
CentralSpinParameters fig2() { return CentralSpinParameters{}; }

double max_abs_difference(const TimeSeries& a, const TimeSeries& b, Index column) {
  return (a.values.col(column) - b.values.col(column)).cwiseAbs().maxCoeff();
}
}  // namespace

TEST_CASE("g0 = 0: the boson stays thermal", "[spin_boson]") {
  // Without coupling the boson evolves under kappa_down D[a] + kappa_up D[a^+] from the thermal
  // state with nbar = kappa_up / (kappa_down - kappa_up): it is stationary and Gaussian, so
  // n = nbar, Q2 = nbar + 1/2, Q4 = 3 Q2^2, nongauss = 0 at all times. Dephasing and h_z (the
  // extensions) must keep it so. Tolerance 1e-9: integration error (rtol 1e-11) plus a
  // truncation error of order x^32 with x = nbar/(1 + nbar) = 0.2.
  for (bool extended : {false, true}) {
    CentralSpinParameters p = fig2();
    p.g0 = 0.0;
    if (extended) p.Gamma_phi = 0.3, p.h = {0, 0, 0.4};
    const SpinBosonModel model(p, 32);
    const double nbar = model.rates().nbar;
    CHECK(nbar == Approx(p.Gamma_up / (p.eps() * p.Gamma_plus())));
    MasterOptions tight;
    tight.tol = {1e-11, 1e-13};
    const TimeSeries r = BlockMasterEquation(model).solve(time_grid(4.0, 0.25), tight);
    for (Index t = 0; t < r.values.rows(); ++t) {
      INFO("t = " << r.times[t] << (extended ? " with dephasing and h_z" : ""));
      CHECK(std::abs(r.values(t, 3)) < 1e-9);                                 // q
      CHECK(r.values(t, 4) == Approx(nbar + 0.5).margin(1e-9));               // Q2
      CHECK(r.values(t, 5) == Approx(3 * (nbar + 0.5) * (nbar + 0.5)).margin(1e-9));  // Q4
      CHECK(std::abs(r.values(t, 6)) < 1e-9);                                 // nongauss
      CHECK(r.values(t, 7) == Approx(nbar).margin(1e-9));                     // n
    }
  }
}

TEST_CASE("raising the Fock cutoff changes results by less than the reported bound", "[spin_boson]") {
  // The reported bound is the population p_top of the two highest kept levels (max over t).
  // An observable that grows like n^(k/2) on high levels (tau: k = 0; q: 1; Q2, n: 2; Q4,
  // nongauss: 4) can change by at most about p_top (cutoff + 1)^(k/2); a factor 2 covers the two
  // levels counted in p_top.
  const int order[8] = {0, 0, 0, 1, 2, 4, 4, 2};
  for (long cutoff : {8L, 12L, 16L}) {
    RunConfig c;
    c.kind = ModelKind::spin_boson;
    c.fock_cutoff = cutoff;
    c.fock_tol = 1e-2;
    c.solver.rtol = 1e-11;
    c.solver.atol = 1e-13;
    const TimeSeries low = simulate(c);
    c.fock_cutoff = 4 * cutoff;
    const TimeSeries high = simulate(c);
    const double bound = low.info["derived"]["fock_top_population"].get<double>();
    REQUIRE(bound > 0);
    for (Index col = 0; col < 8; ++col) {
      INFO("cutoff " << cutoff << ", column " << low.columns[col] << ", bound " << bound);
      CHECK(max_abs_difference(low, high, col) <= 2 * bound * std::pow(double(cutoff + 1), order[col] / 2.0) + 1e-10);
    }
  }
}

TEST_CASE("a cutoff that truncates real population is an error naming it", "[spin_boson]") {
  RunConfig c;
  c.kind = ModelKind::spin_boson;
  c.fock_cutoff = 4;
  CHECK_THROWS_WITH(simulate(c), Catch::Contains("model.fock_cutoff") && Catch::Contains("truncates"));
}

TEST_CASE("spin_boson trajectories agree with its master equation", "[spin_boson][jump]") {
  // 2 cases x 8 times (t = 0.25 .. 2) x 8 columns = 128 z-scores; |z| < 5 keeps the
  // family-wise false-alarm probability below 128 * 5.7e-7 < 1e-4 (Bonferroni).
  const auto times = time_grid(2.0, 0.25);
  for (bool extended : {false, true}) {
    CentralSpinParameters p = fig2();
    if (extended) p.Gamma_phi = 0.2, p.h = {0, 0, 0.3}, p.central = {0.4, 0.3, -0.2};
    const SpinBosonModel model(p, 40);
    MasterOptions tight;
    tight.tol = {1e-11, 1e-13};
    const TimeSeries exact = BlockMasterEquation(model).solve(times, tight);
    EnsembleOptions o;
    o.ntraj = 4000;
    o.seed = 31;
    const TimeSeries traj = run_ensemble(model, times, o);
    double worst = 0.0;
    for (Index t = 1; t < traj.values.rows(); ++t)
      for (Index col = 0; col < traj.values.cols(); ++col)
        worst = std::max(worst, std::abs(traj.values(t, col) - exact.values(t, col)) / traj.errors(t, col));
    INFO((extended ? "with dephasing, h_z, mixed central spin" : "Fig. 2 point") << ": max |z| = " << worst);
    CHECK(worst < 5.0);
  }
}

TEST_CASE("finite N converges to the spin_boson model like 1/N", "[spin_boson][convergence]") {
  // Carollo 2023, Fig. 2 insets: max over t in [0, 4] of |<O>_N - <O>_emergent| ~ 1/N. Block ME
  // at N = 10, 40, 160 (rtol 1e-7: its errors are far below the distances, >= 3e-3); the fitted
  // slope of log distance against log N must lie in [-1.3, -0.7] for tau_z, q and Q4.
  RunConfig c;
  c.solver.rtol = 1e-7;
  c.solver.atol = 1e-9;
  c.output.dt = 0.1;
  c.kind = ModelKind::spin_boson;
  const TimeSeries emergent = simulate(c);
  c.kind = ModelKind::central_spin;
  const std::vector<int> Ns = {10, 40, 160};
  std::vector<std::array<double, 3>> distance;
  for (int N : Ns) {
    c.model.N = N;
    const TimeSeries finite = simulate(c);
    distance.push_back({max_abs_difference(finite, emergent, 2), max_abs_difference(finite, emergent, 3),
                        max_abs_difference(finite, emergent, 5)});
  }
  const char* names[3] = {"tau_z", "q", "Q4"};
  for (int k = 0; k < 3; ++k) {
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < Ns.size(); ++i) mx += std::log(double(Ns[i])) / 3, my += std::log(distance[i][k]) / 3;
    double sxy = 0, sxx = 0;
    for (std::size_t i = 0; i < Ns.size(); ++i) {
      const double dx = std::log(double(Ns[i])) - mx;
      sxy += dx * (std::log(distance[i][k]) - my), sxx += dx * dx;
    }
    INFO(names[k] << ": distances " << distance[0][k] << ", " << distance[1][k] << ", " << distance[2][k]
                  << "; slope " << sxy / sxx);
    CHECK(distance[1][k] < distance[0][k]);
    CHECK(distance[2][k] < distance[1][k]);
    CHECK(sxy / sxx > -1.3);
    CHECK(sxy / sxx < -0.7);
  }
}

TEST_CASE("the extensions (h_z -> boson frequency, dephasing -> boson rates) converge like 1/N", "[spin_boson]") {
  // Our derivation, not the paper's: if the rates 4 Gamma_phi p/eps, 4 Gamma_phi + ... or the
  // frequency 2 h_z were wrong, the distance would level off instead of halving with N.
  RunConfig c;
  c.model.Gamma_phi = 0.3;
  c.model.h = {0.0, 0.0, 0.4};
  c.solver.rtol = 1e-8;
  c.solver.atol = 1e-10;
  c.output.dt = 0.1;
  c.kind = ModelKind::spin_boson;
  const TimeSeries emergent = simulate(c);
  c.kind = ModelKind::central_spin;
  const std::vector<int> Ns = {10, 20, 40};
  for (Index col : {2, 3, 5, 7}) {  // tau_z, q, Q4, n
    std::vector<double> d;
    for (int N : Ns) {
      c.model.N = N;
      d.push_back(max_abs_difference(simulate(c), emergent, col));
    }
    const double slope = std::log(d[2] / d[0]) / std::log(4.0);
    INFO(emergent.columns[col] << ": " << d[0] << ", " << d[1] << ", " << d[2] << "; slope " << slope);
    CHECK(slope > -1.3);
    CHECK(slope < -0.7);
  }
}

TEST_CASE("Fock tail bounds: exact for the thermal initial state, a true lower bound when stationary",
          "[spin_boson][cutoff]") {
  // thermal_top_population is the initial state's top-two population exactly.
  for (double Gamma_up : {0.2, 0.6, 0.9}) {
    CentralSpinParameters p = fig2();
    p.Gamma_up = Gamma_up;
    for (Index cutoff : {1, 4, 16, 64}) {
      const SpinBosonModel model(p, cutoff);
      const BlockMasterEquation me(model);
      const CVec y = me.pack(model.initial_density());
      INFO("Gamma_up " << Gamma_up << ", cutoff " << cutoff);
      CHECK(thermal_top_population(model.rates().nbar, cutoff) ==
            Approx(top_rung_population(model, me.blocks(y))).epsilon(1e-12));
    }
  }
  // The stationary bound never exceeds the solved top-two population: over couplings from none to
  // strong, central rates on and off, dephasing and h_z, moderate to large nbar, and cutoffs that
  // truncate heavily or not at all. Without coupling (G = 0) it is the thermal value exactly.
  struct Variant {
    double g0, gamma_up, gamma_down, Gamma_up, Gamma_phi, h_z;
  };
  const Variant variants[] = {{0.0, 0.8, 0.1, 0.2, 0.0, 0.0}, {4.0, 0.8, 0.1, 0.2, 0.0, 0.0}, {4.0, 0.0, 0.0, 0.6, 0.0, 0.0},
                              {1.0, 0.0, 2.0, 0.9, 0.0, 0.0}, {8.0, 3.0, 0.0, 0.5, 0.3, 0.4}, {0.5, 0.1, 0.1, 0.95, 0.0, 0.0}};
  for (const Variant& v : variants) {
    CentralSpinParameters p = fig2();
    p.g0 = v.g0;
    p.gamma_up = v.gamma_up;
    p.gamma_down = v.gamma_down;
    p.Gamma_up = v.Gamma_up;
    p.Gamma_phi = v.Gamma_phi;
    p.h = {0.0, 0.0, v.h_z};
    double previous = 2.0;
    for (Index cutoff : {2, 6, 16, 40}) {
      const SpinBosonModel model(p, cutoff);
      const BlockMasterEquation me(model);
      const SteadyState ss = solve_steady_state(me);
      const double top = top_rung_population(model, me.blocks(ss.rho));
      const double bound = stationary_top_population_bound(model.rates(), cutoff);
      INFO("g0 " << v.g0 << ", Gamma_up " << v.Gamma_up << ", cutoff " << cutoff << ": top " << top << ", bound " << bound);
      CHECK(bound <= top * (1 + 1e-9) + 1e-15);  // the solve is accurate to ~1e-13 relative (its state tolerance)
      CHECK(bound < previous);                   // decreasing in the cutoff
      previous = bound;
      if (v.g0 == 0.0) CHECK(bound == Approx(thermal_top_population(model.rates().nbar, cutoff)).epsilon(1e-12));
    }
  }
  // The smallest allowed cutoffs are the boundaries of the bounds.
  const SpinBosonRates r = SpinBosonRates::from(fig2());
  for (double target : {1e-4, 1e-10}) {
    const Index t = smallest_thermal_cutoff(r.nbar, target, 100000), s = smallest_stationary_cutoff(r, target, 100000);
    CHECK(thermal_top_population(r.nbar, t) <= target);
    CHECK(thermal_top_population(r.nbar, t - 1) > target);
    CHECK(stationary_top_population_bound(r, s) <= target);
    CHECK(stationary_top_population_bound(r, s - 1) > target);
  }
}

TEST_CASE("spin_boson: a boson no allowed cutoff can hold is refused before any solve, naming the key",
          "[spin_boson][cutoff]") {
  // nbar = 1e6 (the input), 1e4 and 1e3: the largest automatic cutoff, 4096, leaves
  // far more than fock_tol in the top levels, for the run (thermal initial state) and for the
  // stationary state. Each returns at once (before this change the first ran without end).
  for (double Gamma_up : {0.999999, 0.9999, 0.999}) {
    RunConfig c;
    c.kind = ModelKind::spin_boson;
    c.model.Gamma_up = Gamma_up;
    for (int steady = 0; steady < 2; ++steady) {
      INFO("Gamma_up = " << Gamma_up << (steady ? ", steady" : ", run"));
      try {
        if (steady) stationary(c);
        else simulate(c);
        FAIL("no error");
      } catch (const InputError& e) {
        CHECK(e.key() == "model.Gamma_up");
        CHECK_THAT(e.what(), Catch::Contains("nbar") && Catch::Contains("beyond the largest automatic one, 4096"));
      }
    }
  }
  // Near the edge with other rates: Gamma_down = 10 keeps nbar small, and both run.
  RunConfig c;
  c.kind = ModelKind::spin_boson;
  c.model.Gamma_up = 0.99;
  c.model.Gamma_down = 10.0;
  c.output.t_end = 0.5;
  CHECK_NOTHROW(simulate(c));
  CHECK_NOTHROW(stationary(c));
  // A fixed cutoff the thermal tail already rules out, and a huge one the memory estimate does.
  c = RunConfig{};
  c.kind = ModelKind::spin_boson;
  c.fock_cutoff = 8;
  CHECK_THROWS_WITH(simulate(c), Catch::Contains("model.fock_cutoff: the Fock cutoff 8 truncates real population") &&
                                     Catch::Contains("in the initial thermal state") && Catch::Contains("at least 16"));
  c.fock_cutoff = 10'000'000;
  CHECK_THROWS_WITH(simulate(c), Catch::StartsWith("model.fock_cutoff: the master equation at Fock cutoff 10000000 needs about"));
  CHECK_THROWS_WITH(stationary(c), Catch::StartsWith("model.fock_cutoff: the stationary sparse LU (4e+14 unknowns) at Fock cutoff 10000000"));
}

TEST_CASE("spin_boson: the automatic cutoff costs one solve and keeps the truncation it promises", "[spin_boson][cutoff]") {
  // Moderate nbar (0.25, 1): the estimate (no solve) must already keep the top levels below
  // fock_tol, so the run and the stationary solve happen once (no retries), and it must not be
  // wasteful: within a factor 4 of the smallest power of two from 16 that passes (the plain
  // doubling search it replaces, which solved up to 9 times). (Larger nbar costs minutes here:
  // the master equation at cutoff 128 is stiff.)
  for (double Gamma_up : {0.2, 0.5}) {
    RunConfig c;
    c.kind = ModelKind::spin_boson;
    c.model.Gamma_up = Gamma_up;
    c.output.t_end = 0.5;
    c.output.dt = 0.25;
    INFO("Gamma_up = " << Gamma_up);
    {
      const TimeSeries run = simulate(c);
      const long chosen = run.info["derived"]["fock_cutoff"].get<long>();
      CHECK(run.info["derived"]["fock_cutoff_retries"].get<int>() == 0);
      CHECK(run.info["derived"]["fock_top_population"].get<double>() <= c.fock_tol);
      long plain = 16;
      for (;; plain *= 2) {
        const SpinBosonModel model(c.model, plain);
        if (BlockMasterEquation(model).solve(time_grid(0.5, 0.25)).info["largest_top_rung_population"].get<double>() <=
            c.fock_tol)
          break;
      }
      CHECK(chosen <= 4 * plain);
    }
    const Stationary st = stationary(c);
    const long chosen = st.info["derived"]["fock_cutoff"].get<long>();
    CHECK(chosen == st.info["derived"]["fock_cutoff_estimate"].get<long>());  // no retry
    CHECK(st.info["derived"]["fock_top_population"].get<double>() <= c.fock_tol);
    long plain = 16;
    for (;; plain *= 2) {
      const SpinBosonModel model(c.model, plain);
      const BlockMasterEquation me(model);
      if (top_rung_population(model, me.blocks(solve_steady_state(me).rho)) <= c.fock_tol) break;
    }
    CHECK(chosen <= 4 * plain);
  }
}
