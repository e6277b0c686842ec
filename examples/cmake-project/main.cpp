// A downstream program: builds a central-spin model in code, solves its master equation through
// qfluct's public API, and checks the result against a closed form.
//
// With g0 = 0 the central spin is decoupled from its bath and relaxes on its own under
// H = w_z tau_z and the jumps sqrt(gamma_down) tau_-, sqrt(gamma_up) tau_+. From tau = (1, 0, 0):
//   tau_x(t) = e^{-G t/2} cos(2 w_z t),  tau_y(t) = e^{-G t/2} sin(2 w_z t),
//   tau_z(t) = tau_ss (1 - e^{-G t}),     G = gamma_up + gamma_down, tau_ss = (gamma_up - gamma_down)/G.
// Exit code 0 when the solver agrees with this to 1e-7, 1 otherwise.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/time_series.hpp"
#include "qfluct/version.hpp"

// The headers of a simulation (model, solver, results) must not pull in the config parser's
// TOML library or the JSON library (issue 11; diagnostics reach them as a forward declaration).
#ifdef TOMLPLUSPLUS_H
#error "toml++ is reachable from the simulation headers"
#endif
#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "nlohmann/json.hpp is reachable from the simulation headers"
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>

int main() {
  qfluct::CentralSpinParameters p;
  p.N = 2;                  // a small bath; with g0 = 0 it does not act on the central spin
  p.g0 = 0.0;
  p.w = {0.0, 0.0, 0.75};
  p.gamma_up = 0.3;
  p.gamma_down = 0.9;
  p.central = {1.0, 0.0, 0.0};
  p.fluctuations = false;   // report tau_x, tau_y, tau_z only
  p.validate();

  const qfluct::CentralSpinModel model(p);
  const qfluct::BlockMasterEquation me(model);
  const qfluct::TimeSeries series = me.solve(qfluct::time_grid(3.0, 0.5));

  auto column = [&](const char* name) {
    const auto it = std::find(series.columns.begin(), series.columns.end(), name);
    if (it == series.columns.end()) {
      std::fprintf(stderr, "no column %s in the results\n", name);
      std::exit(1);
    }
    return Eigen::Index(std::distance(series.columns.begin(), it));
  };
  const Eigen::Index cx = column("tau_x"), cy = column("tau_y"), cz = column("tau_z");
  const double G = p.gamma_up + p.gamma_down, tau_ss = (p.gamma_up - p.gamma_down) / G;

  std::printf("qfluct %s: a lone central spin, master equation against the closed form\n", qfluct::version);
  std::printf("%5s %13s %13s %13s %10s\n", "t", "tau_x", "tau_y", "tau_z", "max |diff|");
  double worst = 0.0;
  for (std::size_t i = 0; i < series.times.size(); ++i) {
    const double t = series.times[i];
    const double x = std::exp(-G * t / 2) * std::cos(2 * p.w[2] * t);
    const double y = std::exp(-G * t / 2) * std::sin(2 * p.w[2] * t);
    const double z = tau_ss * (1 - std::exp(-G * t));
    const auto row = series.values.row(Eigen::Index(i));
    const double diff = std::max({std::abs(row(cx) - x), std::abs(row(cy) - y), std::abs(row(cz) - z)});
    worst = std::max(worst, diff);
    std::printf("%5.2f %13.9f %13.9f %13.9f %10.2e\n", t, row(cx), row(cy), row(cz), diff);
  }
  // The solver runs at rtol = 1e-9, atol = 1e-11 over a few dozen steps: errors of order 1e-9.
  const bool ok = worst < 1e-7;
  std::printf("%s: largest deviation %.2e (tolerance 1e-7)\n", ok ? "ok" : "FAILED", worst);
  return ok ? 0 : 1;
}
