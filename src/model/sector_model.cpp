#include "qfluct/model/sector_model.hpp"

#include <algorithm>
#include <stdexcept>

namespace qfluct {

RVec decay_diagonal(const SectorModel& model, int s, Window w) {
  RVec d = RVec::Zero(model.system_dim() * w.size), weight;
  const auto& channels = model.channels();
  for (int c = 0; c < int(channels.size()); ++c) {
    model.fill_channel_weight(c, s, w, weight);
    d += channels[c].rate * weight;
  }
  return d;
}

Window SectorModel::branch_window(int c, int b, int s, Window w) const {
  const Channel& ch = channels().at(c);
  return w.shifted(ch.ladder_shift.at(b), 0, ladder_size(s + ch.sector_shift.at(b)));
}

void SectorModel::fill_kraus_weight(int c, int b, int s, Window w, RVec& weight) const {
  const int target = s + channels().at(c).sector_shift.at(b);
  if (!has_sector(target)) {
    weight.setZero(system_dim() * w.size);
    return;
  }
  weight = kraus(c, b, s, w, branch_window(c, b, s, w)).column_norms_squared();
}

double SectorModel::drive(int, double) const { throw std::logic_error("SectorModel::drive: no drive terms"); }

void SectorModel::fill_drive(int, int, Window, Window, Operator&) const {
  throw std::logic_error("SectorModel::fill_drive: no drive terms");
}

void SectorModel::extra_values(double, double*) const {}

double SectorModel::initial_sector_weight(int s) const { return initial_density().blocks.at(s).trace().real(); }

namespace {
/// The smallest window of a block (layout c * L + k) holding the rungs with population >= tol.
Window populated_window(const CMat& block, Index d, Index begin, double tol) {
  const Index L = d > 0 ? block.rows() / d : 0;
  Index lo = L, hi = 0;
  for (Index k = 0; k < L; ++k) {
    double p = 0.0;
    for (Index c = 0; c < d; ++c) p += block(c * L + k, c * L + k).real();
    if (p >= tol) lo = std::min(lo, k), hi = k + 1;
  }
  return lo < hi ? Window{begin + lo, hi - lo} : Window{begin, 0};
}
}  // namespace

Window SectorModel::initial_window(int s, double tol) const {
  return populated_window(initial_block(s, full_window(s)), system_dim(), 0, tol);
}

CMat SectorModel::initial_block(int s, Window w) const {
  const CMat full = initial_density().blocks.at(s);
  const Index d = system_dim(), L = ladder_size(s);
  CMat out(d * w.size, d * w.size);
  for (Index a = 0; a < d; ++a)
    for (Index b = 0; b < d; ++b) out.block(a * w.size, b * w.size, w.size, w.size) = full.block(a * L + w.begin, b * L + w.begin, w.size, w.size);
  return out;
}

Operator SectorModel::hamiltonian(int s, Window in, Window out) const {
  Operator H;
  fill_hamiltonian(s, in, out, H);
  return H;
}

Operator SectorModel::kraus(int c, int b, int s, Window in, Window out) const {
  Operator K;
  fill_kraus(c, b, s, in, out, K);
  return K;
}

RVec SectorModel::channel_weight(int c, int s, Window w) const {
  RVec weight;
  fill_channel_weight(c, s, w, weight);
  return weight;
}

RVec SectorModel::kraus_weight(int c, int b, int s, Window w) const {
  RVec weight;
  fill_kraus_weight(c, b, s, w, weight);
  return weight;
}

Operator SectorModel::observable(int id, int s, Window in, Window out) const {
  Operator O;
  fill_observable(id, s, in, out, O);
  return O;
}

Operator SectorModel::channel_operator(int c, int s, Window w) const {
  Operator W;
  fill_channel_operator(c, s, w, W);
  return W;
}

void SectorModel::fill_channel_operator(int c, int s, Window w, Operator& W) const {
  RVec weight;
  fill_channel_weight(c, s, w, weight);
  W.reset(weight.size(), weight.size());
  double* d = W.add_band(0, 0, 1.0, weight.size());
  std::copy_n(weight.data(), weight.size(), d);
}

std::vector<std::string> SectorModel::truncated_modes() const {
  if (ladder_truncated()) return {"boson"};
  return {};
}

void SectorModel::fill_truncation_weight(int, int s, Window w, RVec& weight) const {
  const Index L = ladder_size(s);
  weight.setZero(system_dim() * w.size);
  for (Index c = 0; c < system_dim(); ++c)
    for (Index k = std::max(w.begin, L - 2); k < w.end(); ++k) weight(c * w.size + (k - w.begin)) = 1.0;
}

double SectorModel::truncation_population(int, const SectorState& state) const {
  const Index d = system_dim(), L = ladder_size(state.sector);
  const Window w = state.window;
  double p = 0.0;
  for (Index k = std::max(w.begin, L - 2); k < w.end(); ++k)
    for (Index c = 0; c < d; ++c) p += std::norm(state.psi(c * w.size + (k - w.begin)));
  return p / state.psi.squaredNorm();
}

Index ObservableDeclaration::raw_size() const {
  Index n = 0;
  for (const auto& q : linear) n += Index(q.names.size());
  return n;
}

Index ObservableDeclaration::add(LinearQuantity q) {
  const Index first = raw_size();
  linear.push_back(std::move(q));
  return first;
}

void ObservableDeclaration::add_copy(std::vector<std::string> names, Index raw) {
  columns.push_back({ColumnGroup::Form::copy, std::move(names), raw, 0});
}

}  // namespace qfluct
