#include "qfluct/solver/chebyshev.hpp"

#include "qfluct/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace qfluct {

double power_iteration_radius(const LinearApply& apply, Index n, int iterations) {
  CVec y(n), dy(n);
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;  // a fixed sequence: the estimate is reproducible
  for (Index i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    y(i) = cplx(double(state >> 11) * 0x1.0p-53 - 0.5, double((state >> 3) & 0xFFFF) / 65536.0 - 0.5);
  }
  double radius = 0.0;
  for (int k = 0; k < iterations; ++k) {
    const double norm = y.norm();
    if (!(norm > 0)) break;
    y /= norm;
    apply(y, dy);
    radius = dy.norm();
    y.swap(dy);
  }
  return radius;
}

std::vector<cplx> scaled_bessel_i(cplx z, int count) {
  std::vector<cplx> f(std::size_t(std::max(count, 1)), cplx(0.0));
  if (std::abs(z) < 1e-100) {  // I_n(z) = (z/2)^n / n! + ...: I_0 alone, to double precision
    f[0] = 1.0;
    return f;
  }
  // Start well above both the requested orders and |z|, where I_n is negligible against the
  // values kept (I_n ~ (z/2)^n / n! there), and recur downwards, where I_n is the minimal
  // solution of I_{n-1} = (2n/z) I_n + I_{n+1} and the recurrence is stable.
  const double r = std::abs(z);
  const int top = std::max(count, int(r)) + 40 + int(20.0 * std::cbrt(r));
  cplx next = 0.0, cur = 1e-150;  // f_{top+1}, f_top
  cplx sum = 0.0;                 // f_0 + 2 sum_{n>=1} f_n over the values seen so far
  for (int n = top; n >= 1; --n) {
    if (n < count) f[std::size_t(n)] = cur;
    sum += 2.0 * cur;
    const cplx prev = (2.0 * double(n) / z) * cur + next;
    next = cur;
    cur = prev;
    if (std::abs(cur) > 1e150) {  // rescale everything so far; the old tail underflows harmlessly
      cur *= 1e-150;
      next *= 1e-150;
      sum *= 1e-150;
      for (int m = n; m < count; ++m) f[std::size_t(m)] *= 1e-150;
    }
  }
  f[0] = cur;
  sum += cur;
  // e^{-z} I_n(z) = f_n / sum, since e^z = I_0 + 2 sum I_n. Multiplied by 1/sum formed through
  // |sum|: the library is built with -fcx-limited-range, whose complex division squares the
  // divisor's modulus, which overflows for a sum near the rescaling threshold.
  const double m = std::abs(sum);
  const cplx inverse = std::conj(sum / m) / m;
  for (auto& v : f) v *= inverse;
  return f;
}

ChebyshevExponential::ChebyshevExponential(LinearApply apply, Index n, SpectrumBox box, double tol, LinearApply apply_general)
    : apply_(std::move(apply)), general_(std::move(apply_general)), box_(box), tol_(tol), t0_(n), t1_(n), t2_(n), sum_(n),
      work_(n) {
  if (!general_) general_ = apply_;
  if (!(box.real_extent >= 0) || !(box.imag_extent >= 0) || !(tol > 0))
    throw std::invalid_argument("ChebyshevExponential: extents must be >= 0 and tol > 0");
}

void ChebyshevExponential::propagate(CVec& y, double tau) {
  if (!(tau >= 0)) throw std::invalid_argument("ChebyshevExponential::propagate: tau must be >= 0");
  ++stats_.steps;
  if (tau == 0.0) return;
  const SpectrumBox given = box_;
  double done = 0.0, split = 1.0;
  for (int attempt = 0; attempt < 10;) {
    // Substeps that keep the series in floating-point range: the coefficients carry
    // exp(-tau (A - Re d)) and the terms the inverse (a tall ellipse over a long step: the
    // stationary state's exp(0) = 1 is a sum of terms ~ e^{tau A} / e^{tau A}), and |T_n| grows
    // like rho^n on the ellipse over the ~1.4 tau (A + B) terms: both exponents <= 200.
    const Ellipse e = ellipse(box_);
    const double left = tau - done;
    const double exponent = left * std::max(e.decay, 1.4 * (e.A + e.B) * std::log((e.A + e.B) / std::abs(e.d)));
    const int pieces = int(std::ceil(split * std::max(1.0, exponent / 200.0)));
    const double h = left / double(pieces);
    if (try_series(y, h)) {
      done = pieces == 1 ? tau : done + h;
      if (done >= tau) return;
      continue;
    }
    ++stats_.restarts;
    ++attempt;
    split *= 2.0;  // a term out of range may also mean too long a step
    // Grow the box: a spectrum wider than estimated (terms grew) or taller (likewise).
    box_.real_extent = 1.5 * box_.real_extent + 1e-3 * box_.imag_extent;
    box_.imag_extent = 1.5 * box_.imag_extent + 1e-2 * box_.real_extent;
  }
  throw NumericalError(fmt::format("Chebyshev exponential: no convergence on an ellipse 40 times the estimated "
                                   "spectrum (real extent {:.3g}, imaginary {:.3g})",
                                   given.real_extent, given.imag_extent));
}

ChebyshevExponential::Ellipse ChebyshevExponential::ellipse(const SpectrumBox& box) {
  // Centre c = -A, real semi-axis A (reaching from -2A to 0), imaginary semi-axis B, foci c +- d
  // with d^2 = A^2 - B^2 (d imaginary for a tall ellipse). A focal distance far below the
  // semi-axes would make the series a Taylor series: |d| >= 0.3 max(A, B).
  Ellipse e;
  e.A = std::max(0.55 * box.real_extent, 1e-300);
  e.B = 1.1 * box.imag_extent;
  const double big = std::max(e.A, e.B);
  e.d = e.A >= e.B ? cplx(std::max(std::sqrt(e.A * e.A - e.B * e.B), 0.3 * big), 0.0)
                   : cplx(0.0, std::max(std::sqrt(e.B * e.B - e.A * e.A), 0.3 * big));
  e.decay = e.A - e.d.real();
  return e;
}

// t2 = s (work - c t1) - t0 and sum += a t2 in one pass, returning |t2|^2: the vector work of a
// term is as large as an application of L, so it is fused and threaded. The squared norm is
// summed over fixed chunks in a fixed order: the result does not depend on the thread count.
__attribute__((target_clones("arch=x86-64-v3", "default")))
double ChebyshevExponential::recurrence_step(cplx s, double c, cplx a) {
  const Index n = t2_.size(), chunk = 8192, chunks = (n + chunk - 1) / chunk;
  partial_.assign(std::size_t(chunks), 0.0);
  const double* w = reinterpret_cast<const double*>(work_.data());
  const double* x1 = reinterpret_cast<const double*>(t1_.data());
  const double* x0 = reinterpret_cast<const double*>(t0_.data());
  double* x2 = reinterpret_cast<double*>(t2_.data());
  double* acc = reinterpret_cast<double*>(sum_.data());
  const double sr = s.real(), si = s.imag(), ar = a.real(), ai = a.imag();
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (Index k = 0; k < chunks; ++k) {
    double norm = 0.0;
    const Index end = std::min(n, (k + 1) * chunk);
    for (Index i = 2 * k * chunk; i < 2 * end; i += 2) {
      const double ur = w[i] - c * x1[i], ui = w[i + 1] - c * x1[i + 1];
      const double vr = sr * ur - si * ui - x0[i], vi = sr * ui + si * ur - x0[i + 1];
      x2[i] = vr;
      x2[i + 1] = vi;
      acc[i] += ar * vr - ai * vi;
      acc[i + 1] += ar * vi + ai * vr;
      norm += vr * vr + vi * vi;
    }
    partial_[std::size_t(k)] = norm;
  }
  double total = 0.0;
  for (double p : partial_) total += p;
  return total;
}

bool ChebyshevExponential::try_series(CVec& y, double tau) {
  const Ellipse e = ellipse(box_);
  const double A = e.A, B = e.B;
  const cplx d = e.d;
  const double c = -A;
  const cplx z = tau * d;
  // Coefficients enough for the terms to decay on the ellipse itself: |T_n| ~ rho^n there, and
  // a_n rho^n falls once n exceeds ~ (e/2) tau (A + B) (Bernstein's bound on the ellipse of
  // radius e rho); they cost O(1) each, the terms an application of L each.
  const int count = int(1.5 * tau * (A + B)) + 60 + int(30.0 * std::cbrt(std::abs(z)));
  const std::vector<cplx> s = scaled_bessel_i(z, count);
  const cplx prefactor = std::exp(tau * (c + d));  // |.| <= 1: the ellipse ends at Re = 0
  std::vector<cplx> a(s.size());
  for (std::size_t n = 0; n < s.size(); ++n) {
    a[n] = (n == 0 ? 1.0 : 2.0) * prefactor * s[n];
    if (!std::isfinite(a[n].real()) || !std::isfinite(a[n].imag()))
      throw NumericalError(fmt::format("Chebyshev exponential: coefficient {} of exp(z x), z = {}{:+}i, is not finite",
                                       n, z.real(), z.imag()));
  }
  // A priori: beyond n_min every term is below the tolerance on the ellipse itself, where
  // |T_n| grows like rho^n, rho = (A + B) / |d|. (The coefficients alone can all be tiny while
  // the terms that sum to exp(0) = 1 are not: a tall ellipse over a long step.)
  const double norm_y = y.norm();
  if (norm_y == 0.0) return true;
  const double tol_abs = tol_ * norm_y;
  const double log_rho = std::log((A + B) / std::abs(d));
  int n_min = int(a.size());
  while (n_min > 1 && std::log(std::abs(a[std::size_t(n_min - 1)])) + double(n_min - 1) * log_rho < std::log(1e-3 * tol_))
    --n_min;
  if (n_min >= int(a.size()) - 3) return false;  // not converged within the coefficients computed
  const LinearApply& L = d.imag() != 0.0 ? general_ : apply_;
  const auto X = [&](const CVec& in, CVec& out) {  // out = (L in - c in) / d
    L(in, work_);
    out = (work_ - c * in) / d;
  };
  t0_ = y;
  X(t0_, t1_);
  sum_ = a[0] * t0_ + a[1] * t1_;
  long terms = 1;
  int small = 0;
  bool converged = false;
  for (std::size_t n = 2; n < a.size(); ++n) {
    L(t1_, work_);
    ++terms;
    const double term = std::abs(a[n]) * std::sqrt(recurrence_step(2.0 / d, c, a[n]));
    // A term far above the result: the sum cancels and loses digits; the ellipse is too small.
    if (!(term < 1e4 * norm_y)) {
      stats_.terms += terms;
      return false;
    }
    // Converged when the terms have stayed small for a while: three, and an eighth of the terms so
    // far (terms of spectral components outside the ellipse can dip before their coefficients win).
    small = term < tol_abs ? small + 1 : 0;
    if (int(n) >= n_min && small >= 3 + int(n) / 8) {
      converged = true;
      break;
    }
    t0_.swap(t1_);
    t1_.swap(t2_);
  }
  stats_.terms += terms;
  if (!converged) return false;
  stats_.max_terms = std::max<int>(stats_.max_terms, int(terms));
  y = sum_;
  return true;
}

}  // namespace qfluct
