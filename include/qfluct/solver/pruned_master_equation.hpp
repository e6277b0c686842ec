#pragma once
/// The pruned (windowed) block master equation: the block master equation carried only on the
/// sectors and ladder rungs where rho has weight (docs/theory.md, "The pruned master equation").
///
/// At the Fig. 2 point of Carollo 2023 the bath occupies a band of O(sqrt N) sectors around
/// j ~ N/3, and inside each sector the bottom O(1) rungs k = j + m: the support is O(sqrt N)
/// blocks of O(1) size instead of N/2 blocks of size up to 2(N + 1). The support starts from the
/// initial density (sectors and rungs with population >= 1e-3 prune_tol, plus margins) and grows
/// during the run: the weight a Kraus term carries out of the support is lost (the trace falls by
/// exactly that much), at a rate of at most the edges' populations times |lambda|_max (edges: the
/// end sectors, the outermost rungs of windows, and the rungs a Kraus term maps outside a
/// neighbouring sector's window). An output
/// interval whose end state has edges summing to more than prune_tol / (span |lambda|_max) is
/// redone on a support grown at its most populated edges, and the support is grown ahead at a
/// tenth of that. So the discarded weight stays below prune_tol (the bound is reported), and the
/// observables are those of the unpruned equation to about prune_tol times their size. After
/// each group of output times the support is trimmed where the state has left it (ends holding
/// far below the growth budget; PruneOptions::shrink), so that a state that moves (a bath
/// relaxing from the equator to a pole) is carried on where it is, not on everywhere it was;
/// tails the state is moving into (growing since the last trim) are kept, and while the support
/// moves a group of output times is held to about 200 series terms.
///
/// Integrated with the Chebyshev exponential for time-independent models (the dissipator's rates
/// grow like N: its terms grow like sqrt(N tau) over a time tau), or with the integrator asked for.
/// With the series, a group of output times shares one series: the observables, the top-level
/// populations and the edge populations are linear in the state, so they are read off every term
/// of the series (a Readout: ObservableSet::linear_weights plus the edges) and summed with each
/// time's coefficients, without forming the states in between; a group of K intervals costs
/// ~sqrt(K) times fewer terms than a series per interval. Groups grow fourfold while the support
/// holds; one that needed growth is redone on the union of the supports its times asked for.
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/time_series.hpp"

#include <functional>
#include <vector>

namespace qfluct {

struct PruneOptions {
  /// The weight that may be discarded over the run, in (0, 1e-3).
  double tol = 1e-12;
  /// Called with the bytes a support needs before it is built; may throw (too large).
  std::function<void(double bytes)> check_memory;
  /// Whether the support is also trimmed where the state has left it (after each group of
  /// output times), or only grows.
  bool shrink = true;
};

/// Bytes the pruned master equation needs for `unknowns` complex numbers in its state (the
/// Chebyshev series keeps about 9 copies, Dormand-Prince about 10, and one for the restart).
double pruned_master_bytes(double unknowns);

/// The initial support: per sector, the rungs holding population >= threshold, with margins of
/// 2 + 1/8 of the sector range and 2 + 1/4 of each window; sectors outside get size 0.
std::vector<Window> initial_support(const SectorModel& model, double threshold);

/// Solves the master equation of `model` on a pruned, growing support and reports the
/// observables at `times`. info: the unpruned solve's keys, plus "pruned" (prune_tol, sectors
/// and rungs kept, state size against the unpruned one, discarded weight, growths, trims and
/// the weight they cut).
TimeSeries solve_pruned(const SectorModel& model, const std::vector<double>& times, const MasterOptions& options,
                        const PruneOptions& prune);

}  // namespace qfluct
