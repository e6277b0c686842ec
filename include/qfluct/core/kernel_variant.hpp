#pragma once
/// Which build of the hot kernels this machine runs. The propagators have AVX2/FMA clones
/// (target_clones "arch=x86-64-v3") chosen at load time; their rounding differs in the last bits
/// from the generic code, so bit-identical results (threads, ranks, checkpoints) hold between
/// machines of one variant. Recorded in sidecars and checkpoints.
#include <string>

namespace qfluct {

/// "x86-64-v3" where the CPU runs the AVX2/FMA clones, "generic" otherwise.
std::string kernel_variant();

}  // namespace qfluct
