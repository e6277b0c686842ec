#pragma once
/// Stationary states across a parameter scan (`qfluct steady --scan`, `qfluct.steady(scan=...)`):
/// the scan, one checked configuration per point, the solve of a point, the CSV table.
#include "qfluct/io/config_file.hpp"
#include "qfluct/simulate.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace qfluct {

/// A scan: KEY over `values`, written to the CSV as the first column `column`.
struct Scan {
  std::string key, column;
  std::vector<double> values;
  nlohmann::json to_json() const { return {{"key", key}, {"values", values}}; }
};

/// At most this many scan points: each is a full stationary solve, and the CSV and sidecar grow
/// with them; more than this is a typing error rather than a plan.
inline constexpr long max_scan_points = 100'000;

/// The CSV column of a scanned key: its last part (model.g0 -> g0), vector components named by
/// their axis (model.w[0] -> w_x), a key inside an element of an array of tables prefixed with it
/// (mode[1].omega -> mode1_omega, coupling[0].a[1] -> coupling0_a_1).
std::string scan_column(const std::string& key);

/// --scan KEY=START:STOP:COUNT: COUNT values, both ends included (InputError naming "--scan").
Scan parse_scan(const std::string& spec);

/// KEY over the given values (1 to max_scan_points finite numbers; InputError naming `what`).
Scan make_scan(const std::string& key, const std::vector<double>& values, const std::string& what);

/// The scan a steady-state sidecar records (its "scan" object), to repeat it; InputError naming
/// `path` when it is malformed.
Scan recorded_scan(const nlohmann::json& scan, const std::string& path);

/// The configuration of every point (`table` with the overrides, then KEY=value), each checked
/// before the first solve: an InputError names the point. Without a scan, the one configuration.
std::vector<RunConfig> steady_configs(const toml::table& table, const std::vector<std::string>& overrides,
                                      const std::optional<Scan>& scan);

/// The stationary state of point i of steady_configs (a failure names the point).
Stationary steady_point(const std::vector<RunConfig>& configs, const std::optional<Scan>& scan, std::size_t i);

/// The table's columns: the scanned column (if any), then the stationary observables.
std::vector<std::string> steady_columns(const std::vector<Stationary>& rows, const std::optional<Scan>& scan);

/// The sidecar's "points": every point's diagnostics, with the scanned value.
nlohmann::json steady_points(const std::vector<Stationary>& rows, const std::optional<Scan>& scan);

/// The CSV: header steady_columns, one row per point, 17 significant digits.
void write_steady_csv(std::ostream& out, const std::vector<Stationary>& rows, const std::optional<Scan>& scan);

}  // namespace qfluct
