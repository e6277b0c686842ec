// Tests of the Dicke-sector algebra against closed forms (docs/theory.md section 3).
#include "qfluct/space/dicke.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace qfluct;
using dicke::LocalJump;

TEST_CASE("multiplicities sum to 2^N with sector dimensions", "[dicke]") {
  for (int N : {1, 2, 5, 12, 31}) {
    double total = 0;
    for (int s = 0; s < dicke::sector_count(N); ++s)
      total += std::exp(dicke::log_multiplicity(N, s)) * double(dicke::ladder_size(N, s));
    CHECK(total == Approx(std::pow(2.0, N)).epsilon(1e-12));
  }
}

TEST_CASE("Kraus completeness: sum_delta K^+K = N/2 + J_z, N/2 - J_z, N", "[dicke]") {
  for (int N : {1, 2, 3, 6, 9, 40})
    for (int s = 0; s < dicke::sector_count(N); ++s) {
      const double j = dicke::spin(N, s);
      for (Index k = 0; k < dicke::ladder_size(N, s); ++k)
        for (LocalJump type : {LocalJump::sigma_minus, LocalJump::sigma_plus, LocalJump::sigma_z}) {
          double sum = 0;
          for (int delta : {+1, 0, -1}) {
            const Index target_k = k + dicke::kraus_ladder_shift(type, delta);
            const double jt = j + delta;
            const double a = dicke::kraus_element(type, N, j, delta, k);
            // A non-zero element must land inside the target sector.
            if (a != 0.0) CHECK((jt >= 0 && jt <= N / 2.0 && target_k >= 0 && target_k <= Index(2 * jt)));
            sum += a * a;
          }
          CHECK(sum == Approx(dicke::kraus_completeness(type, N, j, k)).margin(1e-12));
        }
    }
}

TEST_CASE("rotated Dicke state is the eigenvector of n.J with eigenvalue m", "[dicke]") {
  const double j = 3.5, theta = 1.1, phi = -0.7;
  for (Index k = 0; k <= 7; ++k) {
    const CVec v = dicke::rotated_state(j, k, theta, phi);
    CHECK(v.norm() == Approx(1.0).epsilon(1e-14));
    // n.J = (sin theta / 2)(e^{-i phi} J_+ + e^{i phi} J_-) + cos theta J_z
    CVec nj = CVec::Zero(8);
    for (Index i = 0; i < 8; ++i) {
      nj(i) += std::cos(theta) * (double(i) - j) * v(i);
      if (i + 1 < 8) {
        const double up = dicke::j_plus(j, i);  // <i+1|J_+|i>
        nj(i + 1) += 0.5 * std::sin(theta) * up * std::polar(1.0, -phi) * v(i);
        nj(i) += 0.5 * std::sin(theta) * up * std::polar(1.0, phi) * v(i + 1);
      }
    }
    CHECK((nj - (double(k) - j) * v).norm() < 1e-12);
  }
}

TEST_CASE("spin-coherent state matches the closed form", "[dicke]") {
  // <j,m'|R|j,j> = e^{-i phi m'} sqrt(C(2j, j+m')) cos^{j+m'}(theta/2) sin^{j-m'}(theta/2), up to a phase
  const double j = 10, theta = 0.9, phi = 0.4;
  const CVec v = dicke::rotated_state(j, 20, theta, phi);
  const cplx phase = v(20) / std::abs(v(20));
  for (Index k = 0; k <= 20; ++k) {
    const double mp = double(k) - j;
    const double mag = std::exp(0.5 * dicke::log_binomial(2 * j, j + mp)) * std::pow(std::cos(theta / 2), j + mp) *
                       std::pow(std::sin(theta / 2), j - mp);
    const cplx expected = std::polar(mag, -phi * mp) * std::polar(1.0, phi * j);
    CHECK(std::abs(v(k) / phase - expected) < 1e-12);
  }
}

TEST_CASE("KrausBranch (hoisted prefactors) equals the explicit table", "[dicke]") {
  for (int N : {1, 2, 5, 10, 33})
    for (int s = 0; s < dicke::sector_count(N); ++s) {
      const double j = dicke::spin(N, s);
      for (LocalJump type : {LocalJump::sigma_minus, LocalJump::sigma_plus, LocalJump::sigma_z})
        for (int delta : {+1, 0, -1}) {
          const dicke::KrausBranch branch(type, N, j, delta);
          for (Index k = 0; k < dicke::ladder_size(N, s); ++k) {
            const double a = dicke::kraus_element(type, N, j, delta, k);
            CHECK(branch.element(k) == Approx(a).margin(1e-13));
            CHECK(branch.squared(k) == Approx(dicke::kraus_element_squared(type, N, j, delta, k)).margin(1e-12));
          }
        }
    }
}
