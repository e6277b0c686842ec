#include "qfluct/io/checkpoint.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/io/output.hpp"
#include "qfluct/io/sha256.hpp"

#include <bit>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <vector>
#include <sstream>
#include <unistd.h>

namespace qfluct {

namespace fs = std::filesystem;

namespace {

constexpr const char* magic = "qfluct-checkpoint 1";

std::string byte_order() { return std::endian::native == std::endian::little ? "little-endian" : "big-endian"; }

std::string directory_of(const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  return dir.empty() ? "." : dir.string();
}

void write_all(int fd, const std::string& bytes, const std::string& shown) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("cannot write {}: {}", shown, std::strerror(errno)));
    }
    p += w, n -= std::size_t(w);
  }
}

/// Flattened "a.b.c" -> value of a JSON object.
void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out[prefix] = j.dump();
}

}  // namespace

std::string checkpoint_bytes(nlohmann::json header, const std::string& state) {
  header["state_bytes"] = state.size();
  header["state_sha256"] = sha256_hex(state);
  header["byte_order"] = byte_order();
  return std::string(magic) + "\n" + header.dump() + "\n" + state;
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string temp = fmt::format("{}.tmp.{}", path, long(::getpid()));
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
  try {
    write_all(fd, bytes, temp);
    if (::fsync(fd) != 0) throw std::runtime_error(fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0 || ::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    throw std::runtime_error(fmt::format("cannot replace {}: {}", path, std::strerror(error)));
  }
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

CheckpointFile read_checkpoint(const std::string& path, const std::string& key) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw InputError(key, fmt::format("no checkpoint '{}': the file does not exist", path));
  if (fs::is_directory(status)) throw InputError(key, fmt::format("'{}' is a directory, not a checkpoint", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(key, fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  std::string first, header_line;
  std::getline(in, first);
  if (first != magic)
    throw InputError(key, fmt::format("'{}' is not a qfluct checkpoint (it does not start with \"{}\")", path, magic));
  std::getline(in, header_line);
  CheckpointFile file;
  file.header = nlohmann::json::parse(header_line, nullptr, false);
  if (file.header.is_discarded() || !file.header.is_object() || !file.header.contains("state_sha256") ||
      !file.header.contains("state_bytes"))
    throw InputError(key, fmt::format("'{}' is a damaged checkpoint (its header is not readable)", path));
  std::ostringstream rest;
  rest << in.rdbuf();
  file.state = rest.str();
  if (file.header.value("byte_order", "") != byte_order())
    throw InputError(key, fmt::format("'{}' was written on a {} machine; this one is {}", path,
                                      file.header.value("byte_order", "?"), byte_order()));
  if (file.state.size() != file.header["state_bytes"].get<std::size_t>() ||
      sha256_hex(file.state) != file.header["state_sha256"].get<std::string>())
    throw InputError(key, fmt::format("'{}' is a damaged checkpoint: its state does not match the checksum in its header",
                                      path));
  return file;
}

void check_checkpoint_location(const std::string& path, const std::string& key, bool continuing) {
  if (path.empty()) throw InputError(key, "the path is empty; give a file name such as run.ckpt");
  const std::string dir = directory_of(path);
  std::error_code ec;
  const auto dir_status = fs::status(dir, ec);
  if (!fs::is_directory(dir_status))
    throw InputError(key, fmt::format("cannot write '{}': the directory '{}' does not exist", path, dir));
  if (::access(dir.c_str(), W_OK) != 0)
    throw InputError(key, fmt::format("cannot write '{}': the directory '{}' is not writable", path, dir));
  const auto status = fs::status(path, ec);
  if (fs::exists(status)) {
    if (fs::is_directory(status)) throw InputError(key, fmt::format("'{}' is a directory; give a file in it", path));
    std::ifstream in(path, std::ios::binary);
    std::string first;
    std::getline(in, first);
    if (first != magic)
      throw InputError(key, fmt::format("'{}' exists and is not a qfluct checkpoint; not overwriting it", path));
    if (!continuing)
      throw InputError(key, fmt::format("'{}' already holds a checkpoint: continue that run with --resume {}, or remove "
                                        "the file (or choose another path) to start afresh", path, path));
  }
  // Temporaries of dead runs (SIGKILL during a write).
  const std::string prefix = fs::path(path).filename().string() + ".tmp.";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (left_by_dead_process(entry.path().filename().string(), prefix)) ::unlink(entry.path().c_str());
  }
}

std::string plan_config_sha256(nlohmann::json parameters) {
  if (parameters.contains("solver") && parameters["solver"].is_object()) parameters["solver"].erase("ntraj");
  return sha256_hex(parameters.dump());
}

std::string changed_keys(const nlohmann::json& before, const nlohmann::json& after, const std::string& before_label,
                         const std::string& after_label) {
  std::map<std::string, std::string> a, b;
  flatten(before, "", a);
  flatten(after, "", b);
  std::vector<std::string> changes;
  for (const auto& [k, v] : a) {
    const auto it = b.find(k);
    if (it == b.end()) changes.push_back(fmt::format("{} ({} {}, {} unset)", k, before_label, v, after_label));
    else if (it->second != v) changes.push_back(fmt::format("{} ({} {}, {} {})", k, before_label, v, after_label, it->second));
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) changes.push_back(fmt::format("{} ({} unset, {} {})", k, before_label, after_label, v));
  std::string text;
  for (std::size_t i = 0; i < changes.size() && i < 5; ++i) text += (i ? ", " : "") + changes[i];
  if (changes.size() > 5) text += fmt::format(" and {} more", changes.size() - 5);
  return text;
}

}  // namespace qfluct
