#!/usr/bin/env bash
# Strong scaling of a trajectory ensemble over MPI ranks x OpenMP threads on this machine
# (issue 14): the same run at (ranks, threads) = (1,1), (1,2), (2,1), wall time, speed-up and
# parallel efficiency against (1,1), and a byte comparison of the CSVs (they must be identical).
#   bash bench/mpi_scaling.sh [QFLUCT] [N] [NTRAJ]      # defaults: build/qfluct, 1e4, 200
set -euo pipefail
Q=${1:-build/qfluct}
N=${2:-10000}
NTRAJ=${3:-200}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), nproc $(nproc), load $(cut -d' ' -f1 /proc/loadavg)"
echo "run: examples/fig2.toml, N = $N, solver.method = jump, ntraj = $NTRAJ, t in [0, 4]"
printf '| ranks x threads | wall s | speed-up | efficiency | CSV |\n|---|---:|---:|---:|---|\n'
base=""
for rt in 1x1 1x2 2x1; do
  r=${rt%x*}; t=${rt#*x}
  args=(run examples/fig2.toml --set model.N="$N" --set 'solver.method="jump"' --set solver.ntraj="$NTRAJ"
        --threads "$t" --quiet -o "$out/$rt.csv")
  start=$(date +%s.%N)
  if [ "$r" = 1 ]; then "$Q" "${args[@]}"; else "${mpi[@]}" -np "$r" "$Q" "${args[@]}"; fi
  wall=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { print a - b }')
  [ -z "$base" ] && base=$wall
  same=$(cmp -s "$out/1x1.csv" "$out/$rt.csv" && echo identical || echo DIFFERENT)
  awk -v rt="$rt" -v w="$wall" -v b="$base" -v p=$((r * t)) -v s="$same" \
      'BEGIN { printf "| %s | %.2f | %.2f | %.0f%% | %s |\n", rt, w, b / w, 100 * b / w / p, s }'
done
