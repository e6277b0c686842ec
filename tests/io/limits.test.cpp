// The command line at the edges of what can be computed: runs that do not fit the process's
// memory limit, stationary states that are not unique, and bosons no allowed Fock cutoff holds.
// Each must fail at once with exit 2 and a message that names the key and the reason, and
// write nothing.
#include "io/process.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

using Scratch = qfluct::test::ScratchDir;

bool is_empty(const Scratch& scratch) { return fs::directory_iterator(scratch.dir) == fs::directory_iterator(); }


/// Runs the CLI with `args` in a child whose RLIMIT_AS is `address_space` bytes (0: unchanged);
/// returns the exit code (-1 if it did not exit normally), stderr in `err`.
int run_cli(const std::vector<std::string>& args, double address_space, std::string& err, const Scratch& scratch) {
  const std::string log = scratch.path("stderr.txt");
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (address_space > 0) {
      rlimit r{};
      ::getrlimit(RLIMIT_AS, &r);
      r.rlim_cur = rlim_t(address_space);
      if (::setrlimit(RLIMIT_AS, &r) != 0) ::_exit(120);
    }
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), null = ::open("/dev/null", O_WRONLY);
    ::dup2(fd, 2);
    ::dup2(null, 1);
    std::vector<char*> argv{const_cast<char*>(QFLUCT_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(QFLUCT_BINARY, argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  err = qfluct::test::slurp(log);
  fs::remove(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string fig2() { return std::string(QFLUCT_SOURCE_DIR) + "/examples/fig2.toml"; }

}  // namespace

TEST_CASE("cli: runs that do not fit a lowered address-space limit are refused at once, naming estimate and limit",
          "[cli][memory]") {
  // The three inputs (the master equation unpruned) and a pruned one under prlimit --as=4000000000: each used to die in std::bad_alloc
  // (exit 3) after seconds. Their estimates (12.6, 64.5 and 254 GiB) are far above the 3.3 GiB
  // usable, so the verdict does not depend on the estimates' margins.
  constexpr double limit = 4e9;
  Scratch scratch;
  const std::string out = scratch.path("out.csv");
  const std::vector<std::vector<std::string>> inputs = {
      {"run", fig2(), "--set", "model.N=500", "--set", "solver.prune_tol=0", "-o", out},
      {"steady", fig2(), "--set", "model.N=80", "-o", out},
      {"run", fig2(), "--set", "model.N=100000000", "--set", "solver.method=\"jump\"", "--set", "solver.window=\"full\"",
       "-o", out},
      // The pruned master equation: its support (~2 x 10 sigma = 2.4e4 sectors of ~30 rungs) is
      // checked before it is allocated.
      {"run", fig2(), "--set", "model.N=10000000", "-o", out}};
  const char* what[] = {"the master equation at N = 500 needs about", "the stationary sparse LU (3.68e+05 unknowns) at N = 80 needs about",
                        "whole-sector windows at N = 100000000 needs about", "the pruned master equation at N = 10000000 ("};
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::string err;
    INFO(inputs[i][0] << " " << inputs[i][3]);
    CHECK(run_cli(inputs[i], limit, err, scratch) == 2);
    INFO(err);
    CHECK(err.find("qfluct: error: model.N: ") != std::string::npos);
    CHECK(err.find(what[i]) != std::string::npos);
    CHECK(err.find("the usable memory limit is") != std::string::npos);
    // (Unless physical memory is the tighter limit on this machine.)
    if (0.8 * double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGE_SIZE)) > 0.9 * limit)
      CHECK(err.find("of the 3.7 GiB address-space limit RLIMIT_AS") != std::string::npos);
    CHECK(is_empty(scratch));
  }
  // What fits still runs under the same limit.
  std::string err;
  CHECK(run_cli({"run", fig2(), "--set", "output.t_end=1", "-o", out, "--quiet"}, limit, err, scratch) == 0);
  CHECK(err.empty());
  CHECK(fs::exists(out));
  CHECK(run_cli({"steady", fig2(), "-o", out, "--quiet"}, limit, err, scratch) == 0);
}

TEST_CASE("cli: a stationary state that is not unique is an error, and a scan fails as a whole naming the point",
          "[cli][steady]") {
  Scratch scratch;
  const std::string out = scratch.path("s.csv");
  std::string err;
  // The input: it used to exit 0 with |tau| = 1.94.
  CHECK(run_cli({"steady", fig2(), "--set", "model.N=3", "--set", "model.g0=0", "--set", "model.gamma_up=0", "--set",
                "model.gamma_down=0", "--set", "output.t_end=2", "--set", "output.dt=0.5", "-o", out},
               0, err, scratch) == 2);
  CHECK(err.find("qfluct: error: model.g0: the stationary state is not unique: the central spin has no dissipation") !=
        std::string::npos);
  CHECK(is_empty(scratch));
  // The same for spin_boson.
  CHECK(run_cli({"steady", fig2(), "--set", "model.kind=\"spin_boson\"", "--set", "model.g0=0", "--set",
                "model.gamma_up=0", "--set", "model.gamma_down=0", "-o", out},
               0, err, scratch) == 2);
  CHECK(err.find("model.g0: the stationary state is not unique") != std::string::npos);
  // A scan whose first point is not unique: no CSV, and the message names the point.
  CHECK(run_cli({"steady", fig2(), "--set", "model.N=3", "--set", "model.gamma_up=0", "--set", "model.gamma_down=0",
                "--scan", "model.g0=0:1:3", "-o", out},
               0, err, scratch) == 2);
  CHECK(err.find("qfluct: error: model.g0: at model.g0 = 0: the stationary state is not unique") != std::string::npos);
  CHECK(is_empty(scratch));
  // The same scan from g0 = 0.5 is fine.
  CHECK(run_cli({"steady", fig2(), "--set", "model.N=3", "--set", "model.gamma_up=0", "--set", "model.gamma_down=0",
                "--scan", "model.g0=0.5:1:2", "-o", out, "--quiet"},
               0, err, scratch) == 0);
  CHECK(fs::exists(out));
}

TEST_CASE("cli: a boson no allowed Fock cutoff holds is refused at once", "[cli][spin_boson]") {
  Scratch scratch;
  std::string err;
  for (const char* command : {"run", "steady"}) {
    INFO(command);
    CHECK(run_cli({command, fig2(), "--set", "model.kind=\"spin_boson\"", "--set", "model.Gamma_up=0.999999", "-o",
                  scratch.path("sb.csv")},
                 0, err, scratch) == 2);
    CHECK(err.find("qfluct: error: model.Gamma_up: the boson's occupation nbar") != std::string::npos);
    CHECK(is_empty(scratch));
  }
}
