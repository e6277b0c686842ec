#include "qfluct/solver/master_equation.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/solver/rosenbrock.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unsupported/Eigen/KroneckerProduct>

#include <algorithm>
#include <chrono>
#include <numeric>

namespace qfluct {

std::vector<double> top_level_populations(const SectorModel& model, const std::vector<Eigen::Map<const CMat>>& blocks) {
  std::vector<double> p(model.truncated_modes().size(), 0.0);
  RVec weight;
  for (std::size_t m = 0; m < p.size(); ++m)
    for (int s = 0; s < int(blocks.size()); ++s) {
      model.fill_truncation_weight(int(m), s, model.full_window(s), weight);
      for (Index i = 0; i < weight.size(); ++i)
        if (weight(i) != 0.0) p[m] += weight(i) * blocks[s](i, i).real();
    }
  return p;
}

double top_rung_population(const SectorModel& model, const std::vector<Eigen::Map<const CMat>>& blocks) {
  double p = 0.0;
  for (double x : top_level_populations(model, blocks)) p = std::max(p, x);
  return p;
}

BlockMasterEquation::BlockMasterEquation(const SectorModel& model)
    : model_(model), incoming_(model.sector_count()) {
  const int S = model.sector_count();
  offset_.push_back(0);
  for (int s = 0; s < S; ++s) {
    dim_.push_back(model.dim(s));
    offset_.push_back(offset_.back() + dim_.back() * dim_.back());
    const Window w = model.full_window(s);
    H_.push_back(model.hamiltonian(s, w, w));
    if (model.diagonal_channel_weights()) {
      decay_.push_back(decay_diagonal(model, s, w));
    } else {  // general path: -(1/2){Gamma, rho} with Gamma = sum_c rate_c W_c an operator
      decay_.push_back(RVec::Zero(dim_.back()));
      auto& ops = decay_operators_.emplace_back();
      for (int c = 0; c < int(model.channels().size()); ++c)
        ops.push_back({s, model.channels()[c].rate, model.channel_operator(c, s, w)});
    }
  }
  drives_.resize(model.drive_count());
  for (int i = 0; i < model.drive_count(); ++i)
    for (int s = 0; s < S; ++s) {
      const Window w = model.full_window(s);
      model.fill_drive(i, s, w, w, drives_[i].emplace_back());
    }
  const auto& channels = model.channels();
  for (int s = 0; s < S; ++s)
    for (int c = 0; c < int(channels.size()); ++c)
      for (Index b = 0; b < channels[c].branches(); ++b) {
        const int target = s + channels[c].sector_shift[b];
        if (!model.has_sector(target)) continue;
        incoming_[target].push_back(
            {s, channels[c].rate, model.kraus(c, int(b), s, model.full_window(s), model.full_window(target))});
      }
  bool banded = model.diagonal_channel_weights();
  for (int s = 0; s < S; ++s) {
    banded = banded && H_[s].is_banded();
    for (const auto& in : incoming_[s]) banded = banded && in.K.is_banded();
  }
  for (const auto& d : drives_)
    for (const auto& op : d) banded = banded && op.is_banded();
  if (banded) banded_ = std::make_unique<BandedLindbladian>(dim_, offset_, H_, decay_, incoming_, drives_);
  order_.resize(S);
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) { return dim_[a] > dim_[b]; });
}

Eigen::SparseMatrix<cplx> BlockMasterEquation::assemble() const {
  if (banded_) return banded_->assemble();
  if (!drives_.empty()) throw std::logic_error("BlockMasterEquation::assemble: time-dependent models have no fixed generator");
  // vec(A rho B) = (B^T (x) A) vec(rho), column-major blocks:
  //   -i H_eff rho + i rho H_eff^+  ->  1 (x) (-i H_eff) + (i conj(H_eff)) (x) 1,
  //   rate K rho_s K^+              ->  rate conj(K) (x) K   (block s to block t).
  using Sparse = Eigen::SparseMatrix<cplx>;
  std::vector<Eigen::Triplet<cplx>> entries;
  auto add = [&](const Sparse& m, Index row0, Index col0) {
    for (Index k = 0; k < m.outerSize(); ++k)
      for (Sparse::InnerIterator it(m, k); it; ++it) entries.emplace_back(row0 + it.row(), col0 + it.col(), it.value());
  };
  for (int t = 0; t < int(dim_.size()); ++t) {
    const Index D = dim_[t];
    Sparse Heff = Sparse(H_[t].to_sparse());
    Sparse gamma(D, D);
    std::vector<Eigen::Triplet<cplx>> diag;
    for (Index i = 0; i < D; ++i)
      if (decay_[t](i) != 0.0) diag.emplace_back(i, i, decay_[t](i));
    gamma.setFromTriplets(diag.begin(), diag.end());
    if (!decay_operators_.empty())
      for (const Incoming& W : decay_operators_[t]) gamma += W.rate * Sparse(W.K.to_sparse());
    Heff -= cplx(0.0, 0.5) * gamma;
    Sparse one(D, D);
    one.setIdentity();
    add(Sparse(Eigen::kroneckerProduct(one, Sparse(-I * Heff))), offset_[t], offset_[t]);
    add(Sparse(Eigen::kroneckerProduct(Sparse(I * Sparse(Heff.conjugate())), one)), offset_[t], offset_[t]);
    for (const Incoming& in : incoming_[t]) {
      const Sparse K = in.K.to_sparse();
      add(Sparse(in.rate * Sparse(Eigen::kroneckerProduct(Sparse(K.conjugate()), K))), offset_[t], offset_[in.source]);
    }
  }
  Sparse L(size(), size());
  L.setFromTriplets(entries.begin(), entries.end());
  return L;
}

CVec BlockMasterEquation::pack(const BlockDensity& rho) const {
  CVec y = CVec::Zero(size());
  for (int s = 0; s < int(dim_.size()); ++s)
    if (rho.blocks[s].size() > 0) CMat::Map(y.data() + offset_[s], dim_[s], dim_[s]) = rho.blocks[s];
  return y;
}

std::vector<Eigen::Map<const CMat>> BlockMasterEquation::blocks(const CVec& y) const {
  std::vector<Eigen::Map<const CMat>> b;
  b.reserve(dim_.size());
  for (int s = 0; s < int(dim_.size()); ++s) b.emplace_back(y.data() + offset_[s], dim_[s], dim_[s]);
  return b;
}

void BlockMasterEquation::derivative(const CVec& y, CVec& dy, double time) const {
  const int S = int(order_.size());
  std::vector<double> f(drives_.size());
  for (std::size_t i = 0; i < drives_.size(); ++i) f[i] = model_.drive(int(i), time);
#pragma omp parallel if (size() > 40000)
  {
    CMat T;  // per-thread work space
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < S; ++i) {
      const int t = order_[i];
      if (banded_) {
        banded_->apply_block(y.data(), dy.data(), t, f.data());
        continue;
      }
      const Index D = dim_[t];
      Eigen::Map<const CMat> rho(y.data() + offset_[t], D, D);
      Eigen::Map<CMat> drho(dy.data() + offset_[t], D, D);
      // -i H_eff rho + i rho H_eff^+ with H_eff = H - (i/2) Gamma. Written out in full rather
      // than as Y + Y^+: that shortcut assumes rho exactly Hermitian, and the rounding noise in
      // the anti-Hermitian part would then grow like exp((Gamma_b - Gamma_a) t / 2).
      drho.noalias() = -0.5 * (decay_[t].asDiagonal() * rho + rho * decay_[t].asDiagonal());
      H_[t].apply(rho, drho, -I);
      H_[t].apply_adjoint_right(rho, drho, I);
      if (!decay_operators_.empty())
        for (const Incoming& W : decay_operators_[t]) {  // W Hermitian: rho W = rho W^+
          W.K.apply(rho, drho, -0.5 * W.rate);
          W.K.apply_adjoint_right(rho, drho, -0.5 * W.rate);
        }
      for (std::size_t i = 0; i < drives_.size(); ++i) {
        drives_[i][t].apply(rho, drho, -I * f[i]);
        drives_[i][t].apply_adjoint_right(rho, drho, I * f[i]);
      }
      for (const Incoming& in : incoming_[t]) {
        Eigen::Map<const CMat> source(y.data() + offset_[in.source], dim_[in.source], dim_[in.source]);
        T.setZero(D, dim_[in.source]);
        in.K.apply(source, T);
        in.K.apply_adjoint_right(T, drho, in.rate);
      }
    }
  }
}

double BlockMasterEquation::spectral_radius_estimate() const {
  CVec y(size()), dy(size());
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;  // a fixed sequence: the estimate is reproducible
  for (Index i = 0; i < y.size(); ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    y(i) = cplx(double(state >> 11) * 0x1.0p-53 - 0.5, double((state >> 3) & 0xFFFF) / 65536.0 - 0.5);
  }
  double radius = 0.0;
  for (int k = 0; k < 30; ++k) {
    const double norm = y.norm();
    if (!(norm > 0)) break;
    y /= norm;
    derivative(y, dy, 0.0);
    radius = dy.norm();
    y.swap(dy);
  }
  return radius;
}

TimeSeries BlockMasterEquation::solve(const std::vector<double>& times, const MasterOptions& options) const {
  CVec y = pack(model_.initial_density());
  return solve(y, times, options);
}

TimeSeries BlockMasterEquation::solve(CVec& y, const std::vector<double>& times, const MasterOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  const ObservableSet observables(model_);
  TimeSeries out;
  out.columns = observables.column_names();
  out.times = times;
  out.values.resize(Index(times.size()), observables.column_count());
  // Stiffness: a generator whose fastest rate would cost the explicit method over 1e4 steps is a
  // candidate; Dormand-Prince then takes the first output interval, and if its mean step sits at
  // the stability limit (h |lambda|max > 1) rather than below it for accuracy, Rosenbrock takes
  // the rest. Only where the sparse LU is cheap: its fill grows fast with the block sizes
  // (gamma_down = 1e6: N = 10, 1144 unknowns, 0.9 s; N = 20, 7084, 6.6 s; N = 30, ~2e4, 50 s).
  const double span = times.empty() ? 0.0 : times.back() - times.front();
  double radius = 0.0;
  bool candidate = false;
  if (options.integrator == MasterIntegrator::automatic && drives_.empty() && span > 0 && size() <= 20'000) {
    radius = spectral_radius_estimate();
    candidate = span * radius / 3.3 > 1e4 && times.size() >= 3;
  }
  const bool implicit = options.integrator == MasterIntegrator::rosenbrock;
  if (implicit && !drives_.empty())
    throw InputError("solver.integrator", "\"rosenbrock\" needs a time-independent generator; this model is driven "
                                          "(mean field): use \"dopri5\"");
  std::vector<double> raw(observables.raw_size()), col(observables.column_count());
  const double t = times.empty() ? 0.0 : times.front();
  double max_trace_error = 0.0, max_top = 0.0;
  const auto modes = model_.truncated_modes();
  std::vector<double> top_per_mode(modes.size(), 0.0);
  const auto report = [&](std::size_t i, const CVec& yi) {
    const auto b = blocks(yi);
    cplx trace = 0.0;
    for (const auto& block : b) trace += block.trace();
    max_trace_error = std::max(max_trace_error, std::abs(trace - 1.0));
    const auto top = top_level_populations(model_, b);
    if (options.monitor) options.monitor(top);
    for (std::size_t m = 0; m < top.size(); ++m) {
      top_per_mode[m] = std::max(top_per_mode[m], top[m]);
      max_top = std::max(max_top, top[m]);
    }
    observables.measure(b, times[i], raw.data());
    observables.derive(raw.data(), col.data());
    for (Index c = 0; c < observables.column_count(); ++c) out.values(Index(i), c) = col[c];
    if (options.progress) options.progress(double(i + 1) / double(times.size()));
  };
  nlohmann::json integrator;
  const auto rosenbrock = [&](double from, const std::vector<double>& grid, const Dopri5::Output& output) {
    LinearRosenbrock ode(assemble(), options.tol);
    ode.integrate(from, y, grid, output);
    const auto& st = ode.statistics();
    integrator["integrator"] = "rosenbrock (Rodas3, order 3, L-stable), sparse LU";
    integrator["steps"] = integrator.value("steps", 0L) + st.steps;
    integrator["rejected_steps"] = integrator.value("rejected_steps", 0L) + st.rejected;
    integrator["factorizations"] = st.factorizations;
    integrator["linear_solves"] = st.solves;
  };
  Dopri5 ode([this](double time, const CVec& x, CVec& dx) { derivative(x, dx, time); }, size(), options.tol);
  const auto dopri_statistics = [&] {
    const auto& st = ode.statistics();
    integrator["steps"] = st.steps;
    integrator["rejected_steps"] = st.rejected;
    integrator["derivative_evaluations"] = st.evaluations;
  };
  if (implicit) {
    rosenbrock(t, times, report);
  } else if (!candidate) {
    ode.integrate(t, y, times, report);
    integrator["integrator"] = "dopri5, dense output";
    dopri_statistics();
  } else {
    report(0, y);
    double now = t;
    ode.advance(now, y, times[1]);
    report(1, y);
    dopri_statistics();
    const long steps = ode.statistics().steps;
    const bool stiff = steps >= 100 && (times[1] - t) / double(steps) * radius > 1.0;
    const std::vector<double> rest(times.begin() + 1, times.end());
    const auto later = [&](std::size_t i, const CVec& yi) {
      if (i > 0) report(i + 1, yi);
    };
    if (stiff) {
      rosenbrock(now, rest, later);
      integrator["integrator"] = fmt::format("dopri5 to t = {:.6g} (stiff: {} steps at the stability limit), then "
                                             "rosenbrock (Rodas3, order 3, L-stable), sparse LU", times[1], steps);
    } else {
      ode.integrate(now, y, rest, later);
      integrator["integrator"] = "dopri5, dense output";
      dopri_statistics();
    }
  }
  if (options.integrator == MasterIntegrator::automatic && drives_.empty())
    integrator["spectral_radius_estimate"] = radius;
  out.info = {{"method", "master"},
              {"rtol", options.tol.rtol},
              {"atol", options.tol.atol},
              {"sectors", model_.sector_count()},
              {"state_size", size()},
              {"max_trace_error", max_trace_error},
              {"solver_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  for (const auto& [k, v] : integrator.items()) out.info[k] = v;
  if (!modes.empty()) {
    out.info["largest_top_rung_population"] = max_top;
    nlohmann::json per_mode = nlohmann::json::object();
    for (std::size_t m = 0; m < modes.size(); ++m) per_mode[modes[m]] = top_per_mode[m];
    out.info["top_level_population_per_mode"] = per_mode;
  }
  return out;
}

}  // namespace qfluct
