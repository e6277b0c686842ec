#pragma once
/// SHA-256 of byte strings, for the checksums in the JSON sidecar: the CSV's bytes
/// (csv_sha256) and the effective configuration (config_sha256). Computed by OpenSSL's
/// libcrypto (EVP interface); the digest is printed as sha256sum prints it.
#include <memory>
#include <string>
#include <string_view>

namespace qfluct {

/// Incremental SHA-256: update() any number of times, then hex() once.
/// Throws std::runtime_error if libcrypto fails (it does not for SHA-256 on valid memory).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(std::string_view bytes);
  /// The digest as 64 lowercase hex digits (as printed by sha256sum). Ends the computation:
  /// call it once.
  std::string hex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

/// The SHA-256 of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace qfluct
