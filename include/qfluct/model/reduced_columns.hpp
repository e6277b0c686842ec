#pragma once
/// The CSV columns of the open-system contract (issue 11) from reduced states of S: the columns
/// an OpenSystemModel declares, in its order, for solvers that produce rho_S(t) directly (the
/// finite-M references, the unitary S + F evolution, closed forms):
///   rho_ab_re, rho_ab_im (row-major; rho_a_b_re for d > 10), n_0 .. n_{modes-1} (from
///   ReducedEvolution::env[i][0 .. modes-1]), the named observables tr(rho_S O), purity, and
///   concurrence, negativity when system.entanglement.
#include "qfluct/model/open_system_spec.hpp"
#include "qfluct/solver/reduced_evolution.hpp"
#include "qfluct/solver/time_series.hpp"

#include <string>
#include <vector>

namespace qfluct {

/// The column names for S of dimension system.dim() with `modes` mode occupations.
std::vector<std::string> reduced_columns(const OpenSystemSpec& system, std::size_t modes);

/// One row per output time (r.rho.size() == times.size()); errors empty (exact solvers).
/// std::invalid_argument when r has fewer than `modes` environment values or wrong shapes.
TimeSeries reduced_time_series(const OpenSystemSpec& system, std::size_t modes, const ReducedEvolution& r,
                               const std::vector<double>& times);

}  // namespace qfluct
