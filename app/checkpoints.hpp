#pragma once
/// Checkpoints for the command-line program: --checkpoint, --checkpoint-every, --resume,
/// --extend and --part of `qfluct run`, and the pieces `qfluct merge` combines. The files
/// themselves: io/checkpoint.hpp; the state they hold: solver/ensemble_state.hpp.
#include "qfluct/io/checkpoint.hpp"
#include "qfluct/io/config.hpp"
#include "qfluct/io/interrupt.hpp"
#include "qfluct/solver/ensemble_state.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace qfluct::cli {

/// The checkpoint options of `qfluct run`.
struct CheckpointOptions {
  std::string checkpoint;
  CLI::Option* checkpoint_option = nullptr;
  double every = 60.0;
  CLI::Option* every_option = nullptr;
  std::string resume;
  CLI::Option* resume_option = nullptr;
  long extend = 0;
  CLI::Option* extend_option = nullptr;
  std::string part_spec;
  CLI::Option* part_option = nullptr;
  int part = 0;   ///< 0-based, from --part I/P
  int parts = 1;

  void add_to(CLI::App& cmd);
  bool any() const;
  /// Where checkpoints go: --checkpoint, else the --resume file; empty: nowhere.
  std::string path() const;
  /// Checks the combination of options and parses --part (InputError naming the option).
  /// `has_output`: -o was given.
  void check(bool has_output);
};

/// The identity a checkpoint carries: which configuration, plan and part it belongs to.
nlohmann::json checkpoint_header(const RunConfig& config, int part, int parts);

/// A checkpoint read back for this run, checked against it (version, configuration without
/// solver.ntraj, ntraj unless extending, part): InputError naming --resume or the key.
struct Resumed {
  nlohmann::json header;
  EnsembleState state;
};
Resumed load_resume(const std::string& path, const RunConfig& config, int part, int parts, bool extending);

/// Saves the ensemble state: every `every` seconds, at the end (flush), and when SIGINT, SIGTERM
/// or SIGHUP ends the run (through the InterruptGuard). Used on the writing rank only.
class Checkpointer {
 public:
  Checkpointer(std::string path, double every, InterruptGuard& guard, nlohmann::json header);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  /// The state after a chunk of groups: kept, and written when `every` seconds have passed;
  /// the `last` state (the run's end) is always kept.
  void update(const EnsembleState& state, const nlohmann::json& model, bool last);
  /// Writes the latest state if it is not on disk yet.
  void flush();
  /// Trajectories in the latest state.
  long trajectories() const { return trajectories_; }
  bool complete() const { return complete_; }

 private:
  void write_latest();  // under guard.defer()
  std::string path_;
  double every_;
  InterruptGuard& guard_;
  nlohmann::json header_;
  std::string latest_;
  bool written_ = true;
  long trajectories_ = 0;
  bool complete_ = false;
  std::chrono::steady_clock::time_point last_;      ///< last write
  std::chrono::steady_clock::time_point snapshot_;  ///< last serialisation
  double snapshot_cost_ = 0.0;                      ///< seconds it took
};

/// Reads the pieces of a job array and checks that they belong together and are all there and
/// finished (InputError naming the piece, or "merge"); returns the whole run's state and a
/// piece's header (its parameters and model).
Resumed merge_pieces(const std::vector<std::string>& paths);

}  // namespace qfluct::cli
