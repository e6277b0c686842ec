#include "qfluct/model/finite_reservoir.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/model/nondemolition.hpp"

#include <Eigen/Eigenvalues>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace qfluct {

std::string to_string(ReservoirMethod m) {
  switch (m) {
    case ReservoirMethod::automatic: return "auto";
    case ReservoirMethod::full: return "full";
    case ReservoirMethod::symmetric: return "symmetric";
    case ReservoirMethod::dicke: return "dicke";
    case ReservoirMethod::nondemolition: return "nondemolition";
    case ReservoirMethod::fock: return "fock";
  }
  return "?";
}

FluctuationReservoir checked_reservoir(const ReservoirSpec& spec) {
  std::vector<CMat> v, G;
  for (const auto& c : spec.couplings) {
    v.push_back(c.v);
    G.push_back(c.G);
  }
  FluctuationReservoir F = fluctuation_reservoir(spec.h, spec.rho, v, spec.scaling == ReservoirScaling::sqrt);
  (void)bosonized_spec(spec.system.H, spec.system.initial, G, F);  // for its errors on H_S, rho_S, G
  return F;
}

MethodChoice choose_finite_method(const ReservoirSpec& spec) {
  if (spec.system.channels.empty() && nondemolition_basis(spec))
    return {ReservoirMethod::nondemolition, "H_S and every G_q are diagonal in one basis and S has no channels: "
                                            "closed form, exact for any M"};
  // Rank of rho_R: populations above 1e-10 (the tolerance of fluctuation_reservoir.hpp).
  const Eigen::SelfAdjointEigenSolver<CMat> es(0.5 * (spec.rho + spec.rho.adjoint()), Eigen::EigenvaluesOnly);
  const Index rank = (es.eigenvalues().array() > 1e-10).count();
  if (rank == 1)
    return {ReservoirMethod::symmetric, "rho_R is pure: the symmetric subspace, truncated in the quanta outside its "
                                        "level"};
  if (spec.component_dim() == 2)
    return {ReservoirMethod::dicke, "qubit components with a mixed rho_R: Dicke sectors weighted by multiplicity"};
  return {ReservoirMethod::full, fmt::format("no reduced method applies (mixed rho_R of rank {}, d_R = {}, not "
                                             "nondemolition): the full tensor-product space",
                                             rank, spec.component_dim())};
}

ReducedEvolution finite_reservoir_evolution(const ReservoirSpec& spec, const std::vector<double>& times,
                                            const FiniteReservoirOptions& opt) {
  MethodChoice choice{spec.method, "set by solver.reservoir_method"};
  if (spec.method == ReservoirMethod::automatic) choice = choose_finite_method(spec);
  ReducedEvolution r;
  switch (choice.method) {
    case ReservoirMethod::full: r = finite_reservoir_full(spec, times, opt); break;
    case ReservoirMethod::symmetric: r = finite_reservoir_symmetric(spec, times, opt); break;
    case ReservoirMethod::dicke: r = finite_reservoir_dicke(spec, times, opt); break;
    case ReservoirMethod::nondemolition: r = finite_reservoir_nondemolition(spec, times, opt); break;
    default:
      throw InputError("solver.reservoir_method",
                       fmt::format("\"{}\" is not a finite-M method (full, symmetric, dicke, nondemolition)",
                                   to_string(choice.method)));
  }
  r.info["method_reason"] = choice.reason;
  return r;
}

}  // namespace qfluct
