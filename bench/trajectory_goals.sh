#!/usr/bin/env bash
# The absolute goals of the trajectory engine, through the command line on 2 threads, at the
# Fig. 2 point, t in [0, 4]: N = 1e3 with 1e4 trajectories (< 30 s), N = 1e5 with 1e3 (< 2 min),
# N = 1e6 with 1e3 (< 15 min). Prints wall time and peak memory of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFLUCT:-build/qfluct}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for spec in 1000:10000 100000:1000 1000000:1000; do
  N=${spec%%:*}; ntraj=${spec##*:}
  /usr/bin/time -f "N=$N ntraj=$ntraj threads=2: %e s wall, %M KB peak" \
    "$Q" run examples/fig2.toml --set model.N="$N" --set 'solver.method="jump"' --set solver.ntraj="$ntraj" \
    --threads 2 --quiet -o "$out/goal_$N.csv"
done
