#include "qfluct/space/operator.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <tuple>

namespace qfluct {

/// The shared, immutable data of a Kronecker-form operator.
struct Operator::Kronecker {
  KroneckerShape shape;
  std::vector<KroneckerTerm> terms;
  std::vector<char> identity;       // terms[t].ladder is exactly the identity: no ladder product
  std::vector<char> scalar_system;  // terms[t].system is exactly s * 1: no system GEMM
};

namespace {

bool same_sparse(const SparseMat& a, const SparseMat& b) {
  // both compressed, same shape
  const Index nnz = a.nonZeros();
  return nnz == b.nonZeros() && std::equal(a.outerIndexPtr(), a.outerIndexPtr() + a.outerSize() + 1, b.outerIndexPtr()) &&
         std::equal(a.innerIndexPtr(), a.innerIndexPtr() + nnz, b.innerIndexPtr()) &&
         std::equal(a.valuePtr(), a.valuePtr() + nnz, b.valuePtr());
}

bool is_scalar(const CMat& m) {
  return m.rows() == m.cols() && m == m(0, 0) * CMat::Identity(m.rows(), m.cols());
}

bool is_identity(const SparseMat& m) {
  if (m.rows() != m.cols() || m.nonZeros() != m.rows()) return false;
  for (Index r = 0; r < m.outerSize(); ++r) {
    SparseMat::InnerIterator it(m, r);
    if (!it || it.col() != r || it.value() != cplx(1.0)) return false;
  }
  return true;
}

void drop_exact_zeros(SparseMat& m) {
  m.prune([](Index, Index, const cplx& v) { return v != cplx(0.0); });
  m.makeCompressed();
}

/// The two orders of S (x) B applied to m vectors cost (complex multiply-adds, per vector)
/// nnz(B) d_in + L_out d_in d_out (ladder first) or L_in d_in d_out + nnz(B) d_out (system first).
bool ladder_first(const KroneckerShape& s, Index nnz) {
  return nnz * s.system_cols + s.ladder_rows * s.system_cols * s.system_rows <=
         s.ladder_cols * s.system_cols * s.system_rows + nnz * s.system_rows;
}

}  // namespace

Operator Operator::kronecker(Index system_rows, Index system_cols, Index ladder_rows, Index ladder_cols,
                             std::vector<KroneckerTerm> terms) {
  if (system_rows < 1 || system_cols < 1 || ladder_rows < 1 || ladder_cols < 1)
    throw std::invalid_argument("Operator::kronecker: dimensions must be positive");
  auto data = std::make_shared<Kronecker>();
  data->shape = {system_rows, system_cols, ladder_rows, ladder_cols};
  for (std::size_t t = 0; t < terms.size(); ++t) {
    KroneckerTerm& term = terms[t];
    if (term.system.rows() != system_rows || term.system.cols() != system_cols)
      throw std::invalid_argument("Operator::kronecker: term " + std::to_string(t) + ": system matrix is " +
                                  std::to_string(term.system.rows()) + " x " + std::to_string(term.system.cols()) +
                                  ", expected " + std::to_string(system_rows) + " x " + std::to_string(system_cols));
    if (term.ladder.rows() != ladder_rows || term.ladder.cols() != ladder_cols)
      throw std::invalid_argument("Operator::kronecker: term " + std::to_string(t) + ": ladder matrix is " +
                                  std::to_string(term.ladder.rows()) + " x " + std::to_string(term.ladder.cols()) +
                                  ", expected " + std::to_string(ladder_rows) + " x " + std::to_string(ladder_cols));
    drop_exact_zeros(term.ladder);
    auto same = std::find_if(data->terms.begin(), data->terms.end(),
                             [&](const KroneckerTerm& u) { return same_sparse(u.ladder, term.ladder); });
    if (same != data->terms.end()) {
      same->system += term.system;
      continue;
    }
    data->identity.push_back(is_identity(term.ladder));
    data->terms.push_back(std::move(term));
  }
  for (const KroneckerTerm& term : data->terms) data->scalar_system.push_back(is_scalar(term.system));
  Operator op(system_rows * ladder_rows, system_cols * ladder_cols);
  op.kron_ = std::move(data);
  return op;
}

const KroneckerShape& Operator::kronecker_shape() const {
  if (!kron_) throw std::logic_error("Operator::kronecker_shape on a non-Kronecker operator");
  return kron_->shape;
}

const std::vector<KroneckerTerm>& Operator::kronecker_terms() const {
  if (!kron_) throw std::logic_error("Operator::kronecker_terms on a non-Kronecker operator");
  return kron_->terms;
}

namespace {
/// The message for operands whose shapes do not fit an operator of rows x cols.
std::string shape_mismatch(const char* what, const CMatCRef& X, const CMatCRef& Y, Index rows, Index cols) {
  return "Operator::" + std::string(what) + ": X is " + std::to_string(X.rows()) + " x " + std::to_string(X.cols()) +
         " and Y " + std::to_string(Y.rows()) + " x " + std::to_string(Y.cols()) + " for a " + std::to_string(rows) +
         " x " + std::to_string(cols) + " operator";
}
}  // namespace

// Y += alpha A X, Y(a L_out + l, j) += alpha sum_{c,k} S(a, c) B(l, k) X(c L_in + k, j).
// The system factors are GEMMs over all columns at once: an operand laid out as an (L m) x d
// matrix whose column c holds the level-c rows of every column of X (as an L x m matrix), built
// by the ladder product (ladder first) or by a copy of X's rows (identity ladder, or system first
// with the ladder product after the GEMM). The operands of all ladder-first terms sit side by
// side, so they share one GEMM against the stacked alpha S_t^T (inner dimension d * terms); the
// system-first terms share one GEMM against alpha S_t^T placed side by side. (Per-column GEMMs
// of L x d times d x d are too small for Eigen's blocking and several times slower.) A system
// factor s * 1 needs no GEMM: one sparse product on X viewed as an L_in x (d m) matrix.
// Scratch: about (terms + 1) times the size of X.
void Operator::apply_kronecker(const CMatCRef& X, CMatRef Y, cplx alpha) const {
  if (X.rows() != cols_ || Y.rows() != rows_ || X.cols() != Y.cols())
    throw std::invalid_argument(shape_mismatch("apply", X, Y, rows_, cols_));
  const Index m = X.cols();
  if (m == 0) return;
  if (X.outerStride() != X.rows()) {  // the views below need contiguous columns
    const CMat copy = X;
    apply_kronecker(copy, Y, alpha);
    return;
  }
  if (Y.outerStride() != Y.rows()) {
    CMat out = CMat::Zero(Y.rows(), Y.cols());
    apply_kronecker(X, out, alpha);
    Y += out;
    return;
  }
  const auto [dO, dI, LO, LI] = kron_->shape;
  using Map = Eigen::Map<CMat>;
  using CMap = Eigen::Map<const CMat>;
  const auto& terms = kron_->terms;
  const CMap Xv(X.data(), LI, dI * m);
  Map Yv(Y.data(), LO, dO * m);
  std::vector<std::size_t> direct, after;  // ladder first (or identity ladder); system first
  for (std::size_t t = 0; t < terms.size(); ++t) {
    if (kron_->scalar_system[t]) {
      const cplx f = alpha * terms[t].system(0, 0);
      if (kron_->identity[t])
        Yv += f * Xv;
      else
        Yv.noalias() += f * (terms[t].ladder * Xv);
    } else if (kron_->identity[t] || ladder_first(kron_->shape, terms[t].ladder.nonZeros())) {
      direct.push_back(t);
    } else {
      after.push_back(t);
    }
  }
  if (!direct.empty()) {
    const Index n = Index(direct.size());
    CMat operand(LO * m, dI * n), stacked(dI * n, dO);
    for (Index i = 0; i < n; ++i) {
      const KroneckerTerm& term = terms[direct[i]];
      stacked.middleRows(i * dI, dI) = alpha * term.system.transpose();
      for (Index c = 0; c < dI; ++c) {
        Map level(operand.col(i * dI + c).data(), LO, m);
        if (kron_->identity[direct[i]])
          level = X.middleRows(c * LI, LI);
        else
          level.noalias() = term.ladder * X.middleRows(c * LI, LI);
      }
    }
    const CMat result = operand * stacked;
    for (Index a = 0; a < dO; ++a) Y.middleRows(a * LO, LO) += CMap(result.col(a).data(), LO, m);
  }
  if (!after.empty()) {
    const Index n = Index(after.size());
    CMat levels(LI * m, dI), stacked(dI, dO * n);
    for (Index c = 0; c < dI; ++c) Map(levels.col(c).data(), LI, m) = X.middleRows(c * LI, LI);
    for (Index i = 0; i < n; ++i) stacked.middleCols(i * dO, dO) = alpha * terms[after[i]].system.transpose();
    const CMat result = levels * stacked;
    for (Index i = 0; i < n; ++i)
      for (Index a = 0; a < dO; ++a)
        Y.middleRows(a * LO, LO).noalias() += terms[after[i]].ladder * CMap(result.col(i * dO + a).data(), LI, m);
  }
}

// Y += alpha X A^dagger, Y(r, (a, l)) += alpha sum_{c,k} X(r, (c, k)) conj(S(a, c) B(l, k)).
// With n = X.rows(), Y is an (n L_out) x d_out matrix in memory and X an (n L_in) x d_in one, so
// the system factors are GEMMs with alpha S^dagger straight into Y (ladder first: the operands
// X_c B^dagger of all such terms side by side, one GEMM) or from X (system first: one GEMM with
// the alpha S_t^dagger side by side, then the ladder products level by level).
void Operator::apply_adjoint_right_kronecker(const CMatCRef& X, CMatRef Y, cplx alpha) const {
  if (X.cols() != cols_ || Y.cols() != rows_ || X.rows() != Y.rows())
    throw std::invalid_argument(shape_mismatch("apply_adjoint_right", X, Y, rows_, cols_));
  const Index n = X.rows();
  if (n == 0) return;
  if (X.outerStride() != X.rows()) {
    const CMat copy = X;
    apply_adjoint_right_kronecker(copy, Y, alpha);
    return;
  }
  if (Y.outerStride() != Y.rows()) {
    CMat out = CMat::Zero(Y.rows(), Y.cols());
    apply_adjoint_right_kronecker(X, out, alpha);
    Y += out;
    return;
  }
  const auto [dO, dI, LO, LI] = kron_->shape;
  using Map = Eigen::Map<CMat>;
  using CMap = Eigen::Map<const CMat>;
  const auto& terms = kron_->terms;
  const CMap Xv(X.data(), n * LI, dI);
  Map Yv(Y.data(), n * LO, dO);
  std::vector<std::size_t> direct, after;
  for (std::size_t t = 0; t < terms.size(); ++t) {
    if (kron_->scalar_system[t]) {
      const cplx f = alpha * std::conj(terms[t].system(0, 0));
      for (Index a = 0; a < dO; ++a) {
        if (kron_->identity[t])
          Y.middleCols(a * LO, LO) += f * X.middleCols(a * LI, LI);
        else
          Y.middleCols(a * LO, LO).noalias() += f * (X.middleCols(a * LI, LI) * terms[t].ladder.adjoint());
      }
    } else if (kron_->identity[t] || ladder_first(kron_->shape, terms[t].ladder.nonZeros())) {
      direct.push_back(t);
    } else {
      after.push_back(t);
    }
  }
  if (!direct.empty()) {
    const Index nd = Index(direct.size());
    CMat operand(n * LO, dI * nd), stacked(dI * nd, dO);
    for (Index i = 0; i < nd; ++i) {
      const KroneckerTerm& term = terms[direct[i]];
      stacked.middleRows(i * dI, dI) = alpha * term.system.adjoint();
      if (kron_->identity[direct[i]]) {
        operand.middleCols(i * dI, dI) = Xv;
        continue;
      }
      for (Index c = 0; c < dI; ++c)
        Map(operand.col(i * dI + c).data(), n, LO).noalias() = X.middleCols(c * LI, LI) * term.ladder.adjoint();
    }
    Yv.noalias() += operand * stacked;
  }
  if (!after.empty()) {
    const Index na = Index(after.size());
    CMat stacked(dI, dO * na);
    for (Index i = 0; i < na; ++i) stacked.middleCols(i * dO, dO) = alpha * terms[after[i]].system.adjoint();
    const CMat result = Xv * stacked;  // (n L_in) x (d_out terms)
    for (Index i = 0; i < na; ++i)
      for (Index a = 0; a < dO; ++a)
        Y.middleCols(a * LO, LO).noalias() +=
            CMap(result.col(i * dO + a).data(), n, LI) * terms[after[i]].ladder.adjoint();
  }
}

// Tr((S (x) B) rho) = sum_{a,c} S(a, c) Tr(B rho_{ca}), rho_{ca} the (c, a) block of rho.
cplx Operator::trace_with_kronecker(const CMatCRef& rho) const {
  if (rho.rows() != cols_ || rho.cols() != rows_)
    throw std::invalid_argument("Operator::trace_with: rho is " + std::to_string(rho.rows()) + " x " +
                                std::to_string(rho.cols()) + " for a " + std::to_string(rows_) + " x " +
                                std::to_string(cols_) + " operator");
  const auto [dO, dI, LO, LI] = kron_->shape;
  cplx s = 0.0;
  for (const KroneckerTerm& term : kron_->terms)
    for (Index a = 0; a < dO; ++a)
      for (Index c = 0; c < dI; ++c) {
        const cplx Sac = term.system(a, c);
        if (Sac == cplx(0.0)) continue;
        cplx tr = 0.0;
        for (Index l = 0; l < LO; ++l)
          for (SparseMat::InnerIterator it(term.ladder, l); it; ++it) tr += it.value() * rho(c * LI + it.col(), a * LO + l);
        s += Sac * tr;
      }
  return s;
}

// Row (a, l) of A is sum_k sum_c |sum_t S_t(a, c) B_t(l, k)|: per ladder row, merge the terms'
// entries by column k and take the row sums of |sum_t B_t(l, k) S_t|.
double Operator::infinity_norm_kronecker() const {
  const auto& terms = kron_->terms;
  const Index dO = kron_->shape.system_rows;
  std::vector<RVec> row_abs;  // sum_c |S_t(a, c)|
  for (const auto& term : terms) row_abs.push_back(term.system.cwiseAbs().rowwise().sum());
  std::vector<std::tuple<Index, std::size_t, cplx>> entries;  // (k, t, B_t(l, k))
  double best = 0.0;
  RVec r(dO);
  CMat M;
  for (Index l = 0; l < kron_->shape.ladder_rows; ++l) {
    entries.clear();
    for (std::size_t t = 0; t < terms.size(); ++t)
      for (SparseMat::InnerIterator it(terms[t].ladder, l); it; ++it) entries.emplace_back(it.col(), t, it.value());
    std::sort(entries.begin(), entries.end(),
              [](const auto& x, const auto& y) { return std::tie(std::get<0>(x), std::get<1>(x)) < std::tie(std::get<0>(y), std::get<1>(y)); });
    r.setZero();
    for (std::size_t i = 0; i < entries.size();) {
      std::size_t j = i + 1;
      while (j < entries.size() && std::get<0>(entries[j]) == std::get<0>(entries[i])) ++j;
      if (j == i + 1) {  // one term: |v| times the row sums of |S_t|
        r += std::abs(std::get<2>(entries[i])) * row_abs[std::get<1>(entries[i])];
      } else {
        M = std::get<2>(entries[i]) * terms[std::get<1>(entries[i])].system;
        for (std::size_t e = i + 1; e < j; ++e) M += std::get<2>(entries[e]) * terms[std::get<1>(entries[e])].system;
        r += M.cwiseAbs().rowwise().sum();
      }
      i = j;
    }
    best = std::max(best, r.maxCoeff());
  }
  return best;
}

RVec Operator::column_norms_squared_kronecker() const {
  const auto& terms = kron_->terms;
  const auto [dO, dI, LO, LI] = kron_->shape;
  RVec r = RVec::Zero(cols_);
  CVec bd(LI);
  for (std::size_t t = 0; t < terms.size(); ++t)
    for (std::size_t u = t; u < terms.size(); ++u) {
      // diag(S_t^+ S_u) and diag(B_t^+ B_u); the (u, t) pair is the conjugate, hence 2 Re.
      const CVec sd = terms[t].system.conjugate().cwiseProduct(terms[u].system).colwise().sum().transpose();
      const SparseMat p = terms[t].ladder.conjugate().cwiseProduct(terms[u].ladder);
      bd.setZero();
      for (Index l = 0; l < p.outerSize(); ++l)
        for (SparseMat::InnerIterator it(p, l); it; ++it) bd(it.col()) += it.value();
      const double w = t == u ? 1.0 : 2.0;
      for (Index c = 0; c < dI; ++c) r.segment(c * LI, LI) += w * (sd(c) * bd).real();
    }
  return r.cwiseMax(0.0);
}

Operator Operator::sparse(SparseMat m) {
  Operator op(m.rows(), m.cols());
  m.makeCompressed();
  op.sparse_ = std::make_shared<const SparseMat>(std::move(m));
  return op;
}

void Operator::reset(Index rows, Index cols) {
  rows_ = rows;
  cols_ = cols;
  bands_.clear();
  pool_.clear();
  sparse_.reset();
  kron_.reset();
}

double* Operator::add_band(Index out_row, Index in_row, cplx factor, Index n) {
  if (sparse_ || kron_) throw std::logic_error("Operator::add_band on a sparse or Kronecker operator");
  if (n <= 0 || out_row < 0 || in_row < 0 || out_row + n > rows_ || in_row + n > cols_)
    throw std::logic_error("Operator::add_band: band outside the operator's shape");
  const Index offset = Index(pool_.size());
  pool_.resize(pool_.size() + std::size_t(n));
  bands_.push_back({out_row, in_row, n, factor, offset});
  return pool_.data() + offset;
}

void Operator::apply(const CMatCRef& X, CMatRef Y, cplx alpha) const {
  if (kron_) return apply_kronecker(X, Y, alpha);
  if (sparse_) {
    Y.noalias() += alpha * (*sparse_ * X);
    return;
  }
  if (X.cols() == 1) {  // one state (a trajectory's jump): plain loops over short bands
    const cplx* x = X.data();
    cplx* y = Y.data();
    for (const Band& b : bands_) {
      const cplx f = alpha * b.factor;
      const double* c = coeff(b);
      for (Index i = 0; i < b.size; ++i) y[b.out_row + i] += f * (c[i] * x[b.in_row + i]);
    }
    return;
  }
  for (const Band& b : bands_) {
    const cplx f = alpha * b.factor;
    const auto c = coeff_vector(b);
    for (Index col = 0; col < X.cols(); ++col)
      Y.col(col).segment(b.out_row, b.size).array() += f * (c.array() * X.col(col).segment(b.in_row, b.size).array());
  }
}

void Operator::apply_adjoint_right(const CMatCRef& X, CMatRef Y, cplx alpha) const {
  if (kron_) return apply_adjoint_right_kronecker(X, Y, alpha);
  if (sparse_) {
    Y.noalias() += alpha * (X * sparse_->adjoint());
    return;
  }
  // (X A^dagger)(:, out_row + i) += X(:, in_row + i) conj(factor coeff(i))
  for (const Band& b : bands_) {
    const cplx f = alpha * std::conj(b.factor);
    const double* c = coeff(b);
    for (Index i = 0; i < b.size; ++i) Y.col(b.out_row + i) += (f * c[i]) * X.col(b.in_row + i);
  }
}

cplx Operator::expectation(const CVec& x) const {
  if (kron_) {
    if (rows_ != cols_ || x.size() != cols_)
      throw std::invalid_argument("Operator::expectation: a vector of length " + std::to_string(x.size()) + " for a " +
                                  std::to_string(rows_) + " x " + std::to_string(cols_) + " operator");
    CVec y = CVec::Zero(rows_);
    apply_kronecker(x, y, 1.0);
    return x.dot(y);
  }
  if (sparse_) return x.dot(*sparse_ * x);
  cplx s = 0.0;
  for (const Band& b : bands_)
    s += b.factor * (x.segment(b.out_row, b.size).conjugate().array() * coeff_vector(b).array() *
                     x.segment(b.in_row, b.size).array())
                        .sum();
  return s;
}

cplx Operator::trace_with(const CMatCRef& rho) const {
  if (kron_) return trace_with_kronecker(rho);
  cplx s = 0.0;
  if (sparse_) {
    for (Index r = 0; r < sparse_->outerSize(); ++r)
      for (SparseMat::InnerIterator it(*sparse_, r); it; ++it) s += it.value() * rho(it.col(), r);
    return s;
  }
  // Tr(A rho) = sum_i A(out_row + i, in_row + i) rho(in_row + i, out_row + i)
  for (const Band& b : bands_) {
    const double* c = coeff(b);
    cplx part = 0.0;
    for (Index i = 0; i < b.size; ++i) part += c[i] * rho(b.in_row + i, b.out_row + i);
    s += b.factor * part;
  }
  return s;
}

double Operator::infinity_norm() const {
  if (kron_) return infinity_norm_kronecker();
  RVec r = RVec::Zero(rows_);
  if (sparse_) {
    for (Index row = 0; row < sparse_->outerSize(); ++row)
      for (SparseMat::InnerIterator it(*sparse_, row); it; ++it) r(row) += std::abs(it.value());
  } else {
    for (const Band& b : bands_) r.segment(b.out_row, b.size) += std::abs(b.factor) * coeff_vector(b).cwiseAbs();
  }
  return rows_ > 0 ? r.maxCoeff() : 0.0;
}

RVec Operator::column_norms_squared() const {
  if (kron_) return column_norms_squared_kronecker();
  RVec r = RVec::Zero(cols_);
  if (sparse_) {
    for (Index row = 0; row < sparse_->outerSize(); ++row)
      for (SparseMat::InnerIterator it(*sparse_, row); it; ++it) r(it.col()) += std::norm(it.value());
  } else {
    for (const Band& b : bands_) r.segment(b.in_row, b.size) += std::norm(b.factor) * coeff_vector(b).cwiseAbs2();
  }
  return r;
}

CMat Operator::dense() const {
  if (sparse_) return CMat(*sparse_);
  if (kron_) {
    const auto [dO, dI, LO, LI] = kron_->shape;
    CMat m = CMat::Zero(rows_, cols_);
    for (const KroneckerTerm& term : kron_->terms) {
      const CMat B(term.ladder);
      for (Index a = 0; a < dO; ++a)
        for (Index c = 0; c < dI; ++c)
          if (term.system(a, c) != cplx(0.0)) m.block(a * LO, c * LI, LO, LI) += term.system(a, c) * B;
    }
    return m;
  }
  CMat m = CMat::Zero(rows_, cols_);
  for (const Band& b : bands_)
    for (Index i = 0; i < b.size; ++i) m(b.out_row + i, b.in_row + i) += b.factor * coeff(b)[i];
  return m;
}

SparseMat Operator::to_sparse() const {
  if (sparse_) return *sparse_;
  std::vector<Eigen::Triplet<cplx>> entries;
  if (kron_) {
    const auto [dO, dI, LO, LI] = kron_->shape;
    for (const KroneckerTerm& term : kron_->terms)
      for (Index a = 0; a < dO; ++a)
        for (Index c = 0; c < dI; ++c) {
          const cplx Sac = term.system(a, c);
          if (Sac == cplx(0.0)) continue;
          for (Index l = 0; l < LO; ++l)
            for (SparseMat::InnerIterator it(term.ladder, l); it; ++it)
              entries.emplace_back(a * LO + l, c * LI + it.col(), Sac * it.value());
        }
  } else {
    for (const Band& b : bands_)
      for (Index i = 0; i < b.size; ++i) entries.emplace_back(b.out_row + i, b.in_row + i, b.factor * coeff(b)[i]);
  }
  SparseMat m(rows_, cols_);
  m.setFromTriplets(entries.begin(), entries.end());
  drop_exact_zeros(m);
  return m;
}

Operator Operator::adjoint() const {
  if (sparse_) return Operator::sparse(SparseMat(sparse_->adjoint()));
  if (kron_) {
    const KroneckerShape& s = kron_->shape;
    std::vector<KroneckerTerm> terms;
    terms.reserve(kron_->terms.size());
    for (const KroneckerTerm& term : kron_->terms) terms.push_back({term.system.adjoint(), SparseMat(term.ladder.adjoint())});
    return kronecker(s.system_cols, s.system_rows, s.ladder_cols, s.ladder_rows, std::move(terms));
  }
  Operator op(cols_, rows_);
  op.pool_ = pool_;
  op.bands_.reserve(bands_.size());
  for (const Band& b : bands_) op.bands_.push_back({b.in_row, b.out_row, b.size, std::conj(b.factor), b.offset});
  return op;
}

Operator operator+(const Operator& a, const Operator& b) {
  if (a.rows_ != b.rows_ || a.cols_ != b.cols_)
    throw std::invalid_argument("Operator sum: shapes " + std::to_string(a.rows_) + " x " + std::to_string(a.cols_) +
                                " and " + std::to_string(b.rows_) + " x " + std::to_string(b.cols_) + " differ");
  if (a.kron_ && b.kron_) {
    const KroneckerShape& s = a.kron_->shape;
    if (!(s == b.kron_->shape))
      throw std::invalid_argument("Operator sum: Kronecker operators with different system and ladder dimensions");
    std::vector<KroneckerTerm> terms = a.kron_->terms;
    terms.insert(terms.end(), b.kron_->terms.begin(), b.kron_->terms.end());
    return Operator::kronecker(s.system_rows, s.system_cols, s.ladder_rows, s.ladder_cols, std::move(terms));
  }
  if (a.is_banded() && b.is_banded()) {
    Operator op = a;
    const Index shift = Index(a.pool_.size());
    op.pool_.insert(op.pool_.end(), b.pool_.begin(), b.pool_.end());
    for (Operator::Band band : b.bands_) {
      band.offset += shift;
      op.bands_.push_back(band);
    }
    return op;
  }
  return Operator::sparse(a.to_sparse() + b.to_sparse());
}

Operator operator*(cplx s, const Operator& a) {
  if (a.sparse_) return Operator::sparse(s * *a.sparse_);
  Operator op = a;
  if (a.kron_) {
    auto data = std::make_shared<Operator::Kronecker>(*a.kron_);
    for (KroneckerTerm& term : data->terms) term.system *= s;
    op.kron_ = std::move(data);
    return op;
  }
  for (Operator::Band& b : op.bands_) b.factor *= s;
  return op;
}

}  // namespace qfluct
