// Purity, concurrence and negativity (qfluct/model/entanglement.hpp) against closed forms (pure,
// maximally mixed, Bell, product, Werner and X states), against independent computations (the
// spin-flip formula through a non-Hermitian eigensolver; the partial transpose as a sum of
// operator products and its trace norm), and for invariance under random local unitaries.
#include "qfluct/model/entanglement.hpp"

#include "qfluct/core/random.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace qfluct;

namespace {

CMat ginibre(Rng& rng, Index rows, Index cols) {
  boost::random::normal_distribution<double> normal;
  CMat g(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) g(i, j) = cplx(normal(rng), normal(rng));
  return g;
}

CVec random_pure(Rng& rng, Index d) {
  const CVec v = ginibre(rng, d, 1);
  return v / v.norm();
}

/// A random full-rank density matrix (Hilbert-Schmidt measure).
CMat random_mixed(Rng& rng, Index d) {
  const CMat g = ginibre(rng, d, d);
  const CMat rho = g * g.adjoint();
  return rho / rho.trace().real();
}

/// A Haar-random unitary: Q of the QR decomposition of a Ginibre matrix, column phases fixed.
CMat random_unitary(Rng& rng, Index d) {
  const Eigen::HouseholderQR<CMat> qr(ginibre(rng, d, d));
  CMat q = qr.householderQ();
  const CMat r = qr.matrixQR().triangularView<Eigen::Upper>();
  for (Index j = 0; j < d; ++j) q.col(j) *= r(j, j) / std::abs(r(j, j));
  return q;
}

CMat kron(const CMat& a, const CMat& b) {
  CMat k(a.rows() * b.rows(), a.cols() * b.cols());
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < a.cols(); ++j) k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
  return k;
}

CMat projector(const CVec& v) { return v * v.adjoint(); }

/// |Psi-> = (|ud> - |du>)/sqrt 2 and the other Bell states, with an arbitrary global phase.
CVec bell(int which, double phase) {
  const double s = 1.0 / std::sqrt(2.0);
  CVec v = CVec::Zero(4);
  switch (which) {
    case 0: v(1) = s, v(2) = -s; break;  // Psi-
    case 1: v(1) = s, v(2) = s; break;   // Psi+
    case 2: v(0) = s, v(3) = -s; break;  // Phi-
    default: v(0) = s, v(3) = s; break;  // Phi+
  }
  return std::polar(1.0, phase) * v;
}

/// Wootters' formula as written: l_i = sqrt of the eigenvalues of the non-Hermitian rho rho~,
/// from Eigen's general complex eigensolver (independent of the tau-matrix route under test).
/// Accurate to ~1e-14 when rho has full rank (no defective zero eigenvalue).
double concurrence_spin_flip(const CMat& rho) {
  CMat sy(2, 2);
  sy << 0, -I, I, 0;
  const CMat yy = kron(sy, sy);
  const CMat flipped = yy * rho.conjugate() * yy;
  const Eigen::ComplexEigenSolver<CMat> eig(rho * flipped);
  std::vector<double> l;
  for (Index i = 0; i < 4; ++i) l.push_back(std::sqrt(std::max(eig.eigenvalues()(i).real(), 0.0)));
  std::sort(l.rbegin(), l.rend());
  return std::max(0.0, l[0] - l[1] - l[2] - l[3]);
}

/// Partial transpose on qubit 2 as sum_ij (1 (x) |i><j|) rho (1 (x) |i><j|), and the negativity
/// as (trace norm - trace)/2 from its singular values.
double negativity_trace_norm(const CMat& rho) {
  CMat pt = CMat::Zero(4, 4);
  for (Index i = 0; i < 2; ++i)
    for (Index j = 0; j < 2; ++j) {
      CMat e = CMat::Zero(2, 2);
      e(i, j) = 1.0;
      const CMat k = kron(CMat::Identity(2, 2), e);
      pt += k * rho * k;
    }
  const double trace_norm = Eigen::JacobiSVD<CMat>(pt).singularValues().sum();
  return 0.5 * (trace_norm - rho.trace().real());
}

/// Hermitian part with its negative eigenvalues set to zero.
CMat positive_part(const CMat& rho) {
  const Eigen::SelfAdjointEigenSolver<CMat> eig(0.5 * (rho + rho.adjoint()));
  return eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).asDiagonal() * eig.eigenvectors().adjoint();
}

}  // namespace

TEST_CASE("purity: pure states give 1, the maximally mixed state 1/d, mixed states sum p^2", "[entanglement]") {
  // Tolerance 1e-14: a sum of d^2 <= 49 squares of numbers <= 1, each rounded at 1e-16.
  Rng rng(11);
  for (Index d = 1; d <= 7; ++d) {
    INFO("d = " << d);
    for (int k = 0; k < 5; ++k) CHECK(std::abs(purity(projector(random_pure(rng, d))) - 1.0) < 1e-14);
    CHECK(std::abs(purity(CMat::Identity(d, d) / double(d)) - 1.0 / double(d)) < 1e-15);
    const CMat rho = random_mixed(rng, d);
    const Eigen::VectorXd p = Eigen::SelfAdjointEigenSolver<CMat>(rho).eigenvalues();
    CHECK(std::abs(purity(rho) - p.squaredNorm()) < 1e-14);
    if (d > 1) CHECK(purity(rho) < 1.0 - 1e-3);  // full rank: strictly mixed
  }
}

TEST_CASE("Bell states have concurrence 1 and negativity 1/2", "[entanglement]") {
  // Tolerance 1e-14: the l_i and the eigenvalues are O(1) numbers from 4 x 4 solvers.
  for (int which = 0; which < 4; ++which)
    for (double phase : {0.0, 0.7, -2.1}) {
      INFO("Bell state " << which << ", phase " << phase);
      const CMat rho = projector(bell(which, phase));
      CHECK(std::abs(concurrence(rho) - 1.0) < 1e-14);
      CHECK(std::abs(negativity(rho) - 0.5) < 1e-14);
      CHECK(std::abs(purity(rho) - 1.0) < 1e-14);
    }
  // Local unitaries of Bell states are maximally entangled too.
  Rng rng(12);
  for (int k = 0; k < 10; ++k) {
    const CMat u = kron(random_unitary(rng, 2), random_unitary(rng, 2));
    const CMat rho = u * projector(bell(k % 4, 0.3 * k)) * u.adjoint();
    CHECK(std::abs(concurrence(rho) - 1.0) < 1e-13);
    CHECK(std::abs(negativity(rho) - 0.5) < 1e-13);
  }
}

TEST_CASE("product states have no concurrence and no negativity", "[entanglement]") {
  Rng rng(13);
  for (int k = 0; k < 20; ++k) {
    // Mixed (full-rank) products: the l_i are O(0.1) and the partial transpose is the product
    // rho_A (x) rho_B^T, positive definite, so both come out zero up to rounding (1e-14).
    const CMat mixed = kron(random_mixed(rng, 2), random_mixed(rng, 2));
    CHECK(concurrence(mixed) < 1e-14);
    CHECK(negativity(mixed) < 1e-14);
    // Pure products: rank one, so rounding gives l_1 = l_2 ~ 1e-8 (entanglement.hpp), which
    // cancel in C; 1e-14 (1.7e-15 the largest seen in 1e4 draws).
    const CMat pure = projector(kron(random_pure(rng, 2), random_pure(rng, 2)));
    CHECK(concurrence(pure) < 1e-14);
    CHECK(negativity(pure) < 1e-14);
  }
  // Basis products are exact.
  for (Index i = 0; i < 4; ++i) {
    CMat rho = CMat::Zero(4, 4);
    rho(i, i) = 1.0;
    CHECK(concurrence(rho) == 0.0);
    CHECK(negativity(rho) == 0.0);
  }
  CHECK(concurrence(CMat::Identity(4, 4) / 4.0) == 0.0);
  CHECK(negativity(CMat::Identity(4, 4) / 4.0) == 0.0);
}

TEST_CASE("Werner states: C = max(0, (3p - 1)/2), N = max(0, (3p - 1)/4)", "[entanglement]") {
  // rho = p |Psi-><Psi-| + (1 - p) 1/4 for p in [0, 1], the entangled range p > 1/3 included, and
  // the same rotated by a random local unitary. Tolerance 1e-13: full rank for p < 1, O(1) l_i.
  Rng rng(14);
  const CMat singlet = projector(bell(0, 0.0));
  for (int k = 0; k <= 40; ++k) {
    const double p = k / 40.0;
    INFO("p = " << p);
    const CMat werner = p * singlet + (1.0 - p) * CMat::Identity(4, 4) / 4.0;
    const CMat u = kron(random_unitary(rng, 2), random_unitary(rng, 2));
    for (const CMat& rho : {werner, CMat(u * werner * u.adjoint())}) {
      CHECK(std::abs(concurrence(rho) - std::max(0.0, (3 * p - 1) / 2)) < 1e-13);
      CHECK(std::abs(negativity(rho) - std::max(0.0, (3 * p - 1) / 4)) < 1e-13);
      CHECK(std::abs(purity(rho) - (1 + 3 * p * p) / 4) < 1e-14);
    }
  }
}

TEST_CASE("pure states: C = |<psi| sigma_y (x) sigma_y |psi^*>|, N = sqrt(p_0 p_1) from the Schmidt weights", "[entanglement]") {
  // The pure-state closed forms (Wootters 1998; Vidal and Werner 2002: the negative eigenvalue of
  // the partial transpose of sum_k sqrt(p_k) |k k'> is -sqrt(p_0 p_1), so N = sqrt(p_0 p_1) = C/2).
  // Schmidt weights p_k: squared singular values of psi as a 2 x 2 matrix psi(a, b) = psi_{2a+b}.
  // Tolerance 1e-14: rank one, but the rounding-size l_2 = l_3 cancel in C (entanglement.hpp).
  Rng rng(19);
  CMat sy(2, 2);
  sy << 0, -I, I, 0;
  const CMat yy = kron(sy, sy);
  for (int k = 0; k < 200; ++k) {
    const CVec psi = random_pure(rng, 4);
    const cplx overlap = (psi.transpose() * yy * psi)(0);
    const Eigen::Matrix2cd m = Eigen::Map<const Eigen::Matrix2cd>(psi.data()).transpose();
    const Eigen::Vector2d s = Eigen::JacobiSVD<Eigen::Matrix2cd>(m).singularValues();
    INFO("sample " << k);
    CHECK(std::abs(concurrence(projector(psi)) - std::abs(overlap)) < 1e-14);
    CHECK(std::abs(negativity(projector(psi)) - s(0) * s(1)) < 1e-14);
  }
}

TEST_CASE("X states: concurrence and negativity from their closed forms", "[entanglement]") {
  // rho with non-zero entries on the diagonal and the anti-diagonal only:
  //   C = 2 max(0, |r_12| - sqrt(r_00 r_33), |r_03| - sqrt(r_11 r_22))   (Yu and Eberly 2007),
  //   N = sum over the 2 x 2 blocks {00, 33} with r_12 and {11, 22} with r_03 of the partial
  //       transpose of max(0, sqrt(((a - b)/2)^2 + |z|^2) - (a + b)/2).
  // Random positive X states: diagonal weights, then coherences up to the positivity bound.
  Rng rng(15);
  boost::random::uniform_real_distribution<double> uniform(0.0, 1.0);
  int entangled = 0;
  for (int k = 0; k < 200; ++k) {
    Eigen::Vector4d w;
    for (Index i = 0; i < 4; ++i) w(i) = uniform(rng) + 1e-3;
    w /= w.sum();
    const cplx z03 = std::polar(uniform(rng) * std::sqrt(w(0) * w(3)), 6.3 * uniform(rng));
    const cplx z12 = std::polar(uniform(rng) * std::sqrt(w(1) * w(2)), 6.3 * uniform(rng));
    CMat rho = CMat::Zero(4, 4);
    for (Index i = 0; i < 4; ++i) rho(i, i) = w(i);
    rho(0, 3) = z03, rho(3, 0) = std::conj(z03);
    rho(1, 2) = z12, rho(2, 1) = std::conj(z12);
    const double c = 2 * std::max({0.0, std::abs(z12) - std::sqrt(w(0) * w(3)), std::abs(z03) - std::sqrt(w(1) * w(2))});
    const auto block = [](double a, double b, cplx z) {
      return std::max(0.0, std::sqrt(0.25 * (a - b) * (a - b) + std::norm(z)) - 0.5 * (a + b));
    };
    const double n = block(w(0), w(3), z12) + block(w(1), w(2), z03);
    INFO("sample " << k);
    // Tolerance 1e-13: the positivity bound |z| < sqrt(w w') can leave an eigenvalue near zero,
    // but not exactly zero (uniform draw), so the l_i stay well conditioned at this level.
    CHECK(std::abs(concurrence(rho) - c) < 1e-13);
    CHECK(std::abs(negativity(rho) - n) < 1e-13);
    if (c > 0.05) ++entangled;
  }
  CHECK(entangled > 10);  // the closed forms were exercised away from zero
}

TEST_CASE("random mixed states: concurrence and negativity agree with independent computations", "[entanglement]") {
  // Random full-rank states, half of them pulled towards a locally rotated Bell state so that
  // many are entangled. References: Wootters' spin-flip formula through the non-Hermitian
  // ComplexEigenSolver, and the trace norm of the partial transpose built as a sum of products.
  // Tolerance 1e-12: both references are backward stable and the spectra are well separated
  // from zero (full rank), so l_i and the trace norm carry O(1e-15) errors.
  Rng rng(16);
  boost::random::uniform_real_distribution<double> uniform(0.0, 1.0);
  int entangled = 0;
  for (int k = 0; k < 200; ++k) {
    CMat rho = random_mixed(rng, 4);
    if (k % 2 == 0) {
      const CMat u = kron(random_unitary(rng, 2), random_unitary(rng, 2));
      const double q = 0.5 + 0.5 * uniform(rng);
      rho = q * u * projector(bell(k % 4, 0.0)) * u.adjoint() + (1 - q) * rho;
    }
    INFO("sample " << k);
    const double c = concurrence(rho), n = negativity(rho);
    CHECK(std::abs(c - concurrence_spin_flip(rho)) < 1e-12);
    CHECK(std::abs(n - negativity_trace_norm(rho)) < 1e-12);
    // Two-qubit facts: N > 0 exactly when C > 0 (Peres-Horodecki), and 2N <= C (Verstraete et al.
    // 2001, 2N >= sqrt((1 - C)^2 + C^2) - (1 - C) as the lower bound).
    CHECK((c > 1e-9) == (n > 1e-9));
    CHECK(2 * n <= c + 1e-12);
    CHECK(2 * n >= std::sqrt((1 - c) * (1 - c) + c * c) - (1 - c) - 1e-12);
    if (c > 0.1) ++entangled;
  }
  CHECK(entangled > 50);
}

TEST_CASE("random local unitaries leave concurrence and negativity unchanged", "[entanglement]") {
  // U_A (x) U_B with Haar-random U_A, U_B on random full-rank states (some entangled, some not):
  // C, N and the purity are invariant; 1e-12 covers rounding in the rotation and the solvers.
  Rng rng(17);
  boost::random::uniform_real_distribution<double> uniform(0.0, 1.0);
  int entangled = 0;
  for (int k = 0; k < 100; ++k) {
    const double q = uniform(rng);
    const CMat rho = q * projector(random_pure(rng, 4)) + (1 - q) * random_mixed(rng, 4);
    const double c = concurrence(rho), n = negativity(rho), p = purity(rho);
    if (c > 0.1) ++entangled;
    for (int r = 0; r < 3; ++r) {
      const CMat u = kron(random_unitary(rng, 2), random_unitary(rng, 2));
      const CMat rotated = u * rho * u.adjoint();
      INFO("sample " << k << ", rotation " << r);
      CHECK(std::abs(concurrence(rotated) - c) < 1e-12);
      CHECK(std::abs(negativity(rotated) - n) < 1e-12);
      CHECK(std::abs(purity(rotated) - p) < 1e-14);
    }
  }
  CHECK(entangled > 20);
  // A non-local unitary (CNOT) does change them: |+>|u> -> Bell.
  CMat cnot = CMat::Zero(4, 4);
  cnot(0, 0) = cnot(1, 1) = cnot(2, 3) = cnot(3, 2) = 1.0;
  CVec plus_up = CVec::Zero(4);
  plus_up(0) = plus_up(2) = 1.0 / std::sqrt(2.0);
  CHECK(concurrence(projector(plus_up)) < 1e-14);
  CHECK(std::abs(concurrence(cnot * projector(plus_up) * cnot.adjoint()) - 1.0) < 1e-14);
}

TEST_CASE("ensemble averages: the Hermitian part is used, negative eigenvalues as documented", "[entanglement]") {
  Rng rng(18);
  for (int k = 0; k < 20; ++k) {
    const double q = 0.3 + 0.7 * k / 20.0;
    const CMat rho = q * projector(bell(k % 4, 0.0)) + (1 - q) * random_mixed(rng, 4);
    // An anti-Hermitian perturbation is ignored entirely (rounding only: 1e-14).
    const CMat k_herm = ginibre(rng, 4, 4);
    const CMat noisy = rho + 1e-3 * I * (k_herm + k_herm.adjoint());
    CHECK(std::abs(concurrence(noisy) - concurrence(rho)) < 1e-14);
    CHECK(std::abs(negativity(noisy) - negativity(rho)) < 1e-14);
    CHECK(std::abs(purity(noisy) - purity(rho)) < 1e-14);
    // A slightly unphysical average (one eigenvalue pushed 1e-6 below zero): concurrence is that
    // of the positive part, checked with the spin-flip reference on the positive part (which is
    // rank 3, so the reference's defective zero eigenvalue limits the agreement to ~1e-7);
    // negativity counts every negative eigenvalue of the partial transpose (trace-norm reference).
    const Eigen::SelfAdjointEigenSolver<CMat> eig(rho);
    const CVec v = eig.eigenvectors().col(0);
    const CMat unphysical = rho - (eig.eigenvalues()(0) + 1e-6) * projector(v);
    CHECK(std::isfinite(concurrence(unphysical)));
    CHECK(std::abs(concurrence(unphysical) - concurrence_spin_flip(positive_part(unphysical))) < 1e-6);
    CHECK(std::abs(negativity(unphysical) - negativity_trace_norm(unphysical)) < 1e-12);
  }
}

TEST_CASE("entanglement measures: wrong shapes throw, non-finite entries give NaN", "[entanglement]") {
  for (const auto& f : {std::function<double(const CMat&)>(concurrence), std::function<double(const CMat&)>(negativity)}) {
    CHECK_THROWS_AS(f(CMat::Identity(3, 3)), std::invalid_argument);
    CHECK_THROWS_AS(f(CMat::Identity(2, 2)), std::invalid_argument);
    CHECK_THROWS_AS(f(CMat::Zero(4, 3)), std::invalid_argument);
    CHECK_THROWS_AS(f(CMat(0, 0)), std::invalid_argument);
    CHECK_THROWS_AS(f(CMat::Identity(8, 8)), std::invalid_argument);
    CMat bad = CMat::Identity(4, 4) / 4.0;
    bad(1, 2) = cplx(std::nan(""), 0.0);
    CHECK(std::isnan(f(bad)));
    bad(1, 2) = cplx(0.0, INFINITY);
    CHECK(std::isnan(f(bad)));
  }
  CHECK_THROWS_AS(purity(CMat::Zero(3, 4)), std::invalid_argument);
  CHECK_THROWS_AS(purity(CMat(0, 0)), std::invalid_argument);
  CMat bad = CMat::Identity(3, 3) / 3.0;
  bad(0, 0) = std::nan("");
  CHECK(std::isnan(purity(bad)));
}

TEST_CASE("the reduced states of the QuTiP two-qubit reference give its purity, concurrence and negativity", "[entanglement]") {
  // tests/data/open_system/two_qubits.me.csv (scripts/qutip_open_system.py): per row the reduced
  // rho of the two qubits and the purity (numpy), concurrence (numpy, tau-matrix route) and
  // negativity (qutip.negativity, eigenvalues of the partial transpose) computed from it. The
  // printed 17 digits carry rho exactly; tolerance 1e-12 covers the different eigensolvers.
  std::ifstream in(std::string(QFLUCT_SOURCE_DIR) + "/tests/data/open_system/two_qubits.me.csv");
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::string cell;
  for (std::stringstream ss(line); std::getline(ss, cell, ',');) header.push_back(cell);
  const auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return std::size_t(it - header.begin());
  };
  int rows = 0;
  double largest = 0.0;
  while (std::getline(in, line)) {
    std::vector<double> v;
    for (std::stringstream ss(line); std::getline(ss, cell, ',');) v.push_back(std::stod(cell));
    REQUIRE(v.size() == header.size());
    CMat rho(4, 4);
    for (Index a = 0; a < 4; ++a)
      for (Index b = 0; b < 4; ++b) {
        const std::string ab = "rho_" + std::to_string(a) + std::to_string(b);
        rho(a, b) = cplx(v[column(ab + "_re")], v[column(ab + "_im")]);
      }
    INFO("t = " << v[column("t")]);
    CHECK(std::abs(purity(rho) - v[column("purity")]) < 1e-12);
    CHECK(std::abs(concurrence(rho) - v[column("concurrence")]) < 1e-12);
    CHECK(std::abs(negativity(rho) - v[column("negativity")]) < 1e-12);
    largest = std::max(largest, v[column("concurrence")]);
    ++rows;
  }
  CHECK(rows == 17);       // t = 0, 0.25, ..., 4
  CHECK(largest > 0.2);    // the run does entangle the qubits
}
