#!/usr/bin/env bash
# Configures and builds qfluct in build/ (Release). The CLI ends up at build/qfluct.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
