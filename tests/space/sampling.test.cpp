// Exact sampling of the initial bath state (docs/theory.md section 5): the empirical distribution of
// (j, m) must be P(j, m) = d_j p^(N/2+m) (1-p)^(N/2-m).
#include "qfluct/space/dicke.hpp"

#include <boost/math/distributions/chi_squared.hpp>
#include <catch2/catch.hpp>
#include <map>

using namespace qfluct;

TEST_CASE("sampled (j, m) follow d_j p^(N/2+m) (1-p)^(N/2-m) (chi-square)", "[sampling]") {
  const long draws = 200000;
  for (int N : {5, 6})
    for (double p : {1.0 / 6.0, 0.4, 0.5}) {
      Rng rng = trajectory_rng(12345, std::uint64_t(N * 100 + int(100 * p)));
      std::map<std::pair<int, Index>, long> counts;
      for (long i = 0; i < draws; ++i) {
        const auto label = dicke::sample_label(N, p, rng);
        ++counts[{label.s, label.k}];
      }
      double chi2 = 0.0, total_p = 0.0;
      int cells = 0;
      for (int s = 0; s < dicke::sector_count(N); ++s)
        for (Index k = 0; k < dicke::ladder_size(N, s); ++k) {
          const double prob = dicke::diagonal_weight(N, s, k, p);  // d_j p^(s+k) (1-p)^(N-s-k)
          total_p += prob;
          const double expected = prob * draws;
          const double observed = double(counts[{s, k}]);
          chi2 += (observed - expected) * (observed - expected) / expected;
          ++cells;
        }
      // Every cell was counted above, so nothing was drawn outside the support.
      long counted = 0;
      for (const auto& [cell, n] : counts) counted += n;
      CHECK(counted == draws);
      CHECK(total_p == Approx(1.0).epsilon(1e-12));
      // 12 (N, p) cases; a 1e-4 tail per case keeps the family-wise false alarm near 1e-3.
      const boost::math::chi_squared dist(cells - 1);
      const double threshold = boost::math::quantile(boost::math::complement(dist, 1e-4));
      INFO("N = " << N << ", p = " << p << ", chi2 = " << chi2 << " with " << cells - 1 << " dof");
      CHECK(chi2 < threshold);
    }
}

TEST_CASE("sampling for large N stays within the support and matches the binomial mean", "[sampling]") {
  // n_up = s + k is Binomial(N, p); at N = 1e6 its mean N p is known to 1 part in 1e3 with 1e4 draws.
  const int N = 1000000;
  const double p = 1.0 / 6.0;
  Rng rng = trajectory_rng(7, 7);
  double sum = 0.0;
  const int draws = 10000;
  for (int i = 0; i < draws; ++i) {
    const auto label = dicke::sample_label(N, p, rng);
    REQUIRE(label.s >= 0);
    REQUIRE(label.s < dicke::sector_count(N));
    REQUIRE(label.k >= 0);
    REQUIRE(label.k < dicke::ladder_size(N, label.s));
    sum += double(label.s + label.k);
  }
  const double sd = std::sqrt(N * p * (1 - p) / draws);
  CHECK(std::abs(sum / draws - N * p) < 5 * sd);
}
