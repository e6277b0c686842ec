#include "qfluct/solver/ensemble.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/stats/accumulator.hpp"
#include "qfluct/stats/jackknife.hpp"
#include "qfluct/stats/second_order.hpp"

#include <nlohmann/json.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <fmt/format.h>
#include <omp.h>

namespace qfluct {

namespace {

/// Raw records up to this length get the curvature term from all their entries at once.
constexpr Index whole_record_curvature = 32;

/// A chunk's records (output.records) are held until it is merged: at most this many bytes.
constexpr double chunk_bytes = 256e6;

}  // namespace

EnsembleSlice ensemble_slice(long ntraj, long group_size, int part, int parts) {
  if (group_size < 1) throw InputError("solver.group_size", fmt::format("must be >= 1, got {}", group_size));
  EnsembleSlice s;
  s.complete_groups = ntraj / group_size;
  s.level = EnsembleState::block_level(s.complete_groups);
  const bool short_group = ntraj % group_size != 0;
  if (parts <= 1) {
    s.end = s.complete_groups;
    s.partial = short_group;
    return s;
  }
  const long blocks = s.complete_groups >> s.level;
  if (parts > blocks)
    throw InputError("--part", fmt::format("{} parts, but the plan has only {} jackknife block(s) of {} group(s) to share "
                                           "out (ntraj = {}, solver.group_size = {}); use at most {} parts",
                                           parts, blocks, 1L << s.level, ntraj, group_size, std::max(1L, blocks)));
  if (part < 0 || part >= parts) throw InputError("--part", fmt::format("part {} of {} does not exist", part + 1, parts));
  s.first = (blocks * part / parts) << s.level;
  const bool last = part == parts - 1;
  s.end = last ? s.complete_groups : (blocks * (part + 1) / parts) << s.level;
  s.partial = last && short_group;
  return s;
}

bool tolerance_check_point(long groups, long group_size) {
  if (groups < 2 || groups * group_size < 64) return false;
  long step = 1;
  while (step * 2 <= groups / 16) step *= 2;
  return groups % step == 0;
}

TimeSeries run_ensemble(const SectorModel& model, const std::vector<double>& times, const EnsembleOptions& o) {
  if (o.ntraj < 2) throw InputError("solver.ntraj", fmt::format("needs at least 2 trajectories, got {}", o.ntraj));
  if (o.parts > 1 && o.tol > 0)
    throw InputError("--part", "a run split into parts cannot stop at solver.tol (each part sees only its own "
                               "trajectories); set solver.tol = 0");
  const auto start = std::chrono::steady_clock::now();
  const long group_size = o.group_size;
  const EnsembleSlice slice = ensemble_slice(o.ntraj, group_size, o.part, o.parts);

  const JumpUnravelling probe(model, times, o.jump);
  const ObservableSet& observables = probe.observables();
  const Index raw = observables.raw_size(), ncol = observables.column_count(), T = Index(times.size());
  const Index R = probe.record_size();
  const long kept = std::min(o.records, o.ntraj);
  const Index width = probe.measurement_width();

  EnsembleState state = o.resume ? *o.resume : o.parts > 1 ? EnsembleState(slice.first, slice.level) : EnsembleState();
  const long resumed_groups = state.groups();
  if (o.resume) {
    const auto where = [&](long g) { return fmt::format("group {} (trajectory {})", g, g * group_size); };
    if (state.is_piece() != (o.parts > 1) || state.first_group() != slice.first)
      throw InputError("--resume", fmt::format("the checkpoint holds the groups from {} on, this run's {} from {} on",
                                               where(state.first_group()), o.parts > 1 ? "part" : "plan",
                                               where(slice.first)));
    if (state.end_group() > slice.end)
      throw InputError("solver.ntraj", fmt::format("the checkpoint already holds {} trajectories, more than this run's "
                                                   "{}: a run can be extended, not shortened",
                                                   state.end_group() * group_size, o.ntraj));
    // A short last group becomes a whole one when the run is extended: it is run again.
    if (state.partial && !(slice.partial && state.end_group() == slice.end)) {
      state.partial.reset();
      std::erase_if(state.records, [&](const auto& r) { return r.first >= state.end_group() * group_size; });
    }
    if (state.tolerance_reached && o.tol <= 0) state.tolerance_reached = false;
  }
  const auto records_of = [&](long g) {  // trajectories of group g whose records are kept
    const long begin = g * group_size;
    return std::pair{begin, std::min({o.ntraj, begin + group_size, kept})};
  };

  TimeSeries out;
  out.columns = observables.column_names();
  out.times = times;
  double worst_error = 0.0;

  // Estimates from the groups in `s`.
  auto estimate = [&](const EnsembleState& s) {
    out.values.resize(T, ncol);
    out.errors.resize(T, ncol);
    GroupedSamples grouped(R);
    s.for_each_block([&](const GroupResult& b) { grouped.add_group(b.moments); });
    const MomentAccumulator total = s.total(R).moments;
    const RVec means = total.means(), se = total.standard_errors();
    const JackknifeResult jk = jackknife(
        grouped,
        [&](const double* m, double* cols) {
          for (Index t = 0; t < T; ++t) observables.derive(m + t * raw, cols + t * ncol);
        },
        T * ncol);
    worst_error = 0.0;
    RVec values(ncol);
    for (Index t = 0; t < T; ++t) {
      // The jackknife's first-order error misses the spread of f(means) where f's gradient
      // vanishes (Q2 = <q^2> - <q>^2 at <q> ~ 0): add its second-order part (stats/second_order)
      // for the column groups where that happens, from the raw entries they depend on.
      // Over the whole raw record when it is short (the central-spin family's 8 entries), else
      // over each group's own entries: the same c (the Hessian vanishes outside them), at a cost
      // of 1 + 2 r^2 evaluations for r entries.
      RVec curvature = RVec::Zero(ncol);
      if (!observables.curvature_groups().empty() && raw <= whole_record_curvature) {
        const auto f = [&](const double* m, double* cols) { observables.derive(m, cols); };
        curvature = curvature_variance(f, ncol, means.segment(t * raw, raw), grouped.covariance_of_means(t * raw, raw));
      } else {
        for (const auto& g : observables.curvature_groups()) {
          const auto f = [&](const double* m, double* cols) { observables.derive_group(g.column, m, cols); };
          curvature.segment(g.column, g.columns) = curvature_variance(
              f, g.columns, means.segment(t * raw + g.raw, g.raws), grouped.covariance_of_means(t * raw + g.raw, g.raws));
        }
      }
      for (Index c = 0; c < ncol; ++c) {
        const Index k = t * ncol + c;
        const bool linear = observables.column_is_linear(c);
        values(c) = linear ? means(t * raw + observables.raw_index_of_column(c)) : jk.estimate(k);
        out.errors(t, c) = linear ? se(t * raw + observables.raw_index_of_column(c))
                                  : nonlinear_standard_error(jk.error(k), curvature(c));
        if (std::isfinite(out.errors(t, c))) worst_error = std::max(worst_error, out.errors(t, c));
      }
      // The bias-corrected estimate n f(all) - (n - 1) mean f(leave-one-out) carries the rounding
      // of the cancelling central-moment sums times n, which the jackknife's spread misses where
      // every sample is alike (a deterministic state: Q4 = 1.6e-12 +- 6e-15 where it is 0).
      // Floor those errors at n x 32 eps <q^4>: every term of Q2, Q4 and nongauss is bounded by a
      // few <q^4> (|<q^3><q>|, <q^2><q>^2, <q>^4, <q^2>^2 <= <q^4>). Elsewhere the floor is ~1e-11
      // of the column and far below the statistical error.
      for (const auto& g : observables.curvature_groups()) {
        const double floor = double(grouped.groups()) * 32.0 * std::numeric_limits<double>::epsilon() *
                             std::abs(means(t * raw + g.raw + 3));
        for (Index c = g.column; c < g.column + g.columns; ++c)
          if (!observables.column_is_linear(c)) out.errors(t, c) = std::max(out.errors(t, c), floor);
      }
      // The bias correction can push a central moment past its bound; report the bound there.
      observables.bound(means.data() + t * raw, values.data());
      out.values.row(t) = values.transpose();
    }
  };

  const int nranks = o.ranks ? o.ranks->size() : 1, rank = o.ranks ? o.ranks->rank() : 0;
  const long workers = long(nranks) * omp_get_max_threads();
  const long largest_chunk =
      kept == 0 || width == 0
          ? std::numeric_limits<long>::max() / 8
          : std::max(workers, long(chunk_bytes / (8.0 * double(T * width) * double(std::min(kept, group_size)))));
  const long stop = slice.end + (slice.partial ? 1 : 0);  // groups [.., stop) to run; `end` is the short one
  const auto next_group = [&] { return state.end_group() + (state.partial ? 1 : 0); };
  // Work comes in units: node(u, a / 2^u) of the tree, 2^u consecutive groups merged by one
  // thread, u at most the block level at a (so the unit is a node the state keeps or merges) and
  // 2^u <= the spacing of the tolerance check points there (so none falls inside a unit).
  // A chunk of units runs between two merges into the state; its length in groups aims at
  // chunk_seconds of work (growing at most 4-fold per chunk), with about 4 units per worker.
  struct Unit {
    long first;
    int level;  // -1: the short last group
  };
  const auto units_of = [&](long first, long last, long chunk_groups) {
    std::vector<Unit> units;
    long size_cap = 1;
    while (size_cap * 2 <= std::max(1L, chunk_groups / (4 * workers))) size_cap *= 2;
    for (long g = first; g < last;) {
      if (g == slice.end) {
        units.push_back({g, -1});
        ++g;
        continue;
      }
      int u = state.is_piece() ? state.level() : EnsembleState::block_level(g);
      while (u > 0 && ((1L << u) > size_cap || g % (1L << u) != 0 || g + (1L << u) > std::min(last, slice.end))) --u;
      units.push_back({g, u});
      g += 1L << u;
    }
    return units;
  };
  const auto unit_end = [&](const Unit& u) { return u.level < 0 ? u.first + 1 : u.first + (1L << u.level); };
  long chunk = workers;
  std::atomic<long> done{0};
  const long done_before = std::min(o.ntraj, next_group() * group_size);
  // One worker per thread for the whole run, not per chunk: a worker's generator cache (up to
  // 1024 generators) then stays warm from chunk to chunk instead of being freed and rebuilt
  // (~4% of the time at N = 1e4, 400 trajectories). Results do not depend on it (a cached
  // generator is the one a rebuild gives, bit for bit).
  std::vector<std::unique_ptr<JumpUnravelling>> worker_of_thread(static_cast<std::size_t>(omp_get_max_threads()));
  while (!state.tolerance_reached && next_group() < stop) {
    const auto chunk_start = std::chrono::steady_clock::now();
    const std::vector<Unit> units = units_of(next_group(), std::min(stop, next_group() + chunk), chunk);
    const long n_units = long(units.size());
    std::vector<GroupResult> results(units.size());
    std::vector<std::vector<Eigen::MatrixXd>> recs(units.size());
    std::exception_ptr failure;
#pragma omp parallel
    {
      auto& mine = worker_of_thread[std::size_t(omp_get_thread_num())];
      if (!mine) mine = std::make_unique<JumpUnravelling>(model, times, o.jump);
      JumpUnravelling& worker = *mine;
      RVec record(R);
#pragma omp for schedule(dynamic, 1)
      for (long k = 0; k < n_units; ++k) {
        if (k % nranks != rank) continue;  // rank r runs the units k with k % nranks == r
        try {
          GroupStack stack;
          for (long g = units[std::size_t(k)].first; g < unit_end(units[std::size_t(k)]); ++g) {
            GroupResult result = GroupResult::empty(R);
            const long begin = g * group_size, end = std::min(o.ntraj, begin + group_size);
            const long keep_end = records_of(g).second;
            for (long i = begin; i < end; ++i) {
              Rng rng = trajectory_rng(o.seed, std::uint64_t(i));
              // Rows of the records matrix are the output times: fill it through its transpose's
              // storage (row-major T x width).
              Eigen::MatrixXd row_major;
              if (i < keep_end) row_major.resize(width, T);
              worker.run(rng, record.data(), result.stats, i < keep_end ? row_major.data() : nullptr);
              if (i < keep_end) recs[std::size_t(k)].push_back(row_major.transpose());
              result.moments.add(record.data());
              result.largest = result.largest.cwiseMax(record.cwiseAbs());
              const long n = ++done;
              if (o.progress) o.progress(std::min(o.ntraj, done_before + n * nranks), o.ntraj);  // this rank's share, scaled
            }
            stack.push(std::move(result));
          }
          results[std::size_t(k)] = stack.take();
        } catch (...) {
#pragma omp critical(qfluct_ensemble_failure)
          if (!failure) failure = std::current_exception();
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
    const long ran_groups = unit_end(units.back()) - units.front().first;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - chunk_start).count();
    const double aim = seconds > 0 ? o.chunk_seconds / seconds * double(ran_groups) : 4.0 * double(chunk);
    long next = std::clamp(long(std::min(aim, 4.0 * double(chunk))), workers, largest_chunk);
    next = (next + workers - 1) / workers * workers;
    if (nranks > 1) {
      // Every rank gets every unit's result (gathered on rank 0, broadcast from there), so all
      // ranks merge, estimate and decide alike; the next chunk's length travels with them.
      ByteWriter b;
      for (long k = rank; k < n_units; k += nranks) {
        b.put<std::int64_t>(k);
        results[std::size_t(k)].write(b);
        for (const auto& m : recs[std::size_t(k)]) b.put(RVec(m.reshaped()));
      }
      ByteWriter head;
      head.put<std::int64_t>(next);
      std::string all = head.data();
      for (const auto& part : o.ranks->gather(b.data())) all += part;
      const std::string bundle = o.ranks->broadcast(all);
      ByteReader r(bundle, "ensemble: a rank's results");
      next = long(r.get<std::int64_t>());
      while (!r.done()) {
        const long k = long(r.get<std::int64_t>());
        if (k < 0 || k >= n_units) throw std::runtime_error("ensemble: a rank sent a unit outside the chunk");
        results[std::size_t(k)] = GroupResult::read(r);
        auto& mats = recs[std::size_t(k)];
        mats.clear();
        const Unit& unit = units[std::size_t(k)];
        for (long i = records_of(unit.first).first; i < records_of(unit_end(unit) - 1).second; ++i)
          mats.push_back(r.vec().reshaped(T, width));
      }
    }
    chunk = next;
    for (long k = 0; k < n_units; ++k) {  // merge in group order: thread- and rank-count independent
      const Unit& unit = units[std::size_t(k)];
      const long begin = unit.first * group_size;
      for (std::size_t j = 0; j < recs[std::size_t(k)].size(); ++j)
        state.records.emplace_back(begin + long(j), std::move(recs[std::size_t(k)][j]));
      if (unit.level < 0) {  // the short last group
        state.partial = std::move(results[std::size_t(k)]);
        continue;
      }
      state.add(std::move(results[std::size_t(k)]), unit.level);
      if (o.tol > 0 && tolerance_check_point(state.groups(), group_size)) {
        estimate(state);
        if (worst_error < o.tol) {
          state.tolerance_reached = true;
          break;
        }
      }
    }
    if (o.checkpoint) o.checkpoint(state, false);
  }
  if (o.checkpoint) o.checkpoint(state, true);

  // The reported ensemble: every group, the short last one in its place in the tree.
  EnsembleState all = state;
  if (all.partial) {
    GroupResult last = std::move(*all.partial);
    all.partial.reset();
    all.add(std::move(last));
  }
  estimate(all);
  const GroupResult whole = all.total(R);
  const MomentAccumulator& total = whole.moments;
  const TrajectoryStatistics& stats = whole.stats;
  const bool tolerance_reached = state.tolerance_reached;
  if (kept > 0) {
    out.records.homodyne = probe.homodyne_names();
    out.records.jump_channels = probe.jump_channel_names();
    out.records.times = times;
    std::sort(all.records.begin(), all.records.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [i, m] : all.records) {
      out.records.trajectory.push_back(i);
      out.records.values.push_back(std::move(m));
    }
  }

  // Heavy tails: times at which one trajectory carries more than 5% of the sum of <q^4>_psi
  // (a rare early tau_+ jump leaves q large); standard errors there are unreliable.
  nlohmann::json heavy = nlohmann::json::array();
  if (observables.fluctuations()) {
    const Index q4 = observables.fourth_moment_raw();
    const RVec& largest = whole.largest;
    const RVec means = total.means();
    for (Index t = 0; t < T; ++t) {
      const double sum = means(t * raw + q4) * double(total.count());
      if (sum > 0 && largest(t * raw + q4) > 0.05 * sum) heavy.push_back(times[t]);
    }
  }
  const double n = double(total.count());
  nlohmann::json per_channel = nlohmann::json::object();
  for (std::size_t c = 0; c < model.channels().size(); ++c)
    per_channel[model.channels()[c].name] = c < stats.jumps_per_channel.size() ? double(stats.jumps_per_channel[c]) / n : 0.0;
  // The ensemble's population in the top two levels of each truncated mode, largest over time.
  const auto modes = model.truncated_modes();
  double top = 0.0;
  nlohmann::json top_per_mode = nlohmann::json::object();
  for (std::size_t m = 0; m < modes.size(); ++m) {
    double largest = 0.0;
    if (m < stats.top_level_population.size())
      for (double sum : stats.top_level_population[m]) largest = std::max(largest, sum / n);
    top_per_mode[modes[m]] = largest;
    top = std::max(top, largest);
  }
  // A model that declares diagonal channel weights wrongly gives branch weights that do not add
  // up to its channel weight; rounding gives ~1e-15.
  if (stats.max_branch_mismatch > 1e-8)
    throw NumericalError(fmt::format("the branch weights of a jump differ from the channel weight by {:.3g} (relative): "
                                     "the model's channel weights (sum_b K^+K) are not what its Kraus operators give",
                                     stats.max_branch_mismatch));
  out.info = {
      {"method", "jump"},
      {"unravelling", "quantum jumps, waiting-time method (Taylor propagator with dense output)"},
      {"ntraj", total.count()},
      {"ntraj_requested", o.ntraj},
      {"seed", o.seed},
      {"tol", o.tol},
      {"end_condition", tolerance_reached ? "tolerance reached" : "ntraj reached"},
      {"largest_standard_error", worst_error},
      {"jackknife_groups", all.block_count()},
      {"jackknife_block_groups", 1L << all.level()},  // groups per jackknife block (the last may hold fewer)
      {"group_size", group_size},
      {"groups", all.groups()},
      {"resumed_groups", resumed_groups},  // taken from a checkpoint rather than run
      {"estimators",
       "tau_x, tau_y, tau_z, q, n: ensemble means with standard errors; Q2, Q4, nongauss: central moments of the "
       "ensemble state, delete-one-block jackknife bias correction, standard errors from the jackknife plus the "
       "second-order (curvature) term, estimates kept within the central moments' bounds"},
      {"window", o.jump.full_sectors ? "full" : "adaptive"},
      {"window_tol", o.jump.window_tol},
      {"largest_window", stats.max_window},
      {"largest_edge_population", stats.max_edge_population},
      {"largest_trimmed_population", stats.max_trimmed_population},
      {"jump_tol", o.jump.jump_tol},
      {"jumps_per_trajectory", double(stats.jumps) / n},
      {"jumps_per_channel_per_trajectory", per_channel},
      {"taylor_steps_per_trajectory", double(stats.taylor_steps) / n},
      {"taylor_terms_per_step", stats.taylor_steps > 0 ? double(stats.taylor_terms) / double(stats.taylor_steps) : 0.0},
      {"root_iterations_per_jump", stats.jumps > 0 ? double(stats.root_iterations) / double(stats.jumps) : 0.0},
      {"window_growths_per_trajectory", double(stats.window_growths) / n},
      {"largest_branch_weight_mismatch", stats.max_branch_mismatch},
      {"heavy_tail_times", heavy},
      {"threads", omp_get_max_threads()},
      {"ranks", nranks},
      {"solver_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  // Which channel is unravelled how (every channel of the model, by the names the config uses).
  nlohmann::json per_channel_unravelling = nlohmann::json::object();
  std::string jumping, homodyne;
  for (std::size_t c = 0; c < model.channels().size(); ++c) {
    const std::string& name = model.channels()[c].name;
    bool diffusive = false;
    for (const auto& h : o.jump.homodyne) diffusive = diffusive || std::size_t(h.channel) == c;
    per_channel_unravelling[name] = diffusive ? "homodyne" : "jump";
    (diffusive ? homodyne : jumping) += ((diffusive ? homodyne : jumping).empty() ? "" : ", ") + name;
  }
  out.info["unravelling_per_channel"] = per_channel_unravelling;
  if (!o.jump.homodyne.empty()) {
    out.info["unravelling"] = fmt::format(
        "homodyne detection (efficiency 1) of {}: normalised stochastic Schrodinger equation, Lie splitting of "
        "the linear part (Taylor propagator) and the Milstein scheme{}; {}",
        homodyne,
        probe.homodyne_names().size() < 2 ? " (one noise: strong order 1)"
        : o.jump.levy_areas               ? " with Levy areas (strong order 1)"
                                          : " without Levy areas (strong order 1/2, weak order 1)",
        jumping.empty() ? "no channel jumps" : "quantum jumps of " + jumping);
    nlohmann::json phases = nlohmann::json::object();
    for (const auto& h : o.jump.homodyne) phases[model.channels()[std::size_t(h.channel)].name] = h.phase;
    out.info["homodyne_phase"] = phases;
    out.info["dt_sde"] = o.jump.dt_sde;
    out.info["sde_steps_per_trajectory"] = double(stats.sde_steps) / n;
    out.info["levy_area_terms"] = stats.max_levy_area_terms;
    out.info["homodyne_outputs"] = probe.homodyne_names();
  }
  if (kept > 0) out.info["records"] = kept;
  if (!modes.empty()) {
    out.info["largest_top_rung_population"] = top;
    out.info["top_level_population_per_mode"] = top_per_mode;
  }
  return out;
}

}  // namespace qfluct
