// The central spin model's sector description: completeness of the Kraus operators, the
// initial state's closed-form moments, and stationarity of Omega_SS for the bath alone.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/solver/master_equation.hpp"

#include <Eigen/Eigenvalues>
#include <catch2/catch.hpp>

using namespace qfluct;

namespace {
CentralSpinParameters with_everything(int N) {
  CentralSpinParameters p;
  p.N = N;
  p.h = {0.3, -0.2, 0.4};
  p.Gamma_phi = 0.35;
  return p;
}
}  // namespace

TEST_CASE("sum_b K^+K of every channel equals its closed-form weight, exactly", "[model]") {
  for (int N : {1, 2, 5, 8}) {
    const CentralSpinModel m(with_everything(N));
    REQUIRE(m.channels().size() == 5);
    for (int s = 0; s < m.sector_count(); ++s) {
      const Window w = m.full_window(s);
      for (int c = 0; c < int(m.channels().size()); ++c) {
        CMat sum = CMat::Zero(m.dim(s), m.dim(s));
        for (Index b = 0; b < m.channels()[c].branches(); ++b) {
          const int t = s + m.channels()[c].sector_shift[b];
          if (!m.has_sector(t)) continue;
          const CMat K = m.kraus(c, int(b), s, w, m.full_window(t)).dense();
          sum += K.adjoint() * K;
        }
        const CMat expected = m.channel_weight(c, s, w).cast<cplx>().asDiagonal();
        INFO("N = " << N << ", sector " << s << ", channel " << m.channels()[c].name);
        // Sums of three squares of square roots of rationals: exact to rounding.
        CHECK((sum - expected).cwiseAbs().maxCoeff() < 1e-12 * std::max(1, N));
      }
    }
  }
}

TEST_CASE("at t = 0 the fluctuation mode has its closed-form moments for every N", "[model]") {
  // Omega_SS is a product of diagonal spins, so X = J_+ + J_- = sum_k sigma_x^(k) is a sum of N
  // independent +-1: <X^2> = N, <X^4> = 3N^2 - 2N; and <sigma_+^(k) sigma_-^(l)> = delta_kl p_up
  // gives n = <J_+J_->/(eps N) = p_up / eps = Gamma_up / (eps Gamma_+) at every N.
  for (int N : {1, 2, 7, 50, 200}) {
    CentralSpinParameters p;
    p.N = N;
    const CentralSpinModel m(p);
    const BlockMasterEquation me(m);
    const CVec y = me.pack(m.initial_density());
    const ObservableSet obs(m);
    std::vector<double> raw(obs.raw_size()), col(obs.column_count());
    obs.measure(me.blocks(y), 0.0, raw.data());
    obs.derive(raw.data(), col.data());
    const double eps = p.eps();
    INFO("N = " << N);
    CHECK(col[2] == Approx(1.0).epsilon(1e-13));                                            // tau_z
    CHECK(col[3] == Approx(0.0).margin(1e-13));                                             // q
    CHECK(col[4] == Approx(1.0 / (2 * eps)).epsilon(1e-12));                                // Q2
    CHECK(col[5] == Approx((3.0 - 2.0 / N) / (4 * eps * eps)).epsilon(1e-12));              // Q4
    CHECK(col[7] == Approx(p.Gamma_up / (eps * p.Gamma_plus())).epsilon(1e-12));           // n
  }
}

TEST_CASE("Omega_SS is stationary for the bath alone", "[model]") {
  // With g = 0 the bath decouples; its marginal Omega_SS must not move, whatever the central
  // spin does (h = 0: a field would rotate the bath; h_z alone commutes with it).
  for (int N : {3, 6, 11}) {
    CentralSpinParameters p;
    p.N = N;
    p.g0 = 0.0;
    p.h = {0.0, 0.0, 0.7};
    p.Gamma_phi = 0.3;
    const CentralSpinModel m(p);
    const BlockMasterEquation me(m);
    const CVec y = me.pack(m.initial_density());
    CVec dy(y.size());
    me.derivative(y, dy);
    const auto blocks = me.blocks(dy);
    double worst = 0.0;
    for (const auto& b : blocks) {
      const Index L = b.rows() / 2;
      worst = std::max(worst, (b.topLeftCorner(L, L) + b.bottomRightCorner(L, L)).cwiseAbs().maxCoeff());
    }
    INFO("N = " << N);
    CHECK(worst < 1e-14);
  }
}

TEST_CASE("the block ME preserves trace, hermiticity and positivity", "[model][master]") {
  const CentralSpinModel m(with_everything(6));
  const BlockMasterEquation me(m);
  CVec y = me.pack(m.initial_density());
  for (double t = 0.0; t < 3.0; t += 0.5) {
    me.solve(y, {t, t + 0.5});
    cplx trace = 0.0;
    double min_eigenvalue = 1.0, anti_hermitian = 0.0;
    for (const auto& b : me.blocks(y)) {
      trace += b.trace();
      anti_hermitian = std::max(anti_hermitian, (b - b.adjoint()).cwiseAbs().maxCoeff());
      Eigen::SelfAdjointEigenSolver<CMat> es(CMat(b), Eigen::EigenvaluesOnly);
      min_eigenvalue = std::min(min_eigenvalue, es.eigenvalues().minCoeff());
    }
    INFO("t = " << t + 0.5);
    CHECK(std::abs(trace - 1.0) < 1e-12);
    CHECK(anti_hermitian == 0.0);            // the kernel mirrors the lower triangle exactly
    CHECK(min_eigenvalue > -1e-9);           // integration error only (rtol 1e-9)
  }
}
