#pragma once
/// Basic numeric types. Units: hbar = 1; rates and frequencies share one unit.
#include <Eigen/Core>
#include <complex>

namespace qfluct {

using cplx = std::complex<double>;
using Index = Eigen::Index;
using CMat = Eigen::MatrixXcd;                 ///< column-major complex matrix
using CVec = Eigen::VectorXcd;
using RVec = Eigen::VectorXd;
using CMatRef = Eigen::Ref<CMat>;
using CMatCRef = Eigen::Ref<const CMat>;

inline constexpr cplx I{0.0, 1.0};

}  // namespace qfluct
