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

std::vector<double> top_level_populations(const SectorModel& model, const std::vector<Eigen::Map<const CMat>>& blocks,
                                          const std::vector<Window>* windows) {
  std::vector<double> p(model.truncated_modes().size(), 0.0);
  RVec weight;
  for (std::size_t m = 0; m < p.size(); ++m)
    for (int s = 0; s < int(blocks.size()); ++s) {
      if (blocks[s].size() == 0) continue;
      model.fill_truncation_weight(int(m), s, windows ? (*windows)[s] : model.full_window(s), weight);
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

BlockMasterEquation::BlockMasterEquation(const SectorModel& model, std::vector<Window> support)
    : model_(model), window_(std::move(support)), incoming_(model.sector_count()) {
  const int S = model.sector_count();
  if (window_.empty())
    for (int s = 0; s < S; ++s) window_.push_back(model.full_window(s));
  if (int(window_.size()) != S) throw std::invalid_argument("BlockMasterEquation: one window per sector");
  offset_.push_back(0);
  for (int s = 0; s < S; ++s) {
    const Window w = window_[s];
    if (w.size > 0 && (w.begin < 0 || w.end() > model.ladder_size(s)))
      throw std::invalid_argument("BlockMasterEquation: a window outside its ladder");
    pruned_ = pruned_ || !(w == model.full_window(s));
    dim_.push_back(model.system_dim() * w.size);
    offset_.push_back(offset_.back() + dim_.back() * dim_.back());
    H_.push_back(w.size > 0 ? model.hamiltonian(s, w, w) : Operator(0, 0));
    if (model.diagonal_channel_weights()) {
      decay_.push_back(w.size > 0 ? decay_diagonal(model, s, w) : RVec());
    } else {  // general path: -(1/2){Gamma, rho} with Gamma = sum_c rate_c W_c an operator
      decay_.push_back(RVec::Zero(dim_.back()));
      auto& ops = decay_operators_.emplace_back();
      if (w.size > 0)
        for (int c = 0; c < int(model.channels().size()); ++c)
          ops.push_back({s, model.channels()[c].rate, model.channel_operator(c, s, w)});
    }
  }
  drives_.resize(model.drive_count());
  for (int i = 0; i < model.drive_count(); ++i)
    for (int s = 0; s < S; ++s) {
      const Window w = window_[s];
      if (w.size > 0)
        model.fill_drive(i, s, w, w, drives_[i].emplace_back());
      else
        drives_[i].emplace_back(0, 0);
    }
  const auto& channels = model.channels();
  for (int s = 0; s < S; ++s) {
    if (window_[s].size == 0) continue;
    for (int c = 0; c < int(channels.size()); ++c)
      for (Index b = 0; b < channels[c].branches(); ++b) {
        const int target = s + channels[c].sector_shift[b];
        if (!model.has_sector(target) || window_[target].size == 0) continue;  // out of the support: lost
        incoming_[target].push_back({s, channels[c].rate, model.kraus(c, int(b), s, window_[s], window_[target])});
      }
  }
  bool banded = model.diagonal_channel_weights();
  for (int s = 0; s < S; ++s) {
    banded = banded && H_[s].is_banded();
    for (const auto& in : incoming_[s]) banded = banded && in.K.is_banded();
  }
  for (const auto& d : drives_)
    for (const auto& op : d) banded = banded && op.is_banded();
  if (banded) {
    banded_ = std::make_unique<BandedLindbladian>(dim_, offset_, H_, decay_, incoming_, drives_);
    if (drives_.empty()) {  // the parts whose spectra bound the Chebyshev ellipse
      std::vector<Operator> none;
      std::vector<RVec> no_decay;
      for (int s = 0; s < S; ++s) none.emplace_back(dim_[s], dim_[s]), no_decay.push_back(RVec::Zero(dim_[s]));
      banded_hamiltonian_ = std::make_unique<BandedLindbladian>(dim_, offset_, H_, no_decay,
                                                                std::vector<std::vector<Incoming>>(S));
      banded_dissipator_ = std::make_unique<BandedLindbladian>(dim_, offset_, none, decay_, incoming_);
    }
  }
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
  const Index d = model_.system_dim();
  for (int s = 0; s < int(dim_.size()); ++s) {
    if (rho.blocks[s].size() == 0 || dim_[s] == 0) continue;
    const Window w = window_[s];
    const Index L = model_.ladder_size(s);
    Eigen::Map<CMat> block(y.data() + offset_[s], dim_[s], dim_[s]);
    for (Index a = 0; a < d; ++a)
      for (Index b = 0; b < d; ++b)
        block.block(a * w.size, b * w.size, w.size, w.size) = rho.blocks[s].block(a * L + w.begin, b * L + w.begin, w.size, w.size);
  }
  return y;
}

CVec BlockMasterEquation::initial_state() const {
  if (!pruned_) return pack(model_.initial_density());
  CVec y = CVec::Zero(size());
  for (int s = 0; s < int(dim_.size()); ++s)
    if (dim_[s] > 0) CMat::Map(y.data() + offset_[s], dim_[s], dim_[s]) = model_.initial_block(s, window_[s]);
  return y;
}

std::vector<Eigen::Map<const CMat>> BlockMasterEquation::blocks(const CVec& y) const {
  std::vector<Eigen::Map<const CMat>> b;
  b.reserve(dim_.size());
  for (int s = 0; s < int(dim_.size()); ++s) b.emplace_back(y.data() + offset_[s], dim_[s], dim_[s]);
  return b;
}

void BlockMasterEquation::derivative(const CVec& y, CVec& dy, double time) const { derivative_part(y, dy, Part::all, time); }

void BlockMasterEquation::derivative_part(const CVec& y, CVec& dy, Part part, double time) const {
  const int S = int(order_.size());
  std::vector<double> f(drives_.size());
  for (std::size_t i = 0; i < drives_.size(); ++i) f[i] = model_.drive(int(i), time);
  const bool hamiltonian = part != Part::dissipator, dissipator = part != Part::hamiltonian;
  const BandedLindbladian* kernel = part == Part::all ? banded_.get()
                                  : part == Part::hamiltonian ? banded_hamiltonian_.get() : banded_dissipator_.get();
  if (banded_ && !kernel) throw std::logic_error("BlockMasterEquation::derivative_part: parts of a driven model");
#pragma omp parallel if (size() > 40000)
  {
    CMat T;  // per-thread work space
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < S; ++i) {
      const int t = order_[i];
      if (dim_[t] == 0) continue;
      if (kernel) {
        kernel->apply_block(y.data(), dy.data(), t, f.data());
        continue;
      }
      const Index D = dim_[t];
      Eigen::Map<const CMat> rho(y.data() + offset_[t], D, D);
      Eigen::Map<CMat> drho(dy.data() + offset_[t], D, D);
      // -i H_eff rho + i rho H_eff^+ with H_eff = H - (i/2) Gamma. Written out in full rather
      // than as Y + Y^+: that shortcut assumes rho exactly Hermitian, and the rounding noise in
      // the anti-Hermitian part would then grow like exp((Gamma_b - Gamma_a) t / 2).
      if (dissipator)
        drho.noalias() = -0.5 * (decay_[t].asDiagonal() * rho + rho * decay_[t].asDiagonal());
      else
        drho.setZero();
      if (hamiltonian) {
        H_[t].apply(rho, drho, -I);
        H_[t].apply_adjoint_right(rho, drho, I);
      }
      if (dissipator && !decay_operators_.empty())
        for (const Incoming& W : decay_operators_[t]) {  // W Hermitian: rho W = rho W^+
          W.K.apply(rho, drho, -0.5 * W.rate);
          W.K.apply_adjoint_right(rho, drho, -0.5 * W.rate);
        }
      if (hamiltonian)
        for (std::size_t i = 0; i < drives_.size(); ++i) {
          drives_[i][t].apply(rho, drho, -I * f[i]);
          drives_[i][t].apply_adjoint_right(rho, drho, I * f[i]);
        }
      if (!dissipator) continue;
      for (const Incoming& in : incoming_[t]) {
        Eigen::Map<const CMat> source(y.data() + offset_[in.source], dim_[in.source], dim_[in.source]);
        T.setZero(D, dim_[in.source]);
        in.K.apply(source, T);
        in.K.apply_adjoint_right(T, drho, in.rate);
      }
    }
  }
}

void BlockMasterEquation::derivative_general(const CVec& y, CVec& dy) const {
  if (!banded_) return derivative(y, dy);  // the general path computes whole blocks
  const int S = int(order_.size());
#pragma omp parallel for schedule(dynamic, 1) if (size() > 40000)
  for (int i = 0; i < S; ++i)
    if (dim_[order_[i]] > 0) banded_->apply_block(y.data(), dy.data(), order_[i], nullptr, false);
}

void BlockMasterEquation::derivative_blockwise(const CVec& y, CVec& dy, bool general,
                                               const std::function<void(int, Index, Index)>& then) const {
  if (!drives_.empty() || !banded_) {
    if (general)
      derivative_general(y, dy);
    else
      derivative(y, dy);
    for (int t = 0; t < int(dim_.size()); ++t) then(t, offset_[t], offset_[t + 1]);
    return;
  }
  const int S = int(order_.size());
#pragma omp parallel for schedule(dynamic, 1) if (size() > 40000)
  for (int i = 0; i < S; ++i) {
    const int t = order_[i];
    if (dim_[t] > 0) banded_->apply_block(y.data(), dy.data(), t, nullptr, !general);
    then(t, offset_[t], offset_[t + 1]);
  }
}

void BlockMasterEquation::measure(const CVec& y, double t, const ObservableSet& observables, double* raw) const {
  if (pruned_)
    observables.measure(blocks(y), window_, t, raw);
  else
    observables.measure(blocks(y), t, raw);
}

double BlockMasterEquation::trace(const CVec& y) const {
  double sum = 0.0;
  for (const auto& b : blocks(y)) sum += b.trace().real();
  return sum;
}

SpectrumBox BlockMasterEquation::spectrum_box() const {
  const auto part = [this](Part p) {
    return [this, p](const CVec& x, CVec& y) { derivative_part(x, y, p); };
  };
  return {1.2 * power_iteration_radius(part(Part::dissipator), size()),
          1.2 * power_iteration_radius(part(Part::hamiltonian), size())};
}

bool prefer_chebyshev(const SpectrumBox& box, double span, std::size_t intervals) {
  if (intervals == 0 || !(span > 0)) return false;
  const double radius = std::hypot(box.real_extent, box.imag_extent);
  const double dopri_steps = span * radius / 3.3;
  if (dopri_steps < 1e3) return false;
  // Terms per interval: ~sqrt(2 x 23 x tau a / 2) for the decay (a tolerance of ~1e-10), tau b
  // for oscillations, and a margin; 6 derivative evaluations per Dormand-Prince step.
  const double tau = span / double(intervals);
  const double terms = double(intervals) * (std::sqrt(23.0 * tau * box.real_extent) + tau * box.imag_extent + 20.0);
  return terms < 0.5 * 6.0 * dopri_steps;
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
  CVec y = initial_state();
  return solve(y, times, options);
}

TimeSeries BlockMasterEquation::solve(CVec& y, const std::vector<double>& times, const MasterOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  const ObservableSet observables(model_);
  TimeSeries out;
  out.columns = observables.column_names();
  out.times = times;
  out.values.resize(Index(times.size()), observables.column_count());
  const double span = times.empty() ? 0.0 : times.back() - times.front();
  const bool fixed = drives_.empty();
  if (!fixed && (options.integrator == MasterIntegrator::rosenbrock || options.integrator == MasterIntegrator::chebyshev))
    throw InputError("solver.integrator", fmt::format("\"{}\" needs a time-independent generator; this model is "
                                                      "driven (mean field): use \"dopri5\"",
                                                      options.integrator == MasterIntegrator::rosenbrock ? "rosenbrock" : "chebyshev"));
  // Stiffness: where the fastest decay rate or frequency would cost the explicit method many
  // steps, the Chebyshev exponential steps from output time to output time at a cost growing
  // like the square root of the decay rate (docs/theory.md, "Stiff problems").
  SpectrumBox box;
  bool chebyshev = options.integrator == MasterIntegrator::chebyshev;
  if (fixed && (chebyshev || (options.integrator == MasterIntegrator::automatic && span > 0 && times.size() >= 2))) {
    box = spectrum_box();
    if (!chebyshev) chebyshev = prefer_chebyshev(box, span, times.size() - 1);
  }
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
    const auto top = top_level_populations(model_, b, pruned_ ? &window_ : nullptr);
    if (options.monitor) options.monitor(top);
    for (std::size_t m = 0; m < top.size(); ++m) {
      top_per_mode[m] = std::max(top_per_mode[m], top[m]);
      max_top = std::max(max_top, top[m]);
    }
    measure(yi, times[i], observables, raw.data());
    observables.derive(raw.data(), col.data());
    for (Index c = 0; c < observables.column_count(); ++c) out.values(Index(i), c) = col[c];
    if (options.progress) options.progress(double(i + 1) / double(times.size()));
  };
  nlohmann::json integrator;
  if (options.integrator == MasterIntegrator::rosenbrock) {
    LinearRosenbrock ode(assemble(), options.tol);
    ode.integrate(t, y, times, report);
    const auto& st = ode.statistics();
    integrator["integrator"] = "rosenbrock (Rodas3, order 3, L-stable), sparse LU";
    integrator["steps"] = st.steps;
    integrator["rejected_steps"] = st.rejected;
    integrator["factorizations"] = st.factorizations;
    integrator["linear_solves"] = st.solves;
  } else if (chebyshev) {
    // Terms are summed down to 1e-2 rtol |rho|_2: the series' tail falls off faster than
    // geometrically there, so the error is far below rtol at a few terms' cost.
    ChebyshevExponential series([this](const CVec& x, CVec& dx) { derivative(x, dx); }, size(), box, 1e-2 * options.tol.rtol,
                                [this](const CVec& x, CVec& dx) { derivative_general(x, dx); });
    if (!times.empty()) report(0, y);
    std::vector<double> taus;
    for (std::size_t i = 1; i < times.size(); ++i) taus.push_back(times[i] - times[0]);
    series.propagate(y, taus, [&](std::size_t k, const CVec& yk) { report(k + 1, yk); });
    const auto& st = series.statistics();
    integrator["integrator"] = "chebyshev exponential, output time to output time";
    integrator["chebyshev_terms"] = st.terms;
    integrator["chebyshev_max_terms"] = st.max_terms;
    integrator["chebyshev_restarts"] = st.restarts;
  } else {
    Dopri5 ode([this](double time, const CVec& x, CVec& dx) { derivative(x, dx, time); }, size(), options.tol);
    ode.integrate(t, y, times, report);
    const auto& st = ode.statistics();
    integrator["integrator"] = "dopri5, dense output";
    integrator["steps"] = st.steps;
    integrator["rejected_steps"] = st.rejected;
    integrator["derivative_evaluations"] = st.evaluations;
  }
  if (fixed && (chebyshev || options.integrator == MasterIntegrator::automatic) && span > 0) {
    integrator["spectrum_real_extent"] = box.real_extent;
    integrator["spectrum_imag_extent"] = box.imag_extent;
  }
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
