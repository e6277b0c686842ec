#!/usr/bin/env bash
# Carollo 2023, "Inhomogeneous coupling and extensions": with couplings c_k (sum c_k^2 / N = 1)
# the same emergent spin-boson model holds, a_N = sum_k c_k sigma_-^(k) / sqrt(eps N).
# Random c_k (uniform on [0, 1], normalised, seed 1) at the Fig. 2 point: the distance to the
# spin_boson model against N, next to the homogeneous model at the same N. Permutation symmetry
# is lost, so the model runs in the full 2^(N+1) space: exact master equation for N <= 8,
# quantum-jump trajectories (sparse single-spin jumps) for N = 10 ... 16.
#   examples/inhomogeneous_study.sh [--reduced] [OUTDIR]   (default OUTDIR: results/inhomogeneous)
# The full study takes about 25 minutes on 2 cores (N = 16 alone is 2^17 amplitudes per
# trajectory); --reduced stops at N = 10 with 1000 trajectories.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFLUCT:-build/qfluct}
mode=full
if [ "${1:-}" = "--reduced" ]; then mode=reduced; shift; fi
out=${1:-results/inhomogeneous}
mkdir -p "$out"
cfg=examples/fig2.toml
common=(--set output.dt=0.1 --quiet)
random=(--set 'model.couplings="uniform"' --set model.couplings_seed=1)

"$Q" run "$cfg" --set 'model.kind="spin_boson"' "${common[@]}" -o "$out/spin_boson.csv"
for N in 4 6 8; do
  echo "inhomogeneous ($mode): N = $N, master equation in the full space"
  "$Q" run "$cfg" --set model.N=$N "${random[@]}" "${common[@]}" -o "$out/random_N$N.csv"
done
if [ "$mode" = full ]; then trajectories="10:4000 12:2000 14:500 16:200"; else trajectories="10:1000"; fi
for spec in $trajectories; do
  N=${spec%%:*}; ntraj=${spec##*:}
  echo "inhomogeneous ($mode): N = $N, $ntraj trajectories in the full space"
  "$Q" run "$cfg" --set model.N=$N "${random[@]}" --set 'solver.method="jump"' --set solver.ntraj=$ntraj \
    "${common[@]}" -o "$out/random_N$N.csv"
done
for N in 4 6 8 10 12 14 16; do
  "$Q" run "$cfg" --set model.N=$N "${common[@]}" -o "$out/homogeneous_N$N.csv"
done
/usr/bin/python3 examples/plot_inhomogeneous.py "$out"
