#pragma once
/// Matrices, state vectors and complex numbers from configuration values (model.kind =
/// "open_system"), and back to JSON for the sidecar.
///
/// A matrix is written in one of two ways:
///   - nested arrays, one array per row, every entry a number (integer or float) or a complex
///     number [re, im]:  H = [[0.7, [0.3, -0.2]], [[0.3, 0.2], 0.3]]  (a 2 x 2 complex matrix);
///   - a string expression in spin-1/2 operators and their tensor products (grammar below):
///     H = "0.5*sigma_z(x)1 + 0.4*1(x)sigma_z".
/// A state (system.initial) may also be a state vector: a 1-D array of length d whose entries are
/// numbers or [re, im], at least one of them a plain number (an array whose entries are all arrays
/// is read as a matrix; a global phase can always make one entry real). It must have norm 1
/// within 1e-10 and becomes |psi><psi| / <psi|psi>.
///
/// Spin-1/2 convention: basis index 0 = up, 1 = down;
///   sigma_x = [[0, 1], [1, 0]], sigma_y = [[0, -i], [i, 0]], sigma_z = diag(1, -1),
///   sigma_plus = |up><down| = [[0, 1], [0, 0]], sigma_minus = sigma_plus^+ = [[0, 0], [1, 0]],
///   1 = the 2 x 2 identity (as a tensor-product factor or as the whole expression).
/// A (x) B is the Kronecker product with A's index the slower one: for two spins the basis is
/// uu, ud, du, dd (indices 0..3).
///
/// Expression grammar (whitespace is ignored between tokens):
///   sum     := term { ('+' | '-') term }                       lowest precedence
///   term    := product { '(x)' product }                        tensor product ("⊗" also accepted)
///   product := factor { '*' factor }                            scalar or matrix product
///   factor  := ('-' | '+') factor | atom
///   atom    := number | imaginary | name | '(' sum ')'
///   number  := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]   (or '.' digits ...)
///   imaginary := number ('i' | 'j')                              e.g. 0.5i, 2j, 1e-3j
///   name    := sigma_x | sigma_y | sigma_z | sigma_plus | sigma_minus
/// So '*' binds tighter than '(x)', which binds tighter than '+' and '-':
///   "2*sigma_x(x)sigma_y + 1(x)1" = (2 sigma_x) (x) sigma_y + 1 (x) 1, and
///   "(0.5+0.2j)*sigma_plus", "0.25*(sigma_plus(x)sigma_minus + sigma_minus(x)sigma_plus)" work as
///   written. A number c where an operator is needed stands for c times the identity: of size 2 as
///   a factor of '(x)' or as the whole expression, of the other operand's size in a sum.
///
/// Errors: InputError naming the full key given by the caller ("system.H", "coupling[0].G", ...)
/// and what is wrong: not an array, ragged rows, a non-square matrix, an entry that is not a
/// number or [re, im], a non-finite entry, an unknown operator name or unexpected character at
/// position k (counting from 1) of an expression, operands of different sizes, a product larger
/// than max_system_dim.
#include "qfluct/core/types.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <toml++/toml.h>
#include <vector>

namespace qfluct {

/// "a string", "an integer", "a number", "a boolean", "an array", "a table" or "a date/time":
/// the kind of a TOML value, for error messages.
std::string toml_type_name(const toml::node& n);

/// The largest dimension d of the system S accepted (matrices d x d with 1 <= d <= 64).
inline constexpr Index max_system_dim = 64;

/// A complex number: an integer, a float, or [re, im]; finite.
cplx read_complex(const toml::node& node, const std::string& key);

/// A list of complex numbers: a 1-D array of entries as read_complex (may be empty).
std::vector<cplx> read_complex_list(const toml::node& node, const std::string& key);

/// A square matrix of size 1 .. max_system_dim: nested arrays (rows) or an expression string.
CMat read_matrix(const toml::node& node, const std::string& key);

/// A state of S: a matrix (as read_matrix) or a state vector, returned as |psi><psi| / <psi|psi>
/// (norm 1 within 1e-10 required). Whether a matrix is a density matrix is
/// checked_density_matrix's business.
CMat read_state(const toml::node& node, const std::string& key);

/// The matrix an expression (grammar above) denotes.
CMat parse_operator_expression(const std::string& text, const std::string& key);

/// Relative tolerance of the Hermiticity check of operators (H, observables): the largest entry
/// of |A - A^+| may be 1e-12 of the largest |A_ij|. Hand-typed decimals and matrices computed in
/// double precision (products of up to 64 x 64 matrices) are Hermitian to a few 1e-15 of their
/// scale; 1e-12 leaves a margin of 100 over that, while a real mistake (a sign or a missing i)
/// is O(1) of the scale.
inline constexpr double hermitian_rel_tol = 1e-12;

/// Tolerances of a density matrix (entries are at most 1 in size, so absolute): Hermitian to
/// 1e-10, trace 1 within 1e-10, no eigenvalue below -1e-10.
inline constexpr double density_tol = 1e-10;

/// `m` (square) if Hermitian within hermitian_rel_tol of its largest entry, replaced by its
/// Hermitian part (m + m^+)/2, which is exactly Hermitian; InputError naming `key` otherwise.
CMat checked_hermitian(const CMat& m, const std::string& key);

/// `rho` if it is a density matrix within density_tol (Hermitian, trace 1, eigenvalues >=
/// -density_tol), replaced by its Hermitian part; InputError naming `key` and the failure.
CMat checked_density_matrix(const CMat& rho, const std::string& key);

/// A complex number as JSON: a plain number when the imaginary part is +0, else [re, im]
/// (what read_complex reads back exactly).
nlohmann::json complex_to_json(cplx z);
/// A matrix as nested arrays of rows, entries as complex_to_json.
nlohmann::json matrix_to_json(const CMat& m);
/// A list as a JSON array, entries as complex_to_json.
nlohmann::json complex_list_to_json(const std::vector<cplx>& v);

}  // namespace qfluct
