#pragma once
/// Central moments of a distribution from its raw moments: the nonlinear estimators qfluct
/// reports for the quadrature q of the mixture over trajectories (docs/statistics.md sections 4-5).
#include "qfluct/core/types.hpp"

namespace qfluct {

/// Number of values central_moments() writes.
inline constexpr Index central_moments_size = 4;

/// From the raw moments raw4 = (m1, m2, m3, m4), m_k = E[x^k], writes
///   out = (m1, Q2, Q4, Q4 - 3 Q2^2)
/// with Q2 = m2 - m1^2 and Q4 = m4 - 4 m3 m1 + 6 m2 m1^2 - 3 m1^4 the central moments
/// E[(x - m1)^k]; Q4 - 3 Q2^2 is the fourth cumulant, zero for a Gaussian (the non-Gaussianity).
/// Fits MeanFunction, so jackknife(samples, central_moments, central_moments_size) gives
/// bias-corrected estimates and errors from grouped sums of (x, x^2, x^3, x^4).
void central_moments(const double* raw4, double* out);

/// Moves estimates out = (m1, Q2, Q4, Q4 - 3 Q2^2) onto the bounds every distribution obeys,
/// given its second raw moment m2 = E[x^2]:
///   0 <= Q2 <= m2   (Q2 = m2 - m1^2),   Q4 >= Q2^2   (Jensen),   Q4 - 3 Q2^2 >= -2 Q2^2,
/// the last two with the bounded Q2. central_moments() of any mixture's raw moments obeys them
/// already; bias-corrected estimates need not (the correction of Q2 = m2 - m1^2 at m1 ~ 0 can
/// push it above m2). A value beyond a bound is replaced by the bound; NaN stays NaN.
void bound_central_moments(double m2, double* out);

}  // namespace qfluct
