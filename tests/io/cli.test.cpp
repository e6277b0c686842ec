// The command-line contract: a config round trip through the JSON sidecar, and clear errors
// (naming the key, non-zero exit, no output file) for every kind of bad input.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <omp.h>
#include <set>
#include <sys/stat.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

struct Scratch {
  fs::path dir;
  Scratch() {
    dir = fs::temp_directory_path() / ("qfluct-cli-" + std::to_string(std::rand()) + "-" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs the CLI; returns the exit code, stderr in `err`.
int qfluct(const std::string& args, std::string& err, const Scratch& scratch) {
  const std::string log = scratch.path("stderr.txt");
  const int status = std::system((std::string(QFLUCT_BINARY) + " " + args + " 2>" + log + " >/dev/null").c_str());
  err = read(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string fig2() { return std::string(QFLUCT_SOURCE_DIR) + "/examples/fig2.toml"; }

/// A TOML value for a JSON scalar or array.
std::string toml_value(const nlohmann::json& v) {
  if (v.is_string()) return "\"" + v.get<std::string>() + "\"";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_array()) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + toml_value(v[i]);
    return s + "]";
  }
  std::ostringstream o;
  o.precision(17);
  o << v.get<double>();
  std::string s = o.str();
  if (v.is_number_integer()) return s;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

TEST_CASE("config round trip: the sidecar's parameters reproduce the run bit for bit", "[cli]") {
  Scratch scratch;
  std::string err;
  const std::string a = scratch.path("a.csv");
  REQUIRE(qfluct("run " + fig2() + " --set model.N=4 --set output.t_end=1 --set 'model.h=[0.1,0,0.2]' -o " + a +
                     " --quiet",
                 err, scratch) == 0);
  REQUIRE(fs::exists(scratch.path("a.json")));
  const auto sidecar = nlohmann::json::parse(read(scratch.path("a.json")));
  CHECK(sidecar["columns"] == nlohmann::json({"tau_x", "tau_y", "tau_z", "q", "Q2", "Q4", "nongauss", "n"}));
  CHECK(sidecar.contains("qfluct_version"));
  CHECK(sidecar["wall_seconds"].get<double>() >= 0.0);
  // Rebuild a config file from the sidecar's parameters only.
  std::ofstream cfg(scratch.path("round.toml"));
  for (const auto& [section, table] : sidecar["parameters"].items()) {
    cfg << "[" << section << "]\n";
    for (const auto& [key, value] : table.items()) cfg << key << " = " << toml_value(value) << "\n";
  }
  cfg.close();
  const std::string b = scratch.path("b.csv");
  REQUIRE(qfluct("run " + scratch.path("round.toml") + " -o " + b + " --quiet", err, scratch) == 0);
  CHECK(read(a) == read(b));
  CHECK(nlohmann::json::parse(read(scratch.path("b.json")))["parameters"] == sidecar["parameters"]);
}

TEST_CASE("bad input: clear error naming the key, non-zero exit, no output", "[cli]") {
  Scratch scratch;
  std::ofstream(scratch.path("malformed.toml")) << "[model]\nN = = 3\n";
  std::ofstream(scratch.path("section.toml")) << "[modle]\nN = 3\n";
  struct Case {
    std::string args, key;
  };
  const std::vector<Case> cases = {
      {"--set model.Gama_up=0.2", "model.Gama_up"},          // unknown key
      {"--set solver.nthreads=2", "solver.nthreads"},        // unknown key
      {"--set model.N=0", "model.N"},                        // N < 1
      {"--set model.N=-3", "model.N"},
      {"--set model.gamma_up=-0.1", "model.gamma_up"},       // negative rates
      {"--set model.Gamma_phi=-1", "model.Gamma_phi"},
      {"--set model.Gamma_up=2", "eps"},                     // eps <= 0 with the steady bath
      {"--set model.Gamma_up=1 --set 'initial.bath=[0,0,0.5]'", "eps"},  // eps = 0 with q requested
      {"--set 'initial.bath=[0.8,0.8,0]'", "initial.bath"},  // |r| > 1
      {"--set 'initial.central=[1,1,0]'", "initial.central"},
      {"--set model.g0=nan", "model.g0"},                    // non-finite numbers
      {"--set model.gamma_down=inf", "model.gamma_down"},
      {"--set 'model.w=[nan,0,0]'", "model.w"},
      {"--set output.dt=0", "output.dt"},
      {"--set model.N=2.5", "model.N"},                      // wrong type
      {"--set 'model.coupling=\"quadratic\"'", "model.coupling"},
      {"--set model.N=", "model.N"},                         // not a TOML value
  };
  for (const auto& c : cases) {
    const std::string out = scratch.path("out.csv");
    std::string err;
    const int rc = qfluct("run " + fig2() + " " + c.args + " -o " + out, err, scratch);
    INFO(c.args << " -> rc " << rc << ", stderr: " << err);
    CHECK(rc != 0);
    CHECK(err.find(c.key) != std::string::npos);
    CHECK(!fs::exists(out));
    CHECK(!fs::exists(scratch.path("out.json")));
  }
  for (const std::string file : {"malformed.toml", "section.toml"}) {
    std::string err;
    const int rc = qfluct("run " + scratch.path(file) + " -o " + scratch.path("out.csv"), err, scratch);
    INFO(file << ": " << err);
    CHECK(rc != 0);
    CHECK(err.find(file == "malformed.toml" ? "malformed TOML at line 2" : "modle") != std::string::npos);
    CHECK(!fs::exists(scratch.path("out.csv")));
  }
}

// --- Usage errors, output locations, thread counts, scan bounds, reruns from a sidecar --------

#include "io/process.hpp"
#include "qfluct/io/sha256.hpp"

#include <fmt/format.h>

namespace {

using qfluct::test::Ending;
using qfluct::test::run_qfluct;
using qfluct::test::ScratchDir;
using qfluct::test::slurp;
using qfluct::test::spit;

/// The contract of a usage error: exit 2, one line "qfluct: error: ...", mentioning `expect`.
void check_usage_error(const std::vector<std::string>& args, const std::string& expect, const ScratchDir& s) {
  std::string err;
  const Ending e = run_qfluct(args, err, s);
  std::string shown;
  for (const auto& a : args) shown += " [" + a + "]";
  INFO("qfluct" << shown << "\n-> exit " << e.code << ", stderr: " << err);
  CHECK(!e.signaled);
  CHECK(e.code == 2);
  CHECK(err.rfind("qfluct: error: ", 0) == 0);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  CHECK(err.back() == '\n');
  CHECK_THAT(err, Catch::Contains(expect));
  CHECK(slurp(s.path("stdout.txt")).empty());
}

std::vector<std::string> tiny(std::vector<std::string> extra) {
  std::vector<std::string> args = {"run", fig2(), "--set", "model.N=2", "--set", "output.t_end=0.2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace

TEST_CASE("usage errors: one line, exit 2, whatever the parser finds", "[cli]") {
  ScratchDir s;
  fs::create_directory(s.path("adir"));
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {tiny({"--threads", "0"}), "--threads: expects a whole number >= 1, got '0'"},
      {tiny({"--threads", "-1"}), "--threads: expects a whole number >= 1, got '-1'"},
      {tiny({"--threads", "abc"}), "--threads: expects a whole number >= 1, got 'abc'"},
      {tiny({"--threads", "2.5"}), "--threads: expects a whole number >= 1, got '2.5'"},
      {tiny({"--threads", ""}), "--threads: expects a whole number >= 1, got ''"},
      {tiny({"--threads", "000"}), "--threads: expects a whole number >= 1, got '000'"},
      {tiny({"--threads", "1", "--threads", "2"}), "--threads"},
      {tiny({"--threads"}), "--threads"},
      {{"run", s.path("missing.toml")}, s.path("missing.toml") + ": no such config file"},
      {{"steady", s.path("missing.json")}, s.path("missing.json") + ": no such config file"},
      {{"run", s.path("adir")}, s.path("adir") + ": is a directory, not a config file"},
      {{"foo", fig2()}, "unknown command 'foo'; the commands are run, steady and merge"},
      {{"rn", fig2()}, "unknown command 'rn'"},
      {{}, "A subcommand is required"},
      {{"run"}, "CONFIG is required"},
      {{"--bogus"}, "--bogus"},
      {tiny({"--scan", "model.g0=1:2:3"}), "--scan: only `qfluct steady` scans; `run` takes no --scan"},
      {tiny({"--thread", "2"}), "unknown option --thread for `run` (did you mean --threads?)"},
      {tiny({"--thread=2"}), "unknown option --thread for `run` (did you mean --threads?)"},
      {tiny({"--quiett"}), "did you mean --quiet?"},
      {tiny({"--out", "x.csv"}), "did you mean --output?"},
      {{"steady", fig2(), "--sacn", "model.g0=1:2:3"}, "did you mean --scan?"},
      {tiny({"--frobnicate"}), "unknown option --frobnicate for `run`"},
      {tiny({"-o", "a.csv", "-o", "b.csv"}), "--output"},
      {tiny({"--set"}), "--set"},
      {tiny({"-o"}), "--output"},
      {tiny({"extra"}), "extra"},
      {{"steady", fig2(), "--scan", "model.g0=0:1:1000000000000"}, "--scan: COUNT must be at most 100000 points, got 1000000000000"},
      {{"steady", fig2(), "--scan", "model.g0=0:1:100001"}, "--scan: COUNT must be at most 100000 points, got 100001"},
      {{"steady", fig2(), "--scan", "model.g0=0:1:99999999999999999999999"}, "--scan: COUNT must be at most 100000"},
      {{"steady", fig2(), "--scan", "model.g0=0:1:0"}, "--scan: COUNT must be >= 2"},
      {{"steady", fig2(), "--scan", "model.g0=0:1:-4"}, "--scan: COUNT must be >= 2"},
      {{"steady", fig2(), "--scan", "model.g0=0:1:2.5"}, "--scan: '0:1:2.5' is not START:STOP:COUNT"},
      {{"steady", fig2(), "--scan", "model.g0=0:1"}, "--scan: '0:1' is not START:STOP:COUNT"},
      {{"steady", fig2(), "--scan", "model.g0=a:1:3"}, "--scan: 'a:1:3' is not START:STOP:COUNT"},
      {{"steady", fig2(), "--scan", "model.g0=0:inf:3"}, "--scan: '0:inf:3' is not START:STOP:COUNT"},
      {{"steady", fig2(), "--scan", "model.g0"}, "--scan: expects KEY=START:STOP:COUNT"},
      {{"steady", fig2(), "--scan", ""}, "--scan: expects KEY=START:STOP:COUNT"},
      {{"steady", fig2(), "--scan", "model.N=1:-3:3"}, "model.N: the bath needs 1 <= N <= 1e8 spins, got -1 (at scan point 2 of 3, model.N = -1)"},
      {{"steady", fig2(), "--scan"}, "--scan"},
      {{"steady", fig2(), "--scan", "model.g0=0:1:2", "--scan", "model.g0=0:1:2"}, "--scan"},
  };
  for (const auto& [args, expect] : cases) check_usage_error(args, expect, s);
  // Help and version are not errors.
  std::string err;
  for (const std::vector<std::string> args : {std::vector<std::string>{"--help"}, {"--version"}, {"run", "--help"}, {"steady", "-h"}}) {
    const Ending e = run_qfluct(args, err, s);
    CHECK(e.code == 0);
    CHECK(!slurp(s.path("stdout.txt")).empty());
  }
}

TEST_CASE("thread counts: beyond 4 per processor capped with a note, same results", "[cli]") {
  ScratchDir s;
  std::string err;
  REQUIRE(run_qfluct(tiny({"--threads", "1", "-o", s.path("one.csv")}), err, s).code == 0);
  const int processors = omp_get_num_procs();
  for (const std::string& t : std::vector<std::string>{"1000", "100000", "99999999999999999999", std::to_string(4 * processors + 1)}) {
    const Ending e = run_qfluct(tiny({"--threads", t, "-o", s.path("many.csv")}), err, s);
    INFO(t << ": " << err);
    CHECK(e.code == 0);
    CHECK_THAT(err, Catch::Contains(fmt::format("qfluct: note: --threads {} is more than 4 threads per processor ({} here); "
                                                "using {}", t, processors, 4 * processors)));
    CHECK(slurp(s.path("many.csv")) == slurp(s.path("one.csv")));
    CHECK(nlohmann::json::parse(slurp(s.path("many.json")))["threads"] == 4 * processors);
  }
  // At the cap: no note.
  REQUIRE(run_qfluct(tiny({"--threads", std::to_string(4 * processors), "-o", s.path("cap.csv")}), err, s).code == 0);
  CHECK(err.find("note") == std::string::npos);
  // OMP_NUM_THREADS beyond the cap is capped the same way.
  REQUIRE(std::system(fmt::format("OMP_NUM_THREADS=5000 {} run {} --set model.N=2 --set output.t_end=0.2 -o {} 2>{}",
                                  QFLUCT_BINARY, fig2(), s.path("env.csv"), s.path("env.txt")).c_str()) == 0);
  CHECK_THAT(slurp(s.path("env.txt")), Catch::Contains("OMP_NUM_THREADS=5000 is more than 4 threads per processor"));
  CHECK(slurp(s.path("env.csv")) == slurp(s.path("one.csv")));
}

TEST_CASE("output locations: an unusable or unsafe -o fails at once, naming the path, touching nothing", "[cli]") {
  ScratchDir s;
  const std::string config = s.path("config.toml");
  spit(config, slurp(fig2()));
  fs::create_directory(s.path("adir"));
  fs::create_directory(s.path("pair.json"));  // the sidecar's place is taken by a directory
  spit(s.path("pair.csv"), "previous\n");
  spit(s.path("afile"), "x");
  REQUIRE(::mkfifo(s.path("fifo.csv").c_str(), 0644) == 0);
  std::string err;
  // `heavy` makes each run take minutes: an -o checked only after the computation would run
  // into the 20 s guard below.
  const std::vector<std::string> heavy = {"--set", "model.N=60", "--set", "output.t_end=400"};
  struct Case {
    std::string output, expect, config;  ///< config: the fig2 copy unless given
  };
  // A sidecar as the config, for -o side.csv: its sidecar would overwrite it.
  REQUIRE(run_qfluct(tiny({"-o", s.path("side.csv")}), err, s).code == 0);
  fs::remove(s.path("side.csv"));
  const std::string side_before = slurp(s.path("side.json"));
  std::vector<Case> cases = {
      {"", "-o: the path is empty"},
      {s.path("adir"), fmt::format("-o: '{}' is a directory", s.path("adir"))},
      {s.path("adir") + "/", fmt::format("-o: '{}/' names a directory", s.path("adir"))},
      {s.path("."), "names a directory"},
      {s.path("pair.csv"), fmt::format("-o: the sidecar of '{}', '{}', is a directory", s.path("pair.csv"), s.path("pair.json"))},
      {config, fmt::format("-o: '{}' is the config file", config)},
      {s.path("side.csv"), fmt::format("-o: the sidecar of '{}', '{}', is the config file", s.path("side.csv"), s.path("side.json")),
       s.path("side.json")},
      {s.path("no/such/dir/out.csv"), fmt::format("-o: cannot write '{}': the directory '{}' does not exist",
                                                  s.path("no/such/dir/out.csv"), s.path("no/such/dir"))},
      {s.path("afile/out.csv"), fmt::format("-o: cannot write '{}': '{}' is not a directory", s.path("afile/out.csv"), s.path("afile"))},
      {s.path("fifo.csv"), fmt::format("-o: '{}' exists and is not a regular file", s.path("fifo.csv"))},
      {s.path(std::string(300, 'x') + ".csv"), "File name too long"},
  };
  // A directory this process cannot write in: as root, permissions do not stop us; sysfs does.
  if (::geteuid() != 0) {
    fs::create_directory(s.path("locked"));
    fs::permissions(s.path("locked"), fs::perms::owner_read | fs::perms::owner_exec);
    cases.push_back({s.path("locked/out.csv"), fmt::format("-o: cannot write '{}': Permission denied", s.path("locked/out.csv"))});
  } else if (::access("/sys", F_OK) == 0 && ::open("/sys/qfluct-probe", O_WRONLY | O_CREAT | O_EXCL, 0644) < 0) {
    cases.push_back({"/sys/out.csv", "-o: cannot write '/sys/out.csv': "});
  }
  const auto before = slurp(config);
  for (const auto& c : cases) {
    std::vector<std::string> args = {"run", c.config.empty() ? config : c.config, "-o", c.output};
    args.insert(args.end(), heavy.begin(), heavy.end());
    const pid_t pid = qfluct::test::spawn_qfluct(args, s.path("stdout.txt"), s.path("stderr.txt"));
    Ending e;
    const bool ended = qfluct::test::wait_at_most(pid, std::chrono::seconds(20), e);
    err = slurp(s.path("stderr.txt"));
    INFO("-o '" << c.output << "': " << err);
    CHECK(ended);  // not after minutes of computing
    CHECK(e.code == 2);
    CHECK(err.rfind("qfluct: error: -o: ", 0) == 0);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    CHECK_THAT(err, Catch::Contains(c.expect));
  }
  // Nothing written, nothing damaged: the config, the old CSV, the directories.
  CHECK(slurp(config) == before);
  CHECK(slurp(s.path("side.json")) == side_before);
  CHECK(slurp(s.path("pair.csv")) == "previous\n");
  CHECK(fs::is_empty(s.path("adir")));
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(s.dir)) names.insert(e.path().filename().string());
  std::set<std::string> expected = {"config.toml", "side.json", "adir", "pair.json", "pair.csv", "afile", "fifo.csv", "stdout.txt", "stderr.txt"};
  if (::geteuid() != 0) expected.insert("locked");
  CHECK(names == expected);
  // The sidecar of a sidecar used as the config: `run OUT.json -o OUT.csv` would overwrite it.
  REQUIRE(run_qfluct(tiny({"-o", s.path("r.csv")}), err, s).code == 0);
  const std::string sidecar = slurp(s.path("r.json"));
  check_usage_error({"run", s.path("r.json"), "-o", s.path("r.csv")}, "is the config file", s);
  CHECK(slurp(s.path("r.json")) == sidecar);
}

namespace {

/// Runs `args` with -o A.csv, then again from A.json with -o B.csv; the CSVs must be the same
/// bytes and the sidecars record the same parameters and config_sha256. Returns A's sidecar.
nlohmann::json rerun_from_sidecar(const std::string& command, const std::vector<std::string>& sets,
                                  const ScratchDir& s) {
  std::vector<std::string> args = {command, fig2()};
  args.insert(args.end(), sets.begin(), sets.end());
  for (const std::string& x : std::vector<std::string>{"-o", s.path("A.csv"), "--quiet"}) args.push_back(x);
  std::string err;
  REQUIRE(run_qfluct(args, err, s).code == 0);
  REQUIRE(run_qfluct({command, s.path("A.json"), "-o", s.path("B.csv")}, err, s).code == 0);
  CHECK(err.find("ignored") == std::string::npos);  // the sidecar is a clean config: nothing ignored
  const auto a = nlohmann::json::parse(slurp(s.path("A.json")));
  const auto b = nlohmann::json::parse(slurp(s.path("B.json")));
  CHECK(slurp(s.path("A.csv")) == slurp(s.path("B.csv")));
  CHECK(a["parameters"] == b["parameters"]);
  CHECK(a["config_sha256"] == b["config_sha256"]);
  CHECK(a.value("scan", nlohmann::json()) == b.value("scan", nlohmann::json()));
  CHECK(b["config_file"] == s.path("A.json"));
  return a;
}

}  // namespace

TEST_CASE("reruns: the sidecar is a config that reproduces the CSV byte for byte", "[cli]") {
  ScratchDir s;
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {"run", {"--set", "model.N=4", "--set", "output.t_end=1"}},
      {"run", {"--set", "model.N=3", "--set", "output.t_end=1", "--set", "solver.method=\"jump\"", "--set", "solver.ntraj=40",
               "--set", "solver.seed=9"}},
      {"run", {"--set", "model.N=3", "--set", "output.t_end=0.5", "--set", "solver.method=\"jump\"", "--set", "solver.tol=0.2",
               "--set", "solver.ntraj=64", "--set", "solver.window=\"full\""}},
      {"run", {"--set", "model.kind=\"spin_boson\"", "--set", "output.t_end=1"}},                       // automatic cutoff
      {"run", {"--set", "model.kind=\"spin_boson\"", "--set", "output.t_end=1", "--set", "model.fock_cutoff=24"}},
      {"run", {"--set", "model.kind=\"spin_boson\"", "--set", "output.t_end=1", "--set", "solver.method=\"jump\"",
               "--set", "solver.ntraj=30"}},
      {"run", {"--set", "model.kind=\"mean_field\"", "--set", "output.t_end=1"}},
      {"run", {"--set", "model.N=3", "--set", "output.t_end=1", "--set", "model.couplings=[1,0.5,1.25]"}},  // integers too
      {"run", {"--set", "model.N=3", "--set", "output.t_end=1", "--set", "model.couplings=\"gaussian\"", "--set",
               "model.couplings_seed=7"}},
      {"run", {"--set", "model.N=3", "--set", "output.t_end=0.5", "--set", "model.couplings=\"exponential\"", "--set",
               "solver.method=\"jump\"", "--set", "solver.ntraj=20"}},
      {"run", {"--set", "model.N=3", "--set", "output.t_end=1", "--set", "initial.bath=[0.6,0,0.8]", "--set",
               "initial.central=[0.3,0.1,0.2]", "--set", "model.g0=3", "--set", "model.h=[0.1,0,0.2]", "--set",
               "model.coupling=\"linear\"", "--set", "model.Gamma_phi=0.1", "--set", "output.dt=0.1"}},
      {"steady", {"--set", "model.N=3"}},
      {"steady", {"--set", "model.N=3", "--scan", "model.g0=0.5:4:5"}},
      {"steady", {"--set", "model.N=2", "--scan", "model.w[0]=0.5:2:3"}},
      {"steady", {"--scan", "model.N=2:4:3"}},  // an integer key: the values stay integers
      {"steady", {"--set", "model.kind=\"spin_boson\"", "--scan", "model.g0=1:2:3"}},
  };
  std::set<std::string> hashes;
  for (const auto& [command, sets] : runs) {
    std::string shown;
    for (const auto& x : sets) shown += " " + x;
    INFO(command << shown);
    const auto a = rerun_from_sidecar(command, sets, s);
    // config_sha256: SHA-256 of the compact JSON of {"parameters": ...} (and the scan).
    nlohmann::json effective = {{"parameters", a["parameters"]}};
    if (a.contains("scan")) effective["scan"] = a["scan"];
    spit(s.path("effective.json"), effective.dump());
    REQUIRE(std::system(fmt::format("sha256sum {} | cut -c1-64 > {}", s.path("effective.json"), s.path("sum")).c_str()) == 0);
    CHECK(slurp(s.path("sum")) == a["config_sha256"].get<std::string>() + "\n");
    CHECK(a["csv_sha256"] == qfluct::sha256_hex(slurp(s.path("A.csv"))));
    hashes.insert(a["config_sha256"].get<std::string>());
  }
  CHECK(hashes.size() == runs.size());  // different configurations, different hashes

  // Overrides apply on top of the sidecar: the same as setting them in the first run.
  std::string err;
  REQUIRE(run_qfluct(tiny({"-o", s.path("base.csv")}), err, s).code == 0);
  REQUIRE(run_qfluct({"run", s.path("base.json"), "--set", "model.g0=2", "-o", s.path("over.csv")}, err, s).code == 0);
  REQUIRE(run_qfluct(tiny({"--set", "model.g0=2", "-o", s.path("direct.csv")}), err, s).code == 0);
  CHECK(slurp(s.path("over.csv")) == slurp(s.path("direct.csv")));
  CHECK(slurp(s.path("over.csv")) != slurp(s.path("base.csv")));
  // Detected by content too: a sidecar under another name.
  spit(s.path("sidecar.cfg"), slurp(s.path("base.json")));
  REQUIRE(run_qfluct({"run", s.path("sidecar.cfg"), "-o", s.path("cfg.csv")}, err, s).code == 0);
  CHECK(slurp(s.path("cfg.csv")) == slurp(s.path("base.csv")));
  // A steady sidecar's scan is repeated by steady, named by run.
  REQUIRE(run_qfluct({"steady", fig2(), "--set", "model.N=2", "--scan", "model.g0=1:2:2", "-o", s.path("scan.csv")}, err, s)
              .code == 0);
  REQUIRE(run_qfluct({"run", s.path("scan.json"), "--set", "output.t_end=0.2", "-o", s.path("fromscan.csv")}, err, s).code == 0);
  CHECK_THAT(err, Catch::Contains("records a scan; `run` uses its parameters only"));
  // Same validation as TOML, and named errors for what is not a sidecar.
  auto parameters = nlohmann::json::parse(slurp(s.path("base.json")))["parameters"];
  parameters["model"]["Gama_up"] = 0.2;
  spit(s.path("typo.json"), nlohmann::json{{"parameters", parameters}}.dump());
  check_usage_error({"run", s.path("typo.json")}, "model.Gama_up: unknown key (did you mean model.Gamma_up?)", s);
  parameters["model"].erase("Gama_up");
  parameters["model"]["N"] = 0;
  spit(s.path("zero.json"), nlohmann::json{{"parameters", parameters}}.dump());
  check_usage_error({"run", s.path("zero.json")}, "model.N: the bath needs 1 <= N <= 1e8 spins, got 0", s);
  parameters["model"]["N"] = nullptr;
  spit(s.path("null.json"), nlohmann::json{{"parameters", parameters}}.dump());
  check_usage_error({"run", s.path("null.json")}, "model.N: null is not a value", s);
  parameters["model"]["N"] = 18446744073709551615ULL;
  spit(s.path("huge.json"), nlohmann::json{{"parameters", parameters}}.dump());
  check_usage_error({"run", s.path("huge.json")}, "model.N: integer 18446744073709551615 is beyond the 64-bit range", s);
  spit(s.path("broken.json"), "{\"parameters\": {");
  check_usage_error({"run", s.path("broken.json")}, s.path("broken.json") + ": malformed JSON at byte", s);
  spit(s.path("other.json"), "{\"model\": {\"N\": 3}}");
  check_usage_error({"run", s.path("other.json")}, "a JSON config must be a qfluct sidecar", s);
  spit(s.path("array.json"), "[1, 2]");
  check_usage_error({"run", s.path("array.json")}, "a JSON config must be a qfluct sidecar", s);
  spit(s.path("badscan.json"), nlohmann::json{{"parameters", nlohmann::json::parse(slurp(s.path("base.json")))["parameters"]},
                                              {"scan", {{"key", "model.g0"}}}}.dump());
  check_usage_error({"steady", s.path("badscan.json")}, "\"scan\" must hold a \"key\" and 1 to 100000 \"values\"", s);
}
