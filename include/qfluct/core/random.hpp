#pragma once
/// Random streams: one engine per trajectory, seeded from (seed, trajectory index) through a
/// SplitMix64 mixing step, so every trajectory draws the same numbers whatever thread runs it.
/// Why this gives bit-identical ensembles for any thread count: docs/statistics.md section 1.
#include <boost/random/mersenne_twister.hpp>
#include <boost/random/uniform_01.hpp>
#include <cstdint>

namespace qfluct {

using Rng = boost::random::mt19937_64;

/// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective, well-mixing 64-bit hash.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// The engine of trajectory `index` in a run with master seed `seed`.
inline Rng trajectory_rng(std::uint64_t seed, std::uint64_t index) {
  return Rng(splitmix64(splitmix64(seed) ^ splitmix64(index + 0x632BE59BD9B4E019ULL)));
}

/// A uniform number in (0, 1]: never 0, so log(u) is finite.
inline double uniform_open0(Rng& rng) { return 1.0 - boost::random::uniform_01<double>()(rng); }

}  // namespace qfluct
