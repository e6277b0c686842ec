// A JumpUnravelling keeps generators of the (sector, window) pairs its trajectories visit, and the
// ensemble keeps one per thread for the whole run: a trajectory must not depend on what the
// worker ran before it.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/jump_unravelling.hpp"
#include "qfluct/solver/time_series.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using namespace qfluct;

namespace {

CentralSpinParameters fig2(int N) {
  CentralSpinParameters p;  // the defaults are the Fig. 2 point
  p.N = N;
  return p;
}

/// The raw record of trajectory `index` (seed 3) run by `worker`.
std::vector<double> record_of(JumpUnravelling& worker, std::uint64_t index) {
  std::vector<double> record(std::size_t(worker.record_size()));
  TrajectoryStatistics stats;
  Rng rng = trajectory_rng(3, index);
  worker.run(rng, record.data(), stats);
  return record;
}

}  // namespace

TEST_CASE("a trajectory's record does not depend on what its worker ran before (generator cache)", "[jump]") {
  // Trajectories 0..11 at N = 400 (~500 jumps each over a few dozen sectors) by one
  // worker in turn, then each again by a fresh worker, and the first again by the warm worker
  // after all the others: every record bit for bit the same. A cached generator that differed
  // from a rebuilt one (a stale window, a reused slot's leftover entries, the set chosen by a
  // window of another size) would move the jump times and with them the records.
  const CentralSpinModel model(fig2(400));
  const auto times = time_grid(2.0, 0.1);
  JumpUnravelling warm(model, times);
  std::vector<std::vector<double>> warm_records;
  for (std::uint64_t i = 0; i < 12; ++i) warm_records.push_back(record_of(warm, i));
  for (std::uint64_t i = 0; i < 12; ++i) {
    JumpUnravelling fresh(model, times);
    const std::vector<double> cold = record_of(fresh, i);
    INFO("trajectory " << i);
    REQUIRE(cold.size() == warm_records[i].size());
    CHECK(std::memcmp(cold.data(), warm_records[i].data(), cold.size() * sizeof(double)) == 0);
  }
  const std::vector<double> again = record_of(warm, 0);
  CHECK(std::memcmp(again.data(), warm_records[0].data(), again.size() * sizeof(double)) == 0);
  // The records are not trivially equal: different trajectories differ.
  CHECK(std::memcmp(warm_records[0].data(), warm_records[1].data(), again.size() * sizeof(double)) != 0);
}
