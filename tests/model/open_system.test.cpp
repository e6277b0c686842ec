// The open_system model (any finite system with bosonic modes, from its matrices) against an
// independent dense Liouvillian on the full truncated space, and against the spin_boson model
// it can express; the general (non-diagonal) channel path through every solver; the self-check
// that catches a model whose declared channel weights are wrong.
#include "qfluct/core/error.hpp"
#include "qfluct/model/observables.hpp"
#include "qfluct/model/open_system.hpp"
#include "qfluct/model/spin_boson.hpp"
#include "qfluct/solver/ensemble.hpp"
#include "qfluct/solver/master_equation.hpp"
#include "qfluct/solver/steady_state.hpp"

#include <nlohmann/json.hpp>
#include <catch2/catch.hpp>
#include <unsupported/Eigen/KroneckerProduct>
#include <unsupported/Eigen/MatrixFunctions>

using namespace qfluct;

namespace {

CMat kron(const CMat& a, const CMat& b) { return Eigen::kroneckerProduct(a, b).eval(); }

/// Dense mode operators on S (x) mode_0 (x) ... built by explicit Kronecker products.
struct DenseModel {
  Index d, L, D;
  CMat H, rho0;
  std::vector<std::pair<double, CMat>> jumps;
  std::vector<CMat> numbers;
};

DenseModel dense(const OpenSystemSpec& spec, const std::vector<long>& cutoffs) {
  DenseModel m;
  m.d = spec.dim();
  const std::size_t M = spec.modes.size();
  std::vector<CMat> a_single(M);
  m.L = 1;
  for (std::size_t i = 0; i < M; ++i) {
    const Index n = cutoffs[i] + 1;
    a_single[i] = CMat::Zero(n, n);
    for (Index k = 1; k < n; ++k) a_single[i](k - 1, k) = std::sqrt(double(k));
    m.L *= n;
  }
  auto on_mode = [&](std::size_t i, const CMat& op) {  // 1 (x) ... op ... (x) 1 on the modes
    CMat out = CMat::Identity(1, 1);
    for (std::size_t j = 0; j < M; ++j) out = kron(out, j == i ? op : CMat::Identity(cutoffs[j] + 1, cutoffs[j] + 1));
    return out;
  };
  m.D = m.d * m.L;
  const CMat Id = CMat::Identity(m.d, m.d), IL = CMat::Identity(m.L, m.L);
  m.H = kron(spec.H, IL);
  std::vector<CMat> a(M);
  for (std::size_t i = 0; i < M; ++i) {
    a[i] = on_mode(i, a_single[i]);
    m.numbers.push_back(kron(Id, a[i].adjoint() * a[i]));
    m.H += spec.modes[i].omega * m.numbers.back();
  }
  for (const auto& c : spec.couplings) {
    CMat X = CMat::Zero(m.L, m.L);
    for (std::size_t i = 0; i < M; ++i) X += c.a[i] * a[i] + c.a_dag[i] * a[i].adjoint();
    m.H += kron(c.G, X) + kron(c.G.adjoint(), X.adjoint());
  }
  for (const auto& ch : spec.channels) m.jumps.emplace_back(ch.rate, kron(ch.L, IL));
  for (std::size_t i = 0; i < M; ++i) {
    m.jumps.emplace_back(spec.modes[i].kappa_down, kron(Id, a[i]));
    m.jumps.emplace_back(spec.modes[i].kappa_up, kron(Id, a[i].adjoint()));
  }
  CMat modes = CMat::Identity(1, 1);
  for (std::size_t i = 0; i < M; ++i) {
    const Index n = cutoffs[i] + 1;
    CMat p = CMat::Zero(n, n);
    const double x = spec.modes[i].nbar / (spec.modes[i].nbar + 1);
    for (Index k = 0; k < n; ++k) p(k, k) = std::pow(x, double(k));
    modes = kron(modes, p / p.trace());
  }
  m.rho0 = kron(spec.initial, modes);
  return m;
}

/// The Liouvillian on column-major vec(rho).
CMat liouvillian(const DenseModel& m) {
  const CMat I = CMat::Identity(m.D, m.D);
  CMat L = -qfluct::I * (kron(I, m.H) - kron(m.H.transpose(), I));
  for (const auto& [rate, K] : m.jumps) {
    const CMat KK = K.adjoint() * K;
    L += rate * (kron(K.conjugate(), K) - 0.5 * kron(I, KK) - 0.5 * kron(KK.transpose(), I));
  }
  return L;
}

/// The columns qfluct reports (rho entries, n_i, named observables, purity) of a full density.
std::vector<double> columns(const DenseModel& m, const OpenSystemSpec& spec, const CMat& rho) {
  std::vector<double> out;
  CMat red = CMat::Zero(m.d, m.d);
  for (Index a = 0; a < m.d; ++a)
    for (Index b = 0; b < m.d; ++b) red(a, b) = rho.block(a * m.L, b * m.L, m.L, m.L).trace();
  for (Index a = 0; a < m.d; ++a)
    for (Index b = 0; b < m.d; ++b) out.push_back(red(a, b).real()), out.push_back(red(a, b).imag());
  for (const auto& n : m.numbers) out.push_back((n * rho).trace().real());
  for (const auto& o : spec.observables) out.push_back((o.O * red).trace().real());
  out.push_back((red * red).trace().real());
  return out;
}

CMat unvec(const CVec& v, Index D) { return Eigen::Map<const CMat>(v.data(), D, D); }

/// A qutrit with two channels, one with a non-diagonal L^+L, and one damped thermal mode.
OpenSystemSpec qutrit() {
  OpenSystemSpec s;
  s.H.resize(3, 3);
  s.H << 0.4, cplx(0.3, -0.2), 0.1, cplx(0.3, 0.2), -0.2, cplx(0.0, 0.25), 0.1, cplx(0.0, -0.25), 0.05;
  s.initial = CMat::Zero(3, 3);
  s.initial(0, 0) = 0.6, s.initial(1, 1) = 0.3, s.initial(2, 2) = 0.1;
  s.initial(0, 1) = cplx(0.2, 0.1), s.initial(1, 0) = cplx(0.2, -0.1);
  CMat L1 = CMat::Zero(3, 3);
  L1(0, 1) = 1.0, L1(0, 2) = cplx(0.5, 0.3);  // L1^+ L1 has (1,2) entries: non-diagonal
  CMat L2 = CMat::Zero(3, 3);
  L2(2, 0) = 1.0;
  s.channels = {{"L_mix", L1, 0.3}, {"L_down", L2, 0.2}};
  s.modes = {{0.7, 0.8, 0.1, 0.05, 0}};
  CMat G = CMat::Zero(3, 3);
  G(0, 1) = 1.0, G(1, 2) = 0.5;
  s.couplings = {{G, {cplx(0.3, 0.1)}, {cplx(0.05, 0.0)}}};
  CMat O = CMat::Zero(3, 3);
  O(0, 0) = 1, O(2, 2) = -1, O(0, 2) = O(2, 0) = 0.5;
  s.observables = {{"X02", O}};
  return s;
}

}  // namespace

TEST_CASE("open_system with a non-diagonal channel: master equation, steady state and trajectories against a dense reference",
          "[open_system]") {
  const OpenSystemSpec spec = qutrit();
  const std::vector<long> cutoffs{5};
  const OpenSystemModel model(spec, cutoffs);
  REQUIRE_FALSE(model.diagonal_channel_weights());
  const DenseModel ref = dense(spec, cutoffs);
  const CMat L = liouvillian(ref);
  const std::vector<double> times{0.0, 0.5, 1.0, 2.0};
  const ObservableSet obs(model);
  REQUIRE(obs.column_names().front() == "rho_00_re");
  REQUIRE(obs.column_names()[18] == "n_0");
  REQUIRE(obs.column_names()[19] == "X02");
  REQUIRE(obs.column_names()[20] == "purity");

  // The ME (Dormand-Prince at rtol 1e-11) against exp(L t): agreement to 1e-9 is what the
  // integrator's tolerance buys; a wrong generator term differs at O(rate t) ~ 0.1.
  MasterOptions o;
  o.tol = {1e-11, 1e-13};
  const TimeSeries me = BlockMasterEquation(model).solve(times, o);
  CVec v0 = Eigen::Map<const CVec>(ref.rho0.data(), ref.D * ref.D);
  std::vector<std::vector<double>> exact;
  for (double t : times) exact.push_back(columns(ref, spec, unvec((L * t).exp() * v0, ref.D)));
  for (std::size_t i = 0; i < times.size(); ++i)
    for (std::size_t c = 0; c < exact[i].size(); ++c) CHECK(me.values(Index(i), Index(c)) == Approx(exact[i][c]).margin(1e-9));

  // Steady state: the kernel of the dense L (trace fixed) against the sparse LU on the
  // assembled generator; both are direct solves, 1e-9 leaves room for conditioning.
  BlockMasterEquation bme(model);
  const SteadyState ss = solve_steady_state(bme);
  CMat A = L;
  for (Index j = 0; j < ref.D; ++j) A(0, j * ref.D + j) += 1.0;  // row 0 += trace constraint: fixes the kernel's scale
  CVec rhs = CVec::Zero(ref.D * ref.D);
  rhs(0) = 1.0;
  const CVec x = A.fullPivLu().solve(rhs);
  const auto stationary = columns(ref, spec, unvec(x, ref.D));
  const auto blocks = bme.blocks(ss.rho);
  std::vector<double> raw(obs.raw_size()), col(obs.column_count());
  obs.measure(blocks, 0.0, raw.data());
  obs.derive(raw.data(), col.data());
  for (std::size_t c = 0; c < stationary.size(); ++c) CHECK(col[c] == Approx(stationary[c]).margin(1e-9));

  // Trajectories on the general path: every column within 5 standard errors of exp(L t)
  // (the rho entries, n_0, X02 are means; purity is jackknifed).
  EnsembleOptions e;
  e.ntraj = 3000;
  e.seed = 11;
  const TimeSeries traj = run_ensemble(model, times, e);
  double worst = 0.0;
  for (std::size_t i = 1; i < times.size(); ++i)
    for (std::size_t c = 0; c < exact[i].size(); ++c) {
      const double err = traj.errors(Index(i), Index(c));
      if (err > 1e-12) worst = std::max(worst, std::abs(traj.values(Index(i), Index(c)) - exact[i][c]) / err);
      else CHECK(traj.values(Index(i), Index(c)) == Approx(exact[i][c]).margin(1e-9));  // e.g. rho_00_im = 0 identically
    }
  CHECK(worst < 5.0);
  CHECK(traj.info["largest_branch_weight_mismatch"].get<double>() < 1e-12);
}

TEST_CASE("open_system given the spin_boson matrices reproduces kind spin_boson", "[open_system][spin_boson]") {
  CentralSpinParameters p;  // the Fig. 2 point
  p.w = {0.3, -0.2, 0.5};
  p.central = {0.3, 0.2, 0.6};
  const long cutoff = 20;
  const SpinBosonModel sb(p, cutoff);
  const SpinBosonRates r = sb.rates();
  OpenSystemSpec s;
  s.H.resize(2, 2);
  s.H << p.w[2], cplx(p.w[0], -p.w[1]), cplx(p.w[0], p.w[1]), -p.w[2];  // w.tau, index 0 = up
  const CMat full = sb.initial_density().blocks[0];
  s.initial = CMat::Zero(2, 2);
  for (Index a = 0; a < 2; ++a)
    for (Index b = 0; b < 2; ++b) s.initial(a, b) = full.block(a * (cutoff + 1), b * (cutoff + 1), cutoff + 1, cutoff + 1).trace();
  CMat lower = CMat::Zero(2, 2), raise = CMat::Zero(2, 2);
  lower(1, 0) = 1.0, raise(0, 1) = 1.0;
  s.channels = {{"tau_minus", lower, p.gamma_down}, {"tau_plus", raise, p.gamma_up}};
  s.modes = {{r.omega, r.kappa_down, r.kappa_up, r.nbar, 0}};
  s.couplings = {{r.G * raise, {1.0}, {0.0}}};  // G tau_+ (x) a + h.c.
  const OpenSystemModel os(s, {cutoff});
  REQUIRE(os.diagonal_channel_weights());
  MasterOptions o;
  o.tol = {1e-11, 1e-13};
  const auto times = time_grid(2.0, 0.25);
  const TimeSeries a = BlockMasterEquation(sb).solve(times, o), b = BlockMasterEquation(os).solve(times, o);
  auto col = [](const TimeSeries& t, const std::string& name) { return Index(std::find(t.columns.begin(), t.columns.end(), name) - t.columns.begin()); };
  for (Index i = 0; i < Index(times.size()); ++i) {
    const double re01 = b.values(i, col(b, "rho_01_re")), im01 = b.values(i, col(b, "rho_01_im"));
    CHECK(a.values(i, col(a, "tau_x")) == Approx(2 * re01).margin(1e-9));
    CHECK(a.values(i, col(a, "tau_y")) == Approx(-2 * im01).margin(1e-9));
    CHECK(a.values(i, col(a, "tau_z")) == Approx(b.values(i, col(b, "rho_00_re")) - b.values(i, col(b, "rho_11_re"))).margin(1e-9));
    CHECK(a.values(i, col(a, "n")) == Approx(b.values(i, col(b, "n_0"))).margin(1e-9));
  }
}

namespace {
/// A qubit whose one channel K = (|0><0| + |0><1|)/sqrt(2) has K^+K = (1 1; 1 1)/2, but which
/// declares the diagonal (1/2, 1/2): the wrong fast path.
class WrongWeights final : public SectorModel {
 public:
  int sector_count() const override { return 1; }
  Index system_dim() const override { return 2; }
  Index ladder_size(int) const override { return 1; }
  void fill_hamiltonian(int, Window in, Window out, Operator& H) const override { LadderOperatorBuilder(H, 2, in, out); }
  const std::vector<Channel>& channels() const override { return channels_; }
  void fill_kraus(int, int, int, Window in, Window out, Operator& K) const override {
    const double r = std::sqrt(0.5);
    LadderOperatorBuilder(K, 2, in, out).add(0, 0, 0, r, one).add(0, 1, 0, r, one);
  }
  void fill_channel_weight(int, int, Window w, RVec& weight) const override { weight = RVec::Constant(2 * w.size, 0.5); }
  void fill_kraus_weight(int c, int, int s, Window w, RVec& weight) const override { fill_channel_weight(c, s, w, weight); }
  ObservableDeclaration declare_observables() const override {
    ObservableDeclaration d;
    d.add_copy({"rho_00_re"}, d.add({LinearQuantity::Form::expectation, {"p0"}, 0}));
    return d;
  }
  void fill_observable(int, int, Window in, Window out, Operator& O) const override {
    LadderOperatorBuilder(O, 2, in, out).add(0, 0, 0, 1.0, one);
  }
  BlockDensity initial_density() const override { return {{CMat::Constant(2, 2, 0.5)}}; }
  SectorState sample_initial(Rng&, bool, double) const override { return {0, Window{0, 1}, CVec::Constant(2, std::sqrt(0.5))}; }
  std::string kind() const override { return "wrong"; }

 private:
  static double one(Index) { return 1.0; }
  std::vector<Channel> channels_{{"K", 1.0, {0}, {0}}};
};
}  // namespace

TEST_CASE("a model whose declared channel weights are not its Kraus operators' K^+K is caught", "[open_system][jump]") {
  const WrongWeights model;
  EnsembleOptions e;
  e.ntraj = 20;
  REQUIRE_THROWS_AS(run_ensemble(model, {0.0, 1.0}, e), NumericalError);
}

TEST_CASE("the estimated Fock cutoff keeps the top levels below the tolerance it was made for", "[open_system]") {
  // Driven-damped and thermal modes: the estimate must hold the truncation it promises (checked
  // on the master equation at that cutoff), and grow with the drive and the temperature.
  for (double drive : {0.0, 0.5, 2.0})
    for (double nbar : {0.0, 0.3}) {
      OpenSystemSpec s = qutrit();
      s.couplings[0].G *= drive;
      s.modes[0].nbar = nbar;
      s.modes[0].kappa_up = 0.2;
      const double tol = 1e-10;
      const auto cutoffs = estimate_fock_cutoffs(s, 2.0, tol);
      const OpenSystemModel model(s, cutoffs);
      const TimeSeries me = BlockMasterEquation(model).solve(time_grid(2.0, 0.25));
      INFO("drive " << drive << " nbar " << nbar << " cutoff " << cutoffs[0]);
      CHECK(me.info["largest_top_rung_population"].get<double>() <= tol);
      const auto stationary = estimate_fock_cutoffs(s, std::numeric_limits<double>::infinity(), tol);
      CHECK(stationary[0] >= 2);
    }
  CHECK(displaced_thermal_cutoff(3.0, 0.0, 1e-10) > displaced_thermal_cutoff(1.0, 0.0, 1e-10));
  CHECK(displaced_thermal_cutoff(0.0, 2.0, 1e-10) > displaced_thermal_cutoff(0.0, 0.5, 1e-10));
  OpenSystemSpec undamped = qutrit();
  undamped.modes[0].kappa_down = undamped.modes[0].kappa_up = 0.0;
  CHECK_THROWS_AS(estimate_fock_cutoffs(undamped, std::numeric_limits<double>::infinity(), 1e-10), InputError);
}

TEST_CASE("open_system at d = 64: six independent qubits against their closed form", "[open_system]") {
  // H = sum_i (w_i/2) sigma_z^(i), L_i = sigma_-^(i) at rate g_i, from |+>^6 (index 0 = up, the
  // first qubit slowest). Each qubit evolves alone: p_up(t) = e^{-g t}/2, and its coherence
  // <up|rho|down> = e^{-(g/2 + i w) t}/2; the all-up population is the product of the p_up, and
  // rho_{0,63} (all up, all down) is the product of the coherences. The ME must give these to its
  // tolerance (1e-9); the trajectories must cover them within 5 standard errors.
  const int qubits = 6;
  const Index d = Index(1) << qubits;
  const double w[qubits] = {0.3, -0.5, 0.7, 0.2, -0.1, 0.45}, g[qubits] = {0.2, 0.35, 0.1, 0.5, 0.25, 0.15};
  auto on = [&](int i, const Eigen::Matrix2cd& op) {
    CMat out = CMat::Identity(1, 1);
    for (int j = 0; j < qubits; ++j) out = kron(out, j == i ? CMat(op) : CMat::Identity(2, 2));
    return out;
  };
  Eigen::Matrix2cd sz, sm;
  sz << 1, 0, 0, -1;
  sm << 0, 0, 1, 0;
  OpenSystemSpec s;
  s.H = CMat::Zero(d, d);
  for (int i = 0; i < qubits; ++i) {
    s.H += 0.5 * w[i] * on(i, sz);
    s.channels.push_back({"decay_" + std::to_string(i), on(i, sm), g[i]});
  }
  s.initial = CMat::Constant(d, d, 1.0 / double(d));  // |+>^6
  const OpenSystemModel model(s, {});
  const auto times = time_grid(2.0, 0.5);
  MasterOptions o;
  o.tol = {1e-11, 1e-13};
  const TimeSeries me = BlockMasterEquation(model).solve(times, o);
  const ObservableSet obs(model);
  const Index all_up = obs.column_index("rho_0_0_re");
  const Index corner_re = obs.column_index("rho_0_63_re"), corner_im = obs.column_index("rho_0_63_im");  // d > 10: a_b
  REQUIRE(obs.column_count() == 2 * d * d + 1);
  for (Index k = 0; k < Index(times.size()); ++k) {
    const double t = times[std::size_t(k)];
    double p = 1.0;
    cplx c = 1.0;
    for (int i = 0; i < qubits; ++i) {
      p *= 0.5 * std::exp(-g[i] * t);
      c *= 0.5 * std::exp(cplx(-0.5 * g[i], -w[i]) * t);
    }
    CHECK(me.values(k, all_up) == Approx(p).margin(1e-9));
    CHECK(me.values(k, corner_re) == Approx(c.real()).margin(1e-9));
    CHECK(me.values(k, corner_im) == Approx(c.imag()).margin(1e-9));
  }
  EnsembleOptions e;
  e.ntraj = 1000;
  e.seed = 3;
  const TimeSeries traj = run_ensemble(model, times, e);
  for (Index k = 1; k < Index(times.size()); ++k)
    for (Index c : {all_up, corner_re, corner_im, obs.column_index("purity")})
      CHECK(std::abs(traj.values(k, c) - me.values(k, c)) <= 5.0 * traj.errors(k, c) + 1e-12);
}
