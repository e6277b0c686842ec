// The mean-field model (Carollo 2023, Theorem 2) and time-dependent Hamiltonians.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/mean_field.hpp"
#include "qfluct/simulate.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"

#include <nlohmann/json.hpp>
#include <catch2/catch.hpp>
#include <cmath>

using namespace qfluct;

TEST_CASE("the bath Bloch vector follows the closed-form single-spin Bloch equations", "[mean_field]") {
  // Field along z with all rates: m_z relaxes at Gamma_+ to (Gamma_up - Gamma_down)/Gamma_+,
  // m_x + i m_y rotates at 2 h_z and decays at Gamma_+/2 + 2 Gamma_phi.
  CentralSpinParameters p;
  p.h = {0.0, 0.0, 0.7};
  p.Gamma_phi = 0.3;
  p.bath.steady = false;
  p.bath.r = {0.6, -0.2, 0.5};
  const BathBlochSolution m(p);
  const double G1 = p.Gamma_plus(), G2 = 0.5 * G1 + 2 * p.Gamma_phi, mz_inf = (p.Gamma_up - p.Gamma_down) / G1;
  for (double t : {0.0, 0.3, 1.0, 2.5, 7.0}) {
    const Eigen::Vector3d v = m(t);
    const std::complex<double> transverse = std::complex<double>(0.6, -0.2) * std::exp(std::complex<double>(-G2, 1.4) * t);
    CHECK(v(0) == Approx(transverse.real()).margin(1e-13));
    CHECK(v(1) == Approx(transverse.imag()).margin(1e-13));
    CHECK(v(2) == Approx(mz_inf + (0.5 - mz_inf) * std::exp(-G1 * t)).margin(1e-13));
  }
  // A transverse field without dissipation rotates m about x by the angle 2 h_x t.
  CentralSpinParameters q;
  q.h = {0.9, 0.0, 0.0};
  q.Gamma_up = q.Gamma_down = 0.0;
  q.bath.steady = false;
  q.bath.r = {0.0, 0.0, 1.0};
  const BathBlochSolution r(q);
  for (double t : {0.2, 1.1, 3.0}) {
    CHECK(r(t)(0) == Approx(0.0).margin(1e-13));
    CHECK(r(t)(1) == Approx(-std::sin(1.8 * t)).margin(1e-13));
    CHECK(r(t)(2) == Approx(std::cos(1.8 * t)).margin(1e-13));
  }
}

TEST_CASE("mean_field with g0 = 0 is the central spin alone", "[mean_field]") {
  // The central spin model with g0 = 0 (any N: take N = 1) leaves the central spin on its own.
  RunConfig c;
  c.model.g0 = 0.0;
  c.model.N = 1;
  c.model.h = {0.2, 0.1, 0.3};
  c.model.bath.steady = false;
  c.model.bath.r = {1.0, 0.0, 0.0};
  c.model.fluctuations = false;
  c.solver.rtol = 1e-11;
  c.solver.atol = 1e-13;
  const TimeSeries alone = simulate(c);
  c.kind = ModelKind::mean_field;
  const TimeSeries mf = simulate(c);
  REQUIRE(mf.columns == std::vector<std::string>{"tau_x", "tau_y", "tau_z", "m_x", "m_y", "m_z"});
  for (Index col = 0; col < 3; ++col) CHECK((mf.values.col(col) - alone.values.col(col)).cwiseAbs().maxCoeff() < 1e-9);
}

namespace {
/// Resonant or detuned Rabi driving: m rotates at omega = 2 h_z in the x-y plane, so
/// H_mf = w_z tau_z + (g0/2)(cos(omega t) tau_x + sin(omega t) tau_y); in the frame rotating at
/// omega, H' = (w_z - omega/2) tau_z + (g0/2) tau_x, and from |up>
/// <tau_z>(t) = 1 - 2 (g0/2)^2 / Omega^2 sin^2(Omega t),  Omega = sqrt((w_z - omega/2)^2 + (g0/2)^2).
RunConfig rabi(double detuning) {
  RunConfig c;
  c.kind = ModelKind::mean_field;
  c.model.g0 = 1.2;
  c.model.h = {0.0, 0.0, 0.8};
  c.model.w = {0.0, 0.0, 0.8 + detuning};
  c.model.gamma_up = c.model.gamma_down = c.model.Gamma_up = c.model.Gamma_down = 0.0;
  c.model.bath.steady = false;
  c.model.bath.r = {1.0, 0.0, 0.0};
  c.solver.rtol = 1e-11;
  c.solver.atol = 1e-13;
  c.output.t_end = 6.0;
  c.output.dt = 0.25;
  return c;
}
double rabi_tau_z(double detuning, double t) {
  const double coupling = 0.6, Omega = std::hypot(detuning, coupling);
  return 1.0 - 2.0 * coupling * coupling / (Omega * Omega) * std::pow(std::sin(Omega * t), 2);
}
}  // namespace

TEST_CASE("time-dependent H: Rabi driving against its closed form (ME and trajectories)", "[mean_field][driven]") {
  for (double detuning : {0.0, 0.45}) {
    RunConfig c = rabi(detuning);
    const TimeSeries me = simulate(c);
    c.solver.method = SolverMethod::jump;
    c.solver.ntraj = 4;  // no dissipation: every trajectory is the exact Schrodinger evolution
    const TimeSeries traj = simulate(c);
    for (std::size_t i = 0; i < me.times.size(); ++i) {
      INFO("detuning " << detuning << ", t = " << me.times[i]);
      CHECK(me.values(Index(i), 2) == Approx(rabi_tau_z(detuning, me.times[i])).margin(1e-8));
      CHECK(traj.values(Index(i), 2) == Approx(rabi_tau_z(detuning, me.times[i])).margin(1e-7));
    }
  }
}

TEST_CASE("driven trajectories with dissipation agree with the time-dependent ME", "[mean_field][driven][jump]") {
  // Mean field with a precessing, relaxing bath and central pump/decay: 7 times x 3 columns = 21
  // z-scores, |z| < 4.5 (Bonferroni: 21 * 6.8e-6 = 1.4e-4 false-alarm probability).
  RunConfig c;
  c.kind = ModelKind::mean_field;
  c.model.h = {0.3, 0.0, 0.9};
  c.model.bath.steady = false;
  c.model.bath.r = {0.9, 0.1, 0.0};
  c.output.t_end = 3.0;
  c.output.dt = 0.5;
  c.solver.rtol = 1e-11;
  c.solver.atol = 1e-13;
  const TimeSeries me = simulate(c);
  c.solver.method = SolverMethod::jump;
  c.solver.ntraj = 4000;
  const TimeSeries traj = simulate(c);
  for (Index t = 1; t < me.values.rows(); ++t)
    for (Index col = 0; col < 3; ++col) {
      INFO("t = " << me.times[t] << ", " << me.columns[col]);
      CHECK(std::abs(traj.values(t, col) - me.values(t, col)) < 4.5 * traj.errors(t, col));
    }
  CHECK(traj.info["jumps_per_trajectory"].get<double>() > 1.0);  // the jumps really happen
}
