#include "qfluct/model/reservoir_spec.hpp"

#include <cmath>

namespace qfluct {

double ReservoirSpec::coupling_factor() const {
  const double m = double(M);
  return scaling == ReservoirScaling::sqrt ? 1.0 / std::sqrt(m) : 1.0 / m;
}

}  // namespace qfluct
