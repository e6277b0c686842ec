#pragma once
/// Configurations as TOML tables: files, --set overrides, sidecars read back as configs. The
/// validated result is a RunConfig (io/config.hpp).
#include "qfluct/io/config.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <toml++/toml.h>
#include <vector>

namespace qfluct {

/// Parses one --set argument "KEY=VALUE" (VALUE in TOML syntax; a bare word is taken as a string)
/// into `table`, creating sub-tables as needed. "KEY[i]=VALUE" sets one element of the array in
/// `table`, or of the key's default array (model.w, model.h: CentralSpinParameters' defaults)
/// when the key is not set; InputError (naming KEY[i]) when the key holds no array and has no
/// array default (initial.central = "up", initial.bath = "steady") or i is out of range. A part
/// "NAME[i]" before the last dot addresses element i of an array of tables (mode[0].omega,
/// system.channel[1].rate, output.observable[0].O), which must exist.
void apply_override(toml::table& table, const std::string& assignment);

/// Builds and validates a RunConfig from a TOML table. The accuracy settings (solver.rtol, atol,
/// jump_tol, window_tol, model.fock_tol) must lie in measured ranges (InputError naming the key
/// and the range); legal but loose values get a note. Bloch vectors: see bloch_tolerance.
/// `command`: see Command.
RunConfig parse_config(const toml::table& table, Command command = Command::run);

/// A config file as a TOML table. A qfluct sidecar (JSON) is read through its "parameters"
/// object, so that `qfluct run OUT.json` repeats the run that wrote it.
struct ConfigFile {
  toml::table table;
  nlohmann::json sidecar;  ///< the whole sidecar when the file is one; null for TOML
};

/// Reads CONFIG: TOML, or a sidecar when the name ends in ".json" or the content starts with
/// '{'. Errors (InputError naming the path): no such file, a directory, unreadable, malformed
/// TOML or JSON, JSON that is not an object with a "parameters" object.
ConfigFile read_config_file(const std::string& path);

/// The content of a config file, `text`, read as read_config_file reads the file `path` (errors
/// name `path`; a name that ends in ".json" or content that starts with '{' is a sidecar).
ConfigFile parse_config_text(const std::string& text, const std::string& path);

/// A sidecar's "parameters" object as the TOML table the equivalent TOML file gives: objects
/// become tables, JSON integers TOML integers, other numbers floats (so an integer-valued float
/// stays a float, as the sidecar writes it: 4.0). InputError naming the key for a null or an
/// integer beyond the 64-bit range.
toml::table parameters_table(const nlohmann::json& parameters);

/// Every key a configuration may set: "section.key" ("model.N", "solver.ntraj", ...) and, inside
/// arrays of tables, "path[i].key" ("mode[i].omega", "system.channel[i].rate", ...).
std::vector<std::string> config_keys();

/// Applies the overrides in order to `table` and validates.
RunConfig load_config(toml::table table, const std::vector<std::string>& overrides, Command command = Command::run);

}  // namespace qfluct
