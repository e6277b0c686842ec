#pragma once
/// The central spin model on the full tensor-product space C^2 (x) (C^2)^(x)N, dimension
/// 2^(N+1): the independent check of the sector reduction for small N, and the home of
/// inhomogeneous couplings c_k, where permutation symmetry is lost:
///   H = w.tau + g (tau_+ S + tau_- S^+) + sum_k h.sigma^(k),   S = sum_k c_k sigma_-^(k),
///   a_N = S / sqrt(eps N),  q = (a_N + a_N^+)/sqrt(2),  n = a_N^+ a_N.
/// One sector, no ladder structure (system_dim 1, full windows); operators are sparse and
/// every local jump is its own branch (N branches per bath channel).
/// Basis: site 0 is the central spin, sites 1..N the bath; site i is bit N - i of the index,
/// bit value 0 = up.
/// Background: docs/theory.md section 6.3.
#include "qfluct/model/central_spin_parameters.hpp"
#include "qfluct/model/sector_model.hpp"

#include <vector>

namespace qfluct {

class FullSpaceCentralSpin final : public SectorModel {
 public:
  /// Homogeneous couplings c_k = 1.
  explicit FullSpaceCentralSpin(const CentralSpinParameters& p);
  /// Couplings c_k (size N).
  FullSpaceCentralSpin(const CentralSpinParameters& p, std::vector<double> couplings);

  int sector_count() const override { return 1; }
  Index system_dim() const override { return 1; }
  Index ladder_size(int) const override { return dim_; }

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
  SectorState sample_initial(Rng& rng, bool full, double window_tol) const override;
  std::string kind() const override { return "central_spin_full"; }

  /// Largest N for which the dense initial density is built.
  static constexpr int max_density_N = 10;
  /// Largest N this representation accepts at all.
  static constexpr int max_N = 20;

 private:
  SparseMat local(const Eigen::Matrix2cd& a, int site) const;
  CentralSpinParameters p_;
  std::vector<double> c_;
  Index dim_;
  std::vector<Channel> channels_;
  std::vector<int> site_type_;  // per channel: 0 tau_-, 1 tau_+, 2 sigma_-, 3 sigma_+, 4 sigma_z
  SparseMat H_, S_;             // Hamiltonian and S = sum_k c_k sigma_-^(k)
  Operator hamiltonian_;
  std::vector<std::vector<Operator>> kraus_;  // [channel][branch]
  std::vector<Operator> observables_;         // indexed by Observable
  std::vector<std::vector<RVec>> kraus_weight_;  // [channel][branch]: diagonal of K^+K
};

}  // namespace qfluct
