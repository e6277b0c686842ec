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
    : apply_(std::move(apply)), general_(std::move(apply_general)), box_(box), tol_(tol), t0_(n), t1_(n), t2_(n), work_(n) {
  if (!general_) general_ = apply_;
  if (!(box.real_extent >= 0) || !(box.imag_extent >= 0) || !(tol > 0))
    throw std::invalid_argument("ChebyshevExponential: extents must be >= 0 and tol > 0");
}

void ChebyshevExponential::propagate(CVec& y, double tau) {
  propagate(y, std::vector<double>{tau}, {});
}

void ChebyshevExponential::propagate(CVec& y, const std::vector<double>& taus, const Output& output) {
  run(y, taus, output ? &output : nullptr, nullptr, 0, nullptr);
}

void ChebyshevExponential::propagate(CVec& y, const std::vector<double>& taus, const Functional& f, Index m,
                                     CMat& values) {
  values.resize(Index(taus.size()), m);
  run(y, taus, nullptr, &f, m, &values);
}

void ChebyshevExponential::run(CVec& y, const std::vector<double>& taus, const Output* output, const Functional* f,
                               Index m, CMat* values) {
  double done = 0.0;
  for (double t : taus)
    if (!(t >= done)) throw std::invalid_argument("ChebyshevExponential::propagate: times must ascend from 0");
    else done = t;
  done = 0.0;
  std::size_t next = 0;  // the first output time not yet reached
  const SpectrumBox given = box_;
  double split = 1.0;
  int group = f ? int(taus.size()) : max_group_;
  for (int attempt = 0; next < taus.size();) {
    ++stats_.steps;
    // Substeps that keep the series in floating-point range: the coefficients carry
    // exp(-tau (A - Re d)) and the terms the inverse (a tall ellipse over a long step: the
    // stationary state's exp(0) = 1 is a sum of terms ~ e^{tau A} / e^{tau A}), and |T_n| grows
    // like rho^n on the ellipse over the ~1.4 tau (A + B) terms: both exponents <= 200 per series.
    // And tau A <= 2e4 (~1e3 terms): the three-term recurrence's rounding grows like the square of
    // the number of terms (measured: 1.4e-10 after 1.1e4 terms in one series, 7e-12 after 2.5e3).
    const Ellipse e = ellipse(box_);
    const double rate = std::max({e.decay, 1.4 * (e.A + e.B) * std::log((e.A + e.B) / std::abs(e.d)), e.A / 400.0});
    const double reach = 200.0 / (split * rate);  // the longest series allowed
    // One series for the next output times within reach (at most `group` of them), or a piece of
    // the way to the next one.
    std::vector<double> steps;
    for (std::size_t k = next; k < taus.size() && int(steps.size()) < group && taus[k] - done <= reach; ++k)
      steps.push_back(taus[k] - done);
    const bool piece = steps.empty();
    if (piece) {
      const double left = taus[next] - done;
      steps.push_back(left / std::ceil(left / reach));
    }
    if (steps.back() == 0.0 || try_series(y, steps, piece ? nullptr : f, m)) {
      split = std::max(1.0, 0.5 * split);  // a success relaxes the shortening again
      if (piece) {
        y = outs_[0];
        done += steps[0];
        continue;
      }
      for (std::size_t k = 0; k < steps.size(); ++k) {
        if (f && steps[k] == 0.0) {
          fterm_.resize(m);
          (*f)(y, fterm_.data());
          values->row(Index(next + k)) = fterm_.transpose();
        } else if (f)
          values->row(Index(next + k)) = fvalues_.row(Index(k));
        else if (output)
          (*output)(next + k, steps[k] == 0.0 ? y : outs_[k]);
      }
      if (steps.back() != 0.0) y = outs_[f ? 0 : steps.size() - 1];
      done = taus[next + steps.size() - 1];
      next += steps.size();
      continue;
    }
    ++stats_.restarts;
    if (++attempt == 12)
      throw NumericalError(fmt::format("Chebyshev exponential: no convergence on an ellipse 40 times the estimated "
                                       "spectrum (real extent {:.3g}, imaginary {:.3g})",
                                       given.real_extent, given.imag_extent));
    if (steps.size() > 1) {  // first fewer output times in one series (shorter: less cancellation)
      group = std::max(1, int(steps.size()) / 2);
      continue;
    }
    split *= 2.0;  // a term out of range may also mean too long a step
    // Grow the box: a spectrum wider than estimated (terms grew) or taller (likewise).
    box_.real_extent = 1.5 * box_.real_extent + 1e-3 * box_.imag_extent;
    box_.imag_extent = 1.5 * box_.imag_extent + 1e-2 * box_.real_extent;
  }
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

// t2 = s (work - c t1) - t0 and out_k += a_k t2 for every output k in one pass, returning |t2|^2:
// the vector work of a term is as large as an application of L, so it is fused and threaded.
// The squared norm is summed over fixed chunks in a fixed order: the result does not depend on
// the thread count.
__attribute__((target_clones("arch=x86-64-v3", "default")))
double ChebyshevExponential::recurrence_step(cplx s, double c, const cplx* a, int K) {
  const Index n = t2_.size(), chunk = 8192, chunks = (n + chunk - 1) / chunk;
  partial_.assign(std::size_t(chunks), 0.0);
  const double* w = reinterpret_cast<const double*>(work_.data());
  const double* x1 = reinterpret_cast<const double*>(t1_.data());
  const double* x0 = reinterpret_cast<const double*>(t0_.data());
  double* x2 = reinterpret_cast<double*>(t2_.data());
  double* acc[max_outputs];
  double ar[max_outputs], ai[max_outputs];
  for (int k = 0; k < K; ++k) acc[k] = reinterpret_cast<double*>(outs_[k].data()), ar[k] = a[k].real(), ai[k] = a[k].imag();
  const double sr = s.real(), si = s.imag();
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (Index b = 0; b < chunks; ++b) {
    double norm = 0.0;
    const Index begin = 2 * b * chunk, end = 2 * std::min(n, (b + 1) * chunk);
    for (Index i = begin; i < end; i += 2) {
      const double ur = w[i] - c * x1[i], ui = w[i + 1] - c * x1[i + 1];
      const double vr = sr * ur - si * ui - x0[i], vi = sr * ui + si * ur - x0[i + 1];
      x2[i] = vr;
      x2[i + 1] = vi;
      norm += vr * vr + vi * vi;
    }
    for (int k = 0; k < K; ++k) {  // (over the chunk just written: it is still in cache)
      double* o = acc[k];
      const double pr = ar[k], pi = ai[k];
      for (Index i = begin; i < end; i += 2) {
        o[i] += pr * x2[i] - pi * x2[i + 1];
        o[i + 1] += pr * x2[i + 1] + pi * x2[i];
      }
    }
    partial_[std::size_t(b)] = norm;
  }
  double total = 0.0;
  for (double p : partial_) total += p;
  return total;
}

bool ChebyshevExponential::try_series(const CVec& y, const std::vector<double>& taus, const Functional* f, Index m) {
  const Ellipse e = ellipse(box_);
  const double A = e.A, B = e.B;
  const cplx d = e.d;
  const double c = -A;
  const int K = int(taus.size());
  const double tau = taus.back();
  const cplx z = tau * d;
  // Coefficients enough for the terms to decay on the ellipse itself: |T_n| ~ rho^n there, and
  // a_n rho^n falls once n exceeds ~ (e/2) tau (A + B) (Bernstein's bound on the ellipse of
  // radius e rho); they cost O(1) each, the terms an application of L each.
  const int count = int(1.5 * tau * (A + B)) + 60 + int(30.0 * std::cbrt(std::abs(z)));
  // a[n * K + k]: coefficient n of output k.
  std::vector<cplx> a(std::size_t(count) * std::size_t(K));
  for (int k = 0; k < K; ++k) {
    const cplx zk = taus[k] * d;
    const std::vector<cplx> s = scaled_bessel_i(zk, count);
    const cplx prefactor = std::exp(taus[k] * (c + d));  // |.| <= 1: the ellipse ends at Re = 0
    for (int n = 0; n < count; ++n) {
      const cplx v = (n == 0 ? 1.0 : 2.0) * prefactor * s[std::size_t(n)];
      if (!std::isfinite(v.real()) || !std::isfinite(v.imag()))
        throw NumericalError(fmt::format("Chebyshev exponential: coefficient {} of exp(z x), z = {}{:+}i, is not finite",
                                         n, zk.real(), zk.imag()));
      a[std::size_t(n) * K + k] = v;
    }
  }
  const auto largest = [&](int n) {
    double m = 0.0;
    for (int k = 0; k < K; ++k) m = std::max(m, std::abs(a[std::size_t(n) * K + k]));
    return m;
  };
  // A priori: beyond n_min every term is below the tolerance on the ellipse itself, where
  // |T_n| grows like rho^n, rho = (A + B) / |d|. (The coefficients alone can all be tiny while
  // the terms that sum to exp(0) = 1 are not: a tall ellipse over a long step.)
  const double norm_y = y.norm();
  const int states = f ? 1 : K;  // states accumulated: outs_[0] is the last time's with f
  const Index last = f ? K - 1 : 0;  // the coefficients of outs_[0] are a[n K + last]
  for (int k = 0; k < states; ++k) outs_[k] = y;
  if (f) {
    fvalues_.setZero(K, m);
    fterm_.resize(m);
  }
  if (norm_y == 0.0) return true;
  // f of term n, weighted by each time's coefficient.
  const auto accumulate = [&](const CVec& term, int n) {
    (*f)(term, fterm_.data());
    for (int k = 0; k < K; ++k) fvalues_.row(k) += a[std::size_t(n) * K + k] * fterm_.transpose();
  };
  const double tol_abs = tol_ * norm_y;
  const double log_rho = std::log((A + B) / std::abs(d));
  int n_min = count;
  while (n_min > 1 && std::log(largest(n_min - 1)) + double(n_min - 1) * log_rho < std::log(1e-3 * tol_)) --n_min;
  if (n_min >= count - 3) return false;  // not converged within the coefficients computed
  const LinearApply& L = d.imag() != 0.0 ? general_ : apply_;
  t0_ = y;
  L(t0_, work_);
  t1_ = (work_ - c * t0_) / d;
  for (int k = 0; k < states; ++k) outs_[k] = a[std::size_t(k + last)] * t0_ + a[std::size_t(K + k + last)] * t1_;
  if (f) accumulate(t0_, 0), accumulate(t1_, 1);
  long terms = 1;
  int small = 0;
  bool converged = false;
  for (int n = 2; n < count; ++n) {
    L(t1_, work_);
    ++terms;
    const double term = largest(n) * std::sqrt(recurrence_step(2.0 / d, c, &a[std::size_t(n) * K + last], states));
    if (f) accumulate(t2_, n);
    // A term far above the result: the sum cancels and loses digits; the ellipse is too small.
    if (!(term < 1e4 * norm_y)) {
      stats_.terms += terms;
      return false;
    }
    // Converged when the terms have stayed small for a while: three, and an eighth of the terms so
    // far (terms of spectral components outside the ellipse can dip before their coefficients win).
    small = term < tol_abs ? small + 1 : 0;
    if (n >= n_min && small >= 3 + n / 8) {
      converged = true;
      break;
    }
    t0_.swap(t1_);
    t1_.swap(t2_);
  }
  stats_.terms += terms;
  if (!converged) return false;
  stats_.max_terms = std::max<int>(stats_.max_terms, int(terms));
  return true;
}

}  // namespace qfluct
