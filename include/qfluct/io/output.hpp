#pragma once
/// Output files: CSV tables at full double precision and the JSON sidecar, written to a
/// temporary name and renamed into place, so a failed run leaves nothing half-written.
#include "qfluct/solver/time_series.hpp"

#include <functional>
#include <ostream>
#include <string>

namespace qfluct {

/// OUT.csv -> OUT.json (any other name gets ".json" appended).
std::string sidecar_path(const std::string& csv_path);

/// Writes `path` through `write`, via a temporary file in the same directory and a rename.
void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

/// The table: header "t,<columns>[,<column>_err...]", one row per time, 17 significant digits.
/// With errors, every column X is followed by its standard error X_err.
void write_csv(std::ostream& out, const TimeSeries& series);

}  // namespace qfluct
