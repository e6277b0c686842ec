// The emergent spin-boson model (Carollo 2023, Eq. (9)): closed forms at g0 = 0, Fock-cutoff
// convergence, trajectories against its master equation, and the 1/N convergence of the
// finite-N central spin model to it.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/spin_boson.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"

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
