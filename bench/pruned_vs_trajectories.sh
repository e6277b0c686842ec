#!/usr/bin/env bash
# The pruned block master equation (solver.prune_tol, default 1e-12) against quantum-jump
# trajectory ensembles, an independent method (issue 15, accuracy goals). For each case it runs
# both methods on the same input, t in [0, 4], output every 0.05, and prints per column: the
# largest |z| over the output times (and where), the mean and sd of z, the count of |z| > 3, and
# the verdict against 5 sigma, where z = (ensemble mean - ME) / (the ensemble's X_err column).
# Where X_err = 0 (a deterministic column at t = 0) it checks |ensemble - ME| < 1e-9 instead.
# The z of one column at different times come from the same trajectories and are correlated
# (neighbouring times nearly equal), so "sd of z" over 81 times is a rough check, not a test.
# Cases (CASES, space-separated CONFIG:N):
#   fig2:N        examples/fig2.toml (g = g0/sqrt(N), bath in Omega_SS)
#   mean_field:N  examples/mean_field.toml (g = g0/N, bath polarised along x, field h) with
#                 output.fluctuations = true, so q, Q2, Q4, nongauss and n are compared as well
# Cost, measured on the 2-core shared KVM guest at load 4-7 (bench/README.md), 1 thread each:
#   fig2:10000       ME 79 s (b13e424; 480 s before it), 1e4 trajectories 269 s
#   fig2:100000      ME 18 min, 1.1 GB (b13e424), 1e4 trajectories 29 min
#   mean_field:160   ME 26 s (b503d56; 3-5 min before trimming), 1e4 trajectories 75 s
#   mean_field:320   ME 154 s, 1.1 GB (8fd214f)
#   mean_field:640   ME 16 min on 2 threads, 5.6 GB (b503d56), 1e4 trajectories 7 min (2 threads)
#
#   bench/pruned_vs_trajectories.sh [QFLUCT] [THREADS]        defaults: build/qfluct, 1
#   CASES="fig2:10000 mean_field:160" NTRAJ=10000 PRUNE_TOL=1e-12 JOBS=2 KEEP=DIR bench/...
# THREADS: threads per qfluct process; JOBS=2 runs the ME and the ensemble of a case at the same
# time (2 processes), JOBS=1 one after the other. KEEP=DIR keeps the CSVs and sidecars there
# (an existing pair ME_<case>.csv / JUMP_<case>.csv in DIR is reused, not rerun). Exit status 1
# when some column is beyond 5 sigma.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${1:-build/qfluct}
THREADS=${2:-1}
CASES=${CASES:-"fig2:10000"}
NTRAJ=${NTRAJ:-10000}
PRUNE_TOL=${PRUNE_TOL:-1e-12}
JOBS=${JOBS:-2}
[ -x "$Q" ] || { echo "no qfluct binary at $Q (build it first)" >&2; exit 2; }
if [ -n "${KEEP:-}" ]; then out=$KEEP; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
/usr/bin/python3 -c "import sys; sys.path.insert(0, 'bench'); import machine; print(machine.describe('$THREADS thread(s) per qfluct process, $JOBS process(es) at once'))"
echo "prune_tol = $PRUNE_TOL, ntraj = $NTRAJ; $Q $("$Q" --version), checkout $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

run() {  # TAG CONFIG N extra --set arguments...
  local tag=$1 cfg=$2 n=$3
  shift 3
  [ -s "$out/$tag.csv" ] && [ -s "$out/$tag.time" ] && return 0
  /usr/bin/time -f "%e %M" -o "$out/$tag.time" "$Q" run "examples/$cfg.toml" --set model.N="$n" "$@" \
    --threads "$THREADS" --quiet -o "$out/$tag.csv"
}
for c in $CASES; do
  cfg=${c%%:*} n=${c##*:}
  extra=()
  [ "$cfg" = mean_field ] && extra=(--set output.fluctuations=true)
  run "ME_$cfg$n" "$cfg" "$n" "${extra[@]}" --set solver.prune_tol="$PRUNE_TOL" &
  me=$!
  [ "$JOBS" -ge 2 ] || wait "$me"
  run "JUMP_$cfg$n" "$cfg" "$n" "${extra[@]}" --set 'solver.method="jump"' --set solver.ntraj="$NTRAJ"
  wait "$me"
done

/usr/bin/python3 - "$out" $CASES <<'PY'
import csv, json, sys
import numpy as np
out, cases = sys.argv[1], [c.replace(":", "") for c in sys.argv[2:]]
def load(tag):
    with open(f"{out}/{tag}.csv") as f:
        rows = list(csv.reader(f))
    data = np.array(rows[1:], dtype=float)
    t, rss = open(f"{out}/{tag}.time").read().split()[:2]
    return dict(zip(rows[0], data.T)), float(t), float(rss) / 1024, json.load(open(f"{out}/{tag}.json"))
failed = False
for case in cases:
    me, tme, rme, sme = load(f"ME_{case}")
    jp, tjp, rjp, sjp = load(f"JUMP_{case}")
    p = sme["solver"].get("pruned", {})
    print(f"\n{case}: ME {tme:.1f} s {rme:.0f} MB (unknowns {sme['solver'].get('state_size')}, sectors "
          f"{p.get('sectors_kept')}, mean/widest window {p.get('mean_window', 0):.1f}/{p.get('widest_window')}, "
          f"discarded <= {p.get('discarded_weight_bound', float('nan')):.2g}, growths {p.get('growths')}); "
          f"{sjp['solver'].get('ntraj')} trajectories {tjp:.1f} s {rjp:.0f} MB")
    assert np.array_equal(me["t"], jp["t"]), "output times differ"
    print(f"  {'column':<9} {'max|z|':>7} {'at t':>5} {'mean z':>7} {'sd z':>6} {'|z|>3':>6} {'n':>3}  verdict")
    for col in me:
        if col == "t":
            continue
        d, err = jp[col] - me[col], jp[col + "_err"]
        det = err == 0
        z = d[~det] / err[~det]
        bad_det = np.abs(d[det]).max(initial=0) >= 1e-9
        i = np.argmax(np.abs(z))
        ok = np.abs(z).max() < 5 and not bad_det
        failed |= not ok
        print(f"  {col:<9} {abs(z[i]):>7.2f} {me['t'][~det][i]:>5.2f} {z.mean():>7.2f} {z.std(ddof=1):>6.2f} "
              f"{int((np.abs(z) > 3).sum()):>6} {z.size:>3}  {'within 5 sigma' if ok else 'BEYOND 5 SIGMA'}"
              + (f" (exact at {int(det.sum())} times: largest |diff| {np.abs(d[det]).max():.1e})" if det.any() else ""))
print("\nverdict:", "some column beyond 5 sigma" if failed else "every column within 5 sigma at every time")
sys.exit(1 if failed else 0)
PY
