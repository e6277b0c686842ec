#pragma once
/// Checkpoint files: the state of a trajectory ensemble (solver/ensemble_state.hpp) with what
/// it belongs to, so that `qfluct run --resume` continues it, `--extend` adds trajectories and
/// `qfluct merge` combines the pieces of a job array.
///
/// Layout: the line "qfluct-checkpoint 1", one line of JSON (the header: qfluct_version,
/// config_sha256 of the configuration without solver.ntraj, parameters, ntraj, group_size,
/// part and parts, model (automatic Fock cutoffs), groups, trajectories, complete, state_bytes,
/// state_sha256, byte_order), then the state's bytes. Files are replaced atomically: written in
/// full to PATH.tmp.PID, synced, renamed over PATH and the directory synced, so PATH always holds
/// a complete checkpoint, also after SIGKILL or a power cut.
#include <nlohmann/json.hpp>
#include <string>

namespace qfluct {

struct CheckpointFile {
  nlohmann::json header;
  std::string state;  ///< EnsembleState bytes
};

/// The file's bytes for `header` and `state` (adds state_bytes, state_sha256, format, byte_order).
std::string checkpoint_bytes(nlohmann::json header, const std::string& state);

/// Replaces `path` by `bytes` atomically (see above). Throws std::runtime_error naming the path.
/// Safe to call from a signal watcher: it takes no locks.
void write_file_atomically(const std::string& path, const std::string& bytes);

/// Reads a checkpoint. InputError naming `key` (the option that named the file) when the file
/// is missing, unreadable, not a checkpoint, damaged (state_sha256) or written on a machine with
/// another byte order.
CheckpointFile read_checkpoint(const std::string& path, const std::string& key);

/// Checks before a run that `path` can take checkpoints: not empty, not a directory, in an
/// existing writable directory, and not a file other than a checkpoint. An existing checkpoint is
/// refused unless `continuing` (the run resumes from it), so that a finished run's checkpoint is
/// not replaced by accident. Removes PATH.tmp.PID files of dead processes. InputError naming `key`.
void check_checkpoint_location(const std::string& path, const std::string& key, bool continuing);

/// The configuration hash a checkpoint is matched on: SHA-256 of the compact JSON of
/// `parameters` (RunConfig::to_json) without solver.ntraj.
std::string plan_config_sha256(nlohmann::json parameters);

/// "model.N (checkpoint 10, this run 20), ..." for the keys whose values differ, at most five;
/// the labels name the two sides.
std::string changed_keys(const nlohmann::json& before, const nlohmann::json& after, const std::string& before_label = "checkpoint",
                         const std::string& after_label = "this run");

}  // namespace qfluct
