#!/usr/bin/env bash
# Checks qfluct as a package: installs the build in BUILD_DIR (default build/, built by
# scripts/build.sh) into a temporary prefix, then configures, builds and runs the downstream
# project examples/cmake-project against it with find_package(qfluct). Exits non-zero when any
# step fails or the downstream program's check fails. Everything temporary is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/CMakeCache.txt" ] || { echo "check-package: no configured build in $build (run scripts/build.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

start=$SECONDS
cmake --build "$build" -j "$(nproc)" --target qfluct_lib qfluct >/dev/null
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S examples/cmake-project -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" -j "$(nproc)" >/dev/null
"$work/build/lone_spin"
"$work/prefix/bin/qfluct" --version >/dev/null
echo "check-package: ok ($((SECONDS - start)) s: install, find_package(qfluct), build and run of examples/cmake-project)"
