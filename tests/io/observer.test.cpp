// SimulateOptions::observer (simulate.hpp): it hears every progress report of a run, from the
// calling thread or OpenMP workers, and an exception it throws stops the run and leaves simulate
// (how the Python module stops a run on Ctrl-C). Checked for the solvers' report sites: the
// master equation (calling thread), a trajectory ensemble (workers, inside a parallel region)
// and a finite reservoir (sectors in a parallel region).
#include "qfluct/simulate.hpp"
#include "support/config.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <omp.h>
#include <string>

using namespace qfluct;

namespace {

struct Stop {};

const char* central_spin = R"(
[model]
kind = "central_spin"
N = 6
g0 = 4.0
w = [1.0, 0.0, 0.5]
gamma_up = 0.8
gamma_down = 0.1
Gamma_up = 0.2
Gamma_down = 1.0
[output]
t_end = 1.0
dt = 0.05
)";

const char* finite_reservoir = R"(
[model]
kind = "finite_reservoir"
[system]
H = "0.5*sigma_z"
initial = [[0.7, [0.3, -0.2]], [[0.3, 0.2], 0.3]]
[reservoir]
h = [[1, 0], [0, 0]]
rho = [[0.8, 0], [0, 0.2]]
M = 6
[[reservoir.coupling]]
G = "0.5*sigma_minus"
v = "sigma_plus"
[output]
t_end = 2.0
dt = 0.1
)";

/// Runs `config` with an observer that counts reports and throws Stop at report `stop_at` (0:
/// never); returns the number of reports heard (with stop_at, whether Stop left simulate).
long reports(const RunConfig& config, long stop_at, bool& stopped, double& last_done, double& total) {
  std::atomic<long> heard{0};
  SimulateOptions options;
  options.observer = [&](const std::string&, double done, double t) {
    const long n = ++heard;
#pragma omp critical(observer_test)
    {
      last_done = std::max(last_done, done);
      total = t;
    }
    if (stop_at > 0 && n >= stop_at) throw Stop{};
  };
  stopped = false;
  try {
    simulate(config, options);
  } catch (const Stop&) {
    stopped = true;
  }
  return heard;
}

}  // namespace

TEST_CASE("observer: hears every report and stops a run by throwing", "[io][progress]") {
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);
  struct Case {
    const char* name;
    RunConfig config;
  };
  const Case cases[] = {
      {"master equation", test::config(central_spin)},
      {"trajectories", test::config(central_spin, {"solver.method=\"jump\"", "solver.ntraj=64"})},
      {"finite reservoir", test::config(finite_reservoir)},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      bool stopped = false;
      double done = 0, total = 0;
      const long all = reports(c.config, 0, stopped, done, total);
      CHECK_FALSE(stopped);
      CHECK(all >= 3);
      CHECK(done == total);  // the last report is the whole run (exact: counts, or the fraction 1)
      done = 0;
      const long heard = reports(c.config, all / 2, stopped, done, total);  // stop half way
      CHECK(stopped);       // the exception left simulate (from workers too), nothing terminated
      CHECK(heard < all);   // ... before the run's last report (workers may finish their unit first)
    }
  }
  omp_set_num_threads(threads);
}
