#include "qfluct/solver/ensemble.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/stats/accumulator.hpp"
#include "qfluct/stats/jackknife.hpp"
#include "qfluct/stats/second_order.hpp"

#include <nlohmann/json.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <fmt/format.h>
#include <omp.h>

namespace qfluct {

namespace {

/// Raw records up to this length get the curvature term from all their entries at once.
constexpr Index whole_record_curvature = 32;

/// What one group of trajectories contributes.
struct GroupResult {
  MomentAccumulator moments{1};
  RVec largest;  // per record entry: the largest single-trajectory value (heavy-tail check)
  TrajectoryStatistics stats;
};

/// Bytes of numbers, written and read in one fixed order: how a group's result travels between
/// ranks. Doubles are copied bit for bit, so a result read back merges exactly like the original.
class Bytes {
 public:
  std::string data;
  template <class T>
  void put(T v) {
    data.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(const RVec& v) {
    put<long long>(v.size());
    data.append(reinterpret_cast<const char*>(v.data()), std::size_t(v.size()) * sizeof(double));
  }
  void put(const std::vector<long>& v) {
    put<long long>(Index(v.size()));
    for (long x : v) put<long long>(x);
  }
};

class BytesReader {
 public:
  explicit BytesReader(const std::string& d) : d_(d) {}
  bool done() const { return pos_ == d_.size(); }
  template <class T>
  T get() {
    T v;
    need(sizeof v);
    std::memcpy(&v, d_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  RVec vec() {
    const auto n = Index(get<long long>());
    RVec v(n);
    need(std::size_t(n) * sizeof(double));
    std::memcpy(v.data(), d_.data() + pos_, std::size_t(n) * sizeof(double));
    pos_ += std::size_t(n) * sizeof(double);
    return v;
  }
  std::vector<long> longs() {
    std::vector<long> v(std::size_t(get<long long>()));
    for (auto& x : v) x = long(get<long long>());
    return v;
  }

 private:
  void need(std::size_t n) const {
    if (pos_ + n > d_.size()) throw std::runtime_error("ensemble: a rank's group results are cut short");
  }
  const std::string& d_;
  std::size_t pos_ = 0;
};

void write_statistics(Bytes& b, const TrajectoryStatistics& s) {
  for (long v : {s.trajectories, s.jumps, s.taylor_steps, s.taylor_terms, s.root_iterations, s.window_growths,
                 s.sde_steps})
    b.put<long long>(v);
  b.put<long long>(s.max_window);
  b.put<long long>(s.max_levy_area_terms);
  for (double v : {s.max_edge_population, s.max_trimmed_population, s.max_branch_mismatch}) b.put(v);
  b.put(s.jumps_per_channel);
  b.put<long long>(Index(s.top_level_population.size()));
  for (const auto& p : s.top_level_population) b.put(RVec(Eigen::Map<const RVec>(p.data(), Index(p.size()))));
}

TrajectoryStatistics read_statistics(BytesReader& r) {
  TrajectoryStatistics s;
  for (long* v : {&s.trajectories, &s.jumps, &s.taylor_steps, &s.taylor_terms, &s.root_iterations, &s.window_growths,
                  &s.sde_steps})
    *v = long(r.get<long long>());
  s.max_window = Index(r.get<long long>());
  s.max_levy_area_terms = int(r.get<long long>());
  for (double* v : {&s.max_edge_population, &s.max_trimmed_population, &s.max_branch_mismatch}) *v = r.get<double>();
  s.jumps_per_channel = r.longs();
  s.top_level_population.resize(std::size_t(r.get<long long>()));
  for (auto& p : s.top_level_population) {
    const RVec v = r.vec();
    p.assign(v.data(), v.data() + v.size());
  }
  return s;
}

}  // namespace

TimeSeries run_ensemble(const SectorModel& model, const std::vector<double>& times, const EnsembleOptions& o) {
  if (o.ntraj < 2) throw InputError("solver.ntraj", fmt::format("needs at least 2 trajectories, got {}", o.ntraj));
  const auto start = std::chrono::steady_clock::now();
  const long group_size = o.group_size > 0 ? o.group_size : std::max(1L, (o.ntraj + 199) / 200);
  const long groups_total = (o.ntraj + group_size - 1) / group_size;
  // Without a tolerance one batch holds everything; with one, ~16 batches give the stopping rule
  // enough chances without making the check itself costly.
  const long batch = o.tol > 0 ? std::max(1L, groups_total / 16) : groups_total;

  const JumpUnravelling probe(model, times, o.jump);
  const ObservableSet& observables = probe.observables();
  const Index raw = observables.raw_size(), ncol = observables.column_count(), T = Index(times.size());
  const Index R = probe.record_size();

  std::vector<GroupResult> groups(groups_total);
  MomentAccumulator total(R);
  GroupedSamples grouped(R);
  TrajectoryStatistics stats;
  std::atomic<long> done{0};
  long groups_done = 0;
  bool tolerance_reached = false;
  double worst_error = 0.0;
  TimeSeries out;
  out.columns = observables.column_names();
  out.times = times;
  const long kept = std::min(o.records, o.ntraj);
  const Index width = probe.measurement_width();
  if (kept > 0) {
    out.records.homodyne = probe.homodyne_names();
    out.records.jump_channels = probe.jump_channel_names();
    out.records.times = times;
    out.records.values.assign(std::size_t(kept), Eigen::MatrixXd(T, width));
    for (long i = 0; i < kept; ++i) out.records.trajectory.push_back(i);
  }

  // Estimates from what has run so far.
  auto estimate = [&] {
    out.values.resize(T, ncol);
    out.errors.resize(T, ncol);
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
      // The bias correction can push a central moment past its bound; report the bound there.
      observables.bound(means.data() + t * raw, values.data());
      out.values.row(t) = values.transpose();
    }
  };

  const int nranks = o.ranks ? o.ranks->size() : 1, rank = o.ranks ? o.ranks->rank() : 0;
  // Rank r runs the groups g of a batch with (g - first) % nranks == r.
  auto mine = [&](long g, long first) { return (g - first) % nranks == rank; };
  while (groups_done < groups_total) {
    const long first = groups_done, last = std::min(groups_total, groups_done + batch);
    std::exception_ptr failure;
#pragma omp parallel
    {
      JumpUnravelling worker(model, times, o.jump);
      RVec record(R);
#pragma omp for schedule(dynamic, 1)
      for (long g = first; g < last; ++g) {
        if (!mine(g, first)) continue;
        try {
          GroupResult& result = groups[g];
          result.moments = MomentAccumulator(R);
          result.largest = RVec::Zero(R);
          const long begin = g * group_size, end = std::min(o.ntraj, begin + group_size);
          for (long i = begin; i < end; ++i) {
            Rng rng = trajectory_rng(o.seed, std::uint64_t(i));
            // Rows of the records matrix are the output times: fill it through its transpose's
            // storage (row-major T x width).
            Eigen::MatrixXd row_major;
            if (i < kept) row_major.resize(width, T);
            worker.run(rng, record.data(), result.stats, i < kept ? row_major.data() : nullptr);
            if (i < kept) out.records.values[std::size_t(i)] = row_major.transpose();
            result.moments.add(record.data());
            result.largest = result.largest.cwiseMax(record.cwiseAbs());
            const long n = ++done;
            if (o.progress) o.progress(std::min(o.ntraj, n * nranks), o.ntraj);  // this rank's share, scaled
          }
        } catch (...) {
#pragma omp critical(qfluct_ensemble_failure)
          if (!failure) failure = std::current_exception();
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
    if (nranks > 1) {
      // Every rank gets every group's result (gathered on rank 0, broadcast from there), so all
      // ranks merge, estimate and decide alike.
      Bytes b;
      for (long g = first; g < last; ++g) {
        if (!mine(g, first)) continue;
        const GroupResult& result = groups[g];
        b.put<long long>(g);
        b.put<long long>(result.moments.count());
        b.put(result.moments.mean_state());
        b.put(result.moments.m2_state());
        b.put(result.largest);
        write_statistics(b, result.stats);
        const long begin = g * group_size, end = std::min({o.ntraj, begin + group_size, kept});
        for (long i = begin; i < end; ++i) b.put(RVec(out.records.values[std::size_t(i)].reshaped()));
      }
      std::string all;
      for (const auto& part : o.ranks->gather(b.data)) all += part;
      const std::string bundle = o.ranks->broadcast(all);
      BytesReader r(bundle);
      while (!r.done()) {
        const long g = long(r.get<long long>());
        if (g < first || g >= last) throw std::runtime_error("ensemble: a rank sent a group outside the batch");
        GroupResult& result = groups[g];
        const auto count = Index(r.get<long long>());
        RVec mean = r.vec(), m2 = r.vec();
        result.moments = MomentAccumulator(count, std::move(mean), std::move(m2));
        result.largest = r.vec();
        result.stats = read_statistics(r);
        const long begin = g * group_size, end = std::min({o.ntraj, begin + group_size, kept});
        for (long i = begin; i < end; ++i) out.records.values[std::size_t(i)] = r.vec().reshaped(T, width);
      }
    }
    for (long g = first; g < last; ++g) {  // merge in group order: thread- and rank-count independent
      total.merge(groups[g].moments);
      grouped.add_group(groups[g].moments);
      stats.merge(groups[g].stats);
    }
    groups_done = last;
    if (o.tol > 0 && grouped.groups() >= 2) {
      estimate();
      if (worst_error < o.tol) {
        tolerance_reached = true;
        break;
      }
    }
  }
  estimate();

  // Heavy tails: times at which one trajectory carries more than 5% of the sum of <q^4>_psi
  // (a rare early tau_+ jump leaves q large); standard errors there are unreliable.
  nlohmann::json heavy = nlohmann::json::array();
  if (observables.fluctuations()) {
    const Index q4 = observables.fourth_moment_raw();
    RVec largest = RVec::Zero(R);
    for (long g = 0; g < groups_done; ++g) largest = largest.cwiseMax(groups[g].largest);
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
      {"jackknife_groups", grouped.groups()},
      {"group_size", group_size},
      {"batch_groups", batch},  // groups between two checks of the tolerance (all of them without one)
      {"estimators",
       "tau_x, tau_y, tau_z, q, n: ensemble means with standard errors; Q2, Q4, nongauss: central moments of the "
       "ensemble state, delete-one-group jackknife bias correction, standard errors from the jackknife plus the "
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
