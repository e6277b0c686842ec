#include "qfluct/model/reduced_columns.hpp"

#include "qfluct/model/entanglement.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace qfluct {

std::vector<std::string> reduced_columns(const OpenSystemSpec& system, std::size_t modes) {
  const Index d = system.dim();
  std::vector<std::string> cols;
  for (Index a = 0; a < d; ++a)
    for (Index b = 0; b < d; ++b) {
      const std::string ab = d <= 10 ? fmt::format("{}{}", a, b) : fmt::format("{}_{}", a, b);
      cols.push_back(fmt::format("rho_{}_re", ab));
      cols.push_back(fmt::format("rho_{}_im", ab));
    }
  for (std::size_t m = 0; m < modes; ++m) cols.push_back(fmt::format("n_{}", m));
  for (const auto& o : system.observables) cols.push_back(o.name);
  cols.push_back("purity");
  if (system.entanglement) {
    cols.push_back("concurrence");
    cols.push_back("negativity");
  }
  return cols;
}

TimeSeries reduced_time_series(const OpenSystemSpec& system, std::size_t modes, const ReducedEvolution& r,
                               const std::vector<double>& times) {
  const Index d = system.dim();
  if (r.rho.size() != times.size()) throw std::invalid_argument("reduced_time_series: one rho_S per output time needed");
  TimeSeries ts;
  ts.columns = reduced_columns(system, modes);
  ts.times = times;
  ts.values.resize(Index(times.size()), Index(ts.columns.size()));
  for (std::size_t i = 0; i < times.size(); ++i) {
    const CMat& rho = r.rho[i];
    if (rho.rows() != d || rho.cols() != d) throw std::invalid_argument("reduced_time_series: rho_S is not d x d");
    if (modes > 0 && (i >= r.env.size() || r.env[i].size() < modes))
      throw std::invalid_argument("reduced_time_series: fewer environment values than modes");
    auto row = ts.values.row(Index(i));
    Index c = 0;
    for (Index a = 0; a < d; ++a)
      for (Index b = 0; b < d; ++b) {
        row(c++) = rho(a, b).real();
        row(c++) = rho(a, b).imag();
      }
    for (std::size_t m = 0; m < modes; ++m) row(c++) = r.env[i][m];
    for (const auto& o : system.observables) row(c++) = (rho * o.O).trace().real();
    row(c++) = purity(rho);
    if (system.entanglement) {
      row(c++) = concurrence(rho);
      row(c++) = negativity(rho);
    }
  }
  return ts;
}

}  // namespace qfluct
