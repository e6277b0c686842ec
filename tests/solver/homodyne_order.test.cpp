// Strong and weak order of the homodyne (diffusive) unravelling, measured along given Brownian
// paths (JumpUnravelling::set_noise_source): a closed form for one noise, a fine-step reference
// for two non-commuting noises, and the Wiener increments' own moments.
#include "qfluct/model/open_system.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/solver/jump_unravelling.hpp"
#include "qfluct/solver/wiener_increments.hpp"

#include <boost/random/normal_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <fmt/format.h>
#include <numbers>

using namespace qfluct;

namespace {

CMat pauli(char which) {
  CMat s = CMat::Zero(2, 2);
  switch (which) {
    case 'x': s(0, 1) = s(1, 0) = 1.0; break;
    case 'y': s(0, 1) = -I, s(1, 0) = I; break;
    case 'z': s(0, 0) = 1.0, s(1, 1) = -1.0; break;
    case '-': s(1, 0) = 1.0; break;  // index 0 is "up": sigma_- |up> = |down>
    case '+': s(0, 1) = 1.0; break;
  }
  return s;
}

/// A pure qubit start (cos th, e^{i ph} sin th), observables sigma_x, sigma_y, sigma_z.
OpenSystemSpec qubit(const CMat& H, double th, double ph) {
  OpenSystemSpec s;
  s.H = H;
  Eigen::Vector2cd psi(std::cos(th), std::polar(std::sin(th), ph));
  s.initial = psi * psi.adjoint();
  s.observables = {{"sx", pauli('x')}, {"sy", pauli('y')}, {"sz", pauli('z')}};
  return s;
}

/// A Brownian path of m noises on the grid k h_f, k = 0..K: increments and (m >= 2) iterated
/// integrals per fine step; coarse steps are assembled by Chen's relation.
struct BrownianPath {
  double hf = 0.0;
  std::vector<WienerStep> fine;

  /// The step [t, t + h]: must start and end on the fine grid.
  void step(double t, double h, WienerStep& out) const {
    const auto k0 = std::llround(t / hf), k1 = std::llround((t + h) / hf);
    if (std::abs(double(k0) * hf - t) > 1e-9 * hf || std::abs(double(k1) * hf - (t + h)) > 1e-9 * hf)
      throw std::logic_error(fmt::format("step [{}, {}] is not on the path's grid", t, t + h));
    out = WienerStep{};
    for (auto k = k0; k < k1; ++k) append_wiener_step(out, fine[std::size_t(k)]);
    out.h = h;
  }
};

BrownianPath brownian_path(Rng& rng, Index m, double hf, long steps, double rate) {
  BrownianPath p;
  p.hf = hf;
  WienerIncrements w(m);
  p.fine.resize(std::size_t(steps));
  // Areas on the finest steps with twice the scheme's own terms: their error is below a strong order 1
  // step of size hf, far below the coarse levels'.
  const int terms = m >= 2 ? 2 * levy_area_terms(m, rate, hf) : 0;
  for (auto& s : p.fine) w.draw(rng, hf, terms, s);
  return p;
}

/// One trajectory on [0, T] with homodyne channels `homodyne` and step dt along `path`; returns
/// the Bloch vector at T (observables sx, sy, sz) and the integrated records Y_b(T).
struct Endpoint {
  Eigen::Vector3d r;
  RVec Y;
};

Endpoint run_along(const OpenSystemModel& model, const std::vector<HomodyneChannel>& homodyne, double dt, double T,
                   const BrownianPath& path, bool symmetric_only = false) {
  JumpOptions o;
  o.full_sectors = true;
  o.homodyne = homodyne;
  o.dt_sde = dt;
  const std::vector<double> times{0.0, T};
  JumpUnravelling u(model, times, o);
  u.set_noise_source([&](double t, double h, WienerStep& s) {
    path.step(t, h, s);
    if (symmetric_only) {  // drop the Levy areas: keep (I + I^T) / 2
      const Eigen::MatrixXd sym = 0.5 * (s.I + s.I.transpose());
      s.I = sym;
    }
  });
  const ObservableSet& obs = u.observables();
  std::vector<double> record(std::size_t(u.record_size()));
  RVec measurement(Index(times.size()) * u.measurement_width());
  Rng rng(7);
  TrajectoryStatistics stats;
  u.run(rng, record.data(), stats, measurement.data());
  REQUIRE(stats.jumps == 0);
  // The steps must be exactly dt (the path is sampled on a grid of dt): T / dt of them.
  REQUIRE(stats.sde_steps == std::llround(T / dt));
  Endpoint e;
  const double* last = record.data() + obs.raw_size();
  for (int a = 0; a < 3; ++a) {
    const auto& names = obs.column_names();
    const Index c = Index(std::find(names.begin(), names.end(), std::string("s") + "xyz"[a]) - names.begin());
    e.r(a) = last[obs.raw_index_of_column(c)];
  }
  const Index H = Index(u.homodyne_names().size());
  e.Y = measurement.segment(u.measurement_width(), H);
  return e;
}

/// Least-squares slope of log(err) against log(h).
double slope(const std::vector<double>& h, const std::vector<double>& err) {
  const std::size_t n = h.size();
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = std::log(h[i]), y = std::log(err[i]);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (double(n) * sxy - sx * sy) / (double(n) * sxx - sx * sx);
}

}  // namespace

TEST_CASE("Wiener increments: the iterated Ito integrals have the moments of Brownian motion", "[homodyne]") {
  // Exact identities: I(i,i) = (dW_i^2 - h)/2 and I(i,j) + I(j,i) = dW_i dW_j, to rounding.
  // Moments over n = 40000 draws at h = 0.3 (m = 3, 6 terms): E dW_i^2 = h, Var I(i,j) = h^2/2
  // (Ito isometry), E I(i,j) = 0, E[I(i,j) dW_i dW_j] = h^2/2, E[A(i,j)^2] = h^2/4 minus the
  // truncation deficit, which the tail approximation removes exactly in variance. Tolerances:
  // 5 standard errors of each estimator (computed from the samples).
  const Index m = 3;
  const double h = 0.3;
  const long n = 40000;
  WienerIncrements w(m);
  WienerStep s;
  Rng rng(11);
  std::vector<double> dw2, i01, cross, area;
  for (long k = 0; k < n; ++k) {
    w.draw(rng, h, 6, s);
    for (Index i = 0; i < m; ++i) {
      REQUIRE(s.I(i, i) == Approx(0.5 * (s.dW(i) * s.dW(i) - h)).margin(1e-15));
      for (Index j = 0; j < m; ++j)
        if (i != j) REQUIRE(s.I(i, j) + s.I(j, i) == Approx(s.dW(i) * s.dW(j)).margin(1e-14));
    }
    dw2.push_back(s.dW(1) * s.dW(1));
    i01.push_back(s.I(0, 2));
    cross.push_back(s.I(0, 2) * s.dW(0) * s.dW(2));
    area.push_back(std::pow(0.5 * (s.I(1, 2) - s.I(2, 1)), 2));
  }
  auto check_mean = [&](const std::vector<double>& v, double expected, const char* what) {
    double mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= double(v.size());
    for (double x : v) var += (x - mean) * (x - mean);
    const double se = std::sqrt(var / double(v.size() - 1) / double(v.size()));
    INFO(what << ": mean " << mean << " expected " << expected << " se " << se);
    CHECK(std::abs(mean - expected) < 5 * se);
  };
  check_mean(dw2, h, "dW^2");
  check_mean(i01, 0.0, "I(0,2)");
  std::vector<double> i01sq;
  for (double x : i01) i01sq.push_back(x * x);
  check_mean(i01sq, 0.5 * h * h, "I(0,2)^2");
  check_mean(cross, 0.5 * h * h, "I(0,2) dW_0 dW_2");
  check_mean(area, 0.25 * h * h, "A(1,2)^2");
  // Without areas (terms = 0) the area variance is 0: the difference is what a scheme without
  // them misses.
  w.draw(rng, h, 0, s);
  CHECK(s.I(0, 1) == Approx(0.5 * s.dW(0) * s.dW(1)).margin(1e-15));
}

TEST_CASE("homodyne, one noise: strong order 1 against the closed form of a measured sigma_z", "[homodyne]") {
  // H = (omega/2) sigma_z, L = sqrt(kappa) sigma_z, homodyne (phase 0). L is Hermitian and commutes
  // with H, so the state is a function of the record Y(t) = int I dt alone:
  //   psi(t) = normalise( exp(-i H t) exp(L Y(t) - L^2 t) psi0 ),
  // (the linear SSE with dY as its noise, normalised), and Z = 2 sqrt(kappa) Y + c obeys the
  // scalar SDE dZ = 4 kappa tanh(Z) dt + 2 sqrt(kappa) dW, c = ln(|a|/|b|) for psi0 = (a, b).
  // That SDE, with additive noise, is integrated on the fine grid by the order 1.5 strong Taylor
  // scheme (Kloeden & Platen (10.4.3)), whose error ~1e-8 is negligible against the levels
  // tested. The scheme under test, driven by the same W, must converge at strong order 1:
  // fitted slope of E|r_h(T) - r(T)| (Bloch vectors at T = 1) against h over 2^-3 .. 2^-8 in
  // [0.9, 1.1] (issue 13). kappa = 1/4 keeps the amplification of errors near the unstable
  // equator (dZ = 4 kappa tanh Z dt) moderate, so the mean error is not carried by a few paths;
  // with 400 paths the fitted slope came out 0.94-0.99 over seeds (record: 0.975-1.002).
  const double kappa = 0.25, omega = 2.0, th = 0.6, ph = 0.4, T = 1.0;
  OpenSystemSpec spec = qubit(0.5 * omega * pauli('z'), th, ph);
  spec.channels = {{"meas", pauli('z'), kappa}};
  const OpenSystemModel model(spec, {});
  const std::vector<HomodyneChannel> homodyne{{0, 0.0}};
  const int finest = 14;  // reference grid 2^-14
  const double hf = std::ldexp(1.0, -finest);
  const long steps = std::lround(T / hf);
  const std::vector<int> levels{3, 4, 5, 6, 7, 8};
  const double a = std::cos(th), b = std::sin(th), c = std::log(a / b);
  const double sk = std::sqrt(kappa);
  std::vector<double> strong(levels.size(), 0.0), record_err(levels.size(), 0.0);
  Rng rng(2026);
  boost::random::normal_distribution<double> normal;
  const int paths = 400;
  for (int p = 0; p < paths; ++p) {
    const BrownianPath path = brownian_path(rng, 1, hf, steps, kappa);
    // Reference: Z on the fine grid, order 1.5 (additive noise), dZ_extra from an independent normal.
    double Z = c;
    const double bz = 2 * sk;
    for (long k = 0; k < steps; ++k) {
      const double dW = path.fine[std::size_t(k)].dW(0);
      const double dZ = 0.5 * hf * (dW + std::sqrt(hf / 3.0) * normal(rng));  // int int dW ds
      const double t = std::tanh(Z), s2 = 1 - t * t;
      const double A = 4 * kappa * t, A1 = 4 * kappa * s2, A2 = -8 * kappa * s2 * t;
      Z += A * hf + bz * dW + A1 * bz * dZ + 0.5 * (A * A1 + 0.5 * bz * bz * A2) * hf * hf;
    }
    const double Y = (Z - c) / (2 * sk);
    Eigen::Vector2cd psi(std::polar(a * std::exp(sk * Y), -0.5 * omega * T + 0.0),
                         std::polar(b * std::exp(-sk * Y), 0.5 * omega * T + ph));
    psi /= psi.norm();
    const Eigen::Vector3d r((psi.adjoint() * pauli('x') * psi)(0).real(), (psi.adjoint() * pauli('y') * psi)(0).real(),
                            (psi.adjoint() * pauli('z') * psi)(0).real());
    for (std::size_t l = 0; l < levels.size(); ++l) {
      const Endpoint e = run_along(model, homodyne, std::ldexp(1.0, -levels[l]), T, path);
      strong[l] += (e.r - r).norm() / paths;
      record_err[l] += std::abs(e.Y(0) - Y) / paths;
    }
  }
  std::vector<double> hs;
  for (int l : levels) hs.push_back(std::ldexp(1.0, -l));
  const double order = slope(hs, strong), record_order = slope(hs, record_err);
  fmt::print("homodyne strong order, measured sigma_z (closed form): state {:.3f}, record {:.3f}; E|r_h - r|:", order,
             record_order);
  for (std::size_t l = 0; l < levels.size(); ++l) fmt::print(" h=2^-{}: {:.3g}", levels[l], strong[l]);
  fmt::print("\n");
  CHECK(order > 0.9);
  CHECK(order < 1.1);
  CHECK(record_order > 0.9);
  CHECK(record_order < 1.1);
}

TEST_CASE("homodyne, two non-commuting noises: strong order 1 with Levy areas, 1/2 without", "[homodyne]") {
  // H = (Omega/2) sigma_x, L_1 = sqrt(g1) sigma_-, L_2 = sqrt(g2) e^{-i pi/3} sigma_+, both
  // homodyne: their noise terms do not commute, so the Milstein scheme needs the Levy areas.
  // No closed form: the reference is the scheme itself on the 2^-13 grid of the same path (its
  // error ~1/32 of the finest level tested). Over seeds: 0.93-0.99 with, 0.50-0.60 without; the
  // coarsest levels are a little pre-asymptotic (error ratios 1.8 instead of 2), hence below 1. Strong order of E|r_h - r_ref| over 2^-3 .. 2^-8
  // must be in [0.9, 1.1] with the areas; without them (symmetric part only) the same measure
  // must fall to ~1/2 (asserted < 0.75), which shows the areas are drawn and used correctly.
  const double g1 = 0.35, g2 = 0.2, Omega = 0.65, T = 1.0;
  OpenSystemSpec spec = qubit(0.5 * Omega * pauli('x'), 0.3, 1.1);
  spec.channels = {{"down", pauli('-'), g1}, {"up", pauli('+'), g2}};
  const OpenSystemModel model(spec, {});
  const std::vector<HomodyneChannel> homodyne{{0, 0.0}, {1, std::numbers::pi / 3}};
  const int finest = 13;
  const double hf = std::ldexp(1.0, -finest);
  const long steps = std::lround(T / hf);
  const std::vector<int> levels{3, 4, 5, 6, 7, 8};
  std::vector<double> with(levels.size(), 0.0), without(levels.size(), 0.0);
  // Weak error of <sigma_z>(T) on common paths: E[z_h - z_ref] and its standard error.
  std::vector<double> weak(levels.size(), 0.0), weak2(levels.size(), 0.0);
  Rng rng(99);
  const int paths = 150;
  for (int p = 0; p < paths; ++p) {
    const BrownianPath path = brownian_path(rng, 2, hf, steps, std::max(g1, g2));
    const Endpoint ref = run_along(model, homodyne, hf, T, path);
    for (std::size_t l = 0; l < levels.size(); ++l) {
      const double h = std::ldexp(1.0, -levels[l]);
      const Endpoint e = run_along(model, homodyne, h, T, path);
      with[l] += (e.r - ref.r).norm() / paths;
      weak[l] += (e.r(2) - ref.r(2)) / paths;
      weak2[l] += std::pow(e.r(2) - ref.r(2), 2) / paths;
      without[l] += (run_along(model, homodyne, h, T, path, true).r - ref.r).norm() / paths;
    }
  }
  std::vector<double> hs;
  for (int l : levels) hs.push_back(std::ldexp(1.0, -l));
  const double order = slope(hs, with), order_without = slope(hs, without);
  // The weak order is reported (issue 13), fitted over the levels where the weak error is resolved
  // (above 3 standard errors). Over seeds it came out 0.87-0.98 (all six levels resolved); the
  // assertion [0.75, 1.25] allows for the estimate's noise and catches a scheme of weak order 1/2 or 2.
  std::vector<double> hw, ew;
  fmt::print("homodyne strong order, two non-commuting noises: {:.3f} with Levy areas, {:.3f} without; "
             "weak error of <sigma_z>(1) [se]:", order, order_without);
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const double se = std::sqrt(std::max(0.0, weak2[l] - weak[l] * weak[l]) / (paths - 1));
    fmt::print(" h=2^-{}: {:.2g} [{:.1g}]", levels[l], weak[l], se);
    if (std::abs(weak[l]) > 3 * se) hw.push_back(hs[l]), ew.push_back(std::abs(weak[l]));
  }
  if (hw.size() >= 3) fmt::print("; weak order {:.2f} over {} resolved levels", slope(hw, ew), hw.size());
  fmt::print("\n");
  REQUIRE(hw.size() >= 4);
  CHECK(slope(hw, ew) > 0.75);
  CHECK(slope(hw, ew) < 1.25);
  CHECK(order > 0.9);
  CHECK(order < 1.1);
  CHECK(order_without < 0.75);
}
