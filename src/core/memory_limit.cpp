#include "qfluct/core/memory_limit.hpp"

#include "qfluct/core/error.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace qfluct {

namespace fs = std::filesystem;

namespace {

constexpr double gib = 1024.0 * 1024.0 * 1024.0;
// Kernels report "no limit" as a huge number (v1: 2^63 rounded down to a page).
constexpr double unlimited = 0x1p62;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
  return parts;
}

/// A cgroup limit file's value: "max" or a huge number mean no limit.
std::optional<double> read_limit_file(const fs::path& file) {
  std::ifstream in(file);
  std::string value;
  if (!(in >> value) || value == "max") return std::nullopt;
  try {
    const double v = std::stod(value);
    return v > 0 && v < unlimited ? std::optional<double>(v) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// kB figure of a /proc/self/status line ("VmSize:   1234 kB"), in bytes.
double status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return 1024.0 * std::atof(line.c_str() + key.size() + 1);
  return 0.0;
}

std::optional<double> soft_rlimit(int resource) {
  rlimit r{};
  if (::getrlimit(resource, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return double(r.rlim_cur);
}

}  // namespace

std::optional<std::pair<double, std::string>> cgroup_memory_limit(const fs::path& root) {
  // /proc/self/cgroup: "ID:CONTROLLERS:PATH"; v2 is "0::PATH", v1 lists "memory" among its controllers.
  std::string v2_path, v1_path;
  bool has_v2 = false, has_v1 = false;
  {
    std::ifstream in(root / "proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
      const auto a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
      if (b == std::string::npos) continue;
      const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (line.substr(0, a) == "0" && controllers.empty()) has_v2 = true, v2_path = path;
      const auto list = split(controllers, ',');
      if (std::find(list.begin(), list.end(), "memory") != list.end()) has_v1 = true, v1_path = path;
    }
  }
  // /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS".
  std::optional<std::pair<double, std::string>> best;
  std::ifstream in(root / "proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string x; fields >> x;) f.push_back(x);
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 3 > f.end()) continue;
    const std::string& type = *(dash + 1);
    const bool v2 = type == "cgroup2" && has_v2;
    const auto opts = split(*(dash + 3), ',');
    const bool v1 = type == "cgroup" && has_v1 && std::find(opts.begin(), opts.end(), "memory") != opts.end();
    if (!v2 && !v1) continue;
    const std::string& mount_root = f[3];
    const fs::path mount = root / fs::path(f[4]).relative_path();
    const std::string& path = v2 ? v2_path : v1_path;
    // The cgroup's directory under the mount; inside a container whose cgroup namespace hides
    // the path, the mount point itself is the process's cgroup.
    fs::path dir = mount;
    if (path.rfind(mount_root, 0) == 0) {
      const fs::path rel = fs::path(path.substr(mount_root.size())).relative_path();
      std::error_code ec;
      if (!rel.empty() && fs::is_directory(mount / rel, ec)) dir = mount / rel;
    }
    const char* file = v2 ? "memory.max" : "memory.limit_in_bytes";
    // Every ancestor's limit applies too: take the smallest up to the mount point.
    for (fs::path d = dir;; d = d.parent_path()) {
      if (const auto limit = read_limit_file(d / file); limit && (!best || *limit < best->first))
        best = std::make_pair(*limit, (d / file).string());
      if (d == mount || d == d.parent_path()) break;
    }
  }
  return best;
}

MemorySources read_memory_sources() {
  MemorySources s;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) s.physical = double(pages) * double(page);
  s.address_space = soft_rlimit(RLIMIT_AS);
  if (s.address_space) s.address_space_used = status_bytes("VmSize");
  s.data = soft_rlimit(RLIMIT_DATA);
  if (s.data) s.data_used = status_bytes("VmData");
  if (const auto c = cgroup_memory_limit()) {
    s.cgroup = c->first;
    s.cgroup_file = c->second;
  }
  return s;
}

MemoryLimit usable_memory(const MemorySources& s) {
  MemoryLimit best{0.8 * s.physical, fmt::format("80% of the {} physical memory", format_bytes(s.physical))};
  auto consider = [&](double bytes, std::string source) {
    if (bytes < best.bytes) best = {std::max(bytes, 0.0), std::move(source)};
  };
  if (s.address_space)
    consider(0.9 * *s.address_space - s.address_space_used,
             fmt::format("90% of the {} address-space limit RLIMIT_AS, less {} already mapped",
                         format_bytes(*s.address_space), format_bytes(s.address_space_used)));
  if (s.data)
    consider(0.9 * *s.data - s.data_used, fmt::format("90% of the {} data limit RLIMIT_DATA, less {} in use",
                                                      format_bytes(*s.data), format_bytes(s.data_used)));
  if (s.cgroup)
    consider(0.8 * *s.cgroup, fmt::format("80% of the {} cgroup memory limit in {}", format_bytes(*s.cgroup), s.cgroup_file));
  return best;
}

MemoryLimit usable_memory() { return usable_memory(read_memory_sources()); }

std::string format_bytes(double bytes) {
  if (bytes >= 1024.0 * gib) return fmt::format("{:.3g} TiB", bytes / (1024.0 * gib));
  if (bytes >= gib) return fmt::format("{:.1f} GiB", bytes / gib);
  return fmt::format("{:.0f} MiB", bytes / (1024.0 * 1024.0));
}

void require_memory(double bytes, const std::string& key, const std::string& what, const std::string& hint,
                    const MemoryLimit& limit) {
  if (bytes <= limit.bytes) return;
  throw InputError(key, fmt::format("{} needs about {}; the usable memory limit is {} ({}){}{}", what, format_bytes(bytes),
                                    format_bytes(limit.bytes), limit.source, hint.empty() ? "" : "; ", hint));
}

void require_memory(double bytes, const std::string& key, const std::string& what, const std::string& hint) {
  require_memory(bytes, key, what, hint, usable_memory());
}

}  // namespace qfluct
