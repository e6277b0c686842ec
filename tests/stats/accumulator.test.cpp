// Tests of the streaming moment accumulator against two-pass formulas and its merge rule.
#include "qfluct/stats/accumulator.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/core/random.hpp"

#include <boost/random/exponential_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

using namespace qfluct;

namespace {

// Rows are samples. Boost distributions draw the same numbers on every platform.
Eigen::MatrixXd mixed_samples(Index n, std::uint64_t seed) {
  Rng rng(seed);
  boost::random::normal_distribution<double> normal(-2.0, 3.0);
  boost::random::uniform_real_distribution<double> uniform(5.0, 6.0);
  boost::random::exponential_distribution<double> exponential(2.0);
  Eigen::MatrixXd x(n, 3);
  for (Index k = 0; k < n; ++k) {
    x(k, 0) = normal(rng);
    x(k, 1) = uniform(rng);
    x(k, 2) = exponential(rng);
  }
  return x;
}

struct TwoPass {
  long double mean, variance;
};

// Reference in long double (64-bit mantissa on x86-64): its own rounding is ~1e-16 relative,
// far below the tolerances, so a mismatch is the accumulator's.
TwoPass two_pass(const Eigen::MatrixXd& x, Index column) {
  const Index n = x.rows();
  long double sum = 0;
  for (Index k = 0; k < n; ++k) sum += x(k, column);
  const long double mean = sum / n;
  long double ss = 0;
  for (Index k = 0; k < n; ++k) ss += (x(k, column) - mean) * (x(k, column) - mean);
  return {mean, ss / (n - 1)};
}

MomentAccumulator accumulate(const Eigen::MatrixXd& x, Index begin, Index end) {
  MomentAccumulator acc(x.cols());
  for (Index k = begin; k < end; ++k) acc.add(RVec(x.row(k).transpose()));
  return acc;
}

// Rounding in Welford's and Chan's updates grows like sqrt(n) eps ~ 1e-14 for these streams
// (n eps ~ 1e-12 in the worst case); any formula slip, such as dividing by n instead of n - 1
// (1e-4 here), is orders of magnitude larger.
constexpr double rounding_tol = 1e-12;

// Means are compared on the scale of the data, sqrt(variance), since a mean can be near zero.
void check_matches(const MomentAccumulator& acc, const MomentAccumulator& ref) {
  REQUIRE(acc.count() == ref.count());
  for (Index i = 0; i < ref.dim(); ++i) {
    const double scale = std::abs(ref.mean(i)) + std::sqrt(ref.variance(i));
    CHECK(std::abs(acc.mean(i) - ref.mean(i)) <= rounding_tol * scale);
    CHECK(acc.variance(i) == Approx(ref.variance(i)).epsilon(rounding_tol));
  }
}

bool same_bits(const MomentAccumulator& a, const MomentAccumulator& b) {
  return a.count() == b.count() && a.means() == b.means() && a.variances() == b.variances();
}

}  // namespace

TEST_CASE("Welford mean and variance equal the two-pass formulas", "[stats]") {
  const Index n = 10000;
  const Eigen::MatrixXd x = mixed_samples(n, 20240611);
  MomentAccumulator acc(3), by_pointer(3);
  for (Index k = 0; k < n; ++k) {
    const RVec row = x.row(k).transpose();
    acc.add(row);
    by_pointer.add(row.data());
  }
  REQUIRE(acc.count() == n);
  REQUIRE(acc.dim() == 3);
  for (Index i = 0; i < 3; ++i) {
    const TwoPass ref = two_pass(x, i);
    const double scale = std::abs(double(ref.mean)) + std::sqrt(double(ref.variance));
    CHECK(std::abs(acc.mean(i) - double(ref.mean)) <= rounding_tol * scale);
    CHECK(acc.variance(i) == Approx(double(ref.variance)).epsilon(rounding_tol));
    CHECK(acc.standard_error(i) == Approx(std::sqrt(double(ref.variance) / n)).epsilon(rounding_tol));
  }
  // The vector getters and the two add overloads are the same computation.
  for (Index i = 0; i < 3; ++i) {
    CHECK(acc.means()(i) == acc.mean(i));
    CHECK(acc.variances()(i) == acc.variance(i));
    CHECK(acc.standard_errors()(i) == acc.standard_error(i));
  }
  CHECK(same_bits(acc, by_pointer));
}

TEST_CASE("merging partial accumulators equals one accumulator fed every sample", "[stats]") {
  const Index n = 4999;
  const Eigen::MatrixXd x = mixed_samples(n, 7);
  const MomentAccumulator whole = accumulate(x, 0, n);

  SECTION("any two-way split, including empty halves") {
    for (Index split : {Index(0), Index(1), Index(2), Index(1000), Index(2500), n - 1, n}) {
      MomentAccumulator a = accumulate(x, 0, split);
      a.merge(accumulate(x, split, n));
      check_matches(a, whole);
    }
  }
  SECTION("uneven chunks, merged in sequence or as a tree") {
    const std::vector<Index> edges = {0, 1, 17, 600, 601, 2000, 4321, n};
    std::vector<MomentAccumulator> chunks;
    for (std::size_t c = 0; c + 1 < edges.size(); ++c) chunks.push_back(accumulate(x, edges[c], edges[c + 1]));
    MomentAccumulator sequential(3);
    for (const auto& c : chunks) sequential.merge(c);
    check_matches(sequential, whole);

    std::vector<MomentAccumulator> level = chunks;
    while (level.size() > 1) {
      std::vector<MomentAccumulator> next;
      for (std::size_t c = 0; c < level.size(); c += 2) {
        next.push_back(level[c]);
        if (c + 1 < level.size()) next.back().merge(level[c + 1]);
      }
      level = next;
    }
    check_matches(level.front(), whole);
  }
  SECTION("an empty accumulator is the identity of merge, bit for bit") {
    MomentAccumulator a = whole;
    a.merge(MomentAccumulator(3));
    CHECK(same_bits(a, whole));
    MomentAccumulator b(3);
    b.merge(whole);
    CHECK(same_bits(b, whole));
  }
}

TEST_CASE("chunks filled by any thread and merged in a fixed order give the same bits", "[stats]") {
  // The ensemble's guarantee: which thread fills a block must not matter, only the merge order.
  const Index n = 6000, chunk = 250, chunks = n / chunk;
  const Eigen::MatrixXd x = mixed_samples(n, 99);
  std::vector<MomentAccumulator> serial, parallel(std::size_t(chunks), MomentAccumulator(3));
  for (Index c = 0; c < chunks; ++c) serial.push_back(accumulate(x, c * chunk, (c + 1) * chunk));
#pragma omp parallel for schedule(dynamic, 1)
  for (Index c = chunks - 1; c >= 0; --c) parallel[std::size_t(c)] = accumulate(x, c * chunk, (c + 1) * chunk);
  MomentAccumulator a(3), b(3);
  for (Index c = 0; c < chunks; ++c) {
    a.merge(serial[std::size_t(c)]);
    b.merge(parallel[std::size_t(c)]);
  }
  CHECK(same_bits(a, b));
  check_matches(a, accumulate(x, 0, n));
}

TEST_CASE("a large common offset does not cancel the variance away", "[stats]") {
  // x = 1e8 + N(0, 1): sum x^2 ~ 1e21 carries an absolute rounding of ~1e5, so the textbook
  // (sum x^2 - n mean^2) / (n - 1) loses every digit. Welford only rounds the running mean, to
  // ulp(1e8) / 2 = 7.5e-9 per step (x - mean itself is exact). Those roundings are damped by
  // k / n and add up to ~ulp sqrt(n / 12) ~ 1.4e-6 in the mean, and to a few 1e-9 relative in
  // the variance (first order in independent, random-sign deviations). Bounds: 1e-5 sd for the
  // mean and 1e-7 relative for the variance; the naive formula is checked to be far outside.
  const Index n = 100000;
  Rng rng(31415);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd x(n, 1);
  for (Index k = 0; k < n; ++k) x(k, 0) = 1e8 + normal(rng);
  const MomentAccumulator acc = accumulate(x, 0, n);
  const TwoPass ref = two_pass(x, 0);
  CHECK(acc.variance(0) == Approx(double(ref.variance)).epsilon(1e-7));
  CHECK(std::abs(acc.mean(0) - double(ref.mean)) <= 1e-5);

  double sum = 0, sum2 = 0;
  for (Index k = 0; k < n; ++k) {
    sum += x(k, 0);
    sum2 += x(k, 0) * x(k, 0);
  }
  const double naive = (sum2 - sum * sum / double(n)) / double(n - 1);
  CHECK(std::abs(naive / double(ref.variance) - 1.0) > 1e-2);
}

TEST_CASE("too few samples give NaN, not zero or infinity", "[stats]") {
  MomentAccumulator acc(2);
  CHECK(acc.count() == 0);
  CHECK(std::isnan(acc.mean(0)));
  CHECK(std::isnan(acc.variance(1)));
  CHECK(std::isnan(acc.standard_error(0)));
  CHECK(acc.means().array().isNaN().all());

  const double a[2] = {1.0, -4.0};
  acc.add(a);
  CHECK(acc.mean(0) == 1.0);
  CHECK(acc.mean(1) == -4.0);
  CHECK(std::isnan(acc.variance(0)));
  CHECK(std::isnan(acc.standard_error(1)));

  // Two samples: exact small-integer arithmetic, variance (a - b)^2 / 2.
  const double b[2] = {3.0, -4.0};
  acc.add(b);
  CHECK(acc.mean(0) == 2.0);
  CHECK(acc.variance(0) == 2.0);
  CHECK(acc.standard_error(0) == 1.0);
  CHECK(acc.variance(1) == 0.0);
}

TEST_CASE("accumulator misuse throws InputError", "[stats]") {
  CHECK_THROWS_AS(MomentAccumulator(0), InputError);
  MomentAccumulator acc(3);
  CHECK_THROWS_AS(acc.add(RVec::Zero(2)), InputError);
  CHECK_THROWS_AS(acc.merge(MomentAccumulator(2)), InputError);
  CHECK(acc.count() == 0);
}
