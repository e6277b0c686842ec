#pragma once
/// The description of an open system S coupled to bosonic modes (model.kind = "open_system"):
/// plain data, filled from a configuration or built in code, checked by validate().
///
///   H_total = H (x) 1 + sum_i omega_i a_i^+ a_i + sum_c ( G_c (x) X_c + G_c^+ (x) X_c^+ ),
///   X_c = sum_i ( a_c[i] a_i + a_dag_c[i] a_i^+ ),
///   d rho/dt = -i [H_total, rho] + sum_ch rate_ch D[L_ch (x) 1]
///              + sum_i ( kappa_down_i D[a_i] + kappa_up_i D[a_i^+] ),   D[L] rho = L rho L^+ - {L^+L, rho}/2.
/// Units: hbar = 1; rates and frequencies share one unit. Basis of S: index 0 first (for spin-1/2
/// index 0 is "up"); the full space is S (x) mode_0 (x) mode_1 (x) ..., the last mode fastest.
/// Modes start thermal with occupation nbar_i (0 = vacuum), S starts in `initial`, in a product state.
#include "qfluct/core/types.hpp"

#include <string>
#include <vector>

namespace qfluct {

struct OpenSystemSpec {
  struct Channel {
    std::string name;   ///< "L0", "L1", ... unless named
    CMat L;             ///< d x d
    double rate = 0.0;  ///< >= 0
  };
  struct Mode {
    double omega = 0.0;
    double kappa_down = 0.0;  ///< rate of D[a], >= 0
    double kappa_up = 0.0;    ///< rate of D[a^+], >= 0
    double nbar = 0.0;        ///< initial thermal occupation, >= 0
    long fock_cutoff = 0;     ///< highest Fock number kept; 0 = choose automatically
  };
  struct Coupling {
    CMat G;                   ///< d x d (any, need not be Hermitian)
    std::vector<cplx> a;      ///< one coefficient per mode
    std::vector<cplx> a_dag;  ///< one coefficient per mode
  };
  struct NamedObservable {
    std::string name;
    CMat O;  ///< d x d on S; Hermitian (its expectation value is reported)
  };

  CMat H;          ///< d x d Hermitian
  CMat initial;    ///< d x d density matrix of S
  std::vector<Channel> channels;
  std::vector<Mode> modes;
  std::vector<Coupling> couplings;
  std::vector<NamedObservable> observables;
  bool entanglement = false;  ///< d = 4 only: report concurrence and negativity
  double fock_tol = 1e-10;    ///< bound on the population of the top two levels of every mode

  Index dim() const { return H.rows(); }
};

}  // namespace qfluct
