#include "qfluct/model/full_space_central_spin.hpp"

#include "qfluct/model/central_spin_terms.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/model/central_spin.hpp"

#include <fmt/format.h>

namespace qfluct {

namespace {
Eigen::Matrix2cd pauli(int a) {
  Eigen::Matrix2cd m;
  if (a == 0) m << 0, 1, 1, 0;
  if (a == 1) m << 0, -I, I, 0;
  if (a == 2) m << 1, 0, 0, -1;
  return m;
}
Eigen::Matrix2cd lowering() {  // sigma_- = |down><up|, |up> = (1, 0)
  Eigen::Matrix2cd m;
  m << 0, 0, 1, 0;
  return m;
}
}  // namespace

FullSpaceCentralSpin::FullSpaceCentralSpin(const CentralSpinParameters& p)
    : FullSpaceCentralSpin(p, std::vector<double>(std::max(p.N, 0), 1.0)) {}

FullSpaceCentralSpin::FullSpaceCentralSpin(const CentralSpinParameters& p, std::vector<double> couplings)
    : p_(p), c_(std::move(couplings)) {
  p_.validate();
  if (p_.N > max_N)
    throw InputError("model.N", fmt::format("the full tensor-product space is limited to N <= {} (dimension 2^(N+1)); "
                                            "got {}", max_N, p_.N));
  if (int(c_.size()) != p_.N)
    throw InputError("model.couplings", fmt::format("needs N = {} entries, got {}", p_.N, c_.size()));
  dim_ = Index(1) << (p_.N + 1);
  const Eigen::Matrix2cd sm = lowering();
  S_ = SparseMat(dim_, dim_);
  for (int k = 1; k <= p_.N; ++k) S_ += c_[k - 1] * local(sm, k);
  const SparseMat tp = local(sm.adjoint(), 0);  // tau_+
  H_ = SparseMat(dim_, dim_);
  for (int a = 0; a < 3; ++a) {
    if (p_.w[a] != 0.0) H_ += p_.w[a] * local(pauli(a), 0);
    if (p_.h[a] != 0.0)
      for (int k = 1; k <= p_.N; ++k) H_ += p_.h[a] * local(pauli(a), k);
  }
  const SparseMat coupling = tp * S_;
  H_ += p_.g() * (coupling + SparseMat(coupling.adjoint()));
  hamiltonian_ = Operator::sparse(std::move(H_));
  observables_ = {Operator::sparse(local(pauli(0), 0)), Operator::sparse(local(pauli(1), 0)),
                  Operator::sparse(local(pauli(2), 0)), Operator::sparse(SparseMat(S_ + SparseMat(S_.adjoint()))),
                  Operator::sparse(SparseMat((S_.adjoint() * S_) / (p_.fluctuations ? p_.eps() * p_.N : 1.0)))};

  auto add = [&](const char* name, double rate, int type, int branches) {
    if (rate <= 0) return;
    channels_.push_back({name, rate, std::vector<int>(branches, 0), std::vector<Index>(branches, 0)});
    site_type_.push_back(type);
  };
  // Every local jump is a branch of its channel, stored once (sparse operators share storage).
  auto local_jumps = [&](const Eigen::Matrix2cd& a) {
    std::vector<Operator> ops;
    for (int k = 1; k <= p_.N; ++k) ops.push_back(Operator::sparse(local(a, k)));
    return ops;
  };
  if (p_.gamma_down > 0) kraus_.push_back({Operator::sparse(local(sm, 0))});
  if (p_.gamma_up > 0) kraus_.push_back({Operator::sparse(local(sm.adjoint(), 0))});
  if (p_.Gamma_down > 0) kraus_.push_back(local_jumps(sm));
  if (p_.Gamma_up > 0) kraus_.push_back(local_jumps(sm.adjoint()));
  if (p_.Gamma_phi > 0) kraus_.push_back(local_jumps(pauli(2)));
  for (const auto& branches : kraus_) {
    kraus_weight_.emplace_back();
    for (const auto& K : branches) kraus_weight_.back().push_back(K.column_norms_squared());
  }
  add("tau_minus", p_.gamma_down, 0, 1);
  add("tau_plus", p_.gamma_up, 1, 1);
  add("sigma_minus", p_.Gamma_down, 2, p_.N);
  add("sigma_plus", p_.Gamma_up, 3, p_.N);
  add("sigma_z", p_.Gamma_phi, 4, p_.N);
}

SparseMat FullSpaceCentralSpin::local(const Eigen::Matrix2cd& a, int site) const {
  const int pos = p_.N - site;
  std::vector<Eigen::Triplet<cplx>> t;
  t.reserve(2 * dim_);
  for (Index i = 0; i < dim_; ++i) {
    const int b = int((i >> pos) & 1);
    for (int out = 0; out < 2; ++out) {
      if (a(out, b) == cplx(0.0)) continue;
      const Index j = (i & ~(Index(1) << pos)) | (Index(out) << pos);
      t.emplace_back(j, i, a(out, b));
    }
  }
  SparseMat m(dim_, dim_);
  m.setFromTriplets(t.begin(), t.end());
  return m;
}

void FullSpaceCentralSpin::fill_hamiltonian(int, Window, Window, Operator& H) const { H = hamiltonian_; }

void FullSpaceCentralSpin::fill_kraus(int c, int b, int, Window, Window, Operator& K) const { K = kraus_.at(c).at(b); }

void FullSpaceCentralSpin::fill_kraus_weight(int c, int b, int, Window, RVec& weight) const {
  weight = kraus_weight_.at(c).at(b);
}

void FullSpaceCentralSpin::fill_channel_weight(int c, int, Window, RVec& d) const {
  d.resize(dim_);
  const int type = site_type_.at(c);
  for (Index i = 0; i < dim_; ++i) {
    const bool central_up = ((i >> p_.N) & 1) == 0;
    int bath_up = 0;
    for (int k = 1; k <= p_.N; ++k) bath_up += ((i >> (p_.N - k)) & 1) == 0;
    switch (type) {
      case 0: d(i) = central_up; break;                 // tau_+ tau_- = P_up
      case 1: d(i) = !central_up; break;
      case 2: d(i) = bath_up; break;                    // sum_k P_up^(k) = N/2 + J_z
      case 3: d(i) = p_.N - bath_up; break;
      default: d(i) = p_.N; break;
    }
  }
}

ObservableDeclaration FullSpaceCentralSpin::declare_observables() const { return central::observables(has_fluctuations(), quadrature_scale()); }

void FullSpaceCentralSpin::fill_observable(int id, int, Window, Window, Operator& O) const {
  const auto o = Observable(id);
  O = observables_.at(static_cast<std::size_t>(o));
}

double FullSpaceCentralSpin::quadrature_scale() const { return 1.0 / std::sqrt(2.0 * p_.eps() * p_.N); }

namespace {
Eigen::Matrix2cd bath_spin_density(const CentralSpinParameters& p) {
  if (!p.bath.steady) return spin_density(p.bath.r);
  Eigen::Matrix2cd rho = Eigen::Matrix2cd::Zero();
  rho(0, 0) = p.Gamma_up / p.Gamma_plus();
  rho(1, 1) = p.Gamma_down / p.Gamma_plus();
  return rho;
}
}  // namespace

BlockDensity FullSpaceCentralSpin::initial_density() const {
  if (p_.N > max_density_N)
    throw InputError("model.N", fmt::format("the full-space density matrix is limited to N <= {}", max_density_N));
  CMat rho = spin_density(p_.central);
  const Eigen::Matrix2cd bath = bath_spin_density(p_);
  for (int k = 1; k <= p_.N; ++k) {
    CMat next(2 * rho.rows(), 2 * rho.cols());
    for (Index a = 0; a < rho.rows(); ++a)
      for (Index b = 0; b < rho.cols(); ++b) next.block(2 * a, 2 * b, 2, 2) = rho(a, b) * bath;
    rho = std::move(next);
  }
  return BlockDensity{{std::move(rho)}};
}

SectorState FullSpaceCentralSpin::sample_initial(Rng& rng, bool, double) const {
  CVec psi = sample_spin_state(p_.central, rng);
  Vec3 r = p_.bath.r;
  if (p_.bath.steady) r = {0.0, 0.0, -p_.eps()};
  for (int k = 1; k <= p_.N; ++k) {
    const Eigen::Vector2cd spin = sample_spin_state(r, rng);
    CVec next(2 * psi.size());
    for (Index a = 0; a < psi.size(); ++a) next.segment(2 * a, 2) = psi(a) * spin;
    psi = std::move(next);
  }
  return SectorState{0, Window::full(dim_), std::move(psi)};
}

}  // namespace qfluct
