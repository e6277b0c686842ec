#include "qfluct/space/operator.hpp"

#include <stdexcept>

namespace qfluct {

Operator Operator::sparse(SparseMat m) {
  Operator op(m.rows(), m.cols());
  m.makeCompressed();
  op.sparse_ = std::make_shared<const SparseMat>(std::move(m));
  return op;
}

void Operator::add_band(Index out_row, Index in_row, cplx factor, RVec coeff) {
  if (sparse_) throw std::logic_error("Operator::add_band on a sparse operator");
  const Index n = coeff.size();
  if (n == 0) return;
  if (out_row < 0 || in_row < 0 || out_row + n > rows_ || in_row + n > cols_)
    throw std::logic_error("Operator::add_band: band outside the operator's shape");
  bands_.push_back({out_row, in_row, factor, std::move(coeff)});
}

void Operator::apply(const CMatCRef& X, CMatRef Y, cplx alpha) const {
  if (sparse_) {
    Y.noalias() += alpha * (*sparse_ * X);
    return;
  }
  for (const Band& b : bands_) {
    const Index n = b.coeff.size();
    const cplx f = alpha * b.factor;
    for (Index col = 0; col < X.cols(); ++col)
      Y.col(col).segment(b.out_row, n).array() += f * (b.coeff.array() * X.col(col).segment(b.in_row, n).array());
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
    for (Index i = 0; i < b.coeff.size(); ++i) Y.col(b.out_row + i) += (f * b.coeff(i)) * X.col(b.in_row + i);
  }
}

cplx Operator::expectation(const CVec& x) const {
  if (sparse_) return x.dot(*sparse_ * x);
  cplx s = 0.0;
  for (const Band& b : bands_) {
    const Index n = b.coeff.size();
    s += b.factor *
         (x.segment(b.out_row, n).conjugate().array() * b.coeff.array() * x.segment(b.in_row, n).array()).sum();
  }
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
    cplx part = 0.0;
    for (Index i = 0; i < b.coeff.size(); ++i) part += b.coeff(i) * rho(b.in_row + i, b.out_row + i);
    s += b.factor * part;
  }
  return s;
}

CMat Operator::dense() const {
  CMat m = CMat::Zero(rows_, cols_);
  if (sparse_) return CMat(*sparse_);
  for (const Band& b : bands_)
    for (Index i = 0; i < b.coeff.size(); ++i) m(b.out_row + i, b.in_row + i) += b.factor * b.coeff(i);
  return m;
}

}  // namespace qfluct
