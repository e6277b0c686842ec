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
targets=(qfluct_lib qfluct)
# The Python module, when the build has it (QFLUCT_BUILD_PYTHON), installs beside the library.
python_module=0
if grep -q "/qfluct_python.dir" "$build/CMakeFiles/TargetDirectories.txt" 2>/dev/null; then
  targets+=(qfluct_python)
  python_module=1
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S examples/cmake-project -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" -j "$(nproc)" >/dev/null
"$work/build/lone_spin"
"$work/prefix/bin/qfluct" --version >/dev/null
if [ $python_module = 1 ]; then
  python=$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' "$build/CMakeCache.txt")
  site=$(echo "$work"/prefix/lib*/python3*/site-packages)
  PYTHONPATH="$site" "${python:-python3}" -c "import qfluct; assert qfluct.__file__.startswith('$site'), qfluct.__file__"
fi
echo "check-package: ok ($((SECONDS - start)) s: install, find_package(qfluct), build and run of examples/cmake-project$([ $python_module = 1 ] && echo ", import qfluct"))"
