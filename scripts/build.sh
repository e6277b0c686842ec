#!/usr/bin/env bash
# Configures and builds qfluct in build/ (Release). The CLI ends up at build/qfluct, the Python
# module at build/python/qfluct (PYTHONPATH=build/python).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DQFLUCT_BUILD_PYTHON=ON >/dev/null
cmake --build build -j "$(nproc)"
