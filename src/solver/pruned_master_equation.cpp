#include "qfluct/solver/pruned_master_equation.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/solver/chebyshev.hpp"
#include "qfluct/solver/dopri5.hpp"
#include "qfluct/solver/rosenbrock.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

namespace qfluct {

namespace {

/// w moved inside a ladder of length L (kept whole when it fits).
Window fit(Window w, Index L) {
  const Index size = std::min(w.size, L);
  return {std::clamp<Index>(w.begin, 0, L - size), size};
}

/// Population of rung k (window-relative index i) of a block: summed over the system levels.
double rung_population(const Eigen::Map<const CMat>& block, Index d, Index size, Index i) {
  double p = 0.0;
  for (Index c = 0; c < d; ++c) p += block(c * size + i, c * size + i).real();
  return p;
}

/// y (on support `from`) copied onto support `to`; entries outside `to` are dropped.
CVec embed(const SectorModel& model, const BlockMasterEquation& source, const CVec& y, const BlockMasterEquation& target) {
  CVec out = CVec::Zero(target.size());
  const Index d = model.system_dim();
  const auto& from = source.support();
  const auto& to = target.support();
  const auto in = source.blocks(y);
  for (int s = 0; s < model.sector_count(); ++s) {
    if (from[s].size == 0 || to[s].size == 0) continue;
    const Index lo = std::max(from[s].begin, to[s].begin), hi = std::min(from[s].end(), to[s].end());
    if (hi <= lo) continue;
    const Index D = d * to[s].size;
    Eigen::Map<CMat> block(out.data() + target.block_offsets()[s], D, D);
    for (Index a = 0; a < d; ++a)
      for (Index b = 0; b < d; ++b)
        block.block(a * to[s].size + lo - to[s].begin, b * to[s].size + lo - to[s].begin, hi - lo, hi - lo) =
            in[s].block(a * from[s].size + lo - from[s].begin, b * from[s].size + lo - from[s].begin, hi - lo, hi - lo);
  }
  return out;
}

/// The support grown at its edges while the populations of the edges left sum to more than a
/// quarter of `budget` (largest first; none when they sum to `budget` or less): sector range ends
/// by 2 + 1/8 of the range, window ends by 2 + 1/4 of the window. `total` receives the sum of the
/// edge populations of y.
std::vector<Window> grow(const SectorModel& model, const BlockMasterEquation& me, const CVec& y, double budget,
                         double& total) {
  const int S = model.sector_count();
  const Index d = model.system_dim();
  std::vector<Window> w = me.support();
  const auto b = me.blocks(y);
  int lo = S, hi = -1;
  for (int s = 0; s < S; ++s)
    if (w[s].size > 0) lo = std::min(lo, s), hi = std::max(hi, s);
  struct Edge {
    int sector;  // -1: the low end of the sector range, -2: the high end
    int side;    // rung edges: 0 low, 1 high
    double weight;
  };
  std::vector<Edge> edges;
  if (lo > 0) edges.push_back({-1, 0, std::abs(b[lo].trace())});
  if (hi < S - 1) edges.push_back({-2, 0, std::abs(b[hi].trace())});
  for (int s = lo; s <= hi; ++s) {
    if (w[s].size == 0) continue;
    if (w[s].begin > 0) edges.push_back({s, 0, std::abs(rung_population(b[s], d, w[s].size, 0))});
    if (w[s].end() < model.ladder_size(s)) edges.push_back({s, 1, std::abs(rung_population(b[s], d, w[s].size, w[s].size - 1))});
  }
  total = 0.0;
  for (const auto& e : edges) total += e.weight;
  if (total <= budget) return w;
  std::stable_sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) { return x.weight > y.weight; });
  const int margin = 2 + (hi - lo + 1) / 8;
  double left = total;
  for (const auto& e : edges) {
    if (left <= 0.25 * budget) break;
    left -= e.weight;
    if (e.sector == -1)
      for (int s = std::max(0, lo - margin); s < lo; ++s) w[s] = fit(w[lo], model.ladder_size(s));
    else if (e.sector == -2)
      for (int s = hi + 1; s <= std::min(S - 1, hi + margin); ++s) w[s] = fit(w[hi], model.ladder_size(s));
    else {
      Window& x = w[e.sector];
      const Index m = 2 + x.size / 4, L = model.ladder_size(e.sector);
      x = e.side == 0 ? Window{std::max<Index>(0, x.begin - m), x.end() - std::max<Index>(0, x.begin - m)}
                      : Window{x.begin, std::min(L, x.end() + m) - x.begin};
    }
  }
  return w;
}

}  // namespace

double pruned_master_bytes(double unknowns) { return 16.0 * 12.0 * unknowns; }

std::vector<Window> initial_support(const SectorModel& model, double threshold) {
  const int S = model.sector_count();
  std::vector<Window> w(S, Window{0, 0});
  int lo = S, hi = -1, heaviest = 0;
  double most = -1.0;
  for (int s = 0; s < S; ++s) {
    const double weight = model.initial_sector_weight(s);
    if (weight > most) most = weight, heaviest = s;
    if (weight >= threshold) lo = std::min(lo, s), hi = std::max(hi, s);
  }
  if (hi < 0) lo = hi = heaviest;
  for (int s = lo; s <= hi; ++s) w[s] = model.initial_window(s, threshold);
  // A sector in the range whose rungs all fell below the threshold borrows a neighbour's window.
  for (int s = lo; s <= hi; ++s)
    if (w[s].size == 0) w[s] = s > lo ? fit(w[s - 1], model.ladder_size(s)) : Window{0, 1};
  for (int s = hi; s >= lo; --s)
    if (w[s].size == 0 && s < hi) w[s] = fit(w[s + 1], model.ladder_size(s));
  const int margin = 2 + (hi - lo + 1) / 8;
  for (int s = std::max(0, lo - margin); s < lo; ++s) w[s] = fit(w[lo], model.ladder_size(s));
  for (int s = hi + 1; s <= std::min(S - 1, hi + margin); ++s) w[s] = fit(w[hi], model.ladder_size(s));
  for (int s = 0; s < S; ++s)
    if (w[s].size > 0) w[s] = w[s].shifted(0, 2 + w[s].size / 4, model.ladder_size(s));
  return w;
}

TimeSeries solve_pruned(const SectorModel& model, const std::vector<double>& times, const MasterOptions& options,
                        const PruneOptions& prune) {
  const auto start = std::chrono::steady_clock::now();
  if (!(prune.tol > 0 && prune.tol < 1e-3)) throw InputError("solver.prune_tol", "must be in (0, 1e-3) to prune");
  if (!model.windowed()) throw std::logic_error("solve_pruned: the model's sectors carry no ladder windows");
  const ObservableSet observables(model);
  TimeSeries out;
  out.columns = observables.column_names();
  out.times = times;
  out.values.resize(Index(times.size()), observables.column_count());
  const bool fixed = !model.time_dependent();
  if (!fixed && (options.integrator == MasterIntegrator::rosenbrock || options.integrator == MasterIntegrator::chebyshev))
    throw InputError("solver.integrator", "needs a time-independent generator; this model is driven: use \"dopri5\"");
  const double span = times.empty() ? 0.0 : times.back() - times.front();

  std::vector<Window> support = initial_support(model, 1e-3 * prune.tol);
  std::unique_ptr<BlockMasterEquation> me;
  std::unique_ptr<ChebyshevExponential> series;
  SpectrumBox box;
  double box_size = 0.0;
  long growths = 0, largest_state = 0;
  nlohmann::json integrator;
  ChebyshevStatistics cheb_total;
  OdeStatistics ode_total;
  RosenbrockStatistics ros_total;
  const auto build = [&](std::vector<Window> w) {
    double unknowns = 0.0;
    for (int s = 0; s < model.sector_count(); ++s) unknowns += std::pow(double(model.system_dim() * w[s].size), 2);
    if (prune.check_memory) prune.check_memory(pruned_master_bytes(unknowns));
    series.reset();
    me = std::make_unique<BlockMasterEquation>(model, std::move(w));
    largest_state = std::max<long>(largest_state, long(me->size()));
    // The spectrum's box: estimated again only when the support has doubled (growing the
    // support adds rungs and sectors like those kept; an underestimate costs the series terms or
    // a restart on a larger ellipse, not accuracy).
    if (box_size == 0 || double(me->size()) > 2.0 * box_size) {
      box = fixed ? me->spectrum_box() : SpectrumBox{me->spectral_radius_estimate(), 0.0};
      box_size = double(me->size());
    }
    // Chebyshev unless another integrator is asked for: accurate to ~1e-13 at any N, at a cost
    // growing like sqrt(N) per output interval where Dormand-Prince's grows like N.
    if (fixed && options.integrator != MasterIntegrator::dopri5 && options.integrator != MasterIntegrator::rosenbrock) {
      series = std::make_unique<ChebyshevExponential>(
          [m = me.get()](const CVec& x, CVec& dx) { m->derivative(x, dx); }, me->size(), box, 1e-2 * options.tol.rtol,
          [m = me.get()](const CVec& x, CVec& dx) { m->derivative_general(x, dx); });
    }
  };
  const auto retire = [&] {  // keep the statistics (and any enlarged box) of a series about to be replaced
    if (!series) return;
    box = series->box();
    const auto& st = series->statistics();
    cheb_total.steps += st.steps, cheb_total.terms += st.terms, cheb_total.restarts += st.restarts;
    cheb_total.max_terms = std::max(cheb_total.max_terms, st.max_terms);
  };
  build(support);
  CVec y = me->initial_state();
  const double initial_discarded = 1.0 - me->trace(y);
  std::vector<double> raw(observables.raw_size()), col(observables.column_count());
  double max_top = 0.0;
  // The columns and top-level populations of a state at output time i, kept aside until the
  // series they come from is accepted (commit), so that a redone series leaves no trace.
  std::vector<std::vector<double>> pending_top;
  const auto measure = [&](std::size_t i, const CVec& state) {
    pending_top.push_back(top_level_populations(model, me->blocks(state), &me->support()));
    me->measure(state, times[i], observables, raw.data());
    observables.derive(raw.data(), col.data());
    for (Index c = 0; c < observables.column_count(); ++c) out.values(Index(i), c) = col[c];
  };
  const auto commit = [&](std::size_t first, std::size_t count) {
    for (std::size_t k = 0; k < count; ++k) {
      if (options.monitor) options.monitor(pending_top[k]);
      for (double x : pending_top[k]) max_top = std::max(max_top, x);
    }
    pending_top.clear();
    if (options.progress) options.progress(double(first + count) / double(times.size()));
  };
  const auto advance = [&](CVec& x, double from, double to) {
    if (series) return series->propagate(x, to - from);
    if (options.integrator == MasterIntegrator::rosenbrock) {
      LinearRosenbrock ode(me->assemble(), options.tol);
      ode.integrate(from, x, {to}, [](std::size_t, const CVec&) {});
      const auto& st = ode.statistics();
      ros_total.steps += st.steps, ros_total.rejected += st.rejected, ros_total.factorizations += st.factorizations;
      ros_total.solves += st.solves;
      return;
    }
    Dopri5 ode([m = me.get()](double t, const CVec& v, CVec& dv) { m->derivative(v, dv, t); }, me->size(), options.tol);
    double t = from;
    ode.advance(t, x, to);
    const auto& st = ode.statistics();
    ode_total.steps += st.steps, ode_total.rejected += st.rejected, ode_total.evaluations += st.evaluations;
  };
  // An edge (the outermost sector on either side, the outermost rung of a window) with
  // population p loses at most p x (rate <= the real extent of the spectrum) per unit time: with
  // the edges' populations summing to at most prune_tol / (span x rate), the run discards less
  // than prune_tol. (The trace itself is not the test: its rounding, ~1e-14 per output interval,
  // would grow the support to the whole space.)
  double largest_edge = 0.0, edge_threshold = 0.0;
  const auto threshold = [&] {
    const double rate = std::max({box.real_extent, box.imag_extent, 1.0 / std::max(span, 1e-300)});
    return prune.tol / (std::max(span, 1e-300) * rate);
  };
  // Grows the support until the edges of `state` sum to at most factor x threshold: before the
  // run, and ahead of each interval (factor 0.1), so that an interval is seldom redone.
  const auto settle = [&](CVec& state, double factor) {
    for (int round = 0; round < 12; ++round) {
      double largest = 0.0;
      std::vector<Window> grown = grow(model, *me, state, factor * threshold(), largest);
      if (grown == me->support()) return;
      ++growths;
      const auto old = std::move(me);
      retire();
      build(std::move(grown));
      state = embed(model, *old, state, *me);
    }
  };
  double discarded_bound = 0.0;  // sum over intervals of (edge populations) x rate x tau
  settle(y, 0.1);
  if (!times.empty()) {
    measure(0, y);
    commit(0, 1);
  }
  // Output times in groups (of one, see below); a group whose states reach an edge above the
  // threshold is redone on the grown support from its start.
  const std::size_t group = 1;  // (measured at N = 1000: 8 output times per series save 40% of
                                // the terms but cost more in passes over the states)
  for (std::size_t i = 1; i < times.size();) {
    const std::size_t K = std::min(group, times.size() - i);
    for (int attempt = 0;; ++attempt) {
      CVec next = y;
      edge_threshold = threshold();
      double largest = 0.0;
      std::vector<Window> grown;
      pending_top.clear();
      const auto at = [&](std::size_t k, const CVec& state) {
        double edge = 0.0;
        std::vector<Window> g = grow(model, *me, state, edge_threshold, edge);
        largest = std::max(largest, edge);
        if (grown.empty() && !(g == me->support())) grown = std::move(g);
        measure(i + k, state);
      };
      if (series) {
        std::vector<double> taus;
        for (std::size_t k = 0; k < K; ++k) taus.push_back(times[i + k] - times[i - 1]);
        series->propagate(next, taus, at);
      } else {
        for (std::size_t k = 0; k < K; ++k) {
          advance(next, times[i + k - 1], times[i + k]);
          at(k, next);
        }
      }
      if (grown.empty() || attempt == 12) {
        largest_edge = std::max(largest_edge, largest);
        discarded_bound += prune.tol * (times[i + K - 1] - times[i - 1]) / span * (largest / edge_threshold);
        y.swap(next);
        break;
      }
      ++growths;  // grown where the weight went during the group: redo it
      const auto old = std::move(me);
      retire();
      build(std::move(grown));
      y = embed(model, *old, y, *me);
    }
    commit(i, K);
    i += K;
    settle(y, 0.1);
  }
  retire();

  int kept = 0, first = -1, last = -1;
  Index widest = 0;
  double rungs = 0.0, unpruned = 0.0;
  for (int s = 0; s < model.sector_count(); ++s) {
    unpruned += std::pow(double(model.dim(s)), 2);
    const Window w = me->support()[s];
    if (w.size == 0) continue;
    ++kept, last = s, first = first < 0 ? s : first;
    widest = std::max(widest, w.size);
    rungs += double(w.size);
  }
  if (series || cheb_total.steps > 0) {
    integrator["integrator"] = "chebyshev exponential, output time to output time";
    integrator["chebyshev_terms"] = cheb_total.terms;
    integrator["chebyshev_max_terms"] = cheb_total.max_terms;
    integrator["chebyshev_restarts"] = cheb_total.restarts;
    integrator["spectrum_real_extent"] = box.real_extent;
    integrator["spectrum_imag_extent"] = box.imag_extent;
  } else if (options.integrator == MasterIntegrator::rosenbrock) {
    integrator["integrator"] = "rosenbrock (Rodas3, order 3, L-stable), sparse LU";
    integrator["steps"] = ros_total.steps;
    integrator["rejected_steps"] = ros_total.rejected;
    integrator["factorizations"] = ros_total.factorizations;
    integrator["linear_solves"] = ros_total.solves;
  } else {
    integrator["integrator"] = "dopri5, from output time to output time";
    integrator["steps"] = ode_total.steps;
    integrator["rejected_steps"] = ode_total.rejected;
    integrator["derivative_evaluations"] = ode_total.evaluations;
  }
  const double deficit = 1.0 - me->trace(y);
  out.info = {{"method", "master"},
              {"rtol", options.tol.rtol},
              {"atol", options.tol.atol},
              {"sectors", model.sector_count()},
              {"state_size", me->size()},
              {"max_trace_error", std::abs(deficit)},
              {"solver_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  for (const auto& [k, v] : integrator.items()) out.info[k] = v;
  out.info["pruned"] = {{"prune_tol", prune.tol},
                        {"discarded_weight_bound", discarded_bound},
                        {"trace_deficit", deficit},
                        {"initially_discarded_weight", initial_discarded},
                        {"sectors_kept", kept},
                        {"first_sector_kept", first},
                        {"last_sector_kept", last},
                        {"widest_window", widest},
                        {"mean_window", kept > 0 ? rungs / kept : 0.0},
                        {"largest_state_size", largest_state},
                        {"unpruned_state_size", unpruned},
                        {"growths", growths},
                        {"largest_edge_sum", largest_edge},
                        {"edge_budget", edge_threshold}};
  if (!model.truncated_modes().empty()) out.info["largest_top_rung_population"] = max_top;
  return out;
}

}  // namespace qfluct
