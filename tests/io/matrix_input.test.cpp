// Matrices from configuration values (issue 11, model.kind = "open_system"): nested arrays with
// complex entries, state vectors, spin-1/2 expressions against explicit matrices, and the named
// errors for every kind of bad matrix.
#include "qfluct/core/error.hpp"
#include "qfluct/io/matrix_input.hpp"

#include <nlohmann/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <random>

using namespace qfluct;

namespace {

/// The value of `text` (TOML) as the node `v` of a table.
toml::table value(const std::string& text) { return toml::parse("v = " + text); }

CMat matrix(const std::string& text, const std::string& key = "system.H") {
  const toml::table t = value(text);
  return read_matrix(*t.get("v"), key);
}

CMat expression(const std::string& text) { return parse_operator_expression(text, "system.H"); }

/// The InputError `f` throws: its key and message, or fails the test.
template <class F>
std::pair<std::string, std::string> refusal(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return {e.key(), e.what()};
  }
  FAIL("accepted");
  return {};
}

CMat mat2(cplx a, cplx b, cplx c, cplx d) {
  CMat m(2, 2);
  m << a, b, c, d;
  return m;
}

CMat kron(const CMat& a, const CMat& b) {
  CMat k = CMat::Zero(a.rows() * b.rows(), a.cols() * b.cols());
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < a.cols(); ++j)
      for (Index k2 = 0; k2 < b.rows(); ++k2)
        for (Index l = 0; l < b.cols(); ++l) k(i * b.rows() + k2, j * b.cols() + l) = a(i, j) * b(k2, l);
  return k;
}

// The spin-1/2 operators written out (index 0 = up).
const CMat sx = mat2(0, 1, 1, 0), sy = mat2(0, -I, I, 0), sz = mat2(1, 0, 0, -1), sp = mat2(0, 1, 0, 0),
           sm = mat2(0, 0, 1, 0), id2 = mat2(1, 0, 0, 1);

}  // namespace

TEST_CASE("matrix input: nested arrays with integer, float and [re, im] entries", "[matrix_input]") {
  // The brief's example: a 2 x 2 complex Hermitian matrix.
  CHECK(matrix("[[0.7, [0.3, -0.2]], [[0.3, 0.2], 0.3]]") == mat2(0.7, cplx(0.3, -0.2), cplx(0.3, 0.2), 0.3));
  CHECK(matrix("[[1, 0], [0, -1]]") == sz);  // integers
  CHECK(matrix("[[0, [0, -1]], [[0, 1], 0]]") == sy);
  CHECK(matrix("[[2.5]]") == CMat::Constant(1, 1, 2.5));  // d = 1
  CHECK(matrix("[[[1, 2]]]") == CMat::Constant(1, 1, cplx(1, 2)));  // a 1 x 1 complex matrix
  // Random 3 x 3 and 5 x 5 matrices written with 17 digits come back exactly.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  for (Index d : {3, 5}) {
    CMat m(d, d);
    std::string text = "[";
    for (Index i = 0; i < d; ++i) {
      text += i ? ", [" : "[";
      for (Index j = 0; j < d; ++j) {
        m(i, j) = (i + j) % 2 ? cplx(u(rng), u(rng)) : cplx(u(rng), 0.0);
        text += (j ? ", " : "") + (m(i, j).imag() != 0 ? fmt::format("[{:.17g}, {:.17g}]", m(i, j).real(), m(i, j).imag())
                                                        : fmt::format("{:.17g}", m(i, j).real()));
      }
      text += "]";
    }
    INFO(text);
    CHECK(matrix(text + "]") == m);
  }
  CHECK(matrix("[[0, 0], [0, 0]]", "coupling[0].G") == CMat::Zero(2, 2));
  CHECK(read_matrix(*value("\"sigma_x\"").get("v"), "system.H") == sx);  // a string is an expression
  CHECK(read_complex(*value("[0.5, -1]").get("v"), "k") == cplx(0.5, -1.0));
  CHECK(read_complex(*value("3").get("v"), "k") == cplx(3.0, 0.0));
  CHECK(read_complex_list(*value("[1, [0, 2], -0.5]").get("v"), "k") == std::vector<cplx>{1.0, cplx(0, 2), -0.5});
  CHECK(read_complex_list(*value("[]").get("v"), "k").empty());
}

TEST_CASE("matrix input: bad matrices name the key and what is wrong", "[matrix_input]") {
  struct Bad {
    std::string text, says;
  };
  std::string big = "[";  // 65 x 65 zeros
  for (int i = 0; i < 65; ++i) {
    big += i ? ", [" : "[";
    for (int j = 0; j < 65; ++j) big += j ? ", 0" : "0";
    big += "]";
  }
  big += "]";
  const std::vector<Bad> cases = {
      {"[[1, 0], [0]]", "ragged rows: row 1 has 1 entries, row 0 has 2"},
      {"[[1, 0, 0], [0, 1, 0]]", "is not square: 2 rows of 3 entries"},
      {"[[1, 0], [0, \"x\"]]", "entry [1][1] must be a number or a complex number [re, im], got a string"},
      {"[[1, true], [0, 1]]", "entry [0][1] must be a number or a complex number [re, im], got a boolean"},
      {"[[1, [1, 2, 3]], [0, 1]]", "entry [0][1] must be a number or a complex number [re, im], got an array of 3 entries"},
      {"[[1, [1, \"2\"]], [0, 1]]", "entry [0][1] must be a number"},
      {"[[nan, 0], [0, 1]]", "entry [0][0] is not finite"},
      {"[[1, [0, inf]], [0, 1]]", "entry [0][1] is not finite"},
      {"[[1, 0], [-inf, 1]]", "entry [1][0] is not finite"},
      {"[]", "is an empty array"},
      {"[1, 0]", "row 0 is an integer, not an array"},
      {"2.0", "expected a matrix"},
      {"{ a = 1 }", "expected a matrix"},
      {big, "is 65 x 65: the system dimension d must be between 1 and 64"},
  };
  for (const auto& c : cases) {
    INFO(c.text.substr(0, 80));
    for (const std::string key : {"system.H", "system.channel[1].L", "coupling[0].G", "output.observable[2].O"}) {
      const auto [k, what] = refusal([&] { matrix(c.text, key); });
      CHECK(k == key);
      CHECK_THAT(what, Catch::Contains(c.says));
    }
  }
  CHECK_THAT(refusal([&] { read_complex(*value("\"1+2j\"").get("v"), "coupling[0].a"); }).second,
             Catch::Contains("must be a number or a complex number [re, im], got a string"));
  CHECK_THAT(refusal([&] { read_complex_list(*value("[1, nan]").get("v"), "coupling[0].a"); }).second,
             Catch::Contains("coupling[0].a: entry 1 is not finite"));
  CHECK_THAT(refusal([&] { read_complex_list(*value("1").get("v"), "coupling[0].a_dag"); }).second,
             Catch::Contains("coupling[0].a_dag: expected an array"));
}

TEST_CASE("matrix input: a state vector becomes |psi><psi|", "[matrix_input]") {
  auto state = [](const std::string& text) { return read_state(*value(text).get("v"), "system.initial"); };
  CHECK(state("[1, 0]") == mat2(1, 0, 0, 0));
  CHECK(state("[0, 1, 0]") == CMat(Eigen::Vector3cd(0, 1, 0).asDiagonal()));
  // (|u> + i|d>)/sqrt(2) with the amplitudes to 17 digits: 1/2 and -+i/2 off the diagonal (to rounding).
  const double r = 1.0 / std::sqrt(2.0);
  const CMat plus_i = state(fmt::format("[{:.17g}, [0, {:.17g}]]", r, r));
  CHECK((plus_i - mat2(0.5, cplx(0, -0.5), cplx(0, 0.5), 0.5)).cwiseAbs().maxCoeff() < 1e-15);
  // Any state: psi psi^+ / |psi|^2 for random complex psi normalised to 1e-16.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  for (Index d : {1, 2, 4, 7}) {
    CVec psi(d);
    for (Index i = 0; i < d; ++i) psi(i) = cplx(g(rng), i == 0 ? 0.0 : g(rng));  // entry 0 real: a plain number
    psi.normalize();
    std::string text = "[";
    for (Index i = 0; i < d; ++i)
      text += (i ? ", " : "") + (i == 0 ? fmt::format("{:.17g}", psi(i).real())
                                        : fmt::format("[{:.17g}, {:.17g}]", psi(i).real(), psi(i).imag()));
    const CMat rho = state(text + "]");
    // 17 digits reproduce psi exactly; the only rounding is in the outer product and the division.
    CHECK((rho - psi * psi.adjoint()).cwiseAbs().maxCoeff() < 1e-15);
  }
  // A matrix stays a matrix (read_state does not check it: checked_density_matrix does).
  CHECK(state("[[0.5, 0.5], [0.5, 0.5]]") == mat2(0.5, 0.5, 0.5, 0.5));
  CHECK(state("\"0.5*1\"") == 0.5 * id2);
  // Errors: the norm (1 within 1e-10), non-finite and bad entries, complex pairs that are no matrix.
  CHECK_THAT(refusal([&] { state("[1, 1]"); }).second,
             Catch::Contains("system.initial: a state vector needs norm 1 (within 1e-10), got norm 1.4142135623731"));
  CHECK_NOTHROW(state("[1.00000000005, 0]"));
  CHECK_THAT(refusal([&] { state("[1.0000000002, 0]"); }).second, Catch::Contains("got norm 1.0000000002"));
  CHECK_THAT(refusal([&] { state("[0, 0]"); }).second, Catch::Contains("got norm 0"));
  CHECK_THAT(refusal([&] { state("[1, nan]"); }).second, Catch::Contains("entry 1 is not finite"));
  CHECK_THAT(refusal([&] { state("[1, \"up\"]"); }).second, Catch::Contains("entry 1 must be a number"));
  CHECK_THAT(refusal([&] { state("[[1, 0], [0, 0], [0, 0]]"); }).second,
             Catch::Contains("give at least one entry as a plain number"));
  CHECK_THAT(refusal([&] { state("[]"); }).second, Catch::Contains("empty"));
}

TEST_CASE("operator expressions: each name, tensor products and complex coefficients against explicit matrices",
          "[matrix_input]") {
  CHECK(expression("sigma_x") == sx);
  CHECK(expression("sigma_y") == sy);
  CHECK(expression("sigma_z") == sz);
  CHECK(expression("sigma_plus") == sp);
  CHECK(expression("sigma_minus") == sm);
  CHECK(expression("1") == id2);
  CHECK(sp == (sx + I * sy) / 2.0);  // the convention: sigma_plus = |up><down| = (sigma_x + i sigma_y)/2
  // The examples.
  CHECK(expression("0.5*sigma_z(x)1 + 0.4*1(x)sigma_z") == 0.5 * kron(sz, id2) + 0.4 * kron(id2, sz));
  CMat zz(4, 4);
  zz.setZero();
  zz.diagonal() << 0.5 + 0.4, 0.5 - 0.4, -0.5 + 0.4, -0.5 - 0.4;
  CHECK(expression("0.5*sigma_z(x)1 + 0.4*1(x)sigma_z") == zz);
  CHECK(expression("sigma_x(x)sigma_x") == CMat(Eigen::Matrix4cd::Identity().rowwise().reverse()));
  CMat flip = CMat::Zero(4, 4);  // |ud><du| + |du><ud| (basis uu, ud, du, dd)
  flip(1, 2) = flip(2, 1) = 0.25;
  CHECK(expression("0.25*(sigma_plus(x)sigma_minus + sigma_minus(x)sigma_plus)") == flip);
  CHECK(expression("(0.5+0.2j)*sigma_plus") == mat2(0, cplx(0.5, 0.2), 0, 0));
  CHECK(expression("0.5i*sigma_x") == mat2(0, cplx(0, 0.5), cplx(0, 0.5), 0));
  CHECK(expression("2j * sigma_minus") == mat2(0, 0, cplx(0, 2), 0));
  CHECK(expression("(1 - 1e-3j)*sigma_z") == mat2(cplx(1, -1e-3), 0, 0, cplx(-1, 1e-3)));
  CHECK(expression("sigma_z \u2297 sigma_x") == kron(sz, sx));  // the symbol works too
  // Three factors, the first the slowest index.
  CHECK(expression("sigma_z(x)sigma_plus(x)sigma_x") == kron(kron(sz, sp), sx));
  CHECK(expression("sigma_z(x)(sigma_plus(x)sigma_x)") == kron(sz, kron(sp, sx)));
  // Numbers: exponents, leading dots, signs; a number as an operator is that number times 1.
  CHECK(expression("2.5E+1*sigma_z") == 25.0 * sz);
  CHECK(expression(".5*sigma_x - -.25*sigma_x") == 0.75 * sx);
  CHECK(expression("sigma_z + 1") == mat2(2, 0, 0, 0));
  CHECK(expression("sigma_x(x)1 + 2") == kron(sx, id2) + 2.0 * CMat::Identity(4, 4));
  CHECK(expression("0.5") == 0.5 * id2);
  CHECK(expression("3(x)sigma_x") == kron(3.0 * id2, sx));
  CHECK(expression("  sigma_x   (x)  sigma_y  ") == kron(sx, sy));
  // Random coefficients through the text: the same as the explicit sum.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  for (int k = 0; k < 20; ++k) {
    const double a = u(rng), b = u(rng), c = u(rng), e = u(rng);
    const std::string text = fmt::format("{:.17g}*sigma_x(x)sigma_y + ({:.17g}{:+.17g}j)*sigma_plus(x)sigma_minus "
                                         "- {:.17g}*1(x)sigma_z",
                                         a, b, c, e);
    INFO(text);
    const CMat expected = a * kron(sx, sy) + cplx(b, c) * kron(sp, sm) - e * kron(id2, sz);
    CHECK((expression(text) - expected).cwiseAbs().maxCoeff() <= 1e-15 * 3.0);  // rounding of the products
  }
}

TEST_CASE("operator expressions: precedence is * over (x) over + and -", "[matrix_input]") {
  // '*' binds tighter than '(x)': (sigma_x sigma_y) (x) 1 = (i sigma_z) (x) 1.
  CHECK(expression("sigma_x*sigma_y(x)1") == kron(I * sz, id2));
  CHECK(expression("sigma_x*sigma_y") == I * sz);
  CHECK(expression("sigma_plus*sigma_minus") == mat2(1, 0, 0, 0));  // |up><up|
  CHECK(expression("1(x)sigma_plus*sigma_minus") == kron(id2, sp * sm));
  CHECK(expression("2*sigma_x(x)sigma_y*3") == kron(2.0 * sx, 3.0 * sy));
  // '(x)' binds tighter than '+' and '-'.
  CHECK(expression("sigma_x(x)sigma_y + sigma_z(x)1") == kron(sx, sy) + kron(sz, id2));
  CHECK(expression("sigma_x(x)sigma_y - sigma_z(x)1") == kron(sx, sy) - kron(sz, id2));
  CHECK(expression("sigma_x(x)(sigma_y + sigma_z)") == kron(sx, sy + sz));
  // Subtraction is left-associative, unary minus applies to its factor.
  CHECK(expression("sigma_x - sigma_y - sigma_z") == sx - sy - sz);
  CHECK(expression("-sigma_z(x)sigma_x") == kron(-sz, sx));
  CHECK(expression("sigma_z(x)-sigma_x") == kron(sz, -sx));
  CHECK(expression("2*-sigma_x") == -2.0 * sx);
  CHECK(expression("1 - 2*sigma_plus*sigma_minus") == -sz);
  CHECK(expression("(sigma_x + sigma_y)*(sigma_x - sigma_y)") == (sx + sy) * (sx - sy));
}

TEST_CASE("operator expressions: errors name the key and the position", "[matrix_input]") {
  struct Bad {
    std::string text, says;
  };
  const std::vector<Bad> cases = {
      {"0.5*sigma_q", "unknown operator 'sigma_q' at position 5 of the expression"},
      {"sigma_x(x)Sigma_z", "unknown operator 'Sigma_z' at position 11"},
      {"0.5*sigma_z(x)1 + 0.4*1(x)sz", "unknown operator 'sz' at position 27"},
      {"sigma_x$", "unexpected '$' at position 8 of the expression: expected +, -, *, (x) or the end"},
      {"2 sigma_x", "unexpected 'sigma_x' at position 3"},
      {"sigma_x +", "the expression ends where an operator or a number is expected"},
      {"(sigma_x", "missing ')' for the '(' at position 1"},
      {"(x)sigma_x", "'(x)' at position 1 needs an operator on its left"},
      {"sigma_x(x)", "the expression ends where"},
      {"", "is an empty operator expression"},
      {"   ", "is an empty operator expression"},
      {"sigma_x(x)1 + sigma_z", "'+' at position 13 adds a 4 x 4 and a 2 x 2 matrix"},
      {"(sigma_x(x)1)*sigma_z", "'*' at position 14 multiplies a 4 x 4 by a 2 x 2 matrix"},
      {"1e999*sigma_x", "the number '1e999' at position 1 is not a finite double"},
      {"1e*sigma_x", "malformed exponent"},
      {".*sigma_x", "malformed number at position 1"},
      {"sigma_x(x)sigma_x(x)sigma_x(x)sigma_x(x)sigma_x(x)sigma_x(x)sigma_x",
       "the tensor product at position 58 has dimension 64 x 2 = 128, more than 64"},
      {std::string(150, '(') + "sigma_x" + std::string(150, ')'), "nested more than 100 levels"},
      {"\u2297sigma_x", "'(x)' at position 1 needs an operator on its left"},
      {"sigma_z \u2297 sigma_q", "unknown operator 'sigma_q' at position 11"},  // positions count characters
  };
  for (const auto& c : cases) {
    INFO(c.text);
    for (const std::string key : {"system.H", "output.observable[2].O"}) {
      const auto [k, what] = refusal([&] { parse_operator_expression(c.text, key); });
      CHECK(k == key);
      CHECK_THAT(what, Catch::Contains(c.says));
    }
  }
  // Through read_matrix: the key is the caller's.
  CHECK(refusal([&] { matrix("\"sigma_w\"", "system.channel[1].L"); }).first == "system.channel[1].L");
}

TEST_CASE("Hermiticity and density-matrix checks", "[matrix_input]") {
  // Hermitian within 1e-12 of the largest entry: accepted and made exactly Hermitian.
  for (double scale : {1e-6, 1.0, 1e5}) {
    INFO("scale " << scale);
    CMat h = scale * mat2(0.3, cplx(0.2, -0.7), cplx(0.2, 0.7), -1.0);
    const CMat ok = h + mat2(cplx(0, 0.4e-12 * scale), 0.9e-12 * scale, 0, 0);
    const CMat fixed = checked_hermitian(ok, "system.H");
    CHECK(fixed == fixed.adjoint());  // exactly
    CHECK((fixed - h).cwiseAbs().maxCoeff() <= 1e-12 * scale);
    const auto [key, what] = refusal([&] { checked_hermitian(h + mat2(0, 1.1e-12 * scale, 0, 0), "system.H"); });
    CHECK(key == "system.H");
    CHECK_THAT(what, Catch::Contains(fmt::format("is not Hermitian: entry [0][1] = ({:.15g}, {:.15g}) is not the complex "
                                                 "conjugate of entry [1][0]",
                                                 0.2 * scale + 1.1e-12 * scale, -0.7 * scale)));
  }
  CHECK(checked_hermitian(CMat::Zero(3, 3), "system.H") == CMat::Zero(3, 3));
  CHECK(refusal([&] { checked_hermitian(sp, "output.observable[0].O"); }).first == "output.observable[0].O");
  CHECK_THAT(refusal([&] { checked_hermitian(mat2(cplx(1, 0.5), 0, 0, 1), "system.H"); }).second,
             Catch::Contains("entry [0][0] = (1, 0.5) is not the complex conjugate of entry [0][0]"));

  // Density matrices: Hermitian, trace 1, eigenvalues >= -1e-10 (each within 1e-10).
  const CMat rho = mat2(0.75, cplx(0.25, 0.1), cplx(0.25, -0.1), 0.25);
  CHECK(checked_density_matrix(rho, "system.initial") == rho);
  CHECK_NOTHROW(checked_density_matrix(rho + 0.9e-10 * mat2(1, 0, 0, 0), "system.initial"));
  CHECK_THAT(refusal([&] { checked_density_matrix(rho + 1.1e-10 * mat2(1, 0, 0, 0), "system.initial"); }).second,
             Catch::Contains("system.initial: is not a density matrix: its trace must be 1 (within 1e-10), got 1.0000000001"));
  CHECK_THAT(refusal([&] { checked_density_matrix(2.0 * rho, "system.initial"); }).second, Catch::Contains("got 2"));
  CHECK_THAT(refusal([&] { checked_density_matrix(rho + mat2(0, 1e-9, 0, 0), "system.initial"); }).second,
             Catch::Contains("not Hermitian"));
  // |+><+| shifted: eigenvalues 1 + e and -e (trace kept 1).
  for (double e : {1e-3, 1.1e-10}) {
    const CMat bad = mat2(0.5, 0.5 + e, 0.5 + e, 0.5);
    CHECK_THAT(refusal([&] { checked_density_matrix(bad, "system.initial"); }).second,
               Catch::Contains("negative eigenvalue -" + fmt::format("{:.6g}", e)));
  }
  CHECK_NOTHROW(checked_density_matrix(mat2(0.5, 0.5 + 0.9e-10, 0.5 + 0.9e-10, 0.5), "system.initial"));
}

TEST_CASE("matrices to JSON: plain numbers for real entries, [re, im] otherwise", "[matrix_input]") {
  CHECK(complex_to_json(cplx(0.5, 0.0)) == nlohmann::json(0.5));
  CHECK(complex_to_json(cplx(0.5, -0.25)) == nlohmann::json({0.5, -0.25}));
  CHECK(complex_to_json(cplx(0.0, -0.0)).is_array());  // the sign of a zero imaginary part is kept
  CHECK(matrix_to_json(sy) == nlohmann::json::parse("[[0.0, [0.0, -1.0]], [[0.0, 1.0], 0.0]]"));
  CHECK(complex_list_to_json({1.0, cplx(0, 2)}) == nlohmann::json::parse("[1.0, [0.0, 2.0]]"));
  // Read back exactly, through the JSON text (as a sidecar is).
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  CMat m(4, 4);
  for (Index i = 0; i < 4; ++i)
    for (Index j = 0; j < 4; ++j) m(i, j) = cplx(u(rng), j > i ? u(rng) : 0.0);
  const std::string text = matrix_to_json(m).dump();
  CHECK(matrix(text) == m);
}
