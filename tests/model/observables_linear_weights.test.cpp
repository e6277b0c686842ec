// ObservableSet::linear_weights: the raw record of a block density as explicit linear
// functionals (what the pruned master equation applies to every term of a Chebyshev series)
// must add up to what ObservableSet::measure computes from the blocks themselves.
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/observables.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace qfluct;

// Fig. 2 point with every observable (tau, quadrature moments, n) at N = 20: for each sector a
// window short of its ladder (rungs 1 .. 5, and 0 .. 3 where the ladder is short) and the whole
// ladder, with blocks that are fixed pseudo-random Hermitian matrices (not states: the
// functionals must be right on any Hermitian block). The two sums differ only in the order of
// additions: 1e-12 relative to the largest |raw| leaves room for that rounding (~1e-15) and
// fails on any missing or misplaced weight (O(1)).
TEST_CASE("observables: linear weights add up to measure() on windows and whole ladders", "[observables][pruned]") {
  CentralSpinParameters p;
  p.N = 20;
  const CentralSpinModel model(p);
  const ObservableSet observables(model);
  REQUIRE(observables.fluctuations());
  const Index d = model.system_dim();
  for (const bool whole : {false, true}) {
    std::vector<Window> windows;
    std::vector<CMat> blocks;
    for (int s = 0; s < model.sector_count(); ++s) {
      const Index L = model.ladder_size(s);
      const Window w = whole ? model.full_window(s) : L > 6 ? Window{1, 5} : Window{0, std::min<Index>(L, 4)};
      windows.push_back(w);
      CMat b(d * w.size, d * w.size);
      for (Index i = 0; i < b.rows(); ++i)
        for (Index j = 0; j < b.cols(); ++j)
          b(i, j) = cplx(std::cos(1.0 + double(3 * i + 7 * j + s)), std::sin(double(5 * i + 2 * j + 11 * s)));
      blocks.push_back(b + b.adjoint());
    }
    std::vector<Eigen::Map<const CMat>> maps;
    for (const auto& b : blocks) maps.emplace_back(b.data(), b.rows(), b.cols());
    std::vector<double> expected(std::size_t(observables.raw_size())), got(expected.size());
    observables.measure(maps, windows, 0.7, expected.data());
    observables.c_numbers(0.7, got.data());
    for (int s = 0; s < model.sector_count(); ++s)
      for (const auto& w : observables.linear_weights(s, windows[std::size_t(s)]))
        got[std::size_t(w.raw)] += (w.value * blocks[std::size_t(s)](w.row, w.col)).real();
    double scale = 0.0;
    for (double x : expected) scale = std::max(scale, std::abs(x));
    for (std::size_t r = 0; r < expected.size(); ++r) {
      INFO((whole ? "whole ladders" : "windows") << ", raw entry " << observables.raw_names()[r]);
      CHECK(std::abs(got[r] - expected[r]) <= 1e-12 * scale);
    }
  }
}
