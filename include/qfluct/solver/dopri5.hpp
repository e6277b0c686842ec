#pragma once
/// Adaptive Dormand-Prince 5(4) integrator for dy/dt = f(t, y), y complex (Hairer, Norsett,
/// Wanner, "Solving ODEs I", sec. II.4-5): embedded error estimate, RMS error norm
///   err = sqrt(mean_i (|e_i| / (atol + rtol max(|y_i|, |y_new_i|)))^2),
/// step accepted when err <= 1, step-size control with safety 0.9 and factors in [0.2, 5].
/// integrate() steps freely and reports an output grid through the method's 4th-order dense
/// output (Hairer's contd5); advance() lands exactly on its target.
#include "qfluct/core/types.hpp"

#include <functional>
#include <vector>

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

  /// output(i, y(times[i])) for each time of an ascending grid.
  using Output = std::function<void(std::size_t, const CVec&)>;

  /// Advances (t, y) to t_target (> t), with as many adaptive steps as needed.
  void advance(double& t, CVec& y, double t_target);
  /// Integrates from (t, y) to times.back() (ends with y there) and reports every grid time:
  /// times <= t at once, later ones from the dense output of the step that passes them, so the
  /// grid does not cut the steps (only the last step is cut, to end on times.back()).
  void integrate(double t, CVec& y, const std::vector<double>& times, const Output& output);
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
  /// One step from (t, y) toward t_end under step-size control. Rejected: false, with a smaller
  /// next step. Accepted: true, the step h taken, its end t_new (t_end exactly on the last step),
  /// the 5th-order solution in ytmp_ and the stages valid for dense_output until accept().
  bool controlled_step(double t, const CVec& y, double t_end, double& h, double& t_new);
  /// Moves (t, y) to the accepted step's end; its k7 becomes the next k1.
  void accept(double& t, CVec& y, double t_new);
  /// The stage vectors and k1 = f(t, y) ready for a step from (t, y).
  void prepare(double t, const CVec& y);
  /// After step_from_k1(t, y0, h, y1), before the stages change: y(t + theta h) into out.
  void dense_output(const CVec& y0, const CVec& y1, double h, double theta, CVec& out) const;
  Rhs f_;
  OdeTolerances tol_;
  long max_steps_;
  CVec k1_, k2_, k3_, k4_, k5_, k6_, k7_, ytmp_, yout_;
  bool have_k1_ = false;  // first-same-as-last: k1 of the next step is k7 of this one
  double h_ = 0.0;
  double t_k1_ = 0.0;
  OdeStatistics stats_;
};

}  // namespace qfluct
