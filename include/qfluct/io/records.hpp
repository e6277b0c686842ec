#pragma once
/// The trajectory records file OUT.records.csv (output.records = K; README "Trajectory records").
///
/// One row per recorded trajectory and output interval (t_{i-1}, t_i], i >= 1:
///   trajectory, t, I_<output>..., Y_<output>..., N_<channel>...
/// t is the interval's end t_i; I_<output> = (Y(t_i) - Y(t_{i-1})) / (t_i - t_{i-1}) is the
/// homodyne current averaged over the interval (units 1/sqrt(time) of the model's rates; its
/// mean is <L + L^+> with L = sqrt(rate) e^{-i phase} K, its white noise has unit intensity);
/// Y_<output> = int_{t_0}^{t_i} I dt is the integrated current; N_<channel> counts the jumps of
/// each jump channel in the interval. Numbers at 17 significant digits.
#include "qfluct/solver/time_series.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace qfluct {

/// The header's column names after "trajectory,t".
std::vector<std::string> records_columns(const TrajectoryRecords& records);

void write_records_csv(std::ostream& out, const TrajectoryRecords& records);

}  // namespace qfluct
