#include "qfluct/model/central_spin_terms.hpp"

#include <stdexcept>

namespace qfluct::central {

namespace {
auto one = [](Index) { return 1.0; };
}

ObservableDeclaration observables(bool fluctuations, double scale, std::vector<std::string> extras) {
  using Form = LinearQuantity::Form;
  ObservableDeclaration d;
  d.add({Form::expectation, {"tau_x"}, int(Observable::tau_x)});
  d.add({Form::expectation, {"tau_y"}, int(Observable::tau_y)});
  d.add({Form::expectation, {"tau_z"}, int(Observable::tau_z)});
  d.add_copy({"tau_x", "tau_y", "tau_z"}, 0);
  if (fluctuations) {
    const Index q = d.add({Form::moments, {"q1", "q2", "q3", "q4"}, int(Observable::quadrature), scale});
    const Index n = d.add({Form::expectation, {"n"}, int(Observable::number)});
    d.columns.push_back({ColumnGroup::Form::central_moments, {"q", "Q2", "Q4", "nongauss"}, q, 0});
    d.add_copy({"n"}, n);
  }
  if (!extras.empty()) {
    const Index e = d.add({Form::c_number, extras});
    d.add_copy(extras, e);
  }
  return d;
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
