#include "qfluct/io/sidecar.hpp"

#include "qfluct/core/kernel_variant.hpp"
#include "qfluct/io/records.hpp"
#include "qfluct/io/sha256.hpp"
#include "qfluct/version.hpp"

#include <ctime>

namespace qfluct {

namespace {

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

nlohmann::json sidecar_header(const Invocation& how, const nlohmann::json& parameters, const nlohmann::json& scan) {
  nlohmann::json effective = {{"parameters", parameters}};
  if (!scan.is_null()) effective["scan"] = scan;
  nlohmann::json sidecar = {{"qfluct_version", qfluct::version}, {"command", how.command},
                            {"created", now_iso8601()},          {"config_file", how.config_file},
                            {"overrides", how.overrides},        {"threads", how.threads},
                            {"ranks", how.ranks},                {"kernel_variant", kernel_variant()},
                            {"parameters", parameters},          {"config_sha256", sha256_hex(effective.dump())}};
  if (!scan.is_null()) sidecar["scan"] = scan;
  return sidecar;
}

nlohmann::json run_sidecar(const Invocation& how, const RunConfig& config, TimeSeries& series, double wall_seconds,
                           const std::string& records_csv) {
  nlohmann::json sidecar = sidecar_header(how, config.to_json());
  sidecar["derived"] = series.info["derived"];
  series.info.json().erase("derived");
  sidecar["columns"] = series.columns;
  sidecar["csv"] = how.csv;
  sidecar["solver"] = series.info.json();
  sidecar["wall_seconds"] = wall_seconds;
  if (!series.records.empty()) {
    sidecar["records_csv"] = records_csv;
    sidecar["records_columns"] = records_columns(series.records);
  }
  return sidecar;
}

nlohmann::json steady_sidecar(const Invocation& how, const std::vector<RunConfig>& configs,
                              const std::vector<Stationary>& rows, const std::optional<Scan>& scan,
                              double wall_seconds) {
  nlohmann::json sidecar = sidecar_header(how, configs.front().to_json(), scan ? scan->to_json() : nlohmann::json());
  sidecar["columns"] = steady_columns(rows, scan);
  sidecar["csv"] = how.csv;
  sidecar["points"] = steady_points(rows, scan);
  sidecar["wall_seconds"] = wall_seconds;
  return sidecar;
}

}  // namespace qfluct
