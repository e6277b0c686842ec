#!/usr/bin/env bash
# Carollo 2023, Theorem 2 and the contrast it draws:
#  (1) g = g0/N, bath field h and a bath polarised along x (examples/mean_field.toml): the
#      central spin converges to the mean-field model (mean_field kind) as N grows: exact block
#      master equation for N = 10 ... 320 (pruned: its support follows the relaxing bath),
#      trajectories for N = 640.
#  (2) g = g0/sqrt(N) at the Fig. 2 point: the mean-field prediction (for Omega_SS, m_pm = 0, so
#      the central spin alone) stays off, while the emergent spin-boson model is approached.
#   examples/mean_field_study.sh [--reduced] [OUTDIR]     (default OUTDIR: results/mean_field)
# --reduced skips N = 160 and 320 and uses 4000 instead of 40000 trajectories at N = 640.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFLUCT:-build/qfluct}
mode=full
if [ "${1:-}" = "--reduced" ]; then mode=reduced; shift; fi
out=${1:-results/mean_field}
mkdir -p "$out"
me_sizes="10 20 40 80"; ntraj=4000
if [ "$mode" = full ]; then me_sizes="$me_sizes 160 320"; ntraj=40000; fi

echo "mean field ($mode): linear coupling, N = $me_sizes (master equation), 640 (trajectories)"
for N in $me_sizes; do "$Q" run examples/mean_field.toml --set model.N="$N" --quiet -o "$out/linear_N$N.csv"; done
"$Q" run examples/mean_field.toml --set model.N=640 --set 'solver.method="jump"' --set solver.ntraj="$ntraj" \
  --quiet -o "$out/linear_N640.csv"
"$Q" run examples/mean_field.toml --set 'model.kind="mean_field"' --quiet -o "$out/linear_mean_field.csv"

echo "mean field ($mode): sqrt coupling (Fig. 2 point) against both limits"
for N in $me_sizes; do "$Q" run examples/fig2.toml --set model.N="$N" --quiet -o "$out/sqrt_N$N.csv"; done
"$Q" run examples/fig2.toml --set 'model.kind="mean_field"' --quiet -o "$out/sqrt_mean_field.csv"
"$Q" run examples/fig2.toml --set 'model.kind="spin_boson"' --quiet -o "$out/sqrt_spin_boson.csv"

/usr/bin/python3 examples/plot_mean_field.py "$out"
