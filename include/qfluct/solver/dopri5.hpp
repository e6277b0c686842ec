#pragma once
/// Adaptive Dormand-Prince 5(4) integrator for dy/dt = f(t, y), y complex (Hairer, Norsett,
/// Wanner, "Solving ODEs I", sec. II.4-5): embedded error estimate, RMS error norm
///   err = sqrt(mean_i (|e_i| / (atol + rtol max(|y_i|, |y_new_i|)))^2),
/// step accepted when err <= 1, step-size control with safety 0.9 and factors in [0.2, 5].
/// Steps land exactly on the requested times.
#include "qfluct/core/types.hpp"

#include <functional>

namespace qfluct {

struct OdeTolerances {
  double rtol = 1e-8;
  double atol = 1e-10;
};

struct OdeStatistics {
  long steps = 0;
  long rejected = 0;
  long evaluations = 0;
};

class Dopri5 {
 public:
  /// f(t, y, dydt) writes the derivative into dydt (already sized).
  using Rhs = std::function<void(double, const CVec&, CVec&)>;

  Dopri5(Rhs f, Index size, OdeTolerances tol, long max_steps = 50'000'000);

  /// Advances (t, y) to t_target (> t), with as many adaptive steps as needed.
  void advance(double& t, CVec& y, double t_target);
  /// One trial step of size h from (t, y): writes the 5th-order y(t + h) into y_new and returns
  /// the scaled error norm (accept when <= 1). For callers with their own step control (the
  /// driven trajectories); does not touch the state advance() keeps.
  double try_step(double t, const CVec& y, double h, CVec& y_new);
  const OdeStatistics& statistics() const { return stats_; }

 private:
  double initial_step(double t, const CVec& y);
  /// Stages 2..7 from k1 = f(t, y): the 5th-order solution into y_new (which must not alias y),
  /// k7 = f(t + h, y_new), and the returned scaled error norm.
  double step_from_k1(double t, const CVec& y, double h, CVec& y_new);
  Rhs f_;
  OdeTolerances tol_;
  long max_steps_;
  CVec k1_, k2_, k3_, k4_, k5_, k6_, k7_, ytmp_;
  bool have_k1_ = false;  // first-same-as-last: k1 of the next step is k7 of this one
  double h_ = 0.0;
  double t_k1_ = 0.0;
  OdeStatistics stats_;
};

}  // namespace qfluct
