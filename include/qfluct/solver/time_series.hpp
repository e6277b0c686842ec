#pragma once
/// What a time-dependent run returns: observables on the output grid, their standard errors
/// (stochastic solvers), and the solver's diagnostics for the JSON sidecar.
#include <Eigen/Core>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace qfluct {

/// A solver's diagnostics (steps, jumps, tolerances reached, ...): a JSON object, written to the
/// sidecar. Only the forward declaration of nlohmann::json reaches this header, so a simulation
/// does not pull the JSON library into its translation units; include <nlohmann/json.hpp> where
/// the values are read or written.
class Diagnostics {
 public:
  Diagnostics();  ///< an empty object
  Diagnostics(const Diagnostics& other);  ///< copies (moves copy too: the object is small)
  Diagnostics& operator=(const Diagnostics& other);
  ~Diagnostics();
  /// Replaces the whole object.
  Diagnostics& operator=(nlohmann::json value);

  nlohmann::json& json() { return *value_; }
  const nlohmann::json& json() const { return *value_; }
  /// The entry `key`, created (null) when absent.
  nlohmann::json& operator[](const std::string& key);
  /// The entry `key`; throws (nlohmann::json::out_of_range) when absent.
  const nlohmann::json& operator[](const std::string& key) const;

 private:
  std::unique_ptr<nlohmann::json> value_;
};

/// The measurement records of the first trajectories of an ensemble (output.records), on the
/// output grid: per trajectory, a times x (homodyne + jump_channels) matrix whose row i holds at
/// t_i the integrated homodyne current Y_b(t_i) = int_{t_0}^{t_i} I_b dt of each homodyne output
/// (units sqrt(time): I_b = <L_b + L_b^+> + white noise has units 1/sqrt(time)), then the number
/// of jumps so far of each jump channel. Empty unless records were asked for.
struct TrajectoryRecords {
  std::vector<std::string> homodyne;       ///< homodyne outputs (channel, or channel_branch)
  std::vector<std::string> jump_channels;  ///< channels that jump
  std::vector<double> times;
  std::vector<long> trajectory;            ///< trajectory index of each matrix
  std::vector<Eigen::MatrixXd> values;
  bool empty() const { return values.empty(); }
};

struct TimeSeries {
  std::vector<std::string> columns;
  std::vector<double> times;
  Eigen::MatrixXd values;  ///< times x columns
  Eigen::MatrixXd errors;  ///< same shape for stochastic solvers; empty for exact ones
  Diagnostics info;        ///< diagnostics: steps, jumps, tolerances reached, ...
  TrajectoryRecords records;  ///< trajectory ensembles with output.records > 0
};

/// The output grid 0, dt, 2 dt, ..., t_end: t_i = i dt while below t_end, and the last point is
/// t_end exactly. When t_end is a multiple of dt within rounding (relative 1e-12 of the count,
/// plus 1e-9 of a step) the last whole step ends there (its value set to t_end), otherwise a
/// final step shorter than dt is added; dt > t_end gives {0, t_end}. Needs t_end, dt > 0.
std::vector<double> time_grid(double t_end, double dt);

}  // namespace qfluct
