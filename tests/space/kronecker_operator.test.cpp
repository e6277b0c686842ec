// Tests of the Kronecker storage form of Operator (sum_t S_t (x) B_t), every member against a dense
// reference built here with an independent Kronecker product, and of to_sparse / adjoint / sums
// for the banded and sparse forms.
//
// Tolerance: every entry compared is a sum of at most (d L) * (terms) products of O(1) numbers, so
// rounding is below ~1e3 * 2.2e-16 relative to the norms of the factors; 1e-12 relative to those
// norms leaves a wide margin, while any misplaced index or factor gives an O(1) relative error.
#include "qfluct/space/operator.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <stdexcept>

using namespace qfluct;

namespace {

constexpr double tol = 1e-12;

/// The Kronecker product, written out: (A (x) B)(i * rB + k, j * cB + l) = A(i, j) B(k, l).
CMat kron(const CMat& A, const CMat& B) {
  CMat K(A.rows() * B.rows(), A.cols() * B.cols());
  for (Index i = 0; i < A.rows(); ++i)
    for (Index j = 0; j < A.cols(); ++j)
      for (Index k = 0; k < B.rows(); ++k)
        for (Index l = 0; l < B.cols(); ++l) K(i * B.rows() + k, j * B.cols() + l) = A(i, j) * B(k, l);
  return K;
}

CMat random_matrix(Index rows, Index cols, std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  CMat m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = cplx(g(rng), g(rng));
  return m;
}

/// A random sparse matrix with about `fill` of its entries nonzero.
CMat random_sparse_dense(Index rows, Index cols, double fill, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u;
  std::normal_distribution<double> g;
  CMat m = CMat::Zero(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i)
      if (u(rng) < fill) m(i, j) = cplx(g(rng), g(rng));
  return m;
}

SparseMat to_sparse(const CMat& m) { return m.sparseView(); }

/// The annihilation operator on Fock states 0..n-1.
CMat annihilation(Index n) {
  CMat a = CMat::Zero(n, n);
  for (Index k = 1; k < n; ++k) a(k - 1, k) = std::sqrt(double(k));
  return a;
}

struct Case {
  Operator op;
  CMat reference;
};

/// Random terms of the given shape: the dense reference and the operator.
Case random_case(Index dO, Index dI, Index LO, Index LI, int n_terms, std::mt19937_64& rng) {
  std::vector<KroneckerTerm> terms;
  CMat ref = CMat::Zero(dO * LO, dI * LI);
  for (int t = 0; t < n_terms; ++t) {
    const CMat S = random_matrix(dO, dI, rng);
    const CMat B = random_sparse_dense(LO, LI, 0.4, rng);
    ref += kron(S, B);
    terms.push_back({S, to_sparse(B)});
  }
  return {Operator::kronecker(dO, dI, LO, LI, std::move(terms)), ref};
}

/// Two modes with cutoffs n1, n2 flattened as k = k1 * n2 + k2, a system of dimension d:
/// H = H_S (x) 1 + 1 (x) (w1 n1 + w2 n2) + G (x) (a1 + 0.3 a2^+) + G^+ (x) (a1^+ + 0.3 a2).
Case two_mode_case(Index d, Index n1, Index n2, std::mt19937_64& rng) {
  const CMat a1 = kron(annihilation(n1), CMat::Identity(n2, n2));
  const CMat a2 = kron(CMat::Identity(n1, n1), annihilation(n2));
  const CMat num = 1.3 * a1.adjoint() * a1 + 0.7 * a2.adjoint() * a2;
  const CMat X = a1 + 0.3 * a2.adjoint();
  const CMat HS = random_matrix(d, d, rng);
  const CMat G = random_matrix(d, d, rng);
  const Index L = n1 * n2;
  const CMat id_d = CMat::Identity(d, d), id_L = CMat::Identity(L, L);
  const CMat ref = kron(HS, id_L) + kron(id_d, num) + kron(G, X) + kron(G.adjoint(), X.adjoint());
  std::vector<KroneckerTerm> terms{{HS, to_sparse(id_L)}, {id_d, to_sparse(num)}, {G, to_sparse(X)},
                                   {G.adjoint(), to_sparse(X.adjoint())}};
  return {Operator::kronecker(d, d, L, L, std::move(terms)), ref};
}

/// Every member of `op` against the dense reference `A`.
void check_members(const Operator& op, const CMat& A, std::mt19937_64& rng) {
  const Index N_out = A.rows(), N_in = A.cols();
  REQUIRE(op.rows() == N_out);
  REQUIRE(op.cols() == N_in);
  const double nA = A.norm();
  CHECK((op.dense() - A).norm() <= tol * nA);
  CHECK((CMat(op.to_sparse()) - A).norm() <= tol * nA);
  const cplx alpha(0.6, -1.1);
  for (Index m : {Index(1), Index(3), N_out}) {
    // Y += alpha A X on contiguous blocks and on blocks of larger matrices (strided views).
    const CMat X = random_matrix(N_in, m, rng);
    const CMat Y0 = random_matrix(N_out, m, rng);
    const CMat expect = Y0 + alpha * A * X;
    const double scale = std::abs(alpha) * nA * X.norm() + Y0.norm();
    CMat Y = Y0;
    op.apply(X, Y, alpha);
    CHECK((Y - expect).norm() <= tol * scale);
    CMat big_X = random_matrix(N_in + 3, m + 1, rng), big_Y = random_matrix(N_out + 2, m, rng);
    big_X.block(1, 1, N_in, m) = X;
    big_Y.block(2, 0, N_out, m) = Y0;
    const CMat big_Y0 = big_Y;
    op.apply(big_X.block(1, 1, N_in, m), big_Y.block(2, 0, N_out, m), alpha);
    CHECK((big_Y.block(2, 0, N_out, m) - expect).norm() <= tol * scale);
    CHECK(big_Y.topRows(2) == big_Y0.topRows(2));  // outside the block: untouched
    // Y += alpha X A^dagger
    const CMat Xr = random_matrix(m, N_in, rng);
    const CMat Yr0 = random_matrix(m, N_out, rng);
    const CMat expect_r = Yr0 + alpha * Xr * A.adjoint();
    const double scale_r = std::abs(alpha) * nA * Xr.norm() + Yr0.norm();
    CMat Yr = Yr0;
    op.apply_adjoint_right(Xr, Yr, alpha);
    CHECK((Yr - expect_r).norm() <= tol * scale_r);
    CMat big_Xr = random_matrix(m + 2, N_in + 1, rng), big_Yr = random_matrix(m + 1, N_out + 3, rng);
    big_Xr.block(2, 1, m, N_in) = Xr;
    big_Yr.block(1, 3, m, N_out) = Yr0;
    op.apply_adjoint_right(big_Xr.block(2, 1, m, N_in), big_Yr.block(1, 3, m, N_out), alpha);
    CHECK((big_Yr.block(1, 3, m, N_out) - expect_r).norm() <= tol * scale_r);
  }
  // Tr(A rho) for a general (not Hermitian) rho of the right shape
  const CMat rho = random_matrix(N_in, N_out, rng);
  CHECK(std::abs(op.trace_with(rho) - (A * rho).trace()) <= tol * nA * rho.norm());
  if (N_in == N_out) {
    const CVec x = random_matrix(N_in, 1, rng);
    CHECK(std::abs(op.expectation(x) - x.dot(A * x)) <= tol * nA * x.squaredNorm());
  }
  // Norms: exact, not bounds.
  CHECK(std::abs(op.infinity_norm() - A.cwiseAbs().rowwise().sum().maxCoeff()) <= tol * nA);
  const RVec cn = op.column_norms_squared();
  REQUIRE(cn.size() == N_in);
  CHECK((cn - A.cwiseAbs2().colwise().sum().transpose()).norm() <= tol * nA * nA);
  CHECK(cn.minCoeff() >= 0.0);
}

}  // namespace

TEST_CASE("a Kronecker operator agrees with its dense Kronecker product in every member", "[operator][kronecker]") {
  std::mt19937_64 rng(20231127);
  // Square and rectangular factors; the rectangular pairs make apply choose the ladder-first order
  // (4x2, 3x5) and the system-first order (2x4, 5x3); d = 1 and L = 1 are edge cases.
  for (const auto& [dO, dI, LO, LI, n_terms] :
       {std::tuple{3, 3, 6, 6, 3}, std::tuple{2, 4, 5, 3, 2}, std::tuple{4, 2, 3, 5, 4}, std::tuple{1, 1, 7, 7, 2},
        std::tuple{1, 3, 4, 2, 2}, std::tuple{4, 4, 1, 1, 3}, std::tuple{3, 2, 1, 1, 1}, std::tuple{1, 1, 1, 1, 2}}) {
    CAPTURE(dO, dI, LO, LI, n_terms);
    Case c = random_case(dO, dI, LO, LI, n_terms, rng);
    CHECK(c.op.is_kronecker());
    CHECK_FALSE(c.op.is_banded());
    CHECK_FALSE(c.op.is_sparse());
    check_members(c.op, c.reference, rng);
    // A copy shares the data and behaves the same.
    const Operator copy = c.op;
    CHECK(&copy.kronecker_terms() == &c.op.kronecker_terms());
    CHECK((copy.dense() - c.reference).norm() <= tol * c.reference.norm());
    // The adjoint, in Kronecker form.
    const Operator adj = c.op.adjoint();
    CHECK(adj.is_kronecker());
    CHECK(adj.kronecker_shape() == KroneckerShape{dI, dO, LI, LO});
    check_members(adj, c.reference.adjoint(), rng);
  }
}

TEST_CASE("a Kronecker operator on a two-mode Fock space with ladder operators", "[operator][kronecker]") {
  std::mt19937_64 rng(7);
  for (const auto& [d, n1, n2] : {std::tuple{3, 4, 3}, std::tuple{2, 5, 2}, std::tuple{1, 3, 3}}) {
    CAPTURE(d, n1, n2);
    const Case c = two_mode_case(d, n1, n2, rng);
    check_members(c.op, c.reference, rng);
    // H_eff = H - (i/2) Gamma with Gamma = L^+L (x) 1 + 1 (x) a1^+ a1: sums and scalings keep the
    // Kronecker form, and equal ladders (the identities) merge into one term.
    const Index L = n1 * n2;
    const CMat Ls = random_matrix(d, d, rng);
    const CMat a1 = kron(annihilation(n1), CMat::Identity(n2, n2));
    const CMat n_a1 = a1.adjoint() * a1;
    const Operator Gamma = Operator::kronecker(
        d, d, L, L, {{Ls.adjoint() * Ls, to_sparse(CMat::Identity(L, L))}, {CMat::Identity(d, d), to_sparse(n_a1)}});
    const Operator Heff = c.op - cplx(0.0, 0.5) * Gamma;
    CHECK(Heff.is_kronecker());
    // H has 4 ladders (1, number, X, X^+), Gamma adds 1 (identity, merged) and a1^+a1 (new).
    CHECK(Heff.kronecker_terms().size() == 5);
    const CMat Heff_ref = c.reference - cplx(0.0, 0.5) * (kron(Ls.adjoint() * Ls, CMat::Identity(L, L)) +
                                                          kron(CMat::Identity(d, d), n_a1));
    check_members(Heff, Heff_ref, rng);
  }
}

TEST_CASE("terms with equal ladders merge and exact zeros are dropped", "[operator][kronecker]") {
  std::mt19937_64 rng(3);
  const CMat S1 = random_matrix(2, 3, rng), S2 = random_matrix(2, 3, rng), S3 = random_matrix(2, 3, rng);
  CMat B = random_sparse_dense(4, 5, 0.5, rng);
  const CMat B2 = random_sparse_dense(4, 5, 0.5, rng);
  SparseMat B_with_zero = to_sparse(B);
  B_with_zero.coeffRef(0, 0) += 0.0;  // an explicit entry (zero if B(0, 0) was zero)
  const Operator op = Operator::kronecker(2, 3, 4, 5, {{S1, to_sparse(B)}, {S2, to_sparse(B2)}, {S3, B_with_zero}});
  CHECK(op.kronecker_terms().size() == 2);
  check_members(op, kron(S1, B) + kron(S2, B2) + kron(S3, B), rng);
}

TEST_CASE("a Kronecker operator with no terms is the zero operator", "[operator][kronecker]") {
  std::mt19937_64 rng(11);
  const Operator zero = Operator::kronecker(2, 3, 4, 1, {});
  CHECK(zero.rows() == 8);
  CHECK(zero.cols() == 3);
  CHECK(zero.kronecker_terms().empty());
  check_members(zero, CMat::Zero(8, 3), rng);
  CHECK(zero.to_sparse().nonZeros() == 0);
  CHECK(zero.infinity_norm() == 0.0);
  // A term whose factors are zero also gives exact zeros.
  const Operator zero_terms =
      Operator::kronecker(2, 2, 3, 3, {{CMat::Zero(2, 2), to_sparse(random_sparse_dense(3, 3, 0.5, rng))},
                                       {random_matrix(2, 2, rng), SparseMat(3, 3)}});
  CHECK(zero_terms.dense() == CMat::Zero(6, 6));
  CHECK(zero_terms.to_sparse().nonZeros() == 0);
  CMat Y = random_matrix(6, 6, rng);
  const CMat Y0 = Y;
  zero_terms.apply(random_matrix(6, 6, rng), Y, 1.0);
  CHECK(Y == Y0);
}

TEST_CASE("Kronecker operators reject shapes that do not match", "[operator][kronecker]") {
  std::mt19937_64 rng(5);
  const CMat S = random_matrix(2, 3, rng);
  const SparseMat B = to_sparse(random_sparse_dense(4, 5, 0.5, rng));
  CHECK_THROWS_AS(Operator::kronecker(3, 2, 4, 5, {{S, B}}), std::invalid_argument);
  CHECK_THROWS_AS(Operator::kronecker(2, 3, 5, 4, {{S, B}}), std::invalid_argument);
  CHECK_THROWS_AS(Operator::kronecker(2, 3, 4, 5, {{S, B}, {S.transpose(), B}}), std::invalid_argument);
  CHECK_THROWS_AS(Operator::kronecker(0, 3, 4, 5, {}), std::invalid_argument);
  CHECK_THROWS_AS(Operator::kronecker(2, 3, 4, -1, {}), std::invalid_argument);
  const Operator op = Operator::kronecker(2, 3, 4, 5, {{S, B}});  // 8 x 15
  CMat Y = CMat::Zero(8, 2);
  CHECK_THROWS_AS(op.apply(CMat::Zero(14, 2), Y), std::invalid_argument);
  CHECK_THROWS_AS(op.apply(CMat::Zero(15, 3), Y), std::invalid_argument);
  CMat Yr = CMat::Zero(2, 8);
  CHECK_THROWS_AS(op.apply_adjoint_right(CMat::Zero(2, 8), Yr), std::invalid_argument);
  CHECK_THROWS_AS(op.trace_with(CMat::Zero(8, 15)), std::invalid_argument);
  CHECK_THROWS_AS(op.expectation(CVec::Zero(15)), std::invalid_argument);  // not square
  // Sums: same total shape is not enough, the factor shapes must agree too (2 x 3 vs 3 x 2).
  const Operator a = Operator::kronecker(2, 2, 3, 3, {{random_matrix(2, 2, rng), to_sparse(random_matrix(3, 3, rng))}});
  const Operator b = Operator::kronecker(3, 3, 2, 2, {{random_matrix(3, 3, rng), to_sparse(random_matrix(2, 2, rng))}});
  CHECK_THROWS_AS(a + b, std::invalid_argument);
  CHECK_THROWS_AS(a + op, std::invalid_argument);
  CHECK_THROWS_AS(a + Operator(6, 5), std::invalid_argument);
  // No bands to read or add: code that only checks is_sparse() fails loudly.
  CHECK_THROWS_AS(op.bands(), std::logic_error);
  Operator c = op;
  CHECK_THROWS_AS(c.add_band(0, 0, 1.0, 1), std::logic_error);
  CHECK_THROWS_AS(Operator(2, 2).kronecker_terms(), std::logic_error);
  // reset() makes it an empty banded operator again.
  c.reset(3, 3);
  CHECK(c.is_banded());
  CHECK(c.dense() == CMat::Zero(3, 3));
}

TEST_CASE("to_sparse, adjoint and sums of banded and sparse operators", "[operator]") {
  std::mt19937_64 rng(13);
  const Index d = 2, L = 7;
  auto coef = [](Index k) { return std::sqrt(double(k) * (7.0 - double(k))); };  // zero at k = 0
  for (const auto& [in, out, overlap] : {std::tuple{Window::full(L), Window::full(L), false},
                                         std::tuple{Window{1, 4}, Window{2, 5}, false},
                                         std::tuple{Window::full(L), Window::full(L), true}}) {
    CAPTURE(overlap);
    Operator banded;
    LadderOperatorBuilder builder(banded, d, in, out);
    builder.add(0, 1, -1, cplx(0.7, -0.3), coef)
        .add_all_levels(0, cplx(0.2, 0.0), coef)
        .add(1, 0, +1, cplx(-0.4, 1.2), coef);
    // A band on the all-levels diagonal: entries summed by dense() and to_sparse(). (The banded
    // infinity_norm and column_norms_squared treat bands separately, so check_members, which
    // wants them exact, runs only without the overlap.)
    if (overlap) builder.add(1, 1, 0, cplx(0.5, 0.5), coef);
    const CMat A = banded.dense();
    REQUIRE(A.norm() > 0.0);
    const SparseMat sp = banded.to_sparse();
    CHECK((CMat(sp) - A).norm() <= tol * A.norm());
    for (Index r = 0; r < sp.outerSize(); ++r)
      for (SparseMat::InnerIterator it(sp, r); it; ++it) CHECK(it.value() != cplx(0.0));  // exact zeros dropped
    const Operator adj = banded.adjoint();
    CHECK(adj.is_banded());
    if (!overlap) check_members(adj, A.adjoint(), rng);
    CHECK((adj.dense() - A.adjoint()).norm() == 0.0);
    // banded + banded stays banded; scaling too
    const Operator sum = banded + cplx(0.0, 2.0) * adj.adjoint();
    CHECK(sum.is_banded());
    CHECK((sum.dense() - (A + cplx(0.0, 2.0) * A)).norm() <= tol * A.norm());
    // banded + sparse gives the sparse sum
    const CMat R = random_sparse_dense(A.rows(), A.cols(), 0.3, rng);
    const Operator sparse = Operator::sparse(to_sparse(R));
    const Operator mixed = banded - sparse;
    CHECK(mixed.is_sparse());
    check_members(mixed, A - R, rng);
    const Operator sparse_adj = (0.5 * sparse).adjoint();
    CHECK(sparse_adj.is_sparse());
    CHECK((sparse_adj.dense() - 0.5 * R.adjoint()).norm() <= tol * R.norm());
    CHECK((CMat(sparse.to_sparse()) - R).norm() == 0.0);
  }
  // A Kronecker operator plus a banded one of the same shape: the sparse sum.
  const Case k = random_case(2, 2, 3, 3, 2, rng);
  Operator diag;
  LadderOperatorBuilder(diag, 2, Window::full(3), Window::full(3)).add_all_levels(0, 1.0, [](Index j) { return j + 1.0; });
  const Operator mixed = k.op + diag;
  CHECK(mixed.is_sparse());
  check_members(mixed, k.reference + diag.dense(), rng);
}
