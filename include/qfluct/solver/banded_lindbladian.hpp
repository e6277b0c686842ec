#pragma once
/// The block Lindblad generator compiled for banded (ladder) operators.
///
/// Every term of
///   d rho_t/dt = -(1/2){Gamma, rho_t} - i H rho_t + i rho_t H^+ + sum rate K rho_s K^+
/// is a product of a left band and a right band of the operators involved, i.e. an update
///   drho_t(o1 + i, o2 + l) += f c1(i) c2(l) rho_s(i1 + i, i2 + l),
/// with real coefficient arrays c1, c2 (absent = identity) and one complex factor f. The kernel
/// walks the columns of drho_t, applies every band pair that touches the column (so the column
/// stays in L1 cache), computes the lower triangle only and mirrors it: rho is Hermitian, the
/// generator maps Hermitian to Hermitian, and the result is Hermitian to the last bit.
#include "qfluct/space/operator.hpp"

#include <Eigen/SparseCore>

#include <vector>

namespace qfluct {

class BandedLindbladian {
 public:
  struct Incoming {
    int source;
    double rate;
    Operator K;
  };

  /// dims/offsets: block dimensions and offsets in the packed state; H, decay: per sector;
  /// incoming[t]: the Kraus terms feeding block t. Every operator must be banded.
  /// drives[i][s]: the drive Hamiltonian H_i on sector s (empty when the model has none); its
  /// terms carry the factor f_i(t) supplied at application time.
  BandedLindbladian(std::vector<Index> dims, std::vector<Index> offsets, const std::vector<Operator>& H,
                    const std::vector<RVec>& decay, const std::vector<std::vector<Incoming>>& incoming,
                    const std::vector<std::vector<Operator>>& drives = {});

  /// Writes d rho_t / dt into block t of dy (dy and y packed the same way); drive_values[i] =
  /// f_i(t) for time-dependent models. hermitian: y's blocks are Hermitian, so half of each
  /// output block is computed and mirrored; otherwise every entry is computed (twice the work).
  void apply_block(const cplx* y, cplx* dy, int t, const double* drive_values = nullptr, bool hermitian = true) const;

  /// The generator as a sparse matrix on the packed state (column-major blocks), for direct
  /// solvers: entry (i, j) is d y_i / d y_j. Time-independent models only.
  Eigen::SparseMatrix<cplx> assemble() const;

 private:
  struct Term {
    int source;
    cplx factor;
    int drive;         // -1, or the drive whose f_i(t) multiplies the factor
    Index o1, i1, n1;
    const double* c1;  // nullptr: all ones
    Index o2, i2, n2;
    const double* c2;
  };
  std::vector<Index> dims_, offsets_;
  std::vector<std::vector<Term>> terms_;
  // The diagonal part, fused: drho(a, b) += (z_a + conj(z_b)) rho(a, b), z = -(1/2) Gamma - i diag(H).
  std::vector<CVec> diagonal_;
  std::vector<RVec> decay_;           // owned copies the terms point into
  std::vector<Operator> operators_;   // likewise
};

}  // namespace qfluct
