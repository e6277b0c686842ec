#include "qfluct/io/config_file.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/core/random.hpp"
#include "qfluct/io/matrix_input.hpp"
#include "qfluct/model/fluctuation_reservoir.hpp"

#include <nlohmann/json.hpp>
#include <boost/random/exponential_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <regex>
#include <set>

namespace qfluct {

std::string to_string(ModelKind k) {
  switch (k) {
    case ModelKind::central_spin: return "central_spin";
    case ModelKind::spin_boson: return "spin_boson";
    case ModelKind::mean_field: return "mean_field";
    case ModelKind::open_system: return "open_system";
    case ModelKind::bosonized: return "bosonized";
    case ModelKind::finite_reservoir: return "finite_reservoir";
  }
  return "?";
}

bool SolverConfig::any_homodyne() const {
  if (unravelling_per_channel.empty()) return unravelling == "homodyne";
  for (const auto& [name, how] : unravelling_per_channel)
    if (how == "homodyne") return true;
  return false;
}

std::string to_string(SolverMethod m) {
  switch (m) {
    case SolverMethod::master: return "master";
    case SolverMethod::jump: return "jump";
  }
  return "?";
}

namespace {

/// Every key qfluct understands, by section.
const std::map<std::string, std::set<std::string>>& schema() {
  static const std::map<std::string, std::set<std::string>> keys = {
      {"model",
       {"kind", "N", "coupling", "g0", "w", "h", "gamma_up", "gamma_down", "Gamma_up", "Gamma_down", "Gamma_phi",
        "fock_cutoff", "fock_tol", "couplings", "couplings_seed"}},
      {"initial", {"central", "bath"}},
      {"solver",
       {"method", "integrator", "prune_tol", "rtol", "atol", "ntraj", "seed", "tol", "group_size", "window", "window_tol", "jump_tol", "reservoir_method",
        "unravelling", "homodyne_phase", "dt_sde", "levy_areas"}},
      {"output", {"t_end", "dt", "fluctuations", "entanglement", "observable", "records"}},
      {"system", {"H", "initial", "channel"}},
      {"reservoir", {"h", "rho", "M", "scaling", "coupling"}},
  };
  return keys;
}

/// Arrays of tables ([[mode]], [[system.channel]], ...): their paths and the keys of an element.
const std::map<std::string, std::set<std::string>>& array_schema() {
  static const std::map<std::string, std::set<std::string>> keys = {
      {"mode", {"omega", "kappa_down", "kappa_up", "nbar", "fock_cutoff"}},
      {"coupling", {"G", "a", "a_dag"}},
      {"system.channel", {"L", "rate", "name"}},
      {"output.observable", {"name", "O"}},
      {"reservoir.coupling", {"G", "v"}},
  };
  return keys;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 3;  // suggest only close matches
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best.empty() ? "" : fmt::format(" (did you mean {}?)", best);
}

/// `node` at `path` must be an array of tables whose elements hold only the keys array_schema gives.
void check_array_of_tables(const toml::node& node, const std::string& path) {
  const auto* a = node.as_array();
  bool tables = a != nullptr;
  if (a)
    for (const auto& e : *a) tables = tables && e.is_table();
  if (!tables) throw InputError(path, fmt::format("must be an array of tables ([[{}]], one per entry)", path));
  const auto& keys = array_schema().at(path);
  for (std::size_t i = 0; i < a->size(); ++i) {
    const std::string prefix = fmt::format("{}[{}].", path, i);
    for (const auto& [key, value] : *a->get(i)->as_table()) {
      if (keys.count(std::string(key.str()))) continue;
      std::vector<std::string> candidates;
      std::string list;
      for (const auto& k : keys) candidates.push_back(prefix + k), list += (list.empty() ? "" : ", ") + k;
      const std::string full = prefix + std::string(key.str());
      throw InputError(full, "unknown key" + suggestion(full, candidates) + "; the keys of [[" + path + "]] are " + list);
    }
  }
}

void check_known_keys(const toml::table& table) {
  std::vector<std::string> all;
  for (const auto& [section, keys] : schema())
    for (const auto& k : keys) all.push_back(section + "." + k);
  for (const auto& [name, node] : table) {
    const std::string section(name.str());
    if (array_schema().count(section)) {
      check_array_of_tables(node, section);
      continue;
    }
    const auto it = schema().find(section);
    if (it == schema().end()) {
      std::vector<std::string> sections;
      for (const auto& s : schema()) sections.push_back(s.first);
      for (const auto& s : array_schema())
        if (s.first.find('.') == std::string::npos) sections.push_back(s.first);
      throw InputError(section, "unknown section" + suggestion(section, sections) +
                                    "; sections are [model], [initial], [solver], [output], [system], [[mode]], "
                                    "[[coupling]], [reservoir]");
    }
    if (!node.is_table()) throw InputError(section, "must be a table ([" + section + "])");
    for (const auto& [key, value] : *node.as_table()) {
      const std::string full = section + "." + std::string(key.str());
      if (array_schema().count(full)) check_array_of_tables(value, full);
      else if (!it->second.count(std::string(key.str()))) throw InputError(full, "unknown key" + suggestion(full, all));
    }
  }
}

const toml::node* find(const toml::table& t, const std::string& section, const std::string& key) {
  const auto* s = t.get_as<toml::table>(section);
  return s ? s->get(key) : nullptr;
}


double get_double(const toml::table& t, const std::string& section, const std::string& key, double fallback) {
  const toml::node* n = find(t, section, key);
  if (!n) return fallback;
  if (auto v = n->value_exact<double>()) return *v;
  if (auto v = n->value_exact<int64_t>()) return double(*v);
  throw InputError(section + "." + key, "expected a number, got " + toml_type_name(*n));
}

long long get_integer(const toml::table& t, const std::string& section, const std::string& key, long long fallback) {
  const toml::node* n = find(t, section, key);
  if (!n) return fallback;
  if (auto v = n->value_exact<int64_t>()) return *v;
  if (auto v = n->value_exact<double>(); v && std::isfinite(*v) && *v == std::floor(*v) && std::abs(*v) < 9e15)
    return (long long)*v;
  throw InputError(section + "." + key, "expected an integer, got " + toml_type_name(*n));
}

bool get_bool(const toml::table& t, const std::string& section, const std::string& key, bool fallback) {
  const toml::node* n = find(t, section, key);
  if (!n) return fallback;
  if (auto v = n->value_exact<bool>()) return *v;
  throw InputError(section + "." + key, "expected true or false, got " + toml_type_name(*n));
}

std::string get_choice(const toml::table& t, const std::string& section, const std::string& key,
                       const std::string& fallback, const std::vector<std::string>& choices) {
  const toml::node* n = find(t, section, key);
  if (!n) return fallback;
  const auto v = n->value_exact<std::string>();
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "\"" : ", \"") + c + "\"";
  if (!v) throw InputError(section + "." + key, "expected one of " + list + ", got " + toml_type_name(*n));
  if (std::find(choices.begin(), choices.end(), *v) == choices.end())
    throw InputError(section + "." + key, fmt::format("unknown value \"{}\"; expected one of {}", *v, list));
  return *v;
}

Vec3 as_vec3(const toml::node& n, const std::string& key) {
  const auto* a = n.as_array();
  if (!a || a->size() != 3) throw InputError(key, "expected an array of three numbers [x, y, z]");
  Vec3 v{};
  for (std::size_t i = 0; i < 3; ++i) {
    const toml::node& e = *a->get(i);
    if (auto d = e.value_exact<double>()) v[i] = *d;
    else if (auto k = e.value_exact<int64_t>()) v[i] = double(*k);
    else throw InputError(key, fmt::format("entry {} must be a number, got {}", i, toml_type_name(e)));
  }
  return v;
}

Vec3 get_vec3(const toml::table& t, const std::string& section, const std::string& key, Vec3 fallback) {
  const toml::node* n = find(t, section, key);
  return n ? as_vec3(*n, section + "." + key) : fallback;
}

/// The default of an array-valued key, for an element override of a key not set (model.w[0]):
/// taken from the member initialisers of CentralSpinParameters, the one source of the defaults.
std::optional<toml::array> array_default(const std::string& key) {
  const CentralSpinParameters defaults;
  auto array = [](const Vec3& v) { return toml::array{v[0], v[1], v[2]}; };
  if (key == "model.w") return array(defaults.w);
  if (key == "model.h") return array(defaults.h);
  return std::nullopt;
}

/// Keys whose default is not an array (for the message when an element of one is set).
std::optional<std::string> scalar_default(const std::string& key) {
  if (key == "initial.central") return "defaults to \"up\"";
  if (key == "initial.bath") return "defaults to \"steady\"";
  if (key == "model.couplings") return "is absent by default (homogeneous couplings)";
  return std::nullopt;
}

void require_positive(const std::string& key, double x) {
  if (!std::isfinite(x) || !(x > 0)) throw InputError(key, fmt::format("must be a finite number > 0, got {}", x));
}

/// Accuracy settings (issue 10, item 4). Each has a range outside which it cannot give a right
/// answer (InputError naming the key and the range) and a looser-than threshold above which it is
/// legal but can bias (a note). One yardstick for all, from measurements: refused where the error
/// reaches about one standard error of a 1000-trajectory ensemble (~3e-2 on O(1) columns), noted
/// where it can exceed a tenth of one at 1e6 trajectories (~1e-4).
struct Accuracy {
  const char* key;
  double lo;        ///< smallest allowed value (lo = 0: any value > 0)
  double hi;        ///< values >= hi are refused
  double loose;     ///< values > loose get a note (atol: see check_accuracy)
  const char* why;  ///< what a loose value does, as measured
  const char* why_low = "";  ///< why values below lo are refused
};

// solver.rtol: the ME's error is 0.2-0.8 rtol (N = 10, 40 against rtol = 1e-13: 1e-4 -> 5.5e-5,
// 1e-2 -> 1.9e-3, 0.1 -> 1.5e-2, 0.5 -> 3.6, 1 -> unphysical tau_z = 9e14). Below 1e-15 the error
// stays at its rounding floor (2e-13) while the steps grow (1e-14: 4577, 1e-17: 12029).
constexpr Accuracy rtol_range{"solver.rtol", 1e-15, 0.1, 1e-4,
                              "the master equation's error is up to about rtol (measured 0.2-0.8 rtol)",
                              "below it rounding sets the error (2e-13) and only the step count grows"};
// solver.atol: the ME's error is about 2 atol D, D the dimension of the density matrix (measured
// at N = 1, 2, 10, 40, 100: 2.3, 1.6, 1.4, 1.6, 1.6 atol D in the worst column). At 1e-3 it is
// wrong by 1.4e-2 even at N = 1. Below 1e-30 nothing is gained and steps grow (1e-150: 6x;
// at 1e-160 the scaled error norm underflows and the run never ends).
constexpr Accuracy atol_range{"solver.atol", 1e-30, 1e-3, 1e-4,
                              "the master equation's error is about 2 atol D with D the density-matrix dimension",
                              "below it nothing is gained and the step count grows without bound"};
// solver.jump_tol: jump times off by up to jump_tol in log-norm bias the ensemble, the bias
// growing linearly (N = 3, 1e5 trajectories against jump_tol = 1e-12 with the same seed: 1e-4 ->
// 0.15, 1e-3 -> 0.56, 1e-2 -> 5.8, 0.1 -> 52, 1 -> 580 standard errors; no speed gain at all).
constexpr Accuracy jump_tol_range{"solver.jump_tol", 0.0, 1e-2, 1e-5,
                                  "jump times are off by up to jump_tol in log-norm, a bias linear in jump_tol "
                                  "(measured at N = 3: 0.56 standard errors at 1e-3 with 1e5 trajectories)"};
// solver.window_tol, steady bath (spin_boson's Fock windows too): rungs dropped at the window's
// edges barely matter (same seed against 1e-12, N = 40, 1e5 trajectories: 5e-3 -> 0.04 standard
// errors, with a transverse field h = [0.5,0,0]: 1e-4 -> 0.03, 1e-3 -> 0.12; N = 200, 2e4
// trajectories: 5e-3 -> 0.08; spin_boson, 1e5: 1e-3 -> 2e-4), while runs get 1.5-2x faster.
constexpr Accuracy window_tol_range{"solver.window_tol", 0.0, 1e-2, 1e-4,
                                    "edge rungs below window_tol are dropped (measured with the steady bath and a "
                                    "transverse field h: 0.12 standard errors at 1e-3 with 1e5 trajectories)"};
// With a Bloch-vector bath the same drops bias Q2, Q4, nongauss steeply: by about
// 4.4 window_tol N^2.44 sqrt(ntraj) standard errors (bath [1,0,0], same seed against a tighter
// window_tol: N = 40, 1e5 trajectories: 1e-8 -> 0.15, 1e-6 -> 10, 1e-5 -> 63, 1e-4 -> 1300;
// N = 200, 2e4: 1e-10 -> 0.024, 1e-8 -> 2.2, 1e-7 -> 25, 1e-6 -> 457; fitted on those and
// checked at N = 1000, 1e4: predicted 0.009, 0.9, 9 at 1e-12, 1e-10, 1e-9, measured 0.0086,
// 0.88, 9.1). A mixed bath [0.6,0,0] is less sensitive (N = 40: 1e-4 -> 3.5, 1e-3 -> 46).
constexpr Accuracy window_tol_polarised{"solver.window_tol", 0.0, 1e-6, 0.0,
                                        "with a Bloch-vector bath, edge rungs below window_tol are dropped, which "
                                        "biases Q2, Q4, nongauss by about 4.4 window_tol N^2.44 sqrt(ntraj) standard "
                                        "errors (fitted at N = 40, 200, 1000)"};
/// That estimate, in standard errors, for this run's N and ntraj.
double polarised_window_bias(const RunConfig& c, double window_tol) {
  return 4.4 * window_tol * std::pow(double(c.model.N), 2.44) * std::sqrt(double(c.solver.ntraj));
}
// model.fock_tol: the truncated boson's error in Q4, nongauss is up to 3e4 times the top-level
// population (spin_boson at nbar = 0.25, 1, 4, fixed cutoffs against cutoff 200; nbar = 4: top
// 2.8e-10 -> 9e-6, 3.6e-7 -> 5e-3, 1.3e-5 -> 0.075 in nongauss, 4.5e-4 -> 1.0; tau, n far less).
constexpr Accuracy fock_tol_range{"model.fock_tol", 0.0, 1e-5, 1e-9,
                                  "Q4 and nongauss are off by up to 3e4 times the population of the top Fock levels"};
// The same range for the kinds that report rho_S and n_i (open_system, bosonized), whose
// columns move by about the population of the top levels, not 3e4 times it.
constexpr Accuracy fock_tol_range_rho{"model.fock_tol", 0.0, 1e-5, 1e-9,
                                      "rho_S and n_i are off by about the population of the top Fock levels (times the "
                                      "cutoff for n_i)"};

std::string range_text(const Accuracy& a) {
  return a.lo > 0 ? fmt::format("[{:g}, {:g})", a.lo, a.hi) : fmt::format("(0, {:g})", a.hi);
}

void require_range(const Accuracy& a, double x) {
  if (!std::isfinite(x) || !(x > 0) || x < a.lo || x >= a.hi)
    throw InputError(a.key, fmt::format("must be in {}, got {:g}{}", range_text(a), x,
                                        x >= a.hi ? fmt::format("; above it {}", a.why)
                                        : x > 0 && x < a.lo ? fmt::format("; {}", a.why_low) : ""));
}

void note_loose(RunConfig& c, const Accuracy& a, double x, bool applies) {
  if (applies && x > a.loose)
    c.notes.push_back(fmt::format("{} = {:g} is loose enough to bias the results: {}; use <= {:g}", a.key, x, a.why,
                                  a.loose));
}

/// Dimension of the master equation's density matrix (the sum of its block sizes); for an
/// automatic Fock cutoff the first one tried for spin_boson (16).
double density_dimension(const RunConfig& c) {
  switch (c.kind) {
    case ModelKind::mean_field: return 2.0;
    case ModelKind::spin_boson: return 2.0 * double((c.fock_cutoff > 0 ? c.fock_cutoff : 16) + 1);
    case ModelKind::finite_reservoir: return double(c.reservoir.system_dim());  // checked by its methods
    case ModelKind::open_system:
    case ModelKind::bosonized: {
      double D = double(c.open_system.dim());
      for (const auto& m : c.open_system.modes) D *= double((m.fock_cutoff > 0 ? m.fock_cutoff : 16) + 1);
      // bosonized without channels evolves pure states: the error of rho_S then adds up over the
      // state's D amplitudes in quadrature, as that of a density matrix of dimension sqrt(D).
      if (c.kind == ModelKind::bosonized && c.open_system.channels.empty()) return std::sqrt(D);
      return D;
    }
    case ModelKind::central_spin: break;
  }
  const double N = c.model.N;
  if (!c.couplings.empty()) return std::ldexp(1.0, c.model.N + 1);
  const double m = std::floor(N / 2);  // sectors j = N/2 - s, s = 0 .. m, of 2 (N - 2s + 1) each
  return 2.0 * (m + 1) * (N + 1 - m);
}

/// Fock modes whose truncation model.fock_tol bounds.
bool has_fock_space(const RunConfig& c) {
  return c.kind == ModelKind::spin_boson ||
         ((c.kind == ModelKind::open_system || c.kind == ModelKind::bosonized) && !c.open_system.modes.empty());
}

/// `solver_applies` = false (qfluct steady): the solver settings are only range-checked.
void check_accuracy(RunConfig& c, bool solver_applies) {
  const SolverConfig& sv = c.solver;
  const bool master = solver_applies && sv.method == SolverMethod::master;
  const bool jump = solver_applies && sv.method == SolverMethod::jump;
  require_range(rtol_range, sv.rtol);
  require_range(atol_range, sv.atol);
  require_range(jump_tol_range, sv.jump_tol);
  // A Bloch-vector bath in Dicke sectors with q, Q2, Q4 wanted: the window's sensitive case.
  const bool polarised = jump && !sv.full_sectors && c.kind == ModelKind::central_spin && c.couplings.empty() &&
                         !c.model.bath.steady && c.model.fluctuations;
  require_range(polarised ? window_tol_polarised : window_tol_range, sv.window_tol);
  const Accuracy& fock_range = c.kind == ModelKind::spin_boson ? fock_tol_range : fock_tol_range_rho;
  require_range(fock_range, c.fock_tol);
  note_loose(c, rtol_range, sv.rtol, master);
  note_loose(c, jump_tol_range, sv.jump_tol, jump);
  if (polarised) {
    // Refused where the estimate reaches one standard error (unless left at its default, whose
    // estimate is then a note: a fit is not proof enough to refuse an untouched setting).
    const double bias = polarised_window_bias(c, sv.window_tol), fix = sv.window_tol * 0.1 / bias;
    if (bias >= 1.0 && sv.window_tol > SolverConfig{}.window_tol)
      throw InputError("solver.window_tol", fmt::format("{:g} is too loose for a Bloch-vector bath at N = {} with {} "
                                                        "trajectories: {}, here about {:.2g}; use <= {:.2g}",
                                                        sv.window_tol, c.model.N, sv.ntraj, window_tol_polarised.why,
                                                        bias, fix));
    if (bias > 0.1)
      c.notes.push_back(fmt::format("solver.window_tol = {:g} is loose enough to bias the results: {}, here about "
                                    "{:.2g}; use <= {:.2g}",
                                    sv.window_tol, window_tol_polarised.why, bias, fix));
  } else {
    note_loose(c, window_tol_range, sv.window_tol, jump && !sv.full_sectors && c.kind != ModelKind::open_system);
  }
  note_loose(c, fock_range, c.fock_tol, has_fock_space(c));
  // The pruned master equation (central_spin) carries a support of O(sqrt N) sectors of O(1)
  // rungs, not the dimension below, and its default integrator (Chebyshev) does not use atol.
  const bool chebyshev = c.kind == ModelKind::central_spin && c.couplings.empty() && sv.prune_tol > 0 &&
                         sv.integrator != "dopri5" && sv.integrator != "rosenbrock";
  if (master && !chebyshev) {
    // atol's error grows with the dimension: refused / noted on the estimate 2 atol D.
    const double D = density_dimension(c), error = 2.0 * sv.atol * D;
    if (error >= 3e-2)
      throw InputError("solver.atol", fmt::format("{:g} is too loose for a density matrix of dimension {:g}: the "
                                                  "master equation's error, about 2 atol D = {:.2g}, would reach "
                                                  "the observables' second digit; use <= {:.2g}",
                                                  sv.atol, D, error, 1e-4 / (2.0 * D)));
    if (error > 1e-4)
      c.notes.push_back(fmt::format("solver.atol = {:g} is loose enough to bias the results: {} (here D = {:g}, "
                                    "error ~ {:.2g}); use <= {:.2g}",
                                    sv.atol, atol_range.why, D, error, 1e-4 / (2.0 * D)));
  }
}

// --- model.kind = "open_system" ---------------------------------------------------------------

double number_at(const toml::node& n, const std::string& key) {
  if (auto v = n.value_exact<double>()) return *v;
  if (auto v = n.value_exact<int64_t>()) return double(*v);
  throw InputError(key, "expected a number, got " + toml_type_name(n));
}

double finite_at(const toml::node& n, const std::string& key) {
  const double x = number_at(n, key);
  if (!std::isfinite(x)) throw InputError(key, fmt::format("must be a finite number, got {}", x));
  return x;
}

/// A rate or an occupation: finite and >= 0.
double nonnegative_at(const toml::node& n, const std::string& key, const char* what) {
  const double x = finite_at(n, key);
  if (x < 0) throw InputError(key, fmt::format("{} must be >= 0, got {}", what, x));
  return x;
}

const toml::node& required(const toml::table* tbl, const std::string& key, const char* k, const char* what,
                           ModelKind kind = ModelKind::open_system) {
  const toml::node* n = tbl ? tbl->get(k) : nullptr;
  if (!n) throw InputError(key, fmt::format("is required for model.kind = \"{}\": {}", to_string(kind), what));
  return *n;
}

/// Column-safe names: a letter, then letters, digits, underscores.
void check_name(const std::string& name, const std::string& key) {
  if (!std::regex_match(name, std::regex("[A-Za-z][A-Za-z0-9_]*")))
    throw InputError(key, fmt::format("\"{}\" is not a valid name: a letter, then letters, digits or '_'", name));
}

/// The elements of the array of tables at `section`.`key` (or top-level `key` when section is empty).
std::vector<const toml::table*> tables_of(const toml::table& t, const std::string& section, const std::string& key) {
  const toml::node* n = section.empty() ? t.get(key) : find(t, section, key);
  std::vector<const toml::table*> out;
  if (const auto* a = n ? n->as_array() : nullptr)
    for (const auto& e : *a) out.push_back(e.as_table());  // tables, as check_known_keys made sure
  return out;
}

/// m, which must be d x d (read_matrix made it square), for `key`.
const CMat& system_sized(const CMat& m, Index d, const std::string& key) {
  if (m.rows() != d)
    throw InputError(key, fmt::format("is {} x {}, but system.H is {} x {}: every matrix on S is d x d with d = {}",
                                      m.rows(), m.cols(), d, d, d));
  return m;
}

/// [[output.observable]] and output.entanglement: operators on S, checked against system.H's size.
void parse_system_observables(const toml::table& t, RunConfig& c, OpenSystemSpec& s) {
  const Index d = s.dim();
  auto same_size = [d](const CMat& m, const std::string& key) { return system_sized(m, d, key); };
  s.entanglement = get_bool(t, "output", "entanglement", false);
  if (s.entanglement && d != 4)
    throw InputError("output.entanglement", fmt::format("concurrence and negativity are for two qubits: d = 4 (basis uu, "
                                                        "ud, du, dd), but system.H is {} x {}",
                                                        d, d));
  // Names a standard column has: t, rho_AB_re/_im (also rho_A_B_re, should indices be separated
  // for d > 10), n_i, purity, concurrence, negativity, and the _err partners of trajectory runs.
  const std::regex standard(R"(t|purity|concurrence|negativity|rho_[0-9]+(_[0-9]+)?_(re|im)|n_[0-9]+|.*_err)");
  std::set<std::string> names;
  const auto observables = tables_of(t, "output", "observable");
  for (std::size_t i = 0; i < observables.size(); ++i) {
    const std::string key = fmt::format("output.observable[{}]", i);
    const toml::node& n = required(observables[i], key + ".name", "name", "the observable's column name", c.kind);
    const auto name = n.value_exact<std::string>();
    if (!name) throw InputError(key + ".name", "expected a string, got " + toml_type_name(n));
    check_name(*name, key + ".name");
    if (std::regex_match(*name, standard))
      throw InputError(key + ".name", fmt::format("\"{}\" is {} standard column name (t, rho_AB_re, rho_AB_im, n_i, "
                                                  "purity, concurrence, negativity, and X_err)",
                                                  *name, name->ends_with("_err") ? "reserved for the error column of a" : "a"));
    if (!names.insert(*name).second)
      throw InputError(key + ".name", fmt::format("\"{}\" names an earlier observable too; names must differ", *name));
    OpenSystemSpec::NamedObservable o;
    o.name = *name;
    o.O = checked_hermitian(
        same_size(read_matrix(required(observables[i], key + ".O", "O", "a d x d Hermitian matrix on S", c.kind), key + ".O"),
                  key + ".O"),
        key + ".O");
    s.observables.push_back(std::move(o));
  }
}

/// [system] and the observables of S ([[output.observable]], output.entanglement), shared by
/// open_system, bosonized and finite_reservoir.
void parse_system(const toml::table& t, RunConfig& c, OpenSystemSpec& s) {
  s.fock_tol = c.fock_tol;
  const toml::table* system = t.get_as<toml::table>("system");
  s.H = checked_hermitian(read_matrix(required(system, "system.H", "H", "the Hamiltonian of S, a d x d Hermitian matrix",
                                               c.kind),
                                      "system.H"),
                          "system.H");
  const Index d = s.dim();
  auto same_size = [d](const CMat& m, const std::string& key) { return system_sized(m, d, key); };
  const toml::node& initial = required(system, "system.initial", "initial",
                                       "the initial state of S, a d x d density matrix or a state vector", c.kind);
  s.initial = checked_density_matrix(same_size(read_state(initial, "system.initial"), "system.initial"), "system.initial");

  std::set<std::string> channel_names;
  const auto channels = tables_of(t, "system", "channel");
  for (std::size_t i = 0; i < channels.size(); ++i) {
    const std::string key = fmt::format("system.channel[{}]", i);
    OpenSystemSpec::Channel ch;
    ch.name = fmt::format("L{}", i);
    if (const toml::node* n = channels[i]->get("name")) {
      const auto name = n->value_exact<std::string>();
      if (!name) throw InputError(key + ".name", "expected a string, got " + toml_type_name(*n));
      check_name(*name, key + ".name");
      ch.name = *name;
    }
    if (!channel_names.insert(ch.name).second)
      throw InputError(channels[i]->get("name") ? key + ".name" : key,
                       fmt::format("the channel name \"{}\" is taken by an earlier channel; names must differ", ch.name));
    ch.L = same_size(
        read_matrix(required(channels[i], key + ".L", "L", "the Lindblad operator, a d x d matrix", c.kind), key + ".L"),
        key + ".L");
    ch.rate = nonnegative_at(required(channels[i], key + ".rate", "rate", "the rate of D[L], >= 0", c.kind),
                             key + ".rate", "a rate");
    s.channels.push_back(std::move(ch));
  }
  parse_system_observables(t, c, s);
}

void parse_open_system(const toml::table& t, RunConfig& c) {
  OpenSystemSpec& s = c.open_system;
  parse_system(t, c, s);
  const Index d = s.dim();
  auto same_size = [d](const CMat& m, const std::string& key) { return system_sized(m, d, key); };

  const auto modes = tables_of(t, "", "mode");
  for (std::size_t i = 0; i < modes.size(); ++i) {
    const std::string key = fmt::format("mode[{}]", i);
    OpenSystemSpec::Mode m;
    m.omega = finite_at(required(modes[i], key + ".omega", "omega", "the mode's frequency (H += omega a^+ a)"),
                        key + ".omega");
    if (const auto* n = modes[i]->get("kappa_down")) m.kappa_down = nonnegative_at(*n, key + ".kappa_down", "a rate");
    if (const auto* n = modes[i]->get("kappa_up")) m.kappa_up = nonnegative_at(*n, key + ".kappa_up", "a rate");
    if (const auto* n = modes[i]->get("nbar")) m.nbar = nonnegative_at(*n, key + ".nbar", "a thermal occupation");
    if (const auto* n = modes[i]->get("fock_cutoff")) {
      const auto cutoff = n->value_exact<int64_t>();
      if (!cutoff) throw InputError(key + ".fock_cutoff", "expected an integer, got " + toml_type_name(*n));
      if (*cutoff < 1)
        throw InputError(key + ".fock_cutoff", fmt::format("must be >= 1 (or absent for automatic), got {}", *cutoff));
      m.fock_cutoff = long(*cutoff);
    }
    s.modes.push_back(m);
  }

  const auto couplings = tables_of(t, "", "coupling");
  for (std::size_t i = 0; i < couplings.size(); ++i) {
    const std::string key = fmt::format("coupling[{}]", i);
    OpenSystemSpec::Coupling cp;
    cp.G = same_size(read_matrix(required(couplings[i], key + ".G", "G", "the operator on S, a d x d matrix"), key + ".G"),
                     key + ".G");
    if (s.modes.empty())
      throw InputError(key, "there are no [[mode]] tables to couple to (X = sum_i a[i] a_i + a_dag[i] a_i^+)");
    const toml::node* a = couplings[i]->get("a");
    const toml::node* a_dag = couplings[i]->get("a_dag");
    if (!a && !a_dag)
      throw InputError(key, "needs a or a_dag (or both): one complex coefficient per mode, X = sum_i a[i] a_i + a_dag[i] a_i^+");
    auto coefficients = [&](const toml::node* n, const std::string& k) {
      if (!n) return std::vector<cplx>(s.modes.size(), cplx{});
      std::vector<cplx> v = read_complex_list(*n, k);
      if (v.size() != s.modes.size())
        throw InputError(k, fmt::format("needs one coefficient per mode: {} ([[mode]] tables), got {}", s.modes.size(),
                                        v.size()));
      return v;
    };
    cp.a = coefficients(a, key + ".a");
    cp.a_dag = coefficients(a_dag, key + ".a_dag");
    s.couplings.push_back(std::move(cp));
  }

}

// --- model.kind = "bosonized" and "finite_reservoir" -----------------------------------------

const std::vector<std::pair<std::string, ReservoirMethod>>& reservoir_methods() {
  static const std::vector<std::pair<std::string, ReservoirMethod>> m = {
      {"auto", ReservoirMethod::automatic}, {"fock", ReservoirMethod::fock},   {"full", ReservoirMethod::full},
      {"symmetric", ReservoirMethod::symmetric}, {"dicke", ReservoirMethod::dicke},
      {"nondemolition", ReservoirMethod::nondemolition}};
  return m;
}

void parse_reservoir(const toml::table& t, RunConfig& c) {
  ReservoirSpec& r = c.reservoir;
  const bool bosonized = c.kind == ModelKind::bosonized;
  parse_system(t, c, r.system);
  const toml::table* res = t.get_as<toml::table>("reservoir");
  r.h = read_matrix(required(res, "reservoir.h", "h", "the Hamiltonian h_R of one reservoir component, a d_R x d_R "
                                                      "Hermitian matrix", c.kind),
                    "reservoir.h");
  r.rho = read_state(required(res, "reservoir.rho", "rho", "the state rho_R of one component, a d_R x d_R density "
                                                           "matrix stationary under h (or a state vector)", c.kind),
                     "reservoir.rho");
  const auto couplings = tables_of(t, "reservoir", "coupling");
  if (couplings.empty())
    throw InputError("reservoir.coupling", "needs at least one [[reservoir.coupling]] table with G (on S) and v (on one "
                                           "component): V_M = sum_q G_q (x) M^(-1/2) sum_m v_q^[m] + h.c.");
  for (std::size_t q = 0; q < couplings.size(); ++q) {
    const std::string key = fmt::format("reservoir.coupling[{}]", q);
    ReservoirSpec::Coupling cp;
    cp.G = system_sized(read_matrix(required(couplings[q], key + ".G", "G", "the operator on S, a d_S x d_S matrix", c.kind),
                                    key + ".G"),
                        r.system.dim(), key + ".G");
    cp.v = read_matrix(required(couplings[q], key + ".v", "v", "the operator on one component, a d_R x d_R matrix", c.kind),
                       key + ".v");
    r.couplings.push_back(std::move(cp));
  }
  const std::string scaling = get_choice(t, "reservoir", "scaling", "sqrt", {"sqrt", "linear"});
  r.scaling = scaling == "linear" ? ReservoirScaling::linear : ReservoirScaling::sqrt;
  std::vector<std::string> allowed;
  if (bosonized) {
    if (find(t, "reservoir", "M"))
      c.notes.push_back("reservoir.M is ignored: bosonized is the M -> infinity limit (finite_reservoir uses M)");
    if (r.scaling == ReservoirScaling::linear)
      throw InputError("reservoir.scaling", "bosonized is the M -> infinity limit of the sqrt (fluctuation) scaling; the "
                                            "linear (mean-field) scaling has no fluctuation reservoir: use model.kind = "
                                            "\"finite_reservoir\" for it");
    allowed = {"auto", "fock", "nondemolition"};
  } else {
    const long long M = get_integer(t, "reservoir", "M", 0);
    if (!find(t, "reservoir", "M"))
      throw InputError("reservoir.M", "is required for model.kind = \"finite_reservoir\": the number of reservoir "
                                      "components, >= 1");
    if (M < 1 || M > 1'000'000'000'000LL)
      throw InputError("reservoir.M", fmt::format("must be between 1 and 1e12 components, got {}", M));
    r.M = M;
    allowed = {"auto", "full", "symmetric", "dicke", "nondemolition"};
  }
  const std::string method = get_choice(t, "solver", "reservoir_method", "auto", allowed);
  for (const auto& [name, m] : reservoir_methods())
    if (name == method) r.method = m;

  // h_R, rho_R and the v_q: checked by the construction of F (Eqs. (7), (8) and shapes). The
  // mean-field scaling does not need centred v_q (their mean is the mean-field term).
  std::vector<CMat> v;
  for (const auto& cp : r.couplings) v.push_back(cp.v);
  if (r.scaling == ReservoirScaling::linear) {
    fluctuation_reservoir(r.h, r.rho, {});
    for (std::size_t q = 0; q < v.size(); ++q)
      if (v[q].rows() != r.h.rows())
        throw InputError(fmt::format("reservoir.coupling[{}].v", q),
                         fmt::format("is {} x {}, but reservoir.h is {} x {}: every matrix on a component is d_R x d_R",
                                     v[q].rows(), v[q].cols(), r.h.rows(), r.h.rows()));
  } else {
    const FluctuationReservoir F = fluctuation_reservoir(r.h, r.rho, v);
    if (bosonized) {
      std::vector<CMat> G;
      for (const auto& cp : r.couplings) G.push_back(cp.G);
      OpenSystemSpec s = bosonized_spec(r.system.H, r.system.initial, G, F);
      s.channels = r.system.channels;
      s.observables = r.system.observables;
      s.entanglement = r.system.entanglement;
      s.fock_tol = c.fock_tol;
      c.open_system = std::move(s);
    }
  }
}

}  // namespace

std::vector<double> random_couplings(const std::string& distribution, int N, std::uint64_t seed) {
  Rng rng = trajectory_rng(seed, 0x636F75706C696E67ULL);  // its own stream ("coupling")
  std::vector<double> c(std::size_t(std::max(N, 0)));
  for (double& x : c) {
    if (distribution == "uniform") x = boost::random::uniform_real_distribution<double>(0.0, 1.0)(rng);
    else if (distribution == "gaussian") x = boost::random::normal_distribution<double>(0.0, 1.0)(rng);
    else if (distribution == "exponential") x = boost::random::exponential_distribution<double>(1.0)(rng);
    else throw InputError("model.couplings", "unknown distribution \"" + distribution + "\"");
  }
  double sum2 = 0.0;
  for (double x : c) sum2 += x * x;
  const double scale = sum2 > 0 ? std::sqrt(double(N) / sum2) : 1.0;  // sum c_k^2 / N = 1
  for (double& x : c) x *= scale;
  return c;
}

void apply_override(toml::table& table, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(assignment, "--set expects KEY=VALUE, e.g. --set model.N=80");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("value = " + value);
  } catch (const toml::parse_error& e) {
    // A bare word (--set initial.bath=steady) is meant as a string.
    if (std::regex_match(value, std::regex("[A-Za-z_][A-Za-z0-9_]*")) && value != "nan" && value != "inf") {
      parsed.insert_or_assign("value", value);
    } else {
      throw InputError(key, fmt::format("--set value '{}' is not a TOML value ({})", value, e.description()));
    }
  }
  const std::regex element(R"(([A-Za-z_][A-Za-z0-9_]*)\[([0-9]+)\])");
  // An index of more than 9 digits is beyond any array (and beyond stoul on some platforms).
  auto index = [](const std::string& digits) { return digits.size() > 9 ? std::size_t(-1) : std::stoul(digits); };
  toml::table* t = &table;
  std::size_t start = 0;
  for (std::size_t dot; (dot = key.find('.', start)) != std::string::npos; start = dot + 1) {
    const std::string part = key.substr(start, dot - start);
    std::smatch em;
    if (std::regex_match(part, em, element)) {
      // An element of an array of tables (mode[0].omega): it must exist already.
      const std::string array_key = key.substr(0, start) + em[1].str();
      toml::array* a = t->get_as<toml::array>(em[1].str());
      if (!a) throw InputError(key, fmt::format("{} is not set as an array of tables ([[{}]]) here", array_key, array_key));
      const std::size_t i = index(em[2].str());
      if (i >= a->size())
        throw InputError(key, fmt::format("index {} outside the {} table(s) of {}", em[2].str(), a->size(), array_key));
      if (!a->get(i)->is_table()) throw InputError(key, fmt::format("{}[{}] is not a table", array_key, i));
      t = a->get(i)->as_table();
      continue;
    }
    toml::node* n = t->get(part);
    if (!n) {
      t->insert(part, toml::table{});
      n = t->get(part);
    }
    if (!n->is_table()) throw InputError(key, "'" + part + "' is not a table");
    t = n->as_table();
  }
  std::string leaf = key.substr(start);
  if (leaf.empty()) throw InputError(key, "empty key in --set");
  // An array element, KEY[i] (e.g. model.w[0] for w_x): it starts from the array set in the
  // file or by an earlier --set, else from the key's default.
  std::smatch m;
  if (std::regex_match(leaf, m, element)) {
    const std::string array_key = key.substr(0, start) + m[1].str();
    const std::size_t i = index(m[2].str());
    if (!t->get(m[1].str()))
      if (auto d = array_default(array_key)) t->insert(m[1].str(), std::move(*d));
    const toml::node* current = t->get(m[1].str());
    toml::array* a = t->get_as<toml::array>(m[1].str());
    if (!a) {
      const auto s = scalar_default(array_key);
      const auto text = current ? current->value_exact<std::string>() : std::nullopt;
      std::string why = text      ? fmt::format("{} is \"{}\" here, not an array", array_key, *text)
                        : current ? fmt::format("{} is {} here, not an array", array_key, toml_type_name(*current))
                        : s     ? fmt::format("{} {}, not an array", array_key, *s)
                                : fmt::format("{} has no default", array_key);
      throw InputError(key, why + fmt::format("; set the whole array first (in the file or by --set '{}=[...]')", array_key));
    }
    if (i >= a->size())
      throw InputError(key, fmt::format("index {} outside the array of {} entries", m[2].str(), a->size()));
    a->replace(a->cbegin() + std::ptrdiff_t(i), *parsed.get("value"));
    return;
  }
  t->insert_or_assign(leaf, *parsed.get("value"));
}

/// solver.unravelling (a string for every channel, or a table per channel), solver.homodyne_phase
/// (a number, or a table per channel) and solver.dt_sde. Channel names are checked against the
/// model when it is built (simulate), where the channels are known.
void parse_unravelling(const toml::table& t, SolverConfig& sv) {
  const std::vector<std::string> choices = {"jump", "homodyne"};
  if (const toml::node* n = find(t, "solver", "unravelling"); n && n->is_table()) {
    for (const auto& [name, value] : *n->as_table()) {
      const std::string key = "solver.unravelling." + std::string(name.str());
      const auto v = value.value_exact<std::string>();
      if (!v) throw InputError(key, "expected \"jump\" or \"homodyne\", got " + toml_type_name(value));
      if (*v != "jump" && *v != "homodyne")
        throw InputError(key, fmt::format("unknown value \"{}\"; expected \"jump\" or \"homodyne\"", *v));
      sv.unravelling_per_channel[std::string(name.str())] = *v;
    }
    if (sv.unravelling_per_channel.empty())
      throw InputError("solver.unravelling", "the table names no channel; name channels (tau_minus = \"homodyne\") or "
                                             "give \"jump\" or \"homodyne\" for all");
  } else if (n && !n->value_exact<std::string>()) {
    throw InputError("solver.unravelling", "expected \"jump\", \"homodyne\" or a table of channel names, got " +
                                               toml_type_name(*n));
  } else {
    sv.unravelling = get_choice(t, "solver", "unravelling", "jump", choices);
  }
  if (const toml::node* n = find(t, "solver", "homodyne_phase"); n && n->is_table()) {
    for (const auto& [name, value] : *n->as_table()) {
      const std::string key = "solver.homodyne_phase." + std::string(name.str());
      std::optional<double> phase = value.value_exact<double>();
      if (!phase)
        if (auto i = value.value_exact<int64_t>()) phase = double(*i);
      if (!phase) throw InputError(key, "expected a number (radians), got " + toml_type_name(value));
      if (!std::isfinite(*phase)) throw InputError(key, fmt::format("must be a finite number (radians), got {}", *phase));
      // Whether the name is a channel, and a homodyne one, is checked against the model (simulate).
      sv.homodyne_phase_per_channel[std::string(name.str())] = *phase;
    }
  } else {
    sv.homodyne_phase = get_double(t, "solver", "homodyne_phase", 0.0);
    if (!std::isfinite(sv.homodyne_phase))
      throw InputError("solver.homodyne_phase", fmt::format("must be a finite number (radians), got {}", sv.homodyne_phase));
  }
  sv.levy_areas = get_bool(t, "solver", "levy_areas", true);
  sv.dt_sde = get_double(t, "solver", "dt_sde", 0.0);
  if (find(t, "solver", "dt_sde") && !std::isfinite(sv.dt_sde))
    throw InputError("solver.dt_sde", fmt::format("must be a finite number > 0 (the longest step of the diffusive part), "
                                                  "got {}", sv.dt_sde));
  if (find(t, "solver", "dt_sde") && !(sv.dt_sde > 0))
    throw InputError("solver.dt_sde", fmt::format("must be > 0 (the longest step of the diffusive part), got {}", sv.dt_sde));
}

RunConfig parse_config(const toml::table& t, Command command) {
  check_known_keys(t);
  RunConfig c;
  c.command = command;
  const std::string kind =
      get_choice(t, "model", "kind", "central_spin",
                 {"central_spin", "spin_boson", "mean_field", "open_system", "bosonized", "finite_reservoir"});
  c.kind = kind == "spin_boson"         ? ModelKind::spin_boson
           : kind == "mean_field"       ? ModelKind::mean_field
           : kind == "open_system"      ? ModelKind::open_system
           : kind == "bosonized"        ? ModelKind::bosonized
           : kind == "finite_reservoir" ? ModelKind::finite_reservoir
                                        : ModelKind::central_spin;
  // Kinds described by matrices ([system], ...), for which the central-spin keys do not apply.
  const bool reservoir = c.kind == ModelKind::bosonized || c.kind == ModelKind::finite_reservoir;
  const bool open = c.kind == ModelKind::open_system || reservoir;
  auto note_unused = [&](const std::string& section, const std::string& key, const std::string& why) {
    if (find(t, section, key)) c.notes.push_back(fmt::format("{}.{} is ignored: {}", section, key, why));
  };
  const long long cutoff = get_integer(t, "model", "fock_cutoff", 0);
  if (find(t, "model", "fock_cutoff") && cutoff < 1)
    throw InputError("model.fock_cutoff", fmt::format("must be >= 1 (or absent for automatic), got {}", cutoff));
  c.fock_cutoff = long(cutoff);
  c.fock_tol = get_double(t, "model", "fock_tol", c.fock_tol);
  if (c.kind == ModelKind::open_system) {
    note_unused("model", "fock_cutoff", "open_system sets a Fock cutoff per mode (mode[i].fock_cutoff)");
    // fock_tol: noted below when there are no modes.
  } else if (c.kind == ModelKind::bosonized) {
    note_unused("model", "fock_cutoff", "the modes of the fluctuation reservoir get their Fock cutoffs automatically "
                                        "(within model.fock_tol)");
  } else if (c.kind == ModelKind::finite_reservoir) {
    note_unused("model", "fock_cutoff", "finite_reservoir has no Fock space");
    note_unused("model", "fock_tol", "finite_reservoir has no Fock space (its truncations are checked to 1e-10)");
  } else if (c.kind != ModelKind::spin_boson) {
    note_unused("model", "fock_cutoff", "only the spin_boson and open_system models have a Fock space");
    note_unused("model", "fock_tol", "only the spin_boson and open_system models have a Fock space");
  }
  // The central-spin parameters: read (types checked) for every kind, noted where they do not apply.
  if (open) {
    const std::string from = reservoir ? "[system], [reservoir] and [[reservoir.coupling]]"
                                       : "[system], [[mode]] and [[coupling]]";
    for (const char* key : {"N", "coupling", "g0", "w", "h", "gamma_up", "gamma_down", "Gamma_up", "Gamma_down",
                            "Gamma_phi"})
      note_unused("model", key, fmt::format("it is a central-spin parameter; {} takes its model from {}", kind, from));
    for (const char* key : {"central", "bath"}) note_unused("initial", key, kind + " starts from system.initial");
    note_unused("output", "fluctuations",
                kind + (c.kind == ModelKind::finite_reservoir ? " reports rho, the named observables and purity"
                                                              : " reports rho, n_i, the named observables and purity"));
    if (reservoir)
      for (const char* section : {"mode", "coupling"})
        if (t.get(section))
          c.notes.push_back(fmt::format("{} is ignored: it describes model.kind = \"open_system\" ({} builds its "
                                        "couplings from [[reservoir.coupling]])",
                                        section, kind));
    if (!reservoir && t.get("reservoir"))
      c.notes.push_back("reservoir is ignored: it describes model.kind = \"bosonized\" and \"finite_reservoir\"");
  } else {
    for (const char* section : {"system", "mode", "coupling"})
      if (t.get(section))
        c.notes.push_back(fmt::format("{} is ignored: it describes model.kind = \"open_system\"", section));
    if (t.get("reservoir"))
      c.notes.push_back("reservoir is ignored: it describes model.kind = \"bosonized\" and \"finite_reservoir\"");
    for (const char* key : {"entanglement", "observable"})
      note_unused("output", key, "it applies to model.kind = \"open_system\"");
  }
  if (c.kind == ModelKind::spin_boson)
    note_unused("model", "N", "the spin_boson model is the N -> infinity limit (one boson stands for the whole bath)");
  CentralSpinParameters& p = c.model;
  const long long N = get_integer(t, "model", "N", p.N);
  if (N < 1 || N > 100'000'000) throw InputError("model.N", fmt::format("the bath needs 1 <= N <= 1e8 spins, got {}", N));
  p.N = int(N);
  const std::string coupling = get_choice(t, "model", "coupling", "sqrt", {"sqrt", "linear", "fixed"});
  p.coupling = coupling == "sqrt" ? CouplingScaling::sqrt : coupling == "linear" ? CouplingScaling::linear : CouplingScaling::fixed;
  p.g0 = get_double(t, "model", "g0", p.g0);
  p.w = get_vec3(t, "model", "w", p.w);
  p.h = get_vec3(t, "model", "h", p.h);
  p.gamma_up = get_double(t, "model", "gamma_up", p.gamma_up);
  p.gamma_down = get_double(t, "model", "gamma_down", p.gamma_down);
  p.Gamma_up = get_double(t, "model", "Gamma_up", p.Gamma_up);
  p.Gamma_down = get_double(t, "model", "Gamma_down", p.Gamma_down);
  p.Gamma_phi = get_double(t, "model", "Gamma_phi", p.Gamma_phi);
  if (const toml::node* n = find(t, "model", "couplings")) {
    const long long seed = get_integer(t, "model", "couplings_seed", 1);
    if (seed < 0) throw InputError("model.couplings_seed", fmt::format("must be >= 0, got {}", seed));
    c.couplings_seed = std::uint64_t(seed);
    if (const auto* a = n->as_array()) {
      c.couplings_source = "array";
      for (std::size_t i = 0; i < a->size(); ++i) {
        const toml::node& e = *a->get(i);
        double v;
        if (auto d = e.value_exact<double>()) v = *d;
        else if (auto k = e.value_exact<int64_t>()) v = double(*k);
        else throw InputError("model.couplings", fmt::format("entry {} must be a number, got {}", i, toml_type_name(e)));
        if (!std::isfinite(v)) throw InputError("model.couplings", fmt::format("entry {} is not finite", i));
        c.couplings.push_back(v);
      }
      if (long(c.couplings.size()) != p.N)
        throw InputError("model.couplings", fmt::format("needs one coupling per bath spin: N = {} entries, got {}", p.N,
                                                        c.couplings.size()));
    } else {
      c.couplings_source = get_choice(t, "model", "couplings", "", {"uniform", "gaussian", "exponential"});
      c.couplings = random_couplings(c.couplings_source, p.N, c.couplings_seed);
    }
    if (c.kind != ModelKind::central_spin)
      throw InputError("model.couplings", fmt::format("inhomogeneous couplings are for model.kind = \"central_spin\"{}",
                                                      open ? " (open_system couplings are [[coupling]] tables)" : ""));
  } else {
    note_unused("model", "couplings_seed", "it draws random model.couplings, which are not set");
  }

  if (const toml::node* n = find(t, "initial", "central")) {
    if (auto s = n->value_exact<std::string>()) {
      if (*s == "up") p.central = {0, 0, 1};
      else if (*s == "down") p.central = {0, 0, -1};
      else throw InputError("initial.central", fmt::format("unknown value \"{}\"; expected \"up\", \"down\" or [x, y, z]", *s));
    } else {
      p.central = checked_bloch("initial.central", as_vec3(*n, "initial.central"));  // onto the sphere if a rounding out
    }
  }
  if (const toml::node* n = find(t, "initial", "bath")) {
    if (auto s = n->value_exact<std::string>()) {
      if (*s != "steady") throw InputError("initial.bath", fmt::format("unknown value \"{}\"; expected \"steady\" or [x, y, z]", *s));
      p.bath.steady = true;
    } else {
      p.bath.steady = false;
      p.bath.r = checked_bloch("initial.bath", as_vec3(*n, "initial.bath"));
    }
  }
  p.fluctuations = get_bool(t, "output", "fluctuations", true);
  if (c.kind == ModelKind::mean_field) {
    // No fluctuation mode: the bath enters through its Bloch vector only.
    note_unused("output", "fluctuations", "the mean_field model has no fluctuation mode");
    p.fluctuations = false;
  }
  if (c.kind == ModelKind::spin_boson && !p.fluctuations) {
    // The boson is the fluctuation mode: its q, Q2, Q4, nongauss, n are what the model reports.
    c.notes.push_back("output.fluctuations = false is ignored: the spin_boson model is the fluctuation mode itself "
                      "and always reports q, Q2, Q4, nongauss, n");
    p.fluctuations = true;
  }

  if (c.kind == ModelKind::open_system) {
    parse_open_system(t, c);
    if (c.open_system.modes.empty()) note_unused("model", "fock_tol", "there are no [[mode]] tables");
  }
  if (reservoir) parse_reservoir(t, c);
  if (!reservoir) note_unused("solver", "reservoir_method", "it applies to model.kind = \"bosonized\" and \"finite_reservoir\"");

  const std::string method = get_choice(t, "solver", "method", "master", {"master", "jump"});
  c.solver.method = method == "jump" ? SolverMethod::jump : SolverMethod::master;
  SolverConfig& sv = c.solver;
  sv.integrator = get_choice(t, "solver", "integrator", "auto", {"auto", "dopri5", "rosenbrock", "chebyshev"});
  sv.prune_tol = get_double(t, "solver", "prune_tol", sv.prune_tol);
  if (!(sv.prune_tol >= 0.0 && sv.prune_tol < 1e-3))
    throw InputError("solver.prune_tol", fmt::format("must be >= 0 (0 = keep every sector and rung) and below 1e-3 (the "
                                                     "weight the pruned master equation may discard), got {}",
                                                     sv.prune_tol));
  sv.rtol = get_double(t, "solver", "rtol", sv.rtol);
  sv.atol = get_double(t, "solver", "atol", sv.atol);
  const long long ntraj = get_integer(t, "solver", "ntraj", sv.ntraj);
  if (ntraj < 2) throw InputError("solver.ntraj", fmt::format("needs at least 2 trajectories, got {}", ntraj));
  sv.ntraj = long(ntraj);
  const long long seed = get_integer(t, "solver", "seed", (long long)sv.seed);
  if (seed < 0) throw InputError("solver.seed", fmt::format("must be >= 0, got {}", seed));
  sv.seed = std::uint64_t(seed);
  sv.tol = get_double(t, "solver", "tol", sv.tol);
  if (!std::isfinite(sv.tol) || sv.tol < 0) throw InputError("solver.tol", fmt::format("must be >= 0 (0 = off), got {}", sv.tol));
  const long long group_size = get_integer(t, "solver", "group_size", sv.group_size);
  if (group_size < 1 || group_size > max_group_size)
    throw InputError("solver.group_size", fmt::format("must be between 1 and {} trajectories, got {}", max_group_size, group_size));
  sv.group_size = long(group_size);
  if (sv.method == SolverMethod::jump && command == Command::run) {
    const long groups = (sv.ntraj + sv.group_size - 1) / sv.group_size;
    if (groups < 2)
      throw InputError("solver.group_size", fmt::format("{} trajectories in groups of {} make {} group: the jackknife "
                                                        "errors of Q2, Q4 and nongauss need at least 2 (better 100 or "
                                                        "more); lower solver.group_size", sv.ntraj, sv.group_size, groups));
    if (groups < 32 && sv.group_size > 1)  // (with groups of 1, a small ntraj is plain to see)
      c.notes.push_back(fmt::format("solver.group_size = {} leaves {} groups of trajectories: the jackknife errors of "
                                    "Q2, Q4 and nongauss rest on {} blocks and are themselves uncertain by about {:.0f}%",
                                    sv.group_size, groups, groups, 100.0 / std::sqrt(2.0 * double(groups))));
  }
  sv.full_sectors = get_choice(t, "solver", "window", "adaptive", {"adaptive", "full"}) == "full";
  sv.window_tol = get_double(t, "solver", "window_tol", sv.window_tol);
  sv.jump_tol = get_double(t, "solver", "jump_tol", sv.jump_tol);
  parse_unravelling(t, sv);
  if (c.kind == ModelKind::finite_reservoir && sv.method == SolverMethod::jump && command == Command::run)
    throw InputError("solver.method", "finite_reservoir is solved exactly (solver.reservoir_method picks how); "
                                      "trajectories are for the other kinds, e.g. model.kind = \"bosonized\"");

  if (command == Command::steady) {
    for (const auto& key : schema().at("solver"))
      note_unused("solver", key, "qfluct steady solves L rho = 0 directly (sparse LU), without time evolution; the "
                                 "[solver] settings apply to qfluct run");
  } else if (c.solver.method == SolverMethod::master) {
    for (const char* key : {"ntraj", "seed", "tol", "group_size", "window", "window_tol", "jump_tol", "unravelling",
                            "homodyne_phase", "dt_sde", "levy_areas"})
      note_unused("solver", key, "it applies to method = \"jump\"");
    if (c.kind != ModelKind::central_spin || !c.couplings.empty())
      note_unused("solver", "prune_tol", "the pruned master equation is for model.kind = \"central_spin\" with identical "
                                         "couplings (Dicke sectors)");
  } else {
    for (const char* key : {"rtol", "atol", "integrator", "prune_tol"}) note_unused("solver", key, "it applies to method = \"master\"");
    if (!sv.any_homodyne())
      for (const char* key : {"homodyne_phase", "dt_sde", "levy_areas"})
        note_unused("solver", key, "it applies to homodyne channels (solver.unravelling)");
    if (open)
      for (const char* key : {"window", "window_tol"})
        note_unused("solver", key, "open_system trajectories carry the whole truncated space (no adaptive window)");
  }
  check_accuracy(c, command == Command::run);
  if (command == Command::steady) c.solver = SolverConfig{};  // what steady does not use stays at its defaults

  c.output.t_end = get_double(t, "output", "t_end", c.output.t_end);
  c.output.dt = get_double(t, "output", "dt", c.output.dt);
  require_positive("output.t_end", c.output.t_end);
  require_positive("output.dt", c.output.dt);
  if (c.solver.method == SolverMethod::jump && c.solver.any_homodyne() && c.solver.dt_sde > 0 &&
      c.output.t_end / c.solver.dt_sde > 1e9)
    throw InputError("solver.dt_sde", fmt::format("{:g} makes {:.3g} steps per trajectory up to output.t_end = {:g}; "
                                                  "more than 1e9 will not finish: raise it", c.solver.dt_sde,
                                                  c.output.t_end / c.solver.dt_sde, c.output.t_end));
  if (c.output.t_end / c.output.dt > 1e7) throw InputError("output.dt", "more than 1e7 output times; raise output.dt");
  const long long records = get_integer(t, "output", "records", 0);
  if (records < 0) throw InputError("output.records", fmt::format("must be >= 0 (0 = none), got {}", records));
  if (c.command == Command::run && c.solver.method == SolverMethod::jump) {
    if (records > c.solver.ntraj)
      throw InputError("output.records", fmt::format("asks for {} trajectories' records, but solver.ntraj = {}", records,
                                                     c.solver.ntraj));
    // Each record row holds about a dozen numbers of ~25 characters: cap the file near 3 GB.
    if (double(records) * (c.output.t_end / c.output.dt + 1) > 1e7)
      throw InputError("output.records", fmt::format("{} trajectories x {:.0f} output times is more than 1e7 record "
                                                     "rows; record fewer trajectories or raise output.dt",
                                                     records, c.output.t_end / c.output.dt + 1));
    c.output.records = long(records);
  } else {
    note_unused("output", "records", c.command == Command::run ? "it applies to solver.method = \"jump\""
                                                               : "qfluct steady runs no trajectories");
  }

  if (!open) p.validate();  // open_system: the central-spin parameters are noted as ignored, not checked
  return c;
}

namespace {

toml::table to_table(const nlohmann::json& j, const std::string& key);
toml::array to_array(const nlohmann::json& j, const std::string& key);

/// Hands `j` as the TOML value it stands for to `add` (which inserts or appends it).
template <class Add>
void add_json(const nlohmann::json& j, const std::string& key, Add&& add) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: return add(to_table(j, key));
    case nlohmann::json::value_t::array: return add(to_array(j, key));
    case nlohmann::json::value_t::string: return add(j.get<std::string>());
    case nlohmann::json::value_t::boolean: return add(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return add(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      if (j.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<int64_t>::max()))
        throw InputError(key, fmt::format("integer {} is beyond the 64-bit range", j.get<std::uint64_t>()));
      return add(int64_t(j.get<std::uint64_t>()));
    case nlohmann::json::value_t::number_float: return add(j.get<double>());
    default: throw InputError(key, "null is not a value; give the key a value or leave it out");
  }
}

toml::table to_table(const nlohmann::json& j, const std::string& key) {
  toml::table t;
  for (const auto& [k, v] : j.items())
    add_json(v, key.empty() ? k : key + "." + k, [&](auto&& x) { t.insert(k, std::move(x)); });
  return t;
}

toml::array to_array(const nlohmann::json& j, const std::string& key) {
  toml::array a;
  for (std::size_t i = 0; i < j.size(); ++i)
    add_json(j[i], fmt::format("{}[{}]", key, i), [&](auto&& x) { a.push_back(std::move(x)); });
  return a;
}

}  // namespace

toml::table parameters_table(const nlohmann::json& parameters) {
  if (!parameters.is_object()) throw InputError("parameters", "must be an object of sections");
  return to_table(parameters, "");
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& [section, names] : schema())
    for (const auto& k : names)
      if (!array_schema().count(section + "." + k)) keys.push_back(section + "." + k);
  for (const auto& [path, names] : array_schema())
    for (const auto& k : names) keys.push_back(path + "[i]." + k);
  return keys;
}

ConfigFile read_config_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw InputError(path, "no such config file");
  if (std::filesystem::is_directory(status)) throw InputError(path, "is a directory, not a config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, fmt::format("cannot read the config file: {}", std::strerror(errno)));
  std::stringstream content;
  content << in.rdbuf();
  return parse_config_text(content.str(), path);
}

ConfigFile parse_config_text(const std::string& text, const std::string& path) {
  if (text.rfind("qfluct-checkpoint ", 0) == 0)
    throw InputError(path, "is a checkpoint, not a config file: give the run's config as CONFIG and the checkpoint "
                           "with --resume (or combine parts with qfluct merge)");
  const auto first = text.find_first_not_of(" \t\r\n");
  const bool json = (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) ||
                    (first != std::string::npos && text[first] == '{');
  ConfigFile file;
  if (json) {
    try {
      file.sidecar = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(path, fmt::format("malformed JSON at byte {}", e.byte));
    }
    if (!file.sidecar.is_object() || !file.sidecar.contains("parameters") || !file.sidecar["parameters"].is_object())
      throw InputError(path, "a JSON config must be a qfluct sidecar: an object with a \"parameters\" object");
    file.table = parameters_table(file.sidecar["parameters"]);
    return file;
  }
  try {
    file.table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    throw InputError(path, fmt::format("malformed TOML at line {}, column {}: {}", src.begin.line, src.begin.column,
                                       e.description()));
  }
  return file;
}

RunConfig load_config(toml::table table, const std::vector<std::string>& overrides, Command command) {
  for (const auto& o : overrides) apply_override(table, o);
  return parse_config(table, command);
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides, Command command) {
  return load_config(read_config_file(path).table, overrides, command);
}

namespace {

/// The sidecar's parameters of an open_system config: the keys parse_config reads, with every
/// matrix written out (an expression as its matrix, a state vector as its density matrix), and
/// nothing that would earn a rerun a note (window settings, fock_tol without modes).
/// [system] and [output] of the kinds described by matrices.
void system_json(const OpenSystemSpec& s, const RunConfig& c, nlohmann::json& j) {
  nlohmann::json system = {{"H", matrix_to_json(s.H)}, {"initial", matrix_to_json(s.initial)}};
  for (const auto& ch : s.channels)
    system["channel"].push_back({{"name", ch.name}, {"L", matrix_to_json(ch.L)}, {"rate", ch.rate}});
  j["system"] = system;
  nlohmann::json output = {{"t_end", c.output.t_end}, {"dt", c.output.dt}, {"entanglement", s.entanglement}};
  for (const auto& o : s.observables) output["observable"].push_back({{"name", o.name}, {"O", matrix_to_json(o.O)}});
  j["output"] = output;
}

nlohmann::json reservoir_json(const RunConfig& c, nlohmann::json solver_json) {
  const ReservoirSpec& r = c.reservoir;
  nlohmann::json model = {{"kind", to_string(c.kind)}};
  if (c.kind == ModelKind::bosonized) model["fock_tol"] = c.fock_tol;
  nlohmann::json j = {{"model", model}};
  system_json(r.system, c, j);
  nlohmann::json res = {{"h", matrix_to_json(r.h)}, {"rho", matrix_to_json(r.rho)}};
  if (c.kind == ModelKind::finite_reservoir) {
    res["M"] = r.M;
    res["scaling"] = r.scaling == ReservoirScaling::sqrt ? "sqrt" : "linear";
  }
  for (const auto& cp : r.couplings) res["coupling"].push_back({{"G", matrix_to_json(cp.G)}, {"v", matrix_to_json(cp.v)}});
  j["reservoir"] = res;
  solver_json.erase("window");
  solver_json.erase("window_tol");
  for (const auto& [name, m] : reservoir_methods())
    if (m == r.method) solver_json["reservoir_method"] = name;
  if (c.command == Command::run) j["solver"] = solver_json;
  return j;
}

nlohmann::json open_system_json(const RunConfig& c, nlohmann::json solver_json) {
  const OpenSystemSpec& s = c.open_system;
  nlohmann::json model = {{"kind", to_string(c.kind)}};
  if (!s.modes.empty()) model["fock_tol"] = c.fock_tol;
  nlohmann::json j = {{"model", model}};
  system_json(s, c, j);
  for (const auto& m : s.modes) {
    nlohmann::json mode = {{"omega", m.omega}, {"kappa_down", m.kappa_down}, {"kappa_up", m.kappa_up}, {"nbar", m.nbar}};
    if (m.fock_cutoff > 0) mode["fock_cutoff"] = m.fock_cutoff;
    j["mode"].push_back(mode);
  }
  for (const auto& cp : s.couplings)
    j["coupling"].push_back(
        {{"G", matrix_to_json(cp.G)}, {"a", complex_list_to_json(cp.a)}, {"a_dag", complex_list_to_json(cp.a_dag)}});
  solver_json.erase("window");
  solver_json.erase("window_tol");
  if (c.command == Command::run) j["solver"] = solver_json;
  return j;
}

}  // namespace

nlohmann::json RunConfig::to_json() const {
  // Every kind's parameters, then the output keys they share.
  nlohmann::json all = [&]() -> nlohmann::json {
  const auto& p = model;
  nlohmann::json initial;
  initial["central"] = p.central;
  initial["bath"] = p.bath.steady ? nlohmann::json("steady") : nlohmann::json(p.bath.r);
  nlohmann::json solver_json = {{"method", to_string(solver.method)}};
  if (solver.method == SolverMethod::master) {
    solver_json["rtol"] = solver.rtol;
    solver_json["atol"] = solver.atol;
    solver_json["integrator"] = solver.integrator;
    if (kind == ModelKind::central_spin && couplings.empty()) solver_json["prune_tol"] = solver.prune_tol;
  } else {
    solver_json["ntraj"] = solver.ntraj;
    solver_json["seed"] = solver.seed;
    solver_json["tol"] = solver.tol;
    solver_json["group_size"] = solver.group_size;
    solver_json["window"] = solver.full_sectors ? "full" : "adaptive";
    solver_json["window_tol"] = solver.window_tol;
    solver_json["jump_tol"] = solver.jump_tol;
    if (!solver.unravelling_per_channel.empty()) solver_json["unravelling"] = solver.unravelling_per_channel;
    else solver_json["unravelling"] = solver.unravelling;
    if (!solver.homodyne_phase_per_channel.empty()) solver_json["homodyne_phase"] = solver.homodyne_phase_per_channel;
    else if (solver.homodyne_phase != 0.0) solver_json["homodyne_phase"] = solver.homodyne_phase;
    if (solver.dt_sde > 0) solver_json["dt_sde"] = solver.dt_sde;
    if (!solver.levy_areas) solver_json["levy_areas"] = false;
  }
  if (kind == ModelKind::open_system) return open_system_json(*this, solver_json);
  if (kind == ModelKind::bosonized || kind == ModelKind::finite_reservoir) return reservoir_json(*this, solver_json);
  nlohmann::json model_json = {{"kind", to_string(kind)},
            {"N", p.N},
            {"coupling", to_string(p.coupling)},
            {"g0", p.g0},
            {"w", p.w},
            {"h", p.h},
            {"gamma_up", p.gamma_up},
            {"gamma_down", p.gamma_down},
            {"Gamma_up", p.Gamma_up},
            {"Gamma_down", p.Gamma_down},
            {"Gamma_phi", p.Gamma_phi}};
  if (!couplings.empty()) {
    if (couplings_source == "array") {
      model_json["couplings"] = couplings;
    } else {
      model_json["couplings"] = couplings_source;
      model_json["couplings_seed"] = couplings_seed;
    }
  }
  if (kind == ModelKind::spin_boson) {
    model_json.erase("N");
    if (fock_cutoff > 0) model_json["fock_cutoff"] = fock_cutoff;
    model_json["fock_tol"] = fock_tol;
  }
  nlohmann::json output_json = {{"t_end", output.t_end}, {"dt", output.dt}, {"fluctuations", p.fluctuations}};
  // mean_field has no fluctuation mode: the key would only earn a rerun from the sidecar a note.
  if (kind == ModelKind::mean_field) output_json.erase("fluctuations");
  nlohmann::json j = {{"model", model_json}, {"initial", initial}, {"output", output_json}};
  if (command == Command::run) j["solver"] = solver_json;  // steady uses no solver setting
  return j;
  }();
  if (output.records > 0) all["output"]["records"] = output.records;
  return all;
}

}  // namespace qfluct
