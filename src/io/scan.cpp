#include "qfluct/io/scan.hpp"

#include "qfluct/core/error.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace qfluct {

std::string scan_column(const std::string& key) {
  const auto dot = key.rfind('.');
  std::string column = key.substr(dot + 1);
  // A key inside an element of an array of tables is prefixed with it (mode[1].omega ->
  // mode1_omega, system.channel[0].rate -> channel0_rate): the last part alone is ambiguous there.
  std::string prefix;
  if (dot != std::string::npos) {
    const std::string parent = key.substr(0, dot);
    const std::string last = parent.substr(parent.rfind('.') == std::string::npos ? 0 : parent.rfind('.') + 1);
    if (const auto bracket = last.find('['); bracket != std::string::npos)
      prefix = last.substr(0, bracket) + last.substr(bracket + 1, last.size() - bracket - 2) + "_";
  }
  if (const auto bracket = column.find('['); bracket != std::string::npos) {
    const std::string index = column.substr(bracket + 1, column.size() - bracket - 2);
    const bool vector = prefix.empty();  // model.w[0] -> w_x; coupling[0].a[1] -> coupling0_a_1
    column = column.substr(0, bracket) + "_" +
             (vector && index == "0" ? "x" : vector && index == "1" ? "y" : vector && index == "2" ? "z" : index);
  }
  return prefix + column;
}

Scan parse_scan(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError("--scan", "expects KEY=START:STOP:COUNT, e.g. model.g0=0.5:8:16");
  Scan scan;
  scan.key = spec.substr(0, eq);
  scan.column = scan_column(scan.key);
  const std::string range = spec.substr(eq + 1);
  const auto bad = [&] { return InputError("--scan", fmt::format("'{}' is not START:STOP:COUNT with numbers", range)); };
  const auto c1 = range.find(':'), c2 = c1 == std::string::npos ? c1 : range.find(':', c1 + 1);
  if (c2 == std::string::npos) throw bad();
  auto number = [&](std::size_t from, std::size_t to, auto& value) {
    const char* first = range.data() + from;
    const char* last = range.data() + to;
    const auto [end, ec] = std::from_chars(first, last, value);
    if (first == last || end != last) throw bad();
    return ec;
  };
  double start = 0, stop = 0;
  long long count = 0;
  if (number(0, c1, start) != std::errc() || number(c1 + 1, c2, stop) != std::errc() || !std::isfinite(start) ||
      !std::isfinite(stop))
    throw bad();
  const bool too_many = number(c2 + 1, range.size(), count) == std::errc::result_out_of_range;
  if (too_many || count > max_scan_points)
    throw InputError("--scan", fmt::format("COUNT must be at most {} points, got {}", max_scan_points,
                                           range.substr(c2 + 1)));
  if (count < 1 || (count == 1 && start != stop))
    throw InputError("--scan", fmt::format("COUNT must be >= 2 (or 1 with START = STOP), got {}", count));
  for (long long i = 0; i < count; ++i)
    scan.values.push_back(count == 1 ? start : start + (stop - start) * double(i) / double(count - 1));
  return scan;
}

Scan make_scan(const std::string& key, const std::vector<double>& values, const std::string& what) {
  if (key.empty()) throw InputError(what, "the scanned key is empty");
  if (values.empty() || values.size() > std::size_t(max_scan_points))
    throw InputError(what, fmt::format("a scan takes 1 to {} values, got {}", max_scan_points, values.size()));
  for (double v : values)
    if (!std::isfinite(v)) throw InputError(what, fmt::format("scan values must be finite, got {}", v));
  return {key, scan_column(key), values};
}

Scan recorded_scan(const nlohmann::json& scan, const std::string& path) {
  if (!scan.is_object() || !scan.contains("key") || !scan["key"].is_string() || !scan.contains("values") ||
      !scan["values"].is_array() || scan["values"].empty() || scan["values"].size() > std::size_t(max_scan_points))
    throw InputError(path, fmt::format("\"scan\" must hold a \"key\" and 1 to {} \"values\"", max_scan_points));
  Scan s{scan["key"].get<std::string>(), scan_column(scan["key"].get<std::string>()), {}};
  for (const auto& v : scan["values"]) {
    if (!v.is_number()) throw InputError(path, "\"scan\" values must be numbers");
    s.values.push_back(v.get<double>());
  }
  return s;
}

std::vector<RunConfig> steady_configs(const toml::table& table, const std::vector<std::string>& overrides,
                                      const std::optional<Scan>& scan) {
  const std::size_t count = scan ? scan->values.size() : 1;
  std::vector<RunConfig> configs;
  for (std::size_t i = 0; i < count; ++i) {
    std::vector<std::string> point = overrides;
    if (scan) point.push_back(fmt::format("{}={:.17g}", scan->key, scan->values[i]));
    try {
      configs.push_back(load_config(table, point, Command::steady));  // [solver] noted, not recorded
    } catch (const InputError& e) {
      if (!scan) throw;
      const std::string reason = std::string(e.what()).substr(e.key().size() + 2);
      throw InputError(e.key(), fmt::format("{} (at scan point {} of {}, {} = {:.17g})", reason, i + 1, count,
                                            scan->key, scan->values[i]));
    }
  }
  return configs;
}

Stationary steady_point(const std::vector<RunConfig>& configs, const std::optional<Scan>& scan, std::size_t i) {
  try {
    return stationary(configs.at(i));
  } catch (const InputError& e) {  // a scan fails as a whole, naming the point
    if (!scan) throw;
    const std::string reason = std::string(e.what()).substr(e.key().size() + 2);  // what() is "KEY: reason"
    throw InputError(e.key(), fmt::format("at {} = {:.10g}: {}", scan->key, scan->values[i], reason));
  } catch (const NumericalError& e) {
    if (!scan) throw;
    throw NumericalError(fmt::format("at {} = {:.10g}: {}", scan->key, scan->values[i], e.what()));
  }
}

std::vector<std::string> steady_columns(const std::vector<Stationary>& rows, const std::optional<Scan>& scan) {
  std::vector<std::string> columns = rows.empty() ? std::vector<std::string>{} : rows.front().columns;
  if (scan) columns.insert(columns.begin(), scan->column);
  return columns;
}

nlohmann::json steady_points(const std::vector<Stationary>& rows, const std::optional<Scan>& scan) {
  nlohmann::json points = nlohmann::json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    nlohmann::json point = rows[i].info.json();
    if (scan) point[scan->column] = scan->values[i];
    points.push_back(point);
  }
  return points;
}

void write_steady_csv(std::ostream& out, const std::vector<Stationary>& rows, const std::optional<Scan>& scan) {
  std::string line;
  for (const auto& c : steady_columns(rows, scan)) line += (line.empty() ? "" : ",") + c;
  out << line << '\n';
  for (std::size_t i = 0; i < rows.size(); ++i) {
    line = scan ? fmt::format("{:.17g}", scan->values[i]) : "";
    for (double v : rows[i].values) line += fmt::format("{}{:.17g}", line.empty() ? "" : ",", v);
    out << line << '\n';
  }
}

}  // namespace qfluct
