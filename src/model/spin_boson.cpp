#include "qfluct/model/spin_boson.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/central_spin_terms.hpp"

#include <boost/random/uniform_01.hpp>
#include <cmath>
#include <fmt/format.h>

namespace qfluct {

namespace {
using central::up, central::down;
}  // namespace

SpinBosonRates SpinBosonRates::from(const CentralSpinParameters& p) {
  SpinBosonRates r{};
  r.eps = p.eps();
  const double p_up = p.Gamma_up / p.Gamma_plus();
  r.G = p.g0 * std::sqrt(r.eps);
  r.omega = 2.0 * p.h[2];
  const double dephasing_up = 4.0 * p.Gamma_phi * p_up / r.eps;
  r.kappa_up = p.Gamma_up / r.eps + dephasing_up;
  r.kappa_down = p.Gamma_plus() + p.Gamma_up / r.eps + 4.0 * p.Gamma_phi + dephasing_up;
  r.nbar = p_up / r.eps;
  return r;
}

double thermal_top_population(double nbar, Index cutoff) {
  if (cutoff <= 1) return 1.0;
  if (!(nbar > 0)) return 0.0;
  const double log_x = -std::log1p(1.0 / nbar), x = std::exp(log_x);
  return (1.0 - x) * (1.0 + x) * std::exp(double(cutoff - 1) * log_x) / -std::expm1(double(cutoff + 1) * log_x);
}

namespace {

/// The recursion of stationary_top_population_bound, one cutoff at a time.
class StationaryBound {
 public:
  explicit StationaryBound(const SpinBosonRates& r) : kd_(r.kappa_down), ku_(r.kappa_up), G_(std::abs(r.G)) {}
  bool trivial() const { return !(ku_ > 0) || !(kd_ > 0); }
  /// Advances from cutoff c to c + 1 and returns the bound at c + 1.
  double next() {
    S_ = 1.0 + S_ / root2(G_ / std::sqrt(double(c_ + 1)));
    ++c_;
    return (1.0 / S_) * (1.0 + 1.0 / root2(-G_ / std::sqrt(double(c_))));
  }

 private:
  // Positive root of kd s^2 + 2 b s - ku = 0, squared: r_n for b = G/sqrt(n+1), R_n for b = -G/sqrt(n+1).
  double root2(double b) const {
    const double s = b > 0 ? ku_ / (b + std::sqrt(b * b + kd_ * ku_)) : (-b + std::sqrt(b * b + kd_ * ku_)) / kd_;
    return s * s;
  }
  double kd_, ku_, G_;
  double S_ = 1.0;  // S_c
  Index c_ = 0;
};

}  // namespace

double stationary_top_population_bound(const SpinBosonRates& r, Index cutoff) {
  if (cutoff < 1) return 1.0;
  StationaryBound bound(r);
  if (bound.trivial()) return 0.0;
  double value = 1.0;
  for (Index c = 0; c < cutoff; ++c) value = bound.next();
  return value;
}

Index smallest_thermal_cutoff(double nbar, double target, Index cap) {
  if (thermal_top_population(nbar, cap) > target) return cap + 1;
  Index lo = 0, hi = cap;  // bound(lo) > target (lo = 0: by convention), bound(hi) <= target
  while (hi - lo > 1) {
    const Index mid = lo + (hi - lo) / 2;
    (thermal_top_population(nbar, mid) > target ? lo : hi) = mid;
  }
  return hi;
}

Index smallest_stationary_cutoff(const SpinBosonRates& r, double target, Index cap) {
  StationaryBound bound(r);
  if (bound.trivial()) return 1;
  for (Index c = 1; c <= cap; ++c)
    if (bound.next() <= target) return c;
  return cap + 1;
}

SpinBosonModel::SpinBosonModel(const CentralSpinParameters& p, Index cutoff) : p_(p), cutoff_(cutoff) {
  p_.validate();
  if (p_.coupling != CouplingScaling::sqrt)
    throw InputError("model.coupling", "the spin_boson model is the g = g0/sqrt(N) limit: set coupling = \"sqrt\"");
  if (p_.h[0] != 0.0 || p_.h[1] != 0.0)
    throw InputError("model.h", "the spin_boson limit exists for a field along z only (h_x = h_y = 0): a transverse "
                                "field rotates the bath away from Omega_SS");
  if (!p_.bath.steady)
    throw InputError("initial.bath", "the spin_boson model starts from the bath state Omega_SS: set bath = \"steady\"");
  if (cutoff_ < 1) throw InputError("model.fock_cutoff", fmt::format("must be >= 1, got {}", cutoff_));
  r_ = SpinBosonRates::from(p_);
  auto add = [&](const char* name, double rate, Kind kind, Index ladder_shift) {
    if (rate <= 0) return;
    channels_.push_back({name, rate, {0}, {ladder_shift}});
    kinds_.push_back(kind);
  };
  add("tau_minus", p_.gamma_down, Kind::tau_minus, 0);
  add("tau_plus", p_.gamma_up, Kind::tau_plus, 0);
  add("boson_loss", r_.kappa_down, Kind::loss, -1);
  add("boson_gain", r_.kappa_up, Kind::gain, +1);
}

void SpinBosonModel::fill_hamiltonian(int, Window in, Window out, Operator& target) const {
  LadderOperatorBuilder H(target, 2, in, out);
  central::add_hamiltonian(H, p_.w);
  // G (tau_+ a + tau_- a^+): a|n> = sqrt(n)|n-1>; a^+ truncated at the cutoff
  H.add_with_adjoint(up, down, -1, r_.G, [](Index n) { return std::sqrt(double(n)); });
  H.add_all_levels(0, r_.omega, [](Index n) { return double(n); });
}

void SpinBosonModel::fill_kraus(int c, int, int, Window in, Window out, Operator& target) const {
  LadderOperatorBuilder K(target, 2, in, out);
  switch (kinds_.at(c)) {
    case Kind::tau_minus: central::add_jump(K, true); break;
    case Kind::tau_plus: central::add_jump(K, false); break;
    case Kind::loss: K.add_all_levels(-1, 1.0, [](Index n) { return std::sqrt(double(n)); }); break;
    case Kind::gain: K.add_all_levels(+1, 1.0, [](Index n) { return std::sqrt(double(n) + 1.0); }); break;
  }
}

void SpinBosonModel::fill_channel_weight(int c, int, Window w, RVec& d) const {
  const Index W = w.size;
  d.resize(2 * W);
  switch (kinds_.at(c)) {
    case Kind::tau_minus: central::fill_jump_weight(true, W, d); break;
    case Kind::tau_plus: central::fill_jump_weight(false, W, d); break;
    case Kind::loss:  // a^+ a = n
      for (Index i = 0; i < W; ++i) d(i) = double(w.begin + i);
      d.tail(W) = d.head(W);
      break;
    case Kind::gain:  // a a^+ = n + 1, except at the cutoff, where the truncated a^+ gives 0
      for (Index i = 0; i < W; ++i) d(i) = w.begin + i < cutoff_ ? double(w.begin + i) + 1.0 : 0.0;
      d.tail(W) = d.head(W);
      break;
  }
}

ObservableDeclaration SpinBosonModel::declare_observables() const { return central::observables(true, quadrature_scale()); }

void SpinBosonModel::fill_observable(int id, int, Window in, Window out, Operator& target) const {
  const auto o = Observable(id);
  LadderOperatorBuilder O(target, 2, in, out);
  switch (o) {
    case Observable::tau_x:
    case Observable::tau_y:
    case Observable::tau_z: central::add_pauli(O, o); break;
    case Observable::quadrature:  // X = a + a^+
      O.add_all_levels_with_adjoint(-1, 1.0, [](Index n) { return std::sqrt(double(n)); });  // a + a^+
      break;
    case Observable::number: O.add_all_levels(0, 1.0, [](Index n) { return double(n); }); break;
  }
}

BlockDensity SpinBosonModel::initial_density() const {
  const Eigen::Matrix2cd rho_c = spin_density(p_.central);
  const Index L = cutoff_ + 1;
  RVec thermal(L);
  const double x = r_.nbar / (1.0 + r_.nbar);
  for (Index n = 0; n < L; ++n) thermal(n) = std::pow(x, double(n)) / (1.0 + r_.nbar);
  thermal /= thermal.sum();  // the truncated geometric distribution, renormalised
  BlockDensity rho;
  CMat block = CMat::Zero(2 * L, 2 * L);
  for (Index a = 0; a < 2; ++a)
    for (Index b = 0; b < 2; ++b) block.block(a * L, b * L, L, L).diagonal() = rho_c(a, b) * thermal.cast<cplx>();
  rho.blocks.push_back(std::move(block));
  return rho;
}

SectorState SpinBosonModel::sample_initial(Rng& rng, bool full, double) const {
  const Eigen::Vector2cd central = sample_spin_state(p_.central, rng);
  // The truncated geometric distribution P(n) = (1 - x) x^n / Z, n <= cutoff, by inversion of
  // its distribution function (1 - x^(n+1)) / Z with Z = 1 - x^(cutoff+1): the same state as
  // initial_density().
  const double x = r_.nbar / (1.0 + r_.nbar);
  const double u = boost::random::uniform_01<double>()(rng) * (1.0 - std::pow(x, double(cutoff_ + 1)));
  Index n = x > 0 ? Index(std::floor(std::log1p(-u) / std::log(x))) : 0;
  n = std::clamp<Index>(n, 0, cutoff_);
  SectorState state;
  state.window = full ? Window::full(cutoff_ + 1) : Window{n, 1};
  state.psi = CVec::Zero(2 * state.window.size);
  state.psi(n - state.window.begin) = central(0);
  state.psi(state.window.size + n - state.window.begin) = central(1);
  return state;
}

}  // namespace qfluct
