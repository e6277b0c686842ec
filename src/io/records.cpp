#include "qfluct/io/records.hpp"

#include <fmt/format.h>

namespace qfluct {

std::vector<std::string> records_columns(const TrajectoryRecords& r) {
  std::vector<std::string> columns;
  for (const auto& h : r.homodyne) columns.push_back("I_" + h);
  for (const auto& h : r.homodyne) columns.push_back("Y_" + h);
  for (const auto& c : r.jump_channels) columns.push_back("N_" + c);
  return columns;
}

void write_records_csv(std::ostream& out, const TrajectoryRecords& r) {
  std::string line = "trajectory,t";
  for (const auto& c : records_columns(r)) line += "," + c;
  out << line << '\n';
  const Eigen::Index H = Eigen::Index(r.homodyne.size()), J = Eigen::Index(r.jump_channels.size());
  for (std::size_t k = 0; k < r.values.size(); ++k) {
    const Eigen::MatrixXd& v = r.values[k];
    for (std::size_t i = 1; i < r.times.size(); ++i) {
      const auto now = Eigen::Index(i), before = Eigen::Index(i - 1);
      const double dt = r.times[i] - r.times[i - 1];
      line = fmt::format("{},{:.17g}", r.trajectory[k], r.times[i]);
      for (Eigen::Index b = 0; b < H; ++b) line += fmt::format(",{:.17g}", (v(now, b) - v(before, b)) / dt);
      for (Eigen::Index b = 0; b < H; ++b) line += fmt::format(",{:.17g}", v(now, b));
      for (Eigen::Index c = 0; c < J; ++c) line += fmt::format(",{:.17g}", v(now, H + c) - v(before, H + c));
      out << line << '\n';
    }
  }
}

}  // namespace qfluct
