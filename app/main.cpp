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
#include <iostream>
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

int run_command(const CommonOptions& o, const std::vector<std::string>& argv) {
  using namespace qfluct;
  const auto start = std::chrono::steady_clock::now();
  const RunConfig config = load_config(o.config, o.overrides);
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const TimeSeries series = simulate(config, {.progress = !o.quiet && stderr_is_terminal()});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.output.empty()) {
    write_csv(std::cout, series);
    return 0;
  }
  nlohmann::json sidecar = {{"qfluct_version", qfluct::version},
                            {"command", argv},
                            {"created", now_iso8601()},
                            {"config_file", o.config},
                            {"overrides", o.overrides},
                            {"parameters", config.to_json()},
                            {"derived", derived_quantities(config)},
                            {"columns", series.columns},
                            {"csv", o.output},
                            {"threads", omp_get_max_threads()},
                            {"solver", series.info},
                            {"wall_seconds", wall}};
  const std::string json_path = sidecar_path(o.output);
  write_atomically(o.output, [&](std::ostream& out) { write_csv(out, series); });
  write_atomically(json_path, [&](std::ostream& out) { out << sidecar.dump(2) << '\n'; });
  if (!o.quiet) fmt::print(stderr, "qfluct: wrote {} and {} ({:.2f} s)\n", o.output, json_path, wall);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qfluct: quantum trajectories and exact master equations for open central-spin systems"};
  app.set_version_flag("--version", std::string(qfluct::version));
  app.require_subcommand(1);
  CommonOptions run_options;
  CLI::App* run = app.add_subcommand("run", "evolve in time; observables on the grid output.dt .. output.t_end");
  add_common(*run, run_options);
  CLI11_PARSE(app, argc, argv);
  const std::vector<std::string> args(argv, argv + argc);
  try {
    if (*run) return run_command(run_options, args);
  } catch (const qfluct::InputError& e) {
    fmt::print(stderr, "qfluct: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "qfluct: failed: {}\n", e.what());
    return 3;
  }
  return 0;
}
