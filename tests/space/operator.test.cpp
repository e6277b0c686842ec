// Tests of the ladder operator builder: windowed operators are restrictions of whole-ladder ones.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/space/operator.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace qfluct;

namespace {
/// Rows/columns of the window (in layout c * size + (k - begin)) inside the whole ladder of L rungs.
CMat restrict(const CMat& full, Index d, Index L, Window in, Window out) {
  CMat r(d * out.size, d * in.size);
  for (Index co = 0; co < d; ++co)
    for (Index ko = 0; ko < out.size; ++ko)
      for (Index ci = 0; ci < d; ++ci)
        for (Index ki = 0; ki < in.size; ++ki) r(co * out.size + ko, ci * in.size + ki) = full(co * L + out.begin + ko, ci * L + in.begin + ki);
  return r;
}
}  // namespace

TEST_CASE("a term with its adjoint is T + T^+ restricted to any window pair", "[operator]") {
  const Index d = 2, L = 9;
  const cplx f(0.7, -0.3);
  auto coef = [](Index k) { return std::sqrt(double(k) * (9.0 - double(k))); };  // J_- of j = 4
  Operator whole;
  {
    LadderOperatorBuilder B(whole, d, Window::full(L), Window::full(L));
    B.add_with_adjoint(0, 1, -1, f, coef).add_all_levels_with_adjoint(+2, std::conj(f), coef);
  }
  const CMat T = whole.dense();
  // The whole-ladder operator is Hermitian (exact: the conjugate band is a copy).
  CHECK((T - T.adjoint()).norm() == 0.0);
  // Reference without the adjoint helpers: T + T^+ of the one-sided terms.
  Operator one_sided;
  {
    LadderOperatorBuilder B(one_sided, d, Window::full(L), Window::full(L));
    B.add(0, 1, -1, f, coef).add_all_levels(+2, std::conj(f), coef);
  }
  const CMat S = one_sided.dense();
  CHECK((T - (S + S.adjoint())).norm() <= 1e-14 * T.norm());
  // Square and non-square window pairs: the builder gives the restriction of T exactly.
  for (const auto& [in, out] : {std::pair{Window{2, 4}, Window{2, 4}}, std::pair{Window{1, 5}, Window{3, 6}},
                               std::pair{Window{4, 5}, Window{0, 3}}}) {
    Operator w;
    LadderOperatorBuilder B(w, d, in, out);
    B.add_with_adjoint(0, 1, -1, f, coef).add_all_levels_with_adjoint(+2, std::conj(f), coef);
    CHECK((w.dense() - restrict(T, d, L, in, out)).norm() <= 1e-14 * T.norm());
  }
}

TEST_CASE("the windowed central-spin Hamiltonian is the restriction of the sector's", "[operator][model]") {
  CentralSpinParameters p;
  p.N = 12;
  p.h = {0.3, -0.2, 0.4};
  p.w = {1.0, 0.25, 0.5};
  const CentralSpinModel model(p);
  for (int s : {0, 3}) {
    const Index L = model.ladder_size(s);
    const CMat H = model.hamiltonian(s, Window::full(L), Window::full(L)).dense();
    CHECK((H - H.adjoint()).norm() == 0.0);
    for (const auto& [in, out] : {std::pair{Window{1, 4}, Window{1, 4}}, std::pair{Window{0, 3}, Window{2, 4}}}) {
      const CMat Hw = model.hamiltonian(s, in, out).dense();
      CHECK((Hw - restrict(H, 2, L, in, out)).norm() <= 1e-14 * H.norm());
    }
  }
}
