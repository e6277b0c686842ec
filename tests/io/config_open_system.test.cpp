// The configuration contract of model.kind = "open_system" (issue 11): the issue's example into
// OpenSystemSpec, a named error (exit 2) for every kind of bad input, notes for keys that do not
// apply, --set on the new keys, and the sidecar round trip; plus the two config bugs the issue
// names (steady with solver.method = "jump", model.N with spin_boson).
#include "support/config.hpp"
#include "io/process.hpp"
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"

#include <nlohmann/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

using namespace qfluct;
using qfluct::test::config;
using qfluct::test::has_note;
using qfluct::test::refusal;

namespace {




/// The issue's example, verbatim.
const std::string example = R"toml(
[model]
kind = "open_system"

[system]                     # the finite system S
H = [[0.25, 0.5], [0.5, -0.25]]      # d x d, Hermitian; complex entries as [re, im]
initial = [[1, 0], [0, 0]]           # density matrix (d x d), or a state vector (length d)

[[system.channel]]           # rate * D[L] on S (any number, any L)
L = [[0, 0], [1, 0]]
rate = 0.1

[[mode]]                     # bosonic modes in order: H += omega a^+ a, rates of D[a] and D[a^+]
omega = 1.0
kappa_down = 0.0
kappa_up = 0.0
nbar = 0.0                   # initial thermal occupation (0 = vacuum)
# fock_cutoff = 24           # optional; automatic otherwise, checked against model.fock_tol

[[coupling]]                 # H += G (x) X + G^+ (x) X^+,  X = sum_i ( a[i] a_i + a_dag[i] a_i^+ )
G = [[0, 1], [0, 0]]
a = [1.0]                    # one complex coefficient per mode
a_dag = [0.0]
)toml";

/// Two qubits, two modes, every kind of entry: complex matrices, an expression, a state vector,
/// named channels, complex coupling coefficients, observables, entanglement.
const std::string two_qubits = R"toml(
[model]
kind = "open_system"
fock_tol = 1e-11

[system]
H = "0.5*sigma_z(x)1 + 0.4*1(x)sigma_z + 0.25*(sigma_plus(x)sigma_minus + sigma_minus(x)sigma_plus)"
initial = [0.6, [0, 0.8], 0, 0]

[[system.channel]]
name = "decay_a"
L = "sigma_minus(x)1"
rate = 0.1

[[system.channel]]
L = [[0, [0.3, -0.1], 0, 0], [0, 0, 0, 0], [0, 0, 0, [1, 1]], [0, 0, 0, 0]]
rate = 0.05

[[mode]]
omega = 1.0
kappa_down = 0.2
kappa_up = 0.01
nbar = 0.05
fock_cutoff = 12

[[mode]]
omega = 2
kappa_down = 1

[[coupling]]
G = "sigma_plus(x)1"
a = [[0.3, 0.1], 0]
a_dag = [0, 0.2]

[[coupling]]
G = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, [0, 0.125], 0]]
a_dag = [1, [0, -1]]

[solver]
method = "jump"
ntraj = 500
seed = 9

[output]
t_end = 2.0
dt = 0.1
entanglement = true

[[output.observable]]
name = "zz"
O = "sigma_z(x)sigma_z"

[[output.observable]]
name = "Xa"
O = [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]
)toml";

CMat mat2(cplx a, cplx b, cplx c, cplx d) {
  CMat m(2, 2);
  m << a, b, c, d;
  return m;
}

}  // namespace

TEST_CASE("open_system: the issue's example fills OpenSystemSpec", "[config][open_system]") {
  const RunConfig c = config(example);
  CHECK(c.kind == ModelKind::open_system);
  CHECK(to_string(c.kind) == "open_system");
  CHECK(c.notes.empty());
  const OpenSystemSpec& s = c.open_system;
  CHECK(s.dim() == 2);
  CHECK(s.H == mat2(0.25, 0.5, 0.5, -0.25));
  CHECK(s.initial == mat2(1, 0, 0, 0));
  REQUIRE(s.channels.size() == 1);
  CHECK(s.channels[0].name == "L0");
  CHECK(s.channels[0].L == mat2(0, 0, 1, 0));
  CHECK(s.channels[0].rate == 0.1);
  REQUIRE(s.modes.size() == 1);
  CHECK(s.modes[0].omega == 1.0);
  CHECK(s.modes[0].kappa_down == 0.0);
  CHECK(s.modes[0].kappa_up == 0.0);
  CHECK(s.modes[0].nbar == 0.0);
  CHECK(s.modes[0].fock_cutoff == 0);
  REQUIRE(s.couplings.size() == 1);
  CHECK(s.couplings[0].G == mat2(0, 1, 0, 0));
  CHECK(s.couplings[0].a == std::vector<cplx>{1.0});
  CHECK(s.couplings[0].a_dag == std::vector<cplx>{0.0});
  CHECK(s.observables.empty());
  CHECK_FALSE(s.entanglement);
  CHECK(s.fock_tol == 1e-10);
  CHECK(c.solver.method == SolverMethod::master);
}

TEST_CASE("open_system: two qubits, two modes, expressions, vectors and complex entries", "[config][open_system]") {
  const RunConfig c = config(two_qubits);
  CHECK(c.notes.empty());
  const OpenSystemSpec& s = c.open_system;
  REQUIRE(s.dim() == 4);
  CMat H = CMat::Zero(4, 4);  // basis uu, ud, du, dd
  H.diagonal() << 0.5 + 0.4, 0.5 - 0.4, -0.5 + 0.4, -0.5 - 0.4;
  H(1, 2) = H(2, 1) = 0.25;
  CHECK(s.H == H);
  // (0.6, 0.8i, 0, 0): |psi><psi| to rounding (one product and one division by |psi|^2 = 1).
  CVec psi(4);
  psi << 0.6, cplx(0, 0.8), 0, 0;
  CHECK((s.initial - psi * psi.adjoint()).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(s.initial == s.initial.adjoint());
  REQUIRE(s.channels.size() == 2);
  CHECK(s.channels[0].name == "decay_a");
  CHECK(s.channels[1].name == "L1");
  CMat sm1 = CMat::Zero(4, 4);  // sigma_minus (x) 1: |d.><u.|
  sm1(2, 0) = sm1(3, 1) = 1.0;
  CHECK(s.channels[0].L == sm1);
  CHECK(s.channels[1].L(0, 1) == cplx(0.3, -0.1));
  CHECK(s.channels[1].L(2, 3) == cplx(1, 1));
  CHECK(s.channels[1].rate == 0.05);
  REQUIRE(s.modes.size() == 2);
  CHECK(s.modes[0].fock_cutoff == 12);
  CHECK(s.modes[0].nbar == 0.05);
  CHECK(s.modes[1].omega == 2.0);
  CHECK(s.modes[1].kappa_up == 0.0);
  CHECK(s.modes[1].fock_cutoff == 0);
  REQUIRE(s.couplings.size() == 2);
  CHECK(s.couplings[0].a == std::vector<cplx>{cplx(0.3, 0.1), 0.0});
  CHECK(s.couplings[0].a_dag == std::vector<cplx>{0.0, 0.2});
  CHECK(s.couplings[1].a == std::vector<cplx>{0.0, 0.0});  // a absent: zeros
  CHECK(s.couplings[1].a_dag == std::vector<cplx>{1.0, cplx(0, -1)});
  CHECK(s.couplings[1].G(3, 2) == cplx(0, 0.125));
  REQUIRE(s.observables.size() == 2);
  CHECK(s.observables[0].name == "zz");
  CHECK(s.observables[0].O == CMat(Eigen::Vector4cd(1, -1, -1, 1).asDiagonal()));
  CHECK(s.observables[1].name == "Xa");
  CHECK(s.entanglement);
  CHECK(s.fock_tol == 1e-11);
  CHECK(c.fock_tol == 1e-11);
  CHECK(c.solver.method == SolverMethod::jump);
  CHECK(c.solver.ntraj == 500);
  CHECK(c.solver.seed == 9);
}

TEST_CASE("open_system: bad input is an InputError naming the key", "[config][open_system]") {
  struct Bad {
    std::vector<std::string> set;
    std::string key, says;
  };
  const std::vector<Bad> cases = {
      // Non-Hermitian H and observables.
      {{"system.H=[[0.25, 0.5], [0.4, -0.25]]"}, "system.H", "is not Hermitian"},
      {{"system.H=[[1, [0, 1]], [[0, 1], 1]]"}, "system.H", "is not Hermitian"},
      {{"system.H=\"sigma_plus\""}, "system.H", "is not Hermitian"},
      {{"system.H=[[[1, 1e-9], 0], [0, 1]]"}, "system.H", "is not Hermitian"},  // complex diagonal
      // The initial state: not Hermitian, trace, positivity, norm, dimension.
      {{"system.initial=[[1, 0.1], [0, 0]]"}, "system.initial", "not Hermitian"},
      {{"system.initial=[[0.5, 0], [0, 0.4]]"}, "system.initial", "its trace must be 1 (within 1e-10), got 0.9"},
      {{"system.initial=[[1.5, 0], [0, -0.5]]"}, "system.initial", "negative eigenvalue -0.5"},
      {{"system.initial=[[0.5, 0.6], [0.6, 0.5]]"}, "system.initial", "negative eigenvalue -0.1"},
      {{"system.initial=[1, 1]"}, "system.initial", "norm 1"},
      {{"system.initial=[1, 0, 0]"}, "system.initial", "is 3 x 3, but system.H is 2 x 2"},
      {{"system.initial=\"sigma_z(x)sigma_z\""}, "system.initial", "is 4 x 4, but system.H is 2 x 2"},
      // Dimensions of every matrix on S.
      {{"system.channel[0].L=[[0, 0, 0], [1, 0, 0], [0, 0, 0]]"}, "system.channel[0].L", "is 3 x 3, but system.H is 2 x 2"},
      {{"coupling[0].G=\"sigma_x(x)1\""}, "coupling[0].G", "is 4 x 4, but system.H is 2 x 2: every matrix on S is d x d"},
      {{"system.H=[[1, 0, 0], [0, 0, 0], [0, 0, -1]]"}, "system.initial", "is 2 x 2, but system.H is 3 x 3"},
      // Coefficient lists.
      {{"coupling[0].a=[1, 0]"}, "coupling[0].a", "needs one coefficient per mode: 1 ([[mode]] tables), got 2"},
      {{"coupling[0].a_dag=[]"}, "coupling[0].a_dag", "needs one coefficient per mode: 1 ([[mode]] tables), got 0"},
      {{"coupling[0].a=[\"x\"]"}, "coupling[0].a", "entry 0 must be a number or a complex number [re, im]"},
      {{"coupling[0].a=0.5"}, "coupling[0].a", "expected an array"},
      // Negative or non-finite rates and occupations.
      {{"system.channel[0].rate=-0.1"}, "system.channel[0].rate", "a rate must be >= 0, got -0.1"},
      {{"mode[0].kappa_down=-1"}, "mode[0].kappa_down", "a rate must be >= 0"},
      {{"mode[0].kappa_up=-1e-3"}, "mode[0].kappa_up", "a rate must be >= 0"},
      {{"mode[0].nbar=-0.5"}, "mode[0].nbar", "a thermal occupation must be >= 0"},
      {{"system.channel[0].rate=nan"}, "system.channel[0].rate", "must be a finite number"},
      {{"mode[0].omega=inf"}, "mode[0].omega", "must be a finite number"},
      {{"mode[0].nbar=inf"}, "mode[0].nbar", "must be a finite number"},
      {{"mode[0].omega=\"fast\""}, "mode[0].omega", "expected a number, got a string"},
      {{"mode[0].fock_cutoff=0"}, "mode[0].fock_cutoff", "must be >= 1"},
      {{"mode[0].fock_cutoff=2.5"}, "mode[0].fock_cutoff", "expected an integer"},
      // Non-finite matrix entries.
      {{"system.H=[[nan, 0], [0, 1]]"}, "system.H", "entry [0][0] is not finite"},
      {{"system.channel[0].L=[[0, 0], [[1, inf], 0]]"}, "system.channel[0].L", "entry [1][0] is not finite"},
      {{"coupling[0].G=[[0, -inf], [0, 0]]"}, "coupling[0].G", "entry [0][1] is not finite"},
      {{"coupling[0].a=[[nan, 0]]"}, "coupling[0].a", "entry 0 is not finite"},
      // Unknown keys, with suggestions, in every new table.
      {{"system.Hamiltonian=[[1]]"}, "system.Hamiltonian", "unknown key"},
      {{"system.intial=[1, 0]"}, "system.intial", "unknown key (did you mean system.initial?)"},
      {{"mode[0].omga=1"}, "mode[0].omga", "unknown key (did you mean mode[0].omega?)"},
      {{"coupling[0].adag=[1]"}, "coupling[0].adag", "unknown key (did you mean coupling[0].a_dag?)"},
      {{"system.channel[0].Rate=1"}, "system.channel[0].Rate", "unknown key (did you mean system.channel[0].rate?)"},
      {{"mods.omega=1"}, "mods", "unknown section (did you mean mode?)"},
      {{"mode=1"}, "mode", "must be an array of tables ([[mode]]"},
      {{"system.channel=[1, 2]"}, "system.channel", "must be an array of tables ([[system.channel]]"},
      // Entanglement needs two qubits.
      {{"output.entanglement=true"}, "output.entanglement", "d = 4 (basis uu, ud, du, dd), but system.H is 2 x 2"},
      {{"output.entanglement=1"}, "output.entanglement", "expected true or false"},
      // d between 1 and 64.
      {{"system.H=\"sigma_z(x)sigma_z(x)sigma_z(x)sigma_z(x)sigma_z(x)sigma_z(x)sigma_z\""}, "system.H", "more than 64"},
      // Channel names.
      {{"system.channel[0].name=\"a b\""}, "system.channel[0].name", "is not a valid name"},
      {{"system.channel[0].name=3"}, "system.channel[0].name", "expected a string"},
      // model.couplings is for central_spin.
      {{"model.couplings=uniform"}, "model.couplings", "(open_system couplings are [[coupling]] tables)"},
      // The kind itself.
      {{"model.kind=\"open\""}, "model.kind", "\"open_system\""},
  };
  for (const auto& c : cases) {
    INFO(c.set.front());
    const auto [key, what] = refusal(example, c.set);
    CHECK(key == c.key);
    CHECK_THAT(what, Catch::Contains(c.says));
  }
  // d = 65 as nested arrays.
  std::string big = "[";
  for (int i = 0; i < 65; ++i) {
    big += i ? ", [" : "[";
    for (int j = 0; j < 65; ++j) big += j ? ", 0" : "0";
    big += "]";
  }
  CHECK_THAT(refusal(example, {"system.H=" + big + "]"}).second,
             Catch::Contains("system.H: is 65 x 65: the system dimension d must be between 1 and 64"));
}

TEST_CASE("open_system: missing keys, names, observables and modes", "[config][open_system]") {
  const std::string head = "[model]\nkind = \"open_system\"\n";
  const std::string sys = "[system]\nH = [[1, 0], [0, -1]]\ninitial = [1, 0]\n";
  struct Bad {
    std::string text, key, says;
  };
  const std::vector<Bad> cases = {
      {head, "system.H", "is required for model.kind = \"open_system\""},
      {head + "[system]\nH = [[1]]\n", "system.initial", "is required"},
      {head + sys + "[[system.channel]]\nrate = 1\n", "system.channel[0].L", "is required"},
      {head + sys + "[[system.channel]]\nL = \"sigma_minus\"\n", "system.channel[0].rate", "is required"},
      {head + sys + "[[mode]]\nnbar = 1\n", "mode[0].omega", "is required"},
      {head + sys + "[[mode]]\nomega = 1\n[[coupling]]\na = [1]\n", "coupling[0].G", "is required"},
      {head + sys + "[[mode]]\nomega = 1\n[[coupling]]\nG = \"sigma_x\"\n", "coupling[0]", "needs a or a_dag"},
      {head + sys + "[[coupling]]\nG = \"sigma_x\"\na = []\n", "coupling[0]", "there are no [[mode]] tables"},
      {head + sys + "[[output.observable]]\nO = \"sigma_x\"\n", "output.observable[0].name", "is required"},
      {head + sys + "[[output.observable]]\nname = \"x\"\n", "output.observable[0].O", "is required"},
      {head + sys + "[[output.observable]]\nname = \"x\"\nO = \"sigma_plus\"\n", "output.observable[0].O",
       "is not Hermitian"},
      {head + sys + "[[output.observable]]\nname = \"x\"\nO = \"sigma_x(x)1\"\n", "output.observable[0].O", "is 4 x 4"},
      {head + sys + "[[output.observable]]\nname = \"x\"\nO = [[nan, 0], [0, 1]]\n", "output.observable[0].O",
       "not finite"},
      {head + sys + "[[output.observable]]\nname = \"x\"\nOp = \"sigma_x\"\n", "output.observable[0].Op",
       "unknown key (did you mean output.observable[0].O?)"},
      {head + sys + "[[output.observable]]\nname = \"x\"\nO = \"sigma_x\"\n[[output.observable]]\nname = \"y\"\nO = "
                    "\"sigma_y\"\n[[output.observable]]\nname = \"x\"\nO = \"sigma_z\"\n",
       "output.observable[2].name", "\"x\" names an earlier observable too"},
      {head + sys + "[[system.channel]]\nname = \"L1\"\nL = \"sigma_minus\"\nrate = 1\n[[system.channel]]\nL = "
                    "\"sigma_plus\"\nrate = 1\n",
       "system.channel[1]", "the channel name \"L1\" is taken"},
      {head + sys + "[[system.channel]]\nname = \"a\"\nL = \"sigma_minus\"\nrate = 1\n[[system.channel]]\nname = "
                    "\"a\"\nL = \"sigma_plus\"\nrate = 1\n",
       "system.channel[1].name", "is taken"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto [key, what] = refusal(c.text);
    CHECK(key == c.key);
    CHECK_THAT(what, Catch::Contains(c.says));
  }
  // Observable names: column-safe, not a standard column, not an _err column.
  for (const std::string name : {"t", "purity", "concurrence", "negativity", "rho_00_re", "rho_01_im", "rho_12_3_re",
                                 "n_0", "n_12", "zz_err", "n_0_err"}) {
    INFO(name);
    const auto [key, what] = refusal(head + sys + "[[output.observable]]\nname = \"" + name + "\"\nO = \"sigma_x\"\n");
    CHECK(key == "output.observable[0].name");
    CHECK_THAT(what, Catch::Contains("standard column name"));
  }
  for (const std::string name : {"a b", "1x", "", "x,y", "_x", "sz\""}) {
    INFO(name);
    const auto [key, what] = refusal(head + sys + "[[output.observable]]\nname = '" + name + "'\nO = \"sigma_x\"\n");
    CHECK(key == "output.observable[0].name");
    CHECK_THAT(what, Catch::Contains("is not a valid name"));
  }
  // Names that only look standard are fine.
  const RunConfig ok = config(head + sys + "[[output.observable]]\nname = \"rho\"\nO = \"sigma_x\"\n"
                                           "[[output.observable]]\nname = \"n\"\nO = \"sigma_y\"\n"
                                           "[[output.observable]]\nname = \"purity2\"\nO = \"sigma_z\"\n"
                                           "[[output.observable]]\nname = \"time\"\nO = \"1\"\n");
  REQUIRE(ok.open_system.observables.size() == 4);
  CHECK(ok.open_system.observables[3].O == CMat::Identity(2, 2));
  // No modes, no channels, no couplings: a closed finite system is fine; d = 1 too.
  const RunConfig bare = config(head + sys);
  CHECK(bare.open_system.modes.empty());
  CHECK(bare.open_system.channels.empty());
  CHECK(bare.notes.empty());
  CHECK(config(head + "[system]\nH = [[0.5]]\ninitial = [[1]]\n").open_system.dim() == 1);
  CHECK(config(head + "[system]\nH = [[0.5]]\ninitial = [1]\n").open_system.initial == CMat::Identity(1, 1));
}

TEST_CASE("open_system: keys that do not apply get a note, both ways", "[config][open_system]") {
  // Central-spin keys with open_system.
  const RunConfig c = config(example + "[initial]\ncentral = \"down\"\n",
                             {"model.N=3", "model.g0=2", "model.w=[0,0,1]", "model.Gamma_up=0.1", "model.fock_cutoff=8",
                              "output.fluctuations=true"});
  for (const std::string key : {"model.N", "model.g0", "model.w", "model.Gamma_up", "model.fock_cutoff",
                                "initial.central", "output.fluctuations"}) {
    INFO(key);
    CHECK(has_note(c, key + " is ignored"));
  }
  CHECK(has_note(c, "model.fock_cutoff is ignored: open_system sets a Fock cutoff per mode"));
  CHECK(c.notes.size() == 7);
  // Central-spin values that would be refused for central_spin are not checked (only noted).
  CHECK(has_note(config(example, {"model.Gamma_up=5"}), "model.Gamma_up is ignored"));
  // The window settings with trajectories; fock_tol without modes.
  const RunConfig jump = config(example, {"solver.method=\"jump\"", "solver.window=\"full\"", "solver.window_tol=1e-3"});
  CHECK(has_note(jump, "solver.window is ignored: open_system trajectories"));
  CHECK(has_note(jump, "solver.window_tol is ignored: open_system trajectories"));
  CHECK_FALSE(has_note(jump, "loose"));
  CHECK(jump.notes.size() == 2);
  const std::string no_modes = "[model]\nkind = \"open_system\"\nfock_tol = 1e-8\n[system]\nH = \"sigma_z\"\ninitial = [1, 0]\n";
  CHECK(has_note(config(no_modes), "model.fock_tol is ignored: there are no [[mode]] tables"));
  CHECK(config(no_modes).notes.size() == 1);
  // With modes, fock_tol applies (and a loose one is noted as loose).
  CHECK(config(example, {"model.fock_tol=1e-10"}).notes.empty());
  CHECK(has_note(config(example, {"model.fock_tol=1e-7"}), "model.fock_tol = 1e-07 is loose"));
  // The solver works as for the other kinds.
  const RunConfig master = config(example, {"solver.ntraj=50"});
  CHECK(has_note(master, "solver.ntraj is ignored: it applies to method = \"jump\""));
  const RunConfig traj = config(example, {"solver.method=\"jump\"", "solver.ntraj=50", "solver.seed=4", "solver.tol=0.01",
                                          "solver.jump_tol=1e-10"});
  CHECK(traj.notes.empty());
  CHECK(traj.solver.ntraj == 50);
  CHECK(traj.solver.seed == 4);
  CHECK(traj.solver.tol == 0.01);
  CHECK(traj.solver.jump_tol == 1e-10);
  CHECK(refusal(example, {"solver.rtol=0.5"}).first == "solver.rtol");
  // atol's estimate 2 atol D uses D = d prod (cutoff + 1), 16 for an automatic cutoff: 2 * 17 = 34 here.
  CHECK_FALSE(has_note(config(example, {"solver.atol=1.4e-6"}), "solver.atol"));
  CHECK(has_note(config(example, {"solver.atol=1.5e-6"}), "solver.atol = "));
  CHECK(has_note(config(example, {"mode[0].fock_cutoff=4", "solver.atol=1.1e-5"}), "(here D = 10,"));

  // open_system tables with another kind: noted, not read.
  const RunConfig cs = config(example, {"model.kind=\"central_spin\"", "output.entanglement=true"});
  CHECK(cs.kind == ModelKind::central_spin);
  for (const std::string key : {"system is ignored", "mode is ignored", "coupling is ignored",
                                "output.entanglement is ignored"})
    CHECK(has_note(cs, key));
  CHECK(cs.open_system.H.size() == 0);
  const RunConfig sb = config(example + "[[output.observable]]\nname = \"x\"\nO = \"sigma_x\"\n",
                              {"model.kind=\"spin_boson\""});
  CHECK(has_note(sb, "output.observable is ignored: it applies to model.kind = \"open_system\""));
  CHECK(has_note(sb, "model.fock_tol") == false);  // spin_boson has a Fock space; fock_tol not set here
  // Unknown keys inside them are errors whatever the kind.
  CHECK(refusal(example, {"model.kind=\"central_spin\"", "mode[0].omga=1"}).first == "mode[0].omga");
}

TEST_CASE("open_system: --set reaches the new keys", "[config][open_system]") {
  CHECK(config(example, {"system.H=[[1,0],[0,-1]]"}).open_system.H == mat2(1, 0, 0, -1));
  CHECK(config(example, {"system.H=\"0.5*sigma_x\""}).open_system.H == mat2(0, 0.5, 0.5, 0));
  CHECK(config(example, {"system.H=sigma_y"}).open_system.H == mat2(0, -I, I, 0));  // a bare word is a string
  CHECK(config(example, {"system.H[0]=[2, 0.5]"}).open_system.H == mat2(2, 0.5, 0.5, -0.25));  // one row
  CHECK(config(example, {"system.initial=[0, 1]"}).open_system.initial == mat2(0, 0, 0, 1));
  // Elements of arrays of tables.
  CHECK(config(example, {"mode[0].omega=2"}).open_system.modes[0].omega == 2.0);
  CHECK(config(example, {"mode[0].fock_cutoff=7"}).open_system.modes[0].fock_cutoff == 7);
  CHECK(config(example, {"system.channel[0].rate=0.3"}).open_system.channels[0].rate == 0.3);
  CHECK(config(example, {"system.channel[0].name=\"decay\""}).open_system.channels[0].name == "decay");
  CHECK(config(example, {"coupling[0].a=[[0.5, 0.5]]"}).open_system.couplings[0].a == std::vector<cplx>{cplx(0.5, 0.5)});
  CHECK(config(example, {"coupling[0].a_dag[0]=[0, 2]"}).open_system.couplings[0].a_dag == std::vector<cplx>{cplx(0, 2)});
  CHECK(config(example, {"coupling[0].G=\"sigma_minus\""}).open_system.couplings[0].G == mat2(0, 0, 1, 0));
  const std::string obs = example + "[[output.observable]]\nname = \"x\"\nO = \"sigma_x\"\n";
  CHECK(config(obs, {"output.observable[0].O=sigma_z"}).open_system.observables[0].O == mat2(1, 0, 0, -1));
  // From the TOML text alone, --set can switch kinds: the example's tables with central_spin.
  CHECK(config(example, {"model.kind=central_spin"}).kind == ModelKind::central_spin);
  // Elements that do not exist.
  struct Bad {
    std::string set, key, says;
  };
  for (const Bad& b : std::vector<Bad>{
           {"mode[1].omega=2", "mode[1].omega", "index 1 outside the 1 table(s) of mode"},
           {"mode[99999999999].omega=2", "mode[99999999999].omega", "outside the 1 table(s) of mode"},
           {"system.channel[3].rate=1", "system.channel[3].rate", "index 3 outside the 1 table(s) of system.channel"},
           {"output.observable[0].O=sigma_x", "output.observable[0].O", "output.observable is not set as an array of tables"},
           {"model[0].N=1", "model[0].N", "model is not set as an array of tables"},
           {"system.H[2]=[1, 0]", "system.H[2]", "index 2 outside the array of 2 entries"},
       }) {
    INFO(b.set);
    const auto [key, what] = refusal(example, {b.set});
    CHECK(key == b.key);
    CHECK_THAT(what, Catch::Contains(b.says));
  }
}

TEST_CASE("open_system: the sidecar's parameters reproduce the config exactly", "[config][open_system]") {
  using qfluct::test::ScratchDir;
  ScratchDir scratch;
  for (const std::string& text : {example, two_qubits}) {
    for (const auto& extra : std::vector<std::vector<std::string>>{
             {}, {"solver.method=\"master\"", "solver.rtol=1e-10"}, {"solver.method=\"jump\"", "solver.tol=0.5"}}) {
      const RunConfig a = config(text, extra);
      const nlohmann::json parameters = a.to_json();
      INFO(parameters.dump());
      // Through a sidecar file, as `qfluct run OUT.json` reads it.
      const std::string path = scratch.path("os.json");
      qfluct::test::spit(path, nlohmann::json{{"parameters", parameters}}.dump(2));
      const RunConfig b = load_config(path, {});
      CHECK(b.notes.empty());  // nothing written that does not apply
      CHECK(b.kind == ModelKind::open_system);
      const OpenSystemSpec &s = a.open_system, &r = b.open_system;
      CHECK(r.H == s.H);  // exactly, complex entries and expressions included
      CHECK(r.initial == s.initial);
      REQUIRE(r.channels.size() == s.channels.size());
      for (std::size_t i = 0; i < s.channels.size(); ++i) {
        CHECK(r.channels[i].name == s.channels[i].name);
        CHECK(r.channels[i].L == s.channels[i].L);
        CHECK(r.channels[i].rate == s.channels[i].rate);
      }
      REQUIRE(r.modes.size() == s.modes.size());
      for (std::size_t i = 0; i < s.modes.size(); ++i) {
        CHECK(r.modes[i].omega == s.modes[i].omega);
        CHECK(r.modes[i].kappa_down == s.modes[i].kappa_down);
        CHECK(r.modes[i].kappa_up == s.modes[i].kappa_up);
        CHECK(r.modes[i].nbar == s.modes[i].nbar);
        CHECK(r.modes[i].fock_cutoff == s.modes[i].fock_cutoff);
      }
      REQUIRE(r.couplings.size() == s.couplings.size());
      for (std::size_t i = 0; i < s.couplings.size(); ++i) {
        CHECK(r.couplings[i].G == s.couplings[i].G);
        CHECK(r.couplings[i].a == s.couplings[i].a);
        CHECK(r.couplings[i].a_dag == s.couplings[i].a_dag);
      }
      REQUIRE(r.observables.size() == s.observables.size());
      for (std::size_t i = 0; i < s.observables.size(); ++i) {
        CHECK(r.observables[i].name == s.observables[i].name);
        CHECK(r.observables[i].O == s.observables[i].O);
      }
      CHECK(r.entanglement == s.entanglement);
      CHECK(r.fock_tol == s.fock_tol);
      CHECK(b.fock_tol == a.fock_tol);
      REQUIRE(b.solver.method == a.solver.method);
      if (a.solver.method == SolverMethod::master) {  // the settings that apply are recorded
        CHECK(b.solver.rtol == a.solver.rtol);
        CHECK(b.solver.atol == a.solver.atol);
      } else {
        CHECK(b.solver.ntraj == a.solver.ntraj);
        CHECK(b.solver.seed == a.solver.seed);
        CHECK(b.solver.tol == a.solver.tol);
        CHECK(b.solver.jump_tol == a.solver.jump_tol);
      }
      CHECK(b.output.t_end == a.output.t_end);
      CHECK(b.output.dt == a.output.dt);
      CHECK(b.to_json() == parameters);  // and the sidecar of the rerun is the same
    }
  }
  // The written form: matrices as nested arrays, complex entries as [re, im], an expression as its matrix.
  const nlohmann::json j = config(two_qubits).to_json();
  CHECK(j["system"]["H"][1][2] == 0.25);
  CHECK(j["system"]["channel"][1]["L"][0][1] == nlohmann::json({0.3, -0.1}));
  CHECK(j["system"]["channel"][0]["name"] == "decay_a");
  // The state vector (0.6, 0.8i, 0, 0) as its density matrix: rho_01 = 0.6 (0.8i)^* = -0.48i (to rounding).
  REQUIRE(j["system"]["initial"][0][1].is_array());
  CHECK(j["system"]["initial"][0][1][0] == 0.0);
  CHECK(j["system"]["initial"][0][1][1].get<double>() == Approx(-0.48).epsilon(1e-15));
  CHECK(j["system"]["initial"][1][1].get<double>() == Approx(0.64).epsilon(1e-15));
  CHECK(j["system"]["initial"][3][3] == 0.0);
  CHECK(j["coupling"][0]["a"] == nlohmann::json::parse("[[0.3, 0.1], 0.0]"));
  CHECK(j["mode"][0]["fock_cutoff"] == 12);
  CHECK_FALSE(j["mode"][1].contains("fock_cutoff"));  // automatic
  CHECK(j["output"]["observable"][0]["name"] == "zz");
  CHECK(j["output"]["entanglement"] == true);
  CHECK_FALSE(j.contains("initial"));
  CHECK_FALSE(j["solver"].contains("window"));
  CHECK(j["model"] == nlohmann::json({{"kind", "open_system"}, {"fock_tol", 1e-11}}));
}

TEST_CASE("steady: solver settings are noted as ignored and not recorded", "[config]") {
  // The bug: `qfluct steady` with solver.method = "jump" recorded a jump run in its sidecar.
  const std::string base = "[model]\nN = 2\n";
  const RunConfig jump = config(base, {"solver.method=jump", "solver.ntraj=50"}, Command::steady);
  CHECK(has_note(jump, "solver.method is ignored: qfluct steady solves L rho = 0 directly"));
  CHECK(has_note(jump, "solver.ntraj is ignored: qfluct steady"));
  CHECK(jump.notes.size() == 2);
  CHECK(jump.solver.method == SolverMethod::master);  // what is not used stays at its default
  CHECK(jump.solver.ntraj == SolverConfig{}.ntraj);
  CHECK_FALSE(jump.to_json().contains("solver"));
  // The rest of the record is the run's.
  nlohmann::json run = config(base, {"solver.method=jump", "solver.ntraj=50"}).to_json();
  CHECK(run["solver"]["method"] == "jump");
  run.erase("solver");
  CHECK(jump.to_json() == run);
  // Without solver keys: no note; loose settings are not noted as loose (they are not used), but a
  // value outside its range is still refused, as for keys of the other method.
  CHECK(config(base, {}, Command::steady).notes.empty());
  const RunConfig loose = config(base, {"solver.rtol=1e-3"}, Command::steady);
  CHECK(loose.notes.size() == 1);
  CHECK(has_note(loose, "solver.rtol is ignored"));
  CHECK_THROWS_AS(config(base, {"solver.rtol=0.5"}, Command::steady), InputError);
  // The same for open_system.
  const RunConfig os = config(example, {"solver.method=\"jump\""}, Command::steady);
  CHECK(has_note(os, "solver.method is ignored"));
  CHECK_FALSE(os.to_json().contains("solver"));
  // A steady sidecar rerun by steady: same config, no notes.
  CHECK(parse_config(parameters_table(jump.to_json()), Command::steady).notes.empty());
}

TEST_CASE("model.N with spin_boson gets the promised note", "[config]") {
  const std::string sb = "[model]\nkind = \"spin_boson\"\n";
  for (const char* n : {"1", "10", "400"}) {
    const RunConfig c = config(sb, {std::string("model.N=") + n});
    CHECK(c.notes.size() == 1);
    CHECK(has_note(c, "model.N is ignored: the spin_boson model is the N -> infinity limit"));
    CHECK_FALSE(c.to_json()["model"].contains("N"));  // and the sidecar does not record it
  }
  CHECK(config(sb).notes.empty());
  // Where N applies, no note.
  CHECK(config("[model]\nN = 5\n").notes.empty());
  CHECK(config("[model]\nkind = \"central_spin\"\nN = 5\n").to_json()["model"]["N"] == 5);
}

TEST_CASE("open_system and steady through the CLI: exit 2 naming the key, notes and records", "[cli][open_system]") {
  using namespace qfluct::test;
  ScratchDir s;
  spit(s.path("os.toml"), example);
  struct Bad {
    std::string set, key;
  };
  for (const Bad& b : std::vector<Bad>{{"system.H=[[0.25, 0.5], [0.4, -0.25]]", "system.H"},
                                       {"system.initial=[[0.5, 0], [0, 0.4]]", "system.initial"},
                                       {"coupling[0].a=[1, 0]", "coupling[0].a"},
                                       {"mode[0].nbar=-1", "mode[0].nbar"},
                                       {"mode[0].omga=1", "mode[0].omga"},
                                       {"output.entanglement=true", "output.entanglement"}}) {
    for (const char* command : {"run", "steady"}) {
      std::string err;
      const Ending e = run_qfluct({command, s.path("os.toml"), "--set", b.set, "-o", s.path("out.csv")}, err, s);
      INFO(command << " --set " << b.set << ": " << err);
      CHECK_FALSE(e.signaled);
      CHECK(e.code == 2);
      CHECK(err.rfind("qfluct: error: " + b.key + ": ", 0) == 0);
      CHECK(std::count(err.begin(), err.end(), '\n') == 1);
      CHECK_FALSE(fs::exists(s.path("out.csv")));
      CHECK_FALSE(fs::exists(s.path("out.json")));
    }
  }
  // steady with solver.method = "jump": a note, a sidecar without [solver], and a rerun from it
  // that gives the same CSV without notes.
  const std::string fig2 = std::string(QFLUCT_SOURCE_DIR) + "/examples/fig2.toml";
  std::string err;
  Ending e = run_qfluct({"steady", fig2, "--set", "model.N=2", "--set", "solver.method=jump", "-o", s.path("st.csv")},
                        err, s);
  REQUIRE(e.code == 0);
  CHECK_THAT(err, Catch::Contains("qfluct: note: solver.method is ignored: qfluct steady solves L rho = 0 directly"));
  const auto sidecar = nlohmann::json::parse(slurp(s.path("st.json")));
  CHECK_FALSE(sidecar["parameters"].contains("solver"));
  CHECK_THAT(sidecar["points"][0]["method"].get<std::string>(), Catch::Contains("sparse LU"));
  e = run_qfluct({"steady", s.path("st.json"), "-o", s.path("again.csv")}, err, s);
  REQUIRE(e.code == 0);
  CHECK(err.find("note") == std::string::npos);
  CHECK(slurp(s.path("again.csv")) == slurp(s.path("st.csv")));
  // run still records its solver.
  e = run_qfluct({"run", fig2, "--set", "model.N=2", "--set", "output.t_end=0.1", "-o", s.path("r.csv"), "--quiet"}, err, s);
  REQUIRE(e.code == 0);
  CHECK(nlohmann::json::parse(slurp(s.path("r.json")))["parameters"]["solver"]["method"] == "master");
}
