#pragma once
/// Output files: CSV tables at full double precision and the JSON sidecar, committed as a pair.
///
/// The contract (README, "Command line"): the location given to -o holds either the previous
/// complete pair (OUT.csv, OUT.json) or the new one. Both files are written in full to
/// temporaries beside them, OUT.csv.tmp.PID and OUT.json.tmp.PID (PID: the writing process);
/// the sidecar records the SHA-256 of the CSV's bytes (csv_sha256); then, under a lock on the
/// directory, the sidecar is renamed into place, then the CSV. Between those two renames (two
/// system calls) a process killed by SIGKILL or a power cut leaves the new sidecar beside the
/// old CSV; the CSV's hash shows the mismatch, the new CSV is complete in its temporary, and the
/// next run that writes there completes the commit (recover_output_location). SIGINT, SIGTERM
/// and SIGHUP never land between the renames (InterruptGuard defers them).
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

/// Where -o puts the outputs.
struct OutputPaths {
  std::string csv;      ///< as given to -o
  std::string sidecar;  ///< sidecar_path(csv)
};

/// Checks, before any work, that the location `csv` (the -o argument, as given) can take the
/// outputs: not empty, not a directory (nor its sidecar), not the config file `config_path`
/// (nor its sidecar), not an existing non-regular file such as a device, in a directory that
/// exists and where this process can create files (tried by creating and removing a temporary).
/// Throws InputError("-o", ...) naming the path as given. `guard` may be null.
OutputPaths check_output_location(const std::string& csv, const std::string& config_path, InterruptGuard* guard);

/// Repairs what runs that died (SIGKILL, power cut) left at this location: temporaries and
/// sidecar backups named with the PID of a process that no longer runs are removed; a pair
/// whose sidecar does not match its CSV (csv_sha256) is first completed from such a temporary
/// with the matching hash (or, failing that, restored from the backup of the previous sidecar).
/// Files of live processes are left alone. Returns one note per action (empty: nothing to do).
std::vector<std::string> recover_output_location(const OutputPaths& paths);

/// Writes the CSV through `write_csv` and the sidecar (with "csv_sha256" added), then commits the
/// pair as described above and calls guard->finish() in the same deferral: an interruption after
/// the commit no longer stops the program. On any failure the previous pair is left as it was,
/// the temporaries are removed, and std::runtime_error names the path. `guard` may be null.
void write_output_pair(const OutputPaths& paths, const std::function<void(std::ostream&)>& write_csv,
                       nlohmann::json sidecar, InterruptGuard* guard);

/// The SHA-256 of a file's bytes (64 lowercase hex digits). Throws std::runtime_error if unreadable.
std::string file_sha256(const std::string& path);

/// The table: header "t,<columns>[,<column>_err...]", one row per time, 17 significant digits.
/// With errors, every column X is followed by its standard error X_err.
void write_csv(std::ostream& out, const TimeSeries& series);

}  // namespace qfluct
