#include "qfluct/simulate.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/io/progress.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/space/dicke.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace qfluct {

namespace {

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 16e9;
}

/// The block ME keeps about 10 copies of the state (Dormand-Prince stages).
void check_master_memory(const CentralSpinParameters& p) {
  double entries = 0;
  for (int s = 0; s < dicke::sector_count(p.N); ++s) {
    const double D = 2.0 * double(dicke::ladder_size(p.N, s));
    entries += D * D;
  }
  const double bytes = 10.0 * 16.0 * entries;
  if (bytes > 0.8 * physical_memory_bytes())
    throw InputError("model.N", fmt::format("the block master equation at N = {} needs about {:.1f} GiB, more than this "
                                            "machine has ({:.1f} GiB); use trajectories (solver.method = \"jump\")",
                                            p.N, bytes / (1 << 30), physical_memory_bytes() / (1 << 30)));
}

}  // namespace

nlohmann::json derived_quantities(const RunConfig& config) {
  const auto& p = config.model;
  nlohmann::json d = {{"g", p.g()}, {"Gamma_plus", p.Gamma_plus()}};
  if (p.Gamma_plus() > 0) {
    d["eps"] = p.eps();
    d["bath_p_up"] = p.Gamma_up / p.Gamma_plus();
    if (p.eps() > 0) d["nbar"] = p.Gamma_up / (p.eps() * p.Gamma_plus());
  }
  return d;
}

TimeSeries simulate(const RunConfig& config, const SimulateOptions& options) {
  const auto times = time_grid(config.output.t_end, config.output.dt);
  switch (config.solver.method) {
    case SolverMethod::master: {
      check_master_memory(config.model);
      const CentralSpinModel model(config.model);
      ProgressBar bar("master equation", 1.0, "", options.progress);
      MasterOptions opts;
      opts.tol = {config.solver.rtol, config.solver.atol};
      opts.progress = [&](double f) { bar.update(f); };
      return BlockMasterEquation(model).solve(times, opts);
    }
    case SolverMethod::jump: {
      const CentralSpinModel model(config.model);
      const auto& sv = config.solver;
      ProgressBar bar("trajectories", double(sv.ntraj), "traj", options.progress);
      EnsembleOptions opts;
      opts.ntraj = sv.ntraj;
      opts.seed = sv.seed;
      opts.tol = sv.tol;
      opts.jump = {sv.full_sectors, sv.window_tol, JumpOptions{}.taylor_tol, sv.jump_tol};
      opts.progress = [&](long done, long) { bar.update(double(done)); };
      return run_ensemble(model, times, opts);
    }
  }
  throw std::logic_error("simulate: unknown solver method");
}

}  // namespace qfluct
