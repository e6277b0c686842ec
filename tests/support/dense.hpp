#pragma once
// Dense linear algebra for the independent references of the tests: random matrices, states and
// unitaries, Kronecker products, partial traces. Small sizes only (everything dense).
#include "qfluct/core/types.hpp"

#include <Eigen/QR>
#include <unsupported/Eigen/KroneckerProduct>

#include <random>

namespace qfluct::test {

/// n x n with independent standard complex Gaussian entries.
inline CMat random_matrix(Index n, std::mt19937& rng) {
  std::normal_distribution<double> g;
  CMat m(n, n);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) m(i, j) = cplx(g(rng), g(rng));
  return m;
}

inline CMat random_hermitian(Index n, std::mt19937& rng) {
  const CMat a = random_matrix(n, rng);
  return 0.5 * (a + a.adjoint());
}

/// Haar-like unitary (QR of a Gaussian matrix).
inline CMat random_unitary(Index n, std::mt19937& rng) {
  return Eigen::HouseholderQR<CMat>(random_matrix(n, rng)).householderQ() * CMat::Identity(n, n);
}

/// A random density matrix of the given rank (default: full rank).
inline CMat random_density(Index n, std::mt19937& rng, Index rank = -1) {
  const CMat a = random_matrix(n, rng).leftCols(rank < 0 ? n : rank);
  const CMat rho = a * a.adjoint();
  return rho / rho.trace();
}

inline CMat kron(const CMat& a, const CMat& b) { return Eigen::kroneckerProduct(a, b).eval(); }

/// tr_E of a density matrix on S (x) E (index s * dE + e).
inline CMat partial_trace_env(const CMat& rho, Index dS, Index dE) {
  CMat r(dS, dS);
  for (Index s = 0; s < dS; ++s)
    for (Index t = 0; t < dS; ++t) r(s, t) = rho.block(s * dE, t * dE, dE, dE).trace();
  return r;
}

}  // namespace qfluct::test
