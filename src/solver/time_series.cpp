#include "qfluct/solver/time_series.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace qfluct {

Diagnostics::Diagnostics() : value_(std::make_unique<nlohmann::json>(nlohmann::json::object())) {}
Diagnostics::Diagnostics(const Diagnostics& other) : value_(std::make_unique<nlohmann::json>(*other.value_)) {}
Diagnostics& Diagnostics::operator=(const Diagnostics& other) {
  if (this != &other) value_ = std::make_unique<nlohmann::json>(*other.value_);
  return *this;
}
Diagnostics::~Diagnostics() = default;
Diagnostics& Diagnostics::operator=(nlohmann::json value) {
  *value_ = std::move(value);
  return *this;
}
nlohmann::json& Diagnostics::operator[](const std::string& key) { return (*value_)[key]; }
const nlohmann::json& Diagnostics::operator[](const std::string& key) const { return value_->at(key); }

std::vector<double> time_grid(double t_end, double dt) {
  // n whole steps; t_end / dt within rounding below an integer counts as that integer (the
  // relative 1e-12 and absolute 1e-9 slack of the count), so t_end = 0.3, dt = 0.1 has n = 3.
  const long n = long(std::floor(t_end / dt * (1.0 + 1e-12) + 1e-9));
  std::vector<double> t;
  t.reserve(std::size_t(n) + 2);
  for (long i = 0; i <= n; ++i) t.push_back(double(i) * dt);
  // The grid ends at t_end exactly. A multiple within the same rounding (either side) has its
  // last point replaced by t_end (3 * 0.1 = 0.30000000000000004 becomes 0.3; 80 * 0.05 == 4
  // already, so such grids are unchanged); otherwise a final, shorter step goes to t_end.
  const bool multiple = double(n) * dt >= t_end || t_end - double(n) * dt <= (1e-9 + 1e-12 * double(n)) * dt;
  if (multiple && n > 0) t.back() = t_end;
  else t.push_back(t_end);  // (n = 0 with t_end within rounding of 0 still gets its own point)
  return t;
}

}  // namespace qfluct
