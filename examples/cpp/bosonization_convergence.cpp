// Bosonization with the library API (no configuration file): the qubit example of Fantechi &
// Merkli, PRL 136, 060402 (2026). A qubit S exchanges excitations with M qubit components,
//   h_R = omega_R |up><up|,  rho_R = w |down><down| + (1 - w) |up><up|,  G = g sigma_-,  v = sigma_+.
// Builds the fluctuation reservoir F (two modes at +-omega_R), evolves S + F (unitary: the pure
// components of rho_S on truncated Fock spaces), then the exact finite-M dynamics (Dicke sectors) for growing M, and
// prints the largest trace distance between the two reduced states of S. Exits 1 unless the
// distance falls like 1/M (ratio between M = 256 and M = 1024 within [0.15, 0.4]).
//
//   build/examples/bosonization_convergence
#include "qfluct/model/finite_reservoir.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"
#include "qfluct/model/open_system.hpp"

#include <Eigen/Eigenvalues>

#include <cstdio>
#include <string>

int main() {
  using namespace qfluct;
  const double omega_R = 1.0, w = 0.2, g = 0.5;
  CMat sigma_z(2, 2), sigma_plus = CMat::Zero(2, 2), sigma_minus = CMat::Zero(2, 2);
  sigma_z << 1, 0, 0, -1;  // basis index 0 = up
  sigma_plus(0, 1) = 1.0;
  sigma_minus(1, 0) = 1.0;

  ReservoirSpec spec;
  spec.system.H = 0.5 * sigma_z;
  spec.system.initial = CMat::Constant(2, 2, 0.3);
  spec.system.initial(0, 0) = 0.4;
  spec.system.initial(1, 1) = 0.6;
  spec.h = omega_R * (sigma_z + CMat::Identity(2, 2)) / 2.0;  // omega_R |up><up|
  spec.rho = CMat::Zero(2, 2);
  spec.rho(0, 0) = 1.0 - w;
  spec.rho(1, 1) = w;
  spec.couplings = {{g * sigma_minus, sigma_plus}};

  // F: the modes of Eq. (16) with the coefficients of Eq. (18).
  const FluctuationReservoir F = fluctuation_reservoir(spec.h, spec.rho, {spec.couplings[0].v});
  std::printf("Fluctuation reservoir: %zu modes\n", F.modes.size());
  for (std::size_t i = 0; i < F.modes.size(); ++i)
    std::printf("  mode %zu: (k, l) = (%ld, %ld), omega = %+.3f, p_k = %.3f\n", i, long(F.modes[i].k),
                long(F.modes[i].l), F.modes[i].omega, F.modes[i].p_k);

  // S + F on truncated Fock spaces (cutoffs estimated; the top levels' population is reported).
  const double t_end = 10.0;
  const std::vector<double> times = time_grid(t_end, 0.1);
  const OpenSystemSpec sf = bosonized_spec(spec.system.H, spec.system.initial, {spec.couplings[0].G}, F);
  const OpenSystemModel model(sf, estimate_fock_cutoffs(sf, t_end, 1e-10));
  const ReducedEvolution limit = unitary_evolution(model, times, {1e-10, 1e-12});
  double top = 0.0;
  for (const auto& row : limit.env) top = std::max({top, row[2], row[3]});  // after n_0, n_1
  std::printf("S + F: Fock cutoffs %ld, %ld; top two levels hold at most %.1e\n", model.cutoffs()[0],
              model.cutoffs()[1], top);

  // Finite M, exact: Dicke sectors weighted by their multiplicities.
  std::printf("%8s %26s %14s\n", "M", "max_t trace distance", "x M");
  double at256 = 0.0, at1024 = 0.0;
  for (long long M : {16LL, 64LL, 256LL, 1024LL}) {
    spec.M = M;
    spec.method = ReservoirMethod::dicke;
    const ReducedEvolution finite = finite_reservoir_evolution(spec, times, {});
    double worst = 0.0;
    for (Index i = 0; i < Index(times.size()); ++i) {
      const Eigen::SelfAdjointEigenSolver<CMat> es(finite.rho[std::size_t(i)] - limit.rho[std::size_t(i)], Eigen::EigenvaluesOnly);
      worst = std::max(worst, 0.5 * es.eigenvalues().cwiseAbs().sum());
    }
    std::printf("%8lld %26.3e %14.4f\n", M, worst, worst * double(M));
    if (M == 256) at256 = worst;
    if (M == 1024) at1024 = worst;
  }
  const double ratio = at1024 / at256;
  std::printf("distance(M = 1024) / distance(M = 256) = %.3f (1/M: 0.25)\n", ratio);
  return ratio > 0.15 && ratio < 0.4 && top < 1e-10 ? 0 : 1;
}
