#!/usr/bin/env bash
# The four studies of the bosonization of mesoscopic reservoirs (Fantechi & Merkli, PRL 136,
# 060402 (2026); docs/bosonization.md):
#  1. the paper's qubit example (examples/bosonized_qubit.toml): S + F (two modes at +-omega_R),
#     the single effective thermal mode (examples/bosonized_qubit_effective.toml), the effective
#     mode as printed, and finite M (Dicke sectors) converging to S + F;
#  2. a qutrit reservoir with two modes of F (examples/bosonized_qutrit.toml), finite M in the
#     symmetric subspace;
#  3. nondemolition decoherence (examples/bosonized_nondemolition.toml, v with diagonal elements;
#     examples/bosonized_homogeneous.toml, Eq. (22)): closed form, S + F in Fock space, finite M;
#  4. entanglement of two qubits through a shared reservoir (examples/bosonized_entanglement.toml):
#     F, finite M with the scalings 1/sqrt(M) and 1/M.
#   examples/bosonization_study.sh [--full] [OUTDIR]      (default OUTDIR: results/bosonization)
# The default (reduced) version uses M = 8 ... 4096 (10-15 s on 2 cores); --full goes to
# M = 262144 (25-40 s).
# QFLUCT=path/to/qfluct overrides the binary (default build/qfluct).
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QFLUCT:-build/qfluct}
mode=reduced
if [ "${1:-}" = "--full" ]; then mode=full; shift; fi
out=${1:-results/bosonization}
mkdir -p "$out"

# M lists per finite-M method (auto picks it): dicke (qubit example, mixed rho_R), symmetric
# (qutrit and entanglement studies, pure rho_R), nondemolition (exact for any M)
pow2() { local m=$1 out=""; while [ "$m" -le "$2" ]; do out="$out $m"; m=$((m * 2)); done; echo $out; }
if [ "$mode" = full ]; then
  Ms_dicke=$(pow2 8 262144); Ms_sym=$(pow2 8 262144); Ms_nd=$(pow2 8 262144)
else
  Ms_dicke=$(pow2 8 4096); Ms_sym=$(pow2 8 4096); Ms_nd=$(pow2 8 4096)
fi
finite='model.kind="finite_reservoir"'
nd=(--set 'solver.reservoir_method="nondemolition"')   # closed form (F) and factorised method (finite M)

# run NAME CONFIG [--set ...]: one qfluct run into $out/NAME.csv (and NAME.json), timed
run() {
  local name=$1 config=$2
  shift 2
  local t0=$SECONDS
  "$Q" run "$config" "$@" --quiet -o "$out/$name.csv"
  printf '  %-22s %4d s\n' "$name" $((SECONDS - t0))
}

start=$SECONDS
echo "bosonization ($mode) -> $out"
echo "1. qubit example: S + F, effective mode, finite M = $Ms_dicke"
run qubit_F examples/bosonized_qubit.toml
run qubit_effective examples/bosonized_qubit_effective.toml
run qubit_printed examples/bosonized_qubit_effective.toml --set 'mode[0].nbar=0' --set 'coupling[0].a=[1.0]'
for M in $Ms_dicke; do run "qubit_M$M" examples/bosonized_qubit.toml --set "$finite" --set reservoir.M="$M"; done

echo "2. qutrit reservoir: S + F, finite M = $Ms_sym"
run qutrit_F examples/bosonized_qutrit.toml
for M in $Ms_sym; do run "qutrit_M$M" examples/bosonized_qutrit.toml --set "$finite" --set reservoir.M="$M"; done

echo "3. nondemolition: closed form, S + F in Fock space, finite M = $Ms_nd"
run nd_F examples/bosonized_nondemolition.toml "${nd[@]}"
run nd_fock examples/bosonized_nondemolition.toml --set 'solver.reservoir_method="fock"'
for M in $Ms_nd; do run "nd_M$M" examples/bosonized_nondemolition.toml --set "$finite" --set reservoir.M="$M" "${nd[@]}"; done
run homog_F examples/bosonized_homogeneous.toml "${nd[@]}"
for M in $Ms_nd; do run "homog_M$M" examples/bosonized_homogeneous.toml --set "$finite" --set reservoir.M="$M" "${nd[@]}"; done

echo "4. entanglement: S + F, finite M = $Ms_sym with scaling 1/sqrt(M) and 1/M"
run ent_F examples/bosonized_entanglement.toml
for M in $Ms_sym; do
  run "ent_M$M" examples/bosonized_entanglement.toml --set "$finite" --set reservoir.M="$M"
  run "ent_linear_M$M" examples/bosonized_entanglement.toml --set "$finite" --set reservoir.M="$M" \
    --set 'reservoir.scaling="linear"'
done
echo "runs: $((SECONDS - start)) s"

/usr/bin/python3 examples/plot_bosonization.py "$out"
