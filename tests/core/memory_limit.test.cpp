// The usable-memory limit: which limit wins and how it is described, the cgroup files (v1 and v2,
// nested, hidden by a namespace) read from fake trees, and a lowered RLIMIT_AS seen by a child.
#include "qfluct/core/error.hpp"
#include "qfluct/core/memory_limit.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace qfluct;
namespace fs = std::filesystem;

namespace {

constexpr double GiB = 1024.0 * 1024.0 * 1024.0;

struct FakeRoot {
  fs::path dir;
  FakeRoot() {
    dir = fs::temp_directory_path() / ("qfluct-cgroup-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    fs::create_directories(dir);
  }
  ~FakeRoot() { fs::remove_all(dir); }
  void write(const std::string& path, const std::string& text) const {
    fs::create_directories((dir / path).parent_path());
    std::ofstream(dir / path) << text;
  }
};

}  // namespace

TEST_CASE("memory limit: the smallest usable limit wins and says where it comes from", "[memory]") {
  MemorySources s;
  s.physical = 32 * GiB;
  MemoryLimit m = usable_memory(s);
  CHECK(m.bytes == 0.8 * 32 * GiB);
  CHECK(m.source == "80% of the 32.0 GiB physical memory");

  s.address_space = 4 * GiB;  // 0.9 * 4 - 0.5 = 3.1 GiB < 25.6 GiB
  s.address_space_used = 0.5 * GiB;
  m = usable_memory(s);
  CHECK(m.bytes == Approx(3.1 * GiB).epsilon(1e-15));
  CHECK(m.source == "90% of the 4.0 GiB address-space limit RLIMIT_AS, less 512 MiB already mapped");

  s.cgroup = 2 * GiB;  // 1.6 GiB < 3.1 GiB
  s.cgroup_file = "/sys/fs/cgroup/job/memory.max";
  m = usable_memory(s);
  CHECK(m.bytes == Approx(1.6 * GiB).epsilon(1e-15));
  CHECK(m.source == "80% of the 2.0 GiB cgroup memory limit in /sys/fs/cgroup/job/memory.max");

  s.data = 1 * GiB;  // 0.9 - 0.25 = 0.65 GiB < 1.6 GiB
  s.data_used = 0.25 * GiB;
  m = usable_memory(s);
  CHECK(m.bytes == Approx(0.65 * GiB).epsilon(1e-15));
  CHECK(m.source.find("RLIMIT_DATA") != std::string::npos);

  s.address_space_used = 10 * GiB;  // more in use than the limit allows: nothing usable, not negative
  CHECK(usable_memory(s).bytes == 0.0);
}

TEST_CASE("memory limit: the refusal names the estimate, the limit and its source without contradiction",
          "[memory]") {
  const MemoryLimit limit{18.8 * GiB, "80% of the 23.5 GiB physical memory"};
  CHECK_NOTHROW(require_memory(18.8 * GiB, "model.N", "the master equation", "", limit));
  try {
    require_memory(21.7 * GiB, "model.N", "the master equation at N = 400", "use trajectories", limit);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.key() == "model.N");
    CHECK(std::string(e.what()) ==
          "model.N: the master equation at N = 400 needs about 21.7 GiB; the usable memory limit is 18.8 GiB (80% of "
          "the 23.5 GiB physical memory); use trajectories");
  }
  CHECK(format_bytes(512.0 * 1024 * 1024) == "512 MiB");
  CHECK(format_bytes(3.0 * 1024 * GiB) == "3 TiB");
}

TEST_CASE("memory limit: cgroup v2, the smallest along the path", "[memory]") {
  FakeRoot root;
  root.write("proc/self/cgroup", "0::/jobs/run\n");
  root.write("proc/self/mountinfo", "30 20 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
                                    "31 20 8:1 / / rw - ext4 /dev/sda1 rw\n");
  root.write("sys/fs/cgroup/jobs/run/memory.max", "max\n");
  root.write("sys/fs/cgroup/jobs/memory.max", "1073741824\n");
  auto limit = cgroup_memory_limit(root.dir);
  REQUIRE(limit);
  CHECK(limit->first == 1073741824.0);
  CHECK(limit->second == (root.dir / "sys/fs/cgroup/jobs/memory.max").string());
  // A tighter limit on the process's own group wins.
  root.write("sys/fs/cgroup/jobs/run/memory.max", "536870912\n");
  limit = cgroup_memory_limit(root.dir);
  REQUIRE(limit);
  CHECK(limit->first == 536870912.0);
  // No limit anywhere.
  root.write("sys/fs/cgroup/jobs/run/memory.max", "max\n");
  root.write("sys/fs/cgroup/jobs/memory.max", "max\n");
  CHECK(!cgroup_memory_limit(root.dir));
}

TEST_CASE("memory limit: cgroup v1 and a namespace that hides the path", "[memory]") {
  FakeRoot root;
  root.write("proc/self/cgroup", "5:cpu,cpuacct:/job\n4:memory:/job\n0::/\n");
  root.write("proc/self/mountinfo",
             "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
             "36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n");
  root.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");  // unlimited
  root.write("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "2147483648\n");
  auto limit = cgroup_memory_limit(root.dir);
  REQUIRE(limit);
  CHECK(limit->first == 2147483648.0);
  // Inside a container the mount's root is the process's own group: the path in
  // /proc/self/cgroup is not below it, and the mount point's file applies.
  root.write("proc/self/mountinfo", "35 31 0:32 /host/slice /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
  root.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "3221225472\n");
  limit = cgroup_memory_limit(root.dir);
  REQUIRE(limit);
  CHECK(limit->first == 3221225472.0);
  CHECK(limit->second == (root.dir / "sys/fs/cgroup/memory/memory.limit_in_bytes").string());
}

TEST_CASE("memory limit: a child process sees its lowered RLIMIT_AS and RLIMIT_DATA", "[memory]") {
  for (int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    const char* name = resource == RLIMIT_AS ? "RLIMIT_AS" : "RLIMIT_DATA";
    INFO(name);
    // Below physical memory, so that it is the binding limit, and above what the process uses.
    const double physical = read_memory_sources().physical;
    rlimit r{};
    REQUIRE(::getrlimit(resource, &r) == 0);
    double target = std::min(3.0 * GiB, 0.5 * physical);
    if (r.rlim_max != RLIM_INFINITY) target = std::min(target, double(r.rlim_max));
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      r.rlim_cur = rlim_t(target);
      if (::setrlimit(resource, &r) != 0) ::_exit(3);
      const MemoryLimit m = usable_memory();
      // 90% of the limit less what the process has mapped (a few hundred MiB at most here).
      const bool ok = m.source.find(name) != std::string::npos && m.bytes <= 0.9 * target && m.bytes >= 0.9 * target - 1.0 * GiB;
      ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  // The parent's own limits are untouched.
  CHECK(usable_memory().bytes > 0.0);
}
