#include "qfluct/model/entanglement.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/SVD>
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace qfluct {

namespace {
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

void require_shape(const CMat& rho, Index d, const char* what) {
  if (rho.rows() != rho.cols() || (d > 0 && rho.rows() != d) || rho.rows() == 0)
    throw std::invalid_argument(std::string(what) + ": rho must be " +
                                (d > 0 ? std::to_string(d) + " x " + std::to_string(d) : "square and non-empty") +
                                ", got " + std::to_string(rho.rows()) + " x " + std::to_string(rho.cols()));
}

CMat hermitian_part(const CMat& rho) { return 0.5 * (rho + rho.adjoint()); }
}  // namespace

double purity(const CMat& rho) {
  require_shape(rho, 0, "purity");
  if (!rho.allFinite()) return nan;
  return hermitian_part(rho).squaredNorm();
}

double concurrence(const CMat& rho) {
  require_shape(rho, 4, "concurrence");
  if (!rho.allFinite()) return nan;
  const Eigen::SelfAdjointEigenSolver<CMat> eig(hermitian_part(rho));
  // W W^+ = positive part of rho_h; the columns of W are the subnormalised eigenvectors.
  const Eigen::VectorXd weights = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const CMat W = eig.eigenvectors() * weights.asDiagonal();
  // sigma_y (x) sigma_y in the basis uu, ud, du, dd is the real anti-diagonal (-1, 1, 1, -1).
  CMat yy = CMat::Zero(4, 4);
  yy(0, 3) = yy(3, 0) = -1.0;
  yy(1, 2) = yy(2, 1) = 1.0;
  // tau = W^T yy W: its singular values are the l_i, since tau tau^+ = W^T (yy rho_+ yy) W^* has
  // the non-zero spectrum of yy rho_+ yy rho_+^* (W^* W^T = rho_+^*), which is that of rho_+ rho_+~.
  const CMat tau = W.transpose() * yy * W;
  const Eigen::VectorXd l = Eigen::JacobiSVD<CMat>(tau).singularValues();  // decreasing
  return std::max(0.0, l(0) - l(1) - l(2) - l(3));
}

double negativity(const CMat& rho) {
  require_shape(rho, 4, "negativity");
  if (!rho.allFinite()) return nan;
  const CMat h = hermitian_part(rho);
  CMat pt(4, 4);
  for (Index a = 0; a < 2; ++a)
    for (Index b = 0; b < 2; ++b)
      for (Index c = 0; c < 2; ++c)
        for (Index d = 0; d < 2; ++d) pt(2 * a + b, 2 * c + d) = h(2 * a + d, 2 * c + b);
  const Eigen::VectorXd p = Eigen::SelfAdjointEigenSolver<CMat>(pt, Eigen::EigenvaluesOnly).eigenvalues();
  return -p.cwiseMin(0.0).sum();
}

}  // namespace qfluct
