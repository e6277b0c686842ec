// qfluct: the command-line front end. See README.md for the contract.
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"
#include "qfluct/io/interrupt.hpp"
#include "qfluct/io/output.hpp"
#include "qfluct/io/records.hpp"
#include "qfluct/io/progress.hpp"
#include "qfluct/io/scan.hpp"
#include "qfluct/io/sidecar.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/ranks.hpp"
#include "qfluct/version.hpp"
#include "checkpoints.hpp"
#ifdef QFLUCT_HAVE_MPI
#include "mpi_ranks.hpp"
#endif

#include <nlohmann/json.hpp>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <filesystem>
#include <functional>
#include <iostream>
#include <omp.h>
#include <optional>
#include <thread>
#include <utility>

namespace {

using qfluct::InputError;

struct CommonOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::string output;
  CLI::Option* output_option = nullptr;   ///< given at all? (-o '' is an error, not "standard output")
  std::string threads;
  CLI::Option* threads_option = nullptr;
  bool quiet = false;
  /// The MPI ranks when run under mpirun with more than one; null otherwise (then everything is
  /// as in a program without MPI). Rank 0 alone prints and writes; the others are quiet.
  const qfluct::Ranks* ranks = nullptr;

  bool has_output() const { return output_option->count() > 0; }
  int rank_count() const { return ranks ? ranks->size() : 1; }
  bool writer() const { return !ranks || ranks->rank() == 0; }
};

void add_common(CLI::App& cmd, CommonOptions& o) {
  // CONFIG is checked by read_config_file, so that a missing file is an InputError like any other.
  cmd.add_option("CONFIG", o.config, "TOML configuration file, or the JSON sidecar of an earlier run")->required();
  cmd.add_option("--set", o.overrides, "override a key: KEY=VALUE, VALUE in TOML syntax (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  o.output_option = cmd.add_option("-o,--output", o.output,
                                   "CSV output file (a JSON sidecar OUT.json is written beside it); "
                                   "default: CSV on standard output, no sidecar");
  o.threads_option = cmd.add_option("--threads", o.threads, "OpenMP threads (default: all cores; at most 4 per core)");
  cmd.add_flag("--quiet", o.quiet, "no progress bar or notes on stderr");
}

void note(const CommonOptions& o, const std::string& text) {
  if (!o.quiet) fmt::print(stderr, "qfluct: note: {}\n", text);
}

/// Sets the OpenMP thread count: --threads K with K >= 1, else OMP_NUM_THREADS, else all
/// processors. More than 4 threads per processor only slows the run and, by the thousand, makes
/// thread creation fail; such counts are capped with a note (results do not depend on it).
void set_threads(const CommonOptions& o) {
  const int processors = omp_get_num_procs();
  const long cap = 4L * processors;
  long threads = omp_get_max_threads();
  std::string asked = fmt::format("OMP_NUM_THREADS={}", threads);
  if (o.threads_option->count() > 0) {
    const std::string& t = o.threads;
    const bool digits = !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
    const std::size_t first = digits ? std::min(t.find_first_not_of('0'), t.size()) : 0;
    if (!digits || first == t.size())
      throw InputError("--threads", fmt::format("expects a whole number >= 1, got '{}'", t));
    threads = t.size() - first > 9 ? cap + 1 : std::stol(t.substr(first));  // 10+ digits: far beyond any cap
    asked = "--threads " + t;
  }
  if (threads > cap) {
    note(o, fmt::format("{} is more than 4 threads per processor ({} here); using {}", asked, processors, cap));
    threads = cap;
  }
  // mpirun binds each rank to one core by default (Open MPI, up to 2 ranks): its threads would
  // then take turns on it.
  if (threads > processors && (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE")))
    note(o, fmt::format("{} threads on the {} processor(s) mpirun bound this rank to: they share them; for K threads "
                        "per rank, give mpirun --map-by slot:PE=K (or --bind-to none)", threads, processors));
  omp_set_num_threads(int(threads));
}

/// What the sidecar records of this invocation.
qfluct::Invocation invocation(const CommonOptions& o, const std::vector<std::string>& argv) {
  return {argv, o.config, o.overrides, omp_get_max_threads(), o.rank_count(), o.output};
}

void print_notes(const qfluct::RunConfig& config, const CommonOptions& o) {
  for (const auto& text : config.notes) note(o, text);
}

/// Checks -o before any work (an InputError naming the path); on rank 0 only, which alone writes.
std::optional<qfluct::OutputPaths> check_output(const CommonOptions& o, qfluct::InterruptGuard& guard) {
  if (!o.has_output() || !o.writer()) return std::nullopt;
  return qfluct::check_output_location(o.output, o.config, &guard);
}

/// Runs `check` (reading and checking the input) on every rank. Several ranks then agree on the
/// first InputError in rank order (-o is checked on rank 0 alone, a config file may be missing on
/// one node), so that all of them stop with it, rank 0 printing it, instead of some waiting in the
/// ensemble's collective operations for ranks that have stopped.
void agree_on_input(const CommonOptions& o, const std::function<void()>& check) {
  if (!o.ranks) return check();
  std::string mine;
  try {
    check();
  } catch (const InputError& e) {
    mine = e.key() + '\0' + std::string(e.what()).substr(e.key().size() + 2);  // what() is "KEY: reason"
  }
  std::string first;
  for (const auto& part : o.ranks->gather(mine))  // rank 0 gets every rank's, the others none
    if (first.empty()) first = part;
  first = o.ranks->broadcast(first);
  if (const auto nul = first.find('\0'); nul != std::string::npos)
    throw InputError(first.substr(0, nul), first.substr(nul + 1));
}

/// With several ranks, a computation that is not a trajectory ensemble runs whole on each.
void note_unsplit(const CommonOptions& o, const std::string& what) {
  if (o.rank_count() > 1)
    note(o, fmt::format("only trajectory ensembles are split over ranks: each of the {} ranks computes {}; rank 0 "
                        "writes the outputs", o.rank_count(), what));
}

/// A checkpoint (or a piece read by merge) must not be one of the output files, which would
/// replace it: InputError naming `key`.
void check_apart(const std::optional<qfluct::OutputPaths>& paths, const std::string& file, const std::string& key) {
  if (!paths || file.empty()) return;
  namespace fs = std::filesystem;
  const auto same = [](const std::string& a, const std::string& b) {
    std::error_code ec;
    return fs::weakly_canonical(fs::absolute(a), ec) == fs::weakly_canonical(fs::absolute(b), ec);
  };
  for (const std::string* out : {&paths->csv, &paths->sidecar, &paths->records})
    if (same(file, *out))
      throw InputError(key, fmt::format("'{}' is also where -o {} writes {}: the outputs would replace it; give the "
                                        "checkpoint another name (e.g. run.ckpt)",
                                        file, paths->csv, out == &paths->csv ? "its CSV" : out == &paths->sidecar
                                                                                               ? "its sidecar"
                                                                                               : "its records"));
}

/// Once the input is known to be good (bad input changes nothing): tidies what dead runs left at -o.
void recover_output(const CommonOptions& o, const std::optional<qfluct::OutputPaths>& paths) {
  if (paths)
    for (const auto& text : qfluct::recover_output_location(*paths)) note(o, text);
}

void write_outputs(const CommonOptions& o, const std::optional<qfluct::OutputPaths>& paths,
                   const std::function<void(std::ostream&)>& csv, const nlohmann::json& sidecar, double wall,
                   qfluct::InterruptGuard& guard, const std::function<void(std::ostream&)>& records = {}) {
  if (!paths) {
    csv(std::cout);
    std::cout.flush();
    const auto lock = guard.defer();
    guard.finish();
    return;
  }
  qfluct::write_output_pair(*paths, csv, sidecar, &guard, records);
  if (!o.quiet) {
    if (records)
      fmt::print(stderr, "qfluct: wrote {}, {} and {} ({:.2f} s)\n", paths->csv, paths->records, paths->sidecar, wall);
    else
      fmt::print(stderr, "qfluct: wrote {} and {} ({:.2f} s)\n", paths->csv, paths->sidecar, wall);
  }
}

/// Writes a run's outputs (rank 0): CSV, sidecar, records. `extra` goes into the sidecar.
int write_run_outputs(const CommonOptions& o, const std::vector<std::string>& argv, const qfluct::RunConfig& config,
                      qfluct::TimeSeries& series, const std::optional<qfluct::OutputPaths>& paths,
                      qfluct::InterruptGuard& guard, std::chrono::steady_clock::time_point start,
                      const nlohmann::json& extra) {
  using namespace qfluct;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json sidecar =
      run_sidecar(invocation(o, argv), config, series, wall, paths ? paths->records : records_path(o.output));
  for (const auto& [k, v] : extra.items()) sidecar[k] = v;
  if (!o.quiet && series.info.json().contains("heavy_tail_times") && !series.info["heavy_tail_times"].empty())
    fmt::print(stderr, "qfluct: note: at {} output time(s) one trajectory carries over 5% of <q^4> (heavy tails, "
                       "typically early times): standard errors of q, Q2, Q4 there are unreliable; see "
                       "solver.heavy_tail_times in the sidecar\n", series.info["heavy_tail_times"].size());
  std::function<void(std::ostream&)> records;
  if (!series.records.empty()) records = [&](std::ostream& out) { write_records_csv(out, series.records); };
  write_outputs(o, paths, [&](std::ostream& out) { write_csv(out, series); }, sidecar, wall, guard, records);
  return 0;
}

int run_command(const CommonOptions& o, qfluct::cli::CheckpointOptions& ck, const std::vector<std::string>& argv,
                qfluct::InterruptGuard& guard) {
  using namespace qfluct;
  const auto start = std::chrono::steady_clock::now();
  std::optional<OutputPaths> paths;
  std::optional<RunConfig> loaded;
  std::optional<cli::Resumed> resumed;
  agree_on_input(o, [&] {
    ck.check(o.has_output());
    paths = check_output(o, guard);
    const ConfigFile file = read_config_file(o.config);
    if (file.sidecar.contains("scan"))
      note(o, fmt::format("{} records a scan; `run` uses its parameters only (the scan's first point)", o.config));
    std::vector<std::string> overrides = o.overrides;
    if (ck.extend_option->count()) overrides.push_back(fmt::format("solver.ntraj={}", ck.extend));
    loaded = load_config(file.table, overrides);
    print_notes(*loaded, o);
    if (ck.any() && loaded->solver.method != SolverMethod::jump)
      throw InputError(ck.part_option->count() ? "--part" : ck.resume_option->count() ? "--resume" : "--checkpoint",
                       "checkpoints are for trajectory ensembles (solver.method = \"jump\"); this run solves the master "
                       "equation");
    if (ck.resume_option->count())
      resumed = cli::load_resume(ck.resume, *loaded, ck.part, ck.parts, ck.extend_option->count() > 0);
    check_apart(paths, ck.resume_option->count() ? ck.resume : "", "--resume");
    check_apart(paths, ck.checkpoint_option->count() ? ck.checkpoint : "", "--checkpoint");
    if (!ck.path().empty() && o.writer())
      check_checkpoint_location(ck.path(), ck.checkpoint_option->count() ? "--checkpoint" : "--resume",
                                ck.resume_option->count() && ck.path() == ck.resume);
    set_threads(o);
    recover_output(o, paths);
    if (loaded->output.records > 0 && !o.has_output() && ck.parts == 1)
      throw InputError("output.records", "the records are written to OUT.records.csv beside the -o OUT.csv; give -o");
  });
  const RunConfig& config = *loaded;
  // Trajectory ensembles are split over the ranks; any other solver runs whole on every rank.
  const bool split = config.solver.method == SolverMethod::jump;
  if (!split) note_unsplit(o, fmt::format("this {} run", to_string(config.solver.method)));
  std::optional<cli::Checkpointer> saver;
  if (!ck.path().empty() && o.writer())
    saver.emplace(ck.path(), ck.every, guard, cli::checkpoint_header(config, ck.part, ck.parts));
  if (!ck.path().empty() && !o.writer()) {
    // mpirun and Slurm signal every rank; a rank that ended at once would make mpirun kill rank 0
    // while it saves the checkpoint. The others wait instead, to be ended by mpirun once rank 0
    // has saved and exited (or, failing that, to give up after 30 s).
    const auto lock = guard.defer();
    guard.on_interrupt([] {
      std::this_thread::sleep_for(std::chrono::seconds(30));
      return std::string("; rank 0 did not end the job within 30 s");
    });
  }
  if (resumed && !o.quiet)
    note(o, fmt::format("resuming from {}: {} trajectories already run{}", ck.resume,
                        resumed->header["trajectories"].get<long>(),
                        ck.extend_option->count() ? fmt::format(", extending to {}", config.solver.ntraj) : ""));
  SimulateOptions options;
  options.progress = !o.quiet;
  options.note = [&o](const std::string& text) { note(o, text); };
  options.ranks = split ? o.ranks : nullptr;
  if (resumed) {
    options.resume = &resumed->state;
    options.resume_model = resumed->header["model"];
  }
  options.part = ck.parts > 1 ? ck.part : 0;
  options.parts = ck.parts;
  if (saver) options.checkpoint = [&saver](const EnsembleState& s, const nlohmann::json& model, bool last) {
      saver->update(s, model, last);
    };
  if (!ck.path().empty()) options.chunk_seconds = std::clamp(ck.every / 4.0, 0.05, 1.0);
  TimeSeries series = simulate(config, options);
  if (saver) saver->flush();
  if (!o.writer()) return 0;
  if (ck.parts > 1) {
    if (!o.quiet)
      fmt::print(stderr, "qfluct: wrote part {}/{} to {} ({} trajectories); combine the parts with qfluct merge\n",
                 ck.part + 1, ck.parts, ck.path(), saver->trajectories());
    const auto lock = guard.defer();
    guard.finish();
    return 0;
  }
  nlohmann::json extra = nlohmann::json::object();
  if (saver) extra["checkpoint"] = ck.path();
  if (resumed) extra["resumed_from"] = ck.resume;
  if (ck.extend_option->count()) extra["extended_to"] = ck.extend;
  return write_run_outputs(o, argv, config, series, paths, guard, start, extra);
}

/// qfluct merge PIECES... -o OUT.csv: the outputs of a run made in parts.
int merge_command(const CommonOptions& o, const std::vector<std::string>& pieces, const std::string& checkpoint,
                  const std::vector<std::string>& argv, qfluct::InterruptGuard& guard) {
  using namespace qfluct;
  const auto start = std::chrono::steady_clock::now();
  std::optional<OutputPaths> paths;
  std::optional<cli::Resumed> whole;
  std::optional<RunConfig> config;
  agree_on_input(o, [&] {
    paths = check_output(o, guard);
    whole = cli::merge_pieces(pieces);
    config = parse_config(parameters_table(whole->header["parameters"]));
    for (const auto& piece : pieces) check_apart(paths, piece, piece);
    check_apart(paths, checkpoint, "--checkpoint");
    if (!checkpoint.empty() && o.writer()) check_checkpoint_location(checkpoint, "--checkpoint", false);
    set_threads(o);
    recover_output(o, paths);
  });
  std::optional<cli::Checkpointer> saver;
  if (!checkpoint.empty() && o.writer()) {
    nlohmann::json header = cli::checkpoint_header(*config, 0, 1);
    header["kernel_variant"] = whole->header["kernel_variant"];  // the pieces' trajectories, not this machine's
    saver.emplace(checkpoint, 0.0, guard, header);
  }
  SimulateOptions options;
  options.note = [&o](const std::string& text) { note(o, text); };
  options.resume = &whole->state;
  options.resume_model = whole->header["model"];
  if (saver) options.checkpoint = [&saver](const EnsembleState& s, const nlohmann::json& model, bool last) {
      saver->update(s, model, last);
    };
  TimeSeries series = simulate(*config, options);
  if (saver) saver->flush();
  if (!o.writer()) return 0;
  nlohmann::json extra = {{"merged_from", pieces}, {"parts", pieces.size()}};
  if (saver) extra["checkpoint"] = checkpoint;
  return write_run_outputs(o, argv, *config, series, paths, guard, start, extra);
}

int steady_command(const CommonOptions& o, const std::optional<std::string>& scan_spec,
                   const std::vector<std::string>& argv, qfluct::InterruptGuard& guard) {
  using namespace qfluct;
  const auto start = std::chrono::steady_clock::now();
  std::optional<OutputPaths> paths;
  std::optional<Scan> scan;
  std::vector<RunConfig> configs;
  agree_on_input(o, [&] {
    paths = check_output(o, guard);
    const ConfigFile file = read_config_file(o.config);
    if (scan_spec) scan = parse_scan(*scan_spec);
    else if (file.sidecar.contains("scan")) scan = recorded_scan(file.sidecar["scan"], o.config);  // repeat it
    configs = steady_configs(file.table, o.overrides, scan);  // every point checked before the first solve
    print_notes(configs.front(), o);
    set_threads(o);
    recover_output(o, paths);
  });
  note_unsplit(o, scan ? "every point of the scan" : "the steady state");
  std::vector<Stationary> rows;
  ProgressBar bar("steady states", double(configs.size()), "points", !o.quiet);
  for (std::size_t i = 0; i < configs.size(); ++i) {
    rows.push_back(steady_point(configs, scan, i));
    bar.update(double(i + 1));
  }
  bar.finish();
  if (!o.writer()) return 0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const nlohmann::json sidecar = steady_sidecar(invocation(o, argv), configs, rows, scan, wall);
  write_outputs(o, paths, [&](std::ostream& out) { write_steady_csv(out, rows, scan); }, sidecar, wall, guard);
  return 0;
}

/// The message for an unknown option --NAME of `cmd`, with the option it probably meant.
std::string unknown_option(const CLI::App& cmd, const std::string& name) {
  if (name == "--scan") return fmt::format("--scan: only `qfluct steady` scans; `{}` takes no --scan", cmd.get_name());
  std::string best;
  std::size_t best_score = 3;  // suggest only close names: a prefix, or at most 2 edits
  for (const CLI::Option* option : cmd.get_options()) {
    for (const auto& long_name : option->get_lnames()) {
      const std::string candidate = "--" + long_name;
      std::vector<std::size_t> row(candidate.size() + 1);
      for (std::size_t j = 0; j < row.size(); ++j) row[j] = j;
      for (std::size_t i = 1; i <= name.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= candidate.size(); ++j)
          diagonal = std::exchange(row[j], std::min({row[j] + 1, row[j - 1] + 1, diagonal + (name[i - 1] != candidate[j - 1])}));
      }
      const std::size_t score = candidate.rfind(name, 0) == 0 ? 1 : row.back();
      if (score < best_score) best_score = score, best = candidate;
    }
  }
  return fmt::format("unknown option {} for `{}`{}", name, cmd.get_name(),
                     best.empty() ? "" : fmt::format(" (did you mean {}?)", best));
}

/// A usage error on one line: CLI11's message with line breaks folded.
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  // First, before any thread exists: SIGINT/SIGTERM/SIGHUP remove the temporaries and exit 128 + signal.
  qfluct::InterruptGuard guard;
  // MPI after the guard (its threads inherit the blocked signals), before parsing: with several
  // ranks, rank 0 alone prints, usage errors included. Started without mpirun (or with one rank),
  // everything is as in a build without MPI; MPI is then not even initialised.
  const qfluct::Ranks* ranks = nullptr;
#ifdef QFLUCT_HAVE_MPI
  std::optional<qfluct::cli::MpiSession> session;
  std::optional<qfluct::cli::MpiRanks> world;
  if (qfluct::cli::launched_by_mpi()) {
    try {
      session.emplace(argc, argv);
      world.emplace();
    } catch (const std::exception& e) {
      fmt::print(stderr, "qfluct: failed: {}\n", e.what());
      return 3;
    }
    if (world->size() > 1) ranks = &*world;
  }
#endif
  const bool speaker = !ranks || ranks->rank() == 0;
  // Every rank ends bad input with exit 2, but mpirun stops the job at the first non-zero exit
  // with SIGTERM to ranks still finishing: those must not report an interruption.
  const auto input_error = [&guard, ranks] {
    if (ranks) {
      const auto lock = guard.defer();
      guard.finish();
    }
    return 2;
  };
  CLI::App app{"qfluct: quantum trajectories and exact master equations for open central-spin systems"};
  app.set_version_flag("--version", std::string(qfluct::version));
  app.require_subcommand(1);
  CommonOptions run_options, steady_options, merge_options;
  CLI::App* run = app.add_subcommand("run", "evolve in time; observables on the grid output.dt .. output.t_end");
  add_common(*run, run_options);
  qfluct::cli::CheckpointOptions checkpoints;
  checkpoints.add_to(*run);
  CLI::App* steady = app.add_subcommand("steady", "stationary state (L rho = 0), optionally across a parameter scan");
  add_common(*steady, steady_options);
  CLI::App* merge = app.add_subcommand("merge", "combine the checkpoints of a run made in parts (run --part I/P) into "
                                                 "its outputs, the same bytes as the run made whole");
  std::vector<std::string> pieces;
  std::string merged_checkpoint;
  merge->add_option("PIECES", pieces, "the checkpoints of all P parts, in any order")->required();
  merge_options.output_option = merge->add_option("-o,--output", merge_options.output, "CSV output file (a JSON sidecar "
                                                                                        "OUT.json is written beside it)")
                                    ->required();
  merge_options.threads_option = merge->add_option("--threads", merge_options.threads, "OpenMP threads");
  merge->add_option("--checkpoint", merged_checkpoint, "also save the merged state here (to --extend the run later)");
  merge->add_flag("--quiet", merge_options.quiet, "no notes on stderr");
  std::string scan_spec;
  CLI::Option* scan_option = steady->add_option("--scan", scan_spec,
                     "KEY=START:STOP:COUNT: COUNT linearly spaced values, both ends included, at most 100000 (KEY "
                     "may be an array element, e.g. model.w[0]; its column is then named w_x)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return speaker ? app.exit(e) : 0;  // --help, --version
    if (!speaker) return input_error();
    // Usage errors share the contract of bad input: one line, exit 2.
    std::string message = one_line(e.what());
    if (argc > 1 && !*run && !*steady && !*merge) {
      const std::string first = argv[1], name = first.substr(0, first.find('='));
      if (first[0] != '-') message = fmt::format("unknown command '{}'; the commands are run, steady and merge", first);
      else if (!app.get_option_no_throw(name)) message = fmt::format("unknown option {}; the commands are run, steady and merge", name);
    }
    const CLI::App* cmd = *run ? run : *steady ? steady : *merge ? merge : nullptr;
    if (cmd && dynamic_cast<const CLI::ExtrasError*>(&e))
      for (int i = 2; i < argc; ++i) {
        const std::string word = argv[i], name = word.substr(0, word.find('='));
        if (name.size() > 2 && name.rfind("--", 0) == 0 && !cmd->get_option_no_throw(name)) {
          message = unknown_option(*cmd, name);
          break;
        }
      }
    fmt::print(stderr, "qfluct: error: {} (see qfluct --help)\n", message);
    return input_error();
  }
  const std::vector<std::string> args(argv, argv + argc);
  for (CommonOptions* o : {&run_options, &steady_options, &merge_options}) {
    o->ranks = ranks;
    o->quiet = o->quiet || !speaker;
  }
#ifndef QFLUCT_HAVE_MPI
  // mpirun (Open MPI, MPICH/Hydra) or srun of this program: every process would run it all.
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* size = std::getenv(variable); size && std::atol(size) > 1 && !run_options.quiet && !steady_options.quiet)
      fmt::print(stderr, "qfluct: note: {} = {}, but this qfluct was built without MPI (QFLUCT_ENABLE_MPI): each "
                         "process runs the whole computation\n", variable, size);
#endif
  // A failure on one rank (exit 3) ends them all (MPI_Abort): the others may be waiting for it
  // in a collective operation. Input errors come from the configuration, the same on every rank.
  const auto failed = [ranks]() {
#ifdef QFLUCT_HAVE_MPI
    if (ranks) qfluct::cli::MpiSession::abort(3);
#endif
    return 3;
  };
  const std::string who = ranks ? fmt::format(" (rank {} of {})", ranks->rank(), ranks->size()) : "";
  try {
    if (*run) return run_command(run_options, checkpoints, args, guard);
    if (*merge) {
      merge_options.config = pieces.front();
      return merge_command(merge_options, pieces, merged_checkpoint, args, guard);
    }
    if (*steady)
      return steady_command(steady_options, scan_option->count() ? std::optional(scan_spec) : std::nullopt, args, guard);
  } catch (const qfluct::InputError& e) {
    if (speaker) fmt::print(stderr, "qfluct: error: {}\n", e.what());
    return input_error();
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "qfluct: failed{}: out of memory (std::bad_alloc): the run needed more memory than the process may "
                       "use; see the memory estimates in README.md\n", who);
    return failed();
  } catch (const std::exception& e) {
    fmt::print(stderr, "qfluct: failed{}: {}\n", who, e.what());
    return failed();
  }
  return 0;
}
