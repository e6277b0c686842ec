#include "qfluct/solver/jump_unravelling.hpp"

#include "qfluct/core/error.hpp"
#include "qfluct/model/central_spin.hpp"
#include "qfluct/solver/dopri5.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace qfluct {

void TrajectoryStatistics::merge(const TrajectoryStatistics& o) {
  trajectories += o.trajectories;
  jumps += o.jumps;
  if (jumps_per_channel.size() < o.jumps_per_channel.size()) jumps_per_channel.resize(o.jumps_per_channel.size(), 0);
  for (std::size_t c = 0; c < o.jumps_per_channel.size(); ++c) jumps_per_channel[c] += o.jumps_per_channel[c];
  taylor_steps += o.taylor_steps;
  taylor_terms += o.taylor_terms;
  root_iterations += o.root_iterations;
  window_growths += o.window_growths;
  max_window = std::max(max_window, o.max_window);
  max_edge_population = std::max(max_edge_population, o.max_edge_population);
  max_trimmed_population = std::max(max_trimmed_population, o.max_trimmed_population);
  max_branch_mismatch = std::max(max_branch_mismatch, o.max_branch_mismatch);
  sde_steps += o.sde_steps;
  max_levy_area_terms = std::max(max_levy_area_terms, o.max_levy_area_terms);
  if (top_level_population.size() < o.top_level_population.size()) top_level_population.resize(o.top_level_population.size());
  for (std::size_t m = 0; m < o.top_level_population.size(); ++m) {
    auto& mine = top_level_population[m];
    const auto& theirs = o.top_level_population[m];
    if (mine.size() < theirs.size()) mine.resize(theirs.size(), 0.0);
    for (std::size_t t = 0; t < theirs.size(); ++t) mine[t] += theirs[t];
  }
}

namespace {
/// A band of A split into real and imaginary parts, for apply_split: y[out + i] += (r_i + i s_i)
/// x[in + i], i < size, with the parts stored expanded over the interleaved (re, im) doubles,
/// (r_i, r_i) and (-s_i, s_i), at re and im in a pool (-1: that part is zero). The bands of a
/// Hermitian H with real factors are purely imaginary in A = -i H: one product per double.
struct SplitBand {
  Index out, in, size;
  Index re, im;
};

/// y = scale A x (as interleaved doubles, D complex entries) for A = diag(dre + i dim) + bands;
/// returns ||y||^2. The AVX2/FMA clone is picked at load time where the machine has it.
__attribute__((target_clones("arch=x86-64-v3", "default")))
double apply_split(const double* __restrict x, double* __restrict y, Index D, const double* __restrict dre,
                   const double* __restrict dim, const SplitBand* bands, Index nb, const double* __restrict pool,
                   double scale) {
  const Index D2 = 2 * D;
  for (Index j = 0; j < D2; j += 2) {
    y[j] = dre[j] * x[j] + dim[j] * x[j + 1];
    y[j + 1] = dre[j + 1] * x[j + 1] + dim[j + 1] * x[j];
  }
  for (Index k = 0; k < nb; ++k) {
    const SplitBand& b = bands[k];
    double* __restrict yo = y + 2 * b.out;
    const double* __restrict xi = x + 2 * b.in;
    const Index n2 = 2 * b.size;
    if (b.re >= 0) {
      const double* __restrict r = pool + b.re;
      for (Index j = 0; j < n2; ++j) yo[j] += r[j] * xi[j];
    }
    if (b.im >= 0) {
      const double* __restrict c = pool + b.im;
      for (Index j = 0; j < n2; j += 2) {
        yo[j] += c[j] * xi[j + 1];
        yo[j + 1] += c[j + 1] * xi[j];
      }
    }
  }
  // Sixteen partial sums: four independent vector accumulators, not one latency-bound chain.
  double s[16] = {};
  Index j = 0;
  for (; j + 16 <= D2; j += 16)
    for (int l = 0; l < 16; ++l) {
      y[j + l] *= scale;
      s[l] += y[j + l] * y[j + l];
    }
  for (int l = 0; j < D2; ++j, ++l) {
    y[j] *= scale;
    s[l] += y[j] * y[j];
  }
  for (int l = 0; l < 8; ++l) s[l] += s[l + 8];
  for (int l = 0; l < 4; ++l) s[l] += s[l + 4];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

/// sum_i a_i b_i in four interleaved partial sums (a fixed order: the same bits on every run;
/// the partial sums let the compiler vectorise without reassociating).
__attribute__((target_clones("arch=x86-64-v3", "default")))
double dot_real(const double* a, const double* b, Index n) {
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  Index i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) s[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

/// y = K x for a banded K (y: K.rows() entries, zeroed here) when every band's factor is real:
/// each entry as the general Operator::apply forms it, fr * (c_i x_i) (a real factor's complex
/// product adds exact zeros), in plain loops over the interleaved doubles. Returns false (y
/// untouched) for other operators.
__attribute__((target_clones("arch=x86-64-v3", "default")))
bool apply_real_bands(const Operator& K, const cplx* x, cplx* y) {
  if (!K.is_banded()) return false;
  for (const Operator::Band& b : K.bands())
    if (b.factor.imag() != 0.0) return false;
  double* yd = reinterpret_cast<double*>(y);
  const double* xd = reinterpret_cast<const double*>(x);
  std::fill_n(yd, 2 * K.rows(), 0.0);
  for (const Operator::Band& b : K.bands()) {
    const double f = b.factor.real();
    const double* c = K.coeff(b);
    double* yo = yd + 2 * b.out_row;
    const double* xi = xd + 2 * b.in_row;
    for (Index i = 0; i < b.size; ++i) {
      yo[2 * i] += f * (c[i] * xi[2 * i]);
      yo[2 * i + 1] += f * (c[i] * xi[2 * i + 1]);
    }
  }
  return true;
}

/// A run of rows [begin, begin + size) of A (complex rows) on which the same bands are present,
/// each of them purely imaginary (SplitBand::im only): the form of a real Hamiltonian's bands.
/// Its bands' coefficients start at terms[first + t].coeff in the pool, their input rows at
/// terms[first + t].in (doubles).
struct FusedRun {
  Index begin, size, first, count;
};
struct FusedTerm {
  Index coeff, in;
};

/// The rows of one run in one pass: y = scale (diag x + sum of the K bands' products), with the
/// squared norm's four partial sums in `s` (two complex entries at a time; a fixed order).
template <int K>
[[gnu::always_inline]] inline void fused_run(const double* __restrict x, double* __restrict y, const double* __restrict dre,
                                             const double* __restrict dim, const FusedRun& r,
                                             const FusedTerm* __restrict terms, const double* __restrict pool,
                                             double scale, double* s) {
  const Index b2 = 2 * r.begin, n2 = 2 * r.size;
  const double* c[K > 0 ? K : 1];
  const double* xi[K > 0 ? K : 1];
  for (int k = 0; k < K; ++k) {
    c[k] = pool + terms[r.first + k].coeff;
    xi[k] = x + terms[r.first + k].in;
  }
  const double* xo = x + b2;
  const double* dr = dre + b2;
  const double* di = dim + b2;
  double* yo = y + b2;
  Index j = 0;
  for (; j + 4 <= n2; j += 4) {
    double v[4];
    for (int l = 0; l < 4; l += 2) {
      v[l] = dr[j + l] * xo[j + l] + di[j + l] * xo[j + l + 1];
      v[l + 1] = dr[j + l + 1] * xo[j + l + 1] + di[j + l + 1] * xo[j + l];
      for (int k = 0; k < K; ++k) {
        v[l] += c[k][j + l] * xi[k][j + l + 1];
        v[l + 1] += c[k][j + l + 1] * xi[k][j + l];
      }
    }
    for (int l = 0; l < 4; ++l) {
      yo[j + l] = scale * v[l];
      s[l] += yo[j + l] * yo[j + l];
    }
  }
  for (; j < n2; j += 2) {
    double v0 = dr[j] * xo[j] + di[j] * xo[j + 1], v1 = dr[j + 1] * xo[j + 1] + di[j + 1] * xo[j];
    for (int k = 0; k < K; ++k) {
      v0 += c[k][j] * xi[k][j + 1];
      v1 += c[k][j + 1] * xi[k][j];
    }
    yo[j] = scale * v0;
    yo[j + 1] = scale * v1;
    s[0] += yo[j] * yo[j];
    s[1] += yo[j + 1] * yo[j + 1];
  }
}

/// apply_split's result for the run form (FusedRun): every row written once, with its norm, in
/// one pass (apply_split passes over y once for the diagonal, once per band and once to scale).
__attribute__((target_clones("arch=x86-64-v3", "default")))
double apply_fused(const double* __restrict x, double* __restrict y, const double* __restrict dre,
                   const double* __restrict dim, const FusedRun* runs, Index nr, const FusedTerm* terms,
                   const double* __restrict pool, double scale) {
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  for (Index i = 0; i < nr; ++i) {
    const FusedRun& r = runs[i];
    switch (r.count) {
      case 0: fused_run<0>(x, y, dre, dim, r, terms, pool, scale, s); break;
      case 1: fused_run<1>(x, y, dre, dim, r, terms, pool, scale, s); break;
      case 2: fused_run<2>(x, y, dre, dim, r, terms, pool, scale, s); break;
      case 3: fused_run<3>(x, y, dre, dim, r, terms, pool, scale, s); break;
      default: fused_run<4>(x, y, dre, dim, r, terms, pool, scale, s); break;
    }
  }
  return (s[0] + s[1]) + (s[2] + s[3]);
}

/// The run form over split vectors: a vector of D complex entries as its real parts, soa_pad
/// zeros, its imaginary parts (each part with soa_pad zeros before and after it in the buffers
/// the trajectory uses). A row's bands are read at fixed row shifts, so every operation is a
/// plain product of contiguous doubles (no swaps of real and imaginary parts, as in the
/// interleaved form). A run may list a band over rows where A has none (coefficient 0, its input
/// row within the padding): adjacent runs whose bands are a subset of one another's merge, so a
/// ladder's level block is one loop.
constexpr Index soa_pad = 2;
struct SoaRun {
  Index begin, size, first, count;
};
struct SoaTerm {
  Index coeff, shift;  // coefficients s_j (A = i s_j) at pool[coeff + j], input row = row + shift
};

template <int K>
[[gnu::always_inline]] inline void soa_run(const double* __restrict xr, const double* __restrict xi, double* __restrict yr,
                                           double* __restrict yi, const double* __restrict a, const double* __restrict b,
                                           const SoaRun& r, const SoaTerm* __restrict terms, const double* __restrict pool,
                                           double scale, double* s) {
  const Index r0 = r.begin, n = r.size;
  const double* c[K > 0 ? K : 1];
  const double* inr[K > 0 ? K : 1];
  const double* ini[K > 0 ? K : 1];
  for (int k = 0; k < K; ++k) {
    c[k] = pool + terms[r.first + k].coeff;
    inr[k] = xr + r0 + terms[r.first + k].shift;
    ini[k] = xi + r0 + terms[r.first + k].shift;
  }
  const double* ar = a + r0;
  const double* br = b + r0;
  const double* x0r = xr + r0;
  const double* x0i = xi + r0;
  double* y0r = yr + r0;
  double* y0i = yi + r0;
  Index j = 0;
  for (; j + 4 <= n; j += 4)
    for (int l = 0; l < 4; ++l) {
      double vr = ar[j + l] * x0r[j + l] - br[j + l] * x0i[j + l];
      double vi = ar[j + l] * x0i[j + l] + br[j + l] * x0r[j + l];
      for (int k = 0; k < K; ++k) {
        vr -= c[k][j + l] * ini[k][j + l];
        vi += c[k][j + l] * inr[k][j + l];
      }
      vr *= scale;
      vi *= scale;
      y0r[j + l] = vr;
      y0i[j + l] = vi;
      s[l] += vr * vr + vi * vi;
    }
  for (; j < n; ++j) {
    double vr = ar[j] * x0r[j] - br[j] * x0i[j];
    double vi = ar[j] * x0i[j] + br[j] * x0r[j];
    for (int k = 0; k < K; ++k) {
      vr -= c[k][j] * ini[k][j];
      vi += c[k][j] * inr[k][j];
    }
    vr *= scale;
    vi *= scale;
    y0r[j] = vr;
    y0i[j] = vi;
    s[0] += vr * vr + vi * vi;
  }
}

/// y = scale A x on split vectors (x, y: the real parts; the imaginary ones D + soa_pad later);
/// returns ||y||^2.
__attribute__((target_clones("arch=x86-64-v3", "default")))
double apply_soa(const double* __restrict x, double* __restrict y, Index D, const double* __restrict a,
                 const double* __restrict b, const SoaRun* runs, Index nr, const SoaTerm* terms,
                 const double* __restrict pool, double scale) {
  const double* xi = x + D + soa_pad;
  double* yi = y + D + soa_pad;
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  for (Index i = 0; i < nr; ++i) {
    const SoaRun& r = runs[i];
    switch (r.count) {
      case 0: soa_run<0>(x, xi, y, yi, a, b, r, terms, pool, scale, s); break;
      case 1: soa_run<1>(x, xi, y, yi, a, b, r, terms, pool, scale, s); break;
      case 2: soa_run<2>(x, xi, y, yi, a, b, r, terms, pool, scale, s); break;
      case 3: soa_run<3>(x, xi, y, yi, a, b, r, terms, pool, scale, s); break;
      default: soa_run<4>(x, xi, y, yi, a, b, r, terms, pool, scale, s); break;
    }
  }
  return (s[0] + s[1]) + (s[2] + s[3]);
}
}  // namespace

/// A = -i H - (Gamma - c)/2 on the current window, ready for repeated application. All storage
/// is reused from one window to the next.
struct JumpUnravelling::Generator {
  /// An off-diagonal band of A: y[out + i] += coeff[i] * x[in + i].
  struct Band {
    Index out, in, size;
    Index offset;  // into coeffs
  };
  Operator H;                       // the Hamiltonian on the window (storage reused)
  Operator H_reach;                 // H from the window to the window widened by 2 rungs (hop_norm)
  std::vector<Band> bands;          // off-diagonal bands of -i H, coefficients in coeffs
  std::vector<cplx> coeffs;
  CVec diag;                        // diagonal of A
  double c = 0.0;                   // scalar decay rate factored out: psi = exp(-c t / 2) phi
  double norm = 0.0;                // infinity-norm bound of A (sets the Taylor step)
  /// Infinity-norm bound of the part of A that changes the rung (the rest, -i times H's
  /// rung-diagonal blocks minus the non-negative R/2, generates a contraction), and the largest
  /// rung shift of one application: the window's leak bound (JumpUnravelling::leak_bound).
  double hop_norm = 0.0;
  Index hop_shift = 1;
  std::vector<RVec> weights;        // per channel: diagonal of sum_b K^+K on the window (fast path)
  std::vector<Operator> channel_ops;// per channel: sum_b K^+K on the window (general path)
  /// Operators applied as a whole: a non-banded H (factor -i) and, on the general path, the
  /// channel operators (factor -rate/2).
  std::vector<std::pair<const Operator*, cplx>> general;
  RVec decay;                       // sum_c rate_c weights_c
  RVec row_sum, hop_sum;            // work space for the norm bounds
  std::vector<Operator> drives;     // H_i on the window (time-dependent models)
  std::vector<Operator> outputs;    // K_b of each homodyne output on the window (window to itself)
  double output_rate = 0.0;         // largest rate ||K_b||^2 of the outputs: the noises' scale
  const SectorModel* model = nullptr;
  /// The diagonal and H's bands split into real and imaginary parts (apply_split): the form the
  /// Taylor terms use.
  std::vector<double> split_diag_re, split_diag_im, split_pool;
  std::vector<SplitBand> split_bands;
  /// The same as runs of rows with a fixed set of purely imaginary bands (apply_fused), when
  /// every band is of that kind and no row has more than four: one pass per application.
  std::vector<FusedRun> fused_runs;
  std::vector<FusedTerm> fused_terms;
  std::vector<Index> cuts;  // work space of build_generator
  bool fused = false;
  /// The run form on split vectors (apply_soa; built when fused): the diagonal's real and
  /// imaginary parts, the merged runs and their bands' coefficients.
  std::vector<double> soa_a, soa_b, soa_pool;
  std::vector<SoaRun> soa_runs;
  std::vector<SoaTerm> soa_terms;
  // The (sector, window) it was built for.
  int sector = -1;
  Window window;
  // Jump data from this (sector, window), per flat branch index (JumpUnravelling::branch_offset_),
  // filled on first use: the diagonal of K^+K (diagonal models) and K to its target window.
  std::vector<RVec> kraus_weights;
  std::vector<char> has_kraus_weight;
  std::vector<Operator> kraus;
  std::vector<Window> kraus_window;
  std::vector<char> has_kraus;

  /// y = scale * A x; returns ||y||^2 (x and y: D entries, not overlapping).
  double apply_norm(const cplx* x, cplx* y, double scale) const {
    const Index D = diag.size();
    const double n2 =
        fused ? apply_fused(reinterpret_cast<const double*>(x), reinterpret_cast<double*>(y), split_diag_re.data(),
                            split_diag_im.data(), fused_runs.data(), Index(fused_runs.size()), fused_terms.data(),
                            split_pool.data(), scale)
              : apply_split(reinterpret_cast<const double*>(x), reinterpret_cast<double*>(y), D,
                            split_diag_re.data(), split_diag_im.data(), split_bands.data(),
                            Index(split_bands.size()), split_pool.data(), scale);
    if (general.empty()) return n2;
    const Eigen::Map<const CVec> xv(x, D);
    Eigen::Map<CVec> yv(y, D);
    for (const auto& [op, factor] : general) op->apply(xv, yv, factor * scale);
    return yv.squaredNorm();
  }

  /// y = scale * A x on split vectors (fused generators only); returns ||y||^2.
  double apply_soa_norm(const double* x, double* y, double scale) const {
    return apply_soa(x, y, diag.size(), soa_a.data(), soa_b.data(), soa_runs.data(), Index(soa_runs.size()),
                     soa_terms.data(), soa_pool.data(), scale);
  }

  /// y = A(t) x with the drive terms -i f_i(t) H_i x.
  void apply_at(double t, const CVec& x, CVec& y) const {
    apply(x, y, 1.0);
    for (std::size_t i = 0; i < drives.size(); ++i) drives[i].apply(x, y, -I * model->drive(int(i), t));
  }

  /// y = scale * A x (plain loops: the vectors are short and this is the innermost kernel; the
  /// AVX2/FMA clone is picked at load time where the machine has it).
  __attribute__((target_clones("arch=x86-64-v3", "default")))
  void apply(const CVec& x, CVec& y, double scale) const {
    const Index D = x.size();
    const cplx* xp = x.data();
    cplx* yp = y.data();
    for (Index i = 0; i < D; ++i) yp[i] = scale * (diag[i] * xp[i]);
    for (const auto& [op, factor] : general) op->apply(x, y, factor * scale);
    for (const Band& b : bands) {
      const cplx* c = coeffs.data() + b.offset;
      const cplx* xi = xp + b.in;
      cplx* yo = yp + b.out;
      for (Index i = 0; i < b.size; ++i) yo[i] += scale * (c[i] * xi[i]);
    }
  }
};

JumpUnravelling::JumpUnravelling(const SectorModel& model, std::vector<double> times, JumpOptions options)
    : model_(model), observables_(model), times_(std::move(times)), options_(options),
      cache_(1), cache_keys_(1) {
  if (times_.empty()) throw std::invalid_argument("JumpUnravelling: no output times");
  cache_[0] = std::make_unique<Generator>();
  gen_ = cache_[0].get();
  const auto& channels = model_.channels();
  branch_offset_.assign(channels.size() + 1, 0);  // the last: the total number of branches
  for (std::size_t c = 0; c < channels.size(); ++c) branch_offset_[c + 1] = branch_offset_[c] + channels[c].branches();
  homodyne_channel_.assign(channels.size(), 0);
  for (const HomodyneChannel& h : options_.homodyne) {
    if (h.channel < 0 || std::size_t(h.channel) >= channels.size())
      throw std::invalid_argument(fmt::format("JumpUnravelling: no channel {} for homodyne detection", h.channel));
    const Channel& ch = channels[std::size_t(h.channel)];
    for (int shift : ch.sector_shift)
      if (shift != 0)
        throw std::invalid_argument(fmt::format("JumpUnravelling: channel {} changes the sector; it cannot be "
                                                "unravelled by homodyne detection", ch.name));
    if (homodyne_channel_[std::size_t(h.channel)])
      throw std::invalid_argument(fmt::format("JumpUnravelling: channel {} listed twice", ch.name));
    homodyne_channel_[std::size_t(h.channel)] = 1;
  }
  // Outputs in channel order (then branch order), whatever the order of options_.homodyne.
  for (std::size_t c = 0; c < channels.size(); ++c) {
    const Channel& ch = channels[c];
    if (!homodyne_channel_[c]) {
      jump_names_.push_back(ch.name);
      continue;
    }
    double phase = 0.0;
    for (const HomodyneChannel& h : options_.homodyne)
      if (std::size_t(h.channel) == c) phase = h.phase;
    for (Index b = 0; b < ch.branches(); ++b) {
      outputs_.push_back({int(c), b, std::sqrt(ch.rate) * std::polar(1.0, -phase)});
      homodyne_names_.push_back(ch.branches() == 1 ? ch.name : fmt::format("{}_{}", ch.name, b));
      output_shift_ = std::max(output_shift_, std::abs(ch.ladder_shift[std::size_t(b)]));
    }
  }
  if (!outputs_.empty() && !(options_.dt_sde > 0))
    throw std::invalid_argument("JumpUnravelling: dt_sde must be > 0 with homodyne channels");
  wiener_ = WienerIncrements(Index(outputs_.size()));
  if (!model_.windowed()) options_.full_sectors = true;
  if (model_.time_dependent()) {
    options_.full_sectors = true;  // driven models are small (the mean-field central spin)
    ode_ = std::make_unique<Dopri5>([this](double t, const CVec& x, CVec& y) { gen_->apply_at(t, x, y); }, 0,
                                    OdeTolerances{options_.driven_rtol, options_.driven_atol});
  }
}

JumpUnravelling::~JumpUnravelling() = default;
JumpUnravelling::JumpUnravelling(JumpUnravelling&&) noexcept = default;

void JumpUnravelling::select_generator() {
  const int s = state_.sector;
  const Window w = state_.window;
  // Sixteen slots per set, the set chosen by the sector: the sector of a trajectory at the
  // Fig. 2 point walks by +-1 at nearly every jump (sigma_minus raises j, sigma_plus lowers it,
  // both keeping k and so the window), and its window moves between a few neighbouring ranges
  // (growth, trims, the rare jumps that shift k) and back, so a set keeps a sector's recent
  // windows. (Two ways missed once per 11 jumps at N = 1e3, sixteen once per 90.) Whole sectors
  // can be large: fewer slots. A generator holds some thirty numbers per entry of its window:
  // sets x active x D stays within 2^16 entries (~16 MB): up to 256 sets (a power of two, fewer
  // for windows too wide for two ways each) and a new generator in one of the first `active`
  // ways. A window's D fixes its set count, so a (sector, window) is always looked up in the
  // same set. (64 sets, the old count, held a third of that budget at D ~ 20 and rebuilt a
  // generator once per 105 jumps at N = 1e4 and 1e5, ~8000 cycles each, against once per 1150 /
  // 500 with 256: 9-10% of the time.)
  const std::size_t D = std::size_t(std::max<Index>(1, model_.system_dim() * w.size));
  const std::size_t ways = options_.full_sectors ? 2 : 16, max_sets = options_.full_sectors ? 4 : 256;
  constexpr std::size_t budget = std::size_t(1) << 16;
  std::size_t sets = max_sets;
  if (!options_.full_sectors)
    while (sets > 1 && sets * 2 * D > budget) sets /= 2;
  if (cache_.size() != ways * max_sets) {
    cache_.clear();
    cache_.resize(ways * max_sets);
    cache_keys_.assign(ways * max_sets, CacheKey{});
  }
  const std::size_t first = (std::size_t(s) & (sets - 1)) * ways;  // sets: a power of two
  CacheKey* keys = cache_keys_.data() + first;  // the keys apart from the generators: one short scan
  for (std::size_t way = 0; way < ways; ++way) {
    if (keys[way].sector == s && keys[way].window == w) {
      gen_ = cache_[first + way].get();
      keys[way].used = ++cache_clock_;
      return;
    }
  }
  // A miss: the least recently used of the active ways (unused: 0).
  const std::size_t active = std::clamp<std::size_t>(budget / (sets * D), 2, ways);
  std::size_t victim = 0;
  for (std::size_t way = 1; way < active; ++way)
    if (keys[way].used < keys[victim].used) victim = way;
  std::unique_ptr<Generator>& slot = cache_[first + victim];
  if (!slot) slot = std::make_unique<Generator>();
  gen_ = slot.get();
  build_generator(*gen_);
  keys[victim] = {s, w, ++cache_clock_};
}

void JumpUnravelling::build_generator(Generator& g) {
  const int s = state_.sector;
  const Window w = state_.window;
  g.sector = s;
  g.window = w;
  const Index branches = branch_offset_.back();
  g.kraus_weights.resize(std::size_t(branches));
  g.kraus.resize(std::size_t(branches));
  g.kraus_window.resize(std::size_t(branches));
  g.has_kraus_weight.assign(std::size_t(branches), 0);
  g.has_kraus.assign(std::size_t(branches), 0);
  const Index D = model_.system_dim() * w.size;
  const auto& channels = model_.channels();
  g.decay.setZero(D);
  g.general.clear();
  if (model_.diagonal_channel_weights()) {
    g.weights.resize(channels.size());
    for (std::size_t c = 0; c < channels.size(); ++c) {
      model_.fill_channel_weight(int(c), s, w, g.weights[c]);
      if (!homodyne_channel_[c]) g.decay += channels[c].rate * g.weights[c];  // homodyne: in the diffusive part
    }
  } else {
    // General path: Gamma = sum_c rate_c W_c is not diagonal; it stays an operator in A, and no
    // scalar is factored out (c = 0).
    g.channel_ops.resize(channels.size());
    for (std::size_t c = 0; c < channels.size(); ++c) {
      model_.fill_channel_operator(int(c), s, w, g.channel_ops[c]);
      if (!homodyne_channel_[c]) g.general.emplace_back(&g.channel_ops[c], cplx(-0.5 * channels[c].rate));
    }
  }
  g.c = D > 0 ? g.decay.minCoeff() : 0.0;
  g.diag = (-0.5 * (g.decay.array() - g.c)).cast<cplx>();
  model_.fill_hamiltonian(s, w, w, g.H);
  g.bands.clear();
  Index pool = 0;
  const std::vector<Operator::Band> none;
  const auto& bands = g.H.is_banded() ? g.H.bands() : none;  // other forms are applied whole
  for (const auto& b : bands) pool += b.out_row == b.in_row ? 0 : b.size;
  g.coeffs.resize(std::size_t(pool));
  pool = 0;
  g.row_sum = 0.5 * (g.decay.array() - g.c);
  for (const auto& b : bands) {
    const double* coeff = g.H.coeff(b);
    const cplx f = -I * b.factor;
    const double af = std::abs(b.factor);
    double* row_sum = g.row_sum.data() + b.out_row;
    for (Index i = 0; i < b.size; ++i) row_sum[i] += af * std::abs(coeff[i]);

    if (b.out_row == b.in_row) {
      cplx* diag = g.diag.data() + b.out_row;
      for (Index i = 0; i < b.size; ++i) diag[i] += f * coeff[i];
    } else {
      g.bands.push_back({b.out_row, b.in_row, b.size, pool});
      cplx* out = g.coeffs.data() + pool;
      for (Index i = 0; i < b.size; ++i) out[i] = f * coeff[i];
      pool += b.size;
    }
  }
  if (!g.H.is_banded()) g.general.insert(g.general.begin(), {&g.H, -I});
  // The split form: diagonal (a + i b) as (a, a) and (-b, b); each band's parts likewise.
  g.split_diag_re.resize(std::size_t(2 * D));
  g.split_diag_im.resize(std::size_t(2 * D));
  for (Index i = 0; i < D; ++i) {
    g.split_diag_re[std::size_t(2 * i)] = g.split_diag_re[std::size_t(2 * i + 1)] = g.diag[i].real();
    g.split_diag_im[std::size_t(2 * i)] = -g.diag[i].imag();
    g.split_diag_im[std::size_t(2 * i + 1)] = g.diag[i].imag();
  }
  g.split_bands.clear();
  g.split_pool.clear();
  for (const auto& b : g.bands) {
    const cplx* c = g.coeffs.data() + b.offset;
    bool re = false, im = false;
    for (Index i = 0; i < b.size; ++i) re |= c[i].real() != 0.0, im |= c[i].imag() != 0.0;
    SplitBand sb{b.out, b.in, b.size, -1, -1};
    if (re) {
      sb.re = Index(g.split_pool.size());
      for (Index i = 0; i < b.size; ++i) g.split_pool.insert(g.split_pool.end(), {c[i].real(), c[i].real()});
    }
    if (im) {
      sb.im = Index(g.split_pool.size());
      for (Index i = 0; i < b.size; ++i) g.split_pool.insert(g.split_pool.end(), {-c[i].imag(), c[i].imag()});
    }
    if (re || im) g.split_bands.push_back(sb);
  }
  // The run form: rows cut where a band starts or ends; each run lists the bands over all of it.
  g.fused_runs.clear();
  g.fused_terms.clear();
  g.fused = g.general.empty();
  if (g.fused) {
    std::vector<Index>& cuts = g.cuts;
    cuts.assign({0, D});
    for (const auto& b : g.split_bands) cuts.insert(cuts.end(), {b.out, b.out + b.size});
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (std::size_t k = 0; g.fused && k + 1 < cuts.size(); ++k) {
      const Index r0 = cuts[k], r1 = cuts[k + 1];
      if (r0 >= D) break;
      FusedRun run{r0, r1 - r0, Index(g.fused_terms.size()), 0};
      for (const auto& b : g.split_bands) {
        if (b.out > r0 || b.out + b.size < r1) continue;  // a band covers a run whole or not at all
        if (b.re >= 0) g.fused = false;
        g.fused_terms.push_back({b.im + 2 * (r0 - b.out), 2 * (b.in + r0 - b.out)});
        ++run.count;
      }
      if (run.count > 4) g.fused = false;
      g.fused_runs.push_back(run);
    }
  }
  g.soa_runs.clear();
  g.soa_terms.clear();
  g.soa_pool.clear();
  if (g.fused) {
    g.soa_a.resize(std::size_t(D));
    g.soa_b.resize(std::size_t(D));
    for (Index i = 0; i < D; ++i) {
      g.soa_a[std::size_t(i)] = g.diag[i].real();
      g.soa_b[std::size_t(i)] = g.diag[i].imag();
    }
    // A fused term's row shift and its coefficient s_j at row begin + j (the pool holds (-s, s)).
    auto shift = [&](const FusedTerm& t, const FusedRun& r) { return t.in / 2 - r.begin; };
    auto has = [&](const FusedRun& r, Index sh) {
      for (Index k = 0; k < r.count; ++k)
        if (shift(g.fused_terms[std::size_t(r.first + k)], r) == sh) return true;
      return false;
    };
    auto subset = [&](const FusedRun& x, const FusedRun& y) {  // x's shifts among y's
      for (Index k = 0; k < x.count; ++k)
        if (!has(y, shift(g.fused_terms[std::size_t(x.first + k)], x))) return false;
      return true;
    };
    // Merge adjacent runs into groups [ka, kb) whose widest run (wide) lists every shift of the
    // others, each shift's input rows over the whole group within the padding.
    const std::size_t nruns = g.fused_runs.size();
    std::size_t ka = 0;
    while (ka < nruns) {
      std::size_t kb = ka + 1, wide = ka;
      for (; kb < nruns; ++kb) {
        const FusedRun& next = g.fused_runs[kb];
        const std::size_t cand = next.count > g.fused_runs[wide].count ? kb : wide;
        const FusedRun& other = cand == kb ? g.fused_runs[wide] : next;
        bool ok = subset(other, g.fused_runs[cand]);
        // every earlier run of the group must also be a subset of the candidate
        for (std::size_t k = ka; ok && k < kb; ++k) ok = subset(g.fused_runs[k], g.fused_runs[cand]);
        const Index gb = g.fused_runs[ka].begin, ge = next.begin + next.size;
        const FusedRun& w = g.fused_runs[cand];
        for (Index k = 0; ok && k < w.count; ++k) {
          const Index sh = shift(g.fused_terms[std::size_t(w.first + k)], w);
          ok = gb + sh >= -soa_pad && ge - 1 + sh < D + soa_pad;
        }
        if (!ok) break;
        wide = cand;
      }
      const FusedRun& w = g.fused_runs[wide];
      const Index gb = g.fused_runs[ka].begin;
      const Index ge = g.fused_runs[kb - 1].begin + g.fused_runs[kb - 1].size;
      g.soa_runs.push_back({gb, ge - gb, Index(g.soa_terms.size()), w.count});
      for (Index k = 0; k < w.count; ++k) {
        const Index sh = shift(g.fused_terms[std::size_t(w.first + k)], w);
        g.soa_terms.push_back({Index(g.soa_pool.size()), sh});
        for (std::size_t q = ka; q < kb; ++q) {
          const FusedRun& r = g.fused_runs[q];
          const FusedTerm* t = nullptr;
          for (Index m = 0; m < r.count; ++m)
            if (shift(g.fused_terms[std::size_t(r.first + m)], r) == sh) t = &g.fused_terms[std::size_t(r.first + m)];
          for (Index j = 0; j < r.size; ++j)
            g.soa_pool.push_back(t ? g.split_pool[std::size_t(t->coeff + 2 * j + 1)] : 0.0);
        }
      }
      ka = kb;
    }
  }
  // ||A||_inf <= max_i (sum_j |H_ij| + (Gamma_i - c)/2), plus the norms of the operators applied whole.
  g.norm = D > 0 ? g.row_sum.maxCoeff() : 0.0;
  // The hopping part's norm where a step's amplitude can go: H from the window to the window
  // widened by 2 rungs each side (the rows outside: the hops that leave the window). Rows
  // c W' + i (level c, rung i of the widened window), columns c W + i: a band's rung shift is
  // constant along it.
  const Index L = model_.ladder_size(s);
  const Index lo = std::max<Index>(0, w.begin - 2), hi = std::min<Index>(L, w.end() + 2);
  const Window reach{lo, hi - lo};
  model_.fill_hamiltonian(s, w, reach, g.H_reach);
  g.hop_shift = 1;
  if (g.H_reach.is_banded()) {
    g.hop_sum.setZero(model_.system_dim() * reach.size);
    for (const auto& b : g.H_reach.bands()) {
      const Index shift = std::abs((reach.begin + b.out_row % reach.size) - (w.begin + b.in_row % w.size));
      if (shift == 0) continue;
      g.hop_shift = std::max(g.hop_shift, shift);
      const double* coeff = g.H_reach.coeff(b);
      const double af = std::abs(b.factor);
      double* hop = g.hop_sum.data() + b.out_row;
      for (Index i = 0; i < b.size; ++i) hop[i] += af * std::abs(coeff[i]);
    }
    g.hop_norm = g.hop_sum.size() > 0 ? g.hop_sum.maxCoeff() : 0.0;
  } else {
    g.hop_norm = g.norm;
  }
  for (const auto& [op, factor] : g.general) g.norm += std::abs(factor) * op->infinity_norm();
  if (!g.general.empty()) g.hop_norm = g.norm;  // operators applied whole: all of A may hop (one rung, as before)
  g.model = &model_;
  g.outputs.resize(outputs_.size());
  g.output_rate = 0.0;
  for (std::size_t k = 0; k < outputs_.size(); ++k) {
    model_.fill_kraus(outputs_[k].channel, int(outputs_[k].branch), s, w, w, g.outputs[k]);
    const double n = g.outputs[k].infinity_norm();
    g.output_rate = std::max(g.output_rate, std::norm(outputs_[k].factor) * n * n);
  }
  if (model_.time_dependent()) {
    g.drives.resize(model_.drive_count());
    for (int i = 0; i < model_.drive_count(); ++i) model_.fill_drive(i, s, w, w, g.drives[i]);
  }
}

namespace {
/// log p for the squared norms of a step, which start at 1 and mostly stay within 1e-3 of it
/// (the scalar decay c is factored out): there the series of log(1 + d), d = p - 1 (exact by
/// Sterbenz's lemma), to d^7/7; the first term left out is below |d|^8 / 8 <= 1.3e-25, far under
/// the rounding of log p itself. Elsewhere libm's log. Saves a libm call on most steps.
inline double log_near_one(double p) {
  const double d = p - 1.0;
  if (!(std::abs(d) <= 1e-3)) return std::log(p);
  return d * (1.0 - d * (1.0 / 2 - d * (1.0 / 3 - d * (1.0 / 4 - d * (1.0 / 5 - d * (1.0 / 6 - d * (1.0 / 7)))))));
}

/// phi / ||phi|| with a real scale (Eigen's normalize() divides by a complex norm).
void normalise(CVec& phi) { phi *= 1.0 / std::sqrt(phi.squaredNorm()); }


/// The longest Taylor series of one step (a longer one halves the step).
constexpr Index max_taylor_terms = 40;

/// Distances (in applications of A's hopping part) the leak bound looks at; beyond, a rung's
/// contribution is bounded as a whole (JumpUnravelling::leak_bound).
constexpr int max_reach = 32;

/// tail[n] >= sum_{k >= n} x^k / k!, n = 0 .. max_reach, for 0 <= x <= 1: the exact terms up to
/// max_reach + 8, and beyond them the geometric bound x^K/K! / (1 - x/(K+1)) (under 1e-45).
void dyson_tails(double x, double* tail) {
  constexpr int K = max_reach + 8;
  double term[K + 1];
  term[0] = 1.0;
  for (int k = 1; k <= K; ++k) term[k] = term[k - 1] * x / double(k);
  double sum = term[K] / (1.0 - x / double(K + 1));
  for (int k = K - 1; k > max_reach; --k) sum += term[k];
  for (int n = max_reach; n >= 0; --n) tail[n] = (sum += term[n]);
}

/// The leak bound's target, as a share of sqrt(window_tol): population window_tol / 100 per
/// step. The factor 10 in amplitude is room for what the bound leaves out (amplitude that has
/// left the window grows by exp(h (c - Gamma)/2) where the decay rate Gamma there is below the
/// window's c) and for the sum over steps; it keeps windowed runs within 1e-10 of full
/// sectors over hundreds of jumps (measured 1e-11 at N = 300 against 1e-9 with the factor 1;
/// tests/solver/jump.test.cpp).
constexpr double leak_share = 0.1;

/// Reaches x on a grid of 1/64 (rounded up: every tail grows with x), their tails precomputed.
constexpr int reach_grid = 64;
const std::vector<double>& tail_table() {
  static const std::vector<double> table = [] {
    std::vector<double> t(std::size_t((reach_grid + 1) * (max_reach + 1)));
    for (int q = 0; q <= reach_grid; ++q) dyson_tails(double(q) / reach_grid, t.data() + q * (max_reach + 1));
    return t;
  }();
  return table;
}
}  // namespace

double JumpUnravelling::leak_bound(bool hi, Index cut, Index reach_shift, double norm2) const {
  // Amplitude past the edge after a step: with A = D + B (D: the rung-diagonal blocks, a
  // contraction; B: the hopping part, ||B|| <= hop_norm, at most hop_shift rungs a time), the
  // Dyson series of exp(h A) carries rung r to distance >= n only through >= n/hop_shift factors
  // of B, so ||P_out exp(h A) P_r phi|| <= ||P_r phi|| tail[ceil(n / hop_shift)] with x = h
  // hop_norm. Summed over the rungs (triangle inequality); rungs further than max_reach
  // applications, or where tail * sqrt(W norm2) is negligible, contribute at most that together
  // (Cauchy-Schwarz).
  // `cut` rungs at the edge are left out (a trim's candidate window); reach_shift rungs of
  // extra reach (the homodyne part) shorten every distance.
  const Index d = model_.system_dim();
  const Window w = state_.window;
  const Index step = gen_->hop_shift;
  double sum = 0.0;
  Index i = std::max<Index>(cut, 0);
  // The rest together once it cannot reach 1e-3 of sqrt(window_tol) (tail decreasing in n).
  const double rest = std::sqrt(double(w.size) * norm2), negligible = 1e-3 * std::sqrt(options_.window_tol * norm2);
  for (; i < w.size; ++i) {
    const Index dist = i - cut + 1 - reach_shift;
    const Index n = std::min<Index>(max_reach, dist <= 0 ? 0 : (dist + step - 1) / step);
    if (tails_[n] * rest <= negligible) break;
    const Index r = hi ? w.size - 1 - i : i;
    double p = 0.0;
    for (Index c = 0; c < d; ++c) p += std::norm(state_.psi(c * w.size + r));
    sum += std::sqrt(p) * tails_[n];
  }
  if (i < w.size) {
    const Index dist = i - cut + 1 - reach_shift;
    sum += tails_[std::min<Index>(max_reach, dist <= 0 ? 0 : (dist + step - 1) / step)] * rest;
  }
  return sum;
}

void JumpUnravelling::resize_window(Index add_lo, Index add_hi) {
  // Negative counts remove rungs; the caller accounts for what they held.
  const Index d = model_.system_dim();
  const Window w = state_.window;
  const Window nw{w.begin - add_lo, w.size + add_lo + add_hi};
  CVec psi = CVec::Zero(d * nw.size);
  const Index keep_from = std::max<Index>(0, -add_lo), keep = w.size - keep_from - std::max<Index>(0, -add_hi);
  for (Index c = 0; c < d; ++c)
    psi.segment(c * nw.size + std::max<Index>(0, add_lo), keep) = state_.psi.segment(c * w.size + keep_from, keep);
  state_.psi = std::move(psi);
  state_.window = nw;
}

void JumpUnravelling::set_reach(double x) {
  // h ||A|| <= 1 on windows and ||B|| <= ||A|| (a part of the same row sums): x <= 1 up to
  // rounding, and the grid's top row serves a rounding excess.
  const double scaled = x * reach_grid;
  int q = int(scaled);  // ceil without a libm call (x >= 0)
  if (double(q) < scaled) ++q;
  q = std::min(reach_grid, q);
  tails_ = tail_table().data() + q * (max_reach + 1);
}

bool JumpUnravelling::ensure_window(TrajectoryStatistics& stats) {
  const Window w = state_.window;
  const Index L = model_.ladder_size(state_.sector);
  const double limit = leak_share * std::sqrt(options_.window_tol);  // phi is normalised between steps
  // Rungs to add at a side: the fewest that bring its leak bound to sqrt(window_tol) (each
  // added rung lengthens every distance by one), and at least one where the edge rung itself
  // holds more than window_tol (a short step's bound allows that; the next may be long), plus a
  // slack of W/16 rungs for wide windows (a polarised bath's window moves steadily). Narrow
  // windows get none: at the Fig. 2 point the old slack of max(2, W/8) kept them 1.0-1.1 rungs
  // wider on average (N = 1e3 - 1e5) for 5 growths per trajectory instead of 11, which cost more
  // in every per-step pass than the growths it saved.
  const Index d = model_.system_dim();
  auto edge = [&](bool hi) {
    double p = 0.0;
    for (Index c = 0; c < d; ++c) p += std::norm(state_.psi(c * w.size + (hi ? w.size - 1 : 0)));
    return p;
  };
  auto shortfall = [&](bool hi) -> Index {
    Index add = edge(hi) > options_.window_tol ? 1 : 0;
    while (add < max_reach * gen_->hop_shift && leak_bound(hi, -add, 2 * output_shift_, 1.0) > limit) ++add;
    return add;
  };
  const Index extra = w.size / 16;
  Index add_lo = w.begin > 0 ? shortfall(false) : 0, add_hi = w.end() < L ? shortfall(true) : 0;
  if (add_lo > 0) add_lo = std::min(w.begin, add_lo + extra);
  if (add_hi > 0) add_hi = std::min(L - w.end(), add_hi + extra);
  if (add_lo == 0 && add_hi == 0) return false;
  resize_window(add_lo, add_hi);
  ++stats.window_growths;
  stats.max_window = std::max(stats.max_window, state_.window.size);
  return true;
}

double JumpUnravelling::trim_window(double norm2) {
  const Index d = model_.system_dim();
  const Window w = state_.window;
  const Index L = model_.ladder_size(state_.sector);
  const double clear = options_.window_tol * norm2, limit = leak_share * std::sqrt(options_.window_tol * norm2);
  auto rung = [&](Index i) {
    double p = 0.0;
    for (Index c = 0; c < d; ++c) p += std::norm(state_.psi(c * w.size + i));
    return p;
  };
  // At a side: the most rungs whose population is <= window_tol each and whose removal leaves
  // the leak bound of the last step's reach, with 2 rungs of headroom, within sqrt(window_tol);
  // cut only when that exceeds 2 rungs (a hysteresis: the reach varies with the step length,
  // and the window, with the generator cached for it, then survives most jumps).
  auto cuttable = [&](bool hi, Index room) -> Index {
    Index m = 0;
    while (m < room && rung(hi ? w.size - 1 - m : m) <= clear) ++m;
    while (m > 2 && leak_bound(hi, m, 2 + 2 * output_shift_, norm2) > limit) --m;
    return m > 2 ? m : 0;
  };
  const Index cut_lo = w.begin > 0 ? cuttable(false, w.size - 1) : 0;
  const Index cut_hi = w.end() < L ? cuttable(true, w.size - 1 - cut_lo) : 0;
  if (cut_lo == 0 && cut_hi == 0) return 0.0;
  double discarded = 0.0;
  for (Index c = 0; c < d; ++c)
    discarded += state_.psi.segment(c * w.size, cut_lo).squaredNorm() +
                 state_.psi.segment(c * w.size + w.size - cut_hi, cut_hi).squaredNorm();
  resize_window(-cut_lo, -cut_hi);
  return discarded;
}

double JumpUnravelling::top_level_population(int mode) { return model_.truncation_population(mode, state_); }

double JumpUnravelling::edge_population() const {
  const Index d = model_.system_dim();
  const Window w = state_.window;
  const Index L = model_.ladder_size(state_.sector);
  double p = 0.0;
  for (Index c = 0; c < d; ++c) {
    if (w.begin > 0) p = std::max(p, std::norm(state_.psi(c * w.size)));
    if (w.end() < L) p = std::max(p, std::norm(state_.psi(c * w.size + w.size - 1)));
  }
  return p / state_.psi.squaredNorm();
}

Index JumpUnravelling::soa_stride() const { return 2 * soa_dim_ + 3 * soa_pad; }
double* JumpUnravelling::soa_term(Index n) { return soa_buffer_.data() + n * soa_stride() + soa_pad; }
const double* JumpUnravelling::soa_term(Index n) const { return soa_buffer_.data() + n * soa_stride() + soa_pad; }
void JumpUnravelling::join(const double* split, Index D, CVec& phi) {
  phi.resize(D);
  double* p = reinterpret_cast<double*>(phi.data());
  const double* im = split + D + soa_pad;
  for (Index i = 0; i < D; ++i) {
    p[2 * i] = split[i];
    p[2 * i + 1] = im[i];
  }
}

double JumpUnravelling::taylor_step(double h) {
  const Index D = state_.psi.size();
  const double tol2 = options_.taylor_tol * options_.taylor_tol;
  constexpr Index max_terms = max_taylor_terms;
  // Terms w_n = (h/n) A w_{n-1} (apply(n, h/n) writes w_n, returns its squared norm) until
  // ||w_n||^2 <= tol^2 ||w_0||^2, with w_0 and its norm in place; the step is halved while the
  // series converges too slowly. Returns the step taken.
  const auto series = [&](const auto& apply) {
    for (;;) {
      Index n = 1;
      for (; n < max_terms; ++n) {
        term_norm2_[n] = apply(n, h / double(n));
        if (term_norm2_[n] <= tol2 * term_norm2_[0]) break;
      }
      if (n < max_terms) {
        n_terms_ = n + 1;
        return h;
      }
      h *= 0.5;
    }
  };
  soa_ = gen_->fused;
  if (soa_) {
    if (D != soa_dim_) {  // zeros everywhere: the padding stays zero (nothing writes it)
      soa_dim_ = D;
      soa_buffer_.assign(std::size_t(max_terms * soa_stride()), 0.0);
      soa_work_.assign(std::size_t(soa_stride()), 0.0);
      soa_work2_.assign(std::size_t(soa_stride()), 0.0);
      term_norm2_.resize(max_terms);
    }
    double* re = soa_term(0);
    double* im = re + D + soa_pad;
    const double* p = reinterpret_cast<const double*>(state_.psi.data());
    for (Index i = 0; i < D; ++i) {
      re[i] = p[2 * i];
      im[i] = p[2 * i + 1];
    }
    term_norm2_[0] = state_.psi.squaredNorm();
    return series([&](Index n, double scale) { return gen_->apply_soa_norm(soa_term(n - 1), soa_term(n), scale); });
  }
  // The terms live in one buffer (no allocation once warm).
  if (D != term_dim_) {
    term_dim_ = D;
    term_buffer_.resize(std::size_t(max_terms * D));
    term_norm2_.resize(max_terms);
  }
  std::copy_n(state_.psi.data(), D, term(0));
  term_norm2_[0] = state_.psi.squaredNorm();
  return series([&](Index n, double scale) { return gen_->apply_norm(term(n - 1), term(n), scale); });
}

namespace {
/// p = theta p + w over n complex entries (Horner), as doubles.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void horner_step(double* p, double theta, const double* w, Index n) {
  for (Index i = 0; i < n; ++i) p[i] = theta * p[i] + w[i];
}
}  // namespace

void JumpUnravelling::evaluate(double theta, CVec& phi) const {
  if (soa_) {  // Horner on the split parts (the padding between them stays zero), then joined
    const Index n2 = 2 * soa_dim_ + soa_pad;
    double* p = soa_work_.data() + soa_pad;
    std::copy_n(soa_term(n_terms_ - 1), n2, p);
    for (Index n = n_terms_ - 2; n >= 0; --n) horner_step(p, theta, soa_term(n), n2);
    join(p, soa_dim_, phi);
    return;
  }
  const Index D = term_dim_;
  phi.resize(D);
  std::copy_n(term(n_terms_ - 1), D, phi.data());
  double* p = reinterpret_cast<double*>(phi.data());
  for (Index n = n_terms_ - 2; n >= 0; --n) horner_step(p, theta, reinterpret_cast<const double*>(term(n)), 2 * D);
}

double JumpUnravelling::evaluate_with_derivative(double theta, CVec& phi) {
  // phi(theta) = sum theta^n w_n and d phi/d theta = sum n theta^(n-1) w_n, by Horner.
  if (soa_) {
    const Index n2 = 2 * soa_dim_ + soa_pad, T = n_terms_;
    double* p = soa_work_.data() + soa_pad;
    double* dp = soa_work2_.data() + soa_pad;
    const double* last = soa_term(T - 1);
    for (Index i = 0; i < n2; ++i) {
      p[i] = last[i];
      dp[i] = double(T - 1) * last[i];
    }
    for (Index n = T - 2; n >= 1; --n) {
      const double* w = soa_term(n);
      for (Index i = 0; i < n2; ++i) {
        p[i] = theta * p[i] + w[i];
        dp[i] = theta * dp[i] + double(n) * w[i];
      }
    }
    horner_step(p, theta, soa_term(0), n2);
    join(p, soa_dim_, phi);
    return 2.0 * dot_real(p, dp, n2) / dot_real(p, p, n2);  // d/dtheta log ||phi||^2
  }
  const Index D = term_dim_;
  auto w = [&](Index n) { return Eigen::Map<const CVec>(term(n), D); };
  CVec& dphi = dphi_;
  phi = w(n_terms_ - 1);
  dphi = double(n_terms_ - 1) * w(n_terms_ - 1);
  for (Index n = n_terms_ - 2; n >= 1; --n) {
    phi = theta * phi + w(n);
    dphi = theta * dphi + double(n) * w(n);
  }
  phi = theta * phi + w(0);
  return 2.0 * phi.dot(dphi).real() / phi.squaredNorm();  // d/dtheta log ||phi||^2
}

namespace {
/// The off-diagonal part of the norm polynomial of T terms (w_n at w + n stride, n doubles
/// each): a_k += 2 sum_{a<b, a+b=k} w_a . w_b, all pairs in one pass over the entries (four
/// lanes of partial sums per degree, a fixed order: the same bits on every run).
template <int T>
[[gnu::always_inline]] inline void gram_fixed(const double* w, Index stride, Index n, double* poly) {
  double acc[2 * T - 1][4] = {};
  Index j = 0;
  for (; j + 4 <= n; j += 4)
    for (int a = 0; a < T; ++a)
      for (int b = a + 1; b < T; ++b)
        for (int l = 0; l < 4; ++l) acc[a + b][l] += w[a * stride + j + l] * w[b * stride + j + l];
  for (; j < n; ++j)
    for (int a = 0; a < T; ++a)
      for (int b = a + 1; b < T; ++b) acc[a + b][0] += w[a * stride + j] * w[b * stride + j];
  for (int k = 1; k < 2 * T - 2; ++k) poly[k] += 2.0 * ((acc[k][0] + acc[k][1]) + (acc[k][2] + acc[k][3]));
}

__attribute__((target_clones("arch=x86-64-v3", "default")))
bool gram(const double* w, Index stride, Index n, Index T, double* poly) {
  switch (T) {
    case 2: gram_fixed<2>(w, stride, n, poly); return true;
    case 3: gram_fixed<3>(w, stride, n, poly); return true;
    case 4: gram_fixed<4>(w, stride, n, poly); return true;
    case 5: gram_fixed<5>(w, stride, n, poly); return true;
    case 6: gram_fixed<6>(w, stride, n, poly); return true;
    case 7: gram_fixed<7>(w, stride, n, poly); return true;
    case 8: gram_fixed<8>(w, stride, n, poly); return true;
    default: return false;
  }
}

}  // namespace

void JumpUnravelling::norm_polynomial() {
  // a_k = sum_{n+m=k} Re <w_n|w_m>; Re <x|y> is the real dot product of the interleaved
  // (re, im) arrays. The degrees k >= T hold only some of their pairs (w_T, ... were not
  // formed): they are part of ||phi(theta)||^2 for the truncated series phi, not of the exact
  // norm's Taylor series. They are left out (degree T - 1: about half the pairs, and a shorter
  // polynomial for the Newton iteration) when together they cannot move ||phi(theta)||^2,
  // theta in [0, 1], by more than jump_tol / 100 relative: by Cauchy-Schwarz, |<w_a|w_b>| <=
  // ||w_a|| ||w_b||, summed over the pairs left out. Steps cut short by the jump have small
  // h ||A||, whose terms fall fast, and pass (at N = 1e3 - 1e5 the sum is ~1e-18); long series
  // (full sectors, h ||A|| up to 3) keep every pair.
  // Re <w_a|w_b> is the real dot product of the interleaved (re, im) arrays, or of the split
  // parts with the zeros between them.
  const Index T = n_terms_, D2 = soa_ ? 2 * soa_dim_ + soa_pad : 2 * term_dim_;
  const Index stride = soa_ ? soa_stride() : D2;
  const double* w = soa_ ? soa_term(0) : reinterpret_cast<const double*>(term(0));
  if (T >= 6) {  // (shorter series: few pairs to leave out, and gram() is as fast)
    double r[max_taylor_terms], left_out = 0.0;
    for (Index n = 0; n < T; ++n) r[n] = std::sqrt(term_norm2_[std::size_t(n)]);
    for (Index a = 1; a < T; ++a)
      for (Index b = std::max(a, T - a); b < T; ++b) left_out += (a == b ? 1.0 : 2.0) * r[a] * r[b];
    if (left_out <= 1e-2 * options_.jump_tol * term_norm2_[0]) {
      poly_.assign(std::size_t(T), 0.0);
      for (Index n = 0; 2 * n < T; ++n) poly_[std::size_t(2 * n)] = term_norm2_[std::size_t(n)];
      for (Index a = 0; a < T; ++a)  // pair by pair (for six terms and more, gram()'s lanes outnumber the registers)
        for (Index b = a + 1; b < T && a + b < T; ++b) poly_[std::size_t(a + b)] += 2.0 * dot_real(w + a * stride, w + b * stride, D2);
      return;
    }
  }
  poly_.assign(std::size_t(2 * T - 1), 0.0);
  for (Index n = 0; n < T; ++n) poly_[std::size_t(2 * n)] += term_norm2_[n];
  if (gram(w, stride, D2, T, poly_.data())) return;
  for (Index n = 0; n < T; ++n)
    for (Index m = n + 1; m < T; ++m) poly_[std::size_t(n + m)] += 2.0 * dot_real(w + n * stride, w + m * stride, D2);
}

std::pair<double, double> JumpUnravelling::norm_squared(double theta) const {
  double p = 0.0, dp = 0.0;
  for (std::size_t k = poly_.size(); k-- > 0;) {
    dp = dp * theta + p;
    p = p * theta + poly_[k];
  }
  return {p, dp};
}

// The AVX2/FMA clone where the machine has it: the Newton iteration is a chain of dependent
// Horner steps, logarithm series terms and divisions (fused multiply-adds shorten it).
__attribute__((target_clones("arch=x86-64-v3", "default")))
double JumpUnravelling::locate_jump(double f0, double f1, double ch, bool polynomial, TrajectoryStatistics& stats) {
  // Newton with bisection fallback on f(theta) = f0 - c h theta + log ||phi(theta)||^2.
  double lo = 0.0, hi = 1.0, theta = f0 / (f0 - f1);
  for (int it = 0; it < 100; ++it) {
    ++stats.root_iterations;
    double f = 0.0, dlog = 0.0;
    if (polynomial) {
      const auto [p, dp] = norm_squared(theta);
      f = f0 - ch * theta + log_near_one(p);
      dlog = dp / p;
    } else {
      dlog = evaluate_with_derivative(theta, scratch_);
      f = f0 - ch * theta + log_near_one(scratch_.squaredNorm());
    }
    if (std::abs(f) <= options_.jump_tol) break;
    (f > 0 ? lo : hi) = theta;  // f == 0 has returned above: it never moves the bracket
    const double df = -ch + dlog;
    double next_theta = df < 0 ? theta - f / df : 0.5 * (lo + hi);
    if (!(next_theta > lo && next_theta < hi)) next_theta = 0.5 * (lo + hi);
    if (hi - lo <= 4 * std::numeric_limits<double>::epsilon()) break;
    theta = next_theta;
  }
  return theta;
}

// The AVX2/FMA clone where the machine has it (short passes over the state and its weights).
__attribute__((target_clones("arch=x86-64-v3", "default")))
void JumpUnravelling::jump(Rng& rng, TrajectoryStatistics& stats) {
  const auto& channels = model_.channels();
  Generator& g = *gen_;
  // K_b from this (sector, window) to its target window, built once per generator.
  auto kraus = [&](Index c, Index b) -> const Operator& {
    const std::size_t f = std::size_t(branch_offset_[std::size_t(c)] + b);
    if (!g.has_kraus[f]) {
      const int target = g.sector + channels[std::size_t(c)].sector_shift[std::size_t(b)];
      g.kraus_window[f] = options_.full_sectors ? model_.full_window(target)
                                                : model_.branch_window(int(c), int(b), g.sector, g.window);
      model_.fill_kraus(int(c), int(b), g.sector, g.window, g.kraus_window[f], g.kraus[f]);
      g.has_kraus[f] = 1;
    }
    return g.kraus[f];
  };
  const CVec& phi = state_.psi;
  const Index D = phi.size();
  const bool diagonal = model_.diagonal_channel_weights();
  if (diagonal) population_ = phi.cwiseAbs2();
  // <W> = sum_i W_ii |phi_i|^2 for a diagonal W (a real dot product with the populations).
  auto weight = [&](const RVec& w) { return dot_real(w.data(), population_.data(), D); };
  // Stage 1: the channel, from its weight rate_c <W_c> (a dot product with the populations
  // where W_c is diagonal).
  channel_p_.resize(channels.size());
  double total = 0.0;
  for (std::size_t c = 0; c < channels.size(); ++c)
    total += (channel_p_[c] = homodyne_channel_[c] ? 0.0
                              : channels[c].rate * (diagonal ? weight(g.weights[c])
                                                             : std::max(0.0, g.channel_ops[c].expectation(phi).real())));
  if (!(total > 0)) throw NumericalError("a jump with no jump channel of positive weight");
  double u = boost::random::uniform_01<double>()(rng) * total;
  std::size_t c = 0;
  while (c + 1 < channels.size() && (u -= channel_p_[c]) >= 0.0) ++c;
  while (channel_p_[c] == 0.0 && c > 0) --c;  // rounding at the end of the list: last positive channel
  // Stage 2: the branch (target sector), from ||K_b phi||^2 = <phi|K_b^+K_b|phi> (diagonal).
  const Channel& ch = channels[c];
  const int s = state_.sector;
  branch_p_.resize(std::size_t(ch.branches()));
  double branch_total = 0.0;
  Index computed = -1;  // general path: the branch whose K_b phi scratch2_ holds (the last computed)
  for (Index b = 0; b < ch.branches(); ++b) {
    double w = 0.0;
    const int target = s + ch.sector_shift[b];
    if (model_.has_sector(target) && diagonal) {
      const std::size_t f = std::size_t(branch_offset_[c] + b);
      if (!g.has_kraus_weight[f]) {
        model_.fill_kraus_weight(int(c), int(b), s, state_.window, g.kraus_weights[f]);
        g.has_kraus_weight[f] = 1;
      }
      w = weight(g.kraus_weights[f]);
    } else if (model_.has_sector(target)) {  // general path: ||K_b phi||^2
      const Operator& K = kraus(Index(c), b);
      scratch2_.setZero(K.rows());
      K.apply(phi, scratch2_);
      w = scratch2_.squaredNorm();
      computed = b;
    }
    branch_total += (branch_p_[b] = w);
  }
  const double expected = channel_p_[c] / ch.rate;
  if (expected > 0)
    stats.max_branch_mismatch = std::max(stats.max_branch_mismatch, std::abs(branch_total - expected) / expected);
  if (!(branch_total > 0))
    throw NumericalError(fmt::format("jump in channel {} with no branch of positive weight", ch.name));
  u = boost::random::uniform_01<double>()(rng) * branch_total;
  Index b = 0;
  while (b + 1 < ch.branches() && (u -= branch_p_[b]) >= 0.0) ++b;
  while (branch_p_[b] == 0.0 && b > 0) --b;  // rounding at the end of the list: last positive branch
  // Full sectors stay full: the image of the window is not the whole target sector (j -> j+1
  // adds two rungs at the top), and nothing would grow it back.
  const int target = s + ch.sector_shift[b];
  const Operator& K = kraus(Index(c), b);
  const Window wt = g.kraus_window[std::size_t(branch_offset_[c] + b)];
  if (computed != b) {  // the general path's weight loop has it already when b was computed last
    scratch2_.resize(K.rows());
    if (!apply_real_bands(K, phi.data(), scratch2_.data())) {
      scratch2_.setZero();
      K.apply(phi, scratch2_);
    }
  }
  // Self-check of the declared weights: ||K_b phi||^2 against the branch weight used to choose it
  // (equal up to rounding unless a model's weights are not its Kraus operators' K^+K).
  const double applied = scratch2_.squaredNorm();
  stats.max_branch_mismatch = std::max(stats.max_branch_mismatch, std::abs(applied - branch_p_[b]) / branch_p_[b]);
  state_.sector = target;
  state_.window = wt;
  state_.psi.swap(scratch2_);
  double norm2 = applied;  // ||K_b phi||^2: one pass over the new state for the self-check and the norm
  if (!options_.full_sectors) {
    // Rungs of population <= window_tol each that the last step's reach does not need, with 2
    // rungs of headroom (trim_window). (Trimmed before normalising: one normalisation.) The
    // leak bound is taken with the source generator's hopping norm and the target's state: the
    // target generator is not selected yet; its norm differs by the shift of one rung.
    const double discarded = trim_window(norm2);
    stats.max_trimmed_population = std::max(stats.max_trimmed_population, discarded / norm2);
    if (discarded > 0) norm2 = state_.psi.squaredNorm();
  }
  state_.psi *= 1.0 / std::sqrt(norm2);
  ++stats.jumps;
  if (stats.jumps_per_channel.size() < channels.size()) stats.jumps_per_channel.resize(channels.size(), 0);
  ++stats.jumps_per_channel[c];
  ++counts_[c];
}

void JumpUnravelling::run(Rng& rng, double* record, TrajectoryStatistics& stats, double* measurement) {
  const Index raw = observables_.raw_size();
  integrated_.setZero(Index(outputs_.size()));
  counts_.assign(model_.channels().size(), 0);
  ++stats.trajectories;
  state_ = model_.sample_initial(rng, options_.full_sectors, options_.window_tol);
  normalise(state_.psi);
  log_scale_ = 0.0;
  stats.max_window = std::max(stats.max_window, state_.window.size);
  double log_r = std::log(uniform_open0(rng));
  select_generator();
  double t = times_[0];
  const int modes = int(model_.truncated_modes().size());
  stats.top_level_population.resize(std::size_t(modes));
  for (auto& p : stats.top_level_population) p.resize(times_.size(), 0.0);
  auto measure = [&](std::size_t i) {
    observables_.measure(state_, times_[i], record + Index(i) * raw);
    for (int m = 0; m < modes; ++m) stats.top_level_population[std::size_t(m)][i] += top_level_population(m);
    if (measurement) {
      double* row = measurement + Index(i) * measurement_width();
      for (Index k = 0; k < integrated_.size(); ++k) *row++ = integrated_(k);
      for (std::size_t c = 0; c < counts_.size(); ++c)
        if (!homodyne_channel_[c]) *row++ = double(counts_[c]);
    }
  };
  measure(0);
  if (model_.time_dependent()) {
    run_driven(rng, stats, log_r, measure);
    return;
  }
  std::size_t next = 1;
  while (next < times_.size()) {
    const double t_out = times_[next];
    const double f0 = log_scale_ - log_r;  // log ||psi||^2 - log r >= 0 until the jump
    double h = 0.0;
    auto plan = [&] {
      const Generator& g = *gen_;
      h = t_out - t;
      // Steps of dt_sde; a rounding remainder before an output time joins the last step (t is a sum
      // of steps and rarely lands on t_out exactly; a 1e-17 step would cost a whole step).
      if (!outputs_.empty() && h > options_.dt_sde * (1 + 1e-8)) h = options_.dt_sde;
      // Taylor steps with h ||A|| <= 1 on windows (the leak bound assumes it) and <= 3 on full
      // sectors: fewer operator applications per unit time; the largest term, 3^3/3! = 4.5,
      // costs at most one digit to cancellation.
      if (g.norm > 0) h = std::min(h, (options_.full_sectors ? 3.0 : 1.0) / g.norm);
      if (g.c > 0) h = std::min(h, f0 / g.c);  // the jump cannot come later than this
    };
    plan();
    // The diffusive part applies each output's K twice (the Milstein term): 2 shifts more.
    if (!options_.full_sectors) set_reach(h * gen_->hop_norm);
    if (!options_.full_sectors && ensure_window(stats)) {
      select_generator();
      plan();
    }
    const Generator& g = *gen_;
    const bool to_output = h == t_out - t;
    const double h_used = taylor_step(h);
    ++stats.taylor_steps;
    stats.taylor_terms += n_terms_;
    const double ch = g.c * h_used;
    // A step of h = f0 / c (the latest possible jump time) holds the jump: ||phi|| cannot grow.
    // Then f1 comes from the norm polynomial, and phi(1) is never formed.
    const bool polynomial = n_terms_ <= options_.polynomial_root_terms;
    const bool holds_jump = polynomial && g.c > 0 && h_used == f0 / g.c;
    double f1 = 0.0;
    if (holds_jump) {
      norm_polynomial();
      f1 = f0 - ch + log_near_one(norm_squared(1.0).first);
    }
    if (!holds_jump || f1 > options_.jump_tol) {
      evaluate(1.0, scratch_);
      f1 = f0 - ch + log_near_one(scratch_.squaredNorm());
    }
    // No jump in this step. The threshold is jump_tol, not 0: a step cut at h = f0 / c ends on
    // the jump up to rounding, and a rounding-positive f1 would otherwise start a Zeno loop of
    // steps of length f1 / c that never reach it (uniform decay makes this the rule, not the
    // exception).
    if (f1 > options_.jump_tol) {
      const double n2 = scratch_.squaredNorm();
      state_.psi.swap(scratch_);
      state_.psi *= 1.0 / std::sqrt(n2);
      log_scale_ += log_near_one(n2) - ch;
      homodyne_step(t, h_used, rng, stats);
      if (!options_.full_sectors) stats.max_edge_population = std::max(stats.max_edge_population, edge_population());
      if (to_output && h_used == h) {
        t = t_out;
        measure(next);
        ++next;
      } else {
        t += h_used;
      }
      continue;
    }
    // The jump lies in this step, at its end already when |f1| <= jump_tol.
    double theta = 1.0;
    if (f1 < -options_.jump_tol) {
      if (polynomial && !holds_jump) norm_polynomial();
      theta = locate_jump(f0, f1, ch, polynomial, stats);
      evaluate(theta, scratch_);
    } else if (holds_jump) {
      evaluate(1.0, scratch_);
    }
    state_.psi.swap(scratch_);
    if (!outputs_.empty()) {
      normalise(state_.psi);
      homodyne_step(t, theta * h_used, rng, stats);
    }
    t += theta * h_used;
    jump(rng, stats);
    log_scale_ = 0.0;
    log_r = std::log(uniform_open0(rng));
    stats.max_window = std::max(stats.max_window, state_.window.size);
    select_generator();
  }
}

void JumpUnravelling::run_driven(Rng& rng, TrajectoryStatistics& stats, double log_r,
                                 const std::function<void(std::size_t)>& measure) {
  // H(t) = H + sum_i f_i(t) H_i: adaptive Dormand-Prince steps whose embedded error sees the
  // drive; the jump time is located by re-stepping from the step's start (Illinois regula falsi),
  // so it carries the integrator's accuracy, not an interpolant's.
  double t = times_[0];
  double h = std::min(0.1, 1.0 / std::max(1.0, gen_->norm));
  std::size_t next = 1;
  while (next < times_.size()) {
    const Generator& g = *gen_;
    const double t_out = times_[next];
    const double f0 = log_scale_ - log_r;
    double hh = std::min(h, t_out - t);
    if (!outputs_.empty() && hh > options_.dt_sde * (1 + 1e-8)) hh = options_.dt_sde;  // as in run()
    if (g.c > 0) hh = std::min(hh, f0 / g.c);
    const double err = ode_->try_step(t, state_.psi, hh, scratch_);
    ++stats.taylor_steps;
    if (!(err <= 1.0)) {
      if (!std::isfinite(err)) throw NumericalError("driven trajectory: non-finite state");
      h = hh * std::max(0.2, 0.9 * std::pow(err, -0.2));
      continue;
    }
    h = hh * std::min(5.0, 0.9 * std::pow(std::max(err, 1e-10), -0.2));
    const double f1 = f0 - g.c * hh + std::log(scratch_.squaredNorm());
    if (f1 > options_.jump_tol) {  // no jump; jump_tol, not 0, as in run()
      const double n2 = scratch_.squaredNorm();
      state_.psi = scratch_ / std::sqrt(n2);
      log_scale_ += std::log(n2) - g.c * hh;
      homodyne_step(t, hh, rng, stats);
      if (hh == t_out - t) {
        t = t_out;
        measure(next++);
      } else {
        t += hh;
      }
      continue;
    }
    // Root of f(theta) = f0 - c h theta + log ||phi(t + theta h)||^2 in (0, 1].
    double lo = 0.0, hi = 1.0, flo = f0, fhi = f1, theta = 1.0;
    int side = 0;
    if (f1 >= -options_.jump_tol) scratch2_ = scratch_;  // the jump is at the step's end
    for (int it = 0; it < 100 && f1 < -options_.jump_tol; ++it) {
      ++stats.root_iterations;
      theta = (lo * fhi - hi * flo) / (fhi - flo);
      if (!(theta > lo && theta < hi)) theta = 0.5 * (lo + hi);
      ode_->try_step(t, state_.psi, theta * hh, scratch2_);
      const double f = f0 - g.c * hh * theta + std::log(scratch2_.squaredNorm());
      if (std::abs(f) <= options_.jump_tol || hi - lo <= 4 * std::numeric_limits<double>::epsilon()) break;
      if (f > 0) {
        lo = theta, flo = f;
        if (side == +1) fhi *= 0.5;  // Illinois: keep the stale end from stalling the iteration
        side = +1;
      } else {
        hi = theta, fhi = f;
        if (side == -1) flo *= 0.5;
        side = -1;
      }
    }
    state_.psi = scratch2_;
    if (!outputs_.empty()) {
      normalise(state_.psi);
      homodyne_step(t, theta * hh, rng, stats);
    }
    t += theta * hh;
    jump(rng, stats);
    log_scale_ = 0.0;
    log_r = std::log(uniform_open0(rng));
    select_generator();
  }
}

void JumpUnravelling::homodyne_step(double t, double h, Rng& rng, TrajectoryStatistics& stats) {
  const Index m = Index(outputs_.size());
  if (m == 0 || !(h > 0)) return;
  const Generator& g = *gen_;
  if (noise_source_) {
    noise_source_(t, h, dw_);
  } else {
    // Terms for the nominal step dt_sde: shorter steps (before a jump or an output time) are few,
    // and their areas, O(h), only get smaller.
    const int terms = options_.levy_areas ? levy_area_terms(m, g.output_rate, options_.dt_sde) : 0;
    stats.max_levy_area_terms = std::max(stats.max_levy_area_terms, terms);
    wiener_.draw(rng, h, terms, dw_);
  }
  if (dw_.dW.size() != m || dw_.I.rows() != m || dw_.I.cols() != m)
    throw std::invalid_argument(fmt::format("JumpUnravelling: a Wiener step needs {} increments", m));
  const CVec& psi = state_.psi;  // normalised
  const Index D = psi.size();
  lpsi_.resize(std::size_t(m));
  noise_.resize(std::size_t(m));
  x_.resize(m);
  for (Index k = 0; k < m; ++k) {
    CVec& l = lpsi_[std::size_t(k)];
    l.setZero(D);
    g.outputs[std::size_t(k)].apply(psi, l, outputs_[std::size_t(k)].factor);
    x_(k) = 2.0 * psi.dot(l).real();
    noise_[std::size_t(k)] = l - (0.5 * x_(k)) * psi;
  }
  // Drift: -(1/2) sum_c rate_c W_c psi over the homodyne channels, + (x/2) L psi - (x^2/8) psi.
  next_ = psi;
  double scalar = 0.0;
  for (Index k = 0; k < m; ++k) {
    next_ += (0.5 * h * x_(k)) * lpsi_[std::size_t(k)];
    scalar -= 0.125 * x_(k) * x_(k);
  }
  next_ += (h * scalar) * psi;
  const auto& channels = model_.channels();
  for (std::size_t c = 0; c < channels.size(); ++c) {
    if (!homodyne_channel_[c]) continue;
    if (model_.diagonal_channel_weights())
      next_.array() -= (0.5 * h * channels[c].rate) * g.weights[c].array().cast<cplx>() * psi.array();
    else
      g.channel_ops[c].apply(psi, next_, -0.5 * h * channels[c].rate);
  }
  // Noise and the Milstein terms sum_{j,k} I(j, k) (b_k . grad) b_j... written out for
  // b_k(psi) = (L_k - x_k/2) psi with x_k = <psi|L_k + L_k^+|psi>: the derivative of b_k along
  // v = b_j is (L_k - x_k/2) v - Re(<psi|L_k v> + <L_k psi|v>) psi (Re <psi|b_j> = 0, so the
  // normalisation does not enter).
  for (Index k = 0; k < m; ++k) next_ += dw_.dW(k) * noise_[std::size_t(k)];
  for (Index j = 0; j < m; ++j)
    for (Index k = 0; k < m; ++k) {
      const double Ijk = dw_.I(j, k);
      if (Ijk == 0.0) continue;
      const CVec& v = noise_[std::size_t(j)];
      work_.setZero(D);
      g.outputs[std::size_t(k)].apply(v, work_, outputs_[std::size_t(k)].factor);
      const double re = (psi.dot(work_) + lpsi_[std::size_t(k)].dot(v)).real();
      next_ += Ijk * (work_ - (0.5 * x_(k)) * v - re * psi);
    }
  for (Index k = 0; k < m; ++k) integrated_(k) += x_(k) * h + dw_.dW(k);
  normalise(next_);
  state_.psi.swap(next_);
  ++stats.sde_steps;
}

}  // namespace qfluct
