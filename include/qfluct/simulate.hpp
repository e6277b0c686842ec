#pragma once
/// One call from a validated configuration to results: builds the model the config names, runs
/// the solver it names, and returns the results with the solver's diagnostics. The
/// command-line program is a thin layer over these.
#include "qfluct/io/config.hpp"
#include "qfluct/io/progress.hpp"
#include "qfluct/model/sector_model.hpp"
#include "qfluct/solver/ensemble_state.hpp"
#include "qfluct/solver/ranks.hpp"
#include "qfluct/solver/time_series.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <memory>
#include <string>

namespace qfluct {

struct SimulateOptions {
  bool progress = false;  ///< report progress on stderr (io/progress.hpp: a bar, or a line a minute in)
  /// Hears the run's progress besides the bar (progress on or off): (stage label, done, total) on
  /// every update, from the thread that reports it, OpenMP workers included, so it must be
  /// thread-safe and quick. It may throw to stop the run (the Python module's interruption):
  /// every place that reports progress carries the exception out of simulate (from a worker,
  /// once its parallel region has ended). Between two reports lies one output time of an
  /// integration, one trajectory of an ensemble, one sector of a finite reservoir.
  ProgressObserver observer;
  /// Receives notes found once the model is built (e.g. channels solver.unravelling = "homodyne"
  /// leaves jumping), before the run starts; may be empty.
  std::function<void(const std::string&)> note;
  /// The processes a trajectory ensemble (solver.method = "jump") is split over (MPI ranks,
  /// solver/ranks.hpp), every rank calling simulate alike; the results are those of one process
  /// (bit for bit), on every rank. Null: this process alone. Other solvers ignore it.
  const Ranks* ranks = nullptr;

  /// Trajectory ensembles (ignored by other solvers), solver/ensemble.hpp:
  /// continue from this state instead of from nothing (a checkpoint of the same configuration,
  /// ntraj aside). `resume_model` is what `checkpoint` reported with it: the Fock cutoffs the
  /// state was made with, where they are chosen automatically (the run starts there).
  const EnsembleState* resume = nullptr;
  nlohmann::json resume_model;
  /// Run only part `part` (0-based) of `parts` of the plan.
  int part = 0;
  int parts = 1;
  /// Receives the ensemble state after each chunk of groups (`last` false) and at the end
  /// (`last` true), with the model it belongs to ({"fock_cutoffs": [...]}, or an empty object);
  /// called on every rank.
  std::function<void(const EnsembleState&, const nlohmann::json& model, bool last)> checkpoint;
  /// Target wall time of a chunk of groups between two merges (seconds).
  double chunk_seconds = 1.0;
};

/// Time evolution on the grid output.dt .. output.t_end. info["derived"] holds the model's
/// derived quantities (g, eps, spin_boson rates, the Fock cutoff used, ...).
TimeSeries simulate(const RunConfig& config, const SimulateOptions& options = {});

/// The stationary state (L rho = 0) and its observables.
struct Stationary {
  std::vector<std::string> columns;  ///< tau_x, tau_y, tau_z, n, q, Q2, Q4, nongauss, Q2sq3
  std::vector<double> values;
  Diagnostics info;                  ///< residual, trace error, unknowns, cutoff, ...
};
Stationary stationary(const RunConfig& config);

/// The model a configuration describes (spin_boson: with the given Fock cutoff).
std::unique_ptr<SectorModel> make_model(const RunConfig& config, long fock_cutoff);

/// Derived quantities of the central-spin parameters (g, eps, nbar, ...).
nlohmann::json derived_quantities(const RunConfig& config);

}  // namespace qfluct
