#pragma once
// TEMPORARY placeholder until branch i11-entangle is merged (take theirs).
#include "qfluct/core/types.hpp"
namespace qfluct {
double purity(const CMat& rho);
double concurrence(const CMat& rho);
double negativity(const CMat& rho);
}  // namespace qfluct
