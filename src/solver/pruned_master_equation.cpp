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
#include <limits>
#include <cmath>
#include <memory>

namespace qfluct {

namespace {

/// w moved inside a ladder of length L (kept whole when it fits).
Window fit(Window w, Index L) {
  const Index size = std::min(w.size, L);
  return {std::clamp<Index>(w.begin, 0, L - size), size};
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

/// The edges of a support: the rungs from which the generator leads out of it, whose
/// populations bound the rate at which weight is lost. Sectors just inside either end of the
/// kept range (sector -1: the low end, -2: the high end: the whole sector); the outermost rung
/// on either side (0 low, 1 high) of every window short of its ladder (the Hamiltonian and
/// same-sector Kraus terms move one rung); and, for every pair of neighbouring sectors, the rungs
/// of s [first, first + count) that a Kraus term maps below (side 0) or above (side 1) the window
/// of `target` (weight fed from a neighbour's bulk into rungs its window misses would otherwise
/// leave unseen). Their populations decide where the support grows.
struct Edge {
  int sector;
  int side;
  int target = -1;  ///< >= 0: a Kraus edge from `sector` into `target`
  Index first = 0, count = 0;
};

/// The ladder shifts k' - k of the Kraus terms from sector s to s + 1 (up = true) or s - 1:
/// [lowest, highest], or empty (lowest > highest) when none.
std::pair<Index, Index> kraus_shifts(const SectorModel& model, bool up) {
  Index lo = std::numeric_limits<Index>::max(), hi = std::numeric_limits<Index>::min();
  for (const Channel& c : model.channels())
    for (Index b = 0; b < c.branches(); ++b)
      if (c.sector_shift[std::size_t(b)] == (up ? 1 : -1))
        lo = std::min(lo, c.ladder_shift[std::size_t(b)]), hi = std::max(hi, c.ladder_shift[std::size_t(b)]);
  return {lo, hi};
}

std::vector<Edge> edges_of(const SectorModel& model, const std::vector<Window>& w, int& lo, int& hi) {
  const int S = model.sector_count();
  lo = S, hi = -1;
  for (int s = 0; s < S; ++s)
    if (w[s].size > 0) lo = std::min(lo, s), hi = std::max(hi, s);
  std::vector<Edge> edges;
  if (lo > 0) edges.push_back({-1, 0});
  if (hi < S - 1) edges.push_back({-2, 0});
  const std::pair<Index, Index> shifts[2] = {kraus_shifts(model, false), kraus_shifts(model, true)};
  for (int s = lo; s <= hi; ++s) {
    if (w[s].size == 0) continue;
    if (w[s].begin > 0) edges.push_back({s, 0});
    if (w[s].end() < model.ladder_size(s)) edges.push_back({s, 1});
    for (const int up : {0, 1}) {
      const int t = s + (up ? 1 : -1);
      const auto [low, high] = shifts[up];
      if (t < lo || t > hi || w[t].size == 0 || low > high) continue;
      // Rungs k of s with k + low below the window of t (and k + low a rung of t), and with
      // k + high above it (below t's ladder end).
      const Index below = std::min(w[s].end(), w[t].begin - low) - w[s].begin;
      if (w[t].begin > 0 && below > 0) edges.push_back({s, 0, t, w[s].begin, below});
      const Index from = std::max(w[s].begin, w[t].end() - high);
      if (w[t].end() < model.ladder_size(t) && from < w[s].end()) edges.push_back({s, 1, t, from, w[s].end() - from});
    }
  }
  return edges;
}

/// The support grown at its edges while the populations of the edges left sum to more than a
/// quarter of `budget` (largest first; none when they sum to `budget` or less): sector range ends
/// by 2 + 1/8 of the range, window ends by 2 + 1/4 of the window, a window missing a neighbour's
/// Kraus images to cover them plus that margin. `total` receives the sum of the edge populations
/// `weight` (in the order of edges_of).
std::vector<Window> grow(const SectorModel& model, std::vector<Window> w, const double* weight, double budget,
                         double& total) {
  int lo = 0, hi = 0;
  const std::vector<Edge> edges = edges_of(model, w, lo, hi);
  total = 0.0;
  for (std::size_t e = 0; e < edges.size(); ++e) total += weight[e];
  if (total <= budget) return w;
  std::vector<std::size_t> order(edges.size());
  for (std::size_t e = 0; e < order.size(); ++e) order[e] = e;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return weight[x] > weight[y]; });
  const int margin = 2 + (hi - lo + 1) / 8;
  double left = total;
  for (const std::size_t i : order) {
    if (left <= 0.25 * budget) break;
    left -= weight[i];
    const Edge& e = edges[i];
    if (e.sector == -1)
      for (int s = std::max(0, lo - margin); s < lo; ++s) w[s] = fit(w[lo], model.ladder_size(s));
    else if (e.sector == -2)
      for (int s = hi + 1; s <= std::min(model.sector_count() - 1, hi + margin); ++s) w[s] = fit(w[hi], model.ladder_size(s));
    else if (e.target >= 0) {
      Window& x = w[e.target];
      const auto [low, high] = kraus_shifts(model, e.target > e.sector);
      const Index m = 2 + x.size / 4, L = model.ladder_size(e.target);
      const Index b = e.side == 0 ? std::max<Index>(0, e.first + low - m) : x.begin;
      const Index end = e.side == 1 ? std::min(L, e.first + e.count + high + m) : x.end();
      x = {std::min(b, x.begin), std::max(end, x.end()) - std::min(b, x.begin)};
    } else {
      Window& x = w[e.sector];
      const Index m = 2 + x.size / 4, L = model.ladder_size(e.sector);
      x = e.side == 0 ? Window{std::max<Index>(0, x.begin - m), x.end() - std::max<Index>(0, x.begin - m)}
                      : Window{x.begin, std::min(L, x.end() + m) - x.begin};
    }
  }
  return w;
}

/// Rung populations of a state, per sector over its window (the last trim's, to tell a tail that
/// recedes from one that grows).
struct Populations {
  std::vector<Window> support;
  std::vector<std::vector<double>> rungs;  ///< rungs[s][k - support[s].begin]
  /// The population of rung k of sector s, or -1 where it was not kept (a rung the support grew
  /// into since: the state is spreading there).
  double at(int s, Index k) const {
    if (support.empty() || !support[std::size_t(s)].contains(k)) return -1.0;
    return rungs[std::size_t(s)][std::size_t(k - support[std::size_t(s)].begin)];
  }
  double total(int s) const {
    if (support.empty() || support[std::size_t(s)].size == 0) return -1.0;
    double t = 0.0;
    for (const double p : rungs[std::size_t(s)]) t += p;
    return t;
  }
};

/// The support trimmed where y has left it: from either end of every window, the rungs whose
/// populations, with that of the rung that becomes the end, sum to at most `allowance`; sectors at
/// either end of the kept range likewise by their whole populations. Every end left then holds at
/// most `allowance`, and at most `allowance` per end is cut (added to `trimmed`). The support
/// only grows as the state spreads; trimming follows a state that moves (a bath relaxing from the
/// equator to a pole crosses O(N) rungs of O(N) sectors, but holds O(sqrt N) of each at any time).
/// What the state is moving into is left alone: compared with `last` (the previous trim's
/// populations, replaced by y's), an end sector, or a rung of a sector whose population has at
/// least doubled, is cut only if its population grown once more by the same factor would still be
/// within `allowance` (cut otherwise, such tails are grown back within the next group: at N = 320
/// the support swung between 5 and 8 million unknowns every group). Rungs of sectors that are not
/// filling are cut on their populations alone: tails that grow towards a steady value (the Fig. 2
/// point's first trim) would otherwise be kept for the whole run.
std::vector<Window> trim(const SectorModel& model, const BlockMasterEquation& me, const CVec& y, double allowance,
                         double& trimmed, Populations& last) {
  const int S = model.sector_count();
  const Index d = model.system_dim();
  std::vector<Window> w = me.support();
  const auto blocks = me.blocks(y);
  Populations now{w, std::vector<std::vector<double>>(std::size_t(S))};
  std::vector<double> total(std::size_t(S), 0.0);
  int lo = S, hi = -1;
  for (int s = 0; s < S; ++s) {
    if (w[s].size == 0) continue;
    lo = std::min(lo, s), hi = std::max(hi, s);
    auto& p = now.rungs[std::size_t(s)];
    p.assign(std::size_t(w[s].size), 0.0);
    // Populations are read as |Re rho_kk|: rounding leaves tiny negative ones in the tails.
    for (Index c = 0; c < d; ++c)
      for (Index k = 0; k < w[s].size; ++k) p[std::size_t(k)] += std::abs(blocks[s](c * w[s].size + k, c * w[s].size + k).real());
    for (const double x : p) total[std::size_t(s)] += x;
  }
  if (hi < 0) return w;
  const auto pop = [&](int s, Index k) { return now.rungs[std::size_t(s)][std::size_t(k)]; };
  // The population expected after the next group, extrapolated from its change over the last
  // (infinite where the rung was not kept then: the state has just spread there).
  const auto ahead = [&](double p, double before) {
    if (p == 0.0) return 0.0;
    if (before <= 0.0) return std::numeric_limits<double>::infinity();
    const double f = std::max(1.0, p / before);
    return p * f;
  };
  const bool first = last.support.empty();
  // A sector the state is moving into (its population at least doubled since the last trim)
  // keeps the rungs of its window that are growing too.
  const auto filling = [&](int s) { return !first && !(total[std::size_t(s)] <= 2.0 * last.total(s)); };
  const auto receding = [&](int s, Index k) {
    return !filling(s) || ahead(pop(s, k), last.at(s, w[s].begin + k)) <= allowance;
  };
  const auto sector_receding = [&](int s) { return first || ahead(total[std::size_t(s)], last.total(s)) <= allowance; };
  double cut = 0.0;
  while (lo < hi && sector_receding(lo) && cut + total[std::size_t(lo)] + total[std::size_t(lo) + 1] <= allowance)
    cut += total[std::size_t(lo)], w[lo++] = {0, 0};
  trimmed += cut, cut = 0.0;
  while (hi > lo && sector_receding(hi) && cut + total[std::size_t(hi)] + total[std::size_t(hi) - 1] <= allowance)
    cut += total[std::size_t(hi)], w[hi--] = {0, 0};
  trimmed += cut;
  for (int s = lo; s <= hi; ++s) {
    if (w[s].size == 0) continue;
    Index b = 0, e = w[s].size;  // rungs [b, e) of the window kept
    double low = 0.0, high = 0.0;
    while (e - b > 1 && receding(s, b) && low + pop(s, b) + pop(s, b + 1) <= allowance) low += pop(s, b++);
    while (e - b > 1 && receding(s, e - 1) && high + pop(s, e - 1) + pop(s, e - 2) <= allowance) high += pop(s, --e);
    trimmed += low + high;
    w[s] = {w[s].begin + b, e - b};
  }
  last = std::move(now);
  // A Kraus term feeds sector s from the rungs of its neighbours at most two rungs (k = j + m)
  // away: each window also covers its neighbours' trimmed windows widened by two, so that weight
  // fed from a neighbour's bulk lands inside (where its ends are watched), not outside unseen.
  std::vector<Window> out = w;
  for (int s = lo; s <= hi; ++s)
    for (const int n : {s - 1, s + 1}) {
      if (n < lo || n > hi) continue;
      const Index L = model.ladder_size(s);
      const Index b = std::clamp<Index>(w[n].begin - 2, 0, L), e = std::clamp<Index>(w[n].end() + 2, 0, L);
      if (e <= b) continue;
      const Index nb = std::min(out[s].begin, b), ne = std::max(out[s].end(), e);
      out[s] = {nb, ne - nb};
    }
  return out;
}

/// What the run reads off a state on one support, as complex-linear functionals of the packed
/// blocks: the raw observable record (without its c-numbers), the populations of the truncated
/// modes' top levels, and the edge populations (edges_of). Linear, so a Chebyshev series can
/// apply it to its terms and have every output time of a long series without forming the states.
/// Evaluated sector by sector in parallel, each sector's sums in a fixed order and the sectors
/// added in order: the values do not depend on the thread count.
class Readout {
 public:
  Readout(const SectorModel& model, const ObservableSet& observables, const BlockMasterEquation& me)
      : raw_(observables.raw_size()), top_(Index(model.truncated_modes().size())) {
    const Index d = model.system_dim();
    const auto& w = me.support();
    int lo = 0, hi = 0;
    const std::vector<Edge> edges = edges_of(model, w, lo, hi);
    edges_ = Index(edges.size());
    std::vector<std::vector<Entry>> per(std::size_t(model.sector_count()));
    const auto at = [&](int s, Index i, Index j) { return me.block_offsets()[s] + i + j * d * w[s].size; };
    for (int s = 0; s < model.sector_count(); ++s) {
      if (w[s].size == 0) continue;
      for (const auto& x : observables.linear_weights(s, w[s])) per[s].push_back({at(s, x.row, x.col), x.value, x.raw});
      RVec weight;
      for (Index m = 0; m < top_; ++m) {
        model.fill_truncation_weight(int(m), s, w[s], weight);
        for (Index i = 0; i < weight.size(); ++i)
          if (weight(i) != 0.0) per[s].push_back({at(s, i, i), weight(i), raw_ + m});
      }
    }
    const auto population = [&](std::size_t e, int s, Index first, Index count) {  // rungs first.. of sector s
      for (Index c = 0; c < d; ++c)
        for (Index k = first; k < first + count; ++k) {
          const Index i = c * w[s].size + k;
          per[s].push_back({at(s, i, i), 1.0, raw_ + top_ + Index(e)});
        }
    };
    for (std::size_t e = 0; e < edges.size(); ++e) {
      const int s = edges[e].sector == -1 ? lo : edges[e].sector == -2 ? hi : edges[e].sector;
      if (edges[e].sector < 0)
        population(e, s, 0, w[s].size);
      else if (edges[e].target >= 0)
        population(e, s, edges[e].first - w[s].begin, edges[e].count);
      else
        population(e, s, edges[e].side == 0 ? 0 : w[s].size - 1, 1);
    }
    for (int s = 0; s < model.sector_count(); ++s) {
      of_sector_.push_back(Index(entries_.size()));
      entries_.insert(entries_.end(), per[s].begin(), per[s].end());
    }
    of_sector_.push_back(Index(entries_.size()));
  }
  /// Rows shared by the sectors (raw record and top populations).
  Index shared() const { return raw_ + top_; }
  /// Sector s's share (ChebyshevExponential::Blockwise::part): its shared rows written to
  /// `shared`, its edge rows added to `values`.
  void part(int s, const CVec& y, cplx* shared, cplx* values) const {
    std::fill(shared, shared + raw_ + top_, cplx(0.0));
    const cplx* x = y.data();
    for (Index e = of_sector_[std::size_t(s)]; e < of_sector_[std::size_t(s) + 1]; ++e) {
      const Entry& t = entries_[std::size_t(e)];
      (t.row < raw_ + top_ ? shared[t.row] : values[t.row]) += t.weight * x[t.at];
    }
  }
  /// raw record, top populations, edge populations
  Index size() const { return raw_ + top_ + edges_; }
  Index raw() const { return raw_; }
  Index top() const { return top_; }
  void operator()(const CVec& y, cplx* values) const {
    const Index shared = raw_ + top_, count = Index(of_sector_.size()) - 1;
    partial_.resize(std::size_t(count * shared));
    std::fill(values, values + size(), cplx(0.0));
#pragma omp parallel for schedule(static) if (count > 16)
    for (Index s = 0; s < count; ++s) part(int(s), y, partial_.data() + s * shared, values);
    for (Index s = 0; s < count; ++s)
      for (Index r = 0; r < shared; ++r) values[r] += partial_[std::size_t(s * shared + r)];
  }


 private:
  struct Entry {
    Index at;
    cplx weight;
    Index row;
  };
  Index raw_, top_, edges_ = 0;
  std::vector<Entry> entries_;
  std::vector<Index> of_sector_;  // entries_ of sector s: [of_sector_[s], of_sector_[s + 1])
  mutable std::vector<cplx> partial_;
};

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
  std::unique_ptr<Readout> readout;
  SpectrumBox box;
  double box_size = 0.0;
  long growths = 0, largest_state = 0;
  nlohmann::json integrator;
  ChebyshevStatistics cheb_total;
  OdeStatistics ode_total;
  RosenbrockStatistics ros_total;
  const auto unknowns_of = [&](const std::vector<Window>& w) {
    double unknowns = 0.0;
    for (int s = 0; s < model.sector_count(); ++s) unknowns += std::pow(double(model.system_dim() * w[s].size), 2);
    return unknowns;
  };
  const auto build = [&](std::vector<Window> w) {
    if (prune.check_memory) prune.check_memory(pruned_master_bytes(unknowns_of(w)));
    series.reset();
    me = std::make_unique<BlockMasterEquation>(model, std::move(w));
    readout = std::make_unique<Readout>(model, observables, *me);
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
      // The recurrence and the readout of each new block while it is in cache.
      series->set_blockwise({model.sector_count(), readout->shared(),
                             [m = me.get()](const CVec& x, CVec& dx, bool general, const auto& then) {
                               m->derivative_blockwise(x, dx, general, then);
                             },
                             [r = readout.get()](int s, const CVec& x, cplx* shared, cplx* values) {
                               r->part(s, x, shared, values);
                             }});
    }
  };
  const auto retire = [&] {  // keep the statistics (and any enlarged box) of a series about to be replaced
    if (!series) return;
    box = series->box();
    const auto& st = series->statistics();
    cheb_total.steps += st.steps, cheb_total.terms += st.terms, cheb_total.restarts += st.restarts;
    cheb_total.max_terms = std::max(cheb_total.max_terms, st.max_terms);
  };
  // The run carried on to support w: a new equation and readout, `state` copied onto it.
  const auto move_to = [&](std::vector<Window> w, CVec& state) {
    const auto old = std::move(me);
    retire();
    build(std::move(w));
    state = embed(model, *old, state, *me);
  };
  build(support);
  CVec y = me->initial_state();
  // What the initial support leaves out (populations below 1e-3 prune_tol, plus margins: far
  // less than prune_tol) and the rounding of the closed forms, whose logarithms of binomials are
  // O(N) (a relative 1e-10 at N = 1e5). The state is normalised: the rounding then costs nothing,
  // and the weight left out moves an observable by at most that weight times its size.
  const double initial_discarded = 1.0 - me->trace(y);
  y /= me->trace(y);
  std::vector<double> raw(observables.raw_size()), col(observables.column_count());
  double max_top = 0.0;
  // The top-level populations at output times, kept aside until the series they come from is
  // accepted (commit), so that a redone series leaves no trace.
  std::vector<std::vector<double>> pending_top;
  CMat values;  // the readout at output times: a row per time
  // The edge populations in a readout v (its last rows).
  const auto edge_populations = [&](const cplx* v) {
    std::vector<double> p(std::size_t(readout->size() - readout->shared()));
    for (std::size_t e = 0; e < p.size(); ++e) p[e] = std::abs(v[readout->shared() + Index(e)]);
    return p;
  };
  // Columns, top populations and edge sum of the readout v at output time i; the support grown
  // past edges above `budget` is merged into `grown` (empty: none grown yet).
  const auto record = [&](std::size_t i, const cplx* v, double budget, double& edge, std::vector<Window>& grown) {
    observables.c_numbers(times[i], raw.data());
    for (Index r = 0; r < readout->raw(); ++r) raw[std::size_t(r)] += v[r].real();
    observables.derive(raw.data(), col.data());
    for (Index c = 0; c < observables.column_count(); ++c) out.values(Index(i), c) = col[c];
    std::vector<double> top(std::size_t(readout->top()));
    for (Index m = 0; m < readout->top(); ++m) top[std::size_t(m)] = v[readout->raw() + m].real();
    pending_top.push_back(std::move(top));
    std::vector<Window> g = grow(model, me->support(), edge_populations(v).data(), budget, edge);
    if (g == me->support()) return;
    if (grown.empty()) grown = me->support();
    for (std::size_t s = 0; s < g.size(); ++s)  // the union of the supports grown at each time
      if (g[s].size > 0 && grown[s].size == 0)
        grown[s] = g[s];
      else if (g[s].size > 0) {
        const Index b = std::min(g[s].begin, grown[s].begin), e = std::max(g[s].end(), grown[s].end());
        grown[s] = {b, e - b};
      }
  };
  const auto read = [&](const CVec& state) {
    values.resize(1, readout->size());
    (*readout)(state, values.data());
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
  // run, and ahead of each group of output times (factor 0.1), so that a group is seldom redone.
  const auto settle = [&](CVec& state, double factor) {
    for (int round = 0; round < 12; ++round) {
      read(state);
      double sum = 0.0;
      std::vector<Window> grown = grow(model, me->support(), edge_populations(values.data()).data(), factor * threshold(), sum);
      if (grown == me->support()) return round > 0;
      ++growths;
      move_to(std::move(grown), state);
    }
    return true;
  };
  double discarded_bound = 0.0;  // sum over groups of (edge populations) x rate x tau, plus what trims cut
  double trimmed = 0.0;
  long trims = 0;
  // Follows a state that moves: cuts from every end what the state has left, at most a
  // hundredth of the growth threshold over all ends (so the ends left are far below the
  // threshold that would grow them back), when that sheds a fifth of the unknowns or more.
  Populations last_populations;
  const auto shrink = [&](CVec& state) {
    long ends = 2;
    for (const Window& w : me->support()) ends += w.size > 0 ? 2 : 0;
    double cut = 0.0;
    std::vector<Window> kept = trim(model, *me, state, 0.01 * threshold() / double(ends), cut, last_populations);
    if (unknowns_of(kept) > 0.8 * double(me->size())) return false;
    trimmed += cut, discarded_bound += cut;
    ++trims;
    move_to(std::move(kept), state);
    return true;
  };
  settle(y, 0.1);
  if (prune.shrink) {  // the initial populations, for the first trim to compare with
    double none = 0.0;
    trim(model, *me, y, -1.0, none, last_populations);
  }
  if (!times.empty()) {
    read(y);
    double edge = 0.0;
    std::vector<Window> unused;
    record(0, values.data(), std::numeric_limits<double>::infinity(), edge, unused);
    commit(0, 1);
  }
  // Output times in groups; a group whose states reach an edge above the threshold is redone on
  // the grown support from its start. With the Chebyshev series a group is one series (or a few,
  // within its reach) read at every output time through the readout, so longer groups cost fewer
  // terms: the group grows fourfold after each group (after a move of the support only while
  // its edges stayed below a quarter of the threshold), and a group redone twice is halved (a
  // redone group costs its terms again).
  std::size_t group = series ? 4 : 1;
  double terms_per_time = 0.0;
  bool moved = false, moved_before = false, quiet = false;
  const double cap_terms = 200.0, quiet_edge = 0.25;
  for (std::size_t i = 1; i < times.size();) {
    for (int attempt = 0;; ++attempt) {
      const std::size_t K = std::min(group, times.size() - i);
      CVec next = y;
      edge_threshold = threshold();
      double largest = 0.0;
      std::vector<Window> grown;
      pending_top.clear();
      const long terms_before = series ? long(series->statistics().terms) : 0L;
      if (series) {
        std::vector<double> taus;
        for (std::size_t k = 0; k < K; ++k) taus.push_back(times[i + k] - times[i - 1]);
        series->propagate(next, taus, [&r = *readout](const CVec& x, cplx* v) { r(x, v); }, readout->size(), values);
        for (std::size_t k = 0; k < K; ++k) {
          double edge = 0.0;
          const CVec v = values.row(Index(k)).transpose();  // (values is column-major)
          record(i + k, v.data(), edge_threshold, edge, grown);
          largest = std::max(largest, edge);
        }
      } else {
        for (std::size_t k = 0; k < K; ++k) {
          advance(next, times[i + k - 1], times[i + k]);
          read(next);
          double edge = 0.0;
          record(i + k, values.data(), edge_threshold, edge, grown);
          largest = std::max(largest, edge);
        }
      }
      if (grown.empty() || attempt == 12) {
        largest_edge = std::max(largest_edge, largest);
        discarded_bound += prune.tol * (times[i + K - 1] - times[i - 1]) / span * (largest / edge_threshold);
        y.swap(next);
        commit(i, K);
        i += K;
        if (series) terms_per_time = double(series->statistics().terms - terms_before) / (times[i - 1] - times[i - K - 1]);
        moved_before = moved;
        moved = attempt > 0;
        quiet = grown.empty() && attempt == 0 && largest < quiet_edge * edge_threshold;
        break;
      }
      ++growths;  // grown where the weight went during the group: redo it (shorter if redone before)
      if (attempt > 0) group = std::max<std::size_t>(1, group / 2);
      move_to(std::move(grown), y);
    }
    if (prune.shrink) moved = shrink(y) || moved;
    moved = settle(y, 0.1) || moved;
    // Groups grow fourfold after each group, but where the support has just moved only while
    // the edges stay well below the threshold (a state that spreads or moves would reach it
    // within a group four times as long).
    if (series && (quiet || !(moved || moved_before))) group = std::min<std::size_t>(4 * group, times.size());
    // While the support keeps moving (grown, redone or trimmed after two groups in a row), a
    // group is held to ~cap_terms series terms (a few hundred: the series' start-up costs ~20
    // terms), so that the support carries the state over a short stretch, not over all it
    // crosses in a long group. (A single move, as at the Fig. 2 point, keeps long groups: there
    // the series' terms grow like sqrt(tau).)
    if (series && moved && moved_before && i < times.size())
      while (group > 1 && terms_per_time * (times[std::min(times.size() - 1, i - 1 + group)] - times[i - 1]) > cap_terms)
        --group;
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
    integrator["integrator"] = "chebyshev exponential, one series for a group of output times (read through linear functionals)";
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
                        {"trims", trims},
                        {"trimmed_weight", trimmed},
                        {"largest_edge_sum", largest_edge},
                        {"edge_budget", edge_threshold}};
  if (!model.truncated_modes().empty()) out.info["largest_top_rung_population"] = max_top;
  return out;
}

}  // namespace qfluct
