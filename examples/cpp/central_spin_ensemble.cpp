// A quantum-trajectory ensemble of the central spin model through the library API, checked
// against the exact block master equation.
//
// The model is the Fig. 2 point of Carollo, PRL 131, 227102 (2023) (CentralSpinParameters'
// defaults: w = (1, 0, 0.5), g = 4/sqrt(N), gamma_up = 0.8, gamma_down = 0.1, Gamma_up = 0.2,
// Gamma_down = 1, central spin up, bath in its steady state) with N = 10 bath spins. The ensemble
// (2000 trajectories, seed 7) and the master equation are evaluated on t = 0, 0.25, ..., 2; the
// table lists tau_z from both, the ensemble's standard error and z = (traj - exact) / error.
//
// Usage: central_spin_ensemble [NTRAJ]. Exit code 0 when every |z| < 5, 1 otherwise (the run is
// seeded, so the outcome is reproducible, and independent of the thread count).
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/time_series.hpp"

// The headers of a simulation (model, solver, results) must not pull in the config parser's
// TOML library or the JSON library (issue 11; diagnostics reach them as a forward declaration).
#ifdef TOMLPLUSPLUS_H
#error "toml++ is reachable from the simulation headers"
#endif
#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "nlohmann/json.hpp is reachable from the simulation headers"
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

/// Index of a named column of a result (exits when it is missing).
Eigen::Index column(const qfluct::TimeSeries& series, const std::string& name) {
  const auto it = std::find(series.columns.begin(), series.columns.end(), name);
  if (it == series.columns.end()) {
    std::fprintf(stderr, "central_spin_ensemble: no column %s in the results\n", name.c_str());
    std::exit(1);
  }
  return Eigen::Index(it - series.columns.begin());
}

}  // namespace

int main(int argc, char** argv) {
  qfluct::CentralSpinParameters p;  // the Fig. 2 point
  p.N = 10;
  p.validate();
  const qfluct::CentralSpinModel model(p);
  const std::vector<double> times = qfluct::time_grid(2.0, 0.25);

  const qfluct::TimeSeries exact = qfluct::BlockMasterEquation(model).solve(times);

  qfluct::EnsembleOptions options;
  options.ntraj = argc > 1 ? std::atol(argv[1]) : 2000;
  options.seed = 7;
  if (options.ntraj < 2) {
    std::fprintf(stderr, "usage: central_spin_ensemble [NTRAJ >= 2]\n");
    return 2;
  }
  const qfluct::TimeSeries traj = qfluct::run_ensemble(model, times, options);

  const Eigen::Index ce = column(exact, "tau_z"), ct = column(traj, "tau_z");
  std::printf("central spin, N = %d, g = %.4f: tau_z from %ld trajectories against the master equation\n",
              p.N, p.g(), options.ntraj);
  std::printf("%5s %12s %12s %10s %7s\n", "t", "exact", "trajectories", "std.err", "z");
  double worst = 0.0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    const Eigen::Index r = Eigen::Index(i);
    const double e = exact.values(r, ce), m = traj.values(r, ct), err = traj.errors(r, ct);
    // At t = 0 every trajectory starts in the same central state: no spread, and both solvers
    // agree up to rounding (1e-12 is far above it and far below any real mismatch).
    const double z = err > 0 ? (m - e) / err : (std::abs(m - e) <= 1e-12 ? 0.0 : INFINITY);
    worst = std::max(worst, std::abs(z));
    std::printf("%5.2f %12.6f %12.6f %10.2e %7.2f\n", times[i], e, m, err, z);
  }
  // The errors are standard errors of a mean over independent trajectories, so each z is close
  // to a standard normal; |z| >= 5 at any of the 9 times has probability below 1e-5.
  const bool ok = worst < 5.0;
  std::printf("%s: largest |z| = %.2f\n", ok ? "ok" : "FAILED", worst);
  return ok ? 0 : 1;
}
