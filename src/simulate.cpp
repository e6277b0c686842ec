#include "qfluct/simulate.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/core/memory_limit.hpp"
#include "qfluct/solver/pruned_master_equation.hpp"
#include "qfluct/io/progress.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/model/finite_reservoir.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"
#include "qfluct/model/nondemolition.hpp"
#include "qfluct/model/reduced_columns.hpp"
#include "qfluct/model/full_space_central_spin.hpp"
#include "qfluct/model/mean_field.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/model/open_system.hpp"
#include "qfluct/model/spin_boson.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/steady_state.hpp"
#include "qfluct/space/dicke.hpp"

#include <Eigen/Eigenvalues>
#include <nlohmann/json.hpp>
#include <cmath>
#include <fmt/format.h>
#include <omp.h>
#include <optional>

namespace qfluct {

namespace {

/// Complex entries of the packed block density of the central spin model.
double block_entries(int N) {
  double entries = 0;
  for (int s = 0; s < dicke::sector_count(N); ++s) {
    const double D = 2.0 * double(dicke::ladder_size(N, s));
    entries += D * D;
  }
  return entries;
}

bool full_space(const RunConfig& c) { return c.kind == ModelKind::central_spin && !c.couplings.empty(); }

// Memory estimates, in bytes, one per path (checked against core/memory_limit before the work).

/// Length of the longest state vector (system dimension x ladder length of the largest sector).
double longest_state(const RunConfig& c, long cutoff) {
  switch (c.kind) {
    case ModelKind::central_spin: return full_space(c) ? std::ldexp(1.0, c.model.N + 1) : 2.0 * (c.model.N + 1);
    case ModelKind::spin_boson: return 2.0 * (double(cutoff) + 1.0);
    case ModelKind::mean_field: return 2.0;
    case ModelKind::open_system:
    case ModelKind::bosonized: return double(c.open_system.dim());  // times the modes' ladder: open_system_bytes
    case ModelKind::finite_reservoir: return double(c.reservoir.system_dim());  // its methods check their spaces
  }
  return 0.0;
}

/// Entries of the packed density of the block master equation (the steady solver's unknowns).
double density_entries(const RunConfig& c, long cutoff) {
  if (c.kind == ModelKind::central_spin && !full_space(c)) return block_entries(c.model.N);
  const double D = longest_state(c, cutoff);
  return D * D;
}

/// The full-space model's own sparse operators (Hamiltonian, N Kraus branches per bath channel
/// and their weights, observables): measured 5.3 to 8.0 kB per basis state at N = 14 .. 18, about
/// 420 (N + 1) bytes; 480 (N + 1) with margin. The sector models' operators are negligible.
double model_bytes(const RunConfig& c) {
  return full_space(c) ? 480.0 * (c.model.N + 1) * std::ldexp(1.0, c.model.N + 1) : 0.0;
}

/// The block master equation: Dormand-Prince keeps about 10 copies of the state (measured 0.92
/// of that at N = 200), plus the output table. The non-banded full-space generator needs a dense
/// work matrix per thread and the dense initial state besides: 12 + threads copies (measured
/// 14.4 with 2 threads at N = 9).
double master_bytes(const RunConfig& c, long cutoff, std::size_t times, int threads) {
  const double entries = density_entries(c, cutoff);
  const double copies = full_space(c) ? 12.0 + threads : 10.0;
  return model_bytes(c) + 16.0 * entries * copies + 16.0 * 16.0 * double(times);
}

/// Ensemble results held at once: the jackknife blocks and the nodes being merged into them.
double ensemble_nodes(const SolverConfig& sv) {
  const double groups = std::ceil(double(sv.ntraj) / double(sv.group_size));
  return std::min(groups, double(EnsembleState::block_limit + 64));
}

/// Trajectories. Per thread, per state entry: the Taylor terms, 16 bytes each, at most 27 for
/// whole sectors (steps with h ||A|| <= 3: terms until 3^n / n! <= 1e-14) or 18 for adaptive
/// windows (h ||A|| <= 1), and about 250 bytes of work vectors, generator and channel weights
/// (measured: 322 bytes per entry with 4 terms at N = 1e6, whole sectors). An adaptive window
/// covers the state's spread over the ladder: tens of rungs for the Omega_SS bath (23 at
/// N = 1e4), and for a coherent bath state (binomial, standard deviation sqrt(L)/2) the rungs
/// above window_tol, sqrt(2 L ln(1/window_tol)) (measured 1030 with growth slack at N = 1e4,
/// bath [1,0,0]); 4 times that and at least 1024 rungs is taken (an estimate: unusual dynamics
/// can grow a window further). The ensemble keeps per jackknife block (at most 256, and a few
/// more being merged; ensemble_nodes) and output time about 4 accumulators of the <= 8 raw records and the <= 8 columns.
double jump_bytes(const RunConfig& c, long cutoff, std::size_t times, int threads) {
  const auto& sv = c.solver;
  const double system = full_space(c) ? 1.0 : 2.0;
  const double ladder = longest_state(c, cutoff) / system;
  const bool whole = sv.full_sectors || full_space(c) || c.kind == ModelKind::mean_field;
  const double rungs =
      whole ? ladder : std::min(ladder, std::max(1024.0, 4.0 * std::sqrt(2.0 * ladder * std::log(1.0 / sv.window_tol))));
  const double per_entry = 16.0 * (whole ? 27.0 : 18.0) + 250.0;
  const double groups = ensemble_nodes(sv);
  const double used_threads = std::min(double(std::max(threads, 1)), groups);
  // Measurement records (output.records): Y per homodyne output and counts per jump channel, at
  // most 2 + 2 N numbers per time (the full space's local channels have N branches).
  const double record_width = full_space(c) ? 2.0 + 2.0 * c.model.N : 8.0;
  return model_bytes(c) + used_threads * per_entry * system * rungs + 8.0 * groups * double(times) * (4.0 * 8.0 + 8.0) +
         8.0 * record_width * double(c.output.records) * double(times);
}

/// The key that sets the size of a run: N, the Fock cutoff, or (automatic cutoff) the rate that
/// sets the boson's occupation.
const char* size_key(const RunConfig& c) {
  if (c.kind != ModelKind::spin_boson) return "model.N";
  return c.fock_cutoff > 0 ? "model.fock_cutoff" : "model.Gamma_up";
}

std::string size_name(const RunConfig& c, long cutoff) {
  if (c.kind != ModelKind::spin_boson) return fmt::format("N = {}", c.model.N);
  if (c.fock_cutoff > 0) return fmt::format("Fock cutoff {}", cutoff);
  return fmt::format("the automatic Fock cutoff {} (smaller ones leave more than model.fock_tol in the top levels)", cutoff);
}

/// What to change when a spin_boson run does not fit.
std::string boson_hint(const RunConfig& c) {
  return c.fock_cutoff > 0 ? "lower model.fock_cutoff"
                           : "lower nbar (model.Gamma_up), or raise model.fock_tol, or set a smaller model.fock_cutoff";
}

/// The full-space density is limited outright; everything else by memory.
void check_master_memory(const RunConfig& c, long cutoff, std::size_t times) {
  if (full_space(c) && c.model.N > FullSpaceCentralSpin::max_density_N)
    throw InputError("model.N", fmt::format("inhomogeneous couplings need the full 2^(N+1) space: its master equation "
                                            "is limited to N <= {} here; use trajectories (solver.method = "
                                            "\"jump\", N <= {})",
                                            FullSpaceCentralSpin::max_density_N, FullSpaceCentralSpin::max_N));
  require_memory(master_bytes(c, cutoff, times, omp_get_max_threads()), size_key(c),
                 fmt::format("the master equation at {}", size_name(c, cutoff)),
                 c.kind == ModelKind::spin_boson ? boson_hint(c) : "use trajectories (solver.method = \"jump\")");
}

void check_jump_memory(const RunConfig& c, long cutoff, std::size_t times) {
  const int threads = omp_get_max_threads();
  const MemoryLimit limit = usable_memory();
  std::string hint;
  if (c.solver.full_sectors) hint = "use solver.window = \"adaptive\"";
  if (threads > 1 && jump_bytes(c, cutoff, times, 1) <= limit.bytes)
    hint += std::string(hint.empty() ? "" : ", or ") + "use fewer threads (--threads)";
  require_memory(jump_bytes(c, cutoff, times, threads), size_key(c),
                 fmt::format("a run of {} trajectories on {} thread(s) with {} windows at {}", c.solver.ntraj, threads,
                             c.solver.full_sectors ? "whole-sector" : "adaptive", size_name(c, cutoff)),
                 hint, limit);
}

constexpr long first_automatic_cutoff = 16;
constexpr int max_cutoff_retries = 4;
constexpr long largest_cutoff = 4096;

/// For spin_boson without a fixed cutoff, the estimate of open_system.hpp: the boson is driven by
/// the force [a, H] - omega a = G tau_-, of norm |G|, and damped at kappa_down - kappa_up = eps
/// Gamma_+ (t_end infinite: the stationary state).
long spin_boson_cutoff_estimate(const RunConfig& c, double t_end, double target) {
  const SpinBosonRates r = SpinBosonRates::from(c.model);
  const long estimate = mode_cutoff_estimate(std::abs(r.G), r.kappa_down, r.kappa_up, r.nbar, t_end, target);
  return std::min(largest_cutoff, std::max(2L, estimate));
}

/// spin_boson, before any solve: `bound(cutoff)` is a lower bound on the population of the two
/// highest Fock levels in the run (`where`), and `needed(target, cap)` the smallest cutoff it
/// allows. A fixed cutoff that the bound already puts above model.fock_tol is refused
/// (model.fock_cutoff), and so is an automatic choice when even the largest candidate is (the
/// rates that set nbar); otherwise returns the first automatic candidate not excluded by the
/// bound (the smaller ones would fail their check: skipping them changes nothing but the time).
long fock_cutoff_start(const RunConfig& c, const std::function<double(long)>& bound,
                       const std::function<long(double, long)>& needed, double target, const char* where) {
  const SpinBosonRates r = SpinBosonRates::from(c.model);
  // The bound is exact or rigorous; the 0.1% keeps rounding in the solver's own figure from mattering.
  auto excluded = [&](long cutoff, double limit) { return bound(cutoff) > 1.001 * limit; };
  constexpr long search_cap = 10'000'000;
  auto at_least = [&](double limit) {
    const long n = needed(1.001 * limit, search_cap);
    return n > search_cap ? fmt::format("more than {}", search_cap) : fmt::format("at least {}", n);
  };
  if (c.fock_cutoff > 0) {
    if (excluded(c.fock_cutoff, c.fock_tol))
      throw InputError("model.fock_cutoff",
                       fmt::format("the Fock cutoff {} truncates real population: the two highest levels hold at least "
                                   "{:.3g} {} > model.fock_tol = {:.3g} (nbar = {:.4g}); raise model.fock_cutoff to {} "
                                   "(or omit it to choose automatically)",
                                   c.fock_cutoff, bound(c.fock_cutoff), where, c.fock_tol, r.nbar, at_least(c.fock_tol)));
    return c.fock_cutoff;
  }
  if (excluded(largest_cutoff, target))
    throw InputError(
        "model.Gamma_up",
        fmt::format("the boson's occupation nbar = p_up / eps = {:.4g} (eps = (Gamma_down - Gamma_up)/Gamma_+ = {:.3g}) "
                    "needs a Fock cutoff beyond the largest automatic one, {}: there the two highest levels still hold "
                    "at least {:.3g} {} > {:.3g} (a cutoff of {} would be needed); lower model.Gamma_up (raise eps), "
                    "or raise model.fock_tol",
                    r.nbar, r.eps, largest_cutoff, bound(largest_cutoff), where, target, at_least(target)));
  long first = first_automatic_cutoff;
  while (first < largest_cutoff && excluded(first, target)) first *= 2;
  return first;
}

void check_truncation(const RunConfig& c, long cutoff, double top) {
  if (top > c.fock_tol)
    throw InputError("model.fock_cutoff",
                     fmt::format("the Fock cutoff {} truncates real population: the two highest levels hold {:.3g} > "
                                 "model.fock_tol = {:.3g}; raise model.fock_cutoff{}{}",
                                 cutoff, top, c.fock_tol, c.fock_cutoff > 0 ? " (or omit it to choose automatically)" : "",
                                 c.solver.method == SolverMethod::jump && c.solver.any_homodyne()
                                     ? "; with homodyne channels on the mode, a solver.dt_sde too large for the explicit "
                                       "step (dt_sde * rate * n not small) drives population up too: try it halved"
                                     : ""));
}

/// Why a stationary state is not unique, where the parameters tell: the key to change and the
/// conserved quantity (an empty reason otherwise).
std::pair<std::string, std::string> conserved_quantity(const RunConfig& c) {
  const auto& p = c.model;
  if (p.gamma_up == 0 && p.gamma_down == 0 && p.g0 == 0)
    return {"model.g0", "the central spin has no dissipation (gamma_up = gamma_down = 0) and no coupling (g0 = 0), so its "
                        "state is conserved: every mixture of the eigenstates of w.tau is stationary"};
  if (c.kind == ModelKind::central_spin && p.Gamma_up == 0 && p.Gamma_down == 0 && p.Gamma_phi == 0 && p.N >= 2)
    return {"model.Gamma_down", "the bath has no dissipation (Gamma_up = Gamma_down = Gamma_phi = 0), so its total spin "
                                "j is conserved: every Dicke sector keeps its own stationary state"};
  if (c.kind == ModelKind::central_spin && p.Gamma_up == 0 && p.Gamma_down == 0 && p.g0 == 0 && p.h[0] == 0 && p.h[1] == 0)
    return {"model.Gamma_down", "the bath is uncoupled (g0 = 0) and nothing changes its magnetisation (Gamma_up = "
                                "Gamma_down = 0, h_x = h_y = 0), so J_z is conserved"};
  return {"model", ""};
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
  o.integrator = c.solver.integrator == "dopri5"       ? MasterIntegrator::dopri5
                 : c.solver.integrator == "rosenbrock" ? MasterIntegrator::rosenbrock
                 : c.solver.integrator == "chebyshev"  ? MasterIntegrator::chebyshev
                                                       : MasterIntegrator::automatic;
  return o;
}

/// The central spin's master equation is pruned to where rho lives unless solver.prune_tol = 0.
bool pruned_master(const RunConfig& c) {
  return c.kind == ModelKind::central_spin && !full_space(c) && c.solver.method == SolverMethod::master &&
         c.solver.prune_tol > 0;
}

// --- open_system: per-mode cutoffs estimated up front (estimate_fock_cutoffs), verified after the
// --- solve by the population of each mode's two top levels; an automatic cutoff that fails the
// --- check is doubled and the solve repeated (rare: the estimate is meant to be conservative).

/// The sidecar entry of one stationary solve.
nlohmann::json steady_info(const SteadyState& ss, nlohmann::json derived) {
  return {{"method", "sparse LU on the assembled Liouvillian (Eigen SparseLU, COLAMD)"},
          {"residual_max", ss.residual},
          {"trace_error", ss.trace_error},
          {"anti_hermitian_part", ss.anti_hermitian},
          {"smallest_eigenvalue", ss.min_eigenvalue},
          {"relative_gap", ss.gap},
          {"state_tolerance", ss.state_tolerance},
          {"unknowns", ss.unknowns},
          {"nonzeros", ss.nonzeros},
          {"factor_nonzeros", ss.factor_nonzeros},
          {"solver_seconds", ss.seconds},
          {"derived", std::move(derived)}};
}

/// The channels solver.unravelling makes homodyne, resolved against the model's channels (named
/// errors for names the model does not have and for sector-changing channels named explicitly).
std::vector<HomodyneChannel> homodyne_channels(const RunConfig& c, const SectorModel& model,
                                               const std::function<void(const std::string&)>& note) {
  const auto& sv = c.solver;
  const auto& channels = model.channels();
  std::string names;
  for (const auto& ch : channels) names += (names.empty() ? "" : ", ") + ch.name;
  const std::string listing = channels.empty() ? "this model has no channels"
                                               : fmt::format("this model's channels are {} (a channel whose rate is 0 "
                                                             "is not built)", names);
  // Channels a model of this kind builds only when their rate is > 0: naming one whose rate is 0
  // gets a note (a scan of that rate down to 0 keeps running), any other unknown name an error.
  auto rate_zero = [&](const std::string& name) {
    std::vector<std::string> possible;
    if (c.kind == ModelKind::central_spin) possible = {"tau_minus", "tau_plus", "sigma_minus", "sigma_plus", "sigma_z"};
    if (c.kind == ModelKind::spin_boson) possible = {"tau_minus", "tau_plus", "boson_loss", "boson_gain"};
    if (c.kind == ModelKind::mean_field) possible = {"tau_minus", "tau_plus"};
    if (c.kind == ModelKind::open_system || c.kind == ModelKind::bosonized) {  // bosonized: S + F in open_system
      for (std::size_t i = 0; i < c.open_system.channels.size(); ++i)
        possible.push_back(c.open_system.channels[i].name.empty() ? fmt::format("L{}", i) : c.open_system.channels[i].name);
      for (std::size_t m = 0; m < c.open_system.modes.size(); ++m)
        for (const char* what : {"loss", "gain"}) possible.push_back(fmt::format("mode_{}_{}", m, what));
    }
    return std::find(possible.begin(), possible.end(), name) != possible.end();
  };
  auto index_of = [&](const std::string& name) {
    for (std::size_t i = 0; i < channels.size(); ++i)
      if (channels[i].name == name) return int(i);
    return -1;
  };
  auto keeps_sector = [](const Channel& ch) {
    return std::all_of(ch.sector_shift.begin(), ch.sector_shift.end(), [](int s) { return s == 0; });
  };
  auto phase_of = [&](const std::string& name) {
    const auto it = sv.homodyne_phase_per_channel.find(name);
    return it != sv.homodyne_phase_per_channel.end() ? it->second : sv.homodyne_phase;
  };
  std::vector<HomodyneChannel> out;
  if (sv.unravelling_per_channel.empty() && sv.unravelling == "homodyne") {
    std::string jumping;
    for (std::size_t i = 0; i < channels.size(); ++i) {
      if (keeps_sector(channels[i])) out.push_back({int(i), phase_of(channels[i].name)});
      else jumping += (jumping.empty() ? "" : ", ") + channels[i].name;
    }
    if (channels.empty() && note) note("solver.unravelling = \"homodyne\": this model has no channels to unravel");
    else if (!jumping.empty() && note)
      note(fmt::format("solver.unravelling = \"homodyne\": {} change{} the Dicke sector (a local jump of the bath moves "
                       "j) and stay{} quantum jumps", jumping, jumping.find(',') == std::string::npos ? "s" : "",
                       jumping.find(',') == std::string::npos ? "s" : ""));
  } else if (!sv.unravelling_per_channel.empty()) {
    for (const auto& [name, how] : sv.unravelling_per_channel) {
      const int i = index_of(name);
      if (i < 0 && rate_zero(name)) {
        if (note) note(fmt::format("solver.unravelling.{}: the channel's rate is 0 in this run, so there is nothing to "
                                   "unravel", name));
        continue;
      }
      if (i < 0) throw InputError("solver.unravelling." + name, fmt::format("no channel named {}: {}", name, listing));
      if (how != "homodyne") continue;
      if (!keeps_sector(channels[std::size_t(i)]))
        throw InputError("solver.unravelling." + name,
                         fmt::format("{} changes the Dicke sector (a local jump of the bath moves j by one), so it "
                                     "cannot be unravelled by homodyne detection; it can only jump", name));
      out.push_back({i, phase_of(name)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.channel < b.channel; });
  }
  for (const auto& [name, phase] : sv.homodyne_phase_per_channel) {
    const int i = index_of(name);
    const bool homodyne = std::any_of(out.begin(), out.end(), [&](const auto& h) { return h.channel == i; });
    if (i < 0 && rate_zero(name)) continue;  // noted above (or a jump channel of rate 0)
    if (!homodyne)
      throw InputError("solver.homodyne_phase." + name,
                       i < 0 ? fmt::format("no channel named {}: {}", name, listing)
                             : fmt::format("channel {} is not unravelled by homodyne detection", name));
  }
  return out;
}

/// The ensemble settings of a jump run, with a progress bar.
/// The model variant an ensemble state belongs to: the Fock cutoffs (empty when fixed by the
/// configuration, which a checkpoint's configuration hash covers already).
nlohmann::json model_key(const std::vector<long>& automatic_cutoffs) {
  nlohmann::json key = nlohmann::json::object();
  if (!automatic_cutoffs.empty()) key["fock_cutoffs"] = automatic_cutoffs;
  return key;
}

/// The cutoffs a resumed ensemble state was made with (empty: none recorded, or `count` differs).
std::vector<long> resumed_cutoffs(const SimulateOptions& options, std::size_t count) {
  if (!options.resume || !options.resume_model.is_object() || !options.resume_model.contains("fock_cutoffs")) return {};
  const auto& list = options.resume_model["fock_cutoffs"];
  if (!list.is_array() || list.size() != count) return {};
  std::vector<long> cutoffs;
  for (const auto& c : list) {
    if (!c.is_number_integer() || c.get<long>() < 1) return {};
    cutoffs.push_back(c.get<long>());
  }
  return cutoffs;
}

EnsembleOptions ensemble_options(const RunConfig& c, const SectorModel& model, bool full_sectors, ProgressBar& bar,
                                 const SimulateOptions& options, const nlohmann::json& key) {
  const auto& sv = c.solver;
  EnsembleOptions opts;
  opts.ntraj = sv.ntraj;
  opts.seed = sv.seed;
  opts.tol = sv.tol;
  opts.group_size = sv.group_size;
  opts.part = options.part;
  opts.parts = options.parts;
  opts.chunk_seconds = options.chunk_seconds;
  // A state belongs to the model it was made with: an automatic cutoff doubled since starts afresh.
  if (options.resume && options.resume_model == key) opts.resume = options.resume;
  else if (options.resume && !key.empty())
    throw InputError("--resume", fmt::format("the checkpoint was made with {}, this run uses {}",
                                             options.resume_model.dump(), key.dump()));
  if (options.checkpoint)
    opts.checkpoint = [&options, key](const EnsembleState& s, bool last) { options.checkpoint(s, key, last); };
  opts.jump.full_sectors = full_sectors;
  opts.jump.window_tol = sv.window_tol;
  opts.jump.jump_tol = sv.jump_tol;
  opts.jump.homodyne = homodyne_channels(c, model, options.note);
  // Automatic step: rate dt = 1e-3 for the fastest homodyne channel (and dt <= 1e-3).
  double fastest = 1.0;
  for (const auto& h : opts.jump.homodyne) fastest = std::max(fastest, model.channels()[std::size_t(h.channel)].rate);
  opts.jump.dt_sde = sv.dt_sde > 0 ? sv.dt_sde : 1e-3 / fastest;
  opts.jump.levy_areas = sv.levy_areas;
  opts.records = c.output.records;
  opts.ranks = options.ranks;
  opts.progress = [&bar](long done, long) { bar.update(double(done)); };
  return opts;
}

constexpr double max_open_system_unknowns = 3e4;

/// Thrown by a master equation's monitor when an automatic Fock cutoff is seen to truncate real
/// population: the run stops there and is repeated with the cutoff doubled.
struct TruncationExceeded {
  std::size_t mode;
  double population;
};

/// Full-space dimension d * prod (cutoff_i + 1).
double open_system_dim(const RunConfig& c, const std::vector<long>& cutoffs) {
  double D = double(c.open_system.dim());
  for (long k : cutoffs) D *= double(k + 1);
  return D;
}

std::string open_system_size(const RunConfig& c, const std::vector<long>& cutoffs) {
  std::string list;
  for (std::size_t i = 0; i < cutoffs.size(); ++i)
    list += fmt::format("{}{}{}", i ? ", " : "", cutoffs[i], c.open_system.modes[i].fock_cutoff > 0 ? "" : " (automatic)");
  return cutoffs.empty() ? fmt::format("d = {}", c.open_system.dim())
                         : fmt::format("d = {} with Fock cutoffs {} (space dimension {:.4g})", c.open_system.dim(), list,
                                       open_system_dim(c, cutoffs));
}

/// The key to change when an open_system run is too large: the largest mode's cutoff.
std::string open_system_key(const RunConfig& c, const std::vector<long>& cutoffs) {
  if (cutoffs.empty()) return "system.H";
  // S + F: the modes come from [reservoir] (their number) and the couplings (their cutoffs).
  if (c.kind == ModelKind::bosonized) return "reservoir.coupling";
  const auto m = std::size_t(std::max_element(cutoffs.begin(), cutoffs.end()) - cutoffs.begin());
  return c.open_system.modes[m].fock_cutoff > 0 ? fmt::format("mode[{}].fock_cutoff", m) : fmt::format("mode[{}]", m);
}

void check_open_system_memory(const RunConfig& c, const std::vector<long>& cutoffs, std::size_t times, bool steady) {
  const double D = open_system_dim(c, cutoffs);
  const int threads = omp_get_max_threads();
  double bytes = 0.0;
  std::string what;
  if (steady) {
    // The assembled Liouvillian of a system with dense couplings to several modes fills in
    // heavily under the sparse LU: 6400 unknowns (d = 4, two modes) give 1.3e7 factor nonzeros
    // and take 7 s here, 28224 give 2e8 and take 6 minutes. Beyond that, refuse up front.
    if (D * D > max_open_system_unknowns)
      throw InputError(open_system_key(c, cutoffs),
                       fmt::format("the stationary state at {} has {:.4g} unknowns; the sparse LU of such a "
                                   "Liouvillian fills in almost densely and would take hours here (limit {:.0f} "
                                   "unknowns, about 6 minutes); lower the Fock cutoffs (mode[i].fock_cutoff), or "
                                   "integrate to long times with qfluct run instead",
                                   open_system_size(c, cutoffs), D * D, max_open_system_unknowns));
    bytes = steady_state_memory(D * D, false);
    what = fmt::format("the stationary sparse LU ({:.3g} unknowns) at {}", D * D, open_system_size(c, cutoffs));
  } else if (c.solver.method == SolverMethod::master) {
    // Dormand-Prince's ~10 state copies, the dense initial state and its packed copy, work space.
    bytes = 16.0 * D * D * (12.0 + threads) + 16.0 * 16.0 * double(times);
    what = fmt::format("the master equation at {}", open_system_size(c, cutoffs));
  } else {
    const double groups = ensemble_nodes(c.solver);
    bytes = std::min(double(threads), groups) * D * (16.0 * 27.0 + 250.0) + 16.0 * D * D +
            8.0 * groups * double(times) * 40.0 * double(ObservableSet(OpenSystemModel(c.open_system, cutoffs)).raw_size());
    what = fmt::format("a run of {} trajectories on {} thread(s) at {}", c.solver.ntraj, threads, open_system_size(c, cutoffs));
  }
  require_memory(bytes, open_system_key(c, cutoffs), what,
                 c.kind == ModelKind::bosonized
                     ? "F has one mode per allowed transition: fewer or weaker couplings, a shorter output.t_end, or a "
                       "larger model.fock_tol make it smaller; without channels on S the unitary path needs far less"
                     : "lower the Fock cutoffs (mode[i].fock_cutoff), or raise model.fock_tol for automatic ones");
}

/// Runs `solve` on the model with the current cutoffs until every mode's top-level population is
/// within model.fock_tol (`top` reads it from the result), doubling automatic cutoffs that fail.
template <class Solve, class Top>
auto solve_open_system(const RunConfig& c, double t_end, double target, Solve&& solve, Top&& top, nlohmann::json& report,
                       const std::vector<long>& resumed = {}) {
  const auto& spec = c.open_system;
  // S + F: several undamped modes whose cutoffs multiply; start lower and let the check double.
  std::vector<long> cutoffs = estimate_fock_cutoffs(spec, t_end, target, c.kind == ModelKind::bosonized ? 12 : 32);
  const std::vector<long> estimate = cutoffs;
  // A resumed ensemble starts at the automatic cutoffs its state was made with.
  for (std::size_t m = 0, a = 0; m < cutoffs.size(); ++m)
    if (spec.modes[m].fock_cutoff == 0 && a < resumed.size()) cutoffs[m] = resumed[a++];
  for (int attempt = 0;; ++attempt) {
    // The model's own sparse operators, refused before they are built: a dense G (x) X has about
    // 2 modes d nonzeros per state (value and index, 24 bytes), the model keeps about three such
    // operators (H, its sparse form, the channels' K^+K), plus ~200 bytes per state of diagonals
    // (measured 1.3 kB per state for d = 2 with four modes, where this gives 1.6 kB).
    const double D = open_system_dim(c, cutoffs);
    const double per_state = 24.0 * 3.0 * (2.0 * double(cutoffs.size()) * double(spec.dim()) + 4.0) + 200.0;
    require_memory(D * per_state, open_system_key(c, cutoffs),
                   fmt::format("the operators of the model at {}", open_system_size(c, cutoffs)),
                   c.kind == ModelKind::bosonized ? "fewer or weaker couplings, a shorter output.t_end or a larger "
                                                    "model.fock_tol make F's Fock space smaller"
                                                  : "lower the Fock cutoffs (mode[i].fock_cutoff)");
    const OpenSystemModel model(spec, cutoffs);
    std::optional<decltype(solve(model, cutoffs))> result;
    std::vector<double> populations(cutoffs.size(), 0.0);
    std::vector<std::size_t> failing;
    try {
      result.emplace(solve(model, cutoffs));
      populations = top(model, *result);
      for (std::size_t m = 0; m < cutoffs.size(); ++m)
        if (populations[m] > spec.fock_tol) failing.push_back(m);
    } catch (const TruncationExceeded& e) {  // the monitor stopped the run early
      populations[e.mode] = e.population;
      failing.push_back(e.mode);
    }
    if (failing.empty()) {
      report = nlohmann::json::object();
      report["space_dimension"] = static_cast<long long>(open_system_dim(c, cutoffs));
      report["diagonal_channel_weights"] = model.diagonal_channel_weights();
      report["channels"] = nlohmann::json::array();
      for (const auto& ch : model.channels()) report["channels"].push_back({{"name", ch.name}, {"rate", ch.rate}});
      report["fock_tol"] = spec.fock_tol;
      report["cutoff_retries"] = attempt;
      report["modes"] = nlohmann::json::array();
      for (std::size_t m = 0; m < cutoffs.size(); ++m)
        report["modes"].push_back({{"fock_cutoff", cutoffs[m]},
                                   {"fock_cutoff_automatic", spec.modes[m].fock_cutoff == 0},
                                   {"fock_cutoff_estimate", estimate[m]},
                                   {"top_population", populations[m]}});
      return std::move(*result);
    }
    for (std::size_t m : failing) {
      if (spec.modes[m].fock_cutoff > 0)
        throw InputError(fmt::format("mode[{}].fock_cutoff", m),
                         fmt::format("the Fock cutoff {} truncates real population: the two highest levels hold {:.3g} > "
                                     "model.fock_tol = {:.3g}; raise mode[{}].fock_cutoff (or omit it to choose automatically)",
                                     cutoffs[m], populations[m], spec.fock_tol, m));
      if (attempt == max_cutoff_retries)
        throw InputError(c.kind == ModelKind::bosonized ? std::string("model.fock_tol") : fmt::format("mode[{}]", m),
                         fmt::format("no Fock cutoff up to {} keeps the two highest levels below model.fock_tol = {:.3g} "
                                     "(they hold {:.3g}): the mode is not bounded at these parameters; damp it "
                                     "(kappa_down > kappa_up), or set mode[{}].fock_cutoff, or raise model.fock_tol",
                                     cutoffs[m], spec.fock_tol, populations[m], m));
      cutoffs[m] *= 2;
    }
  }
}

TimeSeries simulate_open_system(const RunConfig& config, const SimulateOptions& options, const std::vector<double>& times) {
  // Trajectories estimate the top population with noise: aim a factor 100 lower, as spin_boson.
  const bool jump = config.solver.method == SolverMethod::jump;
  const double target = jump ? 0.01 * config.open_system.fock_tol : config.open_system.fock_tol;
  std::size_t automatic_modes = 0;
  for (const auto& mode : config.open_system.modes) automatic_modes += mode.fock_cutoff == 0 ? 1 : 0;
  nlohmann::json report;
  TimeSeries out = solve_open_system(
      config, config.output.t_end, target,
      [&](const OpenSystemModel& model, const std::vector<long>& cutoffs) {
        check_open_system_memory(config, cutoffs, times.size(), false);
        if (!jump) {
          ProgressBar bar("master equation", 1.0, "", options.progress);
          bar.observe(options.observer);
          MasterOptions opts = master_options(config);
          opts.progress = [&](double f) { bar.update(f); };
          opts.monitor = [&](const std::vector<double>& top) {  // stop early when an automatic cutoff fails
            for (std::size_t m = 0; m < top.size(); ++m)
              if (top[m] > config.open_system.fock_tol && config.open_system.modes[m].fock_cutoff == 0)
                throw TruncationExceeded{m, top[m]};
          };
          return BlockMasterEquation(model).solve(times, opts);
        }
        ProgressBar bar("trajectories", double(config.solver.ntraj), "traj", options.progress);
        bar.observe(options.observer);
        std::vector<long> automatic;
        for (std::size_t m = 0; m < cutoffs.size(); ++m)
          if (config.open_system.modes[m].fock_cutoff == 0) automatic.push_back(cutoffs[m]);
        return run_ensemble(model, times, ensemble_options(config, model, true, bar, options, model_key(automatic)));
      },
      [&](const OpenSystemModel& model, const TimeSeries& out) {
        std::vector<double> top;
        for (const auto& name : model.truncated_modes()) top.push_back(out.info["top_level_population_per_mode"][name].get<double>());
        return top;
      },
      report, resumed_cutoffs(options, automatic_modes));
  out.info["derived"] = report;
  return out;
}

Stationary stationary_open_system(const RunConfig& config) {
  nlohmann::json report;
  std::unique_ptr<OpenSystemModel> kept;
  std::unique_ptr<BlockMasterEquation> me;
  SteadyState ss = solve_open_system(
      config, std::numeric_limits<double>::infinity(), config.open_system.fock_tol,
      [&](const OpenSystemModel& model, const std::vector<long>& cutoffs) {
        check_open_system_memory(config, cutoffs, 0, true);
        kept = std::make_unique<OpenSystemModel>(model);
        me = std::make_unique<BlockMasterEquation>(*kept);
        try {
          return solve_steady_state(*me);
        } catch (const SteadyStateNotUnique& e) {
          throw InputError("system.channel",
                           fmt::format("the stationary state {}: the channels and mode damping do not connect every "
                                       "state, so something is conserved and every mixture of its stationary states "
                                       "is stationary; add dissipation that breaks it ({})",
                                       e.verdict(), e.evidence()));
        }
      },
      [&](const OpenSystemModel& model, const SteadyState& s) { return top_level_populations(model, me->blocks(s.rho)); },
      report);
  const ObservableSet observables(*kept);
  std::vector<double> raw(observables.raw_size()), col(observables.column_count());
  observables.measure(me->blocks(ss.rho), 0.0, raw.data());
  observables.derive(raw.data(), col.data());
  Stationary st;
  st.columns = observables.column_names();
  st.values = col;
  st.info = steady_info(ss, report);
  return st;
}

// --- bosonized and finite_reservoir ---------------------------------------------------------

/// The sidecar's description of F: the common eigenbasis, and every mode with its (k, l),
/// omega_kl, p_k and the coefficients of a and a^+ in each X_q (Eq. (18)).
nlohmann::json fluctuation_reservoir_info(const RunConfig& c) {
  const ReservoirSpec& r = c.reservoir;
  std::vector<CMat> v;
  for (const auto& cp : r.couplings) v.push_back(cp.v);
  const FluctuationReservoir F = fluctuation_reservoir(r.h, r.rho, v);
  auto cnum = [](cplx z) { return nlohmann::json::array({z.real(), z.imag()}); };
  nlohmann::json modes = nlohmann::json::array();
  for (std::size_t i = 0; i < F.modes.size(); ++i) {
    nlohmann::json X = nlohmann::json::array();
    for (std::size_t q = 0; q < F.a.size(); ++q) X.push_back({{"a", cnum(F.a[q][i])}, {"a_dag", cnum(F.a_dag[q][i])}});
    modes.push_back({{"k", F.modes[i].k}, {"l", F.modes[i].l}, {"omega", F.modes[i].omega}, {"p_k", F.modes[i].p_k},
                     {"X", X}});
  }
  nlohmann::json basis = nlohmann::json::array();
  for (Index j = 0; j < F.basis.cols(); ++j) {
    nlohmann::json col = nlohmann::json::array();
    for (Index i = 0; i < F.basis.rows(); ++i) col.push_back(cnum(F.basis(i, j)));
    basis.push_back(col);
  }
  std::vector<double> E(F.energies.data(), F.energies.data() + F.energies.size());
  std::vector<double> p(F.populations.data(), F.populations.data() + F.populations.size());
  return {{"source", "Fantechi & Merkli, PRL 136, 060402 (2026), Eqs. (13)-(18); indices 0-based"},
          {"basis", basis},
          {"energies", E},
          {"populations", p},
          {"modes", modes},
          {"note", "basis[j] = chi_j in the input basis; omega = E_l - E_k; X_q = sum_i a[i] a_i + a_dag[i] a_i^+"}};
}

/// bosonized without channels: S + F is unitary from the vacuum of F, so only the pure components
/// of rho_S are evolved (at most d_S vectors on S (x) Fock instead of a density matrix on it),
/// with the Fock cutoffs chosen and checked as for open_system.
TimeSeries simulate_bosonized_unitary(const RunConfig& config, const SimulateOptions& options,
                                      const std::vector<double>& times) {
  const OpenSystemSpec& spec = config.open_system;
  nlohmann::json report;
  TimeSeries out = solve_open_system(
      config, config.output.t_end, spec.fock_tol,
      [&](const OpenSystemModel& model, const std::vector<long>& cutoffs) {
        const Index d = model.system_dim(), L = model.ladder_size(0), modes = Index(cutoffs.size());
        const Eigen::SelfAdjointEigenSolver<CMat> es(spec.initial, Eigen::EigenvaluesOnly);
        const double rank = double((es.eigenvalues().array() > 1e-14).count());
        // Dopri5 keeps about 10 vectors of the state (y, 7 stages, dense output), plus H.
        require_memory(16.0 * 12.0 * rank * double(d * L) + 16.0 * 8.0 * double(d * L) * double(2 * modes + 1),
                       open_system_key(config, cutoffs),
                       fmt::format("the unitary S + F evolution of {} pure component(s) at {}", rank,
                                   open_system_size(config, cutoffs)),
                       "raise model.fock_tol");
        ProgressBar bar("S + F (unitary)", 1.0, "", options.progress);
        bar.observe(options.observer);
        const ReducedEvolution r = unitary_evolution(model, times, {config.solver.rtol, config.solver.atol},
                                                     [&bar](double f) { bar.update(f); });
        bar.update(1.0);
        TimeSeries ts = reduced_time_series(spec, std::size_t(modes), r, times);
        ts.info = r.info.json();
        ts.info["solver"] = "unitary S + F: pure components of rho_S (Dopri5)";
        std::vector<double> largest(std::size_t(modes), 0.0);
        for (const auto& row : r.env)
          for (std::size_t m = 0; m < std::size_t(modes); ++m) largest[m] = std::max(largest[m], row[std::size_t(modes) + m]);
        ts.info["top_level_population_per_mode"] = largest;
        return ts;
      },
      [&](const OpenSystemModel&, const TimeSeries& ts) {
        return ts.info["top_level_population_per_mode"].get<std::vector<double>>();
      },
      report);
  out.info["derived"] = report;
  return out;
}

TimeSeries simulate_bosonized(const RunConfig& config, const SimulateOptions& options, const std::vector<double>& times) {
  const ReservoirSpec& r = config.reservoir;
  const bool jump = config.solver.method == SolverMethod::jump;
  const bool unitary = config.open_system.channels.empty() && !jump;
  if (r.method == ReservoirMethod::nondemolition) {
    if (jump)
      throw InputError("solver.reservoir_method",
                       "nondemolition is a closed form, not an unravelling: use solver.method = \"master\"");
    require_nondemolition(r);  // names what is not diagonal, or the channel
  }
  const bool closed_form = unitary && r.method != ReservoirMethod::fock && nondemolition_basis(r).has_value();
  TimeSeries out;
  std::string method = "fock", evolution, reason;
  if (closed_form) {
    out = reduced_time_series(config.open_system, config.open_system.modes.size(), bosonized_nondemolition(r, times),
                              times);
    method = "nondemolition";
    evolution = "closed_form";
    reason = "H_S and every G_q are diagonal in one basis and S has no channels: every mode is a displaced "
             "oscillator per eigenstate of S (closed form, no truncation)";
  } else if (unitary) {
    out = simulate_bosonized_unitary(config, options, times);
    evolution = "pure_components";
    reason = "S + F on truncated Fock spaces; S has no channels, so the evolution is unitary from the vacuum of F "
             "and only the pure components of rho_S are evolved";
  } else {
    out = simulate_open_system(config, options, times);
    evolution = jump ? "trajectories" : "master_equation";
    reason = jump ? "S + F on truncated Fock spaces: quantum-jump trajectories (solver.method = \"jump\")"
                  : "S + F on truncated Fock spaces: S has channels, so the master equation on the whole space";
  }
  if (r.method == ReservoirMethod::fock || r.method == ReservoirMethod::nondemolition)
    reason = "set by solver.reservoir_method; " + reason;
  out.info["method"] = method;
  out.info["evolution"] = evolution;
  out.info["method_reason"] = reason;
  out.info["fluctuation_reservoir"] = fluctuation_reservoir_info(config);
  return out;
}

TimeSeries simulate_finite_reservoir(const RunConfig& config, const SimulateOptions& options,
                                     const std::vector<double>& times) {
  ProgressBar bar("finite reservoir", 1.0, "", options.progress);
  bar.observe(options.observer);
  FiniteReservoirOptions opt;
  opt.ode = {config.solver.rtol, config.solver.atol};
  opt.progress = [&bar](double f) { bar.update(f); };  // ProgressBar::update is thread-safe
  const ReducedEvolution r = finite_reservoir_evolution(config.reservoir, times, opt);
  bar.update(1.0);
  TimeSeries out = reduced_time_series(config.reservoir.system, 0, r, times);
  out.info = r.info.json();
  out.info["method"] = r.method;
  out.info["M"] = config.reservoir.M;
  out.info["coupling_factor"] = config.reservoir.coupling_factor();
  return out;
}

}  // namespace

std::unique_ptr<SectorModel> make_model(const RunConfig& c, long fock_cutoff) {
  switch (c.kind) {
    case ModelKind::central_spin:
      if (!c.couplings.empty()) return std::make_unique<FullSpaceCentralSpin>(c.model, c.couplings);
      return std::make_unique<CentralSpinModel>(c.model);
    case ModelKind::spin_boson: return std::make_unique<SpinBosonModel>(c.model, fock_cutoff);
    case ModelKind::mean_field: return std::make_unique<MeanFieldModel>(c.model);
    case ModelKind::open_system:
    case ModelKind::bosonized:
      return std::make_unique<OpenSystemModel>(c.open_system,
                                               estimate_fock_cutoffs(c.open_system, c.output.t_end, c.open_system.fock_tol));
    case ModelKind::finite_reservoir:
      throw InputError("model.kind", "finite_reservoir is not a sector model: it is solved by the exact methods of "
                                     "model/finite_reservoir.hpp");
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
  if (config.kind == ModelKind::open_system) return simulate_open_system(config, options, times);
  if (config.kind == ModelKind::bosonized) return simulate_bosonized(config, options, times);
  if (config.kind == ModelKind::finite_reservoir) return simulate_finite_reservoir(config, options, times);
  // Fock cutoff: fixed, or estimated without a solve (spin_boson_cutoff_estimate, aiming a factor
  // 100 lower for trajectory ensembles, whose estimate of the top population is itself noisy),
  // then verified on the run's own top-level population: an automatic cutoff that fails is
  // doubled and the run repeated. The initial state is thermal, so the t = 0 value of the top
  // population is known before any solve: cutoffs it excludes are refused or skipped.
  long cutoff = config.fock_cutoff, estimate = 0;
  if (config.kind == ModelKind::spin_boson) {
    make_model(config, 1);  // validates the parameters before anything is derived from them
    const double target = config.solver.method == SolverMethod::jump ? 0.01 * config.fock_tol : config.fock_tol;
    const double nbar = SpinBosonRates::from(config.model).nbar;
    const long first = fock_cutoff_start(
        config, [&](long c) { return thermal_top_population(nbar, c); },
        [&](double t, long cap) { return long(smallest_thermal_cutoff(nbar, t, cap)); }, target,
        "in the initial thermal state");
    estimate = spin_boson_cutoff_estimate(config, config.output.t_end, target);
    if (cutoff == 0) cutoff = std::max(first, estimate);
    // A resumed ensemble starts at the cutoff its state was made with (reached by doubling).
    if (const auto resumed = resumed_cutoffs(options, 1); !resumed.empty() && config.fock_cutoff == 0) cutoff = resumed[0];
  }
  TimeSeries out;
  double top = 0.0;
  const bool automatic = config.kind == ModelKind::spin_boson && config.fock_cutoff == 0;
  for (int attempt = 0;; ++attempt) {
    if (pruned_master(config)) {}  // checked per support, below
    else if (config.solver.method == SolverMethod::master) check_master_memory(config, cutoff, times.size());
    else check_jump_memory(config, cutoff, times.size());
    const auto model = make_model(config, cutoff);
    switch (config.solver.method) {
      case SolverMethod::master: {
        ProgressBar bar("master equation", 1.0, "", options.progress);
        bar.observe(options.observer);
        MasterOptions opts = master_options(config);
        opts.progress = [&](double f) { bar.update(f); };
        if (automatic) opts.monitor = [&](const std::vector<double>& top) {
          if (top[0] > config.fock_tol) throw TruncationExceeded{0, top[0]};
        };
        try {
          if (pruned_master(config)) {
            PruneOptions prune;
            prune.tol = config.solver.prune_tol;
            prune.check_memory = [&](double bytes) {
              require_memory(bytes, "model.N",
                             fmt::format("the pruned master equation at N = {} ({:.3g} unknowns kept)", config.model.N,
                                         bytes / pruned_master_bytes(1.0)),
                             "use trajectories (solver.method = \"jump\"); a larger solver.prune_tol keeps a little less");
            };
            out = solve_pruned(*model, times, opts, prune);
          } else {
            out = BlockMasterEquation(*model).solve(times, opts);
          }
        } catch (const TruncationExceeded& e) {  // seen early: double without finishing the run
          if (attempt == max_cutoff_retries || 2 * cutoff > largest_cutoff) check_truncation(config, cutoff, e.population);
          cutoff *= 2;
          continue;
        }
        break;
      }
      case SolverMethod::jump: {
        ProgressBar bar("trajectories", double(config.solver.ntraj), "traj", options.progress);
        bar.observe(options.observer);
        out = run_ensemble(*model, times, ensemble_options(config, *model, config.solver.full_sectors, bar, options,
                                                           model_key(automatic ? std::vector<long>{cutoff} : std::vector<long>{})));
        break;
      }
    }
    if (!model->ladder_truncated()) break;
    top = out.info["largest_top_rung_population"].get<double>();
    if (top <= config.fock_tol || config.fock_cutoff > 0 || attempt == max_cutoff_retries || 2 * cutoff > largest_cutoff) {
      check_truncation(config, cutoff, top);
      out.info["cutoff_retries"] = attempt;
      break;
    }
    cutoff *= 2;
  }
  out.info["derived"] = model_info(config, cutoff, top);
  if (config.kind == ModelKind::spin_boson) {
    out.info["derived"]["fock_cutoff_estimate"] = estimate;
    out.info["derived"]["fock_cutoff_retries"] = out.info.json().value("cutoff_retries", 0);
    out.info.json().erase("cutoff_retries");
  }
  return out;
}

Stationary stationary(const RunConfig& config) {
  if (config.kind == ModelKind::open_system) return stationary_open_system(config);
  if (config.kind == ModelKind::bosonized || config.kind == ModelKind::finite_reservoir)
    throw InputError("model.kind", fmt::format("{} describes a Hamiltonian coupling to an undamped reservoir: the "
                                               "reduced dynamics is quasi-periodic, with no stationary state in the "
                                               "sense of qfluct steady; use qfluct run",
                                               to_string(config.kind)));
  if (config.kind == ModelKind::mean_field)
    throw InputError("model.kind", "the mean_field model is time-dependent (driven by m(t)): it has no stationary "
                                   "state in this sense; run it to long times instead");
  if (config.kind == ModelKind::central_spin && block_entries(config.model.N) > 4e5)
    throw InputError("model.N", fmt::format("the stationary block master equation at N = {} has {:.3g} unknowns, too many "
                                            "for the sparse direct solver here (<= 4e5, N <= 80); integrate to long "
                                            "times with qfluct run instead",
                                            config.model.N, block_entries(config.model.N)));
  if (full_space(config))
    throw InputError("model.couplings", "steady solves the Dicke-sector and spin_boson models: inhomogeneous couplings "
                                        "need the full 2^(N+1) space, whose Liouvillian it does not assemble; integrate "
                                        "to long times with qfluct run instead");
  const std::string key = size_key(config);
  const MemoryLimit limit = usable_memory();
  const bool dicke = config.kind == ModelKind::central_spin && !full_space(config) && config.model.N >= 2;
  // Before building anything: refuse at once when even the generator is a sizeable part of the
  // limit and the fill estimate for one coupled block exceeds it. Smaller generators are built
  // and the solver checks the estimate refined by their structure (blocks that decouple fill
  // less) before factorising.
  auto check_size = [&](long cutoff) {
    const double n = density_entries(config, cutoff);
    if (steady_state_memory(n, dicke) > limit.bytes && steady_state_generator_memory(n) > 0.1 * limit.bytes)
      require_memory(steady_state_memory(n, dicke), key,
                     fmt::format("the stationary sparse LU ({:.3g} unknowns) at {}", n, size_name(config, cutoff)),
                     config.kind == ModelKind::spin_boson ? boson_hint(config)
                                                          : "integrate to long times with qfluct run instead",
                     limit);
  };
  std::unique_ptr<SectorModel> model;
  std::unique_ptr<BlockMasterEquation> me;
  SteadyState ss;
  double top = 0.0;
  auto solve = [&](long cutoff) {
    model = make_model(config, cutoff);
    me = std::make_unique<BlockMasterEquation>(*model);
    SteadyOptions options;
    options.check_memory = [&](double bytes) {
      require_memory(bytes, key, fmt::format("the stationary sparse LU at {}", size_name(config, cutoff)),
                     config.kind == ModelKind::spin_boson ? boson_hint(config) : "", limit);
    };
    try {
      ss = solve_steady_state(*me, options);
    } catch (const SteadyStateNotUnique& e) {
      const auto [cause_key, cause] = conserved_quantity(config);
      if (cause.empty()) throw InputError(cause_key, e.what());
      throw InputError(cause_key, fmt::format("the stationary state {}: {} ({})", e.verdict(), cause, e.evidence()));
    }
    top = model->ladder_truncated() ? top_rung_population(*model, me->blocks(ss.rho)) : 0.0;
    return top;
  };
  long cutoff = config.fock_cutoff, estimate = 0;
  if (config.kind == ModelKind::spin_boson) {
    make_model(config, 1);  // validates the parameters before anything is derived from them
    const SpinBosonRates rates = SpinBosonRates::from(config.model);
    const long first = fock_cutoff_start(
        config, [&](long c) { return stationary_top_population_bound(rates, c); },
        [&](double t, long cap) { return long(smallest_stationary_cutoff(rates, t, cap)); }, config.fock_tol,
        "in the stationary state");
    estimate = spin_boson_cutoff_estimate(config, std::numeric_limits<double>::infinity(), config.fock_tol);
    if (cutoff == 0) {
      cutoff = std::max(first, estimate);
      for (int attempt = 0;; ++attempt, cutoff *= 2) {  // verify the estimate; double when it fails
        check_size(cutoff);
        if (solve(cutoff) <= config.fock_tol || attempt == max_cutoff_retries || 2 * cutoff > largest_cutoff) break;
      }
    } else {
      check_size(cutoff), solve(cutoff);
    }
  } else {
    check_size(cutoff);
    solve(cutoff);
  }
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
  st.info = steady_info(ss, model_info(config, cutoff, top));
  if (config.kind == ModelKind::spin_boson) st.info["derived"]["fock_cutoff_estimate"] = estimate;
  return st;
}

}  // namespace qfluct
