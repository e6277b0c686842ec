#pragma once
/// What a model reports, as data: the linear quantities measured on a state (averaged over
/// trajectories, or traced with a density operator) and the columns derived from their averages.
///
/// A raw record is the concatenation of the linear quantities' entries, in declaration order;
/// columns are computed from the (averaged) raw record by column groups, in declaration order.
/// Linear columns copy a raw entry (ensemble means with standard errors); nonlinear ones (central
/// moments, purity, entanglement) are functions of several means (jackknifed for trajectories).
#include "qfluct/core/types.hpp"

#include <string>
#include <vector>

namespace qfluct {

/// A quantity linear in the state.
struct LinearQuantity {
  enum class Form {
    expectation,      ///< Re <O> for the model's operator `id` (Hermitian): one entry
    moments,          ///< <q^k>, q = scale X, k = 1..4 (X = the model's operator `id`): four entries
    reduced_density,  ///< the system levels' reduced density matrix rho_ab = tr_ladder <a|rho|b>,
                      ///< row-major, re and im of each entry: 2 d^2 entries
    c_number,         ///< functions of time only (SectorModel::extra_values): one entry per name
  };
  Form form = Form::expectation;
  std::vector<std::string> names;  ///< one per raw entry
  int id = -1;                     ///< expectation, moments: the operator (SectorModel::fill_observable)
  double scale = 1.0;              ///< moments: q = scale X
};

/// Columns computed from the raw record.
struct ColumnGroup {
  enum class Form {
    copy,             ///< names.size() consecutive raw entries from `raw`, unchanged (linear)
    central_moments,  ///< q, Q2, Q4, nongauss = Q4 - 3 Q2^2 from <q>, .., <q^4> at `raw`
    purity,           ///< tr rho^2 of the reduced density matrix at `raw` (d x d)
    entanglement,     ///< concurrence, negativity of the two-qubit reduced density matrix at `raw`
  };
  Form form = Form::copy;
  std::vector<std::string> names;  ///< one per column
  Index raw = 0;                   ///< first raw entry read
  Index dim = 0;                   ///< purity, entanglement: d of the reduced density matrix
};

struct ObservableDeclaration {
  std::vector<LinearQuantity> linear;
  std::vector<ColumnGroup> columns;

  Index raw_size() const;
  /// Appends a linear quantity and returns the index of its first raw entry.
  Index add(LinearQuantity q);
  /// Appends columns that copy raw entries [raw, raw + names.size()).
  void add_copy(std::vector<std::string> names, Index raw);
};

}  // namespace qfluct
