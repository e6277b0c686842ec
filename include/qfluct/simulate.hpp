#pragma once
/// One call from a validated configuration to results: builds the model the config names,
/// runs the solver it names, and returns the time series with the solver's diagnostics.
/// The command-line program is a thin layer over this.
#include "qfluct/io/config.hpp"
#include "qfluct/solver/time_series.hpp"

namespace qfluct {

struct SimulateOptions {
  bool progress = false;  ///< draw a progress bar on stderr
};

TimeSeries simulate(const RunConfig& config, const SimulateOptions& options = {});

/// Derived quantities the sidecar reports next to the parameters (g, eps, nbar, ...).
nlohmann::json derived_quantities(const RunConfig& config);

}  // namespace qfluct
