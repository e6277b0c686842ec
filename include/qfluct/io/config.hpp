#pragma once
/// Run configuration: a TOML file plus --set KEY=VALUE overrides, checked against a schema
/// (unknown keys, wrong types and bad values are InputErrors naming the key).
///
///   [model]   kind ("central_spin" | "spin_boson" | "mean_field" | "open_system"), N, coupling, g0,
///             w, h, gamma_up, gamma_down, Gamma_up, Gamma_down, Gamma_phi; for spin_boson:
///             fock_cutoff, fock_tol; for open_system: fock_tol; for central_spin: couplings
///             ([c_1, ..., c_N] or "uniform" | "gaussian" | "exponential"), couplings_seed
///             (inhomogeneous couplings, full tensor-product space)
///   [initial] central ("up" | "down" | [x,y,z]), bath ("steady" | [x,y,z])
///   [solver]  method ("master" | "jump"), rtol, atol; for "jump": ntraj, seed, tol, window
///             ("adaptive" | "full"), window_tol, jump_tol, and the unravelling of each channel:
///             unravelling ("jump" | "homodyne" for every channel that can be, or a table
///             [solver.unravelling] CHANNEL = "jump" | "homodyne"), homodyne_phase (radians, or
///             a table CHANNEL = phase), dt_sde (> 0; default 1e-3 / max(1, largest homodyne rate)),
///             levy_areas (true)
///   [output]  t_end, dt, fluctuations, records (jump: the first K trajectories' measurement
///             records, OUT.records.csv); for open_system: entanglement, [[output.observable]]
///
/// model.kind = "open_system" (the system S with bosonic modes, see OpenSystemSpec) reads
///   [system]             H (d x d Hermitian, 1 <= d <= 64), initial (d x d density matrix or a
///                        state vector of length d); [[system.channel]] L (d x d), rate (>= 0), name
///   [[mode]]             omega, kappa_down, kappa_up, nbar (>= 0; default 0), fock_cutoff (>= 1;
///                        absent: automatic)
///   [[coupling]]         G (d x d), a, a_dag (one complex coefficient per mode; default zeros)
///   [[output.observable]] name, O (d x d Hermitian); output.entanglement (d = 4 only)
/// model.kind = "bosonized" (S + the fluctuation reservoir F, Fantechi & Merkli Eqs. (15)-(19))
/// and "finite_reservoir" (S + M components, exact) read [system] as open_system and
///   [reservoir]          h (d_R x d_R Hermitian), rho (d_R x d_R density matrix, [h, rho] = 0),
///                        M (finite_reservoir: >= 1), scaling ("sqrt" | "linear"; finite_reservoir)
///   [[reservoir.coupling]] G (d_S x d_S), v (d_R x d_R, tr(rho v) = 0)
///   solver.reservoir_method: "auto" | "fock" | "nondemolition" (bosonized); "auto" | "full" |
///                        "symmetric" | "dicke" | "nondemolition" (finite_reservoir)
/// Matrices: see io/matrix_input.hpp (nested arrays with [re, im] entries, or expressions such as
/// "0.5*sigma_z(x)1"). The central-spin keys ([model] N, g0, ..., [initial]) and
/// output.fluctuations, solver.window and solver.window_tol get a note with open_system; the
/// open_system tables get a note with the other kinds.
#include "qfluct/model/central_spin_parameters.hpp"
#include "qfluct/model/open_system_spec.hpp"
#include "qfluct/model/reservoir_spec.hpp"

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace qfluct {

enum class ModelKind { central_spin, spin_boson, mean_field, open_system, bosonized, finite_reservoir };
enum class SolverMethod { master, jump };
/// The command a configuration is read for. `steady` solves L rho = 0 directly (sparse LU): the
/// [solver] section does not apply (each key set gets a note, the solver settings are left at
/// their defaults) and the sidecar records no solver section.
enum class Command { run, steady };

/// solver.group_size is at most this (a group is run by one thread from start to end).
inline constexpr long max_group_size = 1'000'000;

struct SolverConfig {
  SolverMethod method = SolverMethod::master;
  /// master equation: "auto" (Chebyshev when stiff), "dopri5", "rosenbrock" or "chebyshev"
  /// (MasterIntegrator)
  std::string integrator = "auto";
  /// master equation, central_spin: the weight the pruned block master equation may discard
  /// (solver/pruned_master_equation.hpp), in [0, 1e-3); 0 = every sector and rung kept.
  double prune_tol = 1e-12;
  double rtol = 1e-9;    ///< master equation: relative tolerance, in [1e-15, 0.1)
  double atol = 1e-11;   ///< master equation: absolute tolerance, in [1e-30, 1e-3) and 2 atol D < 3e-2
  long ntraj = 1000;     ///< jump: trajectories (the cap when tol is set)
  std::uint64_t seed = 1;
  double tol = 0.0;      ///< jump: stop once every standard error is below this (0 = off)
  /// jump: trajectories per group, the unit of work, of checkpoints and of the jackknife blocks
  /// (solver/ensemble.hpp); part of the plan, so results depend on it (not on ntraj or threads).
  long group_size = 1;
  bool full_sectors = false;   ///< jump: window = "full" instead of "adaptive"
  double window_tol = 1e-12;   ///< jump: edge population that grows the window, in (0, 1e-2)
                               ///< ((0, 1e-6) and a bias estimate for a Bloch-vector bath)
  double jump_tol = 1e-12;     ///< jump: accuracy of the located jump times (in log-norm), in (0, 1e-2)
  /// jump: "jump" or "homodyne" for every channel (solver.unravelling as a string; homodyne
  /// leaves the sector-changing channels jumping, with a note), and per-channel choices
  /// ([solver.unravelling] table; channels not named jump). Names are checked against the model.
  std::string unravelling = "jump";
  std::map<std::string, std::string> unravelling_per_channel;
  double homodyne_phase = 0.0;                            ///< local-oscillator phase (radians)
  std::map<std::string, double> homodyne_phase_per_channel;  ///< [solver.homodyne_phase] table
  double dt_sde = 0.0;  ///< longest step of the diffusive part; 0 = automatic
  /// Draw the Levy areas of non-commuting homodyne noises (strong order 1); false: strong order
  /// 1/2, weak order 1, fewer random numbers per step.
  bool levy_areas = true;
  /// Whether any channel may be homodyne (the names are resolved against the model later).
  bool any_homodyne() const;
};

struct OutputConfig {
  double t_end = 4.0;
  double dt = 0.05;
  long records = 0;  ///< jump: measurement records of the first `records` trajectories (OUT.records.csv)
};

struct RunConfig {
  ModelKind kind = ModelKind::central_spin;
  CentralSpinParameters model;
  long fock_cutoff = 0;      ///< spin_boson: highest Fock number kept; 0 = choose automatically
  double fock_tol = 1e-10;   ///< spin_boson: bound on the population of the top two Fock levels, in (0, 1e-5)
  /// For stderr: keys that were set but do not apply to this run, and accuracy settings that are
  /// legal but loose enough to bias the results (each names its key).
  std::vector<std::string> notes;
  /// central_spin with inhomogeneous couplings c_k (empty: homogeneous, Dicke sectors). A named
  /// distribution is drawn with couplings_seed and normalised to sum c_k^2 / N = 1.
  std::vector<double> couplings;
  std::string couplings_source;    ///< "array", "uniform", "gaussian", "exponential" (or empty)
  std::uint64_t couplings_seed = 1;
  /// open_system: the system, its modes and couplings, the named observables (fock_tol is
  /// model.fock_tol, as above).
  OpenSystemSpec open_system;
  /// bosonized and finite_reservoir: S, one reservoir component, the couplings, M, the scaling
  /// and solver.reservoir_method. For bosonized, open_system holds S + F (bosonized_spec with
  /// S's channels, observables and entanglement), which the open-system solvers run.
  ReservoirSpec reservoir;
  SolverConfig solver;
  OutputConfig output;
  Command command = Command::run;

  /// Every parameter after defaults, as written to the JSON sidecar (open_system: matrices as
  /// nested arrays with complex entries [re, im], expressions as their matrices; a steady
  /// command's config has no "solver"). parse_config(parameters_table(to_json())) gives this
  /// config back exactly.
  nlohmann::json to_json() const;
};

/// Reads CONFIG (read_config_file in io/config_file.hpp: TOML, or the JSON sidecar of an earlier
/// run), applies the overrides ("KEY=VALUE", as --set) in order, and validates. The TOML-level
/// functions (tables, overrides, sidecars as configs) are in io/config_file.hpp, so that this
/// header, and simulate.hpp, do not bring toml++ or the JSON library to their users.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides,
                      Command command = Command::run);

/// Couplings c_k drawn from a named distribution ("uniform" on [0, 1], "gaussian" N(0, 1),
/// "exponential" Exp(1)) with its own random stream, normalised so that sum c_k^2 / N = 1.
std::vector<double> random_couplings(const std::string& distribution, int N, std::uint64_t seed);

std::string to_string(ModelKind k);
std::string to_string(SolverMethod m);

}  // namespace qfluct
