#pragma once
/// Numbers as bytes, written and read back in one fixed order: how ensemble states travel
/// between MPI ranks and into checkpoint files. Doubles are copied bit for bit, so a value read
/// back computes exactly like the original. The layout is that of this machine (little-endian
/// x86-64 and ARM64 alike); checkpoint files say so in their header.
#include "qfluct/core/types.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace qfluct {

class ByteWriter {
 public:
  template <class T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    data_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(const RVec& v) {
    put<std::int64_t>(v.size());
    data_.append(reinterpret_cast<const char*>(v.data()), std::size_t(v.size()) * sizeof(double));
  }
  void put(const std::vector<long>& v) {
    put<std::int64_t>(std::int64_t(v.size()));
    for (long x : v) put<std::int64_t>(x);
  }
  void put(const std::string& s) {
    put<std::int64_t>(std::int64_t(s.size()));
    data_ += s;
  }
  const std::string& data() const { return data_; }
  std::string take() { return std::move(data_); }

 private:
  std::string data_;
};

/// Reads what a ByteWriter wrote. Throws std::runtime_error (with `what`, naming the source) when
/// the bytes end early or a length is impossible.
class ByteReader {
 public:
  ByteReader(const std::string& bytes, std::string what) : d_(bytes), what_(std::move(what)) {}
  bool done() const { return pos_ == d_.size(); }
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    need(sizeof v);
    std::memcpy(&v, d_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  RVec vec() {
    const std::size_t n = length(sizeof(double));
    RVec v(static_cast<Index>(n));
    std::memcpy(v.data(), d_.data() + pos_, n * sizeof(double));
    pos_ += n * sizeof(double);
    return v;
  }
  std::vector<long> longs() {
    std::vector<long> v(length(sizeof(std::int64_t)));
    for (auto& x : v) x = long(get<std::int64_t>());
    return v;
  }
  std::string string() {
    const std::size_t n = length(1);
    std::string s = d_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  /// A length prefix, checked against the bytes left (elements of `size` bytes each).
  std::size_t length(std::size_t size) {
    const auto n = get<std::int64_t>();
    if (n < 0 || std::uint64_t(n) > (d_.size() - pos_) / size) fail();
    return std::size_t(n);
  }
  void need(std::size_t n) const {
    if (n > d_.size() - pos_) fail();
  }
  [[noreturn]] void fail() const { throw std::runtime_error(what_ + ": the data is cut short or damaged"); }
  const std::string& d_;
  std::string what_;
  std::size_t pos_ = 0;
};

}  // namespace qfluct
