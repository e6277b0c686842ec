#pragma once
/// A linearly implicit integrator for stiff linear systems dy/dt = L y with a constant sparse
/// complex L (a time-independent master equation): the Rosenbrock method Rodas3 (Sandu et al.,
/// Atmos. Environ. 31, 3459 (1997); Hairer and Wanner, "Solving ODEs II", sec. IV.7). Four
/// stages, order 3 with an embedded order-2 solution for step-size control, L-stable and stiffly
/// accurate: decaying modes of any rate are damped, so steps are limited by the accuracy of the
/// slow dynamics and not by the fastest decay rate, which limits an explicit method (Dopri5) to
/// h < ~3.3 / |lambda_max|.
///
/// For linear L the stages are k_i = (I - h/2 L)^{-1} h L (y + sum_j c_ij k_j): one sparse LU of
/// (I - h/2 L) per step size (Eigen SparseLU, COLAMD ordering) and four solves per step. The
/// error norm and the step control are those of Dopri5 (atol + rtol max(|y|, |y_new|), RMS,
/// safety 0.9, factors in [0.2, 5], exponent 1/3); a step size within 1 to 1.2 times the last is
/// kept, so that the factorisation is reused. Fast oscillations (large imaginary eigenvalues)
/// still need small steps: the method resolves them, it does not skip them.
#include "qfluct/core/types.hpp"
#include "qfluct/solver/dopri5.hpp"

#include <Eigen/SparseCore>
#include <Eigen/SparseLU>
#include <functional>
#include <vector>

namespace qfluct {

struct RosenbrockStatistics {
  long steps = 0;
  long rejected = 0;
  long factorizations = 0;
  long solves = 0;
};

class LinearRosenbrock {
 public:
  /// L: n x n. Throws std::invalid_argument if L is not square.
  LinearRosenbrock(Eigen::SparseMatrix<cplx> L, OdeTolerances tol, long max_steps = 50'000'000);

  /// Integrates from (t, y) over the ascending grid `times`, stepping onto every grid time, and
  /// calls output(i, y(times[i])); times <= t are reported at once. Ends with y at times.back().
  /// Throws NumericalError when the step size underflows or max_steps is exceeded, or the matrix
  /// (I - h/2 L) is singular.
  void integrate(double t, CVec& y, const std::vector<double>& times, const Dopri5::Output& output);
  /// One step of size h from y: the order-3 solution into y_new; returns the scaled error norm.
  double try_step(const CVec& y, double h, CVec& y_new);
  const RosenbrockStatistics& statistics() const { return stats_; }

 private:
  void factor(double h);
  Eigen::SparseMatrix<cplx> L_;
  Eigen::SparseMatrix<cplx> identity_;
  OdeTolerances tol_;
  long max_steps_;
  Eigen::SparseLU<Eigen::SparseMatrix<cplx>, Eigen::COLAMDOrdering<int>> lu_;
  double factored_h_ = 0.0;
  bool analyzed_ = false;
  CVec k_[4], w_;
  RosenbrockStatistics stats_;
};

}  // namespace qfluct
