#pragma once
/// Dicke-sector algebra for a bath of N spins-1/2 (docs/theory.md sections 1, 3 and 5).
///
/// Sectors are labelled by s = N/2 - j = 0, 1, ..., floor(N/2). Inside sector j the ladder index
/// is k = j + m = 0 .. 2j (so k counts excitations above the lowest Dicke state), in the
/// Condon-Shortley basis where J_+ and J_- have non-negative matrix elements:
///   J_z |k> = (k - j) |k>,   J_- |k> = sqrt(k (2j + 1 - k)) |k - 1>,   J_+ |k> = sqrt((k + 1)(2j - k)) |k + 1>.
/// Local jumps sum_k A^(k) rho A^(k)+ (A = sigma_-, sigma_+, sigma_z) act on the blocks with one
/// Kraus operator per sector change j -> j + delta, delta in {+1, 0, -1}.
#include "qfluct/core/random.hpp"
#include "qfluct/core/types.hpp"

#include <cmath>

namespace qfluct::dicke {

/// Total spin j of sector s in a bath of N spins.
inline double spin(int N, int s) { return 0.5 * (N - 2 * s); }
/// Number of sectors, floor(N/2) + 1.
inline int sector_count(int N) { return N / 2 + 1; }
/// Ladder length 2j + 1 of sector s.
inline Index ladder_size(int N, int s) { return N - 2 * s + 1; }

/// log C(n, k) through lgamma (exact to ~1e-15 relative for any n we meet).
double log_binomial(double n, double k);
/// log of the multiplicity d_j = C(N, N/2 - j) (2j + 1) / (N/2 + j + 1) of spin j.
double log_multiplicity(int N, int s);

inline double j_minus(double j, Index k) { return std::sqrt(double(k) * (2.0 * j + 1.0 - double(k))); }
inline double j_plus(double j, Index k) { return std::sqrt((double(k) + 1.0) * (2.0 * j - double(k))); }

/// The three local jump types and their action on the ladder.
enum class LocalJump { sigma_minus, sigma_plus, sigma_z };

/// Ladder shift of the Kraus operator of `type` for j -> j + delta: k' = k + shift.
inline Index kraus_ladder_shift(LocalJump type, int delta) {
  switch (type) {
    case LocalJump::sigma_minus: return delta - 1;
    case LocalJump::sigma_plus: return delta + 1;
    case LocalJump::sigma_z: return delta;
  }
  return 0;
}

/// Matrix element <j + delta, k + shift| K |j, k> of the Kraus operator of `type` (docs/theory.md
/// section 3.3, with m = k - j). Zero where the target does not exist.
/// The sigma_z element for delta = 0 carries the sign of m.
double kraus_element(LocalJump type, int N, double j, int delta, Index k);
/// Its square, without square roots: the branch weight of a jump from populations.
double kraus_element_squared(LocalJump type, int N, double j, int delta, Index k);

/// The squared Kraus elements of one branch as prefactor * (k + u) (k + v): every entry of the
/// table is a product of two linear factors in k. The division is done once per (j, delta),
/// not per rung, and the per-rung formula has no branch, so ladder loops vectorise (the
/// trajectory loop evaluates these at every jump). u and v are exact half-integers, so the
/// factors are exact and the product is as accurate as the table's own.
class KrausBranch {
 public:
  KrausBranch(LocalJump type, int N, double j, int delta);
  double squared(Index k_index) const {
    const double k = double(k_index);
    return std::max(0.0, prefactor_ * ((k + u_) * (k + v_)));
  }
  /// The signed element (only sigma_z, delta = 0 has a sign: that of m = k - j).
  double element(Index k) const {
    const double a = std::sqrt(squared(k));
    return (signed_ && double(k) + u_ < 0.0) ? -a : a;
  }

 private:
  double prefactor_ = 0.0, u_ = 0.0, v_ = 0.0;
  bool signed_ = false;
};

/// Sum over delta of the squared Kraus elements: N/2 + m, N/2 - m, N for sigma_-, sigma_+, sigma_z.
inline double kraus_completeness(LocalJump type, int N, double j, Index k) {
  const double m = double(k) - j;
  switch (type) {
    case LocalJump::sigma_minus: return 0.5 * N + m;
    case LocalJump::sigma_plus: return 0.5 * N - m;
    case LocalJump::sigma_z: return double(N);
  }
  return 0.0;
}

/// A Dicke basis state |j, m> as (sector, ladder index).
struct DickeLabel {
  int s;
  Index k;
};

/// Samples (j, m) of rho_1^(x)N for a product of identical spins with probability p of being
/// "up" along the quantisation axis: n_up ~ Binomial(N, p), m = n_up - N/2, then
/// j >= |m| with probability d_j / C(N, n_up) (docs/theory.md section 5). p is clamped to [0, 1].
DickeLabel sample_label(int N, double p, Rng& rng);

/// Weight p^(N/2 + m) (1 - p)^(N/2 - m) d_j of |j, m> in the block reduction of the diagonal
/// product state (the diagonal of the reduced block rho_j). Underflows to 0 where negligible.
/// p is clamped to [0, 1] (a rounding above 1 would otherwise give NaN).
double diagonal_weight(int N, int s, Index k, double p);

/// The rotated Dicke state R|j,m> with R = exp(-i phi J_z) exp(-i theta J_y), on the whole
/// sector, up to a global phase: the eigenvector of n.J with eigenvalue m, n = (sin theta cos phi,
/// sin theta sin phi, cos theta), computed by inverse iteration on the tridiagonal n.J in O(2j+1).
CVec rotated_state(double j, Index k, double theta, double phi);

}  // namespace qfluct::dicke
