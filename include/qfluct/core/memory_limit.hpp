#pragma once
/// How much memory this process may use, from every limit that applies, and the up-front check
/// that refuses work which would not fit (an InputError naming the key: exit 2, before any
/// expensive work) instead of dying in std::bad_alloc part-way.
///
/// The usable amount is the smallest of:
///   - RLIMIT_AS (address space) and RLIMIT_DATA (data segment and private mappings, Linux >= 4.7),
///     soft limits: 90% of the limit less what is already in use (VmSize, VmData). They count
///     virtual memory, which is what the estimates are made in; 10% is left for allocator
///     overhead, thread stacks and libraries loaded later.
///   - the cgroup memory limit (v2 memory.max, v1 memory.limit_in_bytes; the smallest along the
///     process's cgroup path): 80%, since the group is shared with other processes and caches.
///   - physical memory: 80%, shared with the system and other processes.
/// Memory estimates are "about" figures (each caller documents its own); all are in bytes.
#include <filesystem>
#include <optional>
#include <string>

namespace qfluct {

struct MemoryLimit {
  double bytes = 0.0;  ///< usable bytes
  std::string source;  ///< how `bytes` was derived, e.g. "80% of the 23.5 GiB physical memory"
};

/// The raw limits of this process; absent ones are nullopt (unlimited).
struct MemorySources {
  double physical = 16e9;                   ///< physical memory (16e9 if it cannot be read)
  std::optional<double> address_space;      ///< RLIMIT_AS soft limit
  double address_space_used = 0.0;          ///< VmSize now
  std::optional<double> data;               ///< RLIMIT_DATA soft limit
  double data_used = 0.0;                   ///< VmData now
  std::optional<double> cgroup;             ///< the cgroup's memory limit
  std::string cgroup_file;                  ///< the file it was read from
};

/// The cgroup memory limit of this process and the file that sets it (the smallest along the
/// cgroup path, v2 or v1), or nullopt when there is none. `root` prefixes every path read
/// (/proc/self/cgroup, /proc/self/mountinfo and the mount points in it), for tests.
std::optional<std::pair<double, std::string>> cgroup_memory_limit(const std::filesystem::path& root = "/");

/// Reads the limits of this process now.
MemorySources read_memory_sources();

/// The usable amount and its source: the smallest of the rules above.
MemoryLimit usable_memory(const MemorySources& sources);
/// The same for this process now.
MemoryLimit usable_memory();

/// "21.7 GiB" (or MiB below 1 GiB), for messages.
std::string format_bytes(double bytes);

/// Throws InputError(key, "WHAT needs about X; the usable limit is Y (SOURCE); HINT") when
/// `bytes` exceeds limit.bytes.
void require_memory(double bytes, const std::string& key, const std::string& what, const std::string& hint,
                    const MemoryLimit& limit);
/// The same against this process's usable_memory().
void require_memory(double bytes, const std::string& key, const std::string& what, const std::string& hint = "");

}  // namespace qfluct
