#pragma once
/// The quantum-jump (MCWF) unravelling of a sector model, one trajectory at a time
/// (waiting-time method; docs/trajectories.md describes the algorithm and its tolerances).
///
/// Between jumps the unnormalised state obeys d psi/dt = -i H_eff psi, with
/// H_eff = H - (i/2) Gamma and Gamma = sum_c rate_c sum_b K^+K diagonal. Writing
/// Gamma = c + R with the scalar c = min Gamma over the window, psi = exp(-c t/2) phi and phi
/// evolves under the small generator A = -i H - R/2: the O(N) part of the decay leaves the
/// numerics. phi is advanced by a Taylor series whose terms are also an exact dense output, so
/// the jump time (where ||psi||^2 reaches the drawn r) is found by a bracketed Newton iteration
/// without further operator applications. The jump picks a channel with probability
/// rate_c <W_c>, then a branch (target sector) with probability ||K_b phi||^2.
///
/// Models whose sum_b K^+K is not diagonal (SectorModel::diagonal_channel_weights) take the
/// general path: Gamma stays an operator inside A (c = 0), the channel weights are <phi|W_c|phi>
/// and the branch weights ||K_b phi||^2 come from applying K_b.
///
/// States live on an adaptive ladder window (space/window.hpp). Before each step of length h
/// the window is grown until m rungs at each interior edge hold <= window_tol each, where m is
/// the smallest with ((h ||A||)^m / m!)^2 <= window_tol: what a step can carry m rungs is
/// bounded by the m-th Taylor term, so the truncation stays below window_tol. After jumps,
/// rungs beyond a clear margin two wider than the last step required are trimmed (their population is reported). The largest
/// edge-rung population after any step is reported too. full_sectors carries whole sectors.
///
/// Time-dependent models (H(t) = H + sum_i f_i(t) H_i) are advanced instead with adaptive
/// Dormand-Prince steps on whole sectors, and the jump time is found by re-stepping.
#include "qfluct/core/random.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/model/sector_model.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace qfluct {

struct JumpOptions {
  bool full_sectors = false;  ///< carry whole sectors instead of adaptive windows
  double window_tol = 1e-12;  ///< edge-rung population that triggers window growth
  double taylor_tol = 1e-14;  ///< relative size of the last Taylor term kept
  double jump_tol = 1e-12;    ///< |log ||psi||^2 - log r| at the located jump time
  /// Steps with at most this many Taylor terms locate the jump on the norm polynomial
  /// ||phi(theta)||^2 = sum_k a_k theta^k, whose coefficients come from one pass over the terms'
  /// Gram matrix; longer series (whose Gram matrix costs more than a few Horner passes) use
  /// Newton on the state itself. Both find the same root; this is a cost switch.
  Index polynomial_root_terms = 8;
  double driven_rtol = 1e-9;  ///< time-dependent models: Dormand-Prince tolerances
  double driven_atol = 1e-11;
};

/// Counters of one or many trajectories (mergeable by adding; maxima by max).
struct TrajectoryStatistics {
  long trajectories = 0;
  long jumps = 0;
  std::vector<long> jumps_per_channel;
  long taylor_steps = 0;
  long taylor_terms = 0;
  long root_iterations = 0;
  long window_growths = 0;
  Index max_window = 0;                 ///< largest window carried (rungs)
  double max_edge_population = 0.0;    ///< largest edge-rung population reached within one step
  double max_trimmed_population = 0.0; ///< largest population discarded by one trim
  double max_branch_mismatch = 0.0;    ///< |sum_b ||K_b phi||^2 - <W_c>| / <W_c>, a self-check
  /// Truncated modes (SectorModel::truncated_modes): per mode and output time, the sum over
  /// trajectories of the population in the mode's two highest levels (the ensemble's truncation
  /// measure is this over the trajectory count).
  std::vector<std::vector<double>> top_level_population;

  void merge(const TrajectoryStatistics& other);
};

class JumpUnravelling {
 public:
  /// Observables are recorded at `times` (ascending, first = start time).
  JumpUnravelling(const SectorModel& model, std::vector<double> times, JumpOptions options = {});
  ~JumpUnravelling();
  JumpUnravelling(JumpUnravelling&&) noexcept;

  /// Runs one trajectory with its own random stream; writes raw records
  /// (times.size() x observables.raw_size(), row-major) into `record`.
  void run(Rng& rng, double* record, TrajectoryStatistics& stats);

  const ObservableSet& observables() const { return observables_; }
  Index record_size() const { return Index(times_.size()) * observables_.raw_size(); }

 private:
  struct Generator;  // A on the current window (defined in the .cpp)
  void build_generator();
  struct Margins {
    Index lo, hi;  // rungs at each end of the window holding <= window_tol each (huge at a ladder end)
  };
  /// Clear margins of the current state, whose squared norm is norm2.
  Margins clear_margins(double norm2) const;
  void resize_window(Index add_lo, Index add_hi);
  bool ensure_margin(Index required, TrajectoryStatistics& stats);
  /// Drops rungs beyond a clear margin of `keep`; returns the population dropped.
  double trim_to_margin(Index keep, double norm2);
  double edge_population() const;
  double top_level_population(int mode);
  double taylor_step(double h);  // fills terms_; returns the h actually used
  void evaluate(double theta, CVec& phi) const;
  /// phi(theta) into phi; returns d/dtheta log ||phi(theta)||^2.
  double evaluate_with_derivative(double theta, CVec& phi);
  /// The coefficients a_k of ||phi(theta)||^2 = sum_k a_k theta^k from the Taylor terms.
  void norm_polynomial();
  /// ||phi(theta)||^2 and its theta-derivative from those coefficients.
  std::pair<double, double> norm_squared(double theta) const;
  /// The jump's theta in (0, 1): the root of f0 - c h theta + log ||phi(theta)||^2, bracketed
  /// by f(0) = f0 > 0 and f(1) = f1 < 0; on the state (vector) or its norm polynomial.
  double locate_jump(double f0, double f1, double ch, bool polynomial, TrajectoryStatistics& stats);
  void jump(Rng& rng, TrajectoryStatistics& stats);
  void run_driven(Rng& rng, TrajectoryStatistics& stats, double log_r, const std::function<void(std::size_t)>& measure);

  const SectorModel& model_;
  ObservableSet observables_;
  std::vector<double> times_;
  JumpOptions options_;

  // Trajectory state.
  SectorState state_;        // phi (normalised after every step) on its window
  double log_scale_ = 0.0;   // log ||psi||^2 = log_scale_ + log ||phi||^2
  // Work space reused across trajectories.
  std::unique_ptr<Generator> gen_;
  std::vector<CVec> terms_;  // Taylor terms w_n = (h A)^n phi / n!
  Index n_terms_ = 0;
  std::vector<double> term_norm2_;  // ||w_n||^2
  std::vector<double> poly_;        // a_k of the norm polynomial
  CVec scratch_, scratch2_, dphi_;  // dphi_: d phi / d theta in the vector Newton
  RVec population_, weight_;
  std::vector<double> channel_p_, branch_p_;
  Operator kraus_;
  std::unique_ptr<class Dopri5> ode_;  // driven models only
  Index last_margin_ = 2;  // margin the last step required
};

}  // namespace qfluct
