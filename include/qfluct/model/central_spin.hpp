#pragma once
/// The finite-N central spin model (Carollo 2023, Eqs. (1)-(2) with H_bath) in the
/// permutation-symmetric Dicke sectors (docs/theory.md sections 3-5): sector s holds total bath spin
/// j = N/2 - s; system index c = 0 (central up), 1 (central down); ladder index k = j + m.
/// Fluctuation mode a_N = J_- / sqrt(eps N), q = (a_N + a_N^+)/sqrt(2) = X / sqrt(2 eps N) with
/// X = J_+ + J_-, n = J_+ J_- / (eps N).
#include "qfluct/model/central_spin_parameters.hpp"
#include "qfluct/model/sector_model.hpp"
#include "qfluct/space/dicke.hpp"

namespace qfluct {

class CentralSpinModel final : public SectorModel {
 public:
  explicit CentralSpinModel(const CentralSpinParameters& p);

  int sector_count() const override { return dicke::sector_count(p_.N); }
  Index system_dim() const override { return 2; }
  Index ladder_size(int s) const override { return dicke::ladder_size(p_.N, s); }

  void fill_hamiltonian(int s, Window in, Window out, Operator& H) const override;
  const std::vector<Channel>& channels() const override { return channels_; }
  void fill_kraus(int c, int b, int s, Window in, Window out, Operator& K) const override;
  void fill_channel_weight(int c, int s, Window w, RVec& weight) const override;
  void fill_kraus_weight(int c, int b, int s, Window w, RVec& weight) const override;
  ObservableDeclaration declare_observables() const override;
  void fill_observable(int id, int s, Window in, Window out, Operator& O) const override;
  bool has_fluctuations() const { return p_.fluctuations; }
  double quadrature_scale() const;
  BlockDensity initial_density() const override;
  /// Closed forms for the steady (diagonal) bath: sector weights and windows in O(1), blocks in
  /// O(window); a Bloch-vector bath rotates each rung's Dicke state (O(L) per populated rung).
  double initial_sector_weight(int s) const override;
  Window initial_window(int s, double tol) const override;
  CMat initial_block(int s, Window w) const override;
  SectorState sample_initial(Rng& rng, bool full, double window_tol) const override;
  std::string kind() const override { return "central_spin"; }

  const CentralSpinParameters& parameters() const { return p_; }

 private:
  /// What each channel is, behind its index in channels_.
  enum class Kind { tau_minus, tau_plus, bath_minus, bath_plus, bath_z };
  CentralSpinParameters p_;
  std::vector<Channel> channels_;
  std::vector<Kind> kinds_;
};

/// A single spin-1/2 state with Bloch vector r: returns a sampled pure state (eigenvector of
/// the density matrix (1 + r.tau)/2 drawn with its eigenvalue) as amplitudes (up, down). A pure
/// r (is_pure_bloch: |r| >= 1 - bloch_tolerance) gives the state along r and draws no number.
Eigen::Vector2cd sample_spin_state(const Vec3& r, Rng& rng);
/// The density matrix (1 + r.tau)/2, with r taken onto the unit ball (onto_bloch_ball).
Eigen::Matrix2cd spin_density(const Vec3& r);
/// Polar and azimuthal angle of a Bloch vector (theta = 0 for the zero vector).
std::pair<double, double> bloch_angles(const Vec3& r);

/// Trims a windowed sector state to the rungs whose population exceeds `tol` at the edges
/// (at least one rung kept); returns the population discarded.
double trim_window(SectorState& state, Index system_dim, double tol);

}  // namespace qfluct
