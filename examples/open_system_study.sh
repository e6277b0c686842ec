#!/usr/bin/env bash
# Two qubits in one lossy cavity (examples/open_system.toml, model.kind = "open_system"):
# cavity-mediated entanglement from the subradiant state, master equation against quantum-jump
# trajectories, and the stationary state.
#
#   examples/open_system_study.sh [OUTDIR]      (default OUTDIR: results/open_system; ~10 s)
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFLUCT:-build/qfluct}
out=${1:-results/open_system}
mkdir -p "$out"
cfg=examples/open_system.toml
echo "open_system: master equation"
"$Q" run "$cfg" --quiet -o "$out/master.csv"
echo "open_system: 2000 quantum-jump trajectories"
"$Q" run "$cfg" --set 'solver.method="jump"' --set solver.ntraj=2000 --quiet -o "$out/jump.csv"
echo "open_system: stationary state"
"$Q" steady "$cfg" --quiet -o "$out/steady.csv"
/usr/bin/python3 examples/plot_open_system.py "$out"
