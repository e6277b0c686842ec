#include "qfluct/space/dicke.hpp"

#include <algorithm>
#include <boost/random/binomial_distribution.hpp>
#include <limits>
#include <stdexcept>
#include <vector>

namespace qfluct::dicke {

double log_binomial(double n, double k) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
}

double log_multiplicity(int N, int s) {
  // d_j = C(N, s) (2j + 1) / (N/2 + j + 1) with j = N/2 - s.
  return log_binomial(N, s) + std::log(double(N - 2 * s + 1)) - std::log(double(N - s + 1));
}

double kraus_element_squared(LocalJump type, int N, double j, int delta, Index k_index) {
  const double k = double(k_index);
  const double n2 = 0.5 * N;
  if (j + delta < 0.0 || j + delta > n2) return 0.0;
  double v = 0.0;
  switch (type) {
    case LocalJump::sigma_minus:  // |j,m> -> |j',m-1>
      if (delta == +1) v = (n2 - j) * (2 * j - k + 1) * (2 * j - k + 2) / ((2 * j + 1) * (2 * j + 2));
      else if (delta == 0) v = j == 0.0 ? 0.0 : (n2 + 1) * k * (2 * j + 1 - k) / (2 * j * (j + 1));
      else v = (n2 + j + 1) * (k - 1) * k / (2 * j * (2 * j + 1));
      break;
    case LocalJump::sigma_plus:  // mirror image m -> -m, i.e. k -> 2j - k
      if (delta == +1) v = (n2 - j) * (k + 1) * (k + 2) / ((2 * j + 1) * (2 * j + 2));
      else if (delta == 0) v = j == 0.0 ? 0.0 : (n2 + 1) * (2 * j - k) * (k + 1) / (2 * j * (j + 1));
      else v = (n2 + j + 1) * (2 * j - k - 1) * (2 * j - k) / (2 * j * (2 * j + 1));
      break;
    case LocalJump::sigma_z:  // |j,m> -> |j',m>
      if (delta == +1) v = (N - 2 * j) * (2 * j - k + 1) * (k + 1) / ((2 * j + 1) * (j + 1));
      else if (delta == 0) v = j == 0.0 ? 0.0 : (k - j) * (k - j) * (N + 2.0) / (j * (j + 1));
      else v = (N + 2 * j + 2) * (2 * j - k) * k / (j * (2 * j + 1));
      break;
  }
  return std::max(0.0, v);
}

KrausBranch::KrausBranch(LocalJump type, int N, double j, int delta) {
  const double n2 = 0.5 * N;
  if (j + delta < 0.0 || j + delta > n2) return;
  // The table of kraus_element_squared with the k-independent factors pulled out and each
  // polynomial written as (k + u)(k + v): (2j + 1 - k)(2j + 2 - k) = (k - 2j - 1)(k - 2j - 2),
  // and (k + b)(a - k) = -(k + b)(k - a) with the sign moved into the prefactor.
  auto set = [this](double prefactor, double u, double v) { prefactor_ = prefactor, u_ = u, v_ = v; };
  switch (type) {
    case LocalJump::sigma_minus:
      if (delta == +1) set((n2 - j) / ((2 * j + 1) * (2 * j + 2)), -(2 * j + 1), -(2 * j + 2));
      else if (delta == 0 && j > 0) set(-(n2 + 1) / (2 * j * (j + 1)), 0.0, -(2 * j + 1));
      else if (delta == -1) set((n2 + j + 1) / (2 * j * (2 * j + 1)), -1.0, 0.0);
      break;
    case LocalJump::sigma_plus:
      if (delta == +1) set((n2 - j) / ((2 * j + 1) * (2 * j + 2)), 1.0, 2.0);
      else if (delta == 0 && j > 0) set(-(n2 + 1) / (2 * j * (j + 1)), 1.0, -2 * j);
      else if (delta == -1) set((n2 + j + 1) / (2 * j * (2 * j + 1)), -(2 * j - 1), -2 * j);
      break;
    case LocalJump::sigma_z:
      if (delta == +1) set(-(N - 2 * j) / ((2 * j + 1) * (j + 1)), 1.0, -(2 * j + 1));
      else if (delta == 0 && j > 0) set((N + 2.0) / (j * (j + 1)), -j, -j), signed_ = true;
      else if (delta == -1) set(-(N + 2 * j + 2) / (j * (2 * j + 1)), 0.0, -2 * j);
      break;
  }
}

double kraus_element(LocalJump type, int N, double j, int delta, Index k) {
  const double a = std::sqrt(kraus_element_squared(type, N, j, delta, k));
  // The sigma_z element j -> j is m sqrt((N+2)/(j(j+1))): it carries the sign of m = k - j.
  return (type == LocalJump::sigma_z && delta == 0 && double(k) < j) ? -a : a;
}

DickeLabel sample_label(int N, double p, Rng& rng) {
  const int n_up = boost::random::binomial_distribution<int, double>(N, std::clamp(p, 0.0, 1.0))(rng);
  // j >= |m| means s <= min(n_up, N - n_up); k = j + m = n_up - s.
  const int s_max = std::min(n_up, N - n_up);
  const double log_total = log_binomial(N, n_up);
  const double u = boost::random::uniform_01<double>()(rng);
  double cumulative = 0.0;
  int s = s_max;
  for (; s > 0; --s) {  // from j = |m| upwards: the likely end for p != 1/2
    cumulative += std::exp(log_multiplicity(N, s) - log_total);
    if (u < cumulative) break;
  }
  return {s, Index(n_up - s)};
}

double diagonal_weight(int N, int s, Index k, double p_in) {
  // p a rounding outside [0, 1] would make log1p(-p) or log(p) NaN (and the whole state with it).
  const double p = std::clamp(p_in, 0.0, 1.0);
  const double n_up = double(s) + double(k);
  const double n_dn = double(N) - n_up;
  if ((p == 0.0 && n_up > 0) || (p == 1.0 && n_dn > 0)) return 0.0;
  double log_w = log_multiplicity(N, s);
  if (n_up > 0) log_w += n_up * std::log(p);
  if (n_dn > 0) log_w += n_dn * std::log1p(-p);
  return std::exp(log_w);
}

namespace {

/// Solves (T - lambda) x = b in place for a real symmetric tridiagonal T (diagonal a,
/// off-diagonal b) by LU with partial pivoting (LAPACK dgttrf/dgtts2); zero pivots are
/// replaced by a tiny number, as inverse iteration wants.
class ShiftedTridiagonal {
 public:
  ShiftedTridiagonal(const std::vector<double>& diag, const std::vector<double>& off, double lambda)
      : n_(diag.size()), d_(diag), dl_(off), du_(off), du2_(n_ > 2 ? n_ - 2 : 0, 0.0), pivot_(n_, 0) {
    double scale = 0.0;
    for (auto& x : d_) {
      x -= lambda;
      scale = std::max(scale, std::abs(x));
    }
    for (double x : off) scale = std::max(scale, std::abs(x));
    tiny_ = std::numeric_limits<double>::epsilon() * std::max(scale, 1.0);
    for (std::size_t i = 0; i + 1 < n_; ++i) {
      if (std::abs(d_[i]) >= std::abs(dl_[i])) {
        if (d_[i] == 0.0) d_[i] = tiny_;
        const double fact = dl_[i] / d_[i];
        dl_[i] = fact;
        d_[i + 1] -= fact * du_[i];
        pivot_[i] = i;
      } else {
        const double fact = d_[i] / dl_[i];
        d_[i] = dl_[i];
        dl_[i] = fact;
        const double temp = du_[i];
        du_[i] = d_[i + 1];
        d_[i + 1] = temp - fact * d_[i + 1];
        if (i + 2 < n_) {
          du2_[i] = du_[i + 1];
          du_[i + 1] = -fact * du_[i + 1];
        }
        pivot_[i] = i + 1;
      }
    }
    if (n_ > 0 && d_[n_ - 1] == 0.0) d_[n_ - 1] = tiny_;
  }

  void solve(std::vector<double>& x) const {
    for (std::size_t i = 0; i + 1 < n_; ++i) {
      if (pivot_[i] == i) {
        x[i + 1] -= dl_[i] * x[i];
      } else {
        const double temp = x[i] - dl_[i] * x[i + 1];
        x[i] = x[i + 1];
        x[i + 1] = temp;
      }
    }
    x[n_ - 1] /= d_[n_ - 1];
    if (n_ > 1) x[n_ - 2] = (x[n_ - 2] - du_[n_ - 2] * x[n_ - 1]) / d_[n_ - 2];
    for (std::ptrdiff_t i = std::ptrdiff_t(n_) - 3; i >= 0; --i)
      x[i] = (x[i] - du_[i] * x[i + 1] - du2_[i] * x[i + 2]) / d_[i];
  }

 private:
  std::size_t n_;
  std::vector<double> d_, dl_, du_, du2_;
  std::vector<std::size_t> pivot_;
  double tiny_;
};

void normalise(std::vector<double>& x) {
  double norm2 = 0.0;
  for (double v : x) norm2 += v * v;
  const double inv = 1.0 / std::sqrt(norm2);
  for (double& v : x) v *= inv;
}

}  // namespace

CVec rotated_state(double j, Index k, double theta, double phi) {
  const Index L = Index(std::llround(2 * j)) + 1;
  if (k < 0 || k >= L) throw std::out_of_range("dicke::rotated_state: k outside the sector");
  // n.J at phi = 0 is the real tridiagonal T = cos(theta) J_z + sin(theta) J_x.
  std::vector<double> diag(L), off(L > 1 ? L - 1 : 0);
  for (Index i = 0; i < L; ++i) diag[i] = std::cos(theta) * (double(i) - j);
  for (Index i = 0; i + 1 < L; ++i) off[i] = 0.5 * std::sin(theta) * j_plus(j, i);
  const double lambda = double(k) - j;
  const ShiftedTridiagonal lu(diag, off, lambda);
  // A fixed, irregular start vector: it has a component along every eigenvector in practice.
  std::vector<double> x(L);
  for (Index i = 0; i < L; ++i) x[i] = 1.0 + 0.5 * std::sin(1.0 + 2.3 * double(i) * double(i) + double(i));
  for (int iteration = 0; iteration < 3; ++iteration) {
    lu.solve(x);
    normalise(x);
  }
  CVec psi(L);
  for (Index i = 0; i < L; ++i) psi(i) = std::polar(x[i], -phi * (double(i) - j));
  return psi;
}

}  // namespace qfluct::dicke
