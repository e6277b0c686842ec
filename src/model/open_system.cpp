#include "qfluct/model/open_system.hpp"

#include "qfluct/core/error.hpp"

#include <Eigen/Eigenvalues>
#include <boost/random/uniform_01.hpp>
#include <cmath>
#include <fmt/format.h>
#include <stdexcept>

namespace qfluct {

namespace {

using Term = KroneckerTerm;

/// sum_t S_t (x) B_t on C^d (x) C^L (index c L + k), kept in Kronecker form.
Operator kron_sum(std::vector<Term> terms, Index d, Index L) { return Operator::kronecker(d, d, L, L, std::move(terms)); }

SparseMat identity(Index n) {
  SparseMat m(n, n);
  m.setIdentity();
  return m;
}

SparseMat diagonal(const RVec& v) {
  SparseMat m(v.size(), v.size());
  std::vector<Eigen::Triplet<cplx>> e;
  for (Index i = 0; i < v.size(); ++i)
    if (v(i) != 0.0) e.emplace_back(i, i, v(i));
  m.setFromTriplets(e.begin(), e.end());
  return m;
}

bool is_diagonal(const CMat& m) {
  for (Index a = 0; a < m.rows(); ++a)
    for (Index b = 0; b < m.cols(); ++b)
      if (a != b && m(a, b) != cplx(0.0)) return false;
  return true;
}

/// The diagonal of S (x) B for diagonal S and B.
RVec kron_diagonal(const CMat& S, const SparseMat& B) {
  const Index d = S.rows(), L = B.rows();
  RVec b = RVec::Zero(L);
  for (Index k = 0; k < L; ++k) b(k) = B.coeff(k, k).real();
  RVec out(d * L);
  for (Index a = 0; a < d; ++a) out.segment(a * L, L) = S(a, a).real() * b;
  return out;
}

/// Truncated thermal occupation probabilities p_n ~ x^n, n = 0..cutoff, x = nbar / (nbar + 1).
RVec thermal(double nbar, long cutoff) {
  RVec p = RVec::Zero(cutoff + 1);
  const double x = nbar / (nbar + 1.0);
  double w = 1.0;
  for (long n = 0; n <= cutoff; ++n, w *= x) p(n) = w;
  return p / p.sum();
}

}  // namespace

OpenSystemModel::OpenSystemModel(OpenSystemSpec spec, std::vector<long> cutoffs)
    : spec_(std::move(spec)), cutoffs_(std::move(cutoffs)), d_(spec_.H.rows()) {
  const std::size_t M = spec_.modes.size();
  if (d_ < 1 || spec_.H.cols() != d_ || spec_.initial.rows() != d_ || spec_.initial.cols() != d_)
    throw std::invalid_argument("OpenSystemModel: H and the initial state must be d x d");
  if (cutoffs_.size() != M) throw std::invalid_argument("OpenSystemModel: one cutoff per mode");
  stride_.assign(M, 1);
  for (std::size_t m = M; m-- > 0;) {
    if (cutoffs_[m] < 1) throw std::invalid_argument("OpenSystemModel: Fock cutoffs must be >= 1");
    stride_[m] = L_;
    L_ *= Index(cutoffs_[m] + 1);
  }
  auto number = [&](std::size_t m, Index k) { return (k / stride_[m]) % Index(cutoffs_[m] + 1); };
  // Mode operators on the flattened Fock space.
  std::vector<SparseMat> a(M), n(M);
  for (std::size_t m = 0; m < M; ++m) {
    std::vector<Eigen::Triplet<cplx>> e;
    RVec occupation(L_);
    for (Index k = 0; k < L_; ++k) {
      const Index nk = number(m, k);
      occupation(k) = double(nk);
      if (nk > 0) e.emplace_back(k - stride_[m], k, std::sqrt(double(nk)));
    }
    a[m].resize(L_, L_);
    a[m].setFromTriplets(e.begin(), e.end());
    n[m] = diagonal(occupation);
  }
  const CMat one = CMat::Identity(d_, d_);
  const SparseMat ones = identity(L_);
  // H = H_S (x) 1 + 1 (x) sum omega_i n_i + sum_c (G_c (x) X_c + h.c.)
  std::vector<Term> h{{spec_.H, ones}};
  RVec frequencies = RVec::Zero(L_);
  for (std::size_t m = 0; m < M; ++m)
    for (Index k = 0; k < L_; ++k) frequencies(k) += spec_.modes[m].omega * double(number(m, k));
  if (frequencies.cwiseAbs().maxCoeff() > 0) h.push_back({one, diagonal(frequencies)});
  for (const auto& c : spec_.couplings) {
    if (c.G.rows() != d_ || c.G.cols() != d_ || c.a.size() != M || c.a_dag.size() != M)
      throw std::invalid_argument("OpenSystemModel: a coupling's shapes disagree with the model");
    SparseMat X(L_, L_);
    for (std::size_t m = 0; m < M; ++m) {
      if (c.a[m] != cplx(0.0)) X += c.a[m] * a[m];
      if (c.a_dag[m] != cplx(0.0)) X += c.a_dag[m] * SparseMat(a[m].adjoint());
    }
    h.push_back({c.G, X});
    h.push_back({c.G.adjoint(), SparseMat(X.adjoint())});
  }
  H_ = kron_sum(h, d_, L_);
  // Channels: the system's, then each mode's loss and gain.
  for (std::size_t i = 0; i < spec_.channels.size(); ++i) {
    const auto& ch = spec_.channels[i];
    if (ch.L.rows() != d_ || ch.L.cols() != d_) throw std::invalid_argument("OpenSystemModel: L must be d x d");
    if (!(ch.rate > 0)) continue;
    const CMat LL = ch.L.adjoint() * ch.L;
    diagonal_ = diagonal_ && is_diagonal(LL);
    channels_.push_back({ch.name.empty() ? fmt::format("L{}", i) : ch.name, ch.rate, {0}, {0}});
    ops_.push_back({kron_sum({{ch.L, ones}}, d_, L_), kron_sum({{LL, ones}}, d_, L_), is_diagonal(LL) ? kron_diagonal(LL, ones) : RVec()});
  }
  for (std::size_t m = 0; m < M; ++m) {
    const auto& mode = spec_.modes[m];
    const SparseMat up = a[m].adjoint();
    for (const auto& [rate, B, name] : {std::tuple{mode.kappa_down, a[m], "loss"}, std::tuple{mode.kappa_up, up, "gain"}}) {
      if (!(rate > 0)) continue;
      const SparseMat BB = SparseMat(B.adjoint()) * B;  // n, or a a^+ truncated
      channels_.push_back({fmt::format("mode_{}_{}", m, name), rate, {0}, {0}});
      ops_.push_back({kron_sum({{one, B}}, d_, L_), kron_sum({{one, BB}}, d_, L_), kron_diagonal(one, BB)});
    }
  }
  for (std::size_t m = 0; m < M; ++m) observables_.push_back(kron_sum({{one, n[m]}}, d_, L_));
  for (const auto& o : spec_.observables) {
    if (o.O.rows() != d_ || o.O.cols() != d_) throw std::invalid_argument("OpenSystemModel: observables must be d x d");
    observables_.push_back(kron_sum({{o.O, ones}}, d_, L_));
  }
  if (spec_.entanglement && d_ != 4) throw std::invalid_argument("OpenSystemModel: entanglement needs d = 4");
}

void OpenSystemModel::check_full(Window in, Window out) const {
  if (in.begin != 0 || in.size != L_ || out.begin != 0 || out.size != L_)
    throw std::logic_error("OpenSystemModel: operators exist on the whole space only");
}

void OpenSystemModel::fill_hamiltonian(int, Window in, Window out, Operator& H) const {
  check_full(in, out);
  H = H_;
}

void OpenSystemModel::fill_kraus(int c, int, int, Window in, Window out, Operator& K) const {
  check_full(in, out);
  K = ops_.at(std::size_t(c)).K;
}

void OpenSystemModel::fill_channel_weight(int c, int, Window w, RVec& weight) const {
  check_full(w, w);
  const RVec& d = ops_.at(std::size_t(c)).weight;
  if (d.size() == 0) throw std::logic_error("OpenSystemModel: channel weights are not diagonal (use the general path)");
  weight = d;
}

void OpenSystemModel::fill_channel_operator(int c, int, Window w, Operator& W) const {
  check_full(w, w);
  W = ops_.at(std::size_t(c)).W;
}

void OpenSystemModel::fill_kraus_weight(int c, int b, int s, Window w, RVec& weight) const {
  fill_channel_weight(c, s, w, weight);  // one branch per channel
  (void)b;
}

ObservableDeclaration OpenSystemModel::declare_observables() const {
  using Form = LinearQuantity::Form;
  ObservableDeclaration decl;
  std::vector<std::string> rho;
  for (Index a = 0; a < d_; ++a)
    for (Index b = 0; b < d_; ++b) {
      // rho_ab_re for d <= 10 (the contract's names); rho_a_b_re beyond, where rho_111 would be ambiguous
      const std::string ab = d_ <= 10 ? fmt::format("{}{}", a, b) : fmt::format("{}_{}", a, b);
      rho.push_back(fmt::format("rho_{}_re", ab));
      rho.push_back(fmt::format("rho_{}_im", ab));
    }
  const Index r = decl.add({Form::reduced_density, rho});
  decl.add_copy(rho, r);
  int id = 0;
  for (std::size_t m = 0; m < spec_.modes.size(); ++m, ++id)
    decl.add_copy({fmt::format("n_{}", m)}, decl.add({Form::expectation, {fmt::format("n_{}", m)}, id}));
  for (const auto& o : spec_.observables) decl.add_copy({o.name}, decl.add({Form::expectation, {o.name}, id++}));
  decl.columns.push_back({ColumnGroup::Form::purity, {"purity"}, r, d_});
  if (spec_.entanglement) decl.columns.push_back({ColumnGroup::Form::entanglement, {"concurrence", "negativity"}, r, d_});
  return decl;
}

void OpenSystemModel::fill_observable(int id, int, Window in, Window out, Operator& O) const {
  check_full(in, out);
  O = observables_.at(std::size_t(id));
}

BlockDensity OpenSystemModel::initial_density() const {
  RVec p = RVec::Ones(1);
  for (std::size_t m = 0; m < spec_.modes.size(); ++m) {
    const RVec pm = thermal(spec_.modes[m].nbar, cutoffs_[m]);
    RVec next(p.size() * pm.size());
    for (Index i = 0; i < p.size(); ++i) next.segment(i * pm.size(), pm.size()) = p(i) * pm;
    p = next;
  }
  CMat rho = CMat::Zero(d_ * L_, d_ * L_);
  for (Index a = 0; a < d_; ++a)
    for (Index b = 0; b < d_; ++b)
      if (spec_.initial(a, b) != cplx(0.0))
        for (Index k = 0; k < L_; ++k) rho(a * L_ + k, b * L_ + k) = spec_.initial(a, b) * p(k);
  return BlockDensity{{rho}};
}

SectorState OpenSystemModel::sample_initial(Rng& rng, bool, double) const {
  // One eigenvector of rho_S (probability its eigenvalue) times one Fock state per mode.
  boost::random::uniform_01<double> uniform;
  const Eigen::SelfAdjointEigenSolver<CMat> eig(spec_.initial);
  const RVec lambda = eig.eigenvalues().cwiseMax(0.0);
  auto pick = [&](const RVec& p) {
    double u = uniform(rng) * p.sum();
    Index i = 0;
    while (i + 1 < p.size() && (u -= p(i)) >= 0.0) ++i;
    while (p(i) == 0.0 && i > 0) --i;
    return i;
  };
  const CVec v = eig.eigenvectors().col(pick(lambda));
  Index k = 0;
  for (std::size_t m = 0; m < spec_.modes.size(); ++m) k += stride_[m] * pick(thermal(spec_.modes[m].nbar, cutoffs_[m]));
  CVec psi = CVec::Zero(d_ * L_);
  for (Index a = 0; a < d_; ++a) psi(a * L_ + k) = v(a);
  return SectorState{0, Window::full(L_), psi};
}

std::vector<std::string> OpenSystemModel::truncated_modes() const {
  std::vector<std::string> names;
  for (std::size_t m = 0; m < spec_.modes.size(); ++m) names.push_back(fmt::format("mode_{}", m));
  return names;
}

void OpenSystemModel::fill_truncation_weight(int i, int, Window w, RVec& weight) const {
  check_full(w, w);
  const auto m = std::size_t(i);
  weight.setZero(d_ * L_);
  for (Index k = 0; k < L_; ++k)
    if ((k / stride_[m]) % Index(cutoffs_[m] + 1) >= Index(cutoffs_[m]) - 1)
      for (Index a = 0; a < d_; ++a) weight(a * L_ + k) = 1.0;
}

double OpenSystemModel::truncation_population(int i, const SectorState& state) const {
  RVec weight;
  fill_truncation_weight(i, state.sector, state.window, weight);
  return weight.dot(state.psi.cwiseAbs2()) / state.psi.squaredNorm();
}

long displaced_thermal_cutoff(double amplitude, double thermal_mean, double tol) {
  // Poisson tail of mean A^2 beyond n (summed upward from the mode), then the geometric tail of
  // the thermal part; the two parts' widths add (the occupation of a displaced thermal state is
  // roughly their sum).
  const double mean = amplitude * amplitude, target = 0.5 * tol;
  long coherent = 0;
  if (mean > 0) {
    // P(n >= c) for Poisson(mean): walk up from the mean with log terms.
    long c = long(std::ceil(mean));
    for (;; ++c) {
      double term = std::exp(-mean + double(c) * std::log(mean) - std::lgamma(double(c) + 1.0)), tail = 0.0;
      for (long j = c; term > 1e-300 && j < c + 100000; ++j) {
        tail += term;
        term *= mean / double(j + 1);
        if (term < 1e-3 * tail * target) break;
      }
      if (tail <= target) break;
    }
    coherent = c;
  }
  long thermal_width = 0;
  if (thermal_mean > 0) {
    const double x = thermal_mean / (thermal_mean + 1.0);
    thermal_width = long(std::ceil(std::log(target) / std::log(x)));
  }
  return std::max(2L, coherent + thermal_width + 2);
}

long mode_cutoff_estimate(double force, double kappa_down, double kappa_up, double nbar, double t_end, double tol,
                          long floor) {
  const bool stationary = !std::isfinite(t_end);
  const double kappa = kappa_down - kappa_up;
  if (stationary && !(kappa > 0)) return -1;
  // |<a>| grows at most at the rate `force`, damped at kappa/2 (and amplified when kappa < 0).
  const double t = stationary ? 0.0 : t_end;
  const double amplitude = kappa > 0 ? force * (stationary ? 2.0 / kappa : -std::expm1(-0.5 * kappa * t) / (0.5 * kappa))
                                     : force * t * (kappa < 0 ? std::exp(-0.5 * kappa * t) : 1.0);
  // Thermal occupation: dn/dt = -kappa n + kappa_up from nbar; its largest value on [0, t].
  double thermal_mean = nbar + kappa_up * t;
  if (kappa != 0) {
    const double limit = kappa_up / kappa;
    thermal_mean = stationary ? std::max(nbar, limit) : std::max(nbar, limit + (nbar - limit) * std::exp(-kappa * t));
  }
  return starting_cutoff(displaced_thermal_cutoff(amplitude, thermal_mean, tol), displaced_thermal_cutoff(0.0, thermal_mean, tol),
                         floor);
}

long starting_cutoff(long bound, long thermal, long floor) {
  return std::max(thermal, std::min(bound, std::max(floor, 2 * thermal)));
}

std::vector<long> estimate_fock_cutoffs(const OpenSystemSpec& spec, double t_end, double tol, long floor) {
  std::vector<long> out;
  for (std::size_t m = 0; m < spec.modes.size(); ++m) {
    const auto& mode = spec.modes[m];
    if (mode.fock_cutoff > 0) {
      out.push_back(mode.fock_cutoff);
      continue;
    }
    // The force on the mode: [a_m, H] - omega a_m = F_m = sum_c (a_dag_c[m] G_c + conj(a_c[m]) G_c^+).
    CMat F = CMat::Zero(spec.dim(), spec.dim());
    for (const auto& c : spec.couplings) F += c.a_dag[m] * c.G + std::conj(c.a[m]) * c.G.adjoint();
    const double force = F.size() > 0 ? Eigen::JacobiSVD<CMat>(F).singularValues()(0) : 0.0;
    const long cutoff = mode_cutoff_estimate(force, mode.kappa_down, mode.kappa_up, mode.nbar, t_end, tol, floor);
    if (cutoff < 0)
      throw InputError(fmt::format("mode[{}].kappa_down", m),
                       fmt::format("a stationary state needs every mode damped (kappa_down > kappa_up), here "
                                   "kappa_down = {:g}, kappa_up = {:g}; or set mode[{}].fock_cutoff",
                                   mode.kappa_down, mode.kappa_up, m));
    out.push_back(cutoff);
  }
  return out;
}

ReducedEvolution unitary_evolution(const OpenSystemModel& model, const std::vector<double>& times, OdeTolerances tol,
                                   const std::function<void(double)>& progress) {
  const OpenSystemSpec& spec = model.spec();
  if (!model.channels().empty())
    throw std::invalid_argument("unitary_evolution: the model has channels (use the master equation)");
  for (const auto& m : spec.modes)
    if (m.nbar != 0.0) throw std::invalid_argument("unitary_evolution: every mode must start in its vacuum");
  const auto& cutoffs = model.cutoffs();
  const Index d = model.system_dim(), L = model.ladder_size(0), modes = Index(cutoffs.size());
  CompositeSystem sys;
  sys.d_S = d;
  sys.d_E = L;
  sys.H = model.hamiltonian(0, Window::full(L), Window::full(L)).to_sparse();
  // Flattened Fock index, the last mode fastest: occupations n_m, then each mode's top two levels.
  std::vector<RVec> n(std::size_t(modes), RVec::Zero(L)), top(std::size_t(modes), RVec::Zero(L));
  for (Index k = 0; k < L; ++k) {
    Index rest = k;
    for (Index m = modes - 1; m >= 0; --m) {
      const Index levels = Index(cutoffs[std::size_t(m)]) + 1, nm = rest % levels;
      rest /= levels;
      n[std::size_t(m)](k) = double(nm);
      top[std::size_t(m)](k) = nm >= levels - 2 ? 1.0 : 0.0;
    }
  }
  sys.env_diagonals = n;
  sys.env_diagonals.insert(sys.env_diagonals.end(), top.begin(), top.end());
  CVec vacuum = CVec::Zero(L);
  vacuum(0) = 1.0;
  return reduced_evolution(sys, spec.initial, vacuum, times, tol, progress);
}

}  // namespace qfluct
