#include "qfluct/model/observables.hpp"

#include "qfluct/model/entanglement.hpp"
#include "qfluct/stats/central_moments.hpp"

#include <stdexcept>

namespace qfluct {

namespace {
using Form = LinearQuantity::Form;
using ColumnForm = ColumnGroup::Form;

/// psi (window `from`) rewritten in the layout of the larger window `to`.
CVec embed(const CVec& psi, Window from, Window to, Index d) {
  CVec out = CVec::Zero(d * to.size);
  for (Index c = 0; c < d; ++c)
    out.segment(c * to.size + (from.begin - to.begin), from.size) = psi.segment(c * from.size, from.size);
  return out;
}

/// The d x d matrix stored row-major as (re, im) pairs.
CMat unpack_density(const double* raw, Index d) {
  CMat rho(d, d);
  for (Index a = 0; a < d; ++a)
    for (Index b = 0; b < d; ++b) rho(a, b) = cplx(raw[2 * (a * d + b)], raw[2 * (a * d + b) + 1]);
  return rho;
}
}  // namespace

ObservableSet::ObservableSet(const SectorModel& model)
    : model_(model), decl_(model.declare_observables()), full_(model.sector_count()) {
  const Index d = model.system_dim();
  for (const auto& q : decl_.linear) {
    raw_offset_.push_back(raw_size());
    const std::size_t expected = q.form == Form::expectation ? 1 : q.form == Form::moments ? 4
                               : q.form == Form::reduced_density ? std::size_t(2 * d * d) : q.names.size();
    if (q.names.size() != expected || expected == 0)
      throw std::logic_error("ObservableSet: a linear quantity declares the wrong number of names");
    if (q.form == Form::moments && fourth_moment_ < 0) fourth_moment_ = raw_size() + 3;
    raw_names_.insert(raw_names_.end(), q.names.begin(), q.names.end());
  }
  for (const auto& g : decl_.columns) {
    column_offset_.push_back(column_count());
    const Index n = Index(g.names.size());
    const Index reads = g.form == ColumnForm::copy ? n : g.form == ColumnForm::central_moments ? 4 : 2 * g.dim * g.dim;
    const bool sized = g.form == ColumnForm::copy ? n > 0
                     : g.form == ColumnForm::central_moments ? n == central_moments_size
                     : g.form == ColumnForm::purity ? n == 1 : n == 2 && g.dim == 4;
    if (!sized || g.raw < 0 || g.raw + reads > raw_size())
      throw std::logic_error("ObservableSet: a column group reads outside the raw record or has the wrong size");
    // copy columns, and the mean q of central moments, are raw entries themselves
    for (Index j = 0; j < n; ++j)
      raw_of_column_.push_back(g.form == ColumnForm::copy || (g.form == ColumnForm::central_moments && j == 0) ? g.raw + j : -1);
    if (g.form == ColumnForm::central_moments) curvature_.push_back({column_count(), n, g.raw, reads});
    column_names_.insert(column_names_.end(), g.names.begin(), g.names.end());
  }
}

Index ObservableSet::column_index(const std::string& name) const {
  for (std::size_t c = 0; c < column_names_.size(); ++c)
    if (column_names_[c] == name) return Index(c);
  return -1;
}

void ObservableSet::measure(const SectorState& state, double t, double* raw) const {
  const Index d = model_.system_dim();
  const Window w = state.window;
  const int s = state.sector;
  const double norm2 = state.psi.squaredNorm();
  for (std::size_t i = 0; i < decl_.linear.size(); ++i) {
    const LinearQuantity& q = decl_.linear[i];
    double* out = raw + raw_offset_[i];
    switch (q.form) {
      case Form::expectation: out[0] = model_.observable(q.id, s, w, w).expectation(state.psi).real() / norm2; break;
      case Form::moments: {
        // <q^k> from v1 = X psi and v2 = X^2 psi on windows one and two rungs wider.
        const Index L = model_.ladder_size(s);
        const Window w1 = w.shifted(0, 1, L), w2 = w1.shifted(0, 1, L);
        CVec v1 = CVec::Zero(d * w1.size), v2 = CVec::Zero(d * w2.size);
        model_.observable(q.id, s, w, w1).apply(state.psi, v1);
        model_.observable(q.id, s, w1, w2).apply(v1, v2);
        const double k = q.scale;
        out[0] = k * embed(state.psi, w, w1, d).dot(v1).real() / norm2;
        out[1] = k * k * v1.squaredNorm() / norm2;
        out[2] = k * k * k * embed(v1, w1, w2, d).dot(v2).real() / norm2;
        out[3] = k * k * k * k * v2.squaredNorm() / norm2;
        break;
      }
      case Form::reduced_density: {
        // rho_ab = sum_k psi(a, k) conj(psi(b, k)): psi viewed as a (rungs x d) matrix M, rho = M^T conj(M).
        const Eigen::Map<const CMat> M(state.psi.data(), w.size, d);
        const CMat rho = (M.transpose() * M.conjugate()) / norm2;
        for (Index a = 0; a < d; ++a)
          for (Index b = 0; b < d; ++b) out[2 * (a * d + b)] = rho(a, b).real(), out[2 * (a * d + b) + 1] = rho(a, b).imag();
        break;
      }
      case Form::c_number: model_.extra_values(t, out); break;
    }
  }
}

std::vector<Operator> ObservableSet::operators_on(int s, Window w) const {
  std::vector<Operator> ops;
  for (const auto& q : decl_.linear)
    ops.push_back(q.form == Form::expectation || q.form == Form::moments ? model_.observable(q.id, s, w, w) : Operator());
  return ops;
}

const std::vector<Operator>& ObservableSet::full_operators(int s) const {
  auto& ops = full_[s];
  if (ops.empty()) ops = operators_on(s, model_.full_window(s));
  return ops;
}

void ObservableSet::accumulate(const CMatCRef& rho, Index L, const std::vector<Operator>& ops, double* raw) const {
  const Index d = model_.system_dim();
  for (std::size_t i = 0; i < decl_.linear.size(); ++i) {
    const LinearQuantity& q = decl_.linear[i];
    double* out = raw + raw_offset_[i];
    switch (q.form) {
      case Form::expectation: out[0] += ops[i].trace_with(rho).real(); break;
      case Form::moments: {
        const Operator& X = ops[i];
        CMat y1 = CMat::Zero(rho.rows(), rho.cols()), y2 = y1, y3 = y1;
        X.apply(rho, y1);
        X.apply(y1, y2);
        X.apply(y2, y3);
        const double s1 = q.scale, s2 = s1 * s1;
        out[0] += s1 * X.trace_with(rho).real();
        out[1] += s2 * X.trace_with(y1).real();
        out[2] += s2 * s1 * X.trace_with(y2).real();
        out[3] += s2 * s2 * X.trace_with(y3).real();
        break;
      }
      case Form::reduced_density: {
        for (Index a = 0; a < d; ++a)
          for (Index b = 0; b < d; ++b) {
            const cplx v = rho.block(a * L, b * L, L, L).diagonal().sum();
            out[2 * (a * d + b)] += v.real();
            out[2 * (a * d + b) + 1] += v.imag();
          }
        break;
      }
      case Form::c_number: break;
    }
  }
}

void ObservableSet::measure(const std::vector<Eigen::Map<const CMat>>& blocks, double t, double* raw) const {
  std::fill(raw, raw + raw_size(), 0.0);
  for (std::size_t i = 0; i < decl_.linear.size(); ++i)
    if (decl_.linear[i].form == Form::c_number) model_.extra_values(t, raw + raw_offset_[i]);
  for (int s = 0; s < int(blocks.size()); ++s)
    if (blocks[s].size() > 0) accumulate(blocks[s], model_.ladder_size(s), full_operators(s), raw);
}

void ObservableSet::measure(const std::vector<Eigen::Map<const CMat>>& blocks, const std::vector<Window>& windows,
                            double t, double* raw) const {
  std::fill(raw, raw + raw_size(), 0.0);
  const Index d = model_.system_dim();
  for (std::size_t i = 0; i < decl_.linear.size(); ++i)
    if (decl_.linear[i].form == Form::c_number) model_.extra_values(t, raw + raw_offset_[i]);
  windowed_.resize(blocks.size());
  CMat padded;
  for (int s = 0; s < int(blocks.size()); ++s) {
    if (blocks[s].size() == 0) continue;
    const Index L = model_.ladder_size(s);
    const Window w = windows[s];
    if (w == model_.full_window(s)) {
      accumulate(blocks[s], L, full_operators(s), raw);
      continue;
    }
    // X^3 rho reaches three rungs beyond the window, but tr(X X^3 rho) only needs the rungs within
    // two of it: a path of four one-rung steps from the window back to it.
    const Window p = w.shifted(0, 2, L);
    auto& [cached, ops] = windowed_[std::size_t(s)];
    if (!(cached == p) || ops.empty()) cached = p, ops = operators_on(s, p);
    padded.setZero(d * p.size, d * p.size);
    for (Index a = 0; a < d; ++a)
      for (Index b = 0; b < d; ++b)
        padded.block(a * p.size + w.begin - p.begin, b * p.size + w.begin - p.begin, w.size, w.size) =
            blocks[s].block(a * w.size, b * w.size, w.size, w.size);
    accumulate(padded, p.size, ops, raw);
  }
}

std::vector<ObservableSet::Weight> ObservableSet::linear_weights(int s, Window w) const {
  const Index d = model_.system_dim(), L = model_.ladder_size(s);
  // The operators on the window widened by two rungs, as measure() takes them (the whole ladder
  // needs no widening).
  const Window p = w == model_.full_window(s) ? w : w.shifted(0, 2, L);
  const Index n = w.size, P = p.size;
  const auto padded = [&](Index i) { return (i / n) * P + i % n + w.begin - p.begin; };
  std::vector<Weight> out;
  const auto add = [&](Index raw, const CMat& M, double scale) {  // raw += scale Re tr(M rho)
    for (Index j = 0; j < d * n; ++j)
      for (Index i = 0; i < d * n; ++i)
        if (const cplx v = M(padded(j), padded(i)); v != 0.0) out.push_back({raw, i, j, scale * v});
  };
  const std::vector<Operator> ops = operators_on(s, p);
  for (std::size_t i = 0; i < decl_.linear.size(); ++i) {
    const LinearQuantity& q = decl_.linear[i];
    const Index r = raw_offset_[i];
    switch (q.form) {
      case Form::expectation: add(r, ops[i].dense(), 1.0); break;
      case Form::moments: {  // <q^k> = scale^k tr(X^k rho), X^k formed on the widened window
        const CMat X = ops[i].dense();
        CMat power = X;
        double scale = q.scale;
        for (Index k = 0; k < 4; ++k, power = (power * X).eval(), scale *= q.scale) add(r + k, power, scale);
        break;
      }
      case Form::reduced_density:  // rho_ab = sum_k rho(a k, b k): real and imaginary parts
        for (Index a = 0; a < d; ++a)
          for (Index b = 0; b < d; ++b)
            for (Index k = 0; k < n; ++k) {
              out.push_back({r + 2 * (a * d + b), a * n + k, b * n + k, 1.0});
              out.push_back({r + 2 * (a * d + b) + 1, a * n + k, b * n + k, cplx(0.0, -1.0)});
            }
        break;
      case Form::c_number: break;
    }
  }
  return out;
}

void ObservableSet::c_numbers(double t, double* raw) const {
  std::fill(raw, raw + raw_size(), 0.0);
  for (std::size_t i = 0; i < decl_.linear.size(); ++i)
    if (decl_.linear[i].form == Form::c_number) model_.extra_values(t, raw + raw_offset_[i]);
}

void ObservableSet::derive_one(std::size_t g, const double* raw, double* col) const {
  const ColumnGroup& group = decl_.columns[g];
  switch (group.form) {
    case ColumnForm::copy: std::copy_n(raw, group.names.size(), col); break;
    case ColumnForm::central_moments: central_moments(raw, col); break;
    case ColumnForm::purity: col[0] = purity(unpack_density(raw, group.dim)); break;
    case ColumnForm::entanglement: {
      const CMat rho = unpack_density(raw, group.dim);
      col[0] = concurrence(rho);
      col[1] = negativity(rho) + 0.0;  // -0 (no negative eigenvalue) prints as 0
      break;
    }
  }
}

void ObservableSet::derive(const double* raw, double* col) const {
  for (std::size_t g = 0; g < decl_.columns.size(); ++g) derive_one(g, raw + decl_.columns[g].raw, col + column_offset_[g]);
}

void ObservableSet::derive_group(Index column, const double* raw_of_group, double* col) const {
  for (std::size_t g = 0; g < decl_.columns.size(); ++g)
    if (column_offset_[g] == column) return derive_one(g, raw_of_group, col);
  throw std::logic_error("ObservableSet::derive_group: no group starts at this column");
}

void ObservableSet::bound(const double* raw, double* col) const {
  for (std::size_t g = 0; g < decl_.columns.size(); ++g)
    if (decl_.columns[g].form == ColumnForm::central_moments)
      bound_central_moments(raw[decl_.columns[g].raw + 1], col + column_offset_[g]);
}

}  // namespace qfluct
