#pragma once
/// The one operator type solvers see (after Spectra's operator concept): something that can be
/// applied to a block of column vectors from the left, and as an adjoint from the right.
///
/// Two storage forms behind one interface:
///  - banded: a sum of shifted diagonals, Y(out_row + i) += factor * coeff(i) * X(in_row + i),
///    with real coefficients (ladder elements are square roots of rationals) and one complex
///    factor per band. Dicke-ladder and Fock operators restricted to windows take this form;
///    applying one costs O(nonzeros). All coefficients live in one pool, so an Operator reused
///    through reset() allocates nothing once warm (the trajectory hot loop relies on this).
///  - sparse: a general sparse matrix (the full 2^(N+1) tensor-product space), shared between
///    copies.
///  - Kronecker: sum_t S_t (x) B_t on C^d (x) C^L with index c * L + k (system level c outer,
///    ladder index k inner), S_t a dense d_out x d_in matrix (the finite system's operator), B_t a
///    sparse L_out x L_in matrix (mode operators, several modes flattened). A dense operator on S
///    times a mode operator stays one term instead of d^2 bands; apply() is a sparse product and
///    small GEMMs. Immutable and shared between copies, like the sparse form.
#include "qfluct/core/types.hpp"
#include "qfluct/space/window.hpp"

#include <Eigen/SparseCore>
#include <memory>
#include <stdexcept>
#include <vector>

namespace qfluct {

using SparseMat = Eigen::SparseMatrix<cplx, Eigen::RowMajor>;

/// One term S (x) B of a Kronecker-form Operator (shapes: see Operator::kronecker).
struct KroneckerTerm {
  CMat system;       ///< S: system_rows x system_cols, dense
  SparseMat ladder;  ///< B: ladder_rows x ladder_cols, sparse
};

/// The factor shapes of a Kronecker-form Operator: rows() = system_rows * ladder_rows,
/// cols() = system_cols * ladder_cols.
struct KroneckerShape {
  Index system_rows = 0;
  Index system_cols = 0;
  Index ladder_rows = 0;
  Index ladder_cols = 0;
  bool operator==(const KroneckerShape&) const = default;
};

class Operator {
 public:
  /// One shifted diagonal: rows out_row.., columns in_row.., values factor * coeff(i).
  struct Band {
    Index out_row;
    Index in_row;
    Index size;
    cplx factor;
    Index offset;  // into the coefficient pool
  };

  Operator() = default;
  /// The zero operator from a space of dimension `cols` to one of dimension `rows`.
  Operator(Index rows, Index cols) : rows_(rows), cols_(cols) {}
  /// Wraps a sparse matrix (shared, not copied, between copies of the Operator).
  static Operator sparse(SparseMat m);
  /// sum_t terms[t].system (x) terms[t].ladder, shape (system_rows * ladder_rows) x
  /// (system_cols * ladder_cols). Terms with equal ladder matrices are merged (system matrices
  /// added), so terms() may be shorter than `terms`; no terms gives the zero operator.
  /// Throws std::invalid_argument if a dimension is < 1 or a term's factors have other shapes.
  static Operator kronecker(Index system_rows, Index system_cols, Index ladder_rows, Index ladder_cols,
                            std::vector<KroneckerTerm> terms);

  /// Makes this the zero banded operator of the given shape, keeping allocated capacity.
  void reset(Index rows, Index cols);

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  bool is_sparse() const { return sparse_ != nullptr; }
  bool is_kronecker() const { return kron_ != nullptr; }
  /// Neither sparse nor Kronecker: bands() is the whole operator.
  bool is_banded() const { return !sparse_ && !kron_; }
  /// The bands (empty for a sparse operator). Throws std::logic_error on a Kronecker operator,
  /// which has none: code that reads bands after checking only is_sparse() fails loudly instead of
  /// dropping the operator.
  const std::vector<Band>& bands() const {
    if (kron_) throw std::logic_error("Operator::bands on a Kronecker operator");
    return bands_;
  }
  /// The factor shapes and terms of a Kronecker operator (throw std::logic_error on other forms).
  const KroneckerShape& kronecker_shape() const;
  const std::vector<KroneckerTerm>& kronecker_terms() const;
  /// The coefficients of a band (valid until the next add_band or reset).
  const double* coeff(const Band& b) const { return pool_.data() + b.offset; }
  Eigen::Map<const RVec> coeff_vector(const Band& b) const { return {coeff(b), b.size}; }

  /// Appends a band of n coefficients and returns where to write them (valid until the next
  /// add_band or reset).
  double* add_band(Index out_row, Index in_row, cplx factor, Index n);

  /// Y += alpha * A * X   (X: cols() rows, any number of columns). The Kronecker form checks the
  /// shapes (std::invalid_argument); the banded and sparse forms leave that to the caller.
  void apply(const CMatCRef& X, CMatRef Y, cplx alpha = 1.0) const;
  /// Y += alpha * X * A^dagger   (X: cols() columns, Y: rows() columns). With apply() this
  /// gives A rho A^dagger = (A rho) A^dagger without forming an adjoint.
  void apply_adjoint_right(const CMatCRef& X, CMatRef Y, cplx alpha = 1.0) const;
  /// <x|A|x> for a single vector x.
  cplx expectation(const CVec& x) const;
  /// Tr(A rho) without forming A rho: O(nonzeros of A).
  cplx trace_with(const CMatCRef& rho) const;
  /// max_i sum_j |A_ij|: the infinity norm (a Gershgorin bound on the spectrum). Exact for the
  /// sparse and Kronecker forms (the latter costs O(system_rows * system_cols * sum_t nnz(B_t)),
  /// no matrix formed); the banded form sums |entries| band by band, an upper bound that is exact
  /// when no two bands share an entry.
  double infinity_norm() const;
  /// sum_i |A_ij|^2 for every column j: the diagonal of A^+A. The banded form sums band by band
  /// (exact when no two bands share an entry, as in the models' Kraus operators). The Kronecker form uses
  /// diag(A^+A) = sum_{t,u} diag(S_t^+ S_u) (x) diag(B_t^+ B_u) (rounding can leave values ~1e-16
  /// of the terms' norms where the columns cancel; they are clamped at 0).
  RVec column_norms_squared() const;
  /// The dense matrix (tests and small problems only).
  CMat dense() const;
  /// The matrix in sparse form, for every storage form (e.g. to assemble a Liouvillian); the
  /// banded and Kronecker forms drop entries that are exactly zero.
  SparseMat to_sparse() const;
  /// A^dagger in the same storage form (Kronecker: sum_t S_t^+ (x) B_t^+).
  Operator adjoint() const;

  /// a + b (same shape, else std::invalid_argument): Kronecker + Kronecker concatenates the terms
  /// (same factor shapes required), banded + banded concatenates the bands, any other pair gives
  /// the sparse sum.
  friend Operator operator+(const Operator& a, const Operator& b);
  /// s * A in the same storage form (Kronecker: the system matrices are scaled).
  friend Operator operator*(cplx s, const Operator& a);

 private:
  Index rows_ = 0;
  Index cols_ = 0;
  std::vector<Band> bands_;
  std::vector<double> pool_;
  std::shared_ptr<const SparseMat> sparse_;

  struct Kronecker;
  std::shared_ptr<const Kronecker> kron_;
  void apply_kronecker(const CMatCRef& X, CMatRef Y, cplx alpha) const;
  void apply_adjoint_right_kronecker(const CMatCRef& X, CMatRef Y, cplx alpha) const;
  cplx trace_with_kronecker(const CMatCRef& rho) const;
  double infinity_norm_kronecker() const;
  RVec column_norms_squared_kronecker() const;
};

inline Operator operator-(const Operator& a, const Operator& b) { return a + cplx(-1.0) * b; }

/// Builds banded operators on a ladder space C^d (x) C^L restricted to windows:
/// each term is  factor * |c_out, k + shift><c_in, k| * coef(k)  (coef real) over the rungs k of
/// the input window whose image k + shift lies in the output window.
class LadderOperatorBuilder {
 public:
  /// Fills `target` (reset first, capacity kept).
  LadderOperatorBuilder(Operator& target, Index system_dim, Window in, Window out)
      : d_(system_dim), in_(in), out_(out), op_(target) {
    op_.reset(system_dim * out.size, system_dim * in.size);
  }

  template <class Coef>
  LadderOperatorBuilder& add(Index c_out, Index c_in, Index shift, cplx factor, Coef&& coef) {
    if (factor == cplx(0.0)) return *this;
    const Index k_lo = std::max(in_.begin, out_.begin - shift);
    const Index k_hi = std::min(in_.end(), out_.end() - shift);
    if (k_hi <= k_lo) return *this;
    double* c = op_.add_band(c_out * out_.size + (k_lo + shift - out_.begin), c_in * in_.size + (k_lo - in_.begin),
                             factor, k_hi - k_lo);
    for (Index k = k_lo; k < k_hi; ++k) c[k - k_lo] = coef(k);
    return *this;
  }

  /// The same term on every system level c (factor * 1_d (x) shift * coef): coef is evaluated
  /// once per rung and shared by the d bands.
  template <class Coef>
  LadderOperatorBuilder& add_all_levels(Index shift, cplx factor, Coef&& coef) {
    if (factor == cplx(0.0)) return *this;
    const Index k_lo = std::max(in_.begin, out_.begin - shift);
    const Index k_hi = std::min(in_.end(), out_.end() - shift);
    if (k_hi <= k_lo) return *this;
    const Index n = k_hi - k_lo;
    double* c = op_.add_band(k_lo + shift - out_.begin, k_lo - in_.begin, factor, n);
    for (Index k = k_lo; k < k_hi; ++k) c[k - k_lo] = coef(k);
    for (Index level = 1; level < d_; ++level) {
      const Index first = op_.bands().size() - Index(level);  // the level-0 band
      double* copy = op_.add_band(level * out_.size + (k_lo + shift - out_.begin), level * in_.size + (k_lo - in_.begin),
                                  factor, n);
      std::copy_n(op_.coeff(op_.bands()[first]), n, copy);
    }
    return *this;
  }

  /// A term and its Hermitian conjugate, T + T^+ with T = add(c_out, c_in, shift, factor, coef).
  /// On a square window pair (in == out) the conjugate reuses T's coefficients, so coef (a square
  /// root, typically) is evaluated once per rung.
  template <class Coef>
  LadderOperatorBuilder& add_with_adjoint(Index c_out, Index c_in, Index shift, cplx factor, Coef&& coef) {
    const std::size_t first = op_.bands().size();
    add(c_out, c_in, shift, factor, coef);
    if (!(in_ == out_)) return add(c_in, c_out, -shift, std::conj(factor), [&](Index k) { return coef(k - shift); });
    return add_adjoint_copies(first, std::conj(factor));
  }
  /// The same on every system level: factor 1_d (x) T + conj(factor) 1_d (x) T^+.
  template <class Coef>
  LadderOperatorBuilder& add_all_levels_with_adjoint(Index shift, cplx factor, Coef&& coef) {
    const std::size_t first = op_.bands().size();
    add_all_levels(shift, factor, coef);
    if (!(in_ == out_)) return add_all_levels(-shift, std::conj(factor), [&](Index k) { return coef(k - shift); });
    return add_adjoint_copies(first, std::conj(factor));
  }

 private:
  /// For every band added since `first`: its transpose with the given factor (in == out only).
  LadderOperatorBuilder& add_adjoint_copies(std::size_t first, cplx factor) {
    for (std::size_t i = first, last = op_.bands().size(); i < last; ++i) {
      const Operator::Band b = op_.bands()[i];
      double* copy = op_.add_band(b.in_row, b.out_row, factor, b.size);
      std::copy_n(op_.coeff(op_.bands()[i]), b.size, copy);
    }
    return *this;
  }

  Index d_;
  Window in_, out_;
  Operator& op_;
};

}  // namespace qfluct
