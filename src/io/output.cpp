#include "qfluct/io/output.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/io/sha256.hpp"

#include <nlohmann/json.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <streambuf>
#include <sys/file.h>
#include <unistd.h>

namespace qfluct {

namespace fs = std::filesystem;

namespace {

std::unique_lock<std::mutex> hold(InterruptGuard* guard) { return guard ? guard->defer() : std::unique_lock<std::mutex>(); }

std::string directory_of(const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  return dir.empty() ? "." : dir.string();
}

/// NAME.tmp.PID etc.: the PID is what tells a dead run's files from a live one's.
std::string with_pid(const std::string& path, const char* kind, long pid) { return fmt::format("{}.{}.{}", path, kind, pid); }

/// Creates `path` for writing, exclusively; a file of that name can only be left by a dead
/// process that had our PID, so it is replaced. Returns the descriptor or -1 with errno set.
int create_exclusive(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
    ::unlink(path.c_str());
  }
  return -1;
}

/// Temporaries of one commit: created and tracked in one deferral, removed (untracked) on
/// failure by the destructor, or released once renamed into place.
class Temporaries {
 public:
  explicit Temporaries(InterruptGuard* guard) : guard_(guard) {}
  Temporaries(const Temporaries&) = delete;
  Temporaries& operator=(const Temporaries&) = delete;
  ~Temporaries() {
    const auto lock = hold(guard_);
    for (const auto& path : paths_) {
      ::unlink(path.c_str());
      if (guard_) guard_->untrack(path);
    }
  }
  /// Call under hold(guard).
  void add(const std::string& path) {
    paths_.push_back(path);
    if (guard_) guard_->track(path);
  }
  /// Call under hold(guard).
  void release(const std::string& path) {
    std::erase(paths_, path);
    if (guard_) guard_->untrack(path);
  }

 private:
  InterruptGuard* guard_;
  std::vector<std::string> paths_;
};

/// A stream buffer onto a file descriptor that hashes every byte it writes.
class HashingFileBuf : public std::streambuf {
 public:
  explicit HashingFileBuf(int fd) : fd_(fd), buffer_(1 << 16) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  int error() const { return error_; }
  std::string hex() { return sha_.hex(); }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    const char* p = pbase();
    std::size_t n = std::size_t(pptr() - pbase());
    sha_.update({p, n});
    while (n > 0) {
      const ssize_t written = ::write(fd_, p, n);
      if (written < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += written, n -= std::size_t(written);
    }
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return true;
  }
  int fd_;
  int error_ = 0;
  std::vector<char> buffer_;
  Sha256 sha_;
};

/// Writes `path` (already created as `fd`) through `write`; syncs and closes it. Returns the
/// SHA-256 of the bytes written. `shown` is the name the user knows, for messages.
std::string fill(int fd, const std::string& shown, const std::function<void(std::ostream&)>& write) {
  HashingFileBuf buf(fd);
  std::ostream out(&buf);
  int error = 0;
  try {
    write(out);
    out.flush();
    error = !out ? (buf.error() ? buf.error() : EIO) : (::fsync(fd) != 0 ? errno : 0);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error) throw std::runtime_error(fmt::format("cannot write {}: {}", shown, std::strerror(error)));
  return buf.hex();
}

/// An exclusive lock on a directory (flock), so that two runs writing to the same place commit
/// one after the other, and recovery never runs beside a commit. Best effort: where the file
/// system has no such locks, nothing is locked.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir) : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  /// Makes the renames in the directory durable.
  void sync() const {
    if (fd_ >= 0) ::fsync(fd_);
  }

 private:
  int fd_;
};

/// The PID in NAME.KIND.PID when `file` has that form.
std::optional<long> pid_suffix(const std::string& file, const std::string& prefix) {
  if (file.size() <= prefix.size() || file.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  long pid = 0;
  const char* first = file.data() + prefix.size();
  const char* last = file.data() + file.size();
  const auto [end, ec] = std::from_chars(first, last, pid);
  if (ec != std::errc() || end != last || pid <= 0 || *first == '+' || *first == '-') return std::nullopt;
  return pid;
}

bool process_is_dead(long pid) {
  if (pid == long(::getpid())) return false;  // ours: never a leftover of a dead run here
  return ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
}

/// The csv_sha256 a sidecar records, or empty (unreadable, not JSON, written before it existed).
std::string recorded_csv_sha256(const std::string& sidecar) {
  std::ifstream in(sidecar);
  if (!in) return "";
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("csv_sha256") || !j["csv_sha256"].is_string()) return "";
  return j["csv_sha256"].get<std::string>();
}

}  // namespace

std::string sidecar_path(const std::string& csv_path) {
  const std::string ext = ".csv";
  if (csv_path.size() > ext.size() && csv_path.compare(csv_path.size() - ext.size(), ext.size(), ext) == 0)
    return csv_path.substr(0, csv_path.size() - ext.size()) + ".json";
  return csv_path + ".json";
}

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  Sha256 sha;
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    sha.update({buffer.data(), std::size_t(in.gcount())});
  }
  if (in.bad()) throw std::runtime_error(fmt::format("cannot read {}", path));
  return sha.hex();
}

OutputPaths check_output_location(const std::string& csv, const std::string& config_path, InterruptGuard* guard) {
  if (csv.empty()) throw InputError("-o", "the path is empty; give a file name such as out.csv");
  const fs::path p(csv);
  const std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..")
    throw InputError("-o", fmt::format("'{}' names a directory; give a file in it, such as {}/out.csv", csv,
                                       csv.back() == '/' ? csv.substr(0, csv.size() - 1) : csv));
  const OutputPaths paths{csv, sidecar_path(csv)};
  const std::string dir = directory_of(csv);
  std::error_code ec;
  const auto dir_status = fs::status(dir, ec);
  if (!fs::exists(dir_status))
    throw InputError("-o", fmt::format("cannot write '{}': the directory '{}' does not exist", csv, dir));
  if (!fs::is_directory(dir_status))
    throw InputError("-o", fmt::format("cannot write '{}': '{}' is not a directory", csv, dir));
  for (const bool is_sidecar : {false, true}) {
    const std::string& path = is_sidecar ? paths.sidecar : paths.csv;
    const std::string what = is_sidecar ? fmt::format("the sidecar of '{}', '{}',", csv, path) : fmt::format("'{}'", csv);
    const auto link_status = fs::symlink_status(path, ec);
    if (!fs::exists(link_status)) continue;
    if (fs::is_directory(fs::status(path, ec)))
      throw InputError("-o", fmt::format("{} is a directory; give a file name such as {}/out.csv", what, path));
    if (!fs::is_regular_file(link_status) && !fs::is_symlink(link_status))
      throw InputError("-o", fmt::format("{} exists and is not a regular file; writing would replace it", what));
    if (fs::equivalent(path, config_path, ec))
      throw InputError("-o", fmt::format("{} is the config file {}; write the outputs elsewhere", what, config_path));
  }
  // Try what the commit will do: create a file in that directory.
  const auto lock = hold(guard);
  const std::string probe = with_pid(csv, "tmp", long(::getpid()));
  const int fd = create_exclusive(probe);
  if (fd < 0) throw InputError("-o", fmt::format("cannot write '{}': {}", csv, std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
  return paths;
}

std::vector<std::string> recover_output_location(const OutputPaths& paths) {
  std::vector<std::string> notes;
  const std::string dir = directory_of(paths.csv);
  const std::string csv_name = fs::path(paths.csv).filename().string();
  const std::string json_name = fs::path(paths.sidecar).filename().string();
  std::vector<std::string> csv_temps, other_leftovers, backups;
  const DirectoryLock lock(dir);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    const std::string path = (fs::path(dir) / file).string();
    if (auto pid = pid_suffix(file, csv_name + ".tmp."); pid && process_is_dead(*pid)) csv_temps.push_back(path);
    else if (auto pid = pid_suffix(file, json_name + ".tmp."); pid && process_is_dead(*pid)) other_leftovers.push_back(path);
    else if (auto pid = pid_suffix(file, json_name + ".old."); pid && process_is_dead(*pid)) backups.push_back(path);
  }
  if (csv_temps.empty() && other_leftovers.empty() && backups.empty()) return notes;

  // A commit cut between its two renames: the sidecar is new, the CSV is not.
  const std::string recorded = recorded_csv_sha256(paths.sidecar);
  if (!recorded.empty() && (!csv_temps.empty() || !backups.empty())) {
    std::string actual;
    try {
      if (fs::exists(paths.csv)) actual = file_sha256(paths.csv);
    } catch (const std::exception&) {
    }
    if (actual != recorded) {
      bool repaired = false;
      for (const auto& temp : csv_temps) {
        try {
          if (file_sha256(temp) != recorded || ::rename(temp.c_str(), paths.csv.c_str()) != 0) continue;
        } catch (const std::exception&) {
          continue;
        }
        std::erase(csv_temps, temp);
        notes.push_back(fmt::format("completed the output pair {} and {}, whose writing was cut short", paths.csv,
                                    paths.sidecar));
        repaired = true;
        break;
      }
      for (const auto& backup : backups) {
        if (repaired) break;
        if (recorded_csv_sha256(backup) != actual || ::rename(backup.c_str(), paths.sidecar.c_str()) != 0) continue;
        std::erase(backups, backup);
        notes.push_back(fmt::format("restored the sidecar {} of {}, whose replacement was cut short", paths.sidecar,
                                    paths.csv));
        repaired = true;
      }
      if (!repaired)
        notes.push_back(fmt::format("{} does not match the csv_sha256 of {}; both left as they are", paths.csv,
                                    paths.sidecar));
    }
  }
  std::vector<std::string> removed;
  for (const auto* list : {&csv_temps, &other_leftovers, &backups})
    for (const auto& path : *list)
      if (::unlink(path.c_str()) == 0) removed.push_back(fs::path(path).filename().string());
  if (!removed.empty()) {
    std::string names;
    for (const auto& r : removed) names += (names.empty() ? "" : ", ") + r;
    notes.push_back(fmt::format("removed {} file(s) left in {} by runs that died: {}", removed.size(), dir, names));
  }
  lock.sync();
  return notes;
}

void write_output_pair(const OutputPaths& paths, const std::function<void(std::ostream&)>& write_csv,
                       nlohmann::json sidecar, InterruptGuard* guard) {
  const long pid = long(::getpid());
  const std::string csv_temp = with_pid(paths.csv, "tmp", pid);
  const std::string json_temp = with_pid(paths.sidecar, "tmp", pid);
  const std::string backup = with_pid(paths.sidecar, "old", pid);
  Temporaries temps(guard);
  auto create = [&](const std::string& path, const std::string& shown) {
    const auto lock = hold(guard);
    const int fd = create_exclusive(path);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", shown, std::strerror(errno)));
    temps.add(path);
    return fd;
  };
  sidecar["csv_sha256"] = fill(create(csv_temp, paths.csv), paths.csv, write_csv);
  fill(create(json_temp, paths.sidecar), paths.sidecar, [&](std::ostream& out) { out << sidecar.dump(2) << '\n'; });

  // The commit: no interruption (but SIGKILL) between its steps, no other run's commit beside it.
  const auto deferred = hold(guard);
  const DirectoryLock lock(directory_of(paths.csv));
  // A hard link to the previous sidecar, to put back if the CSV cannot be replaced.
  std::error_code ec;
  bool backed_up = false;
  if (fs::exists(fs::symlink_status(paths.sidecar, ec))) {
    ::unlink(backup.c_str());
    backed_up = ::link(paths.sidecar.c_str(), backup.c_str()) == 0;
    if (backed_up) temps.add(backup);
  }
  if (::rename(json_temp.c_str(), paths.sidecar.c_str()) != 0)
    throw std::runtime_error(fmt::format("cannot replace {}: {}", paths.sidecar, std::strerror(errno)));
  temps.release(json_temp);
  if (::rename(csv_temp.c_str(), paths.csv.c_str()) != 0) {
    const int error = errno;
    if (backed_up) {
      if (::rename(backup.c_str(), paths.sidecar.c_str()) == 0) temps.release(backup);
    } else {
      ::unlink(paths.sidecar.c_str());
    }
    throw std::runtime_error(fmt::format("cannot replace {}: {}", paths.csv, std::strerror(error)));
  }
  temps.release(csv_temp);
  if (backed_up) {
    ::unlink(backup.c_str());
    temps.release(backup);
  }
  lock.sync();
  if (guard) guard->finish();
}

void write_csv(std::ostream& out, const TimeSeries& s) {
  const bool errors = s.errors.size() > 0;
  std::string line = "t";
  for (const auto& c : s.columns) {
    line += "," + c;
    if (errors) line += "," + c + "_err";
  }
  out << line << '\n';
  for (std::size_t i = 0; i < s.times.size(); ++i) {
    line = fmt::format("{:.17g}", s.times[i]);
    for (Eigen::Index c = 0; c < Eigen::Index(s.columns.size()); ++c) {
      line += fmt::format(",{:.17g}", s.values(Eigen::Index(i), c));
      if (errors) line += fmt::format(",{:.17g}", s.errors(Eigen::Index(i), c));
    }
    out << line << '\n';
  }
}

}  // namespace qfluct
