#pragma once
/// A fixed phase convention for eigenvectors, so that bases computed by different routes (and
/// the sidecar's record of them) agree: the largest-modulus entry of every column is made real
/// and positive (the first such entry on ties, within a relative 1e-12).
#include "qfluct/core/types.hpp"

namespace qfluct {

/// Rescales each column of U by a phase; columns must be non-zero.
void fix_column_phases(CMat& U);

}  // namespace qfluct
