// The pruned (windowed) block master equation (solver/pruned_master_equation.hpp): it must give
// the unpruned block master equation's observables at the Fig. 2 point and for an x-polarised
// bath while carrying far fewer unknowns, discard no more weight than solver.prune_tol, give the
// same bytes for any thread count, and (with the automatic choice of the Chebyshev exponential)
// finish the stiff inputs of issue 15 with the exact answer. Config errors of solver.prune_tol.
#include "../io/process.hpp"
#include "support/csv.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/full_space_central_spin.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/pruned_master_equation.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <map>

using namespace qfluct;
using namespace qfluct::test;

namespace {

std::string fig2() { return std::string(QFLUCT_SOURCE_DIR) + "/examples/fig2.toml"; }

/// The largest |a - b| per column, over all times, with the column's name.
std::map<std::string, double> column_differences(const TimeSeries& a, const TimeSeries& b) {
  REQUIRE(a.columns == b.columns);
  REQUIRE(a.values.rows() == b.values.rows());
  std::map<std::string, double> d;
  for (Index c = 0; c < a.values.cols(); ++c) d[a.columns[std::size_t(c)]] = (a.values.col(c) - b.values.col(c)).cwiseAbs().maxCoeff();
  return d;
}

/// The largest |value| per column (the scale an error is compared with).
std::map<std::string, double> column_sizes(const TimeSeries& a) {
  std::map<std::string, double> d;
  for (Index c = 0; c < a.values.cols(); ++c) d[a.columns[std::size_t(c)]] = a.values.col(c).cwiseAbs().maxCoeff();
  return d;
}

/// Pruned (prune_tol) against unpruned, both by the Chebyshev exponential at default tolerances.
struct Comparison {
  TimeSeries pruned, exact;
};

Comparison compare(const CentralSpinParameters& p, double t_end, double prune_tol = 1e-12,
                   const TimeSeries* exact = nullptr) {
  const CentralSpinModel model(p);
  const auto times = time_grid(t_end, 0.05);
  MasterOptions options;
  options.integrator = MasterIntegrator::chebyshev;
  PruneOptions prune;
  prune.tol = prune_tol;
  Comparison c;
  c.exact = exact ? *exact : BlockMasterEquation(model).solve(times, options);
  c.pruned = solve_pruned(model, times, options, prune);
  return c;
}

/// The unpruned Fig. 2 run at N = 80, t in [0, 4] (shared by two tests: it is the expensive half).
const TimeSeries& fig2_exact_80() {
  static const TimeSeries exact = [] {
    CentralSpinParameters p;
    p.N = 80;
    MasterOptions options;
    options.integrator = MasterIntegrator::chebyshev;
    return BlockMasterEquation(CentralSpinModel(p)).solve(time_grid(4.0, 0.05), options);
  }();
  return exact;
}

/// Every column of the pruned run equals the exact one to 1e-9 (relative above 1).
void check_columns_agree(const Comparison& c) {
  const auto diff = column_differences(c.pruned, c.exact);
  const auto size = column_sizes(c.exact);
  for (const auto& [name, d] : diff) {
    INFO("column " << name << ": |pruned - exact| = " << d << ", column size " << size.at(name));
    CHECK(d <= 1e-9 * std::max(1.0, size.at(name)));
  }
}

using qfluct::test::read_csv;

/// The bound on the weight lost through the support's edges is at most prune_tol, and the trace
/// deficit it explains agrees with it up to the series' rounding (~1e-13 over a run).
void check_discarded(const nlohmann::json& info, double prune_tol) {
  CHECK(info["discarded_weight_bound"].get<double>() <= prune_tol);
  CHECK(info["trace_deficit"].get<double>() <= prune_tol + 1e-12);
  CHECK(info["trace_deficit"].get<double>() >= -1e-12);
}

struct CliRun {
  Ending ending;
  std::string err, csv;
  nlohmann::json sidecar;
};

/// qfluct run ARGS -o out.csv --quiet, in a scratch directory.
CliRun cli(std::vector<std::string> args) {
  ScratchDir s;
  args.insert(args.end(), {"-o", s.path("out.csv"), "--quiet"});
  CliRun r;
  r.ending = run_qfluct(args, r.err, s);
  r.csv = slurp(s.path("out.csv"));
  if (fs::exists(s.path("out.json"))) r.sidecar = nlohmann::json::parse(slurp(s.path("out.json")));
  return r;
}

}  // namespace

// At the Fig. 2 point (the defaults of CentralSpinParameters, as in examples/fig2.toml) the bath
// occupies O(sqrt N) sectors and O(1) rungs in each: the pruned equation with prune_tol = 1e-12
// must reproduce the unpruned one in every column to 1e-9 (issue 15's goal). Both are
// integrated by the Chebyshev series to ~1e-11 |rho| per output interval, and the discarded
// weight (<= 1e-12) moves an observable of size O(10) by ~1e-11; 1e-9 (relative for columns
// above 1) leaves room for both. "Fewer unknowns": at N = 80 every sector is still kept (the
// bath's band of sectors, width ~ sqrt(N), reaches the 1e-15 threshold only ~8 widths out),
// but the rung windows are O(1): the largest support must stay under half of the unpruned
// state (measured 0.44: a window's two top rungs feed rungs above the next sector's window, so
// they are edges too and the windows are a few rungs wider than the populations alone ask;
// 0.23 before they were counted), whose size is checked against the unpruned solver's own count.
TEST_CASE("pruned ME equals the unpruned ME at the Fig. 2 point, N = 80", "[pruned][master]") {
  CentralSpinParameters p;
  p.N = 80;
  const Comparison c = compare(p, 4.0, 1e-12, &fig2_exact_80());
  check_columns_agree(c);
  const auto& info = c.pruned.info["pruned"];
  INFO(info.dump());
  CHECK(info["unpruned_state_size"].get<double>() == c.exact.info["state_size"].get<double>());
  CHECK(info["largest_state_size"].get<double>() < 0.5 * c.exact.info["state_size"].get<double>());
  CHECK(c.pruned.info["state_size"].get<double>() <= info["largest_state_size"].get<double>());
  check_discarded(info, 1e-12);
}

// The same at N = 160 over t in [0, 1] (20 output intervals): the unpruned block ME takes
// ~50 s over [0, 4] on 2 idle cores (140 s under load), too long for this file's budget; the
// support grows at its edges from the first interval on. (Over [0, 4], checked once from the
// command line: 3.9e-13 at most.) The largest support must stay under a tenth of the unpruned
// state (measured 0.06).
TEST_CASE("pruned ME equals the unpruned ME at the Fig. 2 point, N = 160", "[pruned][master][slow]") {
  CentralSpinParameters p;
  p.N = 160;
  const Comparison c = compare(p, 1.0);
  check_columns_agree(c);
  const auto& info = c.pruned.info["pruned"];
  INFO(info.dump());
  CHECK(info["unpruned_state_size"].get<double>() == c.exact.info["state_size"].get<double>());
  CHECK(info["largest_state_size"].get<double>() < 0.1 * c.exact.info["state_size"].get<double>());
  check_discarded(info, 1e-12);
}

// The reported bound at a coarse tolerance, where it matters: with prune_tol = 1e-6 the run
// must discard at most 1e-6 (reported as 1 - tr rho), and each observable must stay within
// 1e-4 of the exact one. (The header promises "about prune_tol times their size"; an edge
// population of 1e-6 cut from the Hamiltonian's coupling as well as lost changes rho by O(1e-6)
// in trace norm, and the largest observable, the bath's n, Q4 ~ O(10), so 1e-4 allows a factor
// 10 over prune_tol x size and is still 100x below what an unbounded leak at that tolerance
// over 80 intervals would do.)
TEST_CASE("pruned ME at prune_tol = 1e-6 discards at most 1e-6", "[pruned][master]") {
  CentralSpinParameters p;
  p.N = 80;
  const Comparison c = compare(p, 4.0, 1e-6, &fig2_exact_80());
  const auto& info = c.pruned.info["pruned"];
  INFO(info.dump());
  check_discarded(info, 1e-6);
  const auto diff = column_differences(c.pruned, c.exact);
  const auto size = column_sizes(c.exact);
  for (const auto& [name, d] : diff) {
    INFO("column " << name << ": |pruned - exact| = " << d << ", column size " << size.at(name));
    CHECK(d <= 1e-4 * std::max(1.0, size.at(name)));
  }
}

// An x-polarised (pure Bloch-vector) bath: rho starts in the single sector j = N/2 with a rung
// window of width O(sqrt N) in the middle of the ladder, which then moves and spreads over
// sectors as the bath relaxes. The pruned equation must follow it: every column to 1e-9, the
// same reasons as at the Fig. 2 point. (At N = 40 - 80 the window at the 1e-15 threshold is
// nearly the whole ladder and the relaxation fills every sector: the support grows to the whole
// space, so this checks the growth and the moving window, not the savings.)
TEST_CASE("pruned ME equals the unpruned ME for an x-polarised bath, N = 40", "[pruned][master]") {
  CentralSpinParameters p;
  p.N = 40;
  p.bath.steady = false;
  p.bath.r = {1.0, 0.0, 0.0};
  const Comparison c = compare(p, 4.0);
  const auto diff = column_differences(c.pruned, c.exact);
  const auto size = column_sizes(c.exact);
  for (const auto& [name, d] : diff) {
    INFO("column " << name << ": |pruned - exact| = " << d << ", column size " << size.at(name));
    CHECK(d <= 1e-9 * std::max(1.0, size.at(name)));
  }
  const auto& info = c.pruned.info["pruned"];
  INFO(info.dump());
  check_discarded(info, 1e-12);
}

/// The mean-field study's input (examples/mean_field.toml): g = g0/N, a bath field along z and
/// a bath polarised along x, which relaxes towards the pole through O(N) rungs of O(N) sectors.
CentralSpinParameters mean_field_point(int N) {
  CentralSpinParameters p;
  p.N = N;
  p.coupling = CouplingScaling::linear;
  p.g0 = 2.0;
  p.h = {0.0, 0.0, 0.5};
  p.bath.steady = false;
  p.bath.r = {1.0, 0.0, 0.0};
  return p;
}

// The support follows a state that moves: after each group of output times it is trimmed where
// the state has left (ends holding far below the growth threshold), so it need not hold at
// once every place the state visits. At N = 80 the relaxing bath's support is cut back at least
// once and must still give every column of the unpruned equation to 1e-9 (the same budget as
// above: trimming cuts populations of ~1e-19 per end, far below prune_tol), with a final support
// below the whole space and the discarded weight (trimmed included) within prune_tol.
TEST_CASE("pruned ME follows a relaxing x-polarised bath, trimming its support, N = 80", "[pruned][master]") {
  const Comparison c = compare(mean_field_point(80), 4.0);
  check_columns_agree(c);
  const auto& info = c.pruned.info["pruned"];
  INFO(info.dump());
  CHECK(info["trims"].get<long>() >= 1);
  CHECK(c.pruned.info["state_size"].get<double>() < 0.8 * c.exact.info["state_size"].get<double>());
  CHECK(info["trimmed_weight"].get<double>() <= 1e-3 * 1e-12);
  check_discarded(info, 1e-12);
}

// Weight leaves a support not only through the outermost rung of a window: a Kraus term maps a
// sector's rungs to a neighbour's shifted by up to two, so where neighbouring windows differ (a
// sector added at the end of the range with its neighbour's window, windows trimmed on their own
// populations) a neighbour's bulk can feed rungs outside a window; those rungs are edges too.
// (A trimming variant without them lost 1.7e-5 of the trace at N = 160 by t = 1.3 while
// reporting a bound of 1e-13.) Whatever the support does, the trace deficit is an exact account
// of the loss: it must stay within the reported bound (plus the series' rounding, ~1e-14 per
// interval), and the bound within prune_tol. Pruned run only: the unpruned equation at N = 160
// takes minutes.
TEST_CASE("pruned ME loses no more than its bound where neighbouring windows differ, N = 160", "[pruned][master]") {
  const CentralSpinModel model(mean_field_point(160));
  MasterOptions options;
  options.integrator = MasterIntegrator::chebyshev;
  PruneOptions prune;
  const TimeSeries r = solve_pruned(model, time_grid(1.0, 0.05), options, prune);
  const auto& info = r.info["pruned"];
  INFO(info.dump());
  CHECK(info["trims"].get<long>() >= 1);
  CHECK(info["trace_deficit"].get<double>() <= info["discarded_weight_bound"].get<double>() + 1e-13);
  check_discarded(info, 1e-12);
}

// Same input, any thread count: the same bytes (the project's rule; the Chebyshev recurrence sums
// its norm over fixed chunks in a fixed order so that the stopping decision does not depend on
// the threads). Through the command line, with the default (pruned, automatic integrator)
// master equation at the Fig. 2 point, N = 80.
TEST_CASE("pruned ME: the same bytes for 1 and 2 threads", "[pruned][master][cli]") {
  const auto one = cli({"run", fig2(), "--set", "model.N=80", "--threads", "1"});
  const auto two = cli({"run", fig2(), "--set", "model.N=80", "--threads", "2"});
  INFO(one.err << two.err);
  REQUIRE((!one.ending.signaled && one.ending.code == 0));
  REQUIRE((!two.ending.signaled && two.ending.code == 0));
  REQUIRE(!one.csv.empty());
  CHECK(one.csv == two.csv);
  CHECK(one.sidecar["solver"].contains("pruned"));
}

// Issue 15 part 2's stiff inputs at N = 10 through the command line (fig2.toml otherwise):
// gamma_down = 1e6 (the central spin's decay: a real spectral extent ~1e6) and g0 = 1e4 with
// fixed coupling (oscillations at ~ g sqrt(N): an imaginary extent ~1e5).
// (a) On a span long enough for the automatic choice (stability alone would cost Dormand-Prince
//     thousands of steps) the sidecar must name the Chebyshev exponential, and the columns must
//     equal the unpruned block master equation integrated by another method: Rosenbrock
//     (L-stable) for the decay over t in [0, 4] (5 s), Dormand-Prince for the oscillation over
//     [0, 0.05] (one output interval: 1.5e5 steps, 7 s), both at rtol 1e-12, atol 1e-14.
// (b) Over a short span that resolves the fast transient (1e-5: the central spin decays by
//     e^-10; 2e-3: ~30 periods of the oscillation), with the Chebyshev exponential asked for,
//     against the same block ME by Dormand-Prince at rtol 1e-12.
// The full tensor-product space (2^11 states, 4e6 unknowns) is out of reach at N = 10 for an
// explicit method (~1 s per derivative): the next test compares with it at N = 5.
// 1e-8 is issue 15's accuracy goal; the references' global errors are ~1e-11.
namespace {

struct StiffCase {
  std::vector<std::string> set;
  std::function<void(CentralSpinParameters&)> apply;
  double t_end;                // (a): the automatic run's span (dt 0.05)
  MasterIntegrator reference;  // (a): the reference integrator
  double short_end, short_dt;  // (b)
};

std::vector<StiffCase> stiff_cases() {
  return {{{"--set", "model.gamma_down=1e6"}, [](CentralSpinParameters& p) { p.gamma_down = 1e6; }, 4.0,
           MasterIntegrator::rosenbrock, 1e-5, 1e-6},
          {{"--set", "model.g0=1e4", "--set", "model.coupling=\"fixed\""},
           [](CentralSpinParameters& p) { p.g0 = 1e4, p.coupling = CouplingScaling::fixed; }, 0.05,
           MasterIntegrator::dopri5, 2e-3, 1e-4}};
}

/// Every column of the CLI's CSV against `ref`, to 1e-8.
void check_columns(const std::string& csv, const TimeSeries& ref) {
  const auto got = read_csv(csv);
  for (Index c = 0; c < ref.values.cols(); ++c) {
    const std::string name = ref.columns[std::size_t(c)];
    REQUIRE(got.count(name) == 1);
    REQUIRE(Index(got.at(name).size()) == ref.values.rows());
    double worst = 0.0;
    for (Index i = 0; i < ref.values.rows(); ++i)
      worst = std::max(worst, std::abs(got.at(name)[std::size_t(i)] - ref.values(i, c)));
    INFO("column " << name << ": |qfluct - reference| = " << worst);
    CHECK(worst < 1e-8);
  }
}

CliRun stiff_run(const StiffCase& k, int N, double t_end, double dt, bool chebyshev) {
  std::vector<std::string> args = {"run", fig2(), "--set", fmt::format("model.N={}", N), "--set",
                                   fmt::format("output.t_end={}", t_end), "--set", fmt::format("output.dt={}", dt)};
  if (chebyshev) args.insert(args.end(), {"--set", "solver.integrator=\"chebyshev\""});
  args.insert(args.end(), k.set.begin(), k.set.end());
  return cli(args);
}

}  // namespace

TEST_CASE("stiff inputs at N = 10: Chebyshev chosen, equal to the block ME by other integrators", "[pruned][master][stiff][cli][slow]") {
  for (const StiffCase& k : stiff_cases()) {
    INFO(k.set.back());
    CentralSpinParameters p;  // fig2.toml's point
    k.apply(p);
    MasterOptions tight;
    tight.tol = {1e-12, 1e-14};
    {  // (a)
      const auto run = stiff_run(k, 10, k.t_end, 0.05, false);
      INFO("automatic: " << run.err);
      REQUIRE((!run.ending.signaled && run.ending.code == 0));
      INFO(run.sidecar["solver"].dump());
      CHECK(run.sidecar["solver"]["integrator"].get<std::string>().find("chebyshev") != std::string::npos);
      tight.integrator = k.reference;
      check_columns(run.csv, BlockMasterEquation(CentralSpinModel(p)).solve(time_grid(k.t_end, 0.05), tight));
    }
    {  // (b)
      const auto run = stiff_run(k, 10, k.short_end, k.short_dt, true);
      INFO("short span: " << run.err);
      REQUIRE((!run.ending.signaled && run.ending.code == 0));
      tight.integrator = MasterIntegrator::dopri5;
      check_columns(run.csv, BlockMasterEquation(CentralSpinModel(p)).solve(time_grid(k.short_end, k.short_dt), tight));
    }
  }
}

// The stiff inputs against the full tensor-product space (2^6 states: no sectors, no windows,
// one operator per bath spin) at N = 5, over short spans (1e-5 for gamma_down = 1e6, where the
// central spin decays by e^-10; 3e-4 for g0 = 1e4, about one period of the oscillation at
// ~ g sqrt(N); the full space's 4096 unknowns cost 0.7 ms per derivative on its general path,
// 4e3 Dormand-Prince steps here), the CLI run with the Chebyshev exponential asked for, the full
// space by Dormand-Prince at rtol 1e-12, atol 1e-14: every column to 1e-8 (issue 15's accuracy
// goal; the reference's error ~1e-11).
TEST_CASE("stiff inputs at N = 5: equal to the full tensor-product space", "[pruned][master][stiff][cli][full-space]") {
  for (const StiffCase& k : stiff_cases()) {
    INFO(k.set.back());
    CentralSpinParameters p;
    p.N = 5;
    k.apply(p);
    MasterOptions tight;
    tight.tol = {1e-12, 1e-14};
    tight.integrator = MasterIntegrator::dopri5;
    const double end = k.t_end == 4.0 ? k.short_end : 3e-4, dt = end / 10.0;
    const auto run = stiff_run(k, 5, end, dt, true);
    INFO(run.err);
    REQUIRE((!run.ending.signaled && run.ending.code == 0));
    check_columns(run.csv, BlockMasterEquation(FullSpaceCentralSpin(p)).solve(time_grid(end, dt), tight));
  }
}

// Bad solver.prune_tol: a negative value, one >= 1e-3 (the pruned equation would discard a
// visible weight) and a non-number are refused with exit code 2 and a message naming the key.
TEST_CASE("solver.prune_tol: bad values are refused naming the key", "[pruned][cli][config]") {
  for (const std::string value : {"-1e-12", "1e-3", "0.5", "\"tight\"", "nan", "inf"}) {
    INFO("prune_tol = " << value);
    const auto run = cli({"run", fig2(), "--set", "model.N=4", "--set", "solver.prune_tol=" + value});
    INFO(run.err);
    CHECK((!run.ending.signaled && run.ending.code == 2));
    CHECK(run.err.find("solver.prune_tol") != std::string::npos);
  }
}

// prune_tol where it does nothing is noted as unused (and the run goes on): with trajectories,
// with inhomogeneous couplings (full space), and for another model kind.
TEST_CASE("solver.prune_tol: noted as unused where it does not apply", "[pruned][cli][config]") {
  const std::string open = std::string(QFLUCT_SOURCE_DIR) + "/examples/open_system.toml";
  const std::vector<std::vector<std::string>> runs = {
      {"run", fig2(), "--set", "model.N=3", "--set", "solver.method=\"jump\"", "--set", "solver.ntraj=20", "--set",
       "solver.prune_tol=1e-9", "--set", "output.t_end=0.2"},
      {"run", fig2(), "--set", "model.N=3", "--set", "model.couplings=[1.0, 0.9, 1.1]", "--set", "solver.prune_tol=1e-9",
       "--set", "output.t_end=0.2"},
      {"run", open, "--set", "solver.method=\"master\"", "--set", "solver.prune_tol=1e-9", "--set", "output.t_end=0.2"},
  };
  for (auto args : runs) {
    // The note is printed on stderr without --quiet only: run without it.
    ScratchDir s;
    args.insert(args.end(), {"-o", s.path("out.csv")});
    std::string err;
    const Ending e = run_qfluct(args, err, s);
    INFO(err);
    CHECK((!e.signaled && e.code == 0));
    CHECK(err.find("solver.prune_tol is ignored") != std::string::npos);
  }
}
