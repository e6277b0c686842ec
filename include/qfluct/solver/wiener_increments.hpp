#pragma once
/// Increments of an m-dimensional Wiener process over one step, with the iterated Ito integrals
/// a strong order 1 scheme needs when its noise terms do not commute.
///
/// Over a step [t, t + h]:
///   dW_i      = W_i(t + h) - W_i(t)                       (independent N(0, h))
///   I(i, j)   = int_t^{t+h} (W_i(s) - W_i(t)) dW_j(s)     (Ito; m x m)
/// The diagonal is exact, I(i, i) = (dW_i^2 - h) / 2, and I(i, j) + I(j, i) = dW_i dW_j. The Levy
/// areas A(i, j) = (I(i, j) - I(j, i)) / 2 are not functions of dW: they are drawn from the
/// truncated Fourier expansion of the Brownian bridge (Kloeden, Platen & Wright, Stoch. Anal.
/// Appl. 10, 431 (1992)) with the Gaussian tail approximation of Mrongowius & Roessler, Stoch.
/// Anal. Appl. 40, 397 (2022): with n terms the mean-square error of each area is
/// O(h^2 / n^2), so n ~ 1 / sqrt(rate * h) keeps a strong order 1 scheme at order 1
/// (levy_area_terms).
#include "qfluct/core/random.hpp"
#include "qfluct/core/types.hpp"

namespace qfluct {

struct WienerStep {
  double h = 0.0;
  RVec dW;             ///< m increments
  Eigen::MatrixXd I;   ///< m x m iterated Ito integrals I(i, j) as above
};

/// Fourier terms for the Levy areas of m noises whose largest rate (1/time: the scale of the
/// noise terms squared) is `rate`, at step h: the smallest n with sqrt(m) / (sqrt(12) pi n)
/// <= sqrt(rate h), the area error then below the scheme's own local error (rate h)^(3/2) / rate.
/// 0 when m < 2 (no areas).
int levy_area_terms(Index m, double rate, double h);

/// Draws one step: dW and, with terms > 0 and m >= 2, the iterated integrals (terms = 0 and m >= 2
/// leaves the areas at 0: the commutative-noise approximation, strong order 1/2 in general).
/// Deterministic given the engine's state. Work space is reused between calls.
class WienerIncrements {
 public:
  explicit WienerIncrements(Index m) : m_(m) {}
  Index dimension() const { return m_; }
  void draw(Rng& rng, double h, int terms, WienerStep& out);

 private:
  Index m_;
  Eigen::MatrixXd x_, y_, area_;
  RVec psi_, xi_;
};

/// The iterated integrals of a step made of consecutive sub-steps (Chen's relation): for steps
/// a then b, I_ab(i, j) = I_a(i, j) + I_b(i, j) + dW_a,i dW_b,j and dW_ab = dW_a + dW_b. Appends
/// `next` to `total` (total.h = 0 and empty vectors start a new step).
void append_wiener_step(WienerStep& total, const WienerStep& next);

}  // namespace qfluct
