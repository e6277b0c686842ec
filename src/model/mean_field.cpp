#include "qfluct/model/mean_field.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/central_spin_terms.hpp"

#include <unsupported/Eigen/MatrixFunctions>

namespace qfluct {

namespace {
using central::up, central::down;
auto one = [](Index) { return 1.0; };

/// The mean-field model has no fluctuation mode: q and eps are not needed.
CentralSpinParameters without_fluctuations(CentralSpinParameters p) {
  p.fluctuations = false;
  return p;
}
}  // namespace

BathBlochSolution::BathBlochSolution(const CentralSpinParameters& p) {
  const double hx = p.h[0], hy = p.h[1], hz = p.h[2];
  const double G1 = p.Gamma_plus(), G2 = 0.5 * p.Gamma_plus() + 2.0 * p.Gamma_phi;
  generator_.setZero();
  // 2 h x m
  generator_.topLeftCorner<3, 3>() << 0, -2 * hz, 2 * hy, 2 * hz, 0, -2 * hx, -2 * hy, 2 * hx, 0;
  generator_(0, 0) -= G2;
  generator_(1, 1) -= G2;
  generator_(2, 2) -= G1;
  generator_(2, 3) = p.Gamma_up - p.Gamma_down;
  const Vec3 m0 = p.bath.steady ? Vec3{0.0, 0.0, -p.eps()} : onto_bloch_ball(p.bath.r);
  initial_ << m0[0], m0[1], m0[2], 1.0;
}

Eigen::Vector3d BathBlochSolution::operator()(double t) const {
  const Eigen::Matrix4d propagator = (t * generator_).exp();
  return (propagator * initial_).head<3>();
}

MeanFieldModel::MeanFieldModel(const CentralSpinParameters& p) : p_(without_fluctuations(p)), bath_(p_) {
  p_.validate();
  if (p_.gamma_down > 0) channels_.push_back({"tau_minus", p_.gamma_down, {0}, {0}}), lowering_.push_back(true);
  if (p_.gamma_up > 0) channels_.push_back({"tau_plus", p_.gamma_up, {0}, {0}}), lowering_.push_back(false);
}

void MeanFieldModel::fill_hamiltonian(int, Window in, Window out, Operator& target) const {
  LadderOperatorBuilder H(target, 2, in, out);
  central::add_hamiltonian(H, p_.w);
}

double MeanFieldModel::drive(int i, double t) const { return bath_(t)(i); }

void MeanFieldModel::fill_drive(int i, int, Window in, Window out, Operator& target) const {
  // (g0/2) tau_x (i = 0, times m_x) or (g0/2) tau_y (i = 1, times m_y)
  LadderOperatorBuilder H(target, 2, in, out);
  const double half = 0.5 * p_.g0;
  if (i == 0) H.add(up, down, 0, half, one).add(down, up, 0, half, one);
  else H.add(up, down, 0, -I * half, one).add(down, up, 0, I * half, one);
}

void MeanFieldModel::extra_values(double t, double* out) const {
  const Eigen::Vector3d m = bath_(t);
  out[0] = m(0), out[1] = m(1), out[2] = m(2);
}

void MeanFieldModel::fill_kraus(int c, int, int, Window in, Window out, Operator& target) const {
  LadderOperatorBuilder K(target, 2, in, out);
  central::add_jump(K, lowering_.at(c));
}

void MeanFieldModel::fill_channel_weight(int c, int, Window w, RVec& d) const {
  central::fill_jump_weight(lowering_.at(c), w.size, d);
}

ObservableDeclaration MeanFieldModel::declare_observables() const { return central::observables(false, 1.0, {"m_x", "m_y", "m_z"}); }

void MeanFieldModel::fill_observable(int id, int, Window in, Window out, Operator& target) const {
  const auto o = Observable(id);
  if (o != Observable::tau_x && o != Observable::tau_y && o != Observable::tau_z)
    throw std::logic_error("the mean-field model has no fluctuation observables");
  LadderOperatorBuilder O(target, 2, in, out);
  central::add_pauli(O, o);
}

BlockDensity MeanFieldModel::initial_density() const { return BlockDensity{{CMat(spin_density(p_.central))}}; }

SectorState MeanFieldModel::sample_initial(Rng& rng, bool, double) const {
  const Eigen::Vector2cd c = sample_spin_state(p_.central, rng);
  return SectorState{0, Window{0, 1}, CVec(c)};
}

}  // namespace qfluct
