#!/usr/bin/env bash
# The pruned block master equation at the Fig. 2 point (issue 15 part 1): examples/fig2.toml,
# t in [0, 4], output every 0.05, the default solver.prune_tol = 1e-12 and integrator (Chebyshev).
# For each N: wall time and peak RSS (GNU time), the unknowns kept against the unpruned count,
# sectors kept, mean and widest rung window, the bound on the discarded weight, Chebyshev terms
# and growths of the support; then the exponent of a least-squares fit of log(time) on log(N)
# over N >= 1000. At the Ns in UNPRUNED, two unpruned runs (prune_tol = 0): with the previous
# default integrator (Dormand-Prince, rtol 1e-9), for the speed-up, and with the Chebyshev
# exponential (accurate to ~1e-13), the exact reference for the pruned run's accuracy.
#
#   bash bench/pruned_master.sh [QFLUCT] [THREADS]     defaults: build/qfluct, 1
#   NS="80 160 1000 10000" bash bench/pruned_master.sh    (the N list; the default below takes
#                                                        ~11 min on one idle core, 9 of them N = 1e5)
#   UNPRUNED="80 160" ...                                         (unpruned references)
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${1:-build/qfluct}
THREADS=${2:-1}
NS=${NS:-"80 160 320 1000 3000 10000 100000"}
UNPRUNED=${UNPRUNED:-"80 160"}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 -c "import sys; sys.path.insert(0, 'bench'); import machine; print(machine.describe('$THREADS thread(s) for qfluct'))" 2>/dev/null ||
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) processors, load $(cut -d' ' -f1 /proc/loadavg); $THREADS thread(s)"
run() {  # N, prune_tol, tag, integrator
  /usr/bin/time -f "%e %M" -o "$out/$3.time" "$Q" run examples/fig2.toml --set model.N="$1" --set solver.prune_tol="$2" \
    --set "solver.integrator=\"${4:-auto}\"" --threads "$THREADS" --quiet -o "$out/$3.csv"
}
for N in $UNPRUNED; do run "$N" 0 "full$N" dopri5; run "$N" 0 "exact$N" chebyshev; done
for N in $NS; do run "$N" 1e-12 "pruned$N"; done
/usr/bin/python3 - "$out" "$NS" "$UNPRUNED" <<'PY'
import json, sys
import numpy as np
out, ns, unpruned = sys.argv[1], [int(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()]
def load(tag):
    t, rss = open(f"{out}/{tag}.time").read().split()
    d = json.load(open(f"{out}/{tag}.json"))["solver"]
    return float(t), float(rss) / 1024, d, np.loadtxt(f"{out}/{tag}.csv", delimiter=",", skiprows=1)
print(f"{'N':>7} {'time s':>8} {'RSS MB':>7} {'unknowns':>9} {'unpruned':>10} {'sectors':>8} {'mean w':>6} "
      f"{'max w':>5} {'discarded<=':>11} {'terms':>6} {'growths':>7}")
times = []
for n in ns:
    t, rss, d, _ = load(f"pruned{n}")
    p = d["pruned"]
    times.append(t)
    print(f"{n:>7} {t:>8.2f} {rss:>7.0f} {d['state_size']:>9} {p['unpruned_state_size']:>10.3g} {p['sectors_kept']:>8} "
          f"{p['mean_window']:>6.1f} {p['widest_window']:>5} {p['discarded_weight_bound']:>11.2g} "
          f"{d.get('chebyshev_terms', 0):>6} {p['growths']:>7}")
big = [(n, t) for n, t in zip(ns, times) if n >= 1000]
if len(big) >= 2:
    slope = np.polyfit(np.log([n for n, _ in big]), np.log([t for _, t in big]), 1)[0]
    print(f"fitted exponent (time ~ N^a, N >= 1000): a = {slope:.2f}")
for n in unpruned:
    if n not in ns:
        continue
    tf, rf, _, full = load(f"full{n}")
    te, re, _, exact = load(f"exact{n}")
    tp, rp, _, pruned = load(f"pruned{n}")
    print(f"N = {n}: unpruned Dormand-Prince {tf:.2f} s {rf:.0f} MB, unpruned Chebyshev {te:.2f} s {re:.0f} MB, "
          f"pruned {tp:.2f} s {rp:.0f} MB ({tf / tp:.1f}x faster than Dormand-Prince); largest difference over all "
          f"columns: pruned - exact {np.abs(exact - pruned).max():.2g}, Dormand-Prince - exact {np.abs(exact - full).max():.2g}")
PY
