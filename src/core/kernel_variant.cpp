#include "qfluct/core/kernel_variant.hpp"

namespace qfluct {

std::string kernel_variant() {
#if defined(__x86_64__) && defined(__GNUC__)
  // The same test the target_clones resolver makes.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3";
#endif
  return "generic";
}

}  // namespace qfluct
