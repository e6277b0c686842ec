// Between jumps: Taylor steps on the banded generator (what JumpUnravelling does) against cached
// exact propagators (eigendecomposition A = V diag(lambda) V^-1 of the sector's generator), at
// the Fig. 2 point. The issue asks to choose between the two by measurement; this is it.
//
// One "interval" is what a trajectory does between two jumps: propagate psi over the mean waiting
// time tau = 1 / <decay>, evaluate the norm at the end, and one Newton iteration for the jump time
// (value and derivative), which is what the sidecar's root_iterations_per_jump reports.
//   Taylor:  terms of exp(h A) psi by banded products (h ||A|| <= 1), Horner at theta = 1, and
//            Horner with derivative once;
//   eigen:   c = V^-1 psi once, then V (e^{lambda t} c) at the end and V (lambda e^{lambda t} c)
//            for the derivative: three dense D x D products; plus, once per sector and window,
//            the decomposition itself.
// Usage: bench_propagators   (prints Markdown; about 20 s, single thread)
#include "qfluct/model/central_spin.hpp"
#include "qfluct/space/dicke.hpp"

#include <Eigen/Eigenvalues>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>

using namespace qfluct;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Calls f repeatedly for about `budget` seconds; returns seconds per call.
template <class F>
double time_per_call(F&& f, double budget = 1.0) {
  long n = 0;
  const auto start = clock_type::now();
  do {
    f();
    ++n;
  } while (seconds_since(start) < budget);
  return seconds_since(start) / double(n);
}

volatile double sink = 0.0;  // keeps the timed work from being optimised away

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  fmt::print("| N | window (rungs) | D | h ||A|| per interval | Taylor us / interval | eigen us / interval "
             "(cached) | eigen set-up us | set-up / Taylor interval | intervals per sector visit |\n");
  fmt::print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const int N : {10, 40, 100, 1000, 10000, 100000}) {
    CentralSpinParameters p;
    p.N = N;
    const CentralSpinModel model(p);
    // The sector and window a trajectory typically sits in: j near N/2 (s = N/20), and for large
    // N a window of 30 rungs, the size the adaptive windows settle at (bench_trajectories).
    const int s = N / 20;
    const Index L = model.ladder_size(s);
    const Window w = L <= 40 ? Window::full(L) : Window{L / 3, 30};
    Operator H;
    model.fill_hamiltonian(s, w, w, H);
    const RVec decay = decay_diagonal(model, s, w);
    const Index D = decay.size();
    // As in the integrator, the scalar part c = min decay is factored out: psi = e^{-ct/2} phi.
    const RVec rel = decay.array() - decay.minCoeff();
    const CMat A = -I * H.dense() - 0.5 * rel.cast<cplx>().asDiagonal().toDenseMatrix();
    const double tau = 1.0 / decay.mean();
    double normA = 0.0;
    for (Index r = 0; r < D; ++r) normA = std::max(normA, A.row(r).cwiseAbs().sum());
    CVec psi = CVec::Random(D).normalized();

    // Taylor, as JumpUnravelling::taylor_step / evaluate / evaluate_with_derivative do it.
    std::vector<CVec> terms(40, CVec(D));
    CVec phi(D), dphi(D);
    const CVec half_decay = (-0.5 * rel).cast<cplx>();
    auto apply_banded = [&](const CVec& x, CVec& y, double scale) {  // y = scale A x
      y = scale * half_decay.cwiseProduct(x);
      H.apply(x, y, -I * scale);
    };
    // exp(tau A) state by Taylor steps with h ||A|| <= 1; the last step's terms stay in `terms`.
    auto taylor_propagate = [&](CVec& state) {
      Index n_terms = 0;
      for (double t = 0.0; t < tau;) {
        const double h = std::min(tau - t, 1.0 / normA);
        terms[0] = state;
        const double n0 = state.squaredNorm();
        Index n = 1;
        for (; n < 40; ++n) {
          apply_banded(terms[n - 1], terms[n], h / double(n));
          if (terms[n].squaredNorm() <= 1e-28 * n0) break;
        }
        n_terms = n + 1;
        state = terms[n_terms - 1];
        for (Index k = n_terms - 2; k >= 0; --k) state = state + terms[k];
        t += h;
      }
      return n_terms;
    };
    const double taylor = time_per_call([&] {
      CVec state = psi;
      const Index n_terms = taylor_propagate(state);
      // one Newton iteration at theta = 0.5 of the last step: value and derivative
      phi = terms[n_terms - 1];
      dphi = double(n_terms - 1) * terms[n_terms - 1];
      for (Index k = n_terms - 2; k >= 1; --k) {
        phi = 0.5 * phi + terms[k];
        dphi = 0.5 * dphi + double(k) * terms[k];
      }
      phi = 0.5 * phi + terms[0];
      sink = sink + std::log(phi.squaredNorm()) + phi.dot(dphi).real() + state.squaredNorm();
    });

    Eigen::ComplexEigenSolver<CMat> es;
    CMat Vinv;
    const double setup = time_per_call([&] {
      es.compute(A);
      Vinv = es.eigenvectors().inverse();
      sink = sink + Vinv(0, 0).real();
    });
    const CMat& V = es.eigenvectors();
    const CVec& lambda = es.eigenvalues();
    const double eigen = time_per_call([&] {
      const CVec c = Vinv * psi;
      const CVec e = (lambda * tau).array().exp().matrix().cwiseProduct(c);
      phi.noalias() = V * e;
      dphi.noalias() = V * lambda.cwiseProduct(e);
      sink = sink + std::log(phi.squaredNorm()) + phi.dot(dphi).real();
    });
    // Exact propagation by the decomposition against Taylor: the two must agree.
    CVec by_taylor = psi;
    taylor_propagate(by_taylor);
    const CVec by_eigen = V * (lambda * tau).array().exp().matrix().cwiseProduct(Vinv * psi);
    const double mismatch = (by_taylor - by_eigen).norm();
    fmt::print("| {} | {} | {} | {:.3g} | {:.3g} | {:.3g} | {:.3g} | {:.0f} | {} |\n", N, w.size, D, tau * normA,
               1e6 * taylor, 1e6 * eigen, 1e6 * setup, setup / taylor,
               L <= 40 ? "many (full sectors: cacheable per ensemble)" : "1 (window moves at every jump)");
    if (mismatch > 1e-8) fmt::print("  (Taylor and eigen propagation differ by {:.2g})\n", mismatch);
  }
  return 0;
}
