#pragma once
/// Error channels (after Spectra): misuse and bad input throw InputError naming the parameter;
/// numerical outcomes come back as status values in results.
#include <stdexcept>
#include <string>

namespace qfluct {

/// Bad input: the message names the offending parameter (a config key such as "model.N").
class InputError : public std::invalid_argument {
 public:
  InputError(std::string key, const std::string& reason)
      : std::invalid_argument(key + ": " + reason), key_(std::move(key)) {}
  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

/// A numerical failure the caller cannot fix by changing one parameter (e.g. a solver that
/// cannot reach its tolerance).
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace qfluct
