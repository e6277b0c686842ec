// The configuration contract of the homodyne unravelling (issue 13): solver.unravelling (a string
// or a per-channel table), solver.homodyne_phase, solver.dt_sde and output.records; a named
// InputError for every kind of bad input (at parse time, or when the model's channels are known:
// simulate), the notes, the sidecar round trip, and the CLI (exit 2, nothing written; the records
// file of a good run).
#include "io/process.hpp"
#include "support/config.hpp"
#include "qfluct/io/config_file.hpp"
#include "qfluct/io/records.hpp"
#include "qfluct/simulate.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

using namespace qfluct;
using qfluct::test::config;
using qfluct::test::has_note;
using qfluct::test::refusal;

namespace {

const std::string central = "[model]\nN = 4\n[solver]\nmethod = \"jump\"\nntraj = 2\n[output]\nt_end = 0.1\n";
const std::string spin_boson = "[model]\nkind = \"spin_boson\"\n[solver]\nmethod = \"jump\"\nntraj = 2\n[output]\nt_end = 0.1\n";
const std::string qubit = R"toml(
[model]
kind = "open_system"
[system]
H = [[0.5, 0.2], [0.2, -0.5]]
initial = [1, 0]
[[system.channel]]
L = [[0, 0], [1, 0]]
rate = 0.3
[[system.channel]]
name = "dephasing"
L = [[1, 0], [0, -1]]
rate = 0.1
[solver]
method = "jump"
ntraj = 2
[output]
t_end = 0.1
)toml";

/// The key and message of the InputError simulate raises for a configuration that parses.
std::pair<std::string, std::string> refused_by_simulate(const std::string& text, const std::vector<std::string>& set) {
  const RunConfig c = config(text, set);
  try {
    simulate(c);
  } catch (const InputError& e) {
    return {e.key(), e.what()};
  }
  FAIL("simulate accepted " << (set.empty() ? "" : set.back()));
  return {};
}

}  // namespace

TEST_CASE("solver.unravelling: a string or a per-channel table, with phases and dt_sde", "[homodyne][config]") {
  const RunConfig d = config(central);
  CHECK(d.solver.unravelling == "jump");  // the default
  CHECK(d.solver.unravelling_per_channel.empty());
  CHECK(d.solver.dt_sde == 0.0);          // automatic
  CHECK(d.output.records == 0);
  CHECK_FALSE(d.solver.any_homodyne());

  const RunConfig all = config(central, {"solver.unravelling=\"homodyne\"", "solver.homodyne_phase=0.25", "solver.dt_sde=5e-4"});
  CHECK(all.solver.unravelling == "homodyne");
  CHECK(all.solver.homodyne_phase == 0.25);
  CHECK(all.solver.dt_sde == 5e-4);
  CHECK(all.solver.any_homodyne());
  CHECK(all.notes.empty());

  const RunConfig table = config(central, {"solver.unravelling.tau_minus=\"homodyne\"", "solver.unravelling.tau_plus=\"jump\"",
                                           "solver.homodyne_phase.tau_minus=-1", "solver.ntraj=10", "output.records=10"});
  CHECK(table.solver.unravelling_per_channel ==
        std::map<std::string, std::string>{{"tau_minus", "homodyne"}, {"tau_plus", "jump"}});
  CHECK(table.solver.homodyne_phase_per_channel == std::map<std::string, double>{{"tau_minus", -1.0}});  // integer accepted
  CHECK(table.output.records == 10);
  CHECK(table.solver.any_homodyne());
  // A table of only "jump" entries has no homodyne channel: the homodyne keys are noted as unused.
  const RunConfig jumps = config(central, {"solver.unravelling.tau_minus=\"jump\"", "solver.dt_sde=1e-3"});
  CHECK_FALSE(jumps.solver.any_homodyne());
  CHECK(has_note(jumps, "solver.dt_sde is ignored"));
}

TEST_CASE("unravelling keys: named errors for bad values", "[homodyne][config]") {
  struct Case {
    std::vector<std::string> set;
    std::string key, says;
  };
  const std::vector<Case> cases = {
      {{"solver.unravelling=\"bogus\""}, "solver.unravelling", "bogus"},
      {{"solver.unravelling=3"}, "solver.unravelling", "expected"},
      {{"solver.unravelling.tau_minus=\"diffusive\""}, "solver.unravelling.tau_minus", "diffusive"},
      {{"solver.unravelling.tau_minus=1"}, "solver.unravelling.tau_minus", "expected"},
      {{"solver.dt_sde=0"}, "solver.dt_sde", "must be > 0"},
      {{"solver.dt_sde=-1"}, "solver.dt_sde", "must be > 0"},
      {{"solver.unravelling=\"homodyne\"", "solver.dt_sde=nan"}, "solver.dt_sde", ""},
      {{"solver.unravelling=\"homodyne\"", "solver.homodyne_phase=inf"}, "solver.homodyne_phase", ""},
      {{"output.records=3"}, "output.records", "solver.ntraj = 2"},  // records > ntraj
      {{"output.records=-1"}, "output.records", ">= 0"},
      {{"solver.dt_sde=inf"}, "solver.dt_sde", "finite"},
      {{"solver.homodyne_phase.tau_minus=nan"}, "solver.homodyne_phase.tau_minus", "got nan"},
  };
  for (const auto& c : cases) {
    const auto [key, message] = refusal(central, c.set);
    INFO(c.set.back() << " -> " << key << ": " << message);
    CHECK(key == c.key);
    CHECK(message.find(c.says) != std::string::npos);
  }
}

TEST_CASE("unravelling channel names are checked against the model when the run is set up", "[homodyne][config]") {
  // Sector-changing bath channels cannot be homodyne: named error, raised by simulate.
  for (const char* name : {"sigma_minus", "sigma_plus"}) {
    const auto [key, message] = refused_by_simulate(central, {fmt::format("solver.unravelling.{}=\"homodyne\"", name)});
    INFO(message);
    CHECK(key == std::string("solver.unravelling.") + name);
    CHECK(message.find("changes the Dicke sector") != std::string::npos);
  }
  // ... but "jump" for them is fine.
  CHECK_NOTHROW(simulate(config(central, {"solver.unravelling.sigma_minus=\"jump\"", "solver.unravelling.tau_minus=\"homodyne\""})));
  {  // An unknown name, with the model's channels listed.
    const auto [key, message] = refused_by_simulate(central, {"solver.unravelling.sigma_y=\"homodyne\""});
    INFO(message);
    CHECK(key == "solver.unravelling.sigma_y");
    CHECK(message.find("no channel named sigma_y") != std::string::npos);
    CHECK(message.find("tau_minus, tau_plus, sigma_minus, sigma_plus") != std::string::npos);
  }
  {  // A channel of the model's kind whose rate is 0 here (Gamma_phi = 0: sigma_z is not built): a
     // note, so that a scan of the rate down to 0 keeps running.
    std::vector<std::string> notes;
    SimulateOptions o;
    o.note = [&notes](const std::string& n) { notes.push_back(n); };
    CHECK_NOTHROW(simulate(config(central, {"solver.unravelling.sigma_z=\"homodyne\""}), o));
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].find("solver.unravelling.sigma_z: the channel's rate is 0") != std::string::npos);
  }
  // A phase for a channel the table leaves jumping, and for any channel when all jump: checked
  // against the model (the names are known there), so a typo gets the channel list.
  for (const auto& set : std::vector<std::vector<std::string>>{
           {"solver.unravelling.tau_minus=\"homodyne\"", "solver.homodyne_phase.sigma_minus=0.5"},
           {"solver.unravelling.tau_minus=\"homodyne\"", "solver.unravelling.tau_plus=\"jump\"",
            "solver.homodyne_phase.tau_plus=0.5"},
           {"solver.homodyne_phase.tau_minus=0.5"}}) {
    const auto [key, message] = refused_by_simulate(central, set);
    INFO(message);
    CHECK(key == "solver.homodyne_phase." + set.back().substr(22, set.back().find('=') - 22));
    CHECK(message.find("not unravelled by homodyne detection") != std::string::npos);
  }
  {
    const auto [key, message] = refused_by_simulate(central, {"solver.unravelling.tau_mnus=\"jump\""});
    CHECK(key == "solver.unravelling.tau_mnus");
  }
  {  // spin_boson has no bath channels; its names are listed.
    const auto [key, message] = refused_by_simulate(spin_boson, {"solver.unravelling.sigma_minus=\"homodyne\""});
    INFO(message);
    CHECK(key == "solver.unravelling.sigma_minus");
    CHECK(message.find("tau_minus, tau_plus, boson_loss, boson_gain") != std::string::npos);
  }
  {  // open_system: [[system.channel]] names, L0 by default.
    const auto [key, message] = refused_by_simulate(qubit, {"solver.unravelling.L1=\"homodyne\""});
    INFO(message);
    CHECK(key == "solver.unravelling.L1");
    CHECK(message.find("L0, dephasing") != std::string::npos);
    CHECK_NOTHROW(simulate(config(qubit, {"solver.unravelling.L0=\"homodyne\"", "solver.unravelling.dephasing=\"homodyne\""})));
  }
  {  // A phase for a bath channel when "homodyne" is given for all: it stays a jump channel.
    const auto [key, message] =
        refused_by_simulate(central, {"solver.unravelling=\"homodyne\"", "solver.homodyne_phase.sigma_minus=0.5"});
    INFO(message);
    CHECK(key == "solver.homodyne_phase.sigma_minus");
  }
  {  // ... and a phase for a channel the model does not have.
    const auto [key, message] =
        refused_by_simulate(central, {"solver.unravelling=\"homodyne\"", "solver.homodyne_phase.tau_mnus=0.5"});
    INFO(message);
    CHECK(key == "solver.homodyne_phase.tau_mnus");
    CHECK(message.find("no channel named tau_mnus") != std::string::npos);
  }
}

TEST_CASE("unravelling notes: bath channels stay jumps, master and jump-only runs ignore the keys", "[homodyne][config]") {
  std::vector<std::string> notes;
  SimulateOptions o;
  o.note = [&notes](const std::string& n) { notes.push_back(n); };
  const TimeSeries s = simulate(config(central, {"solver.unravelling=\"homodyne\""}), o);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("sigma_minus, sigma_plus change the Dicke sector") != std::string::npos);
  CHECK(s.info["unravelling_per_channel"] ==
        nlohmann::json({{"tau_minus", "homodyne"}, {"tau_plus", "homodyne"}, {"sigma_minus", "jump"}, {"sigma_plus", "jump"}}));
  // spin_boson: every channel can be homodyne, no note.
  notes.clear();
  const TimeSeries sb = simulate(config(spin_boson, {"solver.unravelling=\"homodyne\""}), o);
  CHECK(notes.empty());
  // The automatic dt_sde: 1e-3 / max(1, largest homodyne rate), here boson_loss's kappa_down =
  // Gamma_+ + Gamma_up / eps = 1.2 + 0.2 / (2/3) = 1.5 at the default (Fig. 2) point.
  CHECK(sb.info["dt_sde"].get<double>() == Approx(1e-3 / 1.5).epsilon(1e-12));
  CHECK(s.info["dt_sde"] == 1e-3);  // central spin: tau_plus's 0.8 < 1

  const RunConfig master = config(central, {"solver.method=\"master\"", "solver.unravelling=\"homodyne\"",
                                            "solver.homodyne_phase=0.1", "solver.dt_sde=1e-3"});
  for (const char* key : {"solver.unravelling", "solver.homodyne_phase", "solver.dt_sde"})
    CHECK(has_note(master, std::string(key) + " is ignored"));
  CHECK(has_note(config(central, {"solver.method=\"master\"", "output.records=1"}), "output.records is ignored"));
}

TEST_CASE("unravelling keys survive the sidecar round trip", "[homodyne][config]") {
  struct Case {
    std::string text;
    std::vector<std::string> set;
  };
  const std::vector<Case> cases = {
      {central, {"solver.unravelling.tau_minus=\"homodyne\"", "solver.unravelling.tau_plus=\"homodyne\"",
                 "solver.unravelling.sigma_minus=\"jump\"", "solver.homodyne_phase.tau_minus=1.5707963267948966",
                 "solver.homodyne_phase.tau_plus=-0.3", "solver.dt_sde=2e-4", "solver.ntraj=50", "output.records=7"}},
      {central, {"solver.unravelling=\"homodyne\"", "solver.homodyne_phase=0.1", "output.records=2"}},
      {spin_boson, {"solver.unravelling=\"homodyne\"", "solver.dt_sde=1e-3"}},
      {qubit, {"solver.unravelling.L0=\"homodyne\"", "solver.homodyne_phase.L0=2.5", "output.records=1"}},
  };
  for (const auto& c : cases) {
    const RunConfig a = config(c.text, c.set);
    const nlohmann::json parameters = a.to_json();
    INFO(parameters.dump());
    const RunConfig b = parse_config(parameters_table(parameters));
    CHECK(b.notes.empty());
    CHECK(b.solver.unravelling == a.solver.unravelling);
    CHECK(b.solver.unravelling_per_channel == a.solver.unravelling_per_channel);
    CHECK(b.solver.homodyne_phase == a.solver.homodyne_phase);
    CHECK(b.solver.homodyne_phase_per_channel == a.solver.homodyne_phase_per_channel);
    CHECK(b.solver.dt_sde == a.solver.dt_sde);
    CHECK(b.output.records == a.output.records);
    CHECK(b.to_json() == parameters);
  }
  // The recorded form of the first case.
  const nlohmann::json j = config(central, cases[0].set).to_json();
  CHECK(j["solver"]["unravelling"] == nlohmann::json({{"tau_minus", "homodyne"}, {"tau_plus", "homodyne"}, {"sigma_minus", "jump"}}));
  CHECK(j["solver"]["homodyne_phase"]["tau_plus"] == -0.3);
  CHECK(j["solver"]["dt_sde"] == 2e-4);
  CHECK(j["output"]["records"] == 7);
}

TEST_CASE("unravelling errors through the CLI: exit 2 naming the key, nothing written", "[homodyne][cli]") {
  using namespace qfluct::test;
  ScratchDir s;
  spit(s.path("c.toml"), central);
  struct Bad {
    std::vector<std::string> set;
    std::string key;
    bool output;  // with -o
  };
  for (const Bad& b : std::vector<Bad>{{{"solver.dt_sde=0"}, "solver.dt_sde", true},
                                       {{"solver.unravelling=\"bogus\""}, "solver.unravelling", true},
                                       // raised once the model is built (simulate), still before anything is written
                                       {{"solver.unravelling.sigma_minus=\"homodyne\""}, "solver.unravelling.sigma_minus", true},
                                       {{"output.records=1"}, "output.records", false}}) {
    std::vector<std::string> args{"run", s.path("c.toml")};
    for (const auto& x : b.set) args.insert(args.end(), {"--set", x});
    if (b.output) args.insert(args.end(), {"-o", s.path("out.csv")});
    std::string err;
    const Ending e = run_qfluct(args, err, s);
    INFO(b.set.back() << ": " << err);
    CHECK_FALSE(e.signaled);
    CHECK(e.code == 2);
    CHECK(err.find("qfluct: error: " + b.key + ": ") != std::string::npos);
    CHECK(slurp(s.path("stdout.txt")).empty());
    for (const char* f : {"out.csv", "out.json", "out.records.csv"}) CHECK_FALSE(fs::exists(s.path(f)));
  }
}

TEST_CASE("output.records through the CLI: OUT.records.csv is the library's records, rerun from the sidecar", "[homodyne][cli]") {
  using namespace qfluct::test;
  ScratchDir s;
  spit(s.path("c.toml"), central);
  const std::vector<std::string> set = {"solver.ntraj=6", "output.records=3", "output.dt=0.05",
                                        "solver.unravelling.tau_minus=\"homodyne\"", "solver.homodyne_phase.tau_minus=0.5"};
  std::vector<std::string> args{"run", s.path("c.toml"), "-o", s.path("out.csv"), "--quiet"};
  for (const auto& x : set) args.insert(args.end(), {"--set", x});
  std::string err;
  REQUIRE(run_qfluct(args, err, s).code == 0);
  INFO(err);
  // The same run through the library: the records file is its write_records_csv, byte for byte
  // (ensembles are bit-identical for any thread count).
  const TimeSeries lib = simulate(config(central, set));
  std::ostringstream expected;
  write_records_csv(expected, lib.records);
  const std::string written = slurp(s.path("out.records.csv"));
  CHECK(written == expected.str());
  CHECK(written.rfind("trajectory,t,I_tau_minus,Y_tau_minus,N_tau_plus,N_sigma_minus,N_sigma_plus\n", 0) == 0);
  CHECK(std::count(written.begin(), written.end(), '\n') == 1 + 3 * long(lib.times.size() - 1));
  const auto sidecar = nlohmann::json::parse(slurp(s.path("out.json")));
  CHECK(sidecar["records_columns"] ==
        nlohmann::json({"I_tau_minus", "Y_tau_minus", "N_tau_plus", "N_sigma_minus", "N_sigma_plus"}));
  CHECK(sidecar["solver"]["records"] == 3);
  // Rerun from the sidecar: the same three files' contents.
  REQUIRE(run_qfluct({"run", s.path("out.json"), "-o", s.path("again.csv"), "--quiet"}, err, s).code == 0);
  CHECK(slurp(s.path("again.records.csv")) == written);
  CHECK(slurp(s.path("again.csv")) == slurp(s.path("out.csv")));
}
