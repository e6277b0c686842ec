// The Chebyshev exponential (solver/chebyshev.hpp): its Bessel coefficients against the standard
// library's Bessel functions, exp(tau L) y against Eigen's matrix exponential for dissipative,
// oscillatory and mixed spectra over tau = 1e-4 .. 400, its recovery from an underestimated
// spectrum, and the sqrt(tau a) growth of its term count that makes it the stiff integrator.
#include "qfluct/solver/chebyshev.hpp"

#include <Eigen/Dense>
#include <catch2/catch.hpp>
#include <unsupported/Eigen/MatrixFunctions>

#include <cmath>
#include <limits>
#include <vector>

using namespace qfluct;

namespace {

/// L = V diag(lambda) V^{-1}, V a fixed non-unitary matrix (condition number ~ 3): a
/// non-normal generator with a known spectrum, like a Lindbladian's. exact(y, tau) =
/// V exp(tau lambda) V^{-1} y is the closed-form reference (rounding ~1e-15); Eigen's matrix
/// exponential (scaling and squaring with Pade) the generic one, itself accurate to ~1e-12 only
/// while tau ||L|| <= ~1e5 (at tau ||L|| = 4e6 it is off by 4e-10: 22 squarings).
struct Generator {
  CMat V, Vinv, L;
  CVec lambda;
  explicit Generator(const std::vector<cplx>& l) {
    const Index n = Index(l.size());
    V = CMat::Identity(n, n);
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j)
        if (i != j)
          V(i, j) = cplx(0.25 * std::sin(1.0 + double(i) + 2.0 * double(j)), 0.15 * std::cos(double(3 * i + j))) / std::sqrt(double(n));
    Vinv = V.inverse();
    lambda = Eigen::Map<const CVec>(l.data(), n);
    L = V * lambda.asDiagonal() * Vinv;
  }
  CVec exact(const CVec& y, double tau) const {
    CVec c = Vinv * y;
    for (Index i = 0; i < c.size(); ++i) c(i) *= std::exp(tau * lambda(i));
    return V * c;
  }
};

/// A fixed starting vector with weight on every eigenvector.
CVec start(Index n) {
  CVec y(n);
  for (Index i = 0; i < n; ++i) y(i) = cplx(1.0 + 0.3 * std::cos(double(i)), 0.5 * std::sin(2.0 * double(i)));
  return y;
}

/// Thrown by the generator after too many applications: a propagate that does not end fails
/// the test instead of hanging it.
struct TooManyTerms {};

/// exp(tau L) y by the series at tol 1e-12: its relative error against the closed form, and
/// (when tau ||L|| <= 1e5, where Eigen's exponential is itself accurate) against Eigen's.
struct Errors {
  double exact = 0.0, eigen = 0.0;
  ChebyshevStatistics stats;
};

Errors errors(const Generator& g, SpectrumBox box, double tau, long max_applications = 100000000) {
  const Index n = g.L.rows();
  long applications = 0;
  const LinearApply apply = [&](const CVec& x, CVec& y) {
    if (++applications > max_applications) throw TooManyTerms{};
    y.noalias() = g.L * x;
  };
  ChebyshevExponential series(apply, n, box, 1e-12);
  const CVec y0 = start(n);
  CVec y = y0;
  Errors e;
  try {
    series.propagate(y, tau);
  } catch (const TooManyTerms&) {
    FAIL_CHECK("propagate(tau = " << tau << ") did not end within " << max_applications << " applications of L (statistics: "
                            << series.statistics().restarts << " restarts, box now " << series.box().real_extent << " x "
                            << series.box().imag_extent << ")");
    e.exact = e.eigen = std::numeric_limits<double>::infinity();
    return e;
  }
  e.stats = series.statistics();
  UNSCOPED_INFO("tau = " << tau << ": " << e.stats.terms << " terms, " << e.stats.restarts << " restarts");
  const CVec ref = g.exact(y0, tau);
  e.exact = (y - ref).norm() / ref.norm();
  if (tau * g.L.norm() <= 1e5) {
    const CVec eig = CMat(tau * g.L).exp() * y0;
    e.eigen = (y - eig).norm() / eig.norm();
  }
  UNSCOPED_INFO("relative error against the closed form " << e.exact << ", against Eigen's exponential " << e.eigen);
  return e;
}

/// Eigenvalues spread over [-a, 0] (0 included: the stationary part, so that the result keeps an
/// O(1) norm at any tau), geometrically towards -a so that every scale is present.
std::vector<cplx> dissipative(double a, int n) {
  std::vector<cplx> l{0.0, -1e-3 * a};
  for (int k = 0; k < n - 2; ++k) l.push_back(-a * std::pow(1e-3, double(k) / double(n - 3)));
  return l;
}

/// Purely imaginary eigenvalues over [-i b, i b] plus weak decay (rate 0.01 .. 0.02): a
/// skew-Hermitian generator with a small dissipative part.
std::vector<cplx> oscillatory(double b, int n) {
  std::vector<cplx> l{0.0};
  for (int k = 1; k < n; ++k) l.push_back(cplx(-0.01 - 0.01 * double(k) / n, b * (2.0 * double(k) / double(n - 1) - 1.0)));
  return l;
}

}  // namespace

// e^{-z} I_n(z) for real z (1e-3 .. 1e4) against the standard library's I_n in long double,
// where e^{1e4} ~ 1e4343 is still representable: the coefficients of exp(tau L) on a wide
// ellipse. Relative 1e-12: Miller's recurrence is stable (I_n is its minimal solution) and the
// normalisation sum has positive terms, so ~1e-15 is expected; the long-double reference carries
// ~1e-18. Compared wherever the value exceeds 1e-250 (below that the recurrence may underflow,
// harmlessly for the series).
TEST_CASE("scaled_bessel_i equals e^-z I_n(z) for real z", "[chebyshev][bessel]") {
  for (double z : {1e-3, 0.1, 1.0, 7.5, 42.0, 300.0, 1e3, 4e3, 1e4}) {
    const int count = int(z) + 200 + int(10.0 * std::sqrt(z));
    const std::vector<cplx> f = scaled_bessel_i(cplx(z, 0.0), count);
    REQUIRE(int(f.size()) == count);
    const int stride = z > 1000.0 ? 7 : 1;  // the reference costs O(z) per order
    int compared = 0;
    for (int n = 0; n < count; n += stride) {
      const long double ref = std::cyl_bessel_il((long double)n, (long double)z) * std::exp(-(long double)z);
      if (!(ref > 1e-250L)) continue;
      ++compared;
      INFO("z = " << z << ", n = " << n << ", value " << f[std::size_t(n)] << ", reference " << double(ref));
      CHECK(std::abs(f[std::size_t(n)].imag()) <= 1e-14 * double(ref));  // real argument, real value
      CHECK(std::abs(f[std::size_t(n)].real() - double(ref)) <= 1e-12 * double(ref));
    }
    CHECK(compared > 10);
  }
}

// e^{-ix} I_n(ix) = e^{-ix} i^n J_n(x) for imaginary z = ix (x = 1e-3 .. 1e4): the coefficients
// of a tall (oscillatory) ellipse. The reference J_n is the standard library's where its method
// is sound (x <= 1000; above, libstdc++ switches to Hankel's asymptotic series, right only for
// n^2 << x) and otherwise the trapezoidal rule on J_n(x) = (1/2pi) int_0^2pi cos(n t - x sin t)
// dt with 1.2 (x + n) + 400 points, exact to rounding for a periodic analytic integrand once the
// point count M exceeds x + n by the aliasing margin (the error is J_{M-n}(x), negligible there). Relative 1e-12 where J_n is monotone
// (n > x + 3 x^(1/3), no zeros, the values fall steeply to 1e-250); in the oscillatory range
// (n <= x + 3 x^(1/3)) relative error is meaningless near J_n's zeros, so the error is compared
// with 1e-12 times the envelope min(1, sqrt(2 / (pi x))), where the reference's own error is
// ~1e-15 times it. Every 101st order for x > 1000 (the trapezoid costs O(x) per order).
TEST_CASE("scaled_bessel_i equals e^-ix i^n J_n(x) for imaginary z", "[chebyshev][bessel]") {
  const auto trapezoid_j = [](int n, double x) {
    const int M = int(1.2 * (x + n)) + 400;
    long double s = 0.0L;
    for (int k = 0; k < M; ++k) {
      const long double t = 2.0L * 3.14159265358979323846264338327950288L * k / M;
      s += std::cos((long double)n * t - (long double)x * std::sin(t));
    }
    return double(s / M);
  };
  for (double x : {1e-3, 0.1, 1.0, 7.5, 42.0, 300.0, 1e3, 4e3, 1e4}) {
    const int count = int(x) + 200 + int(10.0 * std::sqrt(x));
    const std::vector<cplx> f = scaled_bessel_i(cplx(0.0, x), count);
    REQUIRE(int(f.size()) == count);
    const double transition = x + 3.0 * std::cbrt(x);
    const double envelope = std::min(1.0, std::sqrt(2.0 / (3.14159265358979 * x)));  // |J_n| <= 1
    const int stride = x > 1000.0 ? 101 : 1;  // the trapezoid costs O(x) per order
    int compared = 0;
    for (int n = 0; n < count; n += stride) {
      const bool monotone = double(n) > transition;
      // The trapezoid's absolute error (~1e-16 x sqrt(M)) cannot resolve the monotone tail's tiny
      // values: there the series / continued fraction of the library is used (x <= 1000), or the
      // library's long-double J_n (its ascending series, x^2 < 10 (n + 1)) for larger x.
      double j;
      if (x <= 1000.0 || (monotone && x * x < 10.0 * (n + 1)))
        j = double(std::cyl_bessel_jl((long double)n, (long double)x));
      else if (!monotone)
        j = trapezoid_j(n, x);
      else
        continue;  // monotone, x > 1000, not in the series' range: no sound reference here
      if (!(std::abs(j) > 1e-250)) continue;
      ++compared;
      const cplx in = std::pow(cplx(0.0, 1.0), n);  // i^n
      const cplx ref = std::exp(cplx(0.0, -x)) * in * j;
      const double scale = monotone ? std::abs(ref) : std::max(std::abs(ref), envelope);
      INFO("x = " << x << ", n = " << n << ", value " << f[std::size_t(n)] << ", reference " << ref);
      CHECK(std::abs(f[std::size_t(n)] - ref) <= 1e-12 * scale);
    }
    CHECK(compared > 10);
  }
}

// exp(tau L) y for a dissipative spectrum along [-1e4, 0] (the stiff master equation's kind)
// against the closed form and Eigen's matrix exponential, tau from 1e-4 (a few terms) to 400
// (tau a = 4e6, ~1e4 terms). Relative 1e-10 at tol 1e-12: the series stops at 1e-12 |y|, so the
// rest is rounding in the recurrence.
TEST_CASE("chebyshev exponential: dissipative spectrum against the matrix exponential", "[chebyshev]") {
  const Generator g(dissipative(1e4, 12));
  for (double tau : {1e-4, 1e-3, 0.05, 1.0, 20.0, 400.0}) {
    INFO("tau = " << tau);
    const Errors e = errors(g, {1e4, 0.0}, tau);
    INFO("terms " << e.stats.terms);
    CHECK(e.exact < 1e-10);
    CHECK(e.eigen < 1e-10);
  }
}

// The oscillatory case: a spectrum along [-1e4 i, 1e4 i] with weak decay (a tall ellipse,
// imaginary foci, coefficients e^{-ix} i^n J_n(x)), tau up to 20 (~2.5e5 terms); tau = 400 at
// b = 1e3 (4e5 terms, internal substeps). Rounding grows with the number of terms (the
// propagator is nearly unitary: ~1e-16 per term), 1e-10 leaves room for 4e5 terms.
TEST_CASE("chebyshev exponential: oscillatory spectrum against the matrix exponential", "[chebyshev]") {
  const Generator g(oscillatory(1e4, 12));
  for (double tau : {1e-4, 1e-3, 0.05, 1.0, 20.0}) {
    INFO("tau = " << tau);
    const Errors e = errors(g, {0.02, 1e4}, tau);
    CHECK(e.exact < 1e-10);
    CHECK(e.eigen < 1e-10);
  }
  const Errors e = errors(Generator(oscillatory(1e3, 12)), {0.02, 1e3}, 400.0);
  CHECK(e.exact < 1e-10);
}

// Mixed spectra: eigenvalues filling the box [-1e4, 0] x [-3e3 i, 3e3 i] (a wide ellipse with
// complex eigenvalues), and [-1e3, 0] x [-1e4 i, 1e4 i] (a tall one with strong decay), tau up
// to 20; at tau = 400 the wide box 1e-2 as tall (30: the 6e6 terms that tau b = 1.2e6 takes
// at height 3e3, and the 1.2e6 at height 3e2, accumulate rounding of 1e-10 and 5e-10). Same
// tolerance and reasons as above.
TEST_CASE("chebyshev exponential: mixed spectra against the matrix exponential", "[chebyshev]") {
  std::vector<cplx> wide{0.0}, tall{0.0}, low{0.0};
  for (int k = 1; k < 12; ++k) {
    const double u = double(k) / 11.0, v = std::sin(2.3 * k);
    wide.push_back(cplx(-1e4 * u * u, 3e3 * v));
    low.push_back(cplx(-1e4 * u * u, 30.0 * v));
    tall.push_back(cplx(-1e3 * u, 1e4 * v));
  }
  const Generator gw(wide), gt(tall);
  for (double tau : {1e-4, 1e-3, 0.05, 1.0, 20.0}) {
    INFO("tau = " << tau);
    const Errors w = errors(gw, {1e4, 3e3}, tau);
    CHECK(w.exact < 1e-10);
    CHECK(w.eigen < 1e-10);
    const Errors t = errors(gt, {1e3, 1e4}, tau);
    CHECK(t.exact < 1e-10);
    CHECK(t.eigen < 1e-10);
  }
  const Errors l = errors(Generator(low), {1e4, 30.0}, 400.0);
  CHECK(l.exact < 1e-10);
}

// A box 10x too small (real extent 1e3 for a spectrum reaching -1e4; imaginary 1e3 for 1e4),
// and 2x too small: the series' a-posteriori stopping and its restarts on a larger ellipse must
// still give exp(tau L) y to 1e-10 (the documented contract: a wrong box costs terms, not
// accuracy), and end: the right box needs < 3e3 applications of L here, so 1e6 is a hang.
TEST_CASE("chebyshev exponential: an underestimated spectrum still gives the right answer", "[chebyshev]") {
  const Generator d(dissipative(1e4, 12)), o(oscillatory(1e4, 12));
  for (double under : {10.0, 2.0})
    for (double tau : {1e-3, 0.05, 1.0}) {
      INFO("tau = " << tau << ", box " << under << "x too small");
      const Errors ed = errors(d, {1e4 / under, 0.0}, tau, 1000000);
      CHECK(ed.exact < 1e-10);
      const Errors eo = errors(o, {0.02, 1e4 / under}, tau, 1000000);
      CHECK(eo.exact < 1e-10);
    }
}

// exp(tau L) 0 = 0 exactly, and exp(0 L) y = y exactly (no terms are applied).
TEST_CASE("chebyshev exponential: the zero vector and tau = 0", "[chebyshev]") {
  const Generator g(dissipative(1e4, 8));
  const LinearApply apply = [&g](const CVec& x, CVec& y) { y.noalias() = g.L * x; };
  ChebyshevExponential series(apply, 8, {1e4, 0.0}, 1e-12);
  CVec zero = CVec::Zero(8);
  series.propagate(zero, 1.0);
  CHECK(zero == CVec::Zero(8));
  CVec y = start(8);
  const CVec y0 = y;
  series.propagate(y, 0.0);
  CHECK(y == y0);
  CHECK(series.statistics().terms == 0);
}

// The reason for the method: for a spectrum along [-a, 0] the series needs ~ sqrt(tau a) terms
// (the Bessel coefficients e^{-x} I_n(x) fall like exp(-n^2 / 2x) beyond n ~ sqrt(x)), where an
// explicit method's steps grow like tau a. The exponent is fitted over a decade of a
// (tau a = 2e3 .. 2e4, large enough that the fixed tail of the stopping rule is a small share,
// and one series: longer steps are split at tau A = 2e4 to bound the recurrence's rounding)
// and must lie in 0.4 .. 0.6 (linear growth would give 1).
TEST_CASE("chebyshev exponential: the term count grows like sqrt(tau a)", "[chebyshev]") {
  std::vector<double> la, lt;
  for (double a : {1e4, 2e4, 5e4, 1e5}) {
    const Errors e = errors(Generator(dissipative(a, 10)), {a, 0.0}, 0.2);
    CHECK(e.exact < 1e-10);
    CHECK(e.stats.restarts == 0);
    la.push_back(std::log(a));
    lt.push_back(std::log(double(e.stats.terms)));
  }
  // Least-squares slope of log(terms) against log(a).
  const double n = double(la.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < la.size(); ++i) sx += la[i], sy += lt[i], sxx += la[i] * la[i], sxy += la[i] * lt[i];
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  INFO("fitted exponent " << slope);
  CHECK(slope > 0.4);
  CHECK(slope < 0.6);
}

// The functional form: one series read at many output times through a linear functional f
// (values.row(k) = f(exp(tau_k L) y)) against f of the closed form at each time, for a
// dissipative, an oscillatory and a mixed spectrum, 40 output times over tau in (0, 4] (the
// series is split into pieces within reach, so several series are checked too). f: three fixed
// linear combinations of the entries, complex-linear as the pruned master equation's readout
// is. Tolerance 1e-10 relative to |y| (the series' own 1e-12 times the terms' rounding, as
// above); the final state must be exp(4 L) y to the same tolerance.
TEST_CASE("chebyshev exponential: a functional read at many output times equals the closed form", "[chebyshev]") {
  const std::vector<std::pair<std::vector<cplx>, SpectrumBox>> cases = {
      {dissipative(1e4, 12), {1e4, 0.0}}, {oscillatory(300.0, 12), {0.02, 300.0}}, {dissipative(50.0, 12), {50.0, 0.0}}};
  for (const auto& [spectrum, box] : cases) {
    const Generator g(spectrum);
    const Index n = g.L.rows();
    CMat F(3, n);
    for (Index r = 0; r < 3; ++r)
      for (Index i = 0; i < n; ++i) F(r, i) = cplx(std::cos(double(r * n + i)), std::sin(0.5 * double(r + i)));
    ChebyshevExponential series([&](const CVec& x, CVec& y) { y.noalias() = g.L * x; }, n, box, 1e-12);
    std::vector<double> taus;
    for (int k = 1; k <= 40; ++k) taus.push_back(0.1 * k);
    const CVec y0 = start(n);
    CVec y = y0;
    CMat values;
    series.propagate(y, taus, [&](const CVec& x, cplx* v) { Eigen::Map<CVec>(v, 3) = F * x; }, 3, values);
    REQUIRE(values.rows() == 40);
    double worst = 0.0;
    for (int k = 0; k < 40; ++k)
      worst = std::max(worst, (values.row(k).transpose() - F * g.exact(y0, taus[std::size_t(k)])).norm() / y0.norm());
    INFO("box " << box.real_extent << " x " << box.imag_extent << ": " << series.statistics().terms << " terms in "
                << series.statistics().steps << " series");
    CHECK(worst < 1e-10);
    CHECK((y - g.exact(y0, 4.0)).norm() / y0.norm() < 1e-10);
  }
}
