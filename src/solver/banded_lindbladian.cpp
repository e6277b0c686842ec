#include "qfluct/solver/banded_lindbladian.hpp"

#include <Eigen/SparseCore>
#include <algorithm>
#include <stdexcept>

namespace qfluct {

BandedLindbladian::BandedLindbladian(std::vector<Index> dims, std::vector<Index> offsets,
                                     const std::vector<Operator>& H, const std::vector<RVec>& decay,
                                     const std::vector<std::vector<Incoming>>& incoming,
                                     const std::vector<std::vector<Operator>>& drives)
    : dims_(std::move(dims)), offsets_(std::move(offsets)), terms_(dims_.size()), decay_(decay) {
  // Keep our own copies of every operator so that the band pointers stay valid.
  const int S = int(dims_.size());
  operators_.reserve(H.size() + [&] {
    std::size_t n = 0;
    for (const auto& in : incoming) n += in.size();
    return n;
  }());
  for (int t = 0; t < S; ++t) {
    const Index D = dims_[t];
    auto& terms = terms_[t];
    // -(1/2){Gamma, rho} and the diagonal of -i[H, rho] in one fused term
    CVec z = (-0.5 * decay_[t]).cast<cplx>();
    // -i H rho + i rho H^+ for the off-diagonal bands
    const Operator& h = operators_.emplace_back(H[t]);
    if (h.is_sparse()) throw std::logic_error("BandedLindbladian needs banded operators");
    for (const auto& b : h.bands()) {
      const Index n = b.size;
      if (b.out_row == b.in_row) {
        z.segment(b.out_row, n) += -I * b.factor * h.coeff_vector(b).cast<cplx>();
        continue;
      }
      terms.push_back({t, -I * b.factor, -1, b.out_row, b.in_row, n, h.coeff(b), 0, 0, D, nullptr});
      terms.push_back({t, I * std::conj(b.factor), -1, 0, 0, D, nullptr, b.out_row, b.in_row, n, h.coeff(b)});
    }
    diagonal_.push_back(std::move(z));
    // rate K rho_s K^+: every pair of bands of K
    for (const auto& in : incoming[t]) {
      const Operator& K = operators_.emplace_back(in.K);
      if (K.is_sparse()) throw std::logic_error("BandedLindbladian needs banded operators");
      for (const auto& p : K.bands())
        for (const auto& q : K.bands())
          terms.push_back({in.source, in.rate * p.factor * std::conj(q.factor), -1, p.out_row, p.in_row, p.size,
                           K.coeff(p), q.out_row, q.in_row, q.size, K.coeff(q)});
    }
    // -i f_i(t) [H_i, rho]: diagonal bands included, since their factor varies in time.
    for (int i = 0; i < int(drives.size()); ++i) {
      const Operator& hd = operators_.emplace_back(drives[i].at(t));
      if (hd.is_sparse()) throw std::logic_error("BandedLindbladian needs banded operators");
      for (const auto& b : hd.bands()) {
        terms.push_back({t, -I * b.factor, i, b.out_row, b.in_row, b.size, hd.coeff(b), 0, 0, D, nullptr});
        terms.push_back({t, I * std::conj(b.factor), i, 0, 0, D, nullptr, b.out_row, b.in_row, b.size, hd.coeff(b)});
      }
    }
  }
}

// The hot kernel of the block master equation: compiled twice, and the AVX2/FMA clone is
// (x86-64-v3: AVX2 + FMA) is picked at load time on machines that have it.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void BandedLindbladian::apply_block(const cplx* y, cplx* dy, int t, const double* drive_values, bool hermitian) const {
  const Index D = dims_[t];
  cplx* out = dy + offsets_[t];
  const cplx* rho = y + offsets_[t];
  const CVec& z = diagonal_[t];
  for (Index col = 0; col < D; ++col) {
    const cplx zc = std::conj(z(col));
    const Index first = hermitian ? col : 0;  // the lower triangle, or every row
    for (Index row = first; row < D; ++row) out[col * D + row] = (z(row) + zc) * rho[col * D + row];
  }
  // Term by term (each output entry still receives the terms in their order): the block is a few
  // tens of kB and stays in cache, and each term's columns are walked without testing every term
  // at every column.
  for (const Term& term : terms_[t]) {
    const cplx base = term.drive >= 0 ? term.factor * drive_values[term.drive] : term.factor;
    const Index Ds = dims_[term.source];
    const double* c1 = term.c1;
    for (Index l = 0; l < term.n2; ++l) {
      const Index col = term.o2 + l;
      const cplx f = term.c2 ? base * term.c2[l] : base;
      const double fr = f.real(), fi = f.imag();
      const double* s = reinterpret_cast<const double*>(y + offsets_[term.source] + (term.i2 + l) * Ds + term.i1);
      double* dd = reinterpret_cast<double*>(out + col * D) + 2 * term.o1;
      // Lower triangle only: output rows o1 + i >= col.
      const Index i0 = hermitian ? std::max<Index>(0, col - term.o1) : 0;
      if (c1) {
        for (Index i = i0; i < term.n1; ++i) {
          const double x = c1[i] * s[2 * i], v = c1[i] * s[2 * i + 1];
          dd[2 * i] += fr * x - fi * v;
          dd[2 * i + 1] += fr * v + fi * x;
        }
      } else {
        for (Index i = i0; i < term.n1; ++i) {
          const double x = s[2 * i], v = s[2 * i + 1];
          dd[2 * i] += fr * x - fi * v;
          dd[2 * i + 1] += fr * v + fi * x;
        }
      }
    }
  }
  if (!hermitian) return;
  // Mirror the lower triangle; the diagonal of a Hermitian matrix is real.
  for (Index col = 0; col < D; ++col) {
    out[col * D + col] = out[col * D + col].real();
    for (Index row = col + 1; row < D; ++row) out[row * D + col] = std::conj(out[col * D + row]);
  }
}

Eigen::SparseMatrix<cplx> BandedLindbladian::assemble() const {
  std::vector<Eigen::Triplet<cplx>> entries;
  const Index n = offsets_.back();
  for (int t = 0; t < int(dims_.size()); ++t) {
    const Index D = dims_[t], off = offsets_[t];
    const CVec& z = diagonal_[t];
    for (Index col = 0; col < D; ++col)
      for (Index row = 0; row < D; ++row) {
        const cplx v = z(row) + std::conj(z(col));
        if (v != cplx(0.0)) entries.emplace_back(off + col * D + row, off + col * D + row, v);
      }
    for (const Term& term : terms_[t]) {
      if (term.drive >= 0) throw std::logic_error("BandedLindbladian::assemble: time-dependent model");
      const Index Ds = dims_[term.source], soff = offsets_[term.source];
      for (Index l = 0; l < term.n2; ++l) {
        const cplx f = term.c2 ? term.factor * term.c2[l] : term.factor;
        for (Index i = 0; i < term.n1; ++i) {
          const cplx v = term.c1 ? f * term.c1[i] : f;
          if (v == cplx(0.0)) continue;
          entries.emplace_back(off + (term.o2 + l) * D + term.o1 + i, soff + (term.i2 + l) * Ds + term.i1 + i, v);
        }
      }
    }
  }
  Eigen::SparseMatrix<cplx> L(n, n);
  L.setFromTriplets(entries.begin(), entries.end());  // duplicates are summed
  return L;
}

}  // namespace qfluct
