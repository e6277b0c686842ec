#include "qfluct/model/central_spin_terms.hpp"

#include <stdexcept>

namespace qfluct::central {

namespace {
auto one = [](Index) { return 1.0; };
}

void add_hamiltonian(LadderOperatorBuilder& H, const Vec3& w) {
  H.add(up, up, 0, w[2], one).add(down, down, 0, -w[2], one);
  H.add(up, down, 0, cplx(w[0], -w[1]), one).add(down, up, 0, cplx(w[0], w[1]), one);
}

void add_pauli(LadderOperatorBuilder& O, Observable o) {
  switch (o) {
    case Observable::tau_x: O.add(up, down, 0, 1.0, one).add(down, up, 0, 1.0, one); break;
    case Observable::tau_y: O.add(up, down, 0, -I, one).add(down, up, 0, I, one); break;
    case Observable::tau_z: O.add(up, up, 0, 1.0, one).add(down, down, 0, -1.0, one); break;
    default: throw std::logic_error("central::add_pauli: not a Pauli operator");
  }
}

void add_jump(LadderOperatorBuilder& K, bool lowering) {
  if (lowering) K.add(down, up, 0, 1.0, one);
  else K.add(up, down, 0, 1.0, one);
}

void fill_jump_weight(bool lowering, Index W, RVec& d) {
  d.resize(2 * W);
  d.head(W).setConstant(lowering ? 1.0 : 0.0);
  d.tail(W).setConstant(lowering ? 0.0 : 1.0);
}

}  // namespace qfluct::central
