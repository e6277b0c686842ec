#!/usr/bin/env bash
# Regenerates the golden CSVs in this directory (and COMMANDS.txt) from a given qfluct binary.
#
#   tests/data/golden/regenerate.sh QFLUCT_BINARY [TEST_BINARY]
#     TEST_BINARY: the qfluct_tests whose table of cases is used (default build/tests/qfluct_tests);
#     the files are written into the source tree that TEST_BINARY was built from.
#
# Only run this deliberately: the files pin the numbers of the code before issue 11 (the test
# [golden] in tests/io/golden.test.cpp compares every run with them to 1e-12 relative). Regenerate
# them only when a change of numbers is intended, and explain that change in the commit that
# updates the files. Adding a case: add its row to the table in golden.test.cpp, then run this with
# a binary whose numbers are trusted (e.g. one built from the commit before the change).
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 QFLUCT_BINARY [TEST_BINARY]" >&2
  exit 2
fi
qfluct=$(realpath "$1")
tests=${2:-build/tests/qfluct_tests}
[ -x "$qfluct" ] || { echo "$0: $1 is not an executable" >&2; exit 2; }
[ -x "$tests" ] || { echo "$0: $tests is not an executable (build qfluct_tests first)" >&2; exit 2; }
# The first [golden] test writes the files (then every test compares against them).
QFLUCT_GOLDEN_UPDATE="$qfluct" "$tests" --order decl "[golden]"
