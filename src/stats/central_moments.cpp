#include "qfluct/stats/central_moments.hpp"

namespace qfluct {

void central_moments(const double* raw4, double* out) {
  const double m1 = raw4[0], m2 = raw4[1], m3 = raw4[2], m4 = raw4[3];
  const double q2 = m2 - m1 * m1;
  // Horner form of m4 - 4 m3 m1 + 6 m2 m1^2 - 3 m1^4: fewer roundings, same polynomial.
  const double q4 = m4 - m1 * (4.0 * m3 - m1 * (6.0 * m2 - 3.0 * m1 * m1));
  out[0] = m1;
  out[1] = q2;
  out[2] = q4;
  out[3] = q4 - 3.0 * q2 * q2;
}

void bound_central_moments(double m2, double* out) {
  // Comparisons written so that NaN fails them and is kept.
  if (out[1] < 0.0) out[1] = 0.0;
  if (out[1] > m2 && m2 >= 0.0) out[1] = m2;
  const double q2 = out[1];
  if (out[2] < q2 * q2) out[2] = q2 * q2;
  if (out[3] < -2.0 * q2 * q2) out[3] = -2.0 * q2 * q2;
}

}  // namespace qfluct
