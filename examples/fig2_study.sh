#!/usr/bin/env bash
# Carollo 2023, Fig. 2: the central spin model converges to the emergent open Jaynes-Cummings
# model (Eq. 9) like 1/N, and its stationary state is strongly non-Gaussian.
#
#   examples/fig2_study.sh [--reduced] [OUTDIR]      (default OUTDIR: results/fig2)
#
# (a)-(c): tau_z, <q>, <Q^4> against time: exact block master equation for N = 6 ... 10^4
#          (pruned to the sectors and rungs where rho lives; 10^5 in the full study),
#          quantum-jump trajectories for N = 320, 1000, 4000, and the spin_boson model; the
#          insets' distances come from all of them (at N = 1000 the exact curve and the
#          trajectories meet).
# (d):     stationary Q4 against 3 Q2^2 across g0 and across w_x (qfluct steady --scan).
# --reduced: the README's main job (about three minutes on 2 cores): N <= 10^4 for the master
# equation and 2000 trajectories; the full study adds N = 10^5 (about ten minutes) and uses
# 20000 trajectories.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFLUCT:-build/qfluct}
mode=full
if [ "${1:-}" = "--reduced" ]; then mode=reduced; shift; fi
out=${1:-results/fig2}
mkdir -p "$out"
cfg=examples/fig2.toml

me_sizes="6 10 20 40 80 160 1000 10000"; ntraj=2000
if [ "$mode" = full ]; then me_sizes="$me_sizes 100000"; ntraj=20000; fi

echo "fig2 ($mode): master equation for N = $me_sizes"
for N in $me_sizes; do
  "$Q" run "$cfg" --set model.N="$N" --quiet -o "$out/master_N$N.csv"
done
for N in 320 1000 4000; do
  echo "fig2 ($mode): $ntraj trajectories at N = $N"
  "$Q" run "$cfg" --set model.N="$N" --set 'solver.method="jump"' --set solver.ntraj="$ntraj" \
    --set solver.seed="$N" --quiet -o "$out/jump_N$N.csv"
done
echo "fig2 ($mode): emergent spin_boson model and its stationary states"
"$Q" run "$cfg" --set 'model.kind="spin_boson"' --quiet -o "$out/spin_boson.csv"
"$Q" steady "$cfg" --set 'model.kind="spin_boson"' --scan model.g0=0.5:8:16 --quiet -o "$out/steady_g0.csv"
"$Q" steady "$cfg" --set 'model.kind="spin_boson"' --scan 'model.w[0]=0:6:13' --quiet -o "$out/steady_wx.csv"

/usr/bin/python3 examples/plot_fig2.py "$out"
