#include "qfluct/io/matrix_input.hpp"

#include "qfluct/core/error.hpp"

#include <nlohmann/json.hpp>
#include <Eigen/Eigenvalues>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <optional>

namespace qfluct {

namespace {


std::optional<double> number(const toml::node& n) {
  if (auto v = n.value_exact<double>()) return *v;
  if (auto v = n.value_exact<int64_t>()) return double(*v);
  return std::nullopt;
}

/// One entry: a number or [re, im]; `where` names it inside the key ("entry [0][1]").
cplx entry(const toml::node& e, const std::string& key, const std::string& where) {
  cplx z;
  if (auto x = number(e)) {
    z = {*x, 0.0};
  } else if (const auto* a = e.as_array(); a && a->size() == 2 && number(*a->get(0)) && number(*a->get(1))) {
    z = {*number(*a->get(0)), *number(*a->get(1))};
  } else {
    throw InputError(key, fmt::format("{}must be a number or a complex number [re, im], got {}{}", where, toml_type_name(e),
                                      e.is_array() ? fmt::format(" of {} entries", e.as_array()->size()) : ""));
  }
  if (!std::isfinite(z.real()) || !std::isfinite(z.imag()))
    throw InputError(key, fmt::format("{}is not finite ({}, {})", where, z.real(), z.imag()));
  return z;
}

void check_size(Index d, const std::string& key) {
  if (d > max_system_dim)
    throw InputError(key, fmt::format("is {} x {}: the system dimension d must be between 1 and {}", d, d, max_system_dim));
}

// --- Operator expressions --------------------------------------------------------------------

/// A parsed value: a number, or a matrix.
struct Value {
  bool scalar = true;
  cplx c{1.0, 0.0};
  CMat m;
};

CMat as_matrix(const Value& v, Index n) { return v.scalar ? CMat(v.c * CMat::Identity(n, n)) : v.m; }

CMat pauli(char which) {
  CMat m = CMat::Zero(2, 2);
  switch (which) {
    case 'x': m(0, 1) = m(1, 0) = 1.0; break;
    case 'y': m(0, 1) = -I, m(1, 0) = I; break;
    case 'z': m(0, 0) = 1.0, m(1, 1) = -1.0; break;
    case '+': m(0, 1) = 1.0; break;  // |up><down|, up = index 0
    case '-': m(1, 0) = 1.0; break;
  }
  return m;
}

/// Kronecker product, a's index the slower one.
CMat kron(const CMat& a, const CMat& b) {
  CMat k(a.rows() * b.rows(), a.cols() * b.cols());
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < a.cols(); ++j) k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
  return k;
}

class ExpressionParser {
 public:
  ExpressionParser(const std::string& text, const std::string& key) : s_(text), key_(key) {}

  CMat parse() {
    skip();
    if (pos_ == s_.size()) throw InputError(key_, "is an empty operator expression");
    const Value v = sum();
    skip();
    if (pos_ != s_.size())
      throw error(fmt::format("unexpected '{}' at position {} of the expression: expected +, -, *, (x) or the end",
                                    word(pos_), position(pos_)));
    CMat m = as_matrix(v, 2);
    m.array() += cplx(0.0, 0.0);  // -0 (from products like -1 * 0) to +0: tidier in the sidecar, same value
    return m;
  }

 private:
  static constexpr int max_depth = 100;  // nesting of parentheses and signs (a bound on the recursion)
  const std::string& s_;
  const std::string& key_;
  std::size_t pos_ = 0;
  int depth_ = 0;

  InputError error(const std::string& what) const {
    return InputError(key_, fmt::format("{} (in \"{}\")", what, s_));
  }

  /// 1-based position in characters (UTF-8 continuation bytes do not count).
  std::size_t position(std::size_t byte) const {
    std::size_t p = 1;
    for (std::size_t i = 0; i < byte && i < s_.size(); ++i) p += (static_cast<unsigned char>(s_[i]) & 0xC0) != 0x80;
    return p;
  }

  /// The token-ish word at `at`, for messages.
  std::string word(std::size_t at) const {
    std::size_t end = at;
    while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_' || s_[end] == '.'))
      ++end;
    if (end == at) {
      end = at + 1;
      while (end < s_.size() && (static_cast<unsigned char>(s_[end]) & 0xC0) == 0x80) ++end;  // whole UTF-8 character
    }
    return s_.substr(at, end - at);
  }

  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }

  bool accept(std::string_view token) {
    skip();
    if (s_.compare(pos_, token.size(), token) != 0) return false;
    pos_ += token.size();
    return true;
  }

  bool at_tensor() {
    skip();
    return s_.compare(pos_, 3, "(x)") == 0 || s_.compare(pos_, 3, "\u2297") == 0;
  }

  Value sum() {
    Value v = term();
    for (;;) {
      skip();
      const std::size_t at = pos_;
      double sign;
      if (accept("+")) sign = 1.0;
      else if (accept("-")) sign = -1.0;
      else return v;
      Value w = term();
      if (w.scalar) w.c *= sign;
      else w.m *= sign;
      v = add(v, w, at);
    }
  }

  Value add(const Value& a, const Value& b, std::size_t at) const {
    if (a.scalar && b.scalar) return {true, a.c + b.c, {}};
    const Index n = a.scalar ? b.m.rows() : a.m.rows();
    if (!a.scalar && !b.scalar && a.m.rows() != b.m.rows())
      throw error(fmt::format("'{}' at position {} adds a {} x {} and a {} x {} matrix", s_[at], position(at),
                                  a.m.rows(), a.m.rows(), b.m.rows(), b.m.rows()));
    return {false, {}, as_matrix(a, n) + as_matrix(b, n)};
  }

  Value term() {
    Value v = product();
    while (at_tensor()) {
      const std::size_t at = pos_;
      pos_ += 3;
      const Value w = product();
      const CMat a = as_matrix(v, 2), b = as_matrix(w, 2);
      if (a.rows() * b.rows() > max_system_dim)
        throw error(fmt::format("the tensor product at position {} has dimension {} x {} = {}, more than {}",
                                    position(at), a.rows(), b.rows(), a.rows() * b.rows(), max_system_dim));
      v = {false, {}, kron(a, b)};
    }
    return v;
  }

  Value product() {
    Value v = factor();
    for (;;) {
      skip();
      const std::size_t at = pos_;
      if (!accept("*")) return v;
      const Value w = factor();
      if (v.scalar && w.scalar) v.c *= w.c;
      else if (v.scalar) v = {false, {}, v.c * w.m};
      else if (w.scalar) v.m *= w.c;
      else if (v.m.rows() != w.m.rows())
        throw error(fmt::format("'*' at position {} multiplies a {} x {} by a {} x {} matrix", position(at),
                                    v.m.rows(), v.m.rows(), w.m.rows(), w.m.rows()));
      else v.m = CMat(v.m * w.m);
    }
  }

  Value factor() {
    if (++depth_ > max_depth) throw error(fmt::format("is nested more than {} levels deep", max_depth));
    Value v;
    skip();
    if (accept("-")) {
      v = factor();
      if (v.scalar) v.c = -v.c;
      else v.m = -v.m;
    } else if (accept("+")) {
      v = factor();
    } else {
      v = atom();
    }
    --depth_;
    return v;
  }

  Value atom() {
    skip();
    if (pos_ == s_.size()) throw error("the expression ends where an operator or a number is expected");
    const std::size_t at = pos_;
    if (at_tensor())
      throw error(fmt::format("'(x)' at position {} needs an operator on its left", position(at)));
    if (accept("(")) {
      const Value v = sum();
      if (!accept(")"))
        throw error(fmt::format("missing ')' for the '(' at position {} (found {} at position {})", position(at),
                                      pos_ < s_.size() ? "'" + word(pos_) + "'" : "the end", position(pos_)));
      return v;
    }
    const char c = s_[at];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return number(at);
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      const std::string name = s_.substr(at, pos_ - at);
      for (const auto& [known, which] : {std::pair{"sigma_x", 'x'}, {"sigma_y", 'y'}, {"sigma_z", 'z'},
                                         {"sigma_plus", '+'}, {"sigma_minus", '-'}})
        if (name == known) return {false, {}, pauli(which)};
      throw error(fmt::format("unknown operator '{}' at position {} of the expression; the names are sigma_x, "
                                  "sigma_y, sigma_z, sigma_plus, sigma_minus and 1 (the 2 x 2 identity)",
                                  name, position(at)));
    }
    throw error(fmt::format("unexpected '{}' at position {} of the expression: expected a number, an operator "
                                "name or '('", word(at), position(at)));
  }

  /// digits ['.' digits] [exponent] ['i' | 'j'], or '.' digits ...
  Value number(std::size_t at) {
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      return pos_ > from;
    };
    bool any = digits();
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      any = digits() || any;
    }
    if (!any) throw error(fmt::format("malformed number at position {} of the expression", position(at)));
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digits()) throw error(fmt::format("malformed exponent in the number at position {}", position(at)));
    }
    double x = 0.0;
    const auto [end, ec] = std::from_chars(s_.data() + at, s_.data() + pos_, x);
    if (ec != std::errc() || end != s_.data() + pos_ || !std::isfinite(x))
      throw error(fmt::format("the number '{}' at position {} is not a finite double", s_.substr(at, pos_ - at),
                                  position(at)));
    // An imaginary unit suffix, unless it starts a longer word (which is then an error).
    if (pos_ < s_.size() && (s_[pos_] == 'i' || s_[pos_] == 'j') &&
        !(pos_ + 1 < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_ + 1])) || s_[pos_ + 1] == '_'))) {
      ++pos_;
      return {true, cplx(0.0, x), {}};
    }
    return {true, cplx(x, 0.0), {}};
  }
};

}  // namespace

std::string toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

CMat parse_operator_expression(const std::string& text, const std::string& key) {
  return ExpressionParser(text, key).parse();
}

cplx read_complex(const toml::node& node, const std::string& key) { return entry(node, key, ""); }

std::vector<cplx> read_complex_list(const toml::node& node, const std::string& key) {
  const auto* a = node.as_array();
  if (!a) throw InputError(key, fmt::format("expected an array of numbers or [re, im], got {}", toml_type_name(node)));
  std::vector<cplx> v;
  for (std::size_t i = 0; i < a->size(); ++i) v.push_back(entry(*a->get(i), key, fmt::format("entry {} ", i)));
  return v;
}

CMat read_matrix(const toml::node& node, const std::string& key) {
  if (auto text = node.value_exact<std::string>()) {
    CMat m = parse_operator_expression(*text, key);
    check_size(m.rows(), key);
    return m;
  }
  const auto* a = node.as_array();
  if (!a)
    throw InputError(key, fmt::format("expected a matrix (an array of rows such as [[1, 0], [0, -1]], or an operator "
                                      "expression such as \"sigma_z\"), got {}",
                                      toml_type_name(node)));
  if (a->empty()) throw InputError(key, "is an empty array; a matrix needs d >= 1 rows");
  const Index d = Index(a->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    const auto* row = a->get(i)->as_array();
    if (!row)
      throw InputError(key, fmt::format("row {} is {}, not an array: a matrix is an array of rows such as [[1, 0], "
                                        "[0, -1]]{}",
                                        i, toml_type_name(*a->get(i)),
                                        number(*a->get(i)) ? " (a 1-D array is a state vector, allowed for system.initial only)"
                                                           : ""));
    const std::size_t first = a->get(0)->as_array()->size();
    if (row->size() != first)
      throw InputError(key, fmt::format("ragged rows: row {} has {} entries, row 0 has {}", i, row->size(), first));
  }
  const Index cols = Index(a->get(0)->as_array()->size());
  if (cols != d)
    throw InputError(key, fmt::format("is not square: {} rows of {} entries{}", d, cols,
                                      cols == 2 ? " (complex entries are [re, im] inside a row: [[1, [0, 1]], ...])" : ""));
  check_size(d, key);
  CMat m(d, d);
  for (Index i = 0; i < d; ++i) {
    const auto& row = *a->get(std::size_t(i))->as_array();
    for (Index j = 0; j < d; ++j) m(i, j) = entry(*row.get(std::size_t(j)), key, fmt::format("entry [{}][{}] ", i, j));
  }
  return m;
}

CMat read_state(const toml::node& node, const std::string& key) {
  const auto* a = node.as_array();
  bool rows = a && !a->empty();
  if (a)
    for (const auto& e : *a) rows = rows && e.is_array();
  if (!a || rows) {
    // An array of pairs that cannot be a square matrix is most likely a complex state vector.
    if (rows && a->size() != 2) {
      bool pairs = true;
      for (const auto& e : *a) pairs = pairs && e.as_array()->size() == 2;
      if (pairs)
        throw InputError(key, fmt::format("{} rows of 2 entries is not a square matrix; as a state vector, give at "
                                          "least one entry as a plain number (a global phase can make one real)",
                                          a->size()));
    }
    return read_matrix(node, key);
  }
  if (a->empty()) throw InputError(key, "is an empty array; a state vector needs d >= 1 entries");
  check_size(Index(a->size()), key);
  CVec psi(Index(a->size()));
  for (std::size_t i = 0; i < a->size(); ++i) psi(Index(i)) = entry(*a->get(i), key, fmt::format("entry {} ", i));
  const double norm = psi.norm();
  if (!(std::abs(norm - 1.0) <= density_tol))
    throw InputError(key, fmt::format("a state vector needs norm 1 (within {:g}), got norm {:.15g}", density_tol, norm));
  return psi * psi.adjoint() / (norm * norm);
}

namespace {
/// The largest |m_ij - conj(m_ji)| and where (i <= j), for the messages.
double asymmetry(const CMat& m, Index& i, Index& j) {
  const double worst = (m - m.adjoint()).cwiseAbs().maxCoeff(&i, &j);
  if (i > j) std::swap(i, j);
  return worst;
}

std::string pair_text(const CMat& m, Index i, Index j) {
  return fmt::format("entry [{}][{}] = ({:.15g}, {:.15g}) is not the complex conjugate of entry [{}][{}] = ({:.15g}, "
                     "{:.15g})",
                     i, j, m(i, j).real(), m(i, j).imag(), j, i, m(j, i).real(), m(j, i).imag());
}
}  // namespace

CMat checked_hermitian(const CMat& m, const std::string& key) {
  const double scale = m.cwiseAbs().maxCoeff();
  Index i = 0, j = 0;
  const double worst = asymmetry(m, i, j);
  if (worst > hermitian_rel_tol * scale)
    throw InputError(key, fmt::format("is not Hermitian: {}; they differ by {:.3g}, more than {:g} of the largest entry "
                                      "({:.3g})",
                                      pair_text(m, i, j), worst, hermitian_rel_tol, scale));
  return (m + m.adjoint()) * 0.5;
}

CMat checked_density_matrix(const CMat& rho, const std::string& key) {
  Index i = 0, j = 0;
  const double worst = asymmetry(rho, i, j);
  if (worst > density_tol)
    throw InputError(key, fmt::format("is not a density matrix: not Hermitian: {}; they differ by {:.3g} > {:g}",
                                      pair_text(rho, i, j), worst, density_tol));
  const CMat h = (rho + rho.adjoint()) * 0.5;
  const double trace = h.trace().real();
  if (!(std::abs(trace - 1.0) <= density_tol))
    throw InputError(key, fmt::format("is not a density matrix: its trace must be 1 (within {:g}), got {:.15g}",
                                      density_tol, trace));
  const double lowest = Eigen::SelfAdjointEigenSolver<CMat>(h, Eigen::EigenvaluesOnly).eigenvalues().minCoeff();
  if (lowest < -density_tol)
    throw InputError(key, fmt::format("is not a density matrix: it has the negative eigenvalue {:.6g} (below -{:g})",
                                      lowest, density_tol));
  return h;
}

nlohmann::json complex_to_json(cplx z) {
  if (z.imag() == 0.0 && !std::signbit(z.imag())) return z.real();
  return nlohmann::json::array({z.real(), z.imag()});
}

nlohmann::json matrix_to_json(const CMat& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (Index i = 0; i < m.rows(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Index j = 0; j < m.cols(); ++j) row.push_back(complex_to_json(m(i, j)));
    rows.push_back(std::move(row));
  }
  return rows;
}

nlohmann::json complex_list_to_json(const std::vector<cplx>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const cplx& z : v) a.push_back(complex_to_json(z));
  return a;
}

}  // namespace qfluct
