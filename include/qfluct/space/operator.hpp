#pragma once
/// The one operator type solvers see (after Spectra's operator concept): something that can be
/// applied to a block of column vectors from the left, and as an adjoint from the right.
///
/// Two storage forms behind one interface:
///  - banded: a sum of shifted diagonals, Y(out_row + i) += coeff(i) X(in_row + i). Dicke-ladder
///    and Fock operators restricted to windows take this form; applying one costs O(nonzeros).
///  - sparse: a general sparse matrix (the full 2^(N+1) tensor-product space).
#include "qfluct/core/types.hpp"
#include "qfluct/space/window.hpp"

#include <Eigen/SparseCore>
#include <memory>
#include <vector>

namespace qfluct {

using SparseMat = Eigen::SparseMatrix<cplx, Eigen::RowMajor>;

class Operator {
 public:
  /// One shifted diagonal: rows out_row.., columns in_row.., values factor * coeff(i).
  /// Ladder coefficients are real (square roots of integers); the complex part is one factor.
  struct Band {
    Index out_row;
    Index in_row;
    cplx factor;
    RVec coeff;
  };

  Operator() = default;
  /// The zero operator from a space of dimension `cols` to one of dimension `rows`.
  Operator(Index rows, Index cols) : rows_(rows), cols_(cols) {}
  /// Wraps a sparse matrix (shared, not copied, between copies of the Operator).
  static Operator sparse(SparseMat m);

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  bool is_sparse() const { return sparse_ != nullptr; }
  const std::vector<Band>& bands() const { return bands_; }

  /// Adds a shifted diagonal; skipped when empty.
  void add_band(Index out_row, Index in_row, cplx factor, RVec coeff);

  /// Y += alpha * A * X   (X: cols() rows, any number of columns).
  void apply(const CMatCRef& X, CMatRef Y, cplx alpha = 1.0) const;
  /// Y += alpha * X * A^dagger   (X: cols() columns, Y: rows() columns). With apply() this
  /// gives A rho A^dagger = (A rho) A^dagger without forming an adjoint.
  void apply_adjoint_right(const CMatCRef& X, CMatRef Y, cplx alpha = 1.0) const;
  /// <x|A|x> for a single vector x.
  cplx expectation(const CVec& x) const;
  /// Tr(A rho) without forming A rho: O(nonzeros of A).
  cplx trace_with(const CMatCRef& rho) const;
  /// The dense matrix (tests and small problems only).
  CMat dense() const;

 private:
  Index rows_ = 0;
  Index cols_ = 0;
  std::vector<Band> bands_;
  std::shared_ptr<const SparseMat> sparse_;
};

/// Builds banded operators on a ladder space C^d (x) C^L restricted to windows:
/// each term is  factor * |c_out, k + shift><c_in, k| * coef(k)  (coef real) over the rungs k of
/// the input window whose image k + shift lies in the output window.
class LadderOperatorBuilder {
 public:
  LadderOperatorBuilder(Index system_dim, Window in, Window out)
      : d_(system_dim), in_(in), out_(out), op_(system_dim * out.size, system_dim * in.size) {}

  template <class Coef>
  LadderOperatorBuilder& add(Index c_out, Index c_in, Index shift, cplx factor, Coef&& coef) {
    if (factor == cplx(0.0)) return *this;
    const Index k_lo = std::max(in_.begin, out_.begin - shift);
    const Index k_hi = std::min(in_.end(), out_.end() - shift);
    if (k_hi <= k_lo) return *this;
    RVec c(k_hi - k_lo);
    for (Index k = k_lo; k < k_hi; ++k) c(k - k_lo) = coef(k);
    op_.add_band(c_out * out_.size + (k_lo + shift - out_.begin), c_in * in_.size + (k_lo - in_.begin), factor,
                 std::move(c));
    return *this;
  }
  Operator build() && { return std::move(op_); }

 private:
  Index d_;
  Window in_, out_;
  Operator op_;
};

}  // namespace qfluct
