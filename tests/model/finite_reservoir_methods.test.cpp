// The finite-M methods against each other where they overlap (a nondemolition model with qubit
// components: all four apply when rho_R is pure; full, dicke and nondemolition when it is
// mixed), and the automatic choice. Each method is tested against an independent dense
// construction in its own file; this file checks they describe the same model.
#include "qfluct/core/error.hpp"
#include "qfluct/model/finite_reservoir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace qfluct;

namespace {

/// H_S and G diagonal (nondemolition), qubit S, qubit components with h_R = diag(1, 0) and
/// rho_R = diag(p, 1 - p); v Hermitian, centred (tr rho_R v = 0), with diagonal elements.
ReservoirSpec model(double p, long long M) {
  ReservoirSpec s;
  s.system.H = CMat::Zero(2, 2);
  s.system.H(0, 0) = 0.4;
  s.system.H(1, 1) = -0.4;
  s.system.initial = CMat::Constant(2, 2, 0.5);
  s.system.initial(0, 1) = cplx(0.3, 0.4);
  s.system.initial(1, 0) = cplx(0.3, -0.4);
  s.h = CMat::Zero(2, 2);
  s.h(0, 0) = 1.0;
  s.rho = CMat::Zero(2, 2);
  s.rho(0, 0) = p;
  s.rho(1, 1) = 1.0 - p;
  ReservoirSpec::Coupling c;
  c.G = CMat::Zero(2, 2);
  c.G(0, 0) = 0.5;
  c.G(1, 1) = cplx(-0.2, 0.1);
  c.v = CMat::Zero(2, 2);
  c.v(0, 1) = c.v(1, 0) = 0.8;
  c.v(0, 0) = 1.0 - p;  // tr(rho v) = p (1 - p) - (1 - p) p = 0
  c.v(1, 1) = -p;
  s.couplings.push_back(c);
  s.M = M;
  return s;
}

double largest_difference(const ReducedEvolution& a, const ReducedEvolution& b) {
  REQUIRE(a.rho.size() == b.rho.size());
  double d = 0.0;
  for (std::size_t i = 0; i < a.rho.size(); ++i) d = std::max(d, (a.rho[i] - b.rho[i]).cwiseAbs().maxCoeff());
  return d;
}

}  // namespace

TEST_CASE("finite reservoir methods agree where they overlap", "[bosonization]") {
  const std::vector<double> times{0.0, 0.7, 1.9, 3.0};
  FiniteReservoirOptions opt;
  opt.ode = {1e-12, 1e-14};
  opt.truncation_tol = 1e-13;
  for (double p : {1.0, 0.25}) {
    for (long long M : {1LL, 3LL, 6LL}) {
      const ReservoirSpec s = model(p, M);
      INFO("p = " << p << ", M = " << M);
      const ReducedEvolution full = finite_reservoir_full(s, times, opt);
      const ReducedEvolution nd = finite_reservoir_nondemolition(s, times, opt);
      const ReducedEvolution dicke = finite_reservoir_dicke(s, times, opt);
      // Integrations at rtol 1e-12 over t <= 3 (full), a closed form, and a spectral sum whose
      // truncations hold < 1e-13: 1e-10 leaves room for the ODE's global error only.
      CHECK(largest_difference(full, nd) < 1e-10);
      CHECK(largest_difference(full, dicke) < 1e-10);
      if (p == 1.0) CHECK(largest_difference(full, finite_reservoir_symmetric(s, times, opt)) < 1e-10);
      // The coherence moves: the comparison is not between constants.
      CHECK(std::abs(full.rho.back()(0, 1) - full.rho.front()(0, 1)) > 0.05);
    }
  }
}

TEST_CASE("finite reservoir: the automatic choice and forced methods that do not apply", "[bosonization]") {
  ReservoirSpec s = model(1.0, 50);
  CHECK(choose_finite_method(s).method == ReservoirMethod::nondemolition);
  s.system.H(0, 1) = s.system.H(1, 0) = 0.1;  // no longer nondemolition
  CHECK(choose_finite_method(s).method == ReservoirMethod::symmetric);
  s = model(0.25, 50);
  s.system.H(0, 1) = s.system.H(1, 0) = 0.1;
  CHECK(choose_finite_method(s).method == ReservoirMethod::dicke);
  // A channel on S rules out the closed form even for diagonal H_S and G.
  s = model(0.25, 50);
  s.system.channels.push_back({"decay", CMat::Identity(2, 2).col(1) * CMat::Identity(2, 2).row(0), 0.1});
  CHECK(choose_finite_method(s).method == ReservoirMethod::dicke);
  // A mixed qutrit component, not nondemolition: only the full space remains.
  ReservoirSpec q = model(1.0, 2);
  q.system.H(0, 1) = q.system.H(1, 0) = 0.1;
  q.h = CMat::Zero(3, 3);
  q.h(0, 0) = 1.0;
  q.rho = CMat::Zero(3, 3);
  q.rho(0, 0) = 0.5;
  q.rho(1, 1) = 0.5;
  q.couplings[0].v = CMat::Zero(3, 3);
  q.couplings[0].v(0, 2) = 1.0;
  const MethodChoice c = choose_finite_method(q);
  CHECK(c.method == ReservoirMethod::full);
  CHECK_THAT(c.reason, Catch::Contains("rank 2"));
  const std::vector<double> times{0.0, 1.0};
  const ReducedEvolution r = finite_reservoir_evolution(q, times, {});
  CHECK(r.method == "full");
  CHECK(r.info["method_reason"].get<std::string>() == c.reason);
  // Forced methods that do not apply name solver.reservoir_method.
  for (ReservoirMethod m : {ReservoirMethod::symmetric, ReservoirMethod::dicke, ReservoirMethod::nondemolition}) {
    q.method = m;
    try {
      finite_reservoir_evolution(q, times, {});
      FAIL("forced " << to_string(m) << " ran on a mixed qutrit model");
    } catch (const InputError& e) {
      CHECK(e.key() == "solver.reservoir_method");
    }
  }
  // The full space refuses what does not fit, naming reservoir.M, before allocating.
  q.method = ReservoirMethod::full;
  q.M = 30;
  try {
    finite_reservoir_evolution(q, times, {});
    FAIL("3^30 components accepted");
  } catch (const InputError& e) {
    CHECK(e.key() == "reservoir.M");
  }
}

TEST_CASE("finite reservoir: the mean-field scaling takes uncentred v in every method", "[bosonization]") {
  // tr(rho_R v) != 0 is the mean-field term under lambda_M = 1/M (Eq. (8) is for 1/sqrt(M)).
  const std::vector<double> times{0.0, 1.0, 2.5};
  FiniteReservoirOptions opt;
  opt.ode = {1e-12, 1e-14};
  opt.truncation_tol = 1e-13;
  for (double p : {1.0, 0.3}) {
    ReservoirSpec s = model(p, 5);
    s.system.H(0, 1) = s.system.H(1, 0) = 0.2;  // not nondemolition: the ODE methods run
    s.couplings[0].v(0, 0) += 0.6;              // tr(rho_R v) = 0.6 p
    s.scaling = ReservoirScaling::linear;
    INFO("p = " << p);
    const ReducedEvolution full = finite_reservoir_full(s, times, opt);
    CHECK(largest_difference(full, finite_reservoir_dicke(s, times, opt)) < 1e-10);
    if (p == 1.0) CHECK(largest_difference(full, finite_reservoir_symmetric(s, times, opt)) < 1e-10);
    // and the same v under the sqrt scaling is refused, naming it (Eq. (8)).
    s.scaling = ReservoirScaling::sqrt;
    try {
      finite_reservoir_full(s, times, opt);
      FAIL("an uncentred v accepted under the sqrt scaling");
    } catch (const InputError& e) {
      CHECK(e.key() == "reservoir.coupling[0].v");
    }
  }
}
