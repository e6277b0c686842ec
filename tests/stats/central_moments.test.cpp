// Tests of the raw-to-central moment map on distributions with closed-form moments.
#include "qfluct/stats/central_moments.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace qfluct;

TEST_CASE("two-point distribution: Q2 = a^2, Q4 = a^4, cumulant -2 a^4", "[stats]") {
  // x = 1 or 3 with probability 1/2: mean 2, deviation a = 1. Raw moments are small integers
  // and every intermediate is an exact integer, so the results are exact.
  const double raw[4] = {2.0, 5.0, 14.0, 41.0};
  double out[central_moments_size];
  central_moments(raw, out);
  CHECK(out[0] == 2.0);
  CHECK(out[1] == 1.0);
  CHECK(out[2] == 1.0);
  CHECK(out[3] == -2.0);
}

TEST_CASE("shifted Gaussian: Q2 = s^2, Q4 = 3 s^4, zero fourth cumulant", "[stats]") {
  for (double mu : {-3.0, 0.0, 0.4, 7.0})
    for (double s : {0.1, 1.0, 2.5}) {
      const double s2 = s * s;
      const double raw[4] = {mu, mu * mu + s2, mu * mu * mu + 3 * mu * s2, std::pow(mu, 4) + 6 * mu * mu * s2 + 3 * s2 * s2};
      double out[central_moments_size];
      central_moments(raw, out);
      // Q4 is a difference of terms as large as 6 m2 m1^2 (several times m4 for mu >> s), so
      // the rounding floor is a few eps of that size; 1e-14 is ~45 eps of it.
      const double floor = 1e-14 * (raw[3] + 6 * raw[1] * mu * mu);
      CHECK(out[0] == mu);
      CHECK(std::abs(out[1] - s2) <= 1e-14 * raw[1]);
      CHECK(std::abs(out[2] - 3 * s2 * s2) <= floor);
      CHECK(std::abs(out[3]) <= floor);
    }
}
