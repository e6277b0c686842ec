#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs a reduced version of the paper's
# Fig. 2 study (Carollo 2023): finite-N central spin model (exact block master equation up to
# N = 1000, quantum-jump trajectories at N = 320, 1000, 4000) against the emergent spin-boson
# model, and the stationary non-Gaussianity; then the reduced bosonization study (Fantechi &
# Merkli 2026): S + F against finite M for four models. About three minutes on 2 cores
# after the build. Output: results/fig2/*.csv (+ .json sidecars), results/fig2/fig2_dynamics.png,
# results/fig2/fig2_stationary.png; results/bosonization/*.csv (+ .json), bosonization_*.png;
# results/homodyne/ (a homodyne unravelling with its measurement records, homodyne_records.png).
# The full studies: bash examples/fig2_study.sh, bash examples/bosonization_study.sh --full
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
bash examples/fig2_study.sh --reduced results/fig2
bash examples/bosonization_study.sh results/bosonization
# Homodyne unravelling (docs/unravellings.md): tau_minus measured continuously, 5 records.
mkdir -p results/homodyne
build/qfluct run examples/homodyne.toml -o results/homodyne/jump.csv --quiet
build/qfluct run examples/homodyne.toml --set 'solver.method="master"' -o results/homodyne/master.csv --quiet
/usr/bin/python3 examples/plot_homodyne.py results/homodyne
echo "results in results/fig2/ (CSV + JSON sidecars, fig2_dynamics.png, fig2_stationary.png),"
echo "       results/bosonization/ (CSV + JSON sidecars, bosonization_*.png)"
echo "       and results/homodyne/ (CSV, records CSV, JSON, homodyne_records.png)"
