// Inhomogeneous couplings (full tensor-product space) and the rotated Dicke states of a
// polarised bath: the sector representation and the full space must agree.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/full_space_central_spin.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"

#include <catch2/catch.hpp>

using namespace qfluct;

TEST_CASE("linear coupling, bath polarised along x: sectors equal the full space (N = 5)", "[inhomogeneous][master]") {
  CentralSpinParameters p;
  p.N = 5;
  p.coupling = CouplingScaling::linear;
  p.h = {0.3, 0.0, 0.5};
  p.bath.steady = false;
  p.bath.r = {1.0, 0.0, 0.0};
  MasterOptions tight;  // integration errors ~1e-10, well below the 1e-8 asked of the reduction
  tight.tol = {1e-10, 1e-12};
  const auto times = time_grid(3.0, 0.25);
  const TimeSeries a = BlockMasterEquation(CentralSpinModel(p)).solve(times, tight);
  const TimeSeries b = BlockMasterEquation(FullSpaceCentralSpin(p)).solve(times, tight);
  CHECK((a.values - b.values).cwiseAbs().maxCoeff() < 1e-8);
}

TEST_CASE("rotated Dicke sampling: trajectories of a polarised bath agree with the ME", "[inhomogeneous][jump]") {
  // Pure (|r| = 1) and mixed bath along x: the trajectories start from sampled R|j,m>.
  // 2 cases x 6 times x 8 columns = 96 z-scores, |z| < 5 (Bonferroni false alarm < 1e-4).
  for (double length : {1.0, 0.7}) {
    CentralSpinParameters p;
    p.N = 5;
    p.coupling = CouplingScaling::linear;
    p.h = {0.3, 0.0, 0.5};
    p.bath.steady = false;
    p.bath.r = {length, 0.0, 0.0};
    const CentralSpinModel model(p);
    const auto times = time_grid(3.0, 0.5);
    MasterOptions tight;
    tight.tol = {1e-11, 1e-13};
    const TimeSeries exact = BlockMasterEquation(model).solve(times, tight);
    EnsembleOptions o;
    o.ntraj = 4000;
    o.seed = 17;
    const TimeSeries traj = run_ensemble(model, times, o);
    double worst = 0.0;
    for (Index t = 1; t < exact.values.rows(); ++t)
      for (Index c = 0; c < exact.values.cols(); ++c)
        worst = std::max(worst, std::abs(traj.values(t, c) - exact.values(t, c)) / traj.errors(t, c));
    INFO("|r| = " << length << ": max |z| = " << worst);
    CHECK(worst < 5.0);
  }
}

TEST_CASE("couplings all 1 equal the homogeneous model", "[inhomogeneous]") {
  RunConfig c;
  c.model.N = 4;
  c.solver.rtol = 1e-12;
  c.solver.atol = 1e-14;
  const TimeSeries homogeneous = simulate(c);
  c.couplings = std::vector<double>(4, 1.0);
  c.couplings_source = "array";
  const TimeSeries inhomogeneous = simulate(c);
  CHECK((homogeneous.values - inhomogeneous.values).cwiseAbs().maxCoeff() < 1e-8);

  // Trajectories in the full space (jumps on single spins, sparse operators) at N = 8 against
  // the exact Dicke-sector ME: 4 times x 8 columns = 32 z-scores, |z| < 4.5.
  RunConfig d;
  d.model.N = 8;
  d.output.t_end = 2.0;
  d.output.dt = 0.5;
  d.solver.rtol = 1e-11;
  d.solver.atol = 1e-13;
  const TimeSeries exact = simulate(d);
  d.couplings = std::vector<double>(8, 1.0);
  d.couplings_source = "array";
  d.solver.method = SolverMethod::jump;
  d.solver.ntraj = 1500;
  const TimeSeries traj = simulate(d);
  for (Index t = 1; t < exact.values.rows(); ++t)
    for (Index col = 0; col < exact.values.cols(); ++col) {
      INFO("t = " << exact.times[t] << ", " << exact.columns[col]);
      CHECK(std::abs(traj.values(t, col) - exact.values(t, col)) < 4.5 * traj.errors(t, col));
    }
}

TEST_CASE("random couplings are normalised and reproducible", "[inhomogeneous]") {
  for (const std::string dist : {"uniform", "gaussian", "exponential"}) {
    const auto a = random_couplings(dist, 12, 5), b = random_couplings(dist, 12, 5), c = random_couplings(dist, 12, 6);
    double sum2 = 0;
    for (double x : a) sum2 += x * x;
    CHECK(sum2 / 12 == Approx(1.0).epsilon(1e-14));
    CHECK(a == b);
    CHECK(a != c);
  }
}
