#pragma once
/// Output files: CSV tables at full double precision, the JSON sidecar and, on request, the
/// trajectory records file, committed together.
///
/// The contract (README, "Command line"): the location given to -o holds either the previous
/// complete set (OUT.csv, OUT.json, and OUT.records.csv when that run wrote records) or the new
/// one. Every file is written in full to a temporary beside it, OUT.csv.tmp.PID,
/// OUT.records.csv.tmp.PID and OUT.json.tmp.PID (PID: the writing process); the sidecar records
/// the SHA-256 of the CSV's bytes (csv_sha256) and of the records' bytes (records_sha256); then,
/// under a lock on the directory, the sidecar is renamed into place, then the records, then the
/// CSV. A run that writes no records removes an OUT.records.csv left there by an earlier run
/// (after the sidecar's rename, in the same locked section), so the records beside a sidecar are
/// always its own. Between the first and the last rename (system calls) a process killed by
/// SIGKILL or a power cut leaves the new sidecar beside older files; the hashes show the
/// mismatch, the new files are complete in their temporaries, and the next run that writes there
/// completes the commit (recover_output_location). SIGINT, SIGTERM and SIGHUP never land between
/// the renames (InterruptGuard defers them).
#include "qfluct/io/interrupt.hpp"
#include "qfluct/solver/time_series.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace qfluct {

/// OUT.csv -> OUT.json (any other name gets ".json" appended).
std::string sidecar_path(const std::string& csv_path);

/// OUT.csv -> OUT.records.csv (any other name gets ".records.csv" appended): the trajectory
/// records (output.records) beside the CSV.
std::string records_path(const std::string& csv_path);

/// Where -o puts the outputs. `OutputPaths{csv, sidecar}` derives `records` from `csv`.
struct OutputPaths {
  std::string csv;                          ///< as given to -o
  std::string sidecar;                      ///< sidecar_path(csv)
  std::string records = records_path(csv);  ///< records_path(csv); written only on request
};

/// Checks, before any work, that the location `csv` (the -o argument, as given) can take the
/// outputs: not empty, not a directory, not the config file `config_path`, not an existing
/// non-regular file such as a device (each also for its sidecar and records file: a run without
/// records removes that file), in a directory that exists and where this process can create
/// files (tried by creating and removing a temporary).
/// Throws InputError("-o", ...) naming the path as given. `guard` may be null.
OutputPaths check_output_location(const std::string& csv, const std::string& config_path, InterruptGuard* guard);

/// Repairs what runs that died (SIGKILL, power cut) left at this location: temporaries and
/// backups (OUT.json.old.PID, OUT.records.csv.old.PID) named with the PID of a process that no
/// longer runs are removed. A set whose sidecar does not match its CSV (csv_sha256) or its
/// records (records_sha256; a sidecar without it owns no records file) is first completed from
/// such temporaries with the matching hashes, an OUT.records.csv that the sidecar does not own
/// being removed; failing that, it is restored from the backups of the previous sidecar and
/// records; failing that too, it is left as it is (with a note). Files of live processes are left
/// alone. Returns one note per action (empty: nothing to do).
std::vector<std::string> recover_output_location(const OutputPaths& paths);

/// Writes the CSV through `write_csv`, the records (paths.records) through `write_records` when
/// it is given, and the sidecar (with "csv_sha256" added, and "records_sha256" with records),
/// then commits them as described above and calls guard->finish() in the same deferral: an
/// interruption after the commit no longer stops the program. Without `write_records`, an
/// existing paths.records (an earlier run's; not a directory) is removed by the commit, and a
/// "records_sha256" in `sidecar` is dropped. On any failure (a writer
/// that throws included) the previous files are left as they were, the temporaries are removed,
/// and the exception propagates (std::runtime_error naming the path for I/O failures).
/// `guard` may be null.
void write_output_pair(const OutputPaths& paths, const std::function<void(std::ostream&)>& write_csv,
                       nlohmann::json sidecar, InterruptGuard* guard,
                       const std::function<void(std::ostream&)>& write_records = {});

/// Whether the file name `file` is PREFIX followed by the PID of a process that no longer runs
/// (never this process's): a temporary that a dead run left behind.
bool left_by_dead_process(const std::string& file, const std::string& prefix);

/// The SHA-256 of a file's bytes (64 lowercase hex digits). Throws std::runtime_error if unreadable.
std::string file_sha256(const std::string& path);

/// The table: header "t,<columns>[,<column>_err...]", one row per time, 17 significant digits.
/// With errors, every column X is followed by its standard error X_err.
void write_csv(std::ostream& out, const TimeSeries& series);

}  // namespace qfluct
