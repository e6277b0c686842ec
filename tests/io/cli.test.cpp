// The command-line contract: a config round trip through the JSON sidecar, and clear errors
// (naming the key, non-zero exit, no output file) for every kind of bad input.
#include <catch2/catch.hpp>
#include <cstdlib>
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
