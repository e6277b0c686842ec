#pragma once
// Configurations from TOML text for the tests: load one (with --set style overrides), expect a
// refusal (the InputError's key and message), look for a note.
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

namespace qfluct::test {

inline RunConfig config(const std::string& text, const std::vector<std::string>& overrides = {},
                        Command command = Command::run) {
  return load_config(toml::parse(text), overrides, command);
}

/// The key and message of the InputError the configuration must raise (a test failure if none).
inline std::pair<std::string, std::string> refusal(const std::string& text,
                                                   const std::vector<std::string>& overrides = {}) {
  try {
    config(text, overrides);
  } catch (const InputError& e) {
    return {e.key(), e.what()};
  }
  FAIL("accepted with " << overrides.size() << " override(s): " << (overrides.empty() ? "" : overrides.back()));
  return {};
}

inline bool has_note(const RunConfig& c, const std::string& part) {
  for (const auto& n : c.notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace qfluct::test
