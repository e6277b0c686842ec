#!/usr/bin/env bash
# What checkpointing costs on the N = 1e5 trajectory benchmark (issue 14, goal: < 2% at one
# checkpoint every 10 s). The benchmark is the Fig. 2 point of bench/trajectory_goals.sh:
# examples/fig2.toml, model.N = 1e5, solver.method = "jump", t in [0, 4], 2 threads.
#
#   bash bench/checkpoint_overhead.sh [QFLUCT] [NTRAJ] [PAIRS] [THREADS]
#        defaults: build/qfluct, 1200 (about 66 s on 2 idle cores of the VM in bench/README.md), 4, 2
#
# Part 1: PAIRS pairs of runs, interleaved A B A B ... so that drift of the machine's speed hits
# both alike: A = the plain run, B = the same run with --checkpoint PATH --checkpoint-every 10.
# Each run's wall time and peak RSS come from GNU time; while a run goes the script looks at
# PATH every 0.5 s (also during A runs, so both carry the same load) and counts the checkpoints
# written: each one replaces PATH by rename, so PATH's inode changes. Every CSV is compared byte
# for byte with the first plain run's.
# Part 2: one checkpoint written at the size a finished run has, timed without the ensemble
# around it: `qfluct merge CK -o X.csv` with and without `--checkpoint Y` (interleaved, best of
# REPS each); the difference is building the file (serialising the state, SHA-256) plus the
# atomic write. strace times the write itself (write, fsync, rename, fsync of the directory).
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${1:-build/qfluct}
NTRAJ=${2:-1200}
PAIRS=${3:-4}
THREADS=${4:-2}
EVERY=10
REPS=${REPS:-10}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run=(run examples/fig2.toml --set model.N=100000 --set 'solver.method="jump"' --set solver.ntraj="$NTRAJ"
     --threads "$THREADS" --quiet)

echo "machine: $(/usr/bin/python3 -c 'import sys; sys.path.insert(0, "bench"); import machine; print(machine.describe(sys.argv[1]))' \
                 "threads = $THREADS" 2>/dev/null || echo "$(nproc) processors, load $(cut -d' ' -f1 /proc/loadavg), threads = $THREADS")"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); qfluct $("$Q" --version 2>&1 | head -1)"
echo "run: qfluct ${run[*]}; B adds --checkpoint PATH --checkpoint-every $EVERY"
echo
echo "| run | wall s | CPU s | peak MB | checkpoints written | largest checkpoint MB | CSV |"
echo "|---|---:|---:|---:|---:|---:|---|"

# One run: $1 = a or b, $2 = index. Prints the table row, appends "kind wall cpu" to $out/walls.
one_run() {
  local kind=$1 i=$2 ck="$out/ck_$2" extra=()
  rm -f "$ck"
  [ "$kind" = b ] && extra=(--checkpoint "$ck" --checkpoint-every "$EVERY")
  /usr/bin/time -f '%e %M %U %S' -o "$out/time_$kind$i" "$Q" "${run[@]}" "${extra[@]}" -o "$out/$kind$i.csv" &
  local pid=$! last="" now written=0 largest=0
  while kill -0 "$pid" 2>/dev/null; do
    if now=$(stat -c '%i %s' "$ck" 2>/dev/null); then
      [ "$now" != "$last" ] && [ "${now%% *}" != "${last%% *}" ] && written=$((written + 1))
      [ "${now##* }" -gt "$largest" ] && largest=${now##* }
      last=$now
    fi
    sleep 0.5
  done
  wait "$pid"
  if now=$(stat -c '%i %s' "$ck" 2>/dev/null); then  # the last checkpoint, written at the end
    [ "${now%% *}" != "${last%% *}" ] && written=$((written + 1))
    [ "${now##* }" -gt "$largest" ] && largest=${now##* }
    cp "$ck" "$out/final_ck"
  fi
  read -r wall peak user sys <"$out/time_$kind$i"
  local cpu
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  local same
  same=$(cmp -s "$out/a1.csv" "$out/$kind$i.csv" && echo identical || echo DIFFERENT)
  echo "$kind $wall $cpu" >>"$out/walls"
  local label="A$i plain"
  [ "$kind" = b ] && label="B$i --checkpoint-every $EVERY"
  awk -v l="$label" -v w="$wall" -v u="$cpu" -v p="$peak" -v n="$written" -v s="$largest" -v k="$kind" -v c="$same" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.1f | %s | %s | %s |\n", l, w, u, p / 1024, k == "b" ? n : "-",
             k == "b" ? sprintf("%.2f", s / 1048576) : "-", c }'
}

for i in $(seq 1 "$PAIRS"); do
  one_run a "$i"
  one_run b "$i"
done

echo
awk -v every="$EVERY" '
  $1 == "a" { a[++na] = $2; sa += $2; ca[na] = $3; sca += $3 } $1 == "b" { b[++nb] = $2; sb += $2; cb[nb] = $3; scb += $3 }
  END {
    ma = sa / na; mb = sb / nb
    printf "mean wall: plain %.2f s, with checkpoints %.2f s: overhead %+.2f%%\n", ma, mb, 100 * (mb / ma - 1)
    printf "mean CPU (user + sys): plain %.2f s, with checkpoints %.2f s: overhead %+.2f%%\n", sca / na, scb / nb,
           100 * (scb / sca - 1)
    printf "per pair (B/A - 1), wall:"
    for (i = 1; i <= nb; ++i) printf " %+.2f%%", 100 * (b[i] / a[i] - 1)
    printf "; CPU:"
    for (i = 1; i <= nb; ++i) printf " %+.2f%%", 100 * (cb[i] / ca[i] - 1)
    printf "\nexpected checkpoints per B run: at most floor(wall / %d s) + 1 (the final one) = %d\n", every, int(mb / every) + 1
  }' "$out/walls"

# Part 2: a single checkpoint of a finished run's state.
ck="$out/final_ck"
size=$(stat -c %s "$ck")
echo
echo "single checkpoint: $(head -2 "$ck" | tail -1 | /usr/bin/python3 -c 'import json, sys; h = json.load(sys.stdin); print(h["trajectories"], "trajectories,", h["groups"], "groups, state", h["state_bytes"], "bytes")'), file $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MB)"
best_plain=1e9 best_ck=1e9
for _ in $(seq 1 "$REPS"); do
  for kind in plain ck; do
    rm -f "$out/m.ck"
    extra=()
    [ $kind = ck ] && extra=(--checkpoint "$out/m.ck")
    s=$EPOCHREALTIME
    "$Q" merge "$ck" -o "$out/m.csv" --threads 1 --quiet "${extra[@]}"
    e=$EPOCHREALTIME
    t=$(awk -v s="$s" -v e="$e" 'BEGIN { print e - s }')
    if [ $kind = plain ]; then best_plain=$(awk -v a="$best_plain" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
    else best_ck=$(awk -v a="$best_ck" -v b="$t" 'BEGIN { print (b < a ? b : a) }'); fi
  done
done
cmp -s "$out/m.csv" "$out/a1.csv" || echo "merge of the final checkpoint: CSV DIFFERENT from the plain run"
rm -f "$out/m.ck"
strace -f -ttt -e trace=openat,write,fsync,rename,close -o "$out/strace" \
  "$Q" merge "$ck" -o "$out/m.csv" --threads 1 --quiet --checkpoint "$out/m.ck"
io=$(awk -v tmp="$out/m.ck.tmp." '
  index($0, "openat") && index($0, tmp) { start = $2 }
  start && index($0, "rename(") && index($0, tmp) { renamed = 1 }
  start && renamed && index($0, "fsync(") { done = $2 }
  start && renamed && done && index($0, "close(") { printf "%.1f", 1000 * ($2 - start); exit }' "$out/strace")
awk -v p="$best_plain" -v c="$best_ck" -v io="$io" -v reps="$REPS" 'BEGIN {
  printf "qfluct merge of it, best of %d: %.1f ms without --checkpoint, %.1f ms with: one checkpoint costs %.1f ms\n",
         reps, 1000 * p, 1000 * c, 1000 * (c - p)
  printf "of which the atomic write (open to the fsync of the directory, under strace): %s ms;\n", io
  printf "building the file (serialising the state, SHA-256): about %.1f ms, paid after every chunk of work (about 1 s)\n",
         1000 * (c - p) - io }'
