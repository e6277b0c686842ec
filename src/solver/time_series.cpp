#include "qfluct/solver/time_series.hpp"

#include <cmath>

namespace qfluct {

std::vector<double> time_grid(double t_end, double dt) {
  const long n = long(std::floor(t_end / dt * (1.0 + 1e-12) + 1e-9));
  std::vector<double> t(n + 1);
  for (long i = 0; i <= n; ++i) t[i] = double(i) * dt;
  return t;
}

}  // namespace qfluct
