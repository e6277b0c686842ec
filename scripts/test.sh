#!/usr/bin/env bash
# Builds qfluct, runs the whole test suite (Catch2 and the C++ examples, through CTest), then
# checks the installed package with a downstream project (scripts/check-package.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)")
bash scripts/check-package.sh build
