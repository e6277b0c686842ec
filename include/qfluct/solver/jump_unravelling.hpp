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
/// the window is grown until a bound on the amplitude the step can carry past each interior edge
/// (the Dyson series of A's hopping part, from the actual rung amplitudes) is <= sqrt(window_tol)
/// / 10 and the edge rung holds <= window_tol. After jumps, edge rungs of population <=
/// window_tol each that the bound does not need (with 2 rungs of headroom) are trimmed (their
/// population is reported); docs/trajectories.md, section 6. The largest
/// edge-rung population after any step is reported too. full_sectors carries whole sectors.
///
/// Time-dependent models (H(t) = H + sum_i f_i(t) H_i) are advanced instead with adaptive
/// Dormand-Prince steps on whole sectors, and the jump time is found by re-stepping.
///
/// Homodyne channels (JumpOptions::homodyne; docs/unravellings.md). A channel whose branches all
/// stay in their sector may be unravelled by homodyne detection (efficiency 1) instead of jumps:
/// each branch b is one measured output L_b = sqrt(rate) e^{-i phase} K_b with its own Wiener
/// process, and the state obeys the normalised stochastic Schrodinger equation
///   d psi = [-i H - (1/2) sum_J (L_J^+L_J - <L_J^+L_J>)] psi dt            (jump channels J)
///         + sum_b [-(1/2)(L_b^+L_b - x_b L_b + x_b^2/4) dt + (L_b - x_b/2) dW_b] psi,
/// x_b = <L_b + L_b^+>, between the jumps of the other channels, whose waiting times are drawn as
/// above. The homodyne current is I_b dt = x_b dt + dW_b. Each step of length h <= dt_sde is
/// split (Lie): the linear jump-channel part exp(h A) by the Taylor propagator with its exact
/// jump location, then the diffusive part by the Milstein scheme with the iterated Ito integrals
/// of solver/wiener_increments.hpp (the noise terms of different outputs do not commute). Both
/// parts are of strong order 1, and the splitting error, h dW [A, L] and its kind, is of the
/// order Milstein itself neglects, so the scheme has strong order 1 and weak order 1 (measured:
/// tests/solver/homodyne_order.test.cpp).
#include "qfluct/core/random.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/wiener_increments.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace qfluct {

/// A channel unravelled by homodyne detection (efficiency 1) instead of quantum jumps.
struct HomodyneChannel {
  int channel = 0;     ///< index into SectorModel::channels(); every branch must keep its sector
  double phase = 0.0;  ///< local-oscillator phase phi (radians): L_b = sqrt(rate) e^{-i phi} K_b
};

struct JumpOptions {
  bool full_sectors = false;  ///< carry whole sectors instead of adaptive windows
  double window_tol = 1e-12;  ///< edge-rung population that triggers window growth
  double taylor_tol = 1e-14;  ///< relative size of the last Taylor term kept
  double jump_tol = 1e-12;    ///< |log ||psi||^2 - log r| at the located jump time
  /// Steps with at most this many Taylor terms locate the jump on the norm polynomial
  /// ||phi(theta)||^2 = sum_k a_k theta^k, whose coefficients come from one pass over the terms'
  /// Gram matrix; longer series (whose Gram matrix costs more than a few Horner passes) use
  /// Newton on the state itself. Both find the same root; this is a cost switch.
  Index polynomial_root_terms = 12;
  double driven_rtol = 1e-9;  ///< time-dependent models: Dormand-Prince tolerances
  double driven_atol = 1e-11;
  /// Homodyne channels (empty: every channel jumps) and the longest step of the stochastic
  /// part (time units of the model's rates).
  std::vector<HomodyneChannel> homodyne;
  double dt_sde = 1e-3;
  /// Draw the Levy areas of non-commuting noises (strong order 1); false keeps only the
  /// symmetric part of the iterated integrals (strong order 1/2, weak order 1, cheaper).
  bool levy_areas = true;
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
  long sde_steps = 0;                   ///< steps of the homodyne (diffusive) part
  int max_levy_area_terms = 0;          ///< largest Fourier terms drawn for the Levy areas
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
  /// (times.size() x observables.raw_size(), row-major) into `record`. With `measurement`
  /// (times.size() x measurement_names().size(), row-major), also the trajectory's measurement
  /// record at each output time: the integrated homodyne current Y_b(t) = int_{t0}^t I_b dt of
  /// each homodyne output, then the number of jumps so far of each jump channel.
  void run(Rng& rng, double* record, TrajectoryStatistics& stats, double* measurement = nullptr);

  const ObservableSet& observables() const { return observables_; }
  Index record_size() const { return Index(times_.size()) * observables_.raw_size(); }
  /// The homodyne outputs (channel name, or name_b for a channel of several branches b)...
  const std::vector<std::string>& homodyne_names() const { return homodyne_names_; }
  /// ... and the channels that jump, in channels() order.
  const std::vector<std::string>& jump_channel_names() const { return jump_names_; }
  Index measurement_width() const { return Index(homodyne_names_.size() + jump_names_.size()); }

  /// Replaces the random Wiener increments by `source(t, h, step)`, which fills `step` for the
  /// step [t, t + h] (tests of strong convergence drive a trajectory along a given path).
  void set_noise_source(std::function<void(double t, double h, WienerStep& step)> source) {
    noise_source_ = std::move(source);
  }

 private:
  struct Generator;  // A on the current window (defined in the .cpp)
  /// Points gen_ at the generator of the current (sector, window): from the cache when it holds
  /// it, else built into the least recently used slot. A generator is a function of the sector
  /// and window alone, so a cached one is the one a rebuild would give, bit for bit.
  void select_generator();
  void build_generator(Generator& g);
  void resize_window(Index add_lo, Index add_hi);
  /// A bound on the amplitude a step of the current reach (set_reach) carries past one edge of
  /// the window (hi: the upper edge), leaving out `cut` rungs at that edge (negative: with
  /// -cut rungs added), every distance shortened by reach_shift rungs; norm2 = ||phi||^2.
  double leak_bound(bool hi, Index cut, Index reach_shift, double norm2) const;
  /// The reach of the next step, x = h ||B|| (B: A's hopping part): the Dyson tails of the bound.
  void set_reach(double x);
  /// Grows the window until the leak bound at each interior edge is <= sqrt(window_tol).
  bool ensure_window(TrajectoryStatistics& stats);
  /// Drops edge rungs of population <= window_tol each that the bound does not need; returns
  /// the population dropped.
  double trim_window(double norm2);
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
  /// The diffusive part over [t, t + h] on the normalised state_.psi (Milstein).
  void homodyne_step(double t, double h, Rng& rng, TrajectoryStatistics& stats);

  const SectorModel& model_;
  ObservableSet observables_;
  std::vector<double> times_;
  JumpOptions options_;

  // Trajectory state.
  SectorState state_;        // phi (normalised after every step) on its window
  double log_scale_ = 0.0;   // log ||psi||^2 = log_scale_ + log ||phi||^2
  // Work space reused across trajectories.
  /// Generators of recently visited (sector, window) pairs, sixteen slots per set of sectors
  /// (select_generator): a trajectory at the Fig. 2 point walks between neighbouring sectors on a
  /// few windows (sigma_minus raising j, sigma_plus lowering it, both keeping k), so most jumps
  /// find their generator here. cache_keys_[i] says what cache_[i] holds.
  struct CacheKey {
    int sector = -1;
    Window window;
    long used = 0;
  };
  std::vector<std::unique_ptr<Generator>> cache_;
  std::vector<CacheKey> cache_keys_;
  long cache_clock_ = 0;
  Generator* gen_ = nullptr;  // the current generator (owned by cache_)
  std::vector<Index> branch_offset_;  // flat index of branch (c, 0) in a generator's per-branch data; last: the total
  /// Taylor terms w_n = (h A)^n phi / n!, one after the other in one buffer.
  std::vector<cplx> term_buffer_;
  Index term_dim_ = -1;
  cplx* term(Index n) { return term_buffer_.data() + n * term_dim_; }
  const cplx* term(Index n) const { return term_buffer_.data() + n * term_dim_; }
  Index n_terms_ = 0;
  /// With a fused generator the terms are split vectors instead (JumpUnravelling.cpp,
  /// apply_soa): per term soa_pad zeros, the D real parts, soa_pad zeros, the D imaginary parts,
  /// soa_pad zeros; soa_ says which form the last step used.
  std::vector<double> soa_buffer_;
  mutable std::vector<double> soa_work_, soa_work2_;  // Horner work space (evaluate)
  Index soa_dim_ = -1;
  bool soa_ = false;
  Index soa_stride() const;
  double* soa_term(Index n);
  const double* soa_term(Index n) const;
  /// phi from split parts (D + soa_pad apart).
  static void join(const double* split, Index D, CVec& phi);
  std::vector<double> term_norm2_;  // ||w_n||^2
  std::vector<double> poly_;        // a_k of the norm polynomial
  CVec scratch_, scratch2_, dphi_;  // dphi_: d phi / d theta in the vector Newton
  RVec population_;
  std::vector<double> channel_p_, branch_p_;
  std::unique_ptr<class Dopri5> ode_;  // driven models only
  const double* tails_ = nullptr;  // Dyson tails of the last reach (leak_bound, set_reach)

  // Homodyne outputs: one per branch of each homodyne channel.
  struct Output {
    int channel;
    Index branch;
    cplx factor;  // sqrt(rate) e^{-i phase}
  };
  std::vector<Output> outputs_;
  std::vector<char> homodyne_channel_;  // per channel: unravelled by homodyne detection
  std::vector<std::string> homodyne_names_, jump_names_;
  Index output_shift_ = 0;               // largest |ladder shift| of an output's K
  std::function<void(double, double, WienerStep&)> noise_source_;
  WienerIncrements wiener_{0};
  WienerStep dw_;
  std::vector<CVec> lpsi_, noise_;       // L_b psi and (L_b - x_b/2) psi
  RVec x_;                               // <L_b + L_b^+>
  CVec next_, work_;
  RVec integrated_;                      // Y_b(t) of the running trajectory
  std::vector<long> counts_;             // jumps per channel of the running trajectory
};

}  // namespace qfluct
