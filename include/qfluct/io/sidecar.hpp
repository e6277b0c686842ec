#pragma once
/// The JSON sidecar beside an output CSV: what was run, how, and the solver's diagnostics
/// (README, "Command line"). The command-line program and the Python module write the same.
#include "qfluct/io/config.hpp"
#include "qfluct/io/scan.hpp"
#include "qfluct/solver/time_series.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qfluct {

/// How a computation was asked for.
struct Invocation {
  std::vector<std::string> command;    ///< the command line (or the Python call)
  std::string config_file;             ///< CONFIG as given (Python: "<string>" or "<dict>" when not a file)
  std::vector<std::string> overrides;  ///< KEY=VALUE, in order
  int threads = 1;                     ///< OpenMP threads of the run
  int ranks = 1;                       ///< MPI ranks
  std::string csv;                     ///< where the CSV is written ("" for standard output)
};

/// The sidecar's record of the run; config_sha256 hashes the effective configuration: the
/// compact JSON (sorted keys) of {"parameters": ...} plus, for a scan, "scan": {key, values}.
nlohmann::json sidecar_header(const Invocation& how, const nlohmann::json& parameters,
                              const nlohmann::json& scan = nullptr);

/// The sidecar of a `run`: the header, "derived" (moved out of series.info), "columns", "csv",
/// "solver" (series.info), "wall_seconds" and, with records, "records_csv" (`records_csv`) and
/// "records_columns".
nlohmann::json run_sidecar(const Invocation& how, const RunConfig& config, TimeSeries& series, double wall_seconds,
                           const std::string& records_csv);

/// The sidecar of a `steady` computation (configs from steady_configs, rows from steady_point).
nlohmann::json steady_sidecar(const Invocation& how, const std::vector<RunConfig>& configs,
                              const std::vector<Stationary>& rows, const std::optional<Scan>& scan,
                              double wall_seconds);

}  // namespace qfluct
