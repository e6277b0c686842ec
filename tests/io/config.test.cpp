// The configuration contract (issue 10, items 4 and 13): the output grid ends at t_end exactly,
// array-element overrides start from the documented defaults, keys that do not apply get a note,
// and every accuracy knob has a validated range with a note where it is loose enough to bias.
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"
#include "qfluct/simulate.hpp"

#include <nlohmann/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace qfluct;

namespace {

/// The config of a TOML text plus --set overrides, as load_config builds it.
RunConfig config(const std::string& text, const std::vector<std::string>& overrides = {}) {
  toml::table t = toml::parse(text);
  for (const auto& o : overrides) apply_override(t, o);
  return parse_config(t);
}

/// The InputError a config throws (its key and message), or fails the test.
std::pair<std::string, std::string> refusal(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    config(text, overrides);
  } catch (const InputError& e) {
    return {e.key(), e.what()};
  }
  FAIL("accepted: " << text);
  return {};
}

bool has_note(const RunConfig& c, const std::string& part) {
  for (const auto& n : c.notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

/// The grid before issue 10: i dt for i = 0 .. n, n = floor(t_end / dt (1 + 1e-12) + 1e-9).
std::vector<double> old_grid(double t_end, double dt) {
  const long n = long(std::floor(t_end / dt * (1.0 + 1e-12) + 1e-9));
  std::vector<double> t;
  for (long i = 0; i <= n; ++i) t.push_back(double(i) * dt);
  return t;
}

}  // namespace

TEST_CASE("time grid: multiples of dt keep today's grid and end at t_end exactly", "[config][grid]") {
  // The examples' grid (t_end = 4, dt = 0.05) is bit for bit what it was: existing CSVs unchanged.
  CHECK(time_grid(4.0, 0.05) == old_grid(4.0, 0.05));
  CHECK(time_grid(4.0, 0.05).size() == 81);
  const std::vector<std::pair<double, double>> multiples = {
      {4.0, 0.05}, {0.3, 0.1}, {0.7, 0.1}, {1.0, 0.1}, {2.0, 0.25}, {7.0, 0.07}, {100.0, 0.01}, {1000.0, 0.001},
      {5.0, 0.5},  {1.0, 1.0}, {1e3, 1e-2}, {0.9, 0.3}, {3.0, 0.6}, {1.2, 0.4}};
  for (const auto& [t_end, dt] : multiples) {
    INFO("t_end = " << t_end << ", dt = " << dt);
    const auto t = time_grid(t_end, dt);
    const auto before = old_grid(t_end, dt);
    REQUIRE(t.size() == std::size_t(std::llround(t_end / dt)) + 1);  // no near-duplicate last point
    REQUIRE(t.size() == before.size());
    CHECK(t.back() == t_end);  // exactly; 3 * 0.1 = 0.30000000000000004 was the last point before
    CHECK(std::equal(t.begin(), t.end() - 1, before.begin()));  // all but the last point unchanged
    CHECK(std::abs(t.back() - before.back()) <= 4e-16 * t_end);  // the old last point, up to rounding
  }
}

TEST_CASE("time grid: t_end not a multiple of dt gets a final shorter step to t_end", "[config][grid]") {
  CHECK(time_grid(1.0, 0.3) == std::vector<double>{0.0, 0.3, 2 * 0.3, 3 * 0.3, 1.0});
  CHECK(time_grid(1.0, 0.4) == std::vector<double>{0.0, 0.4, 2 * 0.4, 1.0});
  CHECK(time_grid(0.5, 2.0) == std::vector<double>{0.0, 0.5});  // dt > t_end: one step to t_end
  CHECK(time_grid(1.0, 3.0) == std::vector<double>{0.0, 1.0});
  const auto t = time_grid(4.0, 0.15);  // 26 whole steps (3.9), then 0.1
  REQUIRE(t.size() == 28);
  CHECK(t[26] == 26 * 0.15);
  CHECK(t.back() == 4.0);
  // Random (t_end, dt): 0 first, t_end last, whole steps i dt, a last step in (0, dt].
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  for (int trial = 0; trial < 2000; ++trial) {
    const double t_end = std::pow(10.0, u(rng)), dt = t_end * std::pow(10.0, u(rng) - 1.0);
    if (t_end / dt > 1e5) continue;
    const auto g = time_grid(t_end, dt);
    INFO("t_end = " << t_end << ", dt = " << dt);
    REQUIRE(g.size() >= 2);
    CHECK(g.front() == 0.0);
    CHECK(g.back() == t_end);
    bool whole_steps = true;
    for (std::size_t i = 0; i + 1 < g.size(); ++i) whole_steps = whole_steps && g[i] == double(i) * dt;
    CHECK(whole_steps);
    const double last_step = g.back() - g[g.size() - 2];
    CHECK(last_step > 1e-9 * dt);                 // no near-duplicate last point
    CHECK(last_step <= dt * (1.0 + 1e-9));
  }
}

TEST_CASE("time grid: every solver reports at a last time that is not a multiple of dt", "[config][grid]") {
  // t_end = 1, dt = 0.3 (grid ..., 0.9, 1) against dt = 0.5 (grid 0, 0.5, 1): the row at t = 1
  // must be the same state. The ME's steps do not depend on the grid (dense output, integrated to
  // t_end), so it agrees to rounding; trajectories step to each output time, so their jump times
  // move by roundings (located to jump_tol = 1e-12 in log-norm; the driven mean-field ones by
  // adaptive steps) and the means agree to ~1e-11 (measured: 9e-14 and 9e-12).
  struct Case {
    std::string name, toml;
    double tol;
  };
  const std::vector<Case> cases = {
      {"central_spin master", "[model]\nN = 3\n", 1e-12},
      {"central_spin jump", "[model]\nN = 3\n[solver]\nmethod = \"jump\"\nntraj = 200\n", 1e-9},
      {"inhomogeneous master", "[model]\nN = 2\ncouplings = [1.2, 0.7]\n", 1e-12},
      {"mean_field master", "[model]\nkind = \"mean_field\"\n", 1e-12},
      {"mean_field jump", "[model]\nkind = \"mean_field\"\n[solver]\nmethod = \"jump\"\nntraj = 200\n", 1e-9},
      {"spin_boson master", "[model]\nkind = \"spin_boson\"\n", 1e-12},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const TimeSeries a = simulate(config(c.toml + "[output]\nt_end = 1.0\ndt = 0.3\n"));
    const TimeSeries b = simulate(config(c.toml + "[output]\nt_end = 1.0\ndt = 0.5\n"));
    REQUIRE(a.times.size() == 5);
    CHECK(a.times.back() == 1.0);
    CHECK(a.times[3] == 3 * 0.3);
    REQUIRE(b.times.back() == 1.0);
    const Eigen::RowVectorXd last_a = a.values.bottomRows(1), last_b = b.values.bottomRows(1);
    CHECK(last_a.allFinite());
    CHECK((last_a - last_b).cwiseAbs().maxCoeff() <= c.tol);
    if (a.errors.size()) CHECK((a.errors.bottomRows(1) - b.errors.bottomRows(1)).cwiseAbs().maxCoeff() <= c.tol);
  }
  // dt > t_end: the rows t = 0 and t = t_end (before: t = 0 only).
  const TimeSeries one = simulate(config("[model]\nN = 2\n[output]\nt_end = 0.5\ndt = 2.0\n"));
  CHECK(one.times == std::vector<double>{0.0, 0.5});
}

TEST_CASE("element overrides start from the documented default", "[config]") {
  const CentralSpinParameters defaults;  // the one source of the defaults
  REQUIRE(defaults.w == Vec3{1.0, 0.0, 0.5});
  REQUIRE(defaults.h == Vec3{0.0, 0.0, 0.0});
  const std::string no_vectors = "[model]\nN = 3\n";
  CHECK(config(no_vectors, {"model.w[0]=2"}).model.w == Vec3{2.0, 0.0, 0.5});
  CHECK(config(no_vectors, {"model.w[2]=-1"}).model.w == Vec3{1.0, 0.0, -1.0});
  CHECK(config(no_vectors, {"model.h[2]=0.3"}).model.h == Vec3{0.0, 0.0, 0.3});
  CHECK(config(no_vectors, {"model.w[0]=2", "model.w[1]=0.25"}).model.w == Vec3{2.0, 0.25, 0.5});
  CHECK(config("", {"model.w[1]=3"}).model.w == Vec3{1.0, 3.0, 0.5});  // no [model] table at all
  // Set in the file: the file's array is the start.
  CHECK(config("[model]\nw = [3.0, 4.0, 5.0]\n", {"model.w[0]=2"}).model.w == Vec3{2.0, 4.0, 5.0});
  CHECK(config(no_vectors, {"model.w=[0.1, 0.2, 0.3]", "model.w[0]=2"}).model.w == Vec3{2.0, 0.2, 0.3});
  CHECK(config("[initial]\ncentral = [0.0, 1.0, 0.0]\n", {"initial.central[1]=0.5"}).model.central ==
        Vec3{0.0, 0.5, 0.0});
  // The sidecar's parameters hold the overridden default.
  CHECK(config(no_vectors, {"model.w[0]=2"}).to_json()["model"]["w"] == nlohmann::json({2.0, 0.0, 0.5}));

  // Keys whose default is not an array: a clear error naming the element and what is there.
  struct Bad {
    std::string text, set, key, says;
  };
  for (const Bad& b : std::vector<Bad>{{no_vectors, "initial.central[0]=1", "initial.central[0]", "defaults to \"up\""},
                                       {no_vectors, "initial.bath[2]=0.5", "initial.bath[2]", "defaults to \"steady\""},
                                       {"[initial]\ncentral = \"down\"\n", "initial.central[0]=1", "initial.central[0]",
                                        "initial.central is \"down\" here"},
                                       {no_vectors, "model.couplings[0]=1", "model.couplings[0]", "absent by default"},
                                       {no_vectors, "model.N[0]=1", "model.N[0]", "model.N is an integer here"},
                                       {no_vectors, "model.w[3]=1", "model.w[3]", "index 3 outside the array of 3"}}) {
    INFO(b.set);
    const auto [key, what] = refusal(b.text, {b.set});
    CHECK(key == b.key);
    CHECK_THAT(what, Catch::Contains(b.says));
  }
}

TEST_CASE("the CLI: model.w[0]=2 without w in the file gives w = [2, 0, 0.5] in the sidecar", "[config][cli]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("qfluct-config-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "c.toml") << "[model]\nN = 2\n[output]\nt_end = 0.5\ndt = 0.25\n";
  const std::string cmd = std::string(QFLUCT_BINARY) + " run " + (dir / "c.toml").string() + " --set 'model.w[0]=2' -o " +
                          (dir / "o.csv").string() + " --quiet 2>/dev/null";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::ifstream in(dir / "o.json");
  std::stringstream s;
  s << in.rdbuf();
  const auto sidecar = nlohmann::json::parse(s.str());
  fs::remove_all(dir);
  CHECK(sidecar["parameters"]["model"]["w"] == nlohmann::json({2.0, 0.0, 0.5}));
}

TEST_CASE("output.fluctuations = false gets a note where it does not apply", "[config]") {
  const RunConfig sb = config("[model]\nkind = \"spin_boson\"\n[output]\nfluctuations = false\n");
  CHECK(has_note(sb, "output.fluctuations = false is ignored"));
  CHECK(sb.model.fluctuations);  // what runs (and what the sidecar records): q, Q2, Q4 reported
  CHECK(sb.to_json()["output"]["fluctuations"] == true);
  CHECK(config("[model]\nkind = \"spin_boson\"\n[output]\nfluctuations = true\n").notes.empty());
  CHECK(has_note(config("[model]\nkind = \"mean_field\"\n[output]\nfluctuations = true\n"), "output.fluctuations"));
  // Honoured for central_spin: no note.
  const RunConfig cs = config("[output]\nfluctuations = false\n");
  CHECK_FALSE(cs.model.fluctuations);
  CHECK(cs.notes.empty());
}

TEST_CASE("accuracy knobs: refused outside their range, noted where loose enough to bias", "[config][accuracy]") {
  struct Knob {
    std::string key, base;  // base: the TOML that makes the knob apply (its method, kind)
    double lo, hi, loose;   // refused below lo (0: only <= 0) and at >= hi; noted above loose
  };
  const std::string jump = "[solver]\nmethod = \"jump\"\n";
  const std::vector<Knob> knobs = {
      {"solver.rtol", "[model]\nN = 2\n", 1e-15, 0.1, 1e-4},
      {"solver.atol", "[model]\nN = 1\n", 1e-30, 1e-3, -1},  // its note depends on N (below)
      {"solver.jump_tol", jump, 0, 1e-2, 1e-5},
      {"solver.window_tol", jump, 0, 1e-2, 1e-4},  // steady bath (a Bloch-vector bath: below)
      {"model.fock_tol", "[model]\nkind = \"spin_boson\"\n", 0, 1e-5, 1e-9},
  };
  for (const Knob& k : knobs) {
    INFO(k.key);
    auto with = [&](double x) { return std::vector<std::string>{fmt::format("{}={:.17g}", k.key, x)}; };
    // Refused: at and above hi, below lo, <= 0, non-finite; the message names the key and range.
    for (double bad : {k.hi, 2 * k.hi, 1.0, 0.0, -k.hi, std::nan("")}) {
      if (k.key == "solver.atol" && bad == 1.0) continue;
      const auto [key, what] = refusal(k.base, with(bad));
      CHECK(key == k.key);
      CHECK_THAT(what, Catch::Contains(k.lo > 0 ? fmt::format("[{:g}, {:g})", k.lo, k.hi) : fmt::format("(0, {:g})", k.hi)));
    }
    if (k.lo > 0) {
      CHECK(refusal(k.base, with(k.lo / 2)).first == k.key);
      CHECK_NOTHROW(config(k.base, with(k.lo)));
    }
    // Accepted just below hi, with a note naming the key; no note at or below the loose threshold.
    const RunConfig near_hi = config(k.base, with(k.hi * (1 - 1e-9)));
    if (k.loose > 0) {
      CHECK(has_note(near_hi, k.key + " = "));
      CHECK(has_note(config(k.base, with(k.loose * 1.01)), k.key + " = "));
      CHECK_FALSE(has_note(config(k.base, with(k.loose)), k.key + " = "));
      CHECK(config(k.base).notes.empty());  // the defaults are tight
    }
  }
  // A loose knob that does not apply is noted as ignored, not as loose.
  CHECK_FALSE(has_note(config("", {"solver.jump_tol=1e-3"}), "loose"));
  CHECK_FALSE(has_note(config(jump, {"solver.rtol=1e-3"}), "loose"));
  CHECK_FALSE(has_note(config(jump, {"solver.window_tol=1e-3", "solver.window=\"full\""}), "loose"));
  CHECK_FALSE(has_note(config("", {"model.fock_tol=1e-7"}), "loose"));
}

TEST_CASE("solver.window_tol with a Bloch-vector bath: refused or noted on its bias estimate", "[config][accuracy]") {
  // Estimated bias 4.4 window_tol N^2.44 sqrt(ntraj) standard errors; refused from 1 (unless the
  // default), noted from 0.1; refused at >= 1e-6 whatever N.
  auto polarised = [](int N, long ntraj) {
    return fmt::format("[model]\nN = {}\n[initial]\nbath = [1.0, 0.0, 0.0]\n[solver]\nmethod = \"jump\"\nntraj = {}\n",
                       N, ntraj);
  };
  auto set = [](double w) { return std::vector<std::string>{fmt::format("solver.window_tol={:.17g}", w)}; };
  for (const auto& [N, ntraj] : std::vector<std::pair<int, long>>{{40, 100000}, {200, 20000}, {1000, 10000}}) {
    INFO("N = " << N << ", ntraj = " << ntraj);
    const double per_unit = 4.4 * std::pow(double(N), 2.44) * std::sqrt(double(ntraj));
    const std::string base = polarised(N, ntraj);
    CHECK_FALSE(has_note(config(base, set(0.099 / per_unit)), "solver.window_tol"));
    CHECK(has_note(config(base, set(0.101 / per_unit)), "solver.window_tol = "));
    CHECK(has_note(config(base, set(0.99 / per_unit)), "solver.window_tol = "));
    const auto [key, what] = refusal(base, set(1.01 / per_unit));
    CHECK(key == "solver.window_tol");
    CHECK_THAT(what, Catch::Contains(fmt::format("Bloch-vector bath at N = {}", N)));
    CHECK(config(base).notes.empty());  // the default 1e-12 is unbiased here (measured at N = 1000)
  }
  // The measured biased settings: N = 40, 1e5 trajectories, 1e-6 (10 standard errors) refused,
  // 1e-8 (0.15) noted; at any N, >= 1e-6 is refused.
  CHECK(refusal(polarised(40, 100000), set(1e-6)).first == "solver.window_tol");
  CHECK(has_note(config(polarised(40, 100000), set(1e-8)), "solver.window_tol = "));
  CHECK_THAT(refusal(polarised(2, 10), set(1e-6)).second, Catch::Contains("(0, 1e-06)"));
  CHECK(config(polarised(2, 10), set(9e-7)).notes.empty());
  // The default is never refused; at large N it gets the note (N = 3000, 1e6: estimate ~1.3).
  CHECK(has_note(config(polarised(3000, 1000000)), "solver.window_tol = 1e-12"));
  // Not the sensitive case: full windows, no fluctuation columns, the steady bath.
  CHECK(config(polarised(40, 100000), {"solver.window_tol=1e-3", "solver.window=\"full\""}).notes.empty());
  CHECK_FALSE(has_note(config(polarised(40, 100000), {"solver.window_tol=1e-4", "output.fluctuations=false"}),
                       "solver.window_tol"));
  CHECK_FALSE(has_note(config("[model]\nN = 40\n[solver]\nmethod = \"jump\"\nntraj = 100000\n", set(1e-4)),
                       "solver.window_tol"));
}

TEST_CASE("solver.atol: refused or noted on its error estimate 2 atol D", "[config][accuracy]") {
  // D, the density-matrix dimension: 2 (N - 2s + 1) summed over the sectors s = 0 .. N/2
  // (N = 1: 4, 2: 8, 10: 72, 40: 882, 100: 5202), 2^(N+1) in the full space.
  for (const auto& [N, D] : std::vector<std::pair<int, double>>{{1, 4}, {2, 8}, {10, 72}, {40, 882}, {100, 5202}}) {
    INFO("N = " << N);
    // (Unpruned: the pruned master equation's Chebyshev series has no atol; see below.)
    const std::string base = fmt::format("[model]\nN = {}\n[solver]\nprune_tol = 0\n", N);
    auto set = [](double atol) { return std::vector<std::string>{fmt::format("solver.atol={:.17g}", atol)}; };
    const double note_at = 1e-4 / (2 * D), refuse_at = 3e-2 / (2 * D);
    CHECK_FALSE(has_note(config(base, set(note_at * 0.99)), "solver.atol"));
    CHECK(has_note(config(base, set(note_at * 1.01)), "solver.atol = "));
    if (refuse_at < 1e-3) {
      CHECK(has_note(config(base, set(refuse_at * 0.99)), "solver.atol = "));
      const auto [key, what] = refusal(base, set(refuse_at * 1.01));
      CHECK(key == "solver.atol");
      CHECK_THAT(what, Catch::Contains(fmt::format("dimension {:g}", D)));
    }
  }
  // Full space (N = 4 couplings): D = 2^5 = 32.
  const std::string full = "[model]\nN = 4\ncouplings = [1.0, 0.5, 1.5, 1.0]\n";
  CHECK_FALSE(has_note(config(full, {"solver.atol=1.5e-6"}), "solver.atol"));
  CHECK(has_note(config(full, {"solver.atol=1.6e-6"}), "solver.atol = "));
  // Trajectories do not use atol: no estimate, no refusal at N = 1e6.
  CHECK_NOTHROW(config("[model]\nN = 1000000\n[solver]\nmethod = \"jump\"\natol = 1e-8\n"));
  // The default atol (1e-11) stays unnoted up to the largest unpruned ME sizes (N = 500: D = 126504).
  CHECK(config("[model]\nN = 500\n[solver]\nprune_tol = 0\n").notes.empty());
  // Pruned with the Chebyshev series (the default): atol is not used, so not estimated (and not
  // noted: the examples set it for the other integrators); with Dormand-Prince it is estimated on
  // the whole dimension again.
  CHECK(config("[model]\nN = 100000\n").notes.empty());
  CHECK(config("[model]\nN = 100000\n[solver]\natol = 1e-12\n").notes.empty());
  CHECK(refusal("[model]\nN = 100000\n[solver]\nintegrator = \"dopri5\"\n").first == "solver.atol");
}

TEST_CASE("the issue's biased settings are refused or noted", "[config][accuracy]") {
  // jump_tol = 0.1 and 1 biased an N = 3 ensemble by |z| = 12 and 66; window_tol >= 1e-2 was
  // already refused. Now: refused at >= 1e-2, noted above 1e-5 (measured: 0.56 SE at 1e-3).
  const std::string n3 = "[model]\nN = 3\n[solver]\nmethod = \"jump\"\n";
  for (const char* v : {"0.1", "1", "0.01"}) CHECK(refusal(n3, {std::string("solver.jump_tol=") + v}).first == "solver.jump_tol");
  for (const char* v : {"1e-3", "1e-4"}) CHECK(has_note(config(n3, {std::string("solver.jump_tol=") + v}), "solver.jump_tol = "));
  // A polarised bath with window_tol = 1e-4 (1300 standard errors at 1e5 trajectories): refused.
  CHECK(refusal(n3 + "[initial]\nbath = [1.0, 0.0, 0.0]\n", {"solver.window_tol=1e-4"}).first == "solver.window_tol");
}
