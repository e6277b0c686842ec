// The homodyne (diffusive) unravelling in ensembles (issue 13): averages against the master
// equation for the central spin (N = 10, tau_minus/tau_plus homodyne, bath jumps), spin_boson (all
// channels homodyne) and an open_system qutrit (non-Hermitian and Hermitian L, a phase); the same
// unconditioned averages for jump and homodyne unravellings; bit-identity for 1 and 2 threads; the
// measurement records (shape, counts, the mean current against the ME, the increments' variance).
//
// Statistics. Every comparison is a z-score (estimate - reference) / standard error; |z| < 5 at
// every time and column is a Bonferroni bound: with n z-scores the false-alarm probability is below
// n * 5.7e-7 (~600 here: < 4e-4), while a wrong sign or factor in the SSE's drift or noise (a
// process that does not unravel the ME) gives |z| of tens. The local-oscillator phase does not
// enter the unconditioned averages, only the currents: the records test checks it. The seeds are
// fixed and the ensembles bit-identical on any thread count, so a pass is reproducible. The
// scheme's weak error is O(dt_sde) with dt_sde = 1e-3 or 2e-3, times rates of order 1: a few 1e-3
// at most, against standard errors of 1e-2 to 3e-2 at these trajectory counts, so it cannot show
// in the z-scores.
#include "io/process.hpp"
#include "support/config.hpp"
#include "qfluct/io/config_file.hpp"
#include "qfluct/io/records.hpp"
#include "qfluct/simulate.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <cmath>
#include <map>
#include <numbers>
#include <sstream>

using namespace qfluct;

namespace {

std::string fig2() { return std::string(QFLUCT_SOURCE_DIR) + "/examples/fig2.toml"; }

TimeSeries run(const RunConfig& c) { return simulate(c); }

/// The Fig. 2 point (examples/fig2.toml) with overrides.
RunConfig fig2_config(std::vector<std::string> overrides) { return load_config(fig2(), overrides); }

struct ZStats {
  double max_abs = 0.0, sum = 0.0, sum_sq = 0.0;
  long n = 0;
  void add(double z) {
    max_abs = std::max(max_abs, std::abs(z));
    sum += z;
    sum_sq += z * z;
    ++n;
  }
  void merge(const ZStats& o) {
    max_abs = std::max(max_abs, o.max_abs);
    sum += o.sum, sum_sq += o.sum_sq, n += o.n;
  }
  double mean() const { return sum / double(n); }
  double sd() const { return std::sqrt(std::max(0.0, sum_sq / double(n) - mean() * mean())); }
};

std::ostream& operator<<(std::ostream& out, const ZStats& z) {
  return out << z.n << " z-scores: max |z| = " << z.max_abs << ", mean " << z.mean() << ", sd " << z.sd();
}

/// z = (a - b) / sqrt(ea^2 + eb^2) at every time and column (b exact: no errors). Entries whose
/// error is rounding only (< 1e-12: deterministic, t = 0 from a pure state; the purity's
/// jackknife error there is ~1e-14, not 0) must agree to rounding instead.
ZStats z_scores(const TimeSeries& a, const TimeSeries& b) {
  REQUIRE(a.columns == b.columns);
  REQUIRE(a.values.rows() == b.values.rows());
  REQUIRE(a.errors.rows() == a.values.rows());
  ZStats z;
  for (Index t = 0; t < a.values.rows(); ++t)
    for (Index c = 0; c < a.values.cols(); ++c) {
      const double ea = a.errors(t, c), eb = b.errors.size() ? b.errors(t, c) : 0.0;
      const double diff = a.values(t, c) - b.values(t, c), err = std::hypot(ea, eb);
      if (err < 1e-12) {
        INFO(a.columns[std::size_t(c)] << " at t = " << a.times[std::size_t(t)]);
        CHECK(std::abs(diff) < 1e-12);
        continue;
      }
      z.add(diff / err);
    }
  return z;
}

/// Checks |z| < 5 everywhere and, when there are enough z-scores for their spread to mean
/// something (>= 100), that their sd lies in [0.3, 1.6]: too small means inflated errors, too large
/// a bias or underestimated errors. The z-scores of one ensemble are strongly correlated (columns
/// of one state, consecutive times), so the effective count is ~10-20 and the sample sd scatters by
/// ~0.2 about 1: the band is about 3 of those either side.
void check_z(const ZStats& z, const std::string& what) {
  INFO(what << ": " << z);
  CHECK(z.max_abs < 5.0);
  if (z.n >= 100) {
    CHECK(z.sd() > 0.3);
    CHECK(z.sd() < 1.6);
  }
}

/// Index of column `name`.
Index column(const TimeSeries& s, const std::string& name) {
  for (std::size_t c = 0; c < s.columns.size(); ++c)
    if (s.columns[c] == name) return Index(c);
  FAIL("no column " << name);
  return -1;
}

/// The ME's time average of `coef * column` over [ta, tb] from a fine grid containing both ends
/// (composite trapezoid; on grids of 1/64 or finer its error, h^2 |f''| / 12 < 1e-3, is far below
/// the current's standard error).
double time_average(const TimeSeries& me, Index col, double ta, double tb) {
  const double h = me.times[1] - me.times[0];
  const auto ia = std::size_t(std::lround(ta / h)), ib = std::size_t(std::lround(tb / h));
  REQUIRE(std::abs(me.times[ia] - ta) < 1e-12);
  REQUIRE(std::abs(me.times[ib] - tb) < 1e-12);
  double s = 0.0;
  for (std::size_t i = ia; i < ib; ++i) s += 0.5 * (me.values(Index(i), col) + me.values(Index(i + 1), col)) * (me.times[i + 1] - me.times[i]);
  return s / (tb - ta);
}

/// What the mean homodyne current of one output should be: coef * <column>.
struct CurrentExpectation {
  std::string output, column;
  double coef;
};

/// z-scores of the mean current, and the largest |z| a wrong sign of coef would have given (the
/// test's power: |2 exact| / sem).
struct CurrentZ {
  ZStats z;
  double sign_error_z = 0.0;
};

/// The mean current of one output over each interval between the `stride`-th record times, over
/// all recorded trajectories, against the ME's time average of coef * <column> over that interval.
CurrentZ current_z(const TimeSeries& traj, const TimeSeries& me_fine, const CurrentExpectation& e, std::size_t stride) {
  const TrajectoryRecords& r = traj.records;
  CurrentZ out;
  const auto it = std::find(r.homodyne.begin(), r.homodyne.end(), e.output);
  REQUIRE(it != r.homodyne.end());
  const Index b = Index(it - r.homodyne.begin());
  const Index col = column(me_fine, e.column);
  for (std::size_t i = stride; i < r.times.size(); i += stride) {
    const double ta = r.times[i - stride], tb = r.times[i];
    double s = 0.0, s2 = 0.0;
    for (const auto& v : r.values) {
      const double current = (v(Index(i), b) - v(Index(i - stride), b)) / (tb - ta);
      s += current, s2 += current * current;
    }
    const double K = double(r.values.size()), mean = s / K;
    const double sem = std::sqrt((s2 / K - mean * mean) / (K - 1));
    const double exact = e.coef * time_average(me_fine, col, ta, tb);
    INFO(e.output << " over (" << ta << ", " << tb << "]: mean current " << mean << " +- " << sem << ", ME " << exact);
    const double zz = (mean - exact) / sem;
    CHECK(std::abs(zz) < 5.0);
    out.z.add(zz);
    out.sign_error_z = std::max(out.sign_error_z, std::abs(2 * exact) / sem);
  }
  return out;
}

}  // namespace

TEST_CASE("homodyne central spin (N = 10, bath jumps) agrees with the block ME", "[homodyne]") {
  // Fig. 2 model parameters, tau_minus (phase 0) and tau_plus (phase pi/2) homodyne; the bath's
  // local channels sigma_minus, sigma_plus change the Dicke sector and jump. The central spin starts
  // along (0.8, 0, 0.6) (the Fig. 2 run starts up), so that the currents x = <L + L^+> and the SSE's
  // nonlinear terms matter from the start. Grid 0, 0.25, .., 1.5 (8 columns x 7 times). The records of every trajectory are kept to check the mean currents:
  //   tau_minus, phase 0:    L = sqrt(gamma_down) tau_-,     L + L^+ = sqrt(gamma_down) tau_x;
  //   tau_plus,  phase pi/2: L = -i sqrt(gamma_up) tau_+,    L + L^+ = i sqrt(gamma_up) (tau_- - tau_+)
  //                          = +sqrt(gamma_up) tau_y   (tau_y = -i tau_+ + i tau_-, index 0 = up).
  const std::vector<std::string> common = {"output.t_end=1.5", "output.dt=0.25", "initial.central=[0.8, 0, 0.6]"};
  std::vector<std::string> set = common;
  for (const char* s : {"solver.method=\"jump\"", "solver.ntraj=1000", "solver.seed=1313", "output.records=1000",
                        "solver.unravelling.tau_minus=\"homodyne\"", "solver.unravelling.tau_plus=\"homodyne\"",
                        "solver.homodyne_phase.tau_plus=1.5707963267948966"})
    set.push_back(s);
  const RunConfig c = fig2_config(set);
  const TimeSeries traj = run(c);
  CHECK(traj.info["unravelling_per_channel"] ==
        nlohmann::json({{"tau_minus", "homodyne"}, {"tau_plus", "homodyne"}, {"sigma_minus", "jump"}, {"sigma_plus", "jump"}}));
  CHECK(traj.info["dt_sde"] == 1e-3);  // default 1e-3 / max(1, largest homodyne rate 0.8)
  CHECK(traj.info["homodyne_outputs"] == nlohmann::json({"tau_minus", "tau_plus"}));
  REQUIRE(traj.records.values.size() == 1000);
  CHECK(traj.records.jump_channels == std::vector<std::string>{"sigma_minus", "sigma_plus"});

  const TimeSeries me = run(fig2_config(common));
  check_z(z_scores(traj, me), "central spin N = 10, tau_minus/tau_plus homodyne");

  std::vector<std::string> fine = common;
  fine[1] = "output.dt=0.015625";  // 1/64: the ME on a grid fine enough for the time averages
  const TimeSeries me_fine = run(fig2_config(fine));
  const double gd = c.model.gamma_down, gu = c.model.gamma_up;
  // Over each 0.25 interval and over the whole run (where the sem is smallest).
  for (const CurrentExpectation& e : {CurrentExpectation{"tau_minus", "tau_x", std::sqrt(gd)},
                                      CurrentExpectation{"tau_plus", "tau_y", std::sqrt(gu)}}) {
    const CurrentZ each = current_z(traj, me_fine, e, 1), whole = current_z(traj, me_fine, e, 6);
    INFO(e.output << " mean current over each 0.25: " << each.z << "; over (0, 1.5]: " << whole.z
                  << "; a wrong sign would give |z| up to " << each.sign_error_z);
    CHECK(std::max(each.sign_error_z, whole.sign_error_z) > 6.0);  // a sign error would show (|z| > 5 mostly)
  }
}

TEST_CASE("homodyne spin_boson (every channel homodyne) agrees with its ME", "[homodyne]") {
  // The emergent model of the Fig. 2 point: tau_minus, tau_plus, boson_loss (kappa_down = 1.5),
  // boson_gain (kappa_up = 0.3) all homodyne at phase 0.3; dt_sde = 2e-3 (weak error ~ 3e-3 at
  // most, against standard errors ~ 2e-2).
  const std::vector<std::string> common = {"model.kind=\"spin_boson\"", "output.t_end=1.5", "output.dt=0.25"};
  std::vector<std::string> set = common;
  for (const char* s : {"solver.method=\"jump\"", "solver.ntraj=800", "solver.seed=77", "solver.unravelling=\"homodyne\"", "solver.dt_sde=2e-3",
                        "solver.homodyne_phase=0.3"})
    set.push_back(s);
  const RunConfig c = fig2_config(set);
  const TimeSeries traj = run(c);
  CHECK(traj.info["unravelling_per_channel"] ==
        nlohmann::json({{"tau_minus", "homodyne"}, {"tau_plus", "homodyne"}, {"boson_loss", "homodyne"}, {"boson_gain", "homodyne"}}));
  CHECK(traj.info["dt_sde"] == 2e-3);
  const TimeSeries me = run(fig2_config(common));
  check_z(z_scores(traj, me), "spin_boson, all homodyne");
}

namespace {

/// A qutrit without modes: L0 = |2><u| (non-Hermitian, L^+L not diagonal), L1 Hermitian with
/// complex off-diagonals, L2 a complex ladder 2 -> 1 -> 0; a pure initial state with coherences
/// (t = 0 is then deterministic) and two observables given as data.
const std::string qutrit = R"toml(
[model]
kind = "open_system"

[system]
H = [[0.7, [0.2, 0.15], [-0.1, 0.05]],
     [[0.2, -0.15], -0.3, [0.25, -0.2]],
     [[-0.1, -0.05], [0.25, 0.2], 0.1]]
initial = [0.6, [0.0, 0.48], [0.64, 0.0]]

[[system.channel]]
name = "nonhermitian"
L = [[0, 0, 0],
     [0, 0, 0],
     [0.8, [0.3, 0.4], 0]]
rate = 0.6

[[system.channel]]
name = "hermitian"
L = [[1.0, [0.3, -0.2], 0],
     [[0.3, 0.2], -0.5, 0.4],
     [0, 0.4, 0.2]]
rate = 0.5

[[system.channel]]
name = "ladder"
L = [[0, [0, 1], 0],
     [0, 0, 0.6],
     [0, 0, 0]]
rate = 0.45

[output]
t_end = 1.5
dt = 0.25

[[output.observable]]
name = "y02"
O = [[0, 0, [0, -1]],
     [0, 0, 0],
     [[0, 1], 0, 0]]

[[output.observable]]
name = "mix"
O = [[0.3, [0.5, 0.5], 0],
     [[0.5, -0.5], -1, 0.25],
     [0, 0.25, 0.7]]
)toml";

RunConfig qutrit_config(std::vector<std::string> overrides) { return qfluct::test::config(qutrit, overrides); }

}  // namespace

TEST_CASE("homodyne open_system qutrit (non-Hermitian and Hermitian L, a phase) agrees with its ME", "[homodyne]") {
  // nonhermitian (phase 0.7) and hermitian (phase 0) homodyne, ladder jumps: the general path
  // (sum K^+K not diagonal) with both kinds of channel. 9 rho_S columns + 2 observables x 7 times.
  const RunConfig c = qutrit_config({"solver.method=\"jump\"", "solver.ntraj=2000", "solver.seed=31", "solver.dt_sde=2e-3",
                                     "solver.unravelling.nonhermitian=\"homodyne\"",
                                     "solver.unravelling.hermitian=\"homodyne\"",
                                     "solver.homodyne_phase.nonhermitian=0.7"});
  const TimeSeries traj = run(c);
  CHECK(traj.info["unravelling_per_channel"] ==
        nlohmann::json({{"nonhermitian", "homodyne"}, {"hermitian", "homodyne"}, {"ladder", "jump"}}));
  CHECK(traj.info["homodyne_phase"] == nlohmann::json({{"nonhermitian", 0.7}, {"hermitian", 0.0}}));
  const TimeSeries me = run(qutrit_config({}));
  check_z(z_scores(traj, me), "qutrit, two homodyne channels and one jump channel");
}

TEST_CASE("unconditioned averages do not depend on the unravelling", "[homodyne]") {
  // The qutrit with every channel jumping and with every channel homodyne (phases 0.7, -1.2, 2.0):
  // each within 5 sigma of the ME, and of each other (z with both standard errors).
  const std::vector<std::string> jump = {"solver.method=\"jump\"", "solver.ntraj=2000", "solver.seed=8"};
  std::vector<std::string> homodyne = jump;
  for (const char* s : {"solver.unravelling=\"homodyne\"", "solver.dt_sde=2e-3", "solver.homodyne_phase.nonhermitian=0.7",
                        "solver.homodyne_phase.hermitian=-1.2", "solver.homodyne_phase.ladder=2.0"})
    homodyne.push_back(s);
  const TimeSeries by_jumps = run(qutrit_config(jump));
  const TimeSeries by_homodyne = run(qutrit_config(homodyne));
  CHECK(by_homodyne.info["unravelling_per_channel"] ==
        nlohmann::json({{"nonhermitian", "homodyne"}, {"hermitian", "homodyne"}, {"ladder", "homodyne"}}));
  CHECK_FALSE(by_jumps.info.json().contains("dt_sde"));
  const TimeSeries me = run(qutrit_config({}));
  check_z(z_scores(by_jumps, me), "qutrit, all jumps vs ME");
  check_z(z_scores(by_homodyne, me), "qutrit, all homodyne vs ME");
  check_z(z_scores(by_homodyne, by_jumps), "qutrit, all homodyne vs all jumps");
  // The two ensembles are different random processes: they must not coincide.
  CHECK((by_jumps.values - by_homodyne.values).cwiseAbs().maxCoeff() > 1e-6);
}

TEST_CASE("homodyne ensembles with records are bit-identical for 1 and 2 threads and the same seed", "[homodyne]") {
  // Central spin N = 4 (homodyne tau_minus/tau_plus, bath jumps) and the qutrit (mixed): values,
  // errors and records, for 1 and 2 threads and twice with the same seed; another seed differs.
  struct Case {
    std::string what;
    RunConfig config;
  };
  const std::vector<std::string> homodyne = {"solver.method=\"jump\"", "solver.ntraj=120", "solver.seed=4",
                                             "output.records=50", "output.t_end=0.5", "output.dt=0.125"};
  std::vector<std::string> spin = homodyne, open = homodyne;
  for (const char* s : {"model.N=4", "solver.unravelling=\"homodyne\"", "solver.homodyne_phase=0.4"}) spin.push_back(s);
  for (const char* s : {"solver.unravelling.hermitian=\"homodyne\"", "solver.unravelling.nonhermitian=\"homodyne\""})
    open.push_back(s);
  const std::vector<Case> cases = {{"central spin", fig2_config(spin)}, {"qutrit", qutrit_config(open)}};
  const int saved = omp_get_max_threads();
  for (const auto& [what, c] : cases) {
    INFO(what);
    omp_set_num_threads(1);
    const TimeSeries one = run(c);
    omp_set_num_threads(2);
    const TimeSeries two = run(c);
    const TimeSeries again = run(c);
    RunConfig other = c;
    other.solver.seed = 5;
    const TimeSeries different = run(other);
    omp_set_num_threads(saved);
    for (const TimeSeries* s : {&two, &again}) {
      CHECK((one.values.array() == s->values.array()).all());
      CHECK((one.errors.array() == s->errors.array()).all());
      REQUIRE(s->records.values.size() == 50);
      CHECK(s->records.trajectory == one.records.trajectory);
      for (std::size_t k = 0; k < 50; ++k) CHECK((one.records.values[k].array() == s->records.values[k].array()).all());
    }
    CHECK_FALSE((one.values.array() == different.values.array()).all());
    CHECK_FALSE((one.records.values[0].array() == different.records.values[0].array()).all());
  }
}

TEST_CASE("homodyne records: shape, jump counts, mean current and increment variance", "[homodyne]") {
  // Central spin N = 10 (Fig. 2 model parameters, the central spin starting along (0.6, 0.8, 0):
  // a current of several sem while the coherence lasts, t < 0.5) with tau_minus at phase pi/2 and
  // tau_plus at phase 0, the records of all 2000 trajectories on a fine grid (dt = 0.002, 2 SDE
  // steps per interval).
  //   tau_minus, phase pi/2: L = -i sqrt(gamma_down) tau_-, L + L^+ = i sqrt(gamma_down) (tau_+ - tau_-)
  //                          = -sqrt(gamma_down) tau_y;
  //   tau_plus,  phase 0:    L + L^+ = sqrt(gamma_up) tau_x.
  const long K = 2000;
  const std::vector<std::string> common = {"output.t_end=0.5", "output.dt=0.002", "initial.central=[0.6, 0.8, 0]"};
  std::vector<std::string> set = common;
  for (const char* s : {"solver.method=\"jump\"", "solver.ntraj=2000", "solver.seed=2718", "output.records=2000",
                        "solver.unravelling.tau_minus=\"homodyne\"", "solver.unravelling.tau_plus=\"homodyne\"",
                        "solver.homodyne_phase.tau_minus=1.5707963267948966"})
    set.push_back(s);
  const RunConfig c = fig2_config(set);
  const TimeSeries traj = run(c);
  const TrajectoryRecords& r = traj.records;
  const std::size_t T = traj.times.size();
  REQUIRE(T == 251);

  // Shape: K matrices of T x (2 homodyne outputs + 2 jump channels), on the output grid.
  REQUIRE(r.values.size() == std::size_t(K));
  CHECK(r.homodyne == std::vector<std::string>{"tau_minus", "tau_plus"});
  CHECK(r.jump_channels == std::vector<std::string>{"sigma_minus", "sigma_plus"});
  CHECK(r.times == traj.times);
  CHECK(traj.info["records"] == K);
  for (long k = 0; k < K; ++k) CHECK(r.trajectory[std::size_t(k)] == k);
  double counted[2] = {0, 0};  // jumps of sigma_minus, sigma_plus over all trajectories
  for (const auto& v : r.values) {
    REQUIRE(v.rows() == Index(T));
    REQUIRE(v.cols() == 4);
    CHECK(v.row(0).isZero(0.0));  // Y(t_0) = 0, no jumps yet
    for (Index ch = 2; ch < 4; ++ch)
      for (Index i = 1; i < Index(T); ++i) {
        const double n = v(i, ch);
        if (!(n == std::round(n) && n >= v(i - 1, ch))) FAIL("jump count " << n << " after " << v(i - 1, ch));
      }
    counted[0] += v(Index(T) - 1, 2), counted[1] += v(Index(T) - 1, 3);
  }
  // Every trajectory is recorded here, so the counts add up to the diagnostics' jumps per channel;
  // the homodyne channels never jump.
  const auto& per_channel = traj.info["jumps_per_channel_per_trajectory"];
  CHECK(counted[0] / double(K) == Approx(per_channel["sigma_minus"].get<double>()).epsilon(1e-14));
  CHECK(counted[1] / double(K) == Approx(per_channel["sigma_plus"].get<double>()).epsilon(1e-14));
  CHECK(counted[0] + counted[1] > 0);
  CHECK(per_channel["tau_minus"] == 0.0);
  CHECK(per_channel["tau_plus"] == 0.0);

  // Mean current over (0, 0.25], (0.25, 0.5] and over (0, 0.5] against the ME's time average.
  const TimeSeries me_fine = run(fig2_config(common));
  const double gd = c.model.gamma_down, gu = c.model.gamma_up;
  const std::vector<CurrentExpectation> expected = {{"tau_minus", "tau_y", -std::sqrt(gd)}, {"tau_plus", "tau_x", std::sqrt(gu)}};
  for (const CurrentExpectation& e : expected) {
    const CurrentZ halves = current_z(traj, me_fine, e, 125), whole = current_z(traj, me_fine, e, 250);
    INFO(e.output << " mean current over (0, 0.25], (0.25, 0.5]: " << halves.z << "; over (0, 0.5]: " << whole.z
                  << "; a wrong sign would give |z| up to " << std::max(halves.sign_error_z, whole.sign_error_z));
    // A wrong sign or phase would give |z| >= 8: caught with probability > 0.998.
    CHECK(std::max(halves.sign_error_z, whole.sign_error_z) > 8.0);
  }

  // Increment variance: over each interval of length D = 0.002, Var(dY) = D + O(D^2): with
  // |x| <= 2 sqrt(rate) and the dW-coefficient of x bounded by 8 rate, |Var(dY) - D| <= 12 rate D^2
  // (and |Cov(dY_1, dY_2)| <= 12 sqrt(rate_1 rate_2) D^2 for two outputs, whose Wiener processes
  // are independent). Pooled over the 250 intervals (independent increments), the sample
  // variance / D has sd sqrt(2 / ((K - 1) 250)) = 2e-3 (and the covariance sqrt(1 / ((K-1) 250))).
  const double D = 0.002;
  const double rate[2] = {gd, gu};
  double var[2] = {0, 0}, cov = 0.0;
  for (std::size_t i = 1; i < T; ++i) {
    double m[2] = {0, 0};
    for (const auto& v : r.values)
      for (Index b = 0; b < 2; ++b) m[b] += v(Index(i), b) - v(Index(i - 1), b);
    for (double& x : m) x /= double(K);
    for (const auto& v : r.values) {
      const double d0 = v(Index(i), 0) - v(Index(i - 1), 0) - m[0], d1 = v(Index(i), 1) - v(Index(i - 1), 1) - m[1];
      var[0] += d0 * d0, var[1] += d1 * d1, cov += d0 * d1;
    }
  }
  const double samples = double(T - 1) * double(K - 1);
  for (int b = 0; b < 2; ++b) {
    const double ratio = var[b] / samples / D, sd = std::sqrt(2.0 / samples);
    INFO("output " << b << ": Var(dY) / D = " << ratio << " (sd " << sd << ", bias bound " << 12 * rate[b] * D << ")");
    CHECK(std::abs(ratio - 1.0) < 5 * sd + 12 * rate[b] * D);
  }
  const double corr = cov / samples / D, sd = std::sqrt(1.0 / samples);
  INFO("Cov(dY_1, dY_2) / D = " << corr << " (sd " << sd << ")");
  CHECK(std::abs(corr) < 5 * sd + 12 * std::sqrt(gd * gu) * D);
}

TEST_CASE("write_records_csv: header and one row per trajectory and interval", "[homodyne][records]") {
  // Hand-made records: 2 trajectories, times 0, 0.5, 1.25, one homodyne output, one jump channel.
  TrajectoryRecords r;
  r.homodyne = {"L0"};
  r.jump_channels = {"mode_0_loss"};
  r.times = {0.0, 0.5, 1.25};
  r.trajectory = {0, 1};
  Eigen::MatrixXd a(3, 2), b(3, 2);
  a << 0.0, 0, 0.3, 1, -0.45, 3;
  b << 0.0, 0, 1.0 / 3.0, 0, 0.1, 0;
  r.values = {a, b};
  CHECK(records_columns(r) == std::vector<std::string>{"I_L0", "Y_L0", "N_mode_0_loss"});
  std::ostringstream out;
  write_records_csv(out, r);
  std::istringstream in(out.str());
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  REQUIRE(lines.size() == 1 + 2 * 2);  // header + trajectories x (T - 1) intervals
  CHECK(lines[0] == "trajectory,t,I_L0,Y_L0,N_mode_0_loss");
  auto fields = [](const std::string& l) {
    std::vector<double> f;
    std::stringstream s(l);
    std::string x;
    while (std::getline(s, x, ',')) f.push_back(std::stod(x));
    return f;
  };
  // Row = (trajectory, t_i, (Y_i - Y_{i-1}) / (t_i - t_{i-1}), Y_i, N_i - N_{i-1}), 17 digits.
  const std::vector<std::vector<double>> expected = {{0, 0.5, 0.6, 0.3, 1},
                                                     {0, 1.25, -1.0, -0.45, 2},
                                                     {1, 0.5, 2.0 / 3.0, 1.0 / 3.0, 0},
                                                     {1, 1.25, (0.1 - 1.0 / 3.0) / 0.75, 0.1, 0}};
  for (std::size_t k = 0; k < expected.size(); ++k) {
    const auto f = fields(lines[k + 1]);
    REQUIRE(f.size() == 5);
    for (std::size_t j = 0; j < 5; ++j) CHECK(f[j] == Approx(expected[k][j]).epsilon(1e-15).margin(1e-15));
  }

  // An ensemble's records: T - 1 rows per trajectory, the header from its outputs and channels.
  const RunConfig c = qutrit_config({"solver.method=\"jump\"", "solver.ntraj=20", "output.records=7",
                                     "solver.unravelling.nonhermitian=\"homodyne\"", "output.t_end=0.5"});
  const TimeSeries s = run(c);
  std::ostringstream csv;
  write_records_csv(csv, s.records);
  const std::string text = csv.str();
  CHECK(text.substr(0, text.find('\n')) == "trajectory,t,I_nonhermitian,Y_nonhermitian,N_hermitian,N_ladder");
  CHECK(std::count(text.begin(), text.end(), '\n') == 1 + 7 * long(s.times.size() - 1));
}
