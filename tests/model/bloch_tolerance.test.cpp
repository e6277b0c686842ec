// Bloch vectors within rounding of the unit sphere (issue 10, item 3): one tolerance
// (bloch_tolerance) for the input check and every consumer. A vector a rounding outside the sphere
// runs exactly like the normalised one on every path (sector ME, trajectories, full space,
// mean field, spin-boson); one further out is refused with |r| printed to enough digits.
#include "qfluct/core/error.hpp"
#include "qfluct/io/config_file.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/space/dicke.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <fmt/format.h>
#include <Eigen/Eigenvalues>

using namespace qfluct;

namespace {

double length(const Vec3& r) { return std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]); }
Vec3 scaled(const Vec3& r, double f) { return {r[0] * f, r[1] * f, r[2] * f}; }

/// A run at N = 2 on one solver path, short enough to keep the whole file under a second.
struct Path {
  std::string name, toml;
  bool has_bath;  // whether initial.bath is used (spin_boson: a thermal boson instead)
};

const std::vector<Path>& paths() {
  static const std::vector<Path> all = {
      {"sector master", "[model]\nN = 2\n", true},
      {"sector jump", "[model]\nN = 2\n[solver]\nmethod = \"jump\"\nntraj = 40\nseed = 5\n", true},
      {"full-space master", "[model]\nN = 2\ncouplings = [1.3, 0.6]\n", true},
      {"full-space jump", "[model]\nN = 2\ncouplings = [1.3, 0.6]\n[solver]\nmethod = \"jump\"\nntraj = 40\n", true},
      {"mean_field master", "[model]\nkind = \"mean_field\"\nN = 2\n", true},
      {"mean_field jump", "[model]\nkind = \"mean_field\"\nN = 2\n[solver]\nmethod = \"jump\"\nntraj = 40\n", true},
      {"spin_boson master", "[model]\nkind = \"spin_boson\"\n", false},
      {"spin_boson jump", "[model]\nkind = \"spin_boson\"\n[solver]\nmethod = \"jump\"\nntraj = 40\n", false},
  };
  return all;
}

RunConfig config(const Path& path, const std::string& key, const Vec3& r) {
  toml::table t = toml::parse(path.toml + "[output]\nt_end = 0.5\ndt = 0.25\n");
  apply_override(t, fmt::format("{}=[{:.17g}, {:.17g}, {:.17g}]", key, r[0], r[1], r[2]));
  return parse_config(t);
}

/// Runs the path's solver; for master runs also checks the final state's trace and the initial
/// state's positivity (the ME used to turn NaN here).
TimeSeries run(const RunConfig& c) {
  const auto model = make_model(c, c.kind == ModelKind::spin_boson ? 16 : 0);
  const BlockDensity rho0 = model->initial_density();
  cplx trace = 0.0;
  for (const CMat& b : rho0.blocks) {
    trace += b.trace();
    REQUIRE(b.allFinite());
    // Positive within rounding: eigenvalues of a Hermitian block >= -1e-15.
    CHECK(Eigen::SelfAdjointEigenSolver<CMat>(b).eigenvalues().minCoeff() > -1e-15);
  }
  CHECK(std::abs(trace - 1.0) < 1e-14);
  if (c.solver.method == SolverMethod::master && c.kind != ModelKind::spin_boson) {
    const BlockMasterEquation me(*model);
    CVec y = me.pack(rho0);
    MasterOptions o;
    o.tol = {c.solver.rtol, c.solver.atol};
    const TimeSeries ts = me.solve(y, time_grid(c.output.t_end, c.output.dt), o);
    cplx final_trace = 0.0;
    for (const auto& b : me.blocks(y)) final_trace += b.trace();
    CHECK(std::abs(final_trace - 1.0) < 1e-12);  // the generator is trace preserving to rounding
    return ts;
  }
  return simulate(c);
}

}  // namespace

TEST_CASE("Bloch tolerance: the helpers keep |r| <= 1, are idempotent and treat |r| = 1 +- tol as pure",
          "[bloch]") {
  for (const Vec3 d : {Vec3{1, 0, 0}, Vec3{0.6, 0, 0.8}, Vec3{0.48, 0.36, 0.8}, Vec3{1, 0, 1e-7}, Vec3{0.1, -0.2, 0.3}}) {
    for (double f : {1.0, 1.0 + 1e-16, 1.0 + 4e-16, 1.0 + 3e-15, 1.0 + bloch_tolerance / 2, 1.0 + bloch_tolerance}) {
      const Vec3 r = scaled(d, f / length(d));
      const Vec3 u = onto_bloch_ball(r);
      INFO("d = (" << d[0] << ", " << d[1] << ", " << d[2] << "), f - 1 = " << f - 1);
      CHECK(length(u) <= 1.0);
      CHECK(onto_bloch_ball(u) == u);  // idempotent: a sidecar's vector reruns unchanged
      CHECK(std::abs(length(u) - 1.0) < 1e-15);
      CHECK(is_pure_bloch(r));
      CHECK(checked_bloch("initial.bath", r) == u);
    }
    // Inside the sphere the check changes nothing.
    const Vec3 inside = scaled(d, 0.5 / length(d));
    CHECK(onto_bloch_ball(inside) == inside);
    CHECK(checked_bloch("initial.bath", inside) == inside);
    CHECK_FALSE(is_pure_bloch(inside));
  }
  CHECK_FALSE(is_pure_bloch({0, 0, 1.0 - 10 * bloch_tolerance}));
  // The consumer itself: a probability a rounding above 1 gives the weights of p = 1, not NaN.
  for (int s = 0; s <= 1; ++s)
    for (Index k = 0; k < dicke::ladder_size(3, s); ++k) {
      CHECK(dicke::diagonal_weight(3, s, k, 1.0 + 4e-15) == dicke::diagonal_weight(3, s, k, 1.0));
      CHECK(dicke::diagonal_weight(3, s, k, -1e-16) == dicke::diagonal_weight(3, s, k, 0.0));
    }
  CHECK(dicke::diagonal_weight(3, 0, 3, 1.0) == 1.0);  // |j = 3/2, m = 3/2>
}

TEST_CASE("Bloch vectors a rounding outside the sphere run like the normalised vector on every path", "[bloch]") {
  // The three vectors (|r| = 1 + 8e-15, 1 + 5e-15, 1 + 5e-13; the block ME used to stop
  // with "non-finite state"), then pure states along several axes, exactly and at 1 + tol/2.
  struct Case {
    Vec3 direction;             // the reference run uses direction / |direction|
    std::vector<Vec3> inputs;   // each must run like the reference
  };
  std::vector<Case> cases;
  for (const Vec3 r : {Vec3{0.6, 0, 0.80000000000001}, Vec3{1, 0, 1e-7}, Vec3{1, 0, 1e-6}}) cases.push_back({r, {r}});
  for (const Vec3 d : {Vec3{1, 0, 0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}, Vec3{0, 0, -1}, Vec3{-1, 0, 0}, Vec3{0.6, 0, 0.8},
                       Vec3{0, -0.8, 0.6}, Vec3{0.48, 0.36, 0.8}})
    cases.push_back({d, {d, scaled(d, 1.0 + bloch_tolerance / 2)}});
  for (const Path& path : paths())
    for (const std::string key : {"initial.central", "initial.bath"}) {
      if (key == "initial.bath" && !path.has_bath) continue;
      for (const auto& [direction, inputs] : cases) {
        const Vec3 reference = scaled(direction, 1.0 / length(direction));
        const TimeSeries b = run(config(path, key, reference));
        for (const Vec3& input : inputs) {
          INFO(path.name << ", " << key << " = ["
                         << fmt::format("{:.17g}, {:.17g}, {:.17g}", input[0], input[1], input[2])
                         << "], |r| - 1 = " << length(input) - 1.0);
          const RunConfig c = config(path, key, input);
          const Vec3 used = key == "initial.central" ? c.model.central : c.model.bath.r;
          CHECK(length(used) <= 1.0);  // consumers see |r| <= 1
          const TimeSeries a = run(c);
          REQUIRE(a.values.allFinite());
          // The inputs differ by at most tol/2 = 5e-13 in |r| (and by roundings in direction); a
          // short run (t <= 0.5) moves the observables by at most that times O(1): 1e-12 holds.
          // Trajectories share their random stream (a pure state draws no number), so they agree
          // to the same order.
          CHECK((a.values - b.values).cwiseAbs().maxCoeff() <= 1e-12);
          // At t = 0 the central spin's <tau> is its Bloch vector (every trajectory starts there).
          if (key == "initial.central")
            for (int i = 0; i < 3; ++i) CHECK(std::abs(a.values(0, i) - reference[i]) < 1e-14);
          // The mean-field bath columns m_x, m_y, m_z start at the bath vector.
          if (key == "initial.bath" && c.kind == ModelKind::mean_field)
            for (int i = 0; i < 3; ++i) CHECK(std::abs(a.values(0, a.values.cols() - 3 + i) - reference[i]) < 1e-14);
        }
      }
    }
}

TEST_CASE("Bloch vectors beyond the tolerance are refused with |r| printed to the digit that matters", "[bloch]") {
  for (const std::string key : {"initial.central", "initial.bath"})
    for (const Vec3 d : {Vec3{1, 0, 0}, Vec3{0, 0, -1}, Vec3{0.6, 0, 0.8}, Vec3{0.48, 0.36, 0.8}}) {
      for (const auto& [factor, shown] : std::vector<std::pair<double, std::string>>{
               {1.0 + 10 * bloch_tolerance, "1.00000000001"}, {1.0000001, "1.0000001"}, {1.5, "1.5"}}) {
        INFO(key << ", |r| = " << factor);
        try {
          config(paths().front(), key, scaled(d, factor));
          FAIL("accepted");
        } catch (const InputError& e) {
          CHECK(e.key() == key);
          CHECK_THAT(e.what(), Catch::Contains("|r| = " + shown + " > 1"));
        }
      }
    }
}
