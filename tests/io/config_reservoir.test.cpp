// The configuration contract of model.kind = "bosonized" and "finite_reservoir" (issue 12): the
// issue's example into ReservoirSpec and the S + F OpenSystemSpec, a named error for every kind
// of bad input, notes for keys that do not apply, the sidecar round trip, and the CLI (exit 2,
// nothing written; steady refused).
#include "support/config.hpp"
#include "io/process.hpp"
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace qfluct;
using qfluct::test::config;
using qfluct::test::has_note;
using qfluct::test::refusal;

namespace {




/// The issue's example, with M set (as the contract check runs it).
const std::string example = R"toml(
[model]
kind = "bosonized"            # S + F;  "finite_reservoir" = S + M components, exact
[system]                      # as for open_system: H, initial, optional [[system.channel]]
H = [[0.55, 0], [0, -0.55]]
initial = [[0.7, [0.3, -0.2]], [[0.3, 0.2], 0.3]]
[reservoir]                   # one component of R
h = [[1, 0], [0, 0]]          # h_R, d_R x d_R Hermitian
rho = [[0.2, 0], [0, 0.8]]    # rho_R, stationary under h_R
M = 64
[[reservoir.coupling]]        # V_M = sum_q G_q (x) M^(-1/2) sum_m v_q^[m] + h.c.
G = [[0, 0], [0.5, 0]]        # on S
v = [[0, 1], [0, 0]]          # on one component
)toml";

const std::string finite_example = R"toml(
[model]
kind = "finite_reservoir"
[system]
H = [[0.55, 0], [0, -0.55]]
initial = [1, 0]
[reservoir]
h = [[1, 0, 0], [0, 0.5, 0], [0, 0, 0]]
rho = [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
M = 1000
scaling = "linear"
[[reservoir.coupling]]
G = [[0, 1], [0, 0]]
v = [[0, 0, 1], [0, 0, 0], [0, 0, 0.25]]
[[reservoir.coupling]]
G = "0.5*sigma_z"
v = [[0, 0, 0], [0, 0, [0, 1]], [0, 0, 0]]
[solver]
reservoir_method = "symmetric"
rtol = 1e-10
[output]
t_end = 2
dt = 0.5
)toml";

}  // namespace

TEST_CASE("bosonized: the issue's example fills ReservoirSpec and S + F", "[config][bosonization]") {
  const RunConfig c = config(example);
  CHECK(c.kind == ModelKind::bosonized);
  const ReservoirSpec& r = c.reservoir;
  CHECK(r.system.H(0, 0) == 0.55);
  CHECK(r.system.initial(0, 1) == cplx(0.3, -0.2));
  CHECK(r.h(0, 0) == 1.0);
  CHECK(r.rho(1, 1) == 0.8);
  REQUIRE(r.couplings.size() == 1);
  CHECK(r.couplings[0].G(1, 0) == 0.5);
  CHECK(r.couplings[0].v(0, 1) == 1.0);
  CHECK(r.method == ReservoirMethod::automatic);
  CHECK(has_note(c, "reservoir.M is ignored"));
  // S + F: two modes, at +1 (chi_0 = lower level, p = 0.8, up) and -1 (p = 0.2, down), with
  // X = sqrt(0.8) a_01^+ + sqrt(0.2) a_10 (Eq. (18) with v_10 = 1 in the common eigenbasis).
  const OpenSystemSpec& s = c.open_system;
  REQUIRE(s.modes.size() == 2);
  CHECK(s.modes[0].omega == 1.0);
  CHECK(s.modes[1].omega == -1.0);
  REQUIRE(s.couplings.size() == 1);
  CHECK(std::abs(s.couplings[0].a_dag[0] - std::sqrt(0.8)) < 1e-15);
  CHECK(std::abs(s.couplings[0].a[1] - std::sqrt(0.2)) < 1e-15);
  CHECK(s.couplings[0].a[0] == cplx(0.0));
  CHECK(s.couplings[0].a_dag[1] == cplx(0.0));
  CHECK(s.H == r.system.H);
  CHECK(s.initial == r.system.initial);
}

TEST_CASE("finite_reservoir: M, scaling, methods and expressions", "[config][bosonization]") {
  const RunConfig c = config(finite_example);
  CHECK(c.kind == ModelKind::finite_reservoir);
  const ReservoirSpec& r = c.reservoir;
  CHECK(r.M == 1000);
  CHECK(r.scaling == ReservoirScaling::linear);
  CHECK(r.coupling_factor() == 1e-3);
  CHECK(r.method == ReservoirMethod::symmetric);
  CHECK(r.system.initial == CMat(CMat::Identity(2, 2).col(0) * CMat::Identity(2, 2).row(0)));
  CHECK(r.couplings[1].G(1, 1) == -0.5);
  CHECK(r.couplings[1].v(1, 2) == cplx(0, 1));
  CHECK(c.solver.rtol == 1e-10);
  // The linear (mean-field) scaling does not need centred v: tr(rho v_0) = 0.25 is accepted.
  CHECK(c.notes.empty());
  // sqrt scaling: the same v is refused (Eq. (8)), naming the coupling.
  const auto [key, what] = refusal(finite_example, {"reservoir.scaling=\"sqrt\""});
  CHECK(key == "reservoir.coupling[0].v");
  CHECK_THAT(what, Catch::Contains("Eq. (8)") && Catch::Contains("sqrt(M)") && Catch::Contains("system.H"));
  CHECK(config(finite_example, {"reservoir.scaling=\"sqrt\"", "reservoir.coupling[0].v=[[0, 0, 1], [0, 0, 0], [0, 0, 0]]"})
            .reservoir.coupling_factor() == Approx(1.0 / std::sqrt(1000.0)).epsilon(1e-15));
}

TEST_CASE("bosonized and finite_reservoir: bad input names the key", "[config][bosonization]") {
  struct Case {
    std::string text;
    std::vector<std::string> set;
    std::string key, says;
  };
  const std::string no_M = R"toml(
[model]
kind = "finite_reservoir"
[system]
H = [[1, 0], [0, -1]]
initial = [1, 0]
[reservoir]
h = [[1, 0], [0, 0]]
rho = [0, 1]
[[reservoir.coupling]]
G = [[0, 1], [0, 0]]
v = [[0, 1], [0, 0]]
)toml";
  const std::vector<Case> cases = {
      {example, {"reservoir.rho=[[0.2, 0.1], [0.1, 0.8]]"}, "reservoir.rho", "Eq. (7)"},
      {example, {"reservoir.rho=[[0.3, 0], [0, 0.8]]"}, "reservoir.rho", "trace 1"},
      {example, {"reservoir.rho=[[1.2, 0], [0, -0.2]]"}, "reservoir.rho", "positive semidefinite"},
      {example, {"reservoir.h=[[1, 0.5], [0, 0]]"}, "reservoir.h", "Hermitian"},
      {example, {"system.H=[[1, 0.5], [0, 0]]"}, "system.H", "Hermitian"},
      {example, {"reservoir.coupling[0].v=[[0.3, 1], [0, 0]]"}, "reservoir.coupling[0].v", "Eq. (8)"},
      {example, {"reservoir.coupling[0].v=[[0, 1, 0], [0, 0, 0], [0, 0, 0]]"}, "reservoir.coupling[0].v", "2 x 2"},
      {example, {"reservoir.coupling[0].G=[[0, 1, 0], [0, 0, 0], [0, 0, 0]]"}, "reservoir.coupling[0].G", "system.H"},
      {example, {"reservoir.rho=[[1, 0, 0], [0, 0, 0], [0, 0, 0]]"}, "reservoir.rho", "reservoir.h"},
      {example, {"reservoir.scaling=\"linear\""}, "reservoir.scaling", "finite_reservoir"},
      {example, {"solver.reservoir_method=\"dicke\""}, "solver.reservoir_method", "\"fock\""},
      {example, {"reservoir.coupling[0].w=1"}, "reservoir.coupling[0].w", "unknown key"},
      {example, {"reservoir.hh=1"}, "reservoir.hh", "unknown key"},
      {no_M, {}, "reservoir.M", "is required"},
      {no_M, {"reservoir.M=0"}, "reservoir.M", "between 1 and 1e12"},
      {no_M, {"reservoir.M=1", "solver.reservoir_method=\"fock\""}, "solver.reservoir_method", "\"dicke\""},
      {no_M, {"reservoir.M=4", "solver.method=\"jump\""}, "solver.method", "exactly"},
  };
  for (const auto& c : cases) {
    INFO((c.set.empty() ? std::string("(no override)") : c.set.back()));
    const auto [key, what] = refusal(c.text, c.set);
    CHECK(key == c.key);
    CHECK_THAT(what, Catch::Contains(c.says));
  }
  // Missing pieces.
  const auto cut = [](std::string text, const std::string& part) { return text.erase(text.find(part), part.size()); };
  CHECK(refusal(cut(example, "h = [[1, 0], [0, 0]]")).first == "reservoir.h");
  CHECK(refusal(cut(example, "rho = [[0.2, 0], [0, 0.8]]")).first == "reservoir.rho");
  CHECK(refusal(cut(example, "[[reservoir.coupling]]")).first == "reservoir.G");  // G, v land in [reservoir]
  CHECK(refusal(cut(cut(cut(example, "[[reservoir.coupling]]"), "G = [[0, 0], [0.5, 0]]"), "v = [[0, 1], [0, 0]]"))
            .first == "reservoir.coupling");
  CHECK(refusal(cut(example, "v = [[0, 1], [0, 0]]")).first == "reservoir.coupling[0].v");
  CHECK(refusal(cut(example, "H = [[0.55, 0], [0, -0.55]]")).first == "system.H");
  CHECK_THAT(refusal(cut(example, "H = [[0.55, 0], [0, -0.55]]")).second, Catch::Contains("model.kind = \"bosonized\""));
}

TEST_CASE("bosonized and finite_reservoir: keys that do not apply get a note, both ways", "[config][bosonization]") {
  const RunConfig c = config(example, {"model.g0=2", "initial.central=\"down\"", "model.fock_cutoff=20"});
  CHECK(has_note(c, "model.g0 is ignored: it is a central-spin parameter; bosonized takes its model from [system], "
                    "[reservoir]"));
  CHECK(has_note(c, "initial.central is ignored"));
  CHECK(has_note(c, "model.fock_cutoff is ignored"));
  const RunConfig f = config(finite_example, {"model.fock_tol=1e-8"});
  CHECK(has_note(f, "model.fock_tol is ignored: finite_reservoir has no Fock space"));
  // The reservoir tables with other kinds, and solver.reservoir_method.
  const RunConfig cs = config(R"toml(
[model]
kind = "spin_boson"
[reservoir]
h = [[1, 0], [0, 0]]
[solver]
reservoir_method = "auto"
)toml");
  CHECK(has_note(cs, "reservoir is ignored"));
  CHECK(has_note(cs, "solver.reservoir_method is ignored"));
}

TEST_CASE("bosonized and finite_reservoir: the sidecar's parameters reproduce the config", "[config][bosonization]") {
  using qfluct::test::ScratchDir;
  ScratchDir scratch;
  struct Case {
    std::string text;
    std::vector<std::string> set;
  };
  for (const auto& [text, set] : std::vector<Case>{{example, {}},
                                                   {example, {"solver.reservoir_method=\"fock\"", "model.fock_tol=1e-11"}},
                                                   {finite_example, {}}}) {
    const RunConfig a = config(text, set);
    const nlohmann::json parameters = a.to_json();
    INFO(parameters.dump());
    const std::string path = scratch.path("r.json");
    qfluct::test::spit(path, nlohmann::json{{"parameters", parameters}}.dump(2));
    const RunConfig b = load_config(path, {});
    CHECK(b.notes.empty());
    CHECK(b.kind == a.kind);
    CHECK(b.reservoir.h == a.reservoir.h);
    CHECK(b.reservoir.rho == a.reservoir.rho);
    CHECK(b.reservoir.system.H == a.reservoir.system.H);
    CHECK(b.reservoir.system.initial == a.reservoir.system.initial);
    REQUIRE(b.reservoir.couplings.size() == a.reservoir.couplings.size());
    for (std::size_t q = 0; q < a.reservoir.couplings.size(); ++q) {
      CHECK(b.reservoir.couplings[q].G == a.reservoir.couplings[q].G);
      CHECK(b.reservoir.couplings[q].v == a.reservoir.couplings[q].v);
    }
    CHECK(b.reservoir.M == a.reservoir.M);
    CHECK(b.reservoir.scaling == a.reservoir.scaling);
    CHECK(b.reservoir.method == a.reservoir.method);
    CHECK(b.fock_tol == a.fock_tol);
    CHECK(b.solver.rtol == a.solver.rtol);
    CHECK(b.to_json() == parameters);
  }
}

TEST_CASE("bosonized through the CLI: exit 2 naming the key, nothing written, steady refused", "[cli][bosonization]") {
  using namespace qfluct::test;
  ScratchDir s;
  spit(s.path("b.toml"), example);
  struct Bad {
    std::string command, set, key;
  };
  for (const Bad& b : std::vector<Bad>{{"run", "reservoir.rho=[[0.2, 0.1], [0.1, 0.8]]", "reservoir.rho"},
                                       {"run", "reservoir.coupling[0].v=[[0.3, 1], [0, 0]]", "reservoir.coupling[0].v"},
                                       {"run", "model.kind=\"finite_reservoir\"", "reservoir.M"},
                                       {"steady", "output.dt=0.1", "model.kind"}}) {
    std::string err;
    std::vector<std::string> args{b.command, s.path("b.toml"), "--set", b.set, "-o", s.path("out.csv")};
    if (b.key == "reservoir.M") args.insert(args.end(), {"--set", "reservoir.M=0"});
    const Ending e = run_qfluct(args, err, s);
    INFO(b.command << " --set " << b.set << ": " << err);
    CHECK_FALSE(e.signaled);
    CHECK(e.code == 2);
    // Notes may come first (reservoir.M with bosonized); the error is the last line.
    const std::string last = err.substr(err.rfind('\n', err.size() - 2) == std::string::npos ? 0 : err.rfind('\n', err.size() - 2) + 1);
    CHECK(last.rfind("qfluct: error: " + b.key + ": ", 0) == 0);
    CHECK_FALSE(fs::exists(s.path("out.csv")));
    CHECK_FALSE(fs::exists(s.path("out.json")));
  }
  // A good run writes the modes of F into the sidecar.
  std::string err;
  const Ending e = run_qfluct({"run", s.path("b.toml"), "--set", "output.t_end=0.5", "-o", s.path("ok.csv"), "--quiet"},
                              err, s);
  REQUIRE(e.code == 0);
  const auto sidecar = nlohmann::json::parse(slurp(s.path("ok.json")));
  const auto& modes = sidecar["solver"]["fluctuation_reservoir"]["modes"];
  REQUIRE(modes.size() == 2);
  CHECK(modes[0]["k"] == 0);
  CHECK(modes[0]["l"] == 1);
  CHECK(modes[0]["omega"] == 1.0);
  CHECK(modes[0]["p_k"] == 0.8);
}
