#include "qfluct/solver/reduced_evolution.hpp"

#include <Eigen/Eigenvalues>
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace qfluct {
namespace {

void check_shapes(const CompositeSystem& sys, const CMat& rho_S, Index env_rows, const std::vector<double>& times) {
  const Index D = sys.d_S * sys.d_E;
  auto fail = [](const std::string& what) { throw std::invalid_argument("reduced_evolution: " + what); };
  if (sys.d_S < 1 || sys.d_E < 1) fail("d_S and d_E must be >= 1");
  if (sys.H.rows() != D || sys.H.cols() != D) fail("H is not (d_S d_E) x (d_S d_E)");
  for (const auto& J : sys.jumps)
    if (J.rows() != D || J.cols() != D) fail("a jump operator is not (d_S d_E) x (d_S d_E)");
  for (const auto& w : sys.env_diagonals)
    if (w.size() != sys.d_E) fail("an environment diagonal does not have length d_E");
  if (rho_S.rows() != sys.d_S || rho_S.cols() != sys.d_S) fail("rho_S is not d_S x d_S");
  if (env_rows != sys.d_E) fail("the environment state does not have dimension d_E");
  if (times.empty() || times.front() < 0.0) fail("the output times must be non-empty and >= 0");
}

/// (lambda_i, |u_i>) with lambda_i > 1e-14 of a Hermitian, positive semidefinite matrix:
/// weights below that carry no more than rounding, and dropping them keeps the rank small.
std::vector<std::pair<double, CVec>> components(const CMat& rho) {
  Eigen::SelfAdjointEigenSolver<CMat> es(0.5 * (rho + rho.adjoint()));
  std::vector<std::pair<double, CVec>> out;
  for (Index i = rho.rows() - 1; i >= 0; --i)
    if (es.eigenvalues()(i) > 1e-14) out.emplace_back(es.eigenvalues()(i), es.eigenvectors().col(i));
  return out;
}

ReducedEvolution setup(const CompositeSystem& sys, std::size_t count) {
  ReducedEvolution r;
  r.rho.assign(count, CMat::Zero(sys.d_S, sys.d_S));
  r.env.assign(count, std::vector<double>(sys.env_diagonals.size(), 0.0));
  r.info["dimension"] = static_cast<long long>(sys.d_S * sys.d_E);
  return r;
}

void record(ReducedEvolution& r, const Dopri5& ode) {
  r.info["steps"] = ode.statistics().steps;
  r.info["rejected_steps"] = ode.statistics().rejected;
}

/// Schroedinger evolution of the columns of Y (each a pure component, weight folded into its norm).
ReducedEvolution evolve_components(const CompositeSystem& sys, const CMat& Y0, const std::vector<double>& times,
                                   OdeTolerances tol, const std::function<void(double)>& progress) {
  const Index D = sys.d_S * sys.d_E, n = Y0.cols();
  ReducedEvolution r = setup(sys, times.size());
  r.method = "pure_components";
  r.info["components"] = static_cast<long long>(n);
  Dopri5 ode(
      [&](double, const CVec& y, CVec& dy) {
        Eigen::Map<const CMat> Y(y.data(), D, n);
        Eigen::Map<CMat> dY(dy.data(), D, n);
        dY.noalias() = sys.H * Y;
        dY *= -I;
      },
      D * n, tol);
  CVec y = Eigen::Map<const CVec>(Y0.data(), D * n);
  ode.integrate(0.0, y, times, [&](std::size_t i, const CVec& yi) {
    for (Index c = 0; c < n; ++c) {
      // Column c as a d_E x d_S matrix A(e, s) (index s d_E + e): rho_S = A^T conj(A).
      Eigen::Map<const CMat> A(yi.data() + c * D, sys.d_E, sys.d_S);
      r.rho[i].noalias() += A.transpose() * A.conjugate();
      if (!sys.env_diagonals.empty()) {
        const RVec pe = A.cwiseAbs2().rowwise().sum();
        for (std::size_t k = 0; k < sys.env_diagonals.size(); ++k) r.env[i][k] += sys.env_diagonals[k].dot(pe);
      }
    }
    if (progress) progress(double(i + 1) / double(times.size()));
  });
  record(r, ode);
  return r;
}

/// The Lindblad equation for the density matrix on S (x) E, written with K = -iH - A/2,
/// A = sum J^+J: d rho/dt = K rho + (K rho)^+ + sum J rho J^+ (rho stays Hermitian, so rho K^+ is
/// the adjoint of K rho and J rho J^+ that of J (J rho)^+: sparse times dense products only).
ReducedEvolution evolve_density(const CompositeSystem& sys, const CMat& rho0, const std::vector<double>& times,
                                OdeTolerances tol, const std::function<void(double)>& progress) {
  const Index D = sys.d_S * sys.d_E;
  ReducedEvolution r = setup(sys, times.size());
  r.method = "density_matrix";
  SparseMat K = (-I) * sys.H;
  for (const auto& J : sys.jumps) {
    const SparseMat JdJ = SparseMat(J.adjoint()) * J;
    K -= 0.5 * JdJ;
  }
  CMat T(D, D), U(D, D);
  Dopri5 ode(
      [&](double, const CVec& y, CVec& dy) {
        Eigen::Map<const CMat> rho(y.data(), D, D);
        Eigen::Map<CMat> drho(dy.data(), D, D);
        T.noalias() = K * rho;
        drho = T + T.adjoint();
        for (const auto& J : sys.jumps) {
          T.noalias() = J * rho;
          U.noalias() = J * T.adjoint();
          drho += U.adjoint();
        }
      },
      D * D, tol);
  CVec y = Eigen::Map<const CVec>(rho0.data(), D * D);
  ode.integrate(0.0, y, times, [&](std::size_t i, const CVec& yi) {
    Eigen::Map<const CMat> rho(yi.data(), D, D);
    for (Index s = 0; s < sys.d_S; ++s)
      for (Index s2 = 0; s2 < sys.d_S; ++s2) r.rho[i](s, s2) = rho.block(s * sys.d_E, s2 * sys.d_E, sys.d_E, sys.d_E).trace();
    for (std::size_t k = 0; k < sys.env_diagonals.size(); ++k) {
      double v = 0.0;
      for (Index s = 0; s < sys.d_S; ++s)
        v += sys.env_diagonals[k].dot(rho.diagonal().segment(s * sys.d_E, sys.d_E).real());
      r.env[i][k] = v;
    }
    if (progress) progress(double(i + 1) / double(times.size()));
  });
  record(r, ode);
  return r;
}

}  // namespace

ReducedEvolution reduced_evolution(const CompositeSystem& sys, const CMat& rho_S, const CVec& psi_E,
                                   const std::vector<double>& times, OdeTolerances tol,
                                   const std::function<void(double)>& progress) {
  check_shapes(sys, rho_S, psi_E.size(), times);
  if (!sys.jumps.empty()) return reduced_evolution(sys, rho_S, CMat(psi_E * psi_E.adjoint()), times, tol, progress);
  const auto cs = components(rho_S);
  CMat Y(sys.d_S * sys.d_E, Index(cs.size()));
  for (std::size_t c = 0; c < cs.size(); ++c) {
    const CVec v = std::sqrt(cs[c].first) * cs[c].second;
    for (Index s = 0; s < sys.d_S; ++s) Y.col(Index(c)).segment(s * sys.d_E, sys.d_E) = v(s) * psi_E;
  }
  return evolve_components(sys, Y, times, tol, progress);
}

ReducedEvolution reduced_evolution(const CompositeSystem& sys, const CMat& rho_S, const CMat& rho_E,
                                   const std::vector<double>& times, OdeTolerances tol,
                                   const std::function<void(double)>& progress) {
  check_shapes(sys, rho_S, rho_E.rows(), times);
  if (rho_E.cols() != sys.d_E) throw std::invalid_argument("reduced_evolution: rho_E is not d_E x d_E");
  const Index D = sys.d_S * sys.d_E;
  if (sys.jumps.empty()) {
    // Unitary: the products of the components of rho_S and rho_E, when fewer than D columns.
    const auto cs = components(rho_S), ce = components(rho_E);
    if (Index(cs.size() * ce.size()) < D) {
      CMat Y(D, Index(cs.size() * ce.size()));
      Index col = 0;
      for (const auto& [ls, us] : cs)
        for (const auto& [le, ue] : ce) {
          const double w = std::sqrt(ls * le);
          for (Index s = 0; s < sys.d_S; ++s) Y.col(col).segment(s * sys.d_E, sys.d_E) = (w * us(s)) * ue;
          ++col;
        }
      return evolve_components(sys, Y, times, tol, progress);
    }
  }
  CMat rho0(D, D);
  for (Index s = 0; s < sys.d_S; ++s)
    for (Index s2 = 0; s2 < sys.d_S; ++s2) rho0.block(s * sys.d_E, s2 * sys.d_E, sys.d_E, sys.d_E) = rho_S(s, s2) * rho_E;
  return evolve_density(sys, rho0, times, tol, progress);
}

SparseMat on_system(const CMat& A, Index d_E) {
  std::vector<Eigen::Triplet<cplx>> t;
  for (Index s = 0; s < A.rows(); ++s)
    for (Index s2 = 0; s2 < A.cols(); ++s2)
      if (A(s, s2) != cplx(0.0))
        for (Index e = 0; e < d_E; ++e) t.emplace_back(s * d_E + e, s2 * d_E + e, A(s, s2));
  SparseMat m(A.rows() * d_E, A.cols() * d_E);
  m.setFromTriplets(t.begin(), t.end());
  return m;
}

void accumulate(ReducedEvolution& sum, const ReducedEvolution& part, double weight) {
  if (sum.rho.empty()) {
    sum.rho.assign(part.rho.size(), CMat::Zero(part.rho.empty() ? 0 : part.rho.front().rows(),
                                               part.rho.empty() ? 0 : part.rho.front().cols()));
    sum.env.assign(part.env.size(), std::vector<double>(part.env.empty() ? 0 : part.env.front().size(), 0.0));
  }
  if (sum.rho.size() != part.rho.size() || sum.env.size() != part.env.size())
    throw std::invalid_argument("accumulate: the evolutions have different output times");
  for (std::size_t i = 0; i < part.rho.size(); ++i) {
    if (sum.rho[i].rows() != part.rho[i].rows()) throw std::invalid_argument("accumulate: different d_S");
    sum.rho[i] += weight * part.rho[i];
    if (sum.env[i].size() != part.env[i].size()) throw std::invalid_argument("accumulate: different env diagonals");
    for (std::size_t k = 0; k < part.env[i].size(); ++k) sum.env[i][k] += weight * part.env[i][k];
  }
}

}  // namespace qfluct
