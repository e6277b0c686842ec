#pragma once
/// SHA-256 (FIPS 180-4) of byte strings, for the checksums in the JSON sidecar: the CSV's
/// bytes (csv_sha256) and the effective configuration (config_sha256). A plain implementation
/// of the standard, checked against the NIST test vectors; no extra library needed.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace qfluct {

/// Incremental SHA-256: update() any number of times, then hex() once.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  /// The digest as 64 lowercase hex digits (as printed by sha256sum). Ends the computation:
  /// call it once.
  std::string hex();

 private:
  void block(const unsigned char* p);
  std::array<std::uint32_t, 8> h_;
  std::array<unsigned char, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  ///< bytes seen
};

/// The SHA-256 of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace qfluct
