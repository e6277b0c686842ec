#!/usr/bin/env bash
# qfluct's quantum-jump trajectories against the measuring instrument ../shared/tools/jump-limit
# (a bare single-threaded implementation of the same windowed sector method that records only
# tau_z and q; its README), side by side in one run: the Fig. 2 point (examples/fig2.toml,
# t in [0, 4]), N = 1e3, 1e4, 1e5, one thread each, the same ntraj, runs interleaved, best of 3
# wall times of the whole process (qfluct also parses its input and writes all its columns, the
# sidecar and the statistics). Prints N, ntraj, jumps per trajectory, the times, the time per
# jump of each and the ratio qfluct / instrument per jump.
#
#   bench/trajectories_vs_jump_limit.sh                  # build/qfluct, build/jump_limit
#   QFLUCT_BASELINE=old/qfluct bench/...                 # also an older binary, same runs
#   NTRAJ="4000 400 40" REPEATS=3 JUMP_LIMIT_DIR=... bench/...
# The instrument is built into build/jump_limit when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFLUCT:-build/qfluct}
BASE=${QFLUCT_BASELINE:-}
DIR=${JUMP_LIMIT_DIR:-../shared/tools/jump-limit}
[ -d "$DIR" ] || DIR=/work/shared/tools/jump-limit
JL=${JUMP_LIMIT:-build/jump_limit}
REPEATS=${REPEATS:-3}
read -r -a NS <<<"${NS:-1000 10000 100000}"
read -r -a NTRAJ <<<"${NTRAJ:-4000 400 40}"
PY=/usr/bin/python3
[ -x "$Q" ] || { echo "no qfluct binary at $Q (build it first)" >&2; exit 2; }
[ -x "$JL" ] || bash "$DIR/build.sh" "$JL" >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

now() { date +%s.%N; }
# run_qfluct BIN N NTRAJ TAG: wall seconds to $out/TAG.t, jumps per trajectory to $out/TAG.j
run_qfluct() {
  local t0 t1
  t0=$(now)
  "$1" run examples/fig2.toml --set model.N="$2" --set 'solver.method="jump"' --set solver.ntraj="$3" \
    --threads 1 --quiet -o "$out/$4.csv"
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.4f\n", $2 - $1}' >>"$out/$4.t"
  "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['solver']['jumps_per_trajectory'])" \
    "$out/$4.json" >"$out/$4.j"
}
run_instrument() {
  local t0 t1 line
  t0=$(now)
  line=$("$JL" "$1" "$2" 1 0 -)
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.4f\n", $2 - $1}' >>"$out/$3.t"
  sed -n 's/.*jumps\/traj=\([0-9.]*\).*/\1/p' <<<"$line" | head -1 >"$out/$3.j"
}

"$PY" -c "import sys; sys.path.insert(0, 'bench'); import machine; print('machine:', machine.describe('threads: 1 (qfluct --threads 1; the instrument is single-threaded)'))"
echo "qfluct: $Q ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))${BASE:+; baseline: $BASE}; instrument: $JL; best of $REPEATS, interleaved"
for i in "${!NS[@]}"; do
  N=${NS[$i]}; n=${NTRAJ[$i]}
  for _ in $(seq "$REPEATS"); do
    run_instrument "$N" "$n" "jl_$N"
    run_qfluct "$Q" "$N" "$n" "q_$N"
    [ -n "$BASE" ] && run_qfluct "$BASE" "$N" "$n" "b_$N"
  done
done
"$PY" - "$out" "${NS[*]}" "${NTRAJ[*]}" "$BASE" <<'EOF'
import sys
out, ns, nts, base = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
def best(tag):
    return min(float(x) for x in open(f"{out}/{tag}.t").read().split())
def jumps(tag):
    return float(open(f"{out}/{tag}.j").read())
head = f"{'N':>7} {'ntraj':>6} {'jumps/traj':>11} {'instr s':>8} {'qfluct s':>9} {'instr us/jump':>14} {'qfluct us/jump':>15} {'ratio':>6}"
if base:
    head += f" {'baseline s':>11} {'base us/jump':>13} {'base ratio':>11}"
print(head)
for N, n in zip(ns, nts):
    n = int(n)
    tj, jj = best(f"jl_{N}"), jumps(f"jl_{N}")
    tq, jq = best(f"q_{N}"), jumps(f"q_{N}")
    pj, pq = 1e6 * tj / (n * jj), 1e6 * tq / (n * jq)
    row = f"{N:>7} {n:>6} {jq:>11.1f} {tj:>8.3f} {tq:>9.3f} {pj:>14.3f} {pq:>15.3f} {pq / pj:>6.2f}"
    if base:
        tb, jb = best(f"b_{N}"), jumps(f"b_{N}")
        pb = 1e6 * tb / (n * jb)
        row += f" {tb:>11.3f} {pb:>13.3f} {pb / pj:>11.2f}"
    print(row)
print("jumps/traj: qfluct's (the instrument's own count, from its own random stream, sets its per-jump time);"
      " times: wall seconds of the whole process, best of the repeats")
EOF
