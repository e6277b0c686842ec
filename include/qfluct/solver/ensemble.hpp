#pragma once
/// Ensembles of quantum-jump trajectories, OpenMP- and MPI-parallel, reproducible, resumable
/// (estimators and their errors: docs/statistics.md).
///
/// Trajectory i draws from its own engine, seeded from (seed, i) (core/random.hpp). The
/// trajectories are cut into groups of group_size consecutive indices (the last one shorter when
/// ntraj is not a multiple); a group is run by one thread in index order, and group results
/// combine along a fixed binary tree (solver/ensemble_state.hpp). The numbers are therefore
/// bit-for-bit the same for any thread count, rank count and schedule, for a run resumed from a
/// checkpoint, for a run extended to more trajectories, and for pieces run apart and merged.
///
/// Estimators: every raw record (tau_a, <q^n>_psi, n) is averaged with its standard error; the
/// linear columns (tau_x, tau_y, tau_z, q, n) are those means. Q2, Q4 and nongauss are central
/// moments of the ensemble mixture, i.e. nonlinear functions of the means: they are reported with
/// delete-one-block jackknife bias correction and jackknife standard errors.
///
/// With a tolerance, the estimates are checked after group counts fixed by the plan
/// (tolerance_check_point) until every reported standard error is below it (or ntraj is
/// reached); the result says which happened.
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/ensemble_state.hpp"
#include "qfluct/solver/jump_unravelling.hpp"
#include "qfluct/solver/ranks.hpp"
#include "qfluct/solver/time_series.hpp"

#include <cstdint>
#include <functional>

namespace qfluct {

/// The default of solver.group_size: a trajectory per group, the finest grain for checkpoints
/// and for the jackknife of small ensembles.
inline constexpr long default_group_size = 1;

struct EnsembleOptions {
  long ntraj = 1000;         ///< trajectories (the cap when tol is set)
  std::uint64_t seed = 1;
  double tol = 0.0;          ///< target standard error of every column; 0 = run all ntraj
  long group_size = default_group_size;  ///< trajectories per group (solver.group_size), >= 1
  JumpOptions jump;
  long records = 0;          ///< keep the measurement records of the first `records` trajectories
  /// The processes to split the groups over (MPI ranks; solver/ranks.hpp); null: this process
  /// alone. Every rank gets the same result.
  const Ranks* ranks = nullptr;
  /// Run only slice `part` (0-based) of `parts` of the plan (see ensemble_slice); the state of a
  /// slice is merged with the others' by EnsembleState::concatenate. No tolerance with parts > 1.
  int part = 0;
  int parts = 1;
  /// Continue from this state (a checkpoint of the same model and plan) instead of from nothing.
  /// It may hold fewer complete groups than ntraj asks for (extending a finished run); more is an
  /// InputError.
  const EnsembleState* resume = nullptr;
  /// Called on every rank after each chunk of groups has been merged in (`last` false) and once
  /// at the end (`last` true), from the calling thread, with the state so far: what a
  /// checkpoint saves.
  std::function<void(const EnsembleState&, bool last)> checkpoint;
  /// Target wall time of one chunk of groups run between two merges (seconds): the grain of
  /// checkpoints and of the work lost at an interruption.
  double chunk_seconds = 1.0;
  std::function<void(long done, long planned)> progress;
};

/// The groups a run (or slice `part` of `parts`) computes: complete groups [first, end) and, for
/// the whole run or its last slice, the short last group `end` when `partial`. `level` is the
/// jackknife block level of the whole run; slices start and end on its block boundaries, so
/// parts may not exceed the number of complete blocks (InputError naming "--part").
struct EnsembleSlice {
  long first = 0;
  long end = 0;
  bool partial = false;
  int level = 0;
  long complete_groups = 0;  ///< of the whole run
};
EnsembleSlice ensemble_slice(long ntraj, long group_size, int part, int parts);

/// Whether the tolerance is checked once `groups` complete groups of `group_size` are merged:
/// from 64 trajectories (and 2 groups) on, after every 2^floor(log2(groups / 16)) groups (at
/// least 1), so about 16 checks per doubling of the ensemble, at counts that do not depend on
/// ntraj, threads or ranks.
bool tolerance_check_point(long groups, long group_size);

TimeSeries run_ensemble(const SectorModel& model, const std::vector<double>& times, const EnsembleOptions& options);

}  // namespace qfluct
