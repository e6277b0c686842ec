// The second-order (curvature) error of nonlinear estimators: exact identities for quadratic
// functions, the jackknife covariance of the means, the central-moment bounds, and coverage of
// z-scores where the gradient vanishes (the regime where the jackknife alone fails).
#include "qfluct/stats/second_order.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/core/random.hpp"
#include "qfluct/stats/central_moments.hpp"

#include <boost/random/normal_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

using namespace qfluct;

namespace {

Eigen::MatrixXd covariance(std::initializer_list<std::initializer_list<double>> rows) {
  Eigen::MatrixXd C(Index(rows.size()), Index(rows.size()));
  Index i = 0;
  for (const auto& r : rows) {
    Index j = 0;
    for (double x : r) C(i, j++) = x;
    ++i;
  }
  return C;
}

}  // namespace

TEST_CASE("curvature variance is 1/2 tr((H C)^2), exactly for quadratic functions", "[stats]") {
  // Quadratics have a constant Hessian and the central-difference stencil is exact for them:
  // only rounding remains (relative 1e-9 with differences of O(C) on values of O(1)).
  const RVec m = (RVec(3) << 0.3, -1.2, 0.7).finished();
  const Eigen::MatrixXd C = covariance({{4e-4, 1e-4, -5e-5}, {1e-4, 9e-4, 2e-4}, {-5e-5, 2e-4, 2.5e-4}});
  const MeanFunction f = [](const double* x, double* out) {
    out[0] = x[0] * x[0];                 // H = diag(2, 0, 0)
    out[1] = x[0] * x[1];                 // H_01 = H_10 = 1
    out[2] = 3.0 * x[2] - 0.5 * x[1];     // linear: no curvature
    out[3] = x[1] - x[0] * x[0] + 2.0 * x[1] * x[2];  // Q2-like plus a cross term
  };
  const RVec c = curvature_variance(f, 4, m, C);
  auto half_trace = [&](const Eigen::Matrix3d& H) { return 0.5 * (H * C * H * C).trace(); };
  Eigen::Matrix3d H0 = Eigen::Matrix3d::Zero(), H1 = H0, H3 = H0;
  H0(0, 0) = 2.0;
  H1(0, 1) = H1(1, 0) = 1.0;
  H3(0, 0) = -2.0;
  H3(1, 2) = H3(2, 1) = 2.0;
  CHECK(c[0] == Approx(half_trace(H0)).epsilon(1e-9));
  CHECK(c[0] == Approx(2.0 * C(0, 0) * C(0, 0)).epsilon(1e-9));  // the chi-square variance of xbar^2
  CHECK(c[1] == Approx(C(0, 0) * C(1, 1) + C(0, 1) * C(0, 1)).epsilon(1e-9));
  CHECK(std::abs(c[2]) < 1e-20);
  CHECK(c[3] == Approx(half_trace(H3)).epsilon(1e-9));
}

TEST_CASE("curvature variance of the fourth central moment matches its analytic Hessian", "[stats]") {
  // Q4 = m4 - 4 m3 m1 + 6 m2 m1^2 - 3 m1^4 is quartic in m1: the unit-step stencil adds a term
  // of relative size ~ C_11 * 36 m1^2 / (12 m2) ~ 1e-4 here, so 1e-3 is a safe tolerance while a
  // missing factor 2 on the cross terms or a wrong stencil divisor fails by O(1).
  const RVec m = (RVec(4) << 0.05, 0.8, 0.1, 1.5).finished();
  Eigen::MatrixXd C = covariance({{1e-4, 2e-5, 5e-5, 1e-5},
                                  {2e-5, 4e-4, 1e-5, 3e-4},
                                  {5e-5, 1e-5, 3e-4, 2e-5},
                                  {1e-5, 3e-4, 2e-5, 9e-4}});
  const RVec c = curvature_variance(central_moments, central_moments_size, m, C);
  const double m1 = m[0], m2 = m[1];
  Eigen::Matrix4d H = Eigen::Matrix4d::Zero();  // Hessian of Q4 in (m1, m2, m3, m4)
  H(0, 0) = 12.0 * m2 - 36.0 * m1 * m1;
  H(0, 1) = H(1, 0) = 12.0 * m1;
  H(0, 2) = H(2, 0) = -4.0;
  CHECK(c[2] == Approx(0.5 * (H * C * H * C).trace()).epsilon(1e-3));
  Eigen::Matrix4d H2 = Eigen::Matrix4d::Zero();  // Q2 = m2 - m1^2
  H2(0, 0) = -2.0;
  CHECK(c[1] == Approx(0.5 * (H2 * C * H2 * C).trace()).epsilon(1e-9));
  CHECK(std::abs(c[0]) < 1e-20);  // m1 itself is linear (only rounding)
}

TEST_CASE("jackknife covariance of the means: its quadratic form is the jackknife variance of a linear function",
          "[stats]") {
  // For f = a . mean the jackknife error^2 equals a^T C a exactly (same leave-one-out means).
  Rng rng(7);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  GroupedSamples data(3);
  for (int g = 0; g < 17; ++g) {
    double s[3] = {0, 0, 0};
    const Index count = 5 + g % 3;  // unequal groups too
    for (Index k = 0; k < count; ++k) {
      const double x = normal(rng), y = 0.5 * x + normal(rng);
      s[0] += x, s[1] += y, s[2] += x * y;
    }
    data.add_group(s, count);
  }
  const Eigen::Vector3d a(0.7, -1.3, 2.1);
  const JackknifeResult r =
      jackknife(data, [&](const double* m, double* out) { out[0] = a[0] * m[0] + a[1] * m[1] + a[2] * m[2]; }, 1);
  const Eigen::MatrixXd C = data.covariance_of_means(0, 3);
  CHECK(r.error[0] * r.error[0] == Approx(a.dot(C * a)).epsilon(1e-12));
  CHECK((C - C.transpose()).norm() == 0.0);
  const Eigen::MatrixXd C12 = data.covariance_of_means(1, 2);  // a sub-block is the same block
  CHECK((C12 - C.bottomRightCorner(2, 2)).cwiseAbs().maxCoeff() < 1e-18);
  CHECK_THROWS_AS(data.covariance_of_means(2, 2), InputError);
  GroupedSamples one(2);
  const double s[2] = {1.0, 2.0};
  one.add_group(s, 3);
  CHECK(std::isnan(one.covariance_of_means(0, 2)(0, 0)));
}

TEST_CASE("nonlinear standard error: the jackknife where the gradient dominates, the curvature where it vanishes",
          "[stats]") {
  CHECK(nonlinear_standard_error(0.0, 2e-8) == Approx(std::sqrt(2e-8)).epsilon(1e-15));
  CHECK(nonlinear_standard_error(1e-2, 1e-12) == Approx(std::sqrt(1e-4 - 1e-12)).epsilon(1e-15));
  CHECK(nonlinear_standard_error(1e-4, 1e-8) == Approx(1e-4).epsilon(1e-15));  // jk^2 - 2c + c = jk^2 - c: 1e-8 - 1e-8
  CHECK(std::isnan(nonlinear_standard_error(std::numeric_limits<double>::quiet_NaN(), 1.0)));
  const RVec m = RVec::Zero(2);
  const MeanFunction square = [](const double* x, double* out) { out[0] = x[0] * x[0]; };
  CHECK_THROWS_AS(curvature_variance(square, 1, m, Eigen::MatrixXd::Zero(3, 3)), InputError);
  CHECK(curvature_variance(square, 1, m, Eigen::MatrixXd::Zero(2, 2))[0] == 0.0);  // no noise, no curvature error
  Eigen::MatrixXd bad = Eigen::MatrixXd::Identity(2, 2);
  bad(0, 0) = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(curvature_variance(square, 1, m, bad)[0]));
  const MeanFunction log_of = [](const double* x, double* out) { out[0] = std::log(x[0]); };
  CHECK(std::isnan(curvature_variance(log_of, 1, m, Eigen::MatrixXd::Identity(2, 2))[0]));  // log of negative
}

TEST_CASE("central moments are moved onto their bounds, and only there", "[stats]") {
  double inside[4] = {0.1, 0.5, 0.4, 0.4 - 0.75};
  bound_central_moments(0.6, inside);
  CHECK(inside[1] == 0.5);
  CHECK(inside[2] == 0.4);
  CHECK(inside[3] == 0.4 - 0.75);
  double above[4] = {0.0, 0.7501, 0.5, -1.2};  // Q2 above m2 = 0.75, Q4 < Q2^2, cumulant < -2 Q2^2
  bound_central_moments(0.75, above);
  CHECK(above[1] == 0.75);
  CHECK(above[2] == 0.5625);
  CHECK(above[3] == -2.0 * 0.5625);
  double negative[4] = {0.0, -1e-6, -1e-9, -1e-9};
  bound_central_moments(0.1, negative);
  CHECK(negative[1] == 0.0);
  CHECK(negative[2] == 0.0);
  CHECK(negative[3] == 0.0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double undefined[4] = {nan, nan, nan, nan};
  bound_central_moments(0.5, undefined);
  CHECK(std::isnan(undefined[1]));
  CHECK(std::isnan(undefined[2]));
  CHECK(std::isnan(undefined[3]));
}

TEST_CASE("where the gradient vanishes, jackknife plus curvature errors cover (the jackknife alone does not)",
          "[stats]") {
  // A spin-1/2 quadrature: every sample has x^2 = 3/4 exactly, so (x, x^2, x^3, x^4) =
  // (x, 3/4, 3x/4, 9/16) and Q2 = 3/4 - m1^2 depends on m1 alone, with zero gradient at m1 = 0.
  // The sample m1 is Gaussian with sd s; its mean mu runs over 0 .. 20 standard errors v^(1/2)
  // (as <q>(t) does in a run). 200 experiments of 2000 samples (200 groups of 10) per mu give
  // 1600 z-scores per column: their sd is then known to 2%, so [0.8, 1.25] is a wide, safe band.
  // At most 1% may exceed |z| = 4 (the curvature regime is chi-square-like, not Gaussian).
  // Negative control: the plain jackknife error gives sd > 2 here (3.3 was reported).
  const Index n = 2000, groups = 200, per = n / groups, reps = 200;
  const double s = 0.4, se = s / std::sqrt(double(n));
  Rng rng(26);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> z_new[3], z_old[3];
  for (double ratio : {0.0, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 20.0}) {
    const double mu = ratio * se;
    const double exact_raw[4] = {mu, 0.75, 0.75 * mu, 0.5625};
    double exact[4];
    central_moments(exact_raw, exact);
    for (Index rep = 0; rep < reps; ++rep) {
      GroupedSamples data(4);
      for (Index g = 0; g < groups; ++g) {
        double sum = 0.0;
        for (Index k = 0; k < per; ++k) sum += mu + s * normal(rng);
        const double sums[4] = {sum, 0.75 * double(per), 0.75 * sum, 0.5625 * double(per)};
        data.add_group(sums, per);
      }
      const JackknifeResult jk = jackknife(data, central_moments, central_moments_size);
      const RVec means = data.means();
      const RVec c = curvature_variance(central_moments, central_moments_size, means, data.covariance_of_means(0, 4));
      double value[4] = {jk.estimate[0], jk.estimate[1], jk.estimate[2], jk.estimate[3]};
      bound_central_moments(means[1], value);
      for (int k = 1; k < 4; ++k) {
        z_new[k - 1].push_back((value[k] - exact[k]) / nonlinear_standard_error(jk.error[k], c[k]));
        z_old[k - 1].push_back((jk.estimate[k] - exact[k]) / jk.error[k]);
        // The bounds hold for every reported value.
        CHECK(value[1] <= means[1]);
        CHECK(value[2] >= value[1] * value[1]);
      }
    }
  }
  auto sd = [](const std::vector<double>& z) {
    double m = 0, ss = 0;
    for (double x : z) m += x;
    m /= double(z.size());
    for (double x : z) ss += (x - m) * (x - m);
    return std::sqrt(ss / double(z.size() - 1));
  };
  const char* names[3] = {"Q2", "Q4", "nongauss"};
  for (int k = 0; k < 3; ++k) {
    long beyond = 0;
    for (double x : z_new[k]) beyond += std::abs(x) > 4.0;
    INFO(names[k] << ": sd(z) = " << sd(z_new[k]) << " (jackknife alone: " << sd(z_old[k]) << "), |z| > 4: " << beyond
                  << " of " << z_new[k].size());
    CHECK(sd(z_new[k]) > 0.8);
    CHECK(sd(z_new[k]) < 1.25);
    CHECK(double(beyond) <= 0.01 * double(z_new[k].size()));
    CHECK(sd(z_old[k]) > 2.0);
  }
}
