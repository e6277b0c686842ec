#pragma once
/// The exponential of a time-independent generator applied to a vector, y <- exp(tau L) y, by a
/// Chebyshev series on an ellipse enclosing the spectrum of L (Tal-Ezer and Kosloff, J. Chem.
/// Phys. 81, 3967 (1984); for dissipative generators, Huisinga, Pesce, Kosloff and Saalfrank,
/// J. Chem. Phys. 110, 5538 (1999)):
///   exp(tau L) = sum_n a_n T_n(X),   X = (L - c) / d,   a_n = (2 - delta_n0) e^{tau c} I_n(tau d),
/// with T_n the Chebyshev polynomials (three-term recurrence, one application of L per term), c
/// the centre and c +- d the foci of the ellipse, I_n the modified Bessel functions (d complex
/// when the spectrum is taller than wide: then I_n(i x) = i^n J_n(x), the oscillatory case).
///
/// Why: the number of terms grows like sqrt(tau a) for a spectrum stretched along [-a, 0] (a
/// stiff dissipator: the block master equation's fastest rates grow like N) and like tau b for
/// one stretched along [-i b, i b] (fast oscillations), whereas explicit Runge-Kutta steps grow
/// like tau a and, at a tolerance of 1e-9, several times tau b. The series is summed until its
/// terms fall below the tolerance (a posteriori), so an ellipse that misses part of the spectrum
/// costs terms, not accuracy; a term that grows far beyond the result (cancellation) restarts the
/// step on a larger ellipse.
#include "qfluct/core/types.hpp"

#include <algorithm>
#include <functional>
#include <vector>

namespace qfluct {

/// The spectrum of L inside [-real_extent, 0] x [-imag_extent, imag_extent] (both >= 0).
struct SpectrumBox {
  double real_extent = 0.0;
  double imag_extent = 0.0;
};

/// y = L x (y already sized).
using LinearApply = std::function<void(const CVec& x, CVec& y)>;

/// |lambda|_max of L estimated by `iterations` power iterations from a fixed pseudo-random vector
/// (deterministic; a lower bound that converges from below).
double power_iteration_radius(const LinearApply& apply, Index n, int iterations = 30);

/// Modified Bessel functions I_n(z), n = 0 .. count - 1, of complex z, scaled by e^{-z}
/// (Miller's backward recurrence normalised by e^z = I_0 + 2 sum_n I_n): the values are O(1)
/// where I_n itself would overflow.
std::vector<cplx> scaled_bessel_i(cplx z, int count);

struct ChebyshevStatistics {
  long steps = 0;      ///< calls of propagate
  long terms = 0;      ///< applications of L in all series
  long restarts = 0;   ///< series redone on a larger ellipse
  int max_terms = 0;   ///< most terms in one series
};

class ChebyshevExponential {
 public:
  /// box: the spectrum's extent (enlarged by 10% here); tol: the series stops when three
  /// consecutive terms are below tol * |y|_2. `apply` need only be right on a real subspace that
  /// L keeps and that holds y (Hermitian matrices, for a Lindbladian: the fast kernel computes
  /// half a block and mirrors it); `apply_general` must be right on any vector: it is used when
  /// the ellipse is taller than wide (complex foci take the terms off that subspace). Empty:
  /// `apply` is right everywhere.
  ChebyshevExponential(LinearApply apply, Index n, SpectrumBox box, double tol, LinearApply apply_general = {});

  /// y <- exp(tau L) y, tau >= 0. Throws NumericalError when the series does not converge on
  /// an ellipse 40 times larger than the box given.
  void propagate(CVec& y, double tau);
  /// output(k, exp(taus[k] L) y) for ascending taus >= 0, from one series for up to
  /// max_group consecutive times within reach (the terms are shared; each time adds one
  /// accumulation per term); ends with y <- exp(taus.back() L) y.
  using Output = std::function<void(std::size_t, const CVec&)>;
  void propagate(CVec& y, const std::vector<double>& taus, const Output& output);
  /// A linear functional of a state: m values, complex-linear (real parts are the caller's).
  using Functional = std::function<void(const CVec& x, cplx* values)>;
  /// values.row(k) = f(exp(taus[k] L) y) (values: taus.size() x m) for ascending taus >= 0;
  /// ends with y <- exp(taus.back() L) y. All the times within one series' reach share its
  /// terms, and only f of each term is kept for them: a series over K output intervals costs one
  /// application of L and one of f per term, ~sqrt(K) times fewer terms than a series per
  /// interval (their number grows like the square root of the series' length), and no pass over
  /// a state per time. max_group does not apply.
  void propagate(CVec& y, const std::vector<double>& taus, const Functional& f, Index m, CMat& values);
  /// At most this many output times share a series (1 ... max_outputs; default 1). Sharing saves
  /// terms (their number grows like the square root of the series' length) but adds a pass over
  /// a state per term and output time: it pays where the state fits in cache.
  void set_max_group(int k) { max_group_ = std::clamp(k, 1, max_outputs); }
  static constexpr int max_outputs = 16;

  const SpectrumBox& box() const { return box_; }
  const ChebyshevStatistics& statistics() const { return stats_; }

 private:
  /// One series on the current box for the times taus (ascending, > 0), into outs_[k]: false
  /// when it must be redone (a larger ellipse, or fewer times).
  /// With f: only the state at the last time goes into outs_[0], and f of the states at all the
  /// times into the rows of fvalues_.
  bool try_series(const CVec& y, const std::vector<double>& taus, const Functional* f = nullptr, Index m = 0);
  void run(CVec& y, const std::vector<double>& taus, const Output* output, const Functional* f, Index m, CMat* values);
  struct Ellipse {
    double A, B;    // real and imaginary semi-axes; the centre is -A
    cplx d;         // focal half-distance
    double decay;   // A - Re d: the coefficients carry exp(-tau decay)
  };
  static Ellipse ellipse(const SpectrumBox& box);
  double recurrence_step(cplx s, double c, const cplx* a, int K);
  std::vector<double> partial_;
  CVec outs_[max_outputs];
  int max_group_ = 1;
  LinearApply apply_, general_;
  SpectrumBox box_;
  double tol_;
  CVec t0_, t1_, t2_, work_;
  CMat fvalues_;
  CVec fterm_;
  ChebyshevStatistics stats_;
};

}  // namespace qfluct
