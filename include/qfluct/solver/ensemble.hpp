#pragma once
/// Ensembles of quantum-jump trajectories, OpenMP-parallel and reproducible (estimators and
/// their errors: docs/statistics.md).
///
/// Trajectory i draws from its own engine, seeded from (seed, i) (core/random.hpp). The
/// trajectories are cut into fixed groups of consecutive indices; a group is run by one thread
/// in index order, and groups are merged in group order, so the numbers are bit-for-bit the same
/// for any thread count and schedule.
///
/// Estimators: every raw record (tau_a, <q^n>_psi, n) is averaged with its standard error; the
/// linear columns (tau_x, tau_y, tau_z, q, n) are those means. Q2, Q4 and nongauss are central
/// moments of the ensemble mixture, i.e. nonlinear functions of the means: they are reported with
/// delete-one-group jackknife bias correction and jackknife standard errors.
///
/// With a tolerance, groups run in batches until every reported standard error is below it (or
/// ntraj is reached); the result says which happened.
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/jump_unravelling.hpp"
#include "qfluct/solver/ranks.hpp"
#include "qfluct/solver/time_series.hpp"

#include <cstdint>
#include <functional>

namespace qfluct {

struct EnsembleOptions {
  long ntraj = 1000;         ///< trajectories (the cap when tol is set)
  std::uint64_t seed = 1;
  double tol = 0.0;          ///< target standard error of every column; 0 = run all ntraj
  long group_size = 0;       ///< trajectories per jackknife group; 0 = ceil(ntraj / 200)
  JumpOptions jump;
  long records = 0;          ///< keep the measurement records of the first `records` trajectories
  /// The processes to split the groups over (MPI ranks; solver/ranks.hpp); null: this process
  /// alone. Every rank gets the same result.
  const Ranks* ranks = nullptr;
  std::function<void(long done, long planned)> progress;
};

TimeSeries run_ensemble(const SectorModel& model, const std::vector<double>& times, const EnsembleOptions& options);

}  // namespace qfluct
