# Compile options for qfluct's own targets. Everything here is PRIVATE to the target it is
# applied to: nothing reaches a project that links qfluct::qfluct (except -march=native with
# QFLUCT_NATIVE, see qfluct_native below).
include(CheckCXXCompilerFlag)

# Speed flags of the library's sources (each only where the compiler accepts it):
# -fcx-limited-range: complex products without the NaN-recovery call (__muldc3); all our values
#   are finite, and for finite operands the result is the same.
# -fno-math-errno: nothing reads errno, and without it every sqrt carries a branch that keeps
#   ladder loops scalar.
# -fno-semantic-interposition: the library is position-independent code; without this, GCC may
#   not inline or clone its exported functions into each other (they could be interposed at
#   load time), which -fPIE code never had to assume.
set(QFLUCT_SPEED_FLAGS "")
foreach(flag -fcx-limited-range -fno-math-errno -fno-semantic-interposition)
  string(MAKE_C_IDENTIFIER "QFLUCT_CXX_ACCEPTS${flag}" accepted)
  check_cxx_compiler_flag(${flag} ${accepted})
  if(${accepted})
    list(APPEND QFLUCT_SPEED_FLAGS ${flag})
  endif()
endforeach()

# Warnings for every target this project compiles (GCC and Clang spellings).
function(qfluct_warnings target)
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Wall -Wextra -Wpedantic>)
endfunction()

# A program of this project (CLI, tests, benchmarks, examples): the library, and the libraries
# its own sources use directly (the library keeps fmt and OpenMP private).
function(qfluct_program target)
  target_link_libraries(${target} PRIVATE qfluct_lib fmt::fmt OpenMP::OpenMP_CXX)
endfunction()
