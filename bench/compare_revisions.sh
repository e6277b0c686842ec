#!/usr/bin/env bash
# Before/after timing of qfluct's fast paths, two revisions of this repository in ONE run.
#
#   bench/compare_revisions.sh BEFORE_REV AFTER_REV [OUTCSV]
#       (default OUTCSV: bench/results/fast_paths_before_after.csv)
#
# Builds both revisions (git archive into a work directory; Release; tests and bench programs
# off where that revision has the options; target qfluct only), then runs every case ROUNDS
# times, alternating the two binaries: before-after in odd rounds, after-before in even ones, the
# two sides of a case back to back. The machine is shared and its speed drifts by tens of per
# cent over minutes; pairing the sides in time is what makes the ratio meaningful.
#
# Per run it records the process's wall time and its CPU time (user + sys, GNU time) and the
# sidecar's wall_seconds. Every case runs with --threads 1 and OMP_NUM_THREADS=1, so CPU time is
# the work done, whatever else the machine runs; wall time also counts waiting for a core.
# before_s/after_s are the medians over rounds of METRIC (cpu by default, or wall); the ratio is
# median(after) / median(before); spread is half the range of the per-round paired ratios
# after/before. Both metrics are in the CSV.
#
# Each case's CSV output of the two sides is compared: byte-identical, or the largest relative
# difference |a - b| / max(|a|, |b|) over all numbers; every round's output is also compared with
# round 1 of the same side (the runs are deterministic). Both configs come from BEFORE_REV's
# examples/, so the two sides read the same input.
#
# Environment: ROUNDS (6: even, so each side goes first equally often), METRIC (cpu|wall),
# WORKDIR (kept if given; a build whose revision matches is reused; default: a temporary directory
# removed at the end), JOBS (2, build), CASES (space-separated case names, default all), RAWCSV
# (one row per run; default OUTCSV with .csv replaced by _raw.csv).
set -euo pipefail

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
repo=$(cd "$(dirname "$0")/.." && pwd)
before_rev=$(git -C "$repo" rev-parse --verify "$1^{commit}")
after_rev=$(git -C "$repo" rev-parse --verify "$2^{commit}")
outcsv=${3:-$repo/bench/results/fast_paths_before_after.csv}
rawcsv=${RAWCSV:-${outcsv%.csv}_raw.csv}
rounds=${ROUNDS:-6}
metric=${METRIC:-cpu}
jobs=${JOBS:-2}
case "$metric" in cpu|wall) ;; *) echo "METRIC must be cpu or wall" >&2; exit 2 ;; esac
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time; apt-get install time)" >&2; exit 2; }

if [ -n "${WORKDIR:-}" ]; then work=$WORKDIR; mkdir -p "$work"
else work=$(mktemp -d /tmp/qfluct_compare.XXXXXX); trap 'rm -rf "$work"' EXIT; fi

# build SIDE REV: sources of REV in $work/SIDE/src, binary in $work/SIDE/build/qfluct.
build() {
  local side=$1 rev=$2 dir=$work/$1 opts=()
  if [ -x "$dir/build/qfluct" ] && [ "$(cat "$dir/rev" 2>/dev/null)" = "$rev" ]; then
    echo "$side: reusing the build of $rev in $dir" >&2; return
  fi
  rm -rf "$dir"; mkdir -p "$dir/src"
  git -C "$repo" archive "$rev" | tar -x -C "$dir/src"
  grep -q 'option(QFLUCT_BUILD_TESTS' "$dir/src/CMakeLists.txt" && opts+=(-DQFLUCT_BUILD_TESTS=OFF)
  grep -q 'option(QFLUCT_BUILD_BENCH' "$dir/src/CMakeLists.txt" && opts+=(-DQFLUCT_BUILD_BENCH=OFF)
  echo "$side: building $rev (${opts[*]:-no options}) in $dir" >&2
  cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release "${opts[@]}" >"$dir/cmake.log" 2>&1 \
    || { tail -20 "$dir/cmake.log" >&2; exit 1; }
  cmake --build "$dir/build" -j"$jobs" --target qfluct >"$dir/build.log" 2>&1 \
    || { tail -40 "$dir/build.log" >&2; exit 1; }
  echo "$rev" >"$dir/rev"
}
build before "$before_rev"
build after "$after_rev"
ex=$work/before/src/examples

# name;repetitions per round;qfluct arguments (no spaces inside an argument). Repetitions make
# the sub-second cases long enough to time; their sum is the case's time in that round.
jump='solver.method="jump"'
all_cases=(
  "cs_jump_N1000;1;run $ex/fig2.toml --set model.N=1000 --set $jump --set solver.ntraj=800"
  "cs_jump_N10000;1;run $ex/fig2.toml --set model.N=10000 --set $jump --set solver.ntraj=120"
  "cs_master_N40;5;run $ex/fig2.toml --set model.N=40"
  "sb_master_n32;30;run $ex/fig2.toml --set model.kind=\"spin_boson\" --set model.fock_cutoff=32"
  "sb_master_n128;1;run $ex/fig2.toml --set model.kind=\"spin_boson\" --set model.fock_cutoff=128"
  "sb_jump_n32;1;run $ex/fig2.toml --set model.kind=\"spin_boson\" --set model.fock_cutoff=32 --set $jump --set solver.ntraj=5000"
  "mf_jump;1;run $ex/mean_field.toml --set model.kind=\"mean_field\" --set $jump --set solver.ntraj=4000"
  "cs_steady_N20;5;steady $ex/fig2.toml --set model.N=20"
)
cases=()
for c in "${all_cases[@]}"; do
  name=${c%%;*}
  if [ -z "${CASES:-}" ] || [[ " $CASES " == *" $name "* ]]; then cases+=("$c"); fi
done
[ ${#cases[@]} -gt 0 ] || { echo "CASES selects no case" >&2; exit 2; }

out=$work/out; rm -rf "$out"; mkdir -p "$out" "$(dirname "$outcsv")"
echo "case,round,side,position,rep,wall_s,cpu_s,sidecar_wall_s" >"$rawcsv"
export OMP_NUM_THREADS=1
# run_side CASE SIDE ROUND POSITION REPS ARGS...: one side of a case in one round, one raw row
# per repetition (the summary adds them up).
run_side() {
  local name=$1 side=$2 round=$3 pos=$4 reps=$5; shift 5
  local i t sc csv=$out/$name.$side.r$round.csv
  for ((i = 1; i <= reps; i++)); do
    rm -f "$csv" "${csv%.csv}.json"
    /usr/bin/time -f "%e %U %S" -o "$out/time" "$work/$side/build/qfluct" "$@" --threads 1 --quiet -o "$csv" \
      || { echo "$name ($side) failed: $*" >&2; exit 1; }
    read -r -a t <"$out/time"
    sc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wall_seconds"])' "${csv%.csv}.json")
    echo "$name,$round,$side,$pos,$i,${t[0]},$(awk "BEGIN{print ${t[1]} + ${t[2]}}"),$sc" >>"$rawcsv"
  done
  awk -F, -v n="$name" -v r="$round" -v s="$side" '$1 == n && $2 == r && $3 == s {w += $6; c += $7}
    END {printf "  %-15s round %d %-6s wall %7.3f s  cpu %7.3f s\n", n, r, s, w, c}' "$rawcsv" >&2
}

start=$(date +%s)
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=(before after); else order=(after before); fi
  for c in "${cases[@]}"; do
    IFS=';' read -r name reps argline <<<"$c"
    read -r -a args <<<"$argline"
    run_side "$name" "${order[0]}" "$r" 1 "$reps" "${args[@]}"
    run_side "$name" "${order[1]}" "$r" 2 "$reps" "${args[@]}"
  done
done
echo "timed runs: $(($(date +%s) - start)) s" >&2

python3 - "$rawcsv" "$outcsv" "$out" "$metric" "$rounds" <<'EOF'
import csv, math, statistics, sys
raw, outcsv, outdir, metric, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
rows = list(csv.DictReader(open(raw)))
cases = list(dict.fromkeys(r["case"] for r in rows))

def numbers(path):
    with open(path) as f:
        lines = f.read().splitlines()
    header, vals = lines[0], []
    for line in lines[1:]:
        for x in line.split(","):
            try: vals.append(float(x))
            except ValueError: vals.append(x)
    return header, vals

def compare(a, b):
    """'identical', 'max_rel=...' or a reason the two outputs cannot be compared."""
    if open(a, "rb").read() == open(b, "rb").read(): return "identical"
    ha, va = numbers(a); hb, vb = numbers(b)
    if ha != hb: return "header differs"
    if len(va) != len(vb): return "length differs"
    worst = 0.0
    for x, y in zip(va, vb):
        if isinstance(x, str) or isinstance(y, str):
            if x != y: return "text differs"
            continue
        if x == y or (math.isnan(x) and math.isnan(y)): continue
        worst = max(worst, abs(x - y) / max(abs(x), abs(y)))
    return f"max_rel={worst:.2g}"

def stats(case, key):
    side = {"before": {}, "after": {}}
    for r in rows:  # the repetitions of one round add up
        if r["case"] == case:
            k = int(r["round"])
            side[r["side"]][k] = side[r["side"]].get(k, 0.0) + float(r[key])
    paired = [side["after"][k] / side["before"][k] for k in side["before"] if k in side["after"]]
    mb, ma = statistics.median(side["before"].values()), statistics.median(side["after"].values())
    return mb, ma, ma / mb, (max(paired) - min(paired)) / 2, min(paired), max(paired)

key = {"cpu": "cpu_s", "wall": "wall_s"}[metric]
other = {"cpu": "wall_s", "wall": "cpu_s"}[metric]
with open(outcsv, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["case", "before_s", "after_s", "ratio_after_before", "spread", "paired_min", "paired_max",
                "metric", f"before_{other}", f"after_{other}", f"ratio_{other}", f"spread_{other}",
                "rounds", "output_before_vs_after", "output_repeatable"])
    print(f"| case | before s | after s | ratio after/before | spread | paired min..max | "
          f"{other} ratio (spread) | outputs |")
    print("|---|---:|---:|---:|---:|---|---:|---|")
    for case in cases:
        mb, ma, ratio, spread, lo, hi = stats(case, key)
        ob, oa, oratio, ospread, _, _ = stats(case, other)
        cmp = compare(f"{outdir}/{case}.before.r1.csv", f"{outdir}/{case}.after.r1.csv")
        rep = [compare(f"{outdir}/{case}.{s}.r1.csv", f"{outdir}/{case}.{s}.r{k}.csv")
               for s in ("before", "after") for k in range(2, rounds + 1)]
        repeatable = "yes" if all(x == "identical" for x in rep) else ";".join(sorted(set(rep)))
        w.writerow([case, f"{mb:.4g}", f"{ma:.4g}", f"{ratio:.4f}", f"{spread:.4f}", f"{lo:.4f}", f"{hi:.4f}",
                    key, f"{ob:.4g}", f"{oa:.4g}", f"{oratio:.4f}", f"{ospread:.4f}", rounds, cmp, repeatable])
        print(f"| {case} | {mb:.3f} | {ma:.3f} | **{ratio:.3f}** | {spread:.3f} | {lo:.3f}..{hi:.3f} | "
              f"{oratio:.3f} ({ospread:.3f}) | {cmp}{'' if repeatable == 'yes' else ', not repeatable: ' + repeatable} |")
print(f"\n{metric} time, median of {rounds} interleaved rounds per side; wrote {outcsv}")
EOF
