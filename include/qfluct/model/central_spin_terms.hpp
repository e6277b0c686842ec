#pragma once
/// The central spin's own operators on a sector space C^2 (x) ladder (system index c = 0 for
/// |up>, 1 for |down>), shared by every model with a central spin: H_tau = w.tau, the Pauli
/// observables, and the jumps tau_- and tau_+ with their weights tau_+tau_- = |up><up| and
/// tau_-tau_+ = |down><down|; all act as the identity on the ladder.
#include "qfluct/model/central_spin_parameters.hpp"
#include "qfluct/model/sector_model.hpp"

namespace qfluct {

/// The operators of the central-spin family's declaration (the ids of fill_observable).
enum class Observable : int {
  tau_x, tau_y, tau_z,  ///< central (system) Pauli operators
  quadrature,           ///< X: the fluctuation quadrature before normalisation (q = scale X)
  number,               ///< n = a^+ a of the fluctuation mode
};

}  // namespace qfluct

namespace qfluct::central {

inline constexpr Index up = 0, down = 1;

/// The central-spin family's columns: tau_x, tau_y, tau_z, and with fluctuations q, Q2, Q4,
/// nongauss (central moments of q = scale X) and n, then the c-number columns `extras`.
/// Raw record: tau_x, tau_y, tau_z, <q>, <q^2>, <q^3>, <q^4>, n, extras.
ObservableDeclaration observables(bool fluctuations, double scale, std::vector<std::string> extras = {});

/// H_tau = w_x tau_x + w_y tau_y + w_z tau_z.
void add_hamiltonian(LadderOperatorBuilder& H, const Vec3& w);
/// tau_x, tau_y or tau_z (o must be one of them).
void add_pauli(LadderOperatorBuilder& O, Observable o);
/// tau_- (lowering = true) or tau_+.
void add_jump(LadderOperatorBuilder& K, bool lowering);
/// Diagonal of tau_+tau_- (= |up><up|, lowering) or tau_-tau_+ (= |down><down|) on a window.
void fill_jump_weight(bool lowering, Index window_size, RVec& weight);

}  // namespace qfluct::central
