// An open system built in code with the library API (no configuration file): the damped
// Jaynes-Cummings model, a qubit coupled to one lossy cavity mode,
//   H = (Delta/2) sigma_z + g (sigma_+ a + sigma_- a^+),   D[a] at rate kappa, D[sigma_-] at gamma,
// from the qubit excited and the cavity empty (vacuum Rabi oscillations that decay).
// Runs the master equation and a quantum-jump ensemble on the same model and prints the qubit
// excitation and the photon number side by side; exits 1 if the ensemble misses the master
// equation by more than 5 standard errors anywhere.
//
//   build/examples/open_system_jaynes_cummings [ntraj]
#include "qfluct/model/observables.hpp"
#include "qfluct/model/open_system.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  using namespace qfluct;
  const long ntraj = argc > 1 ? std::atol(argv[1]) : 2000;
  const double Delta = 0.2, g = 1.0, kappa = 0.4, gamma = 0.05;

  OpenSystemSpec spec;
  CMat sigma_z(2, 2), sigma_plus = CMat::Zero(2, 2), sigma_minus = CMat::Zero(2, 2);
  sigma_z << 1, 0, 0, -1;       // basis index 0 = up (excited)
  sigma_plus(0, 1) = 1.0;       // |up><down|
  sigma_minus(1, 0) = 1.0;
  spec.H = 0.5 * Delta * sigma_z;
  spec.initial = CMat::Zero(2, 2);
  spec.initial(0, 0) = 1.0;     // excited qubit
  spec.channels = {{"qubit_decay", sigma_minus, gamma}};
  spec.modes = {{/*omega*/ 0.0, /*kappa_down*/ kappa, /*kappa_up*/ 0.0, /*nbar*/ 0.0, /*fock_cutoff*/ 0}};
  spec.couplings = {{g * sigma_plus, /*a*/ {1.0}, /*a_dag*/ {0.0}}};  // g sigma_+ a + h.c.
  spec.observables = {{"sigma_z", sigma_z}};

  const double t_end = 8.0;
  const OpenSystemModel model(spec, estimate_fock_cutoffs(spec, t_end, 1e-10));
  const std::vector<double> times = time_grid(t_end, 0.5);

  const TimeSeries exact = BlockMasterEquation(model).solve(times);
  EnsembleOptions options;
  options.ntraj = ntraj;
  options.seed = 2026;
  const TimeSeries traj = run_ensemble(model, times, options);

  const ObservableSet columns(model);
  const Index sz = columns.column_index("sigma_z"), n = columns.column_index("n_0");
  std::printf("Damped Jaynes-Cummings model (cutoff %ld): master equation vs %ld trajectories\n",
              model.cutoffs()[0], ntraj);
  std::printf("%6s %12s %22s %12s %22s\n", "t", "<sigma_z>", "trajectories", "<n>", "trajectories");
  double worst = 0.0;
  for (Index i = 0; i < Index(times.size()); ++i) {
    std::printf("%6.2f %12.6f %12.6f +- %7.5f %12.6f %12.6f +- %7.5f\n", times[std::size_t(i)], exact.values(i, sz),
                traj.values(i, sz), traj.errors(i, sz), exact.values(i, n), traj.values(i, n), traj.errors(i, n));
    for (Index c : {sz, n})
      if (traj.errors(i, c) > 0) worst = std::max(worst, std::abs(traj.values(i, c) - exact.values(i, c)) / traj.errors(i, c));
  }
  std::printf("largest |z| = %.2f (expected below ~3.5 for %zu x 2 values)\n", worst, times.size());
  return worst < 5.0 ? 0 : 1;
}
