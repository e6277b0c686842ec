// Trajectory benchmark at the Fig. 2 point (Carollo 2023), t in [0, 4], dt = 0.05:
//   1. single-thread cost per trajectory for N = 10 ... 1e6 and its fitted exponent in N;
//   2. parallel efficiency on 2 threads (N = 1000);
//   3. adaptive windows against full sectors at N = 200 with the same seeds;
//   4. N = 80: time to reach stderr(tau_z) < 1e-3 with trajectories, next to the block ME.
// Usage: bench_trajectories [--quick] [--csv FILE]. Prints Markdown; see bench/README.md.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/jump_unravelling.hpp"
#include "qfluct/solver/master_equation.hpp"

#include <nlohmann/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <omp.h>
#include <string>

using namespace qfluct;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

CentralSpinParameters fig2(int N) {
  CentralSpinParameters p;
  p.N = N;
  return p;
}

struct Rate {
  int N;
  long trajectories;
  double seconds, jumps_per_trajectory, us_per_jump;
  Index largest_window;
};

/// Single thread: trajectories until `budget` seconds have passed (at least `minimum`).
Rate single_thread_rate(int N, double budget, long minimum) {
  const CentralSpinModel model(fig2(N));
  JumpUnravelling u(model, time_grid(4.0, 0.05));
  RVec record(u.record_size());
  TrajectoryStatistics stats;
  const auto start = clock_type::now();
  long n = 0;
  while (n < minimum || seconds_since(start) < budget) {
    Rng rng = trajectory_rng(2024, std::uint64_t(n));
    u.run(rng, record.data(), stats);
    ++n;
  }
  const double s = seconds_since(start);
  return {N, n, s, double(stats.jumps) / double(n), 1e6 * s / double(stats.jumps), stats.max_window};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string csv_path = "bench/results/trajectories.csv";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--csv" && i + 1 < argc) csv_path = argv[++i];
    else {
      fmt::print(stderr, "usage: bench_trajectories [--quick] [--csv FILE]   (default FILE: {})\n", csv_path);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  // Line-buffered, so that a long run piped into a file shows its tables as they are measured.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::ofstream csv(csv_path);
  csv << "section,N,threads,trajectories,seconds,value,unit\n";
  const auto times = time_grid(4.0, 0.05);

  // 1. Cost per trajectory against N, one thread.
  fmt::print("## Single-thread cost per trajectory (Fig. 2 point, t in [0, 4])\n\n");
  fmt::print("| N | trajectories | s/trajectory | trajectories/s | jumps/trajectory | us/jump | largest window |\n");
  fmt::print("|---|---|---|---|---|---|---|\n");
  std::vector<int> sizes = {10, 100, 1000, 10000, 100000, 1000000};
  std::vector<double> logN, logcost;
  for (int N : sizes) {
    const double budget = quick ? 2.0 : (N >= 1000000 ? 60.0 : 20.0);
    const Rate r = single_thread_rate(N, budget, 3);
    const double per = r.seconds / double(r.trajectories);
    fmt::print("| {} | {} | {:.4g} | {:.4g} | {:.0f} | {:.3f} | {} |\n", N, r.trajectories, per, 1.0 / per,
               r.jumps_per_trajectory, r.us_per_jump, r.largest_window);
    csv << fmt::format("rate,{},1,{},{},{},s_per_trajectory\n", N, r.trajectories, r.seconds, per);
    csv << fmt::format("us_per_jump,{},1,{},{},{},us\n", N, r.trajectories, r.seconds, r.us_per_jump);
    if (N >= 1000) logN.push_back(std::log(double(N))), logcost.push_back(std::log(per));
  }
  double mx = 0, my = 0, sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < logN.size(); ++i) mx += logN[i] / logN.size(), my += logcost[i] / logN.size();
  for (std::size_t i = 0; i < logN.size(); ++i) sxy += (logN[i] - mx) * (logcost[i] - my), sxx += (logN[i] - mx) * (logN[i] - mx);
  fmt::print("\nFitted cost exponent over N = 1e3 ... 1e6: seconds/trajectory ~ N^{:.3f} (goal: <= 1.1)\n\n", sxy / sxx);
  csv << fmt::format("exponent,1000-1000000,1,,,{},N_power\n", sxy / sxx);

  // 2. Parallel efficiency.
  {
    const CentralSpinModel model(fig2(1000));
    EnsembleOptions o;
    o.ntraj = quick ? 400 : 4000;
    o.seed = 11;
    omp_set_num_threads(1);
    auto start = clock_type::now();
    const TimeSeries one = run_ensemble(model, times, o);
    const double t1 = seconds_since(start);
    omp_set_num_threads(2);
    start = clock_type::now();
    const TimeSeries two = run_ensemble(model, times, o);
    const double t2 = seconds_since(start);
    const bool identical = (one.values.array() == two.values.array()).all() && (one.errors.array() == two.errors.array()).all();
    fmt::print("## Parallel efficiency (N = 1000, {} trajectories)\n\n1 thread {:.2f} s, 2 threads {:.2f} s: "
               "efficiency {:.1f}% (goal >= 90%); results bit-identical: {}\n\n",
               o.ntraj, t1, t2, 100.0 * t1 / (2.0 * t2), identical ? "yes" : "NO");
    csv << fmt::format("efficiency,1000,2,{},{},{},percent\n", o.ntraj, t2, 100.0 * t1 / (2.0 * t2));
  }

  // 3. Windows against full sectors.
  {
    const CentralSpinModel model(fig2(200));
    EnsembleOptions o;
    o.ntraj = quick ? 100 : 1000;
    o.seed = 3;
    auto start = clock_type::now();
    const TimeSeries windowed = run_ensemble(model, times, o);
    const double tw = seconds_since(start);
    o.jump.full_sectors = true;
    start = clock_type::now();
    const TimeSeries full = run_ensemble(model, times, o);
    const double tf = seconds_since(start);
    const double diff = (windowed.values - full.values).cwiseAbs().maxCoeff();
    fmt::print("## Adaptive windows against full sectors (N = 200, {} trajectories, same seeds)\n\n"
               "max |difference| over all times and columns: {:.3g} (goal: <= 1e-9); windowed {:.2f} s, "
               "full {:.2f} s: {:.1f}x faster; largest window {} rungs of {}\n\n",
               o.ntraj, diff, tw, tf, tf / tw, windowed.info["largest_window"].get<long>(), 201);
    csv << fmt::format("window_vs_full,200,{},{},{},{},max_abs_difference\n", omp_get_max_threads(), o.ntraj, tw, diff);
  }

  // 4. N = 80: trajectories to stderr(tau_z) < 1e-3 against the block master equation.
  {
    const CentralSpinModel model(fig2(80));
    omp_set_num_threads(2);
    EnsembleOptions o;
    o.ntraj = quick ? 1000 : 10000;
    auto start = clock_type::now();
    const TimeSeries traj = run_ensemble(model, times, o);
    const double tt = seconds_since(start);
    const double err = traj.errors.col(2).maxCoeff();
    const double needed = double(o.ntraj) * (err / 1e-3) * (err / 1e-3);
    const double predicted = tt * needed / double(o.ntraj);
    omp_set_num_threads(1);
    start = clock_type::now();
    BlockMasterEquation(model).solve(times);
    const double tme = seconds_since(start);
    fmt::print("## N = 80: stderr(tau_z) < 1e-3\n\n{} trajectories on 2 threads: {:.2f} s, largest stderr(tau_z) "
               "{:.3g}; stderr falls like 1/sqrt(ntraj), so < 1e-3 needs {:.3g} trajectories, about {:.0f} s on 2 "
               "threads. The exact block ME (1 thread): {:.2f} s.\n\n",
               o.ntraj, tt, err, needed, predicted, tme);
    csv << fmt::format("tau_z_1e-3,80,2,{:.0f},{},,predicted_seconds\n", needed, predicted);
    csv << fmt::format("block_me,80,1,,{},,seconds\n", tme);
  }
  return 0;
}
