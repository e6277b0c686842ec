#pragma once
/// What a time-dependent run returns: observables on the output grid, their standard errors
/// (stochastic solvers), and the solver's diagnostics for the JSON sidecar.
#include <Eigen/Core>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qfluct {

struct TimeSeries {
  std::vector<std::string> columns;
  std::vector<double> times;
  Eigen::MatrixXd values;  ///< times x columns
  Eigen::MatrixXd errors;  ///< same shape for stochastic solvers; empty for exact ones
  nlohmann::json info;     ///< diagnostics: steps, jumps, tolerances reached, ...
};

/// t_i = i dt for i = 0 .. floor(t_end / dt) (the end included when dt divides it).
std::vector<double> time_grid(double t_end, double dt);

}  // namespace qfluct
