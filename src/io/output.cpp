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

/// The hashes a sidecar records of its files.
struct Recorded {
  std::string csv;      ///< csv_sha256; empty: unreadable, not JSON, or written before it existed
  std::string records;  ///< records_sha256; empty: the set has no records file
};

Recorded recorded_hashes(const std::string& sidecar) {
  std::ifstream in(sidecar);
  if (!in) return {};
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("csv_sha256") || !j["csv_sha256"].is_string()) return {};
  Recorded r{j["csv_sha256"].get<std::string>(), ""};
  if (j.contains("records_sha256") && j["records_sha256"].is_string()) r.records = j["records_sha256"].get<std::string>();
  return r;
}

/// A file's hash; empty when there is no such file, "unreadable" (never a hash) when it cannot
/// be read.
std::string hash_of(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return "";
  try {
    return file_sha256(path);
  } catch (const std::exception&) {
    return "unreadable";
  }
}

/// The first of `files` whose bytes have the hash `want` (never for an empty `want`).
std::optional<std::string> with_hash(const std::vector<std::string>& files, const std::string& want) {
  if (want.empty()) return std::nullopt;
  for (const auto& file : files)
    if (hash_of(file) == want) return file;
  return std::nullopt;
}

/// Puts `backup` back in place of `target` (an atomic rename). On success the backup is no longer
/// a temporary; on failure it is left tracked and goes with the other temporaries.
void put_back(const std::string& backup, const std::string& target, Temporaries& temps) {
  if (::rename(backup.c_str(), target.c_str()) == 0) temps.release(backup);
}

}  // namespace

bool left_by_dead_process(const std::string& file, const std::string& prefix) {
  const auto pid = pid_suffix(file, prefix);
  return pid && process_is_dead(*pid);
}

std::string sidecar_path(const std::string& csv_path) {
  const std::string ext = ".csv";
  if (csv_path.size() > ext.size() && csv_path.compare(csv_path.size() - ext.size(), ext.size(), ext) == 0)
    return csv_path.substr(0, csv_path.size() - ext.size()) + ".json";
  return csv_path + ".json";
}

std::string records_path(const std::string& csv_path) {
  const std::string ext = ".csv";
  if (csv_path.size() > ext.size() && csv_path.compare(csv_path.size() - ext.size(), ext.size(), ext) == 0)
    return csv_path.substr(0, csv_path.size() - ext.size()) + ".records.csv";
  return csv_path + ".records.csv";
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
  const OutputPaths paths{csv, sidecar_path(csv), records_path(csv)};
  const std::string dir = directory_of(csv);
  std::error_code ec;
  const auto dir_status = fs::status(dir, ec);
  if (!fs::exists(dir_status))
    throw InputError("-o", fmt::format("cannot write '{}': the directory '{}' does not exist", csv, dir));
  if (!fs::is_directory(dir_status))
    throw InputError("-o", fmt::format("cannot write '{}': '{}' is not a directory", csv, dir));
  // The records file is checked even for a run without records: the commit removes it then.
  for (const std::string* path : {&paths.csv, &paths.sidecar, &paths.records}) {
    const std::string what = path == &paths.csv       ? fmt::format("'{}'", csv)
                             : path == &paths.sidecar ? fmt::format("the sidecar of '{}', '{}',", csv, *path)
                                                      : fmt::format("the records file of '{}', '{}',", csv, *path);
    const auto link_status = fs::symlink_status(*path, ec);
    if (!fs::exists(link_status)) continue;
    if (fs::is_directory(fs::status(*path, ec)))
      throw InputError("-o", fmt::format("{} is a directory; give a file name such as {}/out.csv", what, *path));
    if (!fs::is_regular_file(link_status) && !fs::is_symlink(link_status))
      throw InputError("-o", fmt::format("{} exists and is not a regular file; writing would replace it", what));
    if (fs::equivalent(*path, config_path, ec))
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
  const std::string records_name = fs::path(paths.records).filename().string();
  std::vector<std::string> csv_temps, records_temps, other_leftovers, backups, records_backups;
  const DirectoryLock lock(dir);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    const std::string path = (fs::path(dir) / file).string();
    auto dead = [&](const std::string& prefix) { return left_by_dead_process(file, prefix); };
    if (dead(csv_name + ".tmp.")) csv_temps.push_back(path);
    else if (dead(records_name + ".tmp.")) records_temps.push_back(path);
    else if (dead(json_name + ".tmp.")) other_leftovers.push_back(path);
    else if (dead(json_name + ".old.")) backups.push_back(path);
    else if (dead(records_name + ".old.")) records_backups.push_back(path);
  }
  if (csv_temps.empty() && records_temps.empty() && other_leftovers.empty() && backups.empty() &&
      records_backups.empty())
    return notes;

  // A commit cut between its renames: the sidecar is new, the CSV or the records are not (or the
  // records file of an earlier run is still there).
  const Recorded recorded = recorded_hashes(paths.sidecar);
  const bool cut = !csv_temps.empty() || !records_temps.empty() || !backups.empty() || !records_backups.empty();
  if (!recorded.csv.empty() && cut) {
    const std::string csv_hash = hash_of(paths.csv), records_hash = hash_of(paths.records);
    // Both empty for "no records file, none named".
    const bool csv_ok = csv_hash == recorded.csv, records_ok = records_hash == recorded.records;
    if (!csv_ok || !records_ok) {
      bool repaired = false;
      // Forward: the cut run's temporaries hold the files its sidecar names.
      const auto csv_temp = csv_ok ? std::nullopt : with_hash(csv_temps, recorded.csv);
      const auto records_temp = records_ok ? std::nullopt : with_hash(records_temps, recorded.records);
      if ((csv_ok || csv_temp) && (records_ok || records_temp || recorded.records.empty())) {
        bool done = true;
        std::string records_part;
        if (!records_ok && records_temp) {
          done = ::rename(records_temp->c_str(), paths.records.c_str()) == 0;
          if (done) {
            std::erase(records_temps, *records_temp);
            records_part = fmt::format(" with the records {}", paths.records);
          }
        } else if (!records_ok) {
          done = ::unlink(paths.records.c_str()) == 0;
          if (done) records_part = fmt::format(" (removed {}, which belonged to an earlier run)", paths.records);
        }
        if (done && csv_temp) {
          done = ::rename(csv_temp->c_str(), paths.csv.c_str()) == 0;
          if (done) std::erase(csv_temps, *csv_temp);
        }
        if (done)
          notes.push_back(fmt::format("completed the output pair {} and {}{}, whose writing was cut short", paths.csv,
                                      paths.sidecar, records_part));
        repaired = done;
      }
      // Backward: the previous sidecar matches the CSV still in place; its records (or none) go back too.
      for (std::size_t i = 0; i < backups.size() && !repaired; ++i) {
        const std::string backup = backups[i];
        const Recorded previous = recorded_hashes(backup);
        if (previous.csv.empty() || previous.csv != csv_hash) continue;
        std::string records_part;
        if (records_hash != previous.records) {
          if (const auto old_records = with_hash(records_backups, previous.records)) {
            if (::rename(old_records->c_str(), paths.records.c_str()) != 0) continue;
            std::erase(records_backups, *old_records);
            records_part = fmt::format(" and its records {}", paths.records);
          } else if (previous.records.empty()) {
            if (::unlink(paths.records.c_str()) != 0) continue;
            records_part = fmt::format(" (removed {}, written by the cut run)", paths.records);
          } else {
            continue;
          }
        }
        if (::rename(backup.c_str(), paths.sidecar.c_str()) != 0) continue;
        std::erase(backups, backup);
        notes.push_back(fmt::format("restored the sidecar {} of {}{}, whose replacement was cut short", paths.sidecar,
                                    paths.csv, records_part));
        repaired = true;
      }
      if (!repaired) {
        if (!csv_ok)
          notes.push_back(fmt::format("{} does not match the csv_sha256 of {}; both left as they are", paths.csv,
                                      paths.sidecar));
        else if (!recorded.records.empty())
          notes.push_back(fmt::format("{} does not match the records_sha256 of {}; both left as they are", paths.records,
                                      paths.sidecar));
        else
          notes.push_back(fmt::format("cannot remove {}, which {} does not name; left as it is", paths.records,
                                      paths.sidecar));
      }
    }
  }
  std::vector<std::string> removed;
  for (const auto* list : {&csv_temps, &records_temps, &other_leftovers, &backups, &records_backups})
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
                       nlohmann::json sidecar, InterruptGuard* guard,
                       const std::function<void(std::ostream&)>& write_records) {
  const bool with_records = bool(write_records);
  const long pid = long(::getpid());
  const std::string csv_temp = with_pid(paths.csv, "tmp", pid);
  const std::string records_temp = with_pid(paths.records, "tmp", pid);
  const std::string json_temp = with_pid(paths.sidecar, "tmp", pid);
  const std::string backup = with_pid(paths.sidecar, "old", pid);
  const std::string records_backup = with_pid(paths.records, "old", pid);
  Temporaries temps(guard);
  auto create = [&](const std::string& path, const std::string& shown) {
    const auto lock = hold(guard);
    const int fd = create_exclusive(path);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", shown, std::strerror(errno)));
    temps.add(path);
    return fd;
  };
  sidecar["csv_sha256"] = fill(create(csv_temp, paths.csv), paths.csv, write_csv);
  if (with_records)
    sidecar["records_sha256"] = fill(create(records_temp, paths.records), paths.records, write_records);
  else
    sidecar.erase("records_sha256");  // the sidecar names no records file but its own
  fill(create(json_temp, paths.sidecar), paths.sidecar, [&](std::ostream& out) { out << sidecar.dump(2) << '\n'; });

  // The commit: no interruption (but SIGKILL) between its steps, no other run's commit beside it.
  const auto deferred = hold(guard);
  const DirectoryLock lock(directory_of(paths.csv));
  // A hard link to the previous sidecar, to put back if a later step fails.
  std::error_code ec;
  bool backed_up = false;
  if (fs::exists(fs::symlink_status(paths.sidecar, ec))) {
    ::unlink(backup.c_str());
    backed_up = ::link(paths.sidecar.c_str(), backup.c_str()) == 0;
    if (backed_up) temps.add(backup);
  }
  auto restore_sidecar = [&] {
    if (backed_up) put_back(backup, paths.sidecar, temps);
    else ::unlink(paths.sidecar.c_str());
  };
  if (::rename(json_temp.c_str(), paths.sidecar.c_str()) != 0)
    throw std::runtime_error(fmt::format("cannot replace {}: {}", paths.sidecar, std::strerror(errno)));
  temps.release(json_temp);
  // The records file in place (the previous set's, or an earlier run's that this set must not
  // keep) goes aside, to be put back on failure. A directory of that name is not ours to move.
  bool moved_records = false, records_in = false;
  const auto records_status = fs::symlink_status(paths.records, ec);
  if (fs::exists(records_status) && !fs::is_directory(records_status)) {
    if (::rename(paths.records.c_str(), records_backup.c_str()) != 0) {
      const int error = errno;
      restore_sidecar();
      throw std::runtime_error(
          fmt::format("cannot {} {}: {}", with_records ? "replace" : "remove", paths.records, std::strerror(error)));
    }
    moved_records = true;
    temps.add(records_backup);
  }
  auto restore_records = [&] {
    if (moved_records) put_back(records_backup, paths.records, temps);  // replaces the new one, if any
    else if (records_in) ::unlink(paths.records.c_str());
  };
  // Renames a temporary into place; on failure puts everything committed so far back.
  auto commit = [&](const std::string& temp, const std::string& target) {
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      const int error = errno;
      restore_records();
      restore_sidecar();
      throw std::runtime_error(fmt::format("cannot replace {}: {}", target, std::strerror(error)));
    }
    temps.release(temp);
  };
  if (with_records) {
    commit(records_temp, paths.records);
    records_in = true;
  }
  commit(csv_temp, paths.csv);
  for (const auto& [made, path] : {std::pair{backed_up, &backup}, std::pair{moved_records, &records_backup}})
    if (made) {
      ::unlink(path->c_str());
      temps.release(*path);
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
