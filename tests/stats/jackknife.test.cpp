// Tests of the delete-one-group jackknife: exact identities for linear and quadratic functions,
// then statistical checks against distributions with known moments and against the spread of
// repeated experiments.
#include "qfluct/stats/jackknife.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/core/random.hpp"
#include "qfluct/stats/accumulator.hpp"
#include "qfluct/stats/central_moments.hpp"

#include <boost/random/exponential_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

using namespace qfluct;

namespace {

// Appends one group: the sums of (x, x^2, x^3, x^4) over `count` draws, as qfluct sums a block.
template <class Draw>
void add_raw_moment_group(GroupedSamples& data, Draw& draw, Index count) {
  double s[4] = {0, 0, 0, 0};
  for (Index k = 0; k < count; ++k) {
    const double x = draw(), x2 = x * x;
    s[0] += x;
    s[1] += x2;
    s[2] += x2 * x;
    s[3] += x2 * x2;
  }
  data.add_group(s, count);
}

template <class Draw>
JackknifeResult central_moment_jackknife(Draw& draw, Index groups, Index per_group) {
  GroupedSamples data(4);
  for (Index g = 0; g < groups; ++g) add_raw_moment_group(data, draw, per_group);
  return jackknife(data, central_moments, central_moments_size);
}

// |estimate - exact| in units of the jackknife error.
double z_score(const JackknifeResult& r, Index k, double exact) { return std::abs(r.estimate[k] - exact) / r.error[k]; }

// The statistical checks use 4 standard errors: a false alarm has probability 6e-5 per check
// for a Gaussian estimate, and a real mistake (a wrong coefficient, a missing bias term, an
// error off by a factor) moves the estimate by far more. Seeds are fixed, so runs repeat.
constexpr double z_max = 4.0;

double sample_sd(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / double(v.size() - 1));
}

double average(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double rms(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s / double(v.size()));
}

}  // namespace

TEST_CASE("jackknife of a linear function: no correction, error = standard error of group means", "[stats]") {
  // With G equal groups, theta_g - theta_bar = -(M_g - M) / (G - 1) exactly, so the jackknife
  // error is sqrt(sum_g (M_g - M)^2 / (G (G - 1))). Only rounding separates the two: 1e-12.
  const Index G = 10, per_group = 7;
  Rng rng(1);
  boost::random::normal_distribution<double> normal(3.0, 2.0);
  GroupedSamples data(2);
  Eigen::MatrixXd group_means(G, 2);
  for (Index g = 0; g < G; ++g) {
    double s[2] = {0, 0};
    for (Index k = 0; k < per_group; ++k) {
      const double x = normal(rng);
      s[0] += x;
      s[1] += 5.0 - 2.0 * x * x;
    }
    data.add_group(s, per_group);
    group_means.row(g) << s[0] / per_group, s[1] / per_group;
  }
  REQUIRE(data.groups() == G);
  REQUIRE(data.count() == G * per_group);
  const auto identity = [](const double* m, double* out) { out[0] = m[0], out[1] = m[1]; };
  const JackknifeResult r = jackknife(data, identity, 2);
  CHECK(r.groups == G);
  CHECK(r.count == G * per_group);
  for (Index i = 0; i < 2; ++i) {
    const double M = group_means.col(i).mean();
    const double se = std::sqrt((group_means.col(i).array() - M).square().sum() / double(G * (G - 1)));
    CHECK(r.plain[i] == Approx(M).epsilon(1e-12));
    CHECK(r.estimate[i] == Approx(M).epsilon(1e-12));
    CHECK(r.error[i] == Approx(se).epsilon(1e-12));
  }
}

TEST_CASE("jackknife of mean^2 with equal groups is the unbiased M^2 - var(M)", "[stats]") {
  // G M^2 - (G - 1) avg_g (M - d_g / (G - 1))^2 = M^2 - sum_g d_g^2 / (G (G - 1)) with
  // d_g = M_g - M, the textbook unbiased estimator of mu^2 from G independent group means.
  const Index G = 12, per_group = 5;
  Rng rng(2);
  boost::random::uniform_real_distribution<double> uniform(-1.0, 2.0);
  GroupedSamples data(1);
  std::vector<double> group_means;
  for (Index g = 0; g < G; ++g) {
    double s = 0;
    for (Index k = 0; k < per_group; ++k) s += uniform(rng);
    data.add_group(&s, per_group);
    group_means.push_back(s / per_group);
  }
  const double M = average(group_means);
  double ss = 0;
  for (double m : group_means) ss += (m - M) * (m - M);
  const JackknifeResult r = jackknife(data, [](const double* m, double* out) { out[0] = m[0] * m[0]; }, 1);
  CHECK(r.plain[0] == Approx(M * M).epsilon(1e-12));
  // Compared on the scale of M^2: the correction is a small difference of near-equal terms.
  CHECK(std::abs(r.estimate[0] - (M * M - ss / double(G * (G - 1)))) <= 1e-12 * M * M);
}

TEST_CASE("unequal groups use the leave-one-out means (S - s_g) / (n - n_g)", "[stats]") {
  // Integer sums and counts: each leave-one-out mean is one correctly rounded division.
  GroupedSamples data(2);
  const double s0[2] = {6, -3}, s1[2] = {20, 10}, s2[2] = {4, 8};
  data.add_group(s0, 3);
  data.add_group(s1, 5);
  data.add_group(s2, 2);
  CHECK(data.groups() == 3);
  CHECK(data.count() == 10);
  CHECK(data.group_count(1) == 5);
  CHECK(data.means()[0] == 3.0);
  CHECK(data.means()[1] == 1.5);
  CHECK(data.leave_one_out_means(0)[0] == 24.0 / 7.0);
  CHECK(data.leave_one_out_means(0)[1] == 18.0 / 7.0);
  CHECK(data.leave_one_out_means(1)[0] == 10.0 / 5.0);
  CHECK(data.leave_one_out_means(2)[1] == 7.0 / 8.0);

  // The jackknife of the first component, from the definitions.
  const double theta[3] = {24.0 / 7.0, 2.0, 26.0 / 8.0};
  const double bar = (theta[0] + theta[1] + theta[2]) / 3.0;
  double ss = 0;
  for (double t : theta) ss += (t - bar) * (t - bar);
  const JackknifeResult r = jackknife(data, [](const double* m, double* out) { out[0] = m[0]; }, 1);
  CHECK(r.estimate[0] == Approx(3.0 * 3.0 - 2.0 * bar).epsilon(1e-14));
  CHECK(r.error[0] == Approx(std::sqrt(2.0 / 3.0 * ss)).epsilon(1e-14));
}

TEST_CASE("a group from an accumulator equals the group from its sums", "[stats]") {
  Rng rng(3);
  boost::random::normal_distribution<double> normal(1.0, 1.0);
  GroupedSamples from_sums(2), from_accumulators(2);
  for (Index g = 0; g < 6; ++g) {
    MomentAccumulator acc(2);
    double s[2] = {0, 0};
    for (Index k = 0; k < 40 + g; ++k) {
      const double x[2] = {normal(rng), normal(rng)};
      acc.add(x);
      s[0] += x[0];
      s[1] += x[1];
    }
    from_sums.add_group(s, acc.count());
    from_accumulators.add_group(acc);
  }
  CHECK(from_accumulators.count() == from_sums.count());
  // mean * count reproduces the sum to a few eps of the data scale (|x| ~ 1, 40 samples).
  for (Index i = 0; i < 2; ++i) {
    CHECK(std::abs(from_accumulators.means()[i] - from_sums.means()[i]) <= 1e-13);
    CHECK(std::abs(from_accumulators.leave_one_out_means(4)[i] - from_sums.leave_one_out_means(4)[i]) <= 1e-13);
  }
}

TEST_CASE("fewer than two groups and non-finite values give NaN where undefined", "[stats]") {
  const auto identity = [](const double* m, double* out) { out[0] = m[0]; };
  GroupedSamples data(1);
  JackknifeResult r = jackknife(data, identity, 1);
  CHECK(r.groups == 0);
  CHECK(std::isnan(r.plain[0]));
  CHECK(std::isnan(r.estimate[0]));
  CHECK(std::isnan(r.error[0]));

  const double s = 6.0;
  data.add_group(&s, 3);
  r = jackknife(data, identity, 1);
  CHECK(r.plain[0] == 2.0);
  CHECK(r.estimate[0] == 2.0);  // no correction can be estimated from one group
  CHECK(std::isnan(r.error[0]));

  // Three groups with sums 6, 0, -3 of 3 samples each: mean 1/3, leave-one-out means -1/2,
  // 1/2, 1. Output 0 takes the square root (NaN for the first replicate only), output 1 is
  // linear, output 2 is never written by f.
  const auto f = [](const double* m, double* out) {
    out[0] = std::sqrt(m[0]);
    out[1] = 2.0 * m[0];
  };
  const double more[2] = {0.0, -3.0};
  data.add_group(&more[0], 3);
  data.add_group(&more[1], 3);
  r = jackknife(data, f, 3);
  CHECK(r.plain[0] == Approx(std::sqrt(1.0 / 3.0)).epsilon(1e-15));
  CHECK(std::isnan(r.estimate[0]));
  CHECK(std::isnan(r.error[0]));
  // The linear output is untouched by its neighbour's NaN: the same bits as on its own.
  const JackknifeResult linear = jackknife(data, [](const double* m, double* out) { out[0] = 2.0 * m[0]; }, 1);
  CHECK(std::isfinite(linear.error[0]));
  CHECK(r.estimate[1] == linear.estimate[0]);
  CHECK(r.error[1] == linear.error[0]);
  CHECK(std::isnan(r.plain[2]));
  CHECK(std::isnan(r.estimate[2]));
  CHECK(std::isnan(r.error[2]));

  // Undefined at the full means but not at the leave-one-out means: still no error to report.
  const double full_mean = data.means()[0];
  r = jackknife(data, [&](const double* m, double* out) { out[0] = m[0] == full_mean ? std::nan("") : m[0]; }, 1);
  CHECK(std::isnan(r.plain[0]));
  CHECK(std::isnan(r.estimate[0]));
  CHECK(std::isnan(r.error[0]));
}

TEST_CASE("jackknife misuse throws InputError", "[stats]") {
  CHECK_THROWS_AS(GroupedSamples(0), InputError);
  GroupedSamples data(2);
  const double s[2] = {1, 2};
  CHECK_THROWS_AS(data.add_group(s, 0), InputError);
  CHECK_THROWS_AS(data.add_group(MomentAccumulator(3)), InputError);
  data.add_group(s, 1);
  CHECK_THROWS_AS(data.leave_one_out_means(1), InputError);
  CHECK_THROWS_AS(jackknife(data, MeanFunction{}, 1), InputError);
  CHECK_THROWS_AS(jackknife(data, [](const double*, double*) {}, 0), InputError);
}

TEST_CASE("Gaussian samples: zero fourth cumulant, Q2 = sigma^2, errors of the asymptotic size", "[stats]") {
  // 2e5 draws in 200 groups of 1000, with a mean so that the m1 terms of Q4 matter.
  const double mu = 0.7, sigma = 1.3, s2 = sigma * sigma;
  const Index G = 200, per_group = 1000, n = G * per_group;
  Rng rng(4);
  boost::random::normal_distribution<double> normal(mu, sigma);
  auto draw = [&] { return normal(rng); };
  const JackknifeResult r = central_moment_jackknife(draw, G, per_group);
  CHECK(z_score(r, 0, mu) < z_max);
  CHECK(z_score(r, 1, s2) < z_max);
  CHECK(z_score(r, 2, 3 * s2 * s2) < z_max);
  CHECK(z_score(r, 3, 0.0) < z_max);
  // The errors must not be inflated (which would make the checks above pass vacuously) nor
  // deflated. Asymptotic standard deviations: Q2, sqrt(2 / n) sigma^2; Q4 - 3 Q2^2, whose
  // influence function is the Hermite polynomial He4((x - mu) / sigma) sigma^4, sqrt(24 / n)
  // sigma^4. A jackknife error from G = 200 replicates scatters by sqrt((kurtosis - 1) / (4 G)):
  // 5% for Q2, 6% for the cumulant (its group-level excess kurtosis is 636 / 1000, 636 being
  // that of He4). 20% is then a band of 3.5 sigma or more.
  CHECK(r.error[1] == Approx(std::sqrt(2.0 / n) * s2).epsilon(0.2));
  CHECK(r.error[3] == Approx(std::sqrt(24.0 / n) * s2 * s2).epsilon(0.2));
}

TEST_CASE("uniform and exponential samples: central moments and cumulant agree with exact values", "[stats]") {
  const Index G = 200, per_group = 1000, n = G * per_group;
  SECTION("uniform on [c - 1, c + 1]: Q2 = 1/3, Q4 = 1/5, Q4 - 3 Q2^2 = -2/15") {
    const double c = 0.5;  // the shift leaves the central moments alone and exercises m1
    Rng rng(5);
    boost::random::uniform_real_distribution<double> uniform(c - 1.0, c + 1.0);
    auto draw = [&] { return uniform(rng); };
    const JackknifeResult r = central_moment_jackknife(draw, G, per_group);
    CHECK(z_score(r, 0, c) < z_max);
    CHECK(z_score(r, 1, 1.0 / 3.0) < z_max);
    CHECK(z_score(r, 2, 1.0 / 5.0) < z_max);
    CHECK(z_score(r, 3, -2.0 / 15.0) < z_max);
    // Influence function of the cumulant: z^4 - 2 z^2 + 7/15, variance 192/1575 (moments of
    // the uniform distribution); bounded, so its jackknife error scatters by ~5%: 20% band.
    CHECK(r.error[3] == Approx(std::sqrt(192.0 / 1575.0 / n)).epsilon(0.2));
  }
  SECTION("exponential(1): mean 1, Q2 = 1, Q4 = 9, Q4 - 3 Q2^2 = 6") {
    Rng rng(6);
    boost::random::exponential_distribution<double> exponential(1.0);
    auto draw = [&] { return exponential(rng); };
    const JackknifeResult r = central_moment_jackknife(draw, G, per_group);
    CHECK(z_score(r, 0, 1.0) < z_max);
    CHECK(z_score(r, 1, 1.0) < z_max);
    CHECK(z_score(r, 2, 9.0) < z_max);
    CHECK(z_score(r, 3, 6.0) < z_max);
    // Asymptotic error of the cumulant: sqrt(11520 / n) = 0.24 (from central moments up to the
    // eighth, mu_8 = 14833). Its influence function is heavy-tailed, so the jackknife error
    // itself scatters by tens of percent; only ask that the 4-error band excludes 0, the
    // Gaussian value, which needs error < 6 / 4, and allow a factor 2.5 above 0.24.
    CHECK(r.error[3] < 0.6);
  }
}

TEST_CASE("jackknife errors match the spread of repeated experiments", "[stats]") {
  // R = 300 experiments of n = 2000 samples in 50 groups. The jackknife variance, not its
  // square root, is the (nearly) unbiased quantity, so the RMS of the R jackknife errors is
  // compared with the standard deviation of the R estimates. That standard deviation has a
  // relative standard error sqrt((kurtosis - 1) / (4 R)): 1 / sqrt(2 R) = 4.1% for Gaussian
  // estimates, 4.4% for the Gaussian cumulant (excess kurtosis 636 / n, 636 being that of the
  // influence function He4). The RMS error is steadier (~2% for the cumulant, whose group-level
  // values are heavy-tailed). A 15% band is then ~3 sigma: robust, and a misnormalised error
  // (a factor sqrt(G - 1), sqrt(G) or 2) fails by far. The average estimate must also sit within
  // 4 standard errors of the exact value: the bias-corrected estimates are unbiased to O(1/n^2).
  const Index R = 300, G = 50, per_group = 40;
  const auto check_spread = [&](auto& draw, double q2, double cumulant) {
    std::vector<double> est_q2, est_k4, err_q2, err_k4;
    for (Index rep = 0; rep < R; ++rep) {
      const JackknifeResult r = central_moment_jackknife(draw, G, per_group);
      est_q2.push_back(r.estimate[1]);
      err_q2.push_back(r.error[1]);
      est_k4.push_back(r.estimate[3]);
      err_k4.push_back(r.error[3]);
    }
    CHECK(sample_sd(est_q2) == Approx(rms(err_q2)).epsilon(0.15));
    CHECK(sample_sd(est_k4) == Approx(rms(err_k4)).epsilon(0.15));
    CHECK(std::abs(average(est_q2) - q2) < z_max * sample_sd(est_q2) / std::sqrt(double(R)));
    CHECK(std::abs(average(est_k4) - cumulant) < z_max * sample_sd(est_k4) / std::sqrt(double(R)));
  };
  SECTION("Gaussian") {
    Rng rng(7);
    boost::random::normal_distribution<double> normal(0.7, 1.3);
    auto draw = [&] { return normal(rng); };
    check_spread(draw, 1.69, 0.0);
  }
  SECTION("uniform") {
    Rng rng(8);
    boost::random::uniform_real_distribution<double> uniform(-1.0, 1.0);
    auto draw = [&] { return uniform(rng); };
    check_spread(draw, 1.0 / 3.0, -2.0 / 15.0);
  }
}

TEST_CASE("bias correction removes the O(1/n) bias of a nonlinear function", "[stats]") {
  // Per experiment n = 20 normal samples (mu, s) in 10 groups of 2, and the functions of the
  // mean M ~ N(mu, s^2 / n):
  //   M^2:    E[plain] = mu^2 + s^2 / n (bias 0.05), and the corrected estimate is unbiased;
  //   exp(M): E[plain] = exp(mu + s^2 / (2 n)) (relative bias 2.5%), corrected to O(1/n^2),
  //           a residual ~3e-4 relative that R = 20000 experiments cannot resolve.
  // Averages over R experiments are compared with 4 standard errors of that average; the plain
  // averages must show the predicted bias and lie many standard errors from the truth.
  const double mu = 0.3, s = 1.0;
  const Index G = 10, per_group = 2, n = G * per_group, R = 20000;
  Rng rng(9);
  boost::random::normal_distribution<double> normal(mu, s);
  const auto f = [](const double* m, double* out) {
    out[0] = m[0] * m[0];
    out[1] = std::exp(m[0]);
  };
  std::vector<double> plain_sq, corrected_sq, plain_exp, corrected_exp;
  for (Index rep = 0; rep < R; ++rep) {
    GroupedSamples data(1);
    for (Index g = 0; g < G; ++g) {
      double sum = 0;
      for (Index k = 0; k < per_group; ++k) sum += normal(rng);
      data.add_group(&sum, per_group);
    }
    const JackknifeResult r = jackknife(data, f, 2);
    plain_sq.push_back(r.plain[0]);
    corrected_sq.push_back(r.estimate[0]);
    plain_exp.push_back(r.plain[1]);
    corrected_exp.push_back(r.estimate[1]);
  }
  const auto se = [&](const std::vector<double>& v) { return sample_sd(v) / std::sqrt(double(R)); };

  const double sq = mu * mu, sq_plain = sq + s * s / double(n);
  CHECK(std::abs(average(plain_sq) - sq_plain) < z_max * se(plain_sq));
  CHECK(std::abs(average(corrected_sq) - sq) < z_max * se(corrected_sq));
  CHECK(std::abs(average(plain_sq) - sq) > 20 * se(plain_sq));

  const double ex = std::exp(mu), ex_plain = std::exp(mu + s * s / (2.0 * double(n)));
  CHECK(std::abs(average(plain_exp) - ex_plain) < z_max * se(plain_exp));
  CHECK(std::abs(average(corrected_exp) - ex) < z_max * se(corrected_exp));
  CHECK(std::abs(average(plain_exp) - ex) > 10 * se(plain_exp));
}
