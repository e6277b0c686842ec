// Ensembles split over ranks (solver/ranks.hpp) give the numbers of one process. The ranks here
// are threads of this process with an in-memory gather and broadcast, so the splitting, the
// exchange of group results and the shared stopping decision are tested without MPI; the MPI
// implementation and mpirun are tested through the CLI where MPI is built.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/ensemble.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace qfluct;

namespace {

/// R ranks as threads: collective calls meet at a barrier (a generation counter).
class ThreadRanks {
 public:
  explicit ThreadRanks(int size) : size_(size), slots_(static_cast<std::size_t>(size)) {}

  class Rank final : public Ranks {
   public:
    Rank(ThreadRanks& all, int rank) : all_(all), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return all_.size_; }
    std::vector<std::string> gather(const std::string& mine) const override {
      all_.slots_[std::size_t(rank_)] = mine;
      all_.barrier();
      std::vector<std::string> out;
      if (rank_ == 0) out = all_.slots_;
      all_.barrier();  // rank 0 has read the slots before they are reused
      return out;
    }
    std::string broadcast(const std::string& value) const override {
      if (rank_ == 0) all_.value_ = value;
      all_.barrier();
      std::string out = all_.value_;
      all_.barrier();
      return out;
    }

   private:
    ThreadRanks& all_;
    int rank_;
  };

 private:
  void barrier() {
    std::unique_lock lock(mutex_);
    const long generation = generation_;
    if (++waiting_ == size_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
  }
  int size_;
  std::vector<std::string> slots_;
  std::string value_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int waiting_ = 0;
  long generation_ = 0;
};

/// run_ensemble on `size` ranks (threads); every rank's result.
std::vector<TimeSeries> on_ranks(int size, const SectorModel& model, const std::vector<double>& times, EnsembleOptions o) {
  ThreadRanks all(size);
  std::vector<TimeSeries> out(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> failures(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      ThreadRanks::Rank rank(all, r);
      EnsembleOptions mine = o;
      mine.ranks = &rank;
      try {
        out[std::size_t(r)] = run_ensemble(model, times, mine);
      } catch (...) {
        failures[std::size_t(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& f : failures)
    if (f) std::rethrow_exception(f);
  return out;
}

void check_identical(const TimeSeries& a, const TimeSeries& b) {
  CHECK((a.values.array() == b.values.array()).all());
  CHECK((a.errors.array() == b.errors.array()).all());
  REQUIRE(a.records.values.size() == b.records.values.size());
  for (std::size_t i = 0; i < a.records.values.size(); ++i)
    CHECK((a.records.values[i].array() == b.records.values[i].array()).all());
  for (const char* key : {"ntraj", "end_condition", "jumps_per_trajectory", "sde_steps_per_trajectory",
                          "largest_window", "heavy_tail_times", "largest_standard_error", "jumps_per_channel_per_trajectory"})
    CHECK(a.info[key] == b.info[key]);
}

}  // namespace

TEST_CASE("an ensemble split over 1, 2 and 3 ranks gives one process's numbers, records and stop", "[jump][ranks]") {
  CentralSpinParameters p;  // the Fig. 2 point, N = 6, central spin along x so its current carries a signal
  p.N = 6;
  p.central = {1.0, 0.0, 0.0};
  const CentralSpinModel model(p);
  const auto times = time_grid(1.0, 0.25);
  EnsembleOptions o;
  o.ntraj = 400;
  o.seed = 11;
  o.group_size = 3;  // 134 groups: uneven over 2 and 3 ranks, and a short last group
  o.records = 7;     // records of trajectories in the first three groups
  o.jump.homodyne = {{0, 0.4}};  // tau_minus homodyne, the rest jumps
  o.jump.dt_sde = 4e-3;
  SECTION("all trajectories") {
    const TimeSeries single = run_ensemble(model, times, o);
    CHECK(single.info["ranks"] == 1);
    for (int size : {1, 2, 3}) {
      const auto ranks = on_ranks(size, model, times, o);
      for (const auto& r : ranks) {
        INFO(size << " ranks");
        check_identical(single, r);
        CHECK(r.info["ranks"] == size);
      }
    }
  }
  SECTION("the tolerance stop: the same batches, the same decision on every rank") {
    o.tol = 0.2;  // the largest standard error is 0.126 at 400 trajectories: the stop comes near 160
    const TimeSeries single = run_ensemble(model, times, o);
    INFO("largest se " << single.info["largest_standard_error"] << " ntraj " << single.info["ntraj"]);
    REQUIRE(single.info["end_condition"] == "tolerance reached");
    REQUIRE(single.info["ntraj"].get<long>() < o.ntraj);
    for (int size : {2, 3})
      for (const auto& r : on_ranks(size, model, times, o)) {
        INFO(size << " ranks");
        check_identical(single, r);
      }
  }
}
