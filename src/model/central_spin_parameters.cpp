#include "qfluct/model/central_spin_parameters.hpp"

#include "qfluct/core/error.hpp"

#include <cmath>
#include <limits>
#include <fmt/format.h>

namespace qfluct {

std::string to_string(CouplingScaling c) {
  switch (c) {
    case CouplingScaling::sqrt: return "sqrt";
    case CouplingScaling::linear: return "linear";
    case CouplingScaling::fixed: return "fixed";
  }
  return "?";
}

double CentralSpinParameters::g() const {
  switch (coupling) {
    case CouplingScaling::sqrt: return g0 / std::sqrt(double(N));
    case CouplingScaling::linear: return g0 / double(N);
    case CouplingScaling::fixed: return g0;
  }
  return g0;
}

double CentralSpinParameters::eps() const {
  return Gamma_plus() > 0 ? (Gamma_down - Gamma_up) / Gamma_plus() : 0.0;
}

namespace {
double norm(const Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }
}  // namespace

Vec3 onto_bloch_ball(const Vec3& r) {
  const double len = norm(r);
  if (!(len > 1.0)) return r;
  Vec3 u{r[0] / len, r[1] / len, r[2] / len};
  // r / |r| can still come out an ulp long; shrink by ulps until the computed length is <= 1.
  while (norm(u) > 1.0)
    for (double& x : u) x *= 1.0 - std::numeric_limits<double>::epsilon();
  return u;
}

bool is_pure_bloch(const Vec3& r) { return norm(r) >= 1.0 - bloch_tolerance; }

double CentralSpinParameters::bath_p_up() const {
  if (bath.steady) return Gamma_up / Gamma_plus();
  // Pure within the tolerance: exactly 1, so that the Dicke weights are those of |j = N/2, m = j>.
  if (is_pure_bloch(bath.r)) return 1.0;
  return 0.5 * (1.0 + norm(bath.r));
}

namespace {

void require_finite(const std::string& key, double x) {
  if (!std::isfinite(x)) throw InputError(key, fmt::format("must be a finite number, got {}", x));
}
void require_rate(const std::string& key, double x) {
  require_finite(key, x);
  if (x < 0) throw InputError(key, fmt::format("a rate must be >= 0, got {}", x));
}
void require_vector(const std::string& key, const Vec3& v) {
  for (int a = 0; a < 3; ++a) require_finite(fmt::format("{}[{}]", key, a), v[a]);
}
}  // namespace

Vec3 checked_bloch(const std::string& key, const Vec3& r) {
  require_vector(key, r);
  // 15 digits: a refused |r| exceeds 1 by more than 1e-12, which then shows.
  if (norm(r) > 1.0 + bloch_tolerance)
    throw InputError(key, fmt::format("a Bloch vector needs |r| <= 1 (within {:g}), got |r| = {:.15g} > 1",
                                      bloch_tolerance, norm(r)));
  return onto_bloch_ball(r);
}

void CentralSpinParameters::validate() const {
  if (N < 1) throw InputError("model.N", fmt::format("the bath needs N >= 1 spins, got {}", N));
  require_finite("model.g0", g0);
  require_vector("model.w", w);
  require_vector("model.h", h);
  require_rate("model.gamma_up", gamma_up);
  require_rate("model.gamma_down", gamma_down);
  require_rate("model.Gamma_up", Gamma_up);
  require_rate("model.Gamma_down", Gamma_down);
  require_rate("model.Gamma_phi", Gamma_phi);
  checked_bloch("initial.central", central);
  if (!bath.steady) checked_bloch("initial.bath", bath.r);
  if (bath.steady && Gamma_plus() <= 0)
    throw InputError("initial.bath",
                     "\"steady\" (Omega_SS) needs Gamma_up + Gamma_down > 0 (model.Gamma_up, model.Gamma_down)");
  if ((bath.steady || fluctuations) && !(eps() > 0))
    throw InputError("model.Gamma_up",
                     fmt::format("eps = (Gamma_down - Gamma_up)/(Gamma_down + Gamma_up) = {:.6g} must be > 0 for "
                                 "{} (needs Gamma_up < Gamma_down){}",
                                 eps(), bath.steady ? "the bath state \"steady\"" : "the fluctuation observables q, Q2, Q4, n",
                                 bath.steady ? "" : "; set output.fluctuations = false to run without them"));
}

}  // namespace qfluct
