// qfluct: the command-line front end. See README.md for the contract.
#include "qfluct/core/error.hpp"
#include "qfluct/io/config.hpp"
#include "qfluct/io/output.hpp"
#include "qfluct/io/progress.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/version.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <fmt/format.h>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <omp.h>

namespace {

struct CommonOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string output;
  int threads = 0;
  bool quiet = false;
};

void add_common(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("CONFIG", o.config, "TOML configuration file")->required()->check(CLI::ExistingFile);
  cmd.add_option("--set", o.overrides, "override a key: KEY=VALUE, VALUE in TOML syntax (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd.add_option("-o,--output", o.output, "CSV output file (a JSON sidecar OUT.json is written beside it); "
                                         "default: CSV on standard output, no sidecar");
  cmd.add_option("--threads", o.threads, "OpenMP threads (default: all cores)")->check(CLI::PositiveNumber);
  cmd.add_flag("--quiet", o.quiet, "no progress bar or notes on stderr");
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

nlohmann::json sidecar_header(const CommonOptions& o, const std::vector<std::string>& argv) {
  return {{"qfluct_version", qfluct::version}, {"command", argv},     {"created", now_iso8601()},
          {"config_file", o.config},           {"overrides", o.overrides}, {"threads", omp_get_max_threads()}};
}

void print_notes(const qfluct::RunConfig& config, const CommonOptions& o) {
  if (o.quiet) return;
  for (const auto& note : config.notes) fmt::print(stderr, "qfluct: note: {}\n", note);
}

void write_outputs(const CommonOptions& o, const std::function<void(std::ostream&)>& csv, const nlohmann::json& sidecar,
                   double wall) {
  using namespace qfluct;
  if (o.output.empty()) {
    csv(std::cout);
    return;
  }
  const std::string json_path = sidecar_path(o.output);
  write_atomically(o.output, csv);
  write_atomically(json_path, [&](std::ostream& out) { out << sidecar.dump(2) << '\n'; });
  if (!o.quiet) fmt::print(stderr, "qfluct: wrote {} and {} ({:.2f} s)\n", o.output, json_path, wall);
}

int run_command(const CommonOptions& o, const std::vector<std::string>& argv) {
  using namespace qfluct;
  const auto start = std::chrono::steady_clock::now();
  const RunConfig config = load_config(o.config, o.overrides);
  print_notes(config, o);
  if (o.threads > 0) omp_set_num_threads(o.threads);
  TimeSeries series = simulate(config, {.progress = !o.quiet && stderr_is_terminal()});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json sidecar = sidecar_header(o, argv);
  sidecar["parameters"] = config.to_json();
  sidecar["derived"] = series.info["derived"];
  series.info.erase("derived");
  sidecar["columns"] = series.columns;
  sidecar["csv"] = o.output;
  sidecar["solver"] = series.info;
  sidecar["wall_seconds"] = wall;
  if (!o.quiet && series.info.contains("heavy_tail_times") && !series.info["heavy_tail_times"].empty())
    fmt::print(stderr, "qfluct: note: at {} output time(s) one trajectory carries over 5% of <q^4> (heavy tails, "
                       "typically early times): standard errors of q, Q2, Q4 there are unreliable; see "
                       "solver.heavy_tail_times in the sidecar\n", series.info["heavy_tail_times"].size());
  write_outputs(o, [&](std::ostream& out) { write_csv(out, series); }, sidecar, wall);
  return 0;
}

/// --scan KEY=START:STOP:COUNT: COUNT values, both ends included.
struct Scan {
  std::string key, column;
  std::vector<double> values;
};

Scan parse_scan(const std::string& spec) {
  using qfluct::InputError;
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError("--scan", "expects KEY=START:STOP:COUNT, e.g. model.g0=0.5:8:16");
  Scan scan;
  scan.key = spec.substr(0, eq);
  scan.column = scan.key.substr(scan.key.rfind('.') + 1);
  // model.w[0] -> w_x: vector components are named by their axis.
  if (const auto bracket = scan.column.find('['); bracket != std::string::npos) {
    const std::string index = scan.column.substr(bracket + 1, scan.column.size() - bracket - 2);
    scan.column = scan.column.substr(0, bracket) + "_" + (index == "0" ? "x" : index == "1" ? "y" : index == "2" ? "z" : index);
  }
  double start = 0, stop = 0;
  long count = 0;
  char extra = 0;
  if (std::sscanf(spec.c_str() + eq + 1, "%lf:%lf:%ld%c", &start, &stop, &count, &extra) != 3 || !std::isfinite(start) ||
      !std::isfinite(stop))
    throw InputError("--scan", fmt::format("'{}' is not START:STOP:COUNT with numbers", spec.substr(eq + 1)));
  if (count < 1 || (count == 1 && start != stop))
    throw InputError("--scan", fmt::format("COUNT must be >= 2 (or 1 with START = STOP), got {}", count));
  for (long i = 0; i < count; ++i) scan.values.push_back(count == 1 ? start : start + (stop - start) * double(i) / double(count - 1));
  return scan;
}

int steady_command(const CommonOptions& o, const std::string& scan_spec, const std::vector<std::string>& argv) {
  using namespace qfluct;
  const auto start = std::chrono::steady_clock::now();
  if (o.threads > 0) omp_set_num_threads(o.threads);
  std::optional<Scan> scan;
  if (!scan_spec.empty()) scan = parse_scan(scan_spec);
  const std::vector<double> values = scan ? scan->values : std::vector<double>{0.0};
  std::vector<Stationary> rows;
  nlohmann::json points = nlohmann::json::array();
  RunConfig first;
  ProgressBar bar("steady states", double(values.size()), "points", !o.quiet && stderr_is_terminal());
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::vector<std::string> overrides = o.overrides;
    if (scan) overrides.push_back(fmt::format("{}={:.17g}", scan->key, values[i]));
    const RunConfig config = load_config(o.config, overrides);
    if (i == 0) {
      first = config;
      print_notes(config, o);
    }
    try {
      rows.push_back(stationary(config));
    } catch (const InputError& e) {  // a scan fails as a whole, naming the point
      if (!scan) throw;
      const std::string reason = std::string(e.what()).substr(e.key().size() + 2);  // what() is "KEY: reason"
      throw InputError(e.key(), fmt::format("at {} = {:.10g}: {}", scan->key, values[i], reason));
    } catch (const NumericalError& e) {
      if (!scan) throw;
      throw NumericalError(fmt::format("at {} = {:.10g}: {}", scan->key, values[i], e.what()));
    }
    nlohmann::json point = rows.back().info;
    if (scan) point[scan->column] = values[i];
    points.push_back(point);
    bar.update(double(i + 1));
  }
  bar.finish();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::string> columns = rows.front().columns;
  if (scan) columns.insert(columns.begin(), scan->column);
  nlohmann::json sidecar = sidecar_header(o, argv);
  sidecar["parameters"] = first.to_json();
  if (scan) sidecar["scan"] = {{"key", scan->key}, {"values", scan->values}};
  sidecar["columns"] = columns;
  sidecar["csv"] = o.output;
  sidecar["points"] = points;
  sidecar["wall_seconds"] = wall;
  write_outputs(
      o,
      [&](std::ostream& out) {
        std::string line;
        for (const auto& c : columns) line += (line.empty() ? "" : ",") + c;
        out << line << '\n';
        for (std::size_t i = 0; i < rows.size(); ++i) {
          line = scan ? fmt::format("{:.17g}", values[i]) : "";
          for (double v : rows[i].values) line += fmt::format("{}{:.17g}", line.empty() ? "" : ",", v);
          out << line << '\n';
        }
      },
      sidecar, wall);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qfluct: quantum trajectories and exact master equations for open central-spin systems"};
  app.set_version_flag("--version", std::string(qfluct::version));
  app.require_subcommand(1);
  CommonOptions run_options, steady_options;
  CLI::App* run = app.add_subcommand("run", "evolve in time; observables on the grid output.dt .. output.t_end");
  add_common(*run, run_options);
  CLI::App* steady = app.add_subcommand("steady", "stationary state (L rho = 0), optionally across a parameter scan");
  add_common(*steady, steady_options);
  std::string scan_spec;
  steady->add_option("--scan", scan_spec,
                     "KEY=START:STOP:COUNT: COUNT linearly spaced values, both ends included (KEY may be an array "
                     "element, e.g. model.w[0]; its column is then named w_x)");
  CLI11_PARSE(app, argc, argv);
  const std::vector<std::string> args(argv, argv + argc);
  try {
    if (*run) return run_command(run_options, args);
    if (*steady) return steady_command(steady_options, scan_spec, args);
  } catch (const qfluct::InputError& e) {
    fmt::print(stderr, "qfluct: error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "qfluct: failed: out of memory (std::bad_alloc): the run needed more memory than the process may "
                       "use; see the memory estimates in README.md\n");
    return 3;
  } catch (const std::exception& e) {
    fmt::print(stderr, "qfluct: failed: {}\n", e.what());
    return 3;
  }
  return 0;
}
