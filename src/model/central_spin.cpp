#include "qfluct/model/central_spin.hpp"

#include "qfluct/model/central_spin_terms.hpp"

#include <algorithm>
#include <cmath>

namespace qfluct {

namespace {
using central::up, central::down;
constexpr int deltas[3] = {+1, 0, -1};  // branch b changes j by deltas[b], i.e. s by -deltas[b]
}  // namespace

Eigen::Matrix2cd spin_density(const Vec3& r_in) {
  const Vec3 r = onto_bloch_ball(r_in);  // a positive matrix even for |r| a rounding above 1
  Eigen::Matrix2cd rho;
  rho << 1.0 + r[2], cplx(r[0], -r[1]), cplx(r[0], r[1]), 1.0 - r[2];
  return 0.5 * rho;
}

std::pair<double, double> bloch_angles(const Vec3& r) {
  const double len = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  if (len == 0.0) return {0.0, 0.0};
  return {std::acos(std::clamp(r[2] / len, -1.0, 1.0)), std::atan2(r[1], r[0])};
}

Eigen::Vector2cd sample_spin_state(const Vec3& r, Rng& rng) {
  const double len = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  const auto [theta, phi] = bloch_angles(r);
  const Eigen::Vector2cd plus(std::cos(theta / 2), std::polar(std::sin(theta / 2), phi));
  const Eigen::Vector2cd minus(std::sin(theta / 2), -std::polar(std::cos(theta / 2), phi));
  // Pure within bloch_tolerance: no random number drawn, so that r and r/|r| give one stream.
  if (is_pure_bloch(r)) return plus;
  return boost::random::uniform_01<double>()(rng) < 0.5 * (1.0 + len) ? plus : minus;
}

double trim_window(SectorState& state, Index d, double tol) {
  const Index W = state.window.size;
  auto rung_population = [&](Index i) {
    double p = 0.0;
    for (Index c = 0; c < d; ++c) p += std::norm(state.psi(c * W + i));
    return p;
  };
  Index lo = 0, hi = W;  // keep [lo, hi)
  double discarded = 0.0;
  while (hi - lo > 1 && rung_population(lo) < tol) discarded += rung_population(lo++);
  while (hi - lo > 1 && rung_population(hi - 1) < tol) discarded += rung_population(--hi);
  if (lo == 0 && hi == W) return 0.0;
  CVec kept(d * (hi - lo));
  for (Index c = 0; c < d; ++c) kept.segment(c * (hi - lo), hi - lo) = state.psi.segment(c * W + lo, hi - lo);
  state.psi = std::move(kept);
  state.window = {state.window.begin + lo, hi - lo};
  return discarded;
}

CentralSpinModel::CentralSpinModel(const CentralSpinParameters& p) : p_(p) {
  p_.validate();
  auto add = [&](std::string name, double rate, Kind kind, std::vector<int> sector_shift, std::vector<Index> ladder_shift) {
    if (rate <= 0) return;
    channels_.push_back({std::move(name), rate, std::move(sector_shift), std::move(ladder_shift)});
    kinds_.push_back(kind);
  };
  add("tau_minus", p_.gamma_down, Kind::tau_minus, {0}, {0});
  add("tau_plus", p_.gamma_up, Kind::tau_plus, {0}, {0});
  auto bath = [&](std::string name, double rate, Kind kind, dicke::LocalJump type) {
    std::vector<int> ss;
    std::vector<Index> ls;
    for (int delta : deltas) {
      ss.push_back(-delta);
      ls.push_back(dicke::kraus_ladder_shift(type, delta));
    }
    add(std::move(name), rate, kind, ss, ls);
  };
  bath("sigma_minus", p_.Gamma_down, Kind::bath_minus, dicke::LocalJump::sigma_minus);
  bath("sigma_plus", p_.Gamma_up, Kind::bath_plus, dicke::LocalJump::sigma_plus);
  bath("sigma_z", p_.Gamma_phi, Kind::bath_z, dicke::LocalJump::sigma_z);
}

void CentralSpinModel::fill_hamiltonian(int s, Window in, Window out, Operator& target) const {
  const double j = dicke::spin(p_.N, s);
  const double g = p_.g();
  const auto& [hx, hy, hz] = p_.h;
  auto jm = [j](Index k) { return dicke::j_minus(j, k); };
  auto jp = [j](Index k) { return dicke::j_plus(j, k); };
  auto jz = [j](Index k) { return double(k) - j; };
  LadderOperatorBuilder H(target, 2, in, out);
  central::add_hamiltonian(H, p_.w);
  // g (tau_+ J_- + tau_- J_+)
  H.add_with_adjoint(up, down, -1, g, jm);
  // 2 h.J = 2 h_z J_z + (h_x - i h_y) J_+ + (h_x + i h_y) J_-
  H.add_all_levels(0, 2.0 * hz, jz).add_all_levels_with_adjoint(+1, cplx(hx, -hy), jp);
}

void CentralSpinModel::fill_kraus(int c, int b, int s, Window in, Window out, Operator& target) const {
  LadderOperatorBuilder K(target, 2, in, out);
  const double j = dicke::spin(p_.N, s);
  auto local = [&](dicke::LocalJump type) {
    const int delta = deltas[b];
    const dicke::KrausBranch branch(type, p_.N, j, delta);
    K.add_all_levels(dicke::kraus_ladder_shift(type, delta), 1.0, [&](Index k) { return branch.element(k); });
  };
  switch (kinds_.at(c)) {
    case Kind::tau_minus: central::add_jump(K, true); break;
    case Kind::tau_plus: central::add_jump(K, false); break;
    case Kind::bath_minus: local(dicke::LocalJump::sigma_minus); break;
    case Kind::bath_plus: local(dicke::LocalJump::sigma_plus); break;
    case Kind::bath_z: local(dicke::LocalJump::sigma_z); break;
  }
}

void CentralSpinModel::fill_channel_weight(int c, int s, Window w, RVec& d) const {
  const double j = dicke::spin(p_.N, s);
  const Index W = w.size;
  d.resize(2 * W);
  auto bath = [&](dicke::LocalJump type) {
    for (Index i = 0; i < W; ++i) d(i) = dicke::kraus_completeness(type, p_.N, j, w.begin + i);
    d.tail(W) = d.head(W);
  };
  switch (kinds_.at(c)) {
    case Kind::tau_minus: central::fill_jump_weight(true, W, d); break;
    case Kind::tau_plus: central::fill_jump_weight(false, W, d); break;
    case Kind::bath_minus: bath(dicke::LocalJump::sigma_minus); break;
    case Kind::bath_plus: bath(dicke::LocalJump::sigma_plus); break;
    case Kind::bath_z: bath(dicke::LocalJump::sigma_z); break;
  }
}

void CentralSpinModel::fill_kraus_weight(int c, int b, int s, Window w, RVec& d) const {
  const double j = dicke::spin(p_.N, s);
  const Index W = w.size;
  d.resize(2 * W);
  auto local = [&](dicke::LocalJump type) {
    const dicke::KrausBranch branch(type, p_.N, j, deltas[b]);
    for (Index i = 0; i < W; ++i) d(i) = branch.squared(w.begin + i);
    d.tail(W) = d.head(W);
  };
  switch (kinds_.at(c)) {
    case Kind::tau_minus: central::fill_jump_weight(true, W, d); break;
    case Kind::tau_plus: central::fill_jump_weight(false, W, d); break;
    case Kind::bath_minus: local(dicke::LocalJump::sigma_minus); break;
    case Kind::bath_plus: local(dicke::LocalJump::sigma_plus); break;
    case Kind::bath_z: local(dicke::LocalJump::sigma_z); break;
  }
}

ObservableDeclaration CentralSpinModel::declare_observables() const { return central::observables(has_fluctuations(), quadrature_scale()); }

void CentralSpinModel::fill_observable(int id, int s, Window in, Window out, Operator& target) const {
  const auto o = Observable(id);
  const double j = dicke::spin(p_.N, s);
  LadderOperatorBuilder O(target, 2, in, out);
  switch (o) {
    case Observable::tau_x:
    case Observable::tau_y:
    case Observable::tau_z: central::add_pauli(O, o); break;
    case Observable::quadrature:
      O.add_all_levels_with_adjoint(+1, 1.0, [j](Index k) { return dicke::j_plus(j, k); });  // J_+ + J_-
      break;
    case Observable::number:
      O.add_all_levels(0, 1.0 / (p_.eps() * p_.N), [j](Index k) { return double(k) * (2.0 * j + 1.0 - double(k)); });
      break;
  }
}

double CentralSpinModel::quadrature_scale() const { return 1.0 / std::sqrt(2.0 * p_.eps() * p_.N); }

BlockDensity CentralSpinModel::initial_density() const {
  const Eigen::Matrix2cd rho_c = spin_density(p_.central);
  const double p = p_.bath_p_up();
  const auto [theta, phi] = p_.bath.steady ? std::pair{0.0, 0.0} : bloch_angles(p_.bath.r);
  BlockDensity rho;
  rho.blocks.resize(sector_count());
  for (int s = 0; s < sector_count(); ++s) {
    const Index L = ladder_size(s);
    const double j = dicke::spin(p_.N, s);
    CMat bath = CMat::Zero(L, L);
    for (Index k = 0; k < L; ++k) {
      const double weight = dicke::diagonal_weight(p_.N, s, k, p);
      if (weight == 0.0) continue;
      if (theta == 0.0) {
        bath(k, k) = weight;
      } else {
        const CVec v = dicke::rotated_state(j, k, theta, phi);
        bath.noalias() += weight * v * v.adjoint();
      }
    }
    CMat& block = rho.blocks[s];
    block.resize(2 * L, 2 * L);
    for (Index a = 0; a < 2; ++a)
      for (Index b = 0; b < 2; ++b) block.block(a * L, b * L, L, L) = rho_c(a, b) * bath;
  }
  return rho;
}

namespace {
/// log of the k = 0 weight and log r, r = p / (1 - p), of the diagonal product state in sector
/// s: diagonal_weight(N, s, k, p) = exp(log_w0 + k log_r) for 0 < p < 1.
std::pair<double, double> geometric_weights(int N, int s, double p) {
  const double log_w0 = dicke::log_multiplicity(N, s) + double(s) * std::log(p) + double(N - s) * std::log1p(-p);
  return {log_w0, std::log(p) - std::log1p(-p)};
}
}  // namespace

double CentralSpinModel::initial_sector_weight(int s) const {
  // A rotation acts inside each sector: the weight is that of the diagonal state,
  // sum_k w0 r^k = w0 (1 - r^L) / (1 - r), summed in logarithms.
  const double p = std::clamp(p_.bath_p_up(), 0.0, 1.0);
  if (p == 0.0 || p == 1.0) return s == 0 ? 1.0 : 0.0;
  const double L = double(ladder_size(s));
  const auto [log_w0, log_r] = geometric_weights(p_.N, s, p);
  if (log_r == 0.0) return std::exp(log_w0) * L;
  // sum_k r^k = r^{L-1} sum_k r^{-k} for r > 1 keeps every exponent <= 0
  const double top = log_r > 0 ? (L - 1.0) * log_r : 0.0;
  const double q = log_r > 0 ? -log_r : log_r;  // log of the ratio < 1
  return std::exp(log_w0 + top + std::log(-std::expm1(L * q)) - std::log(-std::expm1(q)));
}

Window CentralSpinModel::initial_window(int s, double tol) const {
  const Index L = ladder_size(s);
  const double p = std::clamp(p_.bath_p_up(), 0.0, 1.0);
  const bool diagonal = p_.bath.steady || bloch_angles(p_.bath.r).first == 0.0;
  if (!diagonal) return SectorModel::initial_window(s, tol);
  if (p == 0.0 || p == 1.0) return s == 0 && 1.0 >= tol ? Window{p == 0.0 ? 0 : L - 1, 1} : Window{0, 0};
  // Populations w0 r^k: monotone in k, so the rungs at or above tol form one end of the ladder.
  const auto [log_w0, log_r] = geometric_weights(p_.N, s, p);
  const double log_tol = std::log(tol);
  if (log_r == 0.0) return log_w0 >= log_tol ? Window{0, L} : Window{0, 0};
  if (log_r < 0) {
    if (log_w0 < log_tol) return {0, 0};
    const double k_max = std::floor((log_tol - log_w0) / log_r);
    return {0, Index(std::min<double>(double(L - 1), k_max)) + 1};
  }
  const double log_top = log_w0 + double(L - 1) * log_r;
  if (log_top < log_tol) return {0, 0};
  const double k_min = std::max(0.0, std::ceil((log_tol - log_w0) / log_r));
  return {Index(k_min), L - Index(k_min)};
}

CMat CentralSpinModel::initial_block(int s, Window w) const {
  const Eigen::Matrix2cd rho_c = spin_density(p_.central);
  const double p = p_.bath_p_up();
  const auto [theta, phi] = p_.bath.steady ? std::pair{0.0, 0.0} : bloch_angles(p_.bath.r);
  const double j = dicke::spin(p_.N, s);
  CMat bath = CMat::Zero(w.size, w.size);
  if (theta == 0.0) {
    for (Index k = w.begin; k < w.end(); ++k) bath(k - w.begin, k - w.begin) = dicke::diagonal_weight(p_.N, s, k, p);
  } else {
    for (Index k = 0; k < ladder_size(s); ++k) {
      const double weight = dicke::diagonal_weight(p_.N, s, k, p);
      if (weight == 0.0) continue;
      const CVec v = dicke::rotated_state(j, k, theta, phi).segment(w.begin, w.size);
      bath.noalias() += weight * v * v.adjoint();
    }
  }
  CMat block(2 * w.size, 2 * w.size);
  for (Index a = 0; a < 2; ++a)
    for (Index b = 0; b < 2; ++b) block.block(a * w.size, b * w.size, w.size, w.size) = rho_c(a, b) * bath;
  return block;
}

SectorState CentralSpinModel::sample_initial(Rng& rng, bool full, double window_tol) const {
  const Eigen::Vector2cd central = sample_spin_state(p_.central, rng);
  const dicke::DickeLabel label = dicke::sample_label(p_.N, p_.bath_p_up(), rng);
  const Index L = ladder_size(label.s);
  const double j = dicke::spin(p_.N, label.s);
  const auto [theta, phi] = p_.bath.steady ? std::pair{0.0, 0.0} : bloch_angles(p_.bath.r);
  if (theta == 0.0 && !full) {  // |j, m> itself: a window of one rung, O(1) whatever N
    SectorState state{label.s, Window{label.k, 1}, CVec(2)};
    state.psi << central(0), central(1);
    return state;
  }
  CVec bath;
  if (theta == 0.0) {
    bath = CVec::Zero(L);
    bath(label.k) = 1.0;
  } else {
    bath = dicke::rotated_state(j, label.k, theta, phi);
  }
  SectorState state{label.s, Window::full(L), CVec(2 * L)};
  state.psi.head(L) = central(0) * bath;
  state.psi.tail(L) = central(1) * bath;
  if (!full) {
    trim_window(state, 2, window_tol);
    state.psi.normalize();
  }
  return state;
}

}  // namespace qfluct
