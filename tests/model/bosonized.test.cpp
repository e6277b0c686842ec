// model.kind = "bosonized" end to end: the unitary S + F shortcut (pure components of rho_S)
// against the open-system master equation on the same S + F (the independent solver of issue
// 11), and the paper's qubit example against its single effective thermal mode (Fantechi &
// Merkli, "Qubit (spin) system", with the corrections the issue records: coupling factor
// sqrt(1 - 2w), thermal occupation w / (1 - 2w), frequency -omega_R).
#include "support/config.hpp"
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"
#include "qfluct/simulate.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

using namespace qfluct;
using qfluct::test::config;
using qfluct::test::has_note;
using qfluct::test::refusal;

namespace {


double largest_difference(const TimeSeries& a, const TimeSeries& b) {
  REQUIRE(a.columns == b.columns);
  REQUIRE(a.values.rows() == b.values.rows());
  return (a.values - b.values).cwiseAbs().maxCoeff();
}

/// A qutrit reservoir with a degenerate h_R (levels 1, 2 at E = 0), a mixed rho_R of rank 2, two
/// couplings, a mixed rho_S of rank 2: three modes of F, at +-1 and at zero frequency (the
/// transition 1 -> 2 inside the degenerate eigenspace).
const std::string qutrit = R"toml(
[model]
kind = "bosonized"
fock_tol = 1e-12
[system]
H = [[0.4, [0.1, 0.2]], [[0.1, -0.2], -0.3]]
initial = [[0.6, [0.1, 0.1]], [[0.1, -0.1], 0.4]]
[reservoir]
h = [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
rho = [[0.3, 0, 0], [0, 0.7, 0], [0, 0, 0]]
[[reservoir.coupling]]
G = [[0, 0.08], [0, 0]]
v = [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
[[reservoir.coupling]]
G = [[0.03, 0], [0, -0.03]]
v = [[0, 0, 0], [0, 0, 0.4], [0, 0.4, 0]]
[solver]
rtol = 1e-11
atol = 1e-13
[output]
t_end = 1.0
dt = 0.25
)toml";

}  // namespace

TEST_CASE("bosonized: the unitary shortcut equals the S + F master equation", "[bosonization]") {
  const RunConfig b = config(qutrit);
  REQUIRE(b.open_system.modes.size() == 3);
  const TimeSeries unitary = simulate(b);
  CHECK(unitary.info["method"] == "fock");
  CHECK(unitary.info["evolution"] == "pure_components");
  // The same S + F as an open_system model: the block master equation on the density matrix.
  // Fixed cutoffs of 4 keep the density matrix small (250^2 entries); the run checks that its
  // top levels stay below 1e-9, which bounds its truncation error.
  RunConfig o = b;
  o.kind = ModelKind::open_system;
  for (auto& m : o.open_system.modes) m.fock_cutoff = 4;
  o.open_system.fock_tol = 1e-9;
  const TimeSeries master = simulate(o);
  for (const auto& m : master.info["derived"]["modes"]) CHECK(m["top_population"].get<double>() < 1e-9);
  // Both integrate to rtol 1e-11 over t <= 1, truncations below 1e-9 (master) and 1e-12
  // (unitary): columns of size <= 1 agree below 1e-8.
  CHECK(largest_difference(unitary, master) < 1e-8);
  // The sidecar lists every mode of F with (k, l), omega, p_k and the X_q coefficients.
  const auto& F = unitary.info["fluctuation_reservoir"];
  REQUIRE(F["modes"].size() == b.open_system.modes.size());
  for (std::size_t i = 0; i < b.open_system.modes.size(); ++i) {
    CHECK(F["modes"][i]["omega"].get<double>() == b.open_system.modes[i].omega);
    CHECK(F["modes"][i]["X"].size() == 2);
  }
}

TEST_CASE("bosonized: a channel on S runs S + F through the master equation", "[bosonization]") {
  // Pure rho_R of a qubit component, off-diagonal v: one mode (Jaynes-Cummings with decay on S).
  const std::string text = R"toml(
[model]
kind = "bosonized"
[system]
H = [[0.5, 0], [0, -0.5]]
initial = [[1, 0], [0, 0]]
[[system.channel]]
L = [[0, 0], [1, 0]]
rate = 0.4
[reservoir]
h = [[1, 0], [0, 0]]
rho = [[0, 0], [0, 1]]
[[reservoir.coupling]]
G = [[0, 0], [0.3, 0]]
v = [[0, 1], [0, 0]]
[output]
t_end = 2.0
dt = 0.5
)toml";
  const TimeSeries with_channel = simulate(config(text));
  CHECK(with_channel.info["evolution"] == "master_equation");
  CHECK_THAT(with_channel.info["method_reason"].get<std::string>(), Catch::Contains("channels"));
  // The same without the channel, and the decay added by hand: at most one excitation is shared
  // between S and the mode (G lowers S and creates a quantum), so rho_00 obeys
  // d rho_00/dt = -rate rho_00 + (exchange terms), and the channel can only lower it.
  const TimeSeries without = simulate(config(text, {"system.channel[0].rate=0"}));
  const Index c00 = Index(std::find(without.columns.begin(), without.columns.end(), "rho_00_re") - without.columns.begin());
  const Index last = without.values.rows() - 1;
  CHECK(with_channel.values(last, c00) < without.values(last, c00) - 0.1);
  // And the trace of rho_S stays 1 on the master-equation path.
  const Index c11 = c00 + 6;  // rho_00_re, _im, rho_01_re, _im, rho_10_re, _im, rho_11_re
  REQUIRE(with_channel.columns[std::size_t(c11)] == "rho_11_re");
  for (Index i = 0; i <= last; ++i)
    CHECK(std::abs(with_channel.values(i, c00) + with_channel.values(i, c11) - 1.0) < 1e-9);
}

TEST_CASE("bosonized: the paper's qubit example equals one effective thermal mode", "[bosonization]") {
  // h_R = omega_R |up><up|, rho_R = w |down><down| + (1 - w) |up><up|, G = |down><up| on S,
  // v = |up><down| (index 0 = up). F: a at +omega_R with X = sqrt(w) a^+ + sqrt(1 - w) b, b at
  // -omega_R. For w < 1/2, X = sqrt(1 - 2w) A with A = (sqrt(w) a^+ + sqrt(1 - w) b) / sqrt(1 - 2w),
  // [A, A^+] = 1, A(t) = A e^{i omega_R t} (a mode at -omega_R), <A^+A> = w / (1 - 2w) in the
  // vacuum of a and b, and B, the orthogonal combination, never couples to S.
  for (double w : {0.1, 0.3}) {
    const double omega_R = 1.3;
    const std::string common = fmt::format(R"toml(
[system]
H = [[0.4, 0.15], [0.15, -0.4]]
initial = [[0.7, [0.2, -0.1]], [[0.2, 0.1], 0.3]]
[solver]
rtol = 1e-12
atol = 1e-14
[output]
t_end = 3.0
dt = 0.5
)toml");
    const RunConfig bos = config(fmt::format(R"toml(
[model]
kind = "bosonized"
fock_tol = 1e-13
[reservoir]
h = [[{0}, 0], [0, 0]]
rho = [[{1}, 0], [0, {2}]]
[[reservoir.coupling]]
G = [[0, 0], [0.6, 0]]
v = [[0, 1], [0, 0]]
)toml",
                                             omega_R, 1 - w, w) +
                                 common);
    const RunConfig eff = config(fmt::format(R"toml(
[model]
kind = "open_system"
fock_tol = 1e-13
[[mode]]
omega = {0}
nbar = {1}
[[coupling]]
G = [[0, 0], [0.6, 0]]
a = [{2}]
)toml",
                                             -omega_R, w / (1 - 2 * w), std::sqrt(1 - 2 * w)) +
                                 common);
    const TimeSeries a = simulate(bos), b = simulate(eff);
    // rho_S columns only (the mode occupations differ by construction: n_0, n_1 vs <A^+A>).
    double diff = 0.0;
    for (std::size_t c = 0; c < a.columns.size(); ++c)
      if (a.columns[c].rfind("rho_", 0) == 0) {
        const auto it = std::find(b.columns.begin(), b.columns.end(), a.columns[c]);
        REQUIRE(it != b.columns.end());
        diff = std::max(diff, (a.values.col(Index(c)) - b.values.col(Index(it - b.columns.begin()))).cwiseAbs().maxCoeff());
      }
    INFO("w = " << w);
    // Two exact descriptions at rtol 1e-12, cutoffs whose top levels hold < 1e-13: 1e-10.
    CHECK(diff < 1e-10);
    // And the effect is not trivially small: rho_S moves by O(0.1) over the run.
    CHECK((a.values.row(a.values.rows() - 1) - a.values.row(0)).cwiseAbs().maxCoeff() > 0.05);
  }
}

TEST_CASE("bosonized: a nondemolition model takes the closed form, equal to S + F on Fock spaces", "[bosonization]") {
  // H_S and G diagonal: populations constant, coherences decay and revive. Two modes at +-1.
  const std::string text = R"toml(
[model]
kind = "bosonized"
fock_tol = 1e-12
[system]
H = [[0.3, 0, 0], [0, -0.3, 0], [0, 0, 0.1]]
initial = [[0.4, 0.2, [0, 0.15]], [0.2, 0.3, 0.1], [[0, -0.15], 0.1, 0.3]]
[reservoir]
h = [[1, 0], [0, 0]]
rho = [[0.3, 0], [0, 0.7]]
[[reservoir.coupling]]
G = [[0.3, 0, 0], [0, -0.2, 0], [0, 0, [0.1, 0.1]]]
v = [[0, 1], [1, 0]]
[solver]
rtol = 1e-11
atol = 1e-13
[output]
t_end = 3.0
dt = 0.5
)toml";
  const TimeSeries closed = simulate(config(text));
  CHECK(closed.info["method"] == "nondemolition");
  CHECK(closed.info["evolution"] == "closed_form");
  const TimeSeries fock = simulate(config(text, {"solver.reservoir_method=\"fock\""}));
  CHECK(fock.info["method"] == "fock");
  CHECK_THAT(fock.info["method_reason"].get<std::string>(), Catch::Contains("set by solver.reservoir_method"));
  // The Fock run integrates at rtol 1e-11 with top levels below 1e-12; the closed form is exact.
  CHECK(largest_difference(closed, fock) < 1e-8);
  // The populations stay as they were (H_S and G commute with the whole Hamiltonian).
  REQUIRE(closed.columns[0] == "rho_00_re");
  CHECK(std::abs(closed.values(closed.values.rows() - 1, 0) - 0.4) < 1e-14);
  // Forcing the closed form on a model that is not nondemolition is a named error.
  try {
    simulate(config(text, {"solver.reservoir_method=\"nondemolition\"", "system.H=[[0.3, 0.1, 0], [0.1, -0.3, 0], [0, 0, 0.1]]"}));
    FAIL("accepted a non-diagonal H_S for the closed form");
  } catch (const InputError& e) {
    CHECK(e.key() == "solver.reservoir_method");
  }
}
