#include "qfluct/model/observables.hpp"

#include "qfluct/stats/central_moments.hpp"

namespace qfluct {

namespace {
constexpr Observable system_observables[3] = {Observable::tau_x, Observable::tau_y, Observable::tau_z};

/// psi (window `from`) rewritten in the layout of the larger window `to`.
CVec embed(const CVec& psi, Window from, Window to, Index d) {
  CVec out = CVec::Zero(d * to.size);
  for (Index c = 0; c < d; ++c)
    out.segment(c * to.size + (from.begin - to.begin), from.size) = psi.segment(c * from.size, from.size);
  return out;
}
}  // namespace

ObservableSet::ObservableSet(const SectorModel& model)
    : model_(model), fluctuations_(model.has_fluctuations()), full_(model.sector_count()) {
  raw_names_ = {"tau_x", "tau_y", "tau_z"};
  column_names_ = raw_names_;
  raw_of_column_ = {0, 1, 2};
  if (fluctuations_) {
    scale_ = model.quadrature_scale();
    raw_names_.insert(raw_names_.end(), {"q1", "q2", "q3", "q4", "n"});
    column_names_.insert(column_names_.end(), {"q", "Q2", "Q4", "nongauss", "n"});
    raw_of_column_.insert(raw_of_column_.end(), {3, -1, -1, -1, 7});
  }
  for (const auto& name : model.extra_columns()) {
    raw_of_column_.push_back(Index(raw_names_.size()));
    raw_names_.push_back(name);
    column_names_.push_back(name);
    ++extras_;
  }
}

void ObservableSet::measure(const SectorState& state, double t, double* raw) const {
  if (extras_ > 0) model_.extra_values(t, raw + raw_size() - extras_);
  const Index d = model_.system_dim();
  const Window w = state.window;
  const double norm2 = state.psi.squaredNorm();
  for (int a = 0; a < 3; ++a)
    raw[a] = model_.observable(system_observables[a], state.sector, w, w).expectation(state.psi).real() / norm2;
  if (!fluctuations_) return;
  const Index L = model_.ladder_size(state.sector);
  const Window w1 = w.shifted(0, 1, L), w2 = w1.shifted(0, 1, L);
  CVec v1 = CVec::Zero(d * w1.size), v2 = CVec::Zero(d * w2.size);
  model_.observable(Observable::quadrature, state.sector, w, w1).apply(state.psi, v1);
  model_.observable(Observable::quadrature, state.sector, w1, w2).apply(v1, v2);
  const double s = scale_;
  raw[3] = s * embed(state.psi, w, w1, d).dot(v1).real() / norm2;
  raw[4] = s * s * v1.squaredNorm() / norm2;
  raw[5] = s * s * s * embed(v1, w1, w2, d).dot(v2).real() / norm2;
  raw[6] = s * s * s * s * v2.squaredNorm() / norm2;
  raw[7] = model_.observable(Observable::number, state.sector, w, w).expectation(state.psi).real() / norm2;
}

const std::vector<Operator>& ObservableSet::full_operators(int s) const {
  auto& ops = full_[s];
  if (ops.empty()) {
    const Window w = model_.full_window(s);
    for (Observable o : system_observables) ops.push_back(model_.observable(o, s, w, w));
    if (fluctuations_) {
      ops.push_back(model_.observable(Observable::quadrature, s, w, w));
      ops.push_back(model_.observable(Observable::number, s, w, w));
    }
  }
  return ops;
}

void ObservableSet::measure(const std::vector<Eigen::Map<const CMat>>& blocks, double t, double* raw) const {
  std::fill(raw, raw + raw_size(), 0.0);
  if (extras_ > 0) model_.extra_values(t, raw + raw_size() - extras_);
  for (int s = 0; s < int(blocks.size()); ++s) {
    const auto& rho = blocks[s];
    if (rho.size() == 0) continue;
    const auto& ops = full_operators(s);
    for (int a = 0; a < 3; ++a) raw[a] += ops[a].trace_with(rho).real();
    if (!fluctuations_) continue;
    const Operator& X = ops[3];
    CMat y1 = CMat::Zero(rho.rows(), rho.cols()), y2 = y1, y3 = y1;
    X.apply(rho, y1);
    X.apply(y1, y2);
    X.apply(y2, y3);
    const double s1 = scale_, s2 = s1 * s1;
    raw[3] += s1 * X.trace_with(rho).real();
    raw[4] += s2 * X.trace_with(y1).real();
    raw[5] += s2 * s1 * X.trace_with(y2).real();
    raw[6] += s2 * s2 * X.trace_with(y3).real();
    raw[7] += ops[4].trace_with(rho).real();
  }
}

void ObservableSet::derive(const double* raw, double* col) const {
  for (Index c = 0; c < column_count(); ++c)
    if (column_is_linear(c)) col[c] = raw[raw_index_of_column(c)];
  // q, Q2, Q4, nongauss from <q>, <q^2>, <q^3>, <q^4> (q itself is rewritten identically)
  if (fluctuations_) central_moments(raw + 3, col + 3);
}

void ObservableSet::bound(const double* raw, double* col) const {
  if (fluctuations_) bound_central_moments(raw[4], col + 3);
}

}  // namespace qfluct
