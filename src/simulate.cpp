#include "qfluct/simulate.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/io/progress.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/full_space_central_spin.hpp"
#include "qfluct/model/mean_field.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/model/spin_boson.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/steady_state.hpp"
#include "qfluct/space/dicke.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace qfluct {

namespace {

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 16e9;
}

/// Complex entries of the packed block density of the central spin model.
double block_entries(int N) {
  double entries = 0;
  for (int s = 0; s < dicke::sector_count(N); ++s) {
    const double D = 2.0 * double(dicke::ladder_size(N, s));
    entries += D * D;
  }
  return entries;
}

/// The block ME keeps about 10 copies of the state (Dormand-Prince stages).
void check_master_memory(const RunConfig& c) {
  if (c.kind != ModelKind::central_spin) return;
  if (!c.couplings.empty()) {
    if (c.model.N > FullSpaceCentralSpin::max_density_N)
      throw InputError("model.N", fmt::format("inhomogeneous couplings need the full 2^(N+1) space: its master equation "
                                              "is limited to N <= {} here; use trajectories (solver.method = "
                                              "\"jump\", N <= {})",
                                              FullSpaceCentralSpin::max_density_N, FullSpaceCentralSpin::max_N));
    return;
  }
  const double bytes = 10.0 * 16.0 * block_entries(c.model.N);
  if (bytes > 0.8 * physical_memory_bytes())
    throw InputError("model.N", fmt::format("the block master equation at N = {} needs about {:.1f} GiB, more than this "
                                            "machine has ({:.1f} GiB); use trajectories (solver.method = \"jump\")",
                                            c.model.N, bytes / (1 << 30), physical_memory_bytes() / (1 << 30)));
}

constexpr long first_automatic_cutoff = 16;
constexpr long largest_cutoff = 4096;

/// For spin_boson without a fixed cutoff: the first of 16, 32, 64, ... for which `top` (the
/// population of the two highest Fock levels in some run) is below `target`.
long automatic_cutoff(const std::function<double(long)>& top, double target) {
  for (long cutoff = first_automatic_cutoff; cutoff <= largest_cutoff; cutoff *= 2)
    if (top(cutoff) <= target) return cutoff;
  throw InputError("model.fock_cutoff",
                   fmt::format("no Fock cutoff up to {} keeps the top levels below model.fock_tol; the boson is not "
                               "bounded at these parameters (or raise model.fock_tol)",
                               largest_cutoff));
}

void check_truncation(const RunConfig& c, long cutoff, double top) {
  if (top > c.fock_tol)
    throw InputError("model.fock_cutoff",
                     fmt::format("the Fock cutoff {} truncates real population: the two highest levels hold {:.3g} > "
                                 "model.fock_tol = {:.3g}; raise model.fock_cutoff{}",
                                 cutoff, top, c.fock_tol, c.fock_cutoff > 0 ? " (or omit it to choose automatically)" : ""));
}

nlohmann::json model_info(const RunConfig& c, long cutoff, double top) {
  nlohmann::json d = derived_quantities(c);
  if (c.kind == ModelKind::spin_boson) {
    const SpinBosonRates r = SpinBosonRates::from(c.model);
    d["G"] = r.G;
    d["omega"] = r.omega;
    d["kappa_down"] = r.kappa_down;
    d["kappa_up"] = r.kappa_up;
    d["nbar"] = r.nbar;
    d["fock_cutoff"] = cutoff;
    d["fock_cutoff_automatic"] = c.fock_cutoff == 0;
    d["fock_top_population"] = top;
    d["fock_tol"] = c.fock_tol;
  }
  return d;
}

MasterOptions master_options(const RunConfig& c) {
  MasterOptions o;
  o.tol = {c.solver.rtol, c.solver.atol};
  return o;
}

}  // namespace

std::unique_ptr<SectorModel> make_model(const RunConfig& c, long fock_cutoff) {
  switch (c.kind) {
    case ModelKind::central_spin:
      if (!c.couplings.empty()) return std::make_unique<FullSpaceCentralSpin>(c.model, c.couplings);
      return std::make_unique<CentralSpinModel>(c.model);
    case ModelKind::spin_boson: return std::make_unique<SpinBosonModel>(c.model, fock_cutoff);
    case ModelKind::mean_field: return std::make_unique<MeanFieldModel>(c.model);
  }
  throw std::logic_error("make_model: unknown kind");
}

nlohmann::json derived_quantities(const RunConfig& config) {
  const auto& p = config.model;
  nlohmann::json d = {{"Gamma_plus", p.Gamma_plus()}};
  if (config.kind == ModelKind::central_spin) d["g"] = p.g();
  if (!config.couplings.empty()) {
    double sum2 = 0.0;
    for (double c : config.couplings) sum2 += c * c;
    d["couplings"] = config.couplings;
    d["couplings_mean_square"] = sum2 / double(config.couplings.size());
    d["representation"] = "full tensor-product space (inhomogeneous couplings)";
  }
  if (config.kind == ModelKind::mean_field) {
    d["bath_transverse_rate"] = 0.5 * p.Gamma_plus() + 2.0 * p.Gamma_phi;
    return d;
  }
  if (p.Gamma_plus() > 0) {
    d["eps"] = p.eps();
    d["bath_p_up"] = p.Gamma_up / p.Gamma_plus();
    if (p.eps() > 0) d["nbar"] = p.Gamma_up / (p.eps() * p.Gamma_plus());
  }
  return d;
}

TimeSeries simulate(const RunConfig& config, const SimulateOptions& options) {
  const auto times = time_grid(config.output.t_end, config.output.dt);
  // Fock cutoff: fixed, or the smallest power of two whose master equation keeps the top levels
  // below fock_tol (with a factor 100 of margin for trajectory ensembles, whose estimate of the
  // top population is itself noisy).
  long cutoff = config.fock_cutoff;
  if (config.kind == ModelKind::spin_boson && cutoff == 0) {
    const double target = config.solver.method == SolverMethod::jump ? 0.01 * config.fock_tol : config.fock_tol;
    cutoff = automatic_cutoff(
        [&](long c) {
          const auto model = make_model(config, c);
          return BlockMasterEquation(*model).solve(times, master_options(config)).info["largest_top_rung_population"].get<double>();
        },
        target);
  }
  const auto model = make_model(config, cutoff);
  TimeSeries out;
  switch (config.solver.method) {
    case SolverMethod::master: {
      check_master_memory(config);
      ProgressBar bar("master equation", 1.0, "", options.progress);
      MasterOptions opts = master_options(config);
      opts.progress = [&](double f) { bar.update(f); };
      out = BlockMasterEquation(*model).solve(times, opts);
      break;
    }
    case SolverMethod::jump: {
      const auto& sv = config.solver;
      ProgressBar bar("trajectories", double(sv.ntraj), "traj", options.progress);
      EnsembleOptions opts;
      opts.ntraj = sv.ntraj;
      opts.seed = sv.seed;
      opts.tol = sv.tol;
      opts.jump = {sv.full_sectors, sv.window_tol, JumpOptions{}.taylor_tol, sv.jump_tol};
      opts.progress = [&](long done, long) { bar.update(double(done)); };
      out = run_ensemble(*model, times, opts);
      break;
    }
  }
  double top = 0.0;
  if (model->ladder_truncated()) {
    top = out.info["largest_top_rung_population"].get<double>();
    check_truncation(config, cutoff, top);
  }
  out.info["derived"] = model_info(config, cutoff, top);
  return out;
}

Stationary stationary(const RunConfig& config) {
  if (config.kind == ModelKind::mean_field)
    throw InputError("model.kind", "the mean_field model is time-dependent (driven by m(t)): it has no stationary "
                                   "state in this sense; run it to long times instead");
  if (config.kind == ModelKind::central_spin && block_entries(config.model.N) > 4e5)
    throw InputError("model.N", fmt::format("the stationary block master equation at N = {} has {:.3g} unknowns, too many "
                                            "for the sparse direct solver here (<= 4e5, N <= 80); integrate to long "
                                            "times with qfluct run instead",
                                            config.model.N, block_entries(config.model.N)));
  std::unique_ptr<SectorModel> model;
  std::unique_ptr<BlockMasterEquation> me;
  SteadyState ss;
  double top = 0.0;
  auto solve = [&](long cutoff) {
    model = make_model(config, cutoff);
    me = std::make_unique<BlockMasterEquation>(*model);
    ss = solve_steady_state(*me);
    top = model->ladder_truncated() ? top_rung_population(*model, me->blocks(ss.rho)) : 0.0;
    return top;
  };
  long cutoff = config.fock_cutoff;
  if (config.kind == ModelKind::spin_boson && cutoff == 0) cutoff = automatic_cutoff(solve, config.fock_tol);
  else solve(cutoff);
  if (model->ladder_truncated()) check_truncation(config, cutoff, top);
  const ObservableSet observables(*model);
  if (!observables.fluctuations())
    throw InputError("output.fluctuations", "the stationary table reports q, Q2, Q4: fluctuations are needed");
  std::vector<double> raw(observables.raw_size()), col(observables.column_count());
  observables.measure(me->blocks(ss.rho), 0.0, raw.data());
  observables.derive(raw.data(), col.data());
  // Columns: tau_x, tau_y, tau_z, n, q, Q2, Q4, nongauss, 3 Q2^2.
  Stationary st;
  st.columns = {"tau_x", "tau_y", "tau_z", "n", "q", "Q2", "Q4", "nongauss", "Q2sq3"};
  st.values = {col[0], col[1], col[2], col[7], col[3], col[4], col[5], col[6], 3.0 * col[4] * col[4]};
  st.info = {{"method", "sparse LU on the assembled Liouvillian (Eigen SparseLU, COLAMD)"},
             {"residual_max", ss.residual},
             {"trace_error", ss.trace_error},
             {"anti_hermitian_part", ss.anti_hermitian},
             {"unknowns", ss.unknowns},
             {"nonzeros", ss.nonzeros},
             {"solver_seconds", ss.seconds},
             {"derived", model_info(config, cutoff, top)}};
  return st;
}

}  // namespace qfluct
