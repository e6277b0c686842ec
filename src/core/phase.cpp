#include "qfluct/core/phase.hpp"

#include <cmath>

namespace qfluct {

void fix_column_phases(CMat& U) {
  for (Index j = 0; j < U.cols(); ++j) {
    Index arg = 0;
    double best = -1.0;
    for (Index i = 0; i < U.rows(); ++i)
      if (std::abs(U(i, j)) > best * (1.0 + 1e-12)) best = std::abs(U(i, j)), arg = i;
    U.col(j) *= std::conj(U(arg, j)) / std::abs(U(arg, j));
  }
}

}  // namespace qfluct
