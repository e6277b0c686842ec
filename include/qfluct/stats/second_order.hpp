#pragma once
/// The second-order (curvature) error of a nonlinear function of means, which the jackknife
/// misses where the gradient of the function is small.
///
/// For means xbar with covariance C around the true means mu, a Gaussian second-order
/// expansion of f gives
///   Var f(xbar) = g^T C g + 1/2 tr((H C)^2),        g, H: gradient and Hessian of f at mu.
/// The delete-one-group jackknife measures only the first term, and with the gradient taken
/// at xbar instead of mu, which adds tr((H C)^2) on average. Near a vanishing gradient (the
/// variance Q2 = m2 - m1^2 at m1 ~ 0) its error falls far below the real spread of f(xbar),
/// and jackknife z-scores have standard deviations of 3 and more. The honest variance is
/// estimated by
///   max(jk^2 - 2 c, 0) + c,        c = 1/2 tr((H C)^2),
/// which is jk^2 where the gradient dominates (c << jk^2) and c where it vanishes.
/// c is computed without derivatives of f supplied by the caller: with C = L L^T, tr((H C)^2)
/// = ||L^T H L||_F^2 is the squared Frobenius norm of the Hessian of z -> f(xbar + L z), found
/// by central differences of step one standard deviation along each principal direction
/// (exact for quadratic f; for polynomials of higher degree it averages the curvature over the
/// scale of the noise, which is the scale that matters).
#include "qfluct/stats/jackknife.hpp"

namespace qfluct {

/// c_k = 1/2 tr((H_k C)^2) for every output k of f (out_dim of them) at `means`, with `cov`
/// the covariance matrix of the means (dim x dim, symmetric positive semidefinite; directions
/// whose variance is below 1e-14 of the largest are treated as exact). Costs 1 + 2 r^2
/// evaluations of f for r directions with variance. NaN for outputs f leaves non-finite at any
/// evaluated point, and for every output when cov is not finite.
/// Throws InputError when the shapes do not match.
RVec curvature_variance(const MeanFunction& f, Index out_dim, const RVec& means, const Eigen::MatrixXd& cov);

/// The standard error of a nonlinear estimate from its jackknife error and its curvature
/// variance c (see the file comment): sqrt(max(jk^2 - 2 c, 0) + c). NaN in, NaN out.
double nonlinear_standard_error(double jackknife_error, double curvature);

}  // namespace qfluct
