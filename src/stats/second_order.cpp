#include "qfluct/stats/second_order.hpp"

#include "qfluct/core/error.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>
#include <limits>
#include <string>

namespace qfluct {

RVec curvature_variance(const MeanFunction& f, Index out_dim, const RVec& means, const Eigen::MatrixXd& cov) {
  if (!f) throw InputError("f", "no function given");
  if (out_dim < 1) throw InputError("out_dim", "must be at least 1, got " + std::to_string(out_dim));
  const Index dim = means.size();
  if (cov.rows() != dim || cov.cols() != dim)
    throw InputError("cov", "must be " + std::to_string(dim) + " x " + std::to_string(dim) + ", got " +
                                std::to_string(cov.rows()) + " x " + std::to_string(cov.cols()));
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  RVec c = RVec::Zero(out_dim);
  if (!cov.allFinite() || !means.allFinite()) return RVec::Constant(out_dim, nan);

  // Principal directions scaled to one standard deviation: the columns of L, C = L L^T.
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (cov + cov.transpose()));
  const RVec& lambda = eig.eigenvalues();
  const double largest = dim > 0 ? lambda.cwiseAbs().maxCoeff() : 0.0;
  std::vector<RVec> L;
  for (Index i = 0; i < dim; ++i)
    if (lambda[i] > 1e-14 * largest && lambda[i] > 0) L.push_back(eig.eigenvectors().col(i) * std::sqrt(lambda[i]));
  const Index r = Index(L.size());
  if (r == 0) return c;

  RVec point(dim), value(out_dim), centre(out_dim);
  // g(z) with z = sa e_a + sb e_b (b < 0: along a only), written to `value`.
  auto g = [&](Index a, double sa, Index b, double sb) {
    point = means + sa * L[std::size_t(a)];
    if (b >= 0) point += sb * L[std::size_t(b)];
    value.setConstant(nan);
    f(point.data(), value.data());
  };
  auto bad = [&](Index k, double x) {
    if (!std::isfinite(x)) c[k] = nan;
  };
  value.setConstant(nan);
  f(means.data(), centre.data());
  for (Index k = 0; k < out_dim; ++k) bad(k, centre[k]);

  // Hessian of g at 0 by central differences of unit step: H_aa from g(+-2 e_a), H_ab from
  // g(+-e_a +-e_b), both over 4 (the same stencil, so exact for any quadratic).
  RVec sum(out_dim);
  for (Index a = 0; a < r; ++a) {
    g(a, 2.0, -1, 0.0);
    sum = value - 2.0 * centre;
    g(a, -2.0, -1, 0.0);
    sum += value;
    for (Index k = 0; k < out_dim; ++k) {
      const double h = sum[k] / 4.0;
      bad(k, h);
      c[k] += 0.5 * h * h;
    }
    for (Index b = a + 1; b < r; ++b) {
      g(a, 1.0, b, 1.0);
      sum = value;
      g(a, 1.0, b, -1.0);
      sum -= value;
      g(a, -1.0, b, 1.0);
      sum -= value;
      g(a, -1.0, b, -1.0);
      sum += value;
      for (Index k = 0; k < out_dim; ++k) {
        const double h = sum[k] / 4.0;
        bad(k, h);
        c[k] += h * h;  // H_ab and H_ba: 2 x 1/2
      }
    }
  }
  return c;
}

double nonlinear_standard_error(double jackknife_error, double curvature) {
  if (!std::isfinite(jackknife_error) || !std::isfinite(curvature)) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(std::max(jackknife_error * jackknife_error - 2.0 * curvature, 0.0) + curvature);
}

}  // namespace qfluct
