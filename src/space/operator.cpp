#include "qfluct/space/operator.hpp"

#include <stdexcept>

namespace qfluct {

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
}

double* Operator::add_band(Index out_row, Index in_row, cplx factor, Index n) {
  if (sparse_) throw std::logic_error("Operator::add_band on a sparse operator");
  if (n <= 0 || out_row < 0 || in_row < 0 || out_row + n > rows_ || in_row + n > cols_)
    throw std::logic_error("Operator::add_band: band outside the operator's shape");
  const Index offset = Index(pool_.size());
  pool_.resize(pool_.size() + std::size_t(n));
  bands_.push_back({out_row, in_row, n, factor, offset});
  return pool_.data() + offset;
}

void Operator::apply(const CMatCRef& X, CMatRef Y, cplx alpha) const {
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
  if (sparse_) return x.dot(*sparse_ * x);
  cplx s = 0.0;
  for (const Band& b : bands_)
    s += b.factor * (x.segment(b.out_row, b.size).conjugate().array() * coeff_vector(b).array() *
                     x.segment(b.in_row, b.size).array())
                        .sum();
  return s;
}

cplx Operator::trace_with(const CMatCRef& rho) const {
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
  CMat m = CMat::Zero(rows_, cols_);
  for (const Band& b : bands_)
    for (Index i = 0; i < b.size; ++i) m(b.out_row + i, b.in_row + i) += b.factor * coeff(b)[i];
  return m;
}

}  // namespace qfluct
