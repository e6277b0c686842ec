#pragma once
/// The mean-field limit of Carollo 2023, Theorem 2 (g = g0/N): the central spin alone, under its
/// own dissipators and the time-dependent Hamiltonian
///   H_mf(t) = w.tau + g0 [m_-(t) tau_+ + m_+(t) tau_-] = w.tau + (g0/2) [m_x(t) tau_x + m_y(t) tau_y],
/// m_pm = (m_x +- i m_y)/2, where m(t) is the Bloch vector of one bath spin evolving on its own
/// (no back-action, Lemma 1) under H_bath = h.sigma and the local rates:
///   dm/dt = 2 h x m - diag(G2, G2, Gamma_+) m + (0, 0, Gamma_up - Gamma_down),
///   G2 = Gamma_+/2 + 2 Gamma_phi,
/// solved in closed form (matrix exponential). initial.bath gives m(0) ("steady": Omega_SS).
/// N and the coupling scaling do not enter. Columns: tau_x, tau_y, tau_z, m_x, m_y, m_z.
/// Background: docs/theory.md section 6.2.
#include "qfluct/model/central_spin_parameters.hpp"
#include "qfluct/model/sector_model.hpp"

#include <Eigen/Core>

namespace qfluct {

/// The single-spin Bloch equations above, solved exactly.
class BathBlochSolution {
 public:
  explicit BathBlochSolution(const CentralSpinParameters& p);
  Eigen::Vector3d operator()(double t) const;

 private:
  Eigen::Matrix4d generator_;  // [[A, b], [0, 0]]: exp(t G) (m0, 1) = (m(t), 1)
  Eigen::Vector4d initial_;
};

class MeanFieldModel final : public SectorModel {
 public:
  explicit MeanFieldModel(const CentralSpinParameters& p);

  int sector_count() const override { return 1; }
  Index system_dim() const override { return 2; }
  Index ladder_size(int) const override { return 1; }

  void fill_hamiltonian(int s, Window in, Window out, Operator& H) const override;
  const std::vector<Channel>& channels() const override { return channels_; }
  void fill_kraus(int c, int b, int s, Window in, Window out, Operator& K) const override;
  void fill_channel_weight(int c, int s, Window w, RVec& weight) const override;
  ObservableDeclaration declare_observables() const override;
  void fill_observable(int id, int s, Window in, Window out, Operator& O) const override;
  BlockDensity initial_density() const override;
  SectorState sample_initial(Rng& rng, bool full, double window_tol) const override;
  std::string kind() const override { return "mean_field"; }

  int drive_count() const override { return 2; }
  double drive(int i, double t) const override;
  void fill_drive(int i, int s, Window in, Window out, Operator& H) const override;
  void extra_values(double t, double* out) const override;

  const BathBlochSolution& bath() const { return bath_; }

 private:
  CentralSpinParameters p_;
  BathBlochSolution bath_;
  std::vector<Channel> channels_;
  std::vector<bool> lowering_;  // per channel: tau_- (true) or tau_+
};

}  // namespace qfluct
