#!/usr/bin/python3
"""Benchmark: the homodyne (diffusive) unravelling (issue 13), and QuTiP's ssesolve.

Two parts, every solver on one thread:

  cost   qfluct's cost per trajectory against solver.dt_sde (sidecar solver_seconds / ntraj), for
         the spin_boson model with every channel homodyne (solver.unravelling = "homodyne") and
         the central spin model at N = 10 with its tau channels homodyne (the same key: the bath
         channels stay jumps). Both at the Fig. 2 point of examples/fig2.toml, t in [0, 4].
         Least-squares slope of log(cost) against log(dt_sde) (expected -1: cost ~ 1/dt).
  qutip  qfluct against qutip.ssesolve (method "homodyne", sc_ops = all four channels, efficiency
         1, serial map) on the spin_boson model, Fock cutoff 32 for both (dimension 66). The QuTiP
         model is bench/spin_boson_vs_qutip.py's (H = w.tau + G(tau_- a^+ + tau_+ a), L = sqrt(rate)
         x {tau_-, tau_+, a, a^+}); its rates are checked against the sidecar's "derived" section.
         The initial boson is thermal (nbar = 0.25): both tools draw one Fock number per
         trajectory (QuTiP: a multinomial draw, one ssesolve call per drawn n, all timed).
         Reference: qfluct's exact master equation (rtol 1e-9), which matches qutip.mesolve to
         3e-9 (bench/README.md, issue 4).

Accuracy (the qutip part). The error of an ensemble at step dt is
  A(dt) = max over t in the output grid and X in {tau_z, n} of |ensemble mean of X - ME|,
the weak error plus the statistical error. Each solver runs the same number of trajectories M at
each dt of a ladder; the standard errors se(t) give the statistical floor, and z = max |mean -
ME| / se says whether a bias is resolved (|z| > 4 at some t: resolved; below: consistent with 0
at this M). The comparison at equal accuracy is the time per trajectory at the largest dt of the
ladder where each solver's ensemble is consistent with the ME (|z| <= 4 for tau_z and n at every
t), i.e. accurate to the floor 4 se ~ 4 x 0.55/sqrt(M). A weak-error target of 1e-3 would need
M ~ 3e5 trajectories per point (the per-trajectory spread of n is ~0.55), hours for QuTiP: see
bench/README.md for what that means for the ratio.

Usage (repository root; QuTiP needs Debian's /usr/bin/python3):
  /usr/bin/python3 bench/homodyne.py --qfluct build/qfluct     # both parts, about 8 min
  /usr/bin/python3 bench/homodyne.py --quick                    # about 1 min
  /usr/bin/python3 bench/homodyne.py --parts cost               # one part

Output: Markdown tables on stdout; bench/results/homodyne.csv (long format: part, model/solver,
dt, ntraj, seconds per trajectory, steps, accuracy columns).
"""

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from master_vs_piqs import REPO, SINGLE_THREAD_ENV  # noqa: E402
from spin_boson_vs_qutip import check_derived, fock_weights, load_params, qutip_model  # noqa: E402
from machine import describe  # noqa: E402  (bench/machine.py)

CONFIG = os.path.join(REPO, "examples", "fig2.toml")
FOCK_CUTOFF = 32
Z_CRIT = 4.0  # |z| above this at some t (of ~160 correlated points): a resolved bias
QUTIP_SOLVERS = ["euler-maruyama", "milstein"]


def child_env():
    env = dict(os.environ)
    env.update(SINGLE_THREAD_ENV)
    return env


def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def run_qfluct(args, tmp, tag, sets):
    out = os.path.join(tmp, f"{tag}.csv")
    cmd = [args.qfluct, "run", CONFIG, "--threads", "1", "--quiet", "-o", out]
    for kv in sets:
        cmd += ["--set", kv]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return dict(ok=False, error=(r.stderr.strip().splitlines() or ["?"])[-1], wall=wall)
    with open(out[:-4] + ".json") as f:
        side = json.load(f)
    return dict(ok=True, wall=wall, side=side, data=read_csv(out))


def fit_slope(x, y):
    """Least-squares slope and prefactor of log y against log x."""
    b, a = np.polyfit(np.log(x), np.log(y), 1)
    return float(b), float(math.exp(a))


# ----------------------------------------------------------------------------------------------
# Part 1: cost per trajectory against dt_sde
# ----------------------------------------------------------------------------------------------

COST_MODELS = {
    "spin_boson, all 4 channels homodyne": ['model.kind="spin_boson"', f"model.fock_cutoff={FOCK_CUTOFF}"],
    "central_spin N = 10, tau_minus/tau_plus homodyne": ["model.N=10"],
}


def part_cost(args, tmp, rows):
    dts = [1e-2, 5e-3, 2e-3, 1e-3] if args.quick else [1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4]
    budget = 0.25 if args.quick else 3.0  # ~seconds of one run at the cheapest dt
    table = []
    for name, base in COST_MODELS.items():
        xs, ys = [], []
        for dt in dts:
            # ntraj ~ dt keeps every run about equally long (at least 10 trajectories)
            ntraj = max(10, int(round(budget / 3e-3 * dt / 1e-2)))
            sets = base + ['solver.method="jump"', 'solver.unravelling="homodyne"', f"solver.dt_sde={dt}",
                           f"solver.ntraj={ntraj}"]
            r = run_qfluct(args, tmp, f"cost_{len(rows)}", sets)
            if not r["ok"]:
                print(f"  {name} dt_sde={dt}: {r['error']}", file=sys.stderr)
                rows.append(dict(part="cost", case=name, dt=dt, ntraj=ntraj, error=r["error"]))
                continue
            s = r["side"]["solver"]
            per = float(s["solver_seconds"]) / ntraj
            xs.append(dt)
            ys.append(per)
            rec = dict(part="cost", case=name, dt=dt, ntraj=ntraj, s_per_traj=per,
                       sde_steps=s.get("sde_steps_per_trajectory"), jumps=s.get("jumps_per_trajectory"),
                       levy_terms=s.get("levy_area_terms"), wall=r["wall"])
            rows.append(rec)
            table.append(rec)
            print(f"  {name:50s} dt_sde={dt:8.1e} ntraj={ntraj:5d} {per * 1e3:9.3f} ms/traj "
                  f"({rec['sde_steps']} SDE steps)", file=sys.stderr, flush=True)
        if len(xs) >= 2:
            slope, pref = fit_slope(xs, ys)
            fine = [i for i, x in enumerate(xs) if x <= 2e-3]  # where the per-output-interval overhead is small
            slope_fine = fit_slope([xs[i] for i in fine], [ys[i] for i in fine])[0] if len(fine) >= 2 else float("nan")
            rows.append(dict(part="cost_fit", case=name, slope=slope, slope_fine=slope_fine,
                             us_per_step=1e6 * float(np.median(np.array(ys) * np.array(xs) / 4.0))))
    print("\n### Cost per trajectory against dt_sde (qfluct, 1 thread, t in [0, 4])\n")
    print("| model | dt_sde | ntraj | SDE steps / traj | ms / traj | us / SDE step |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in table:
        print(f"| {r['case']} | {r['dt']:.0e} | {r['ntraj']} | {r['sde_steps']:.0f} | {r['s_per_traj'] * 1e3:.3f} | "
              f"{1e6 * r['s_per_traj'] / r['sde_steps']:.2f} |")
    print()
    for r in rows:
        if r["part"] == "cost_fit":
            print(f"- {r['case']}: cost ~ dt_sde^{r['slope']:.3f} over all dt_sde, ^{r['slope_fine']:.3f} over dt_sde <= 2e-3")


# ----------------------------------------------------------------------------------------------
# Part 2: against qutip.ssesolve at equal accuracy
# ----------------------------------------------------------------------------------------------

def worker_ssesolve(p):
    """One QuTiP ensemble: M trajectories from the thermal boson (one Fock number each)."""
    qt, H, c_ops, e_ops, up, nf = qutip_model(p)
    eo = [e_ops[2], e_ops[7]]  # tau_z, n
    times = np.arange(int(round(p["t_end"] / p["dt"])) + 1) * p["dt"]
    rng = np.random.default_rng(p["seed"])
    counts = rng.multinomial(p["ntraj"], fock_weights(p))
    trajs = []
    t0 = time.perf_counter()
    for n, cnt in enumerate(counts):
        if cnt == 0:
            continue
        r = qt.ssesolve(H, qt.tensor(up, qt.basis(nf, n)), times, sc_ops=c_ops, e_ops=eo, ntraj=int(cnt),
                        nsubsteps=p["nsubsteps"], solver=p["solver"], method="homodyne",
                        noise=int(rng.integers(2 ** 31)), map_func=qt.serial_map,
                        progress_bar=qt.ui.BaseProgressBar(), store_all_expect=True)
        trajs.append(np.real(np.array(r.runs_expect)))  # (cnt, 2, nt)
    solver_s = time.perf_counter() - t0
    tr = np.concatenate(trajs, axis=0)
    return dict(solver_s=solver_s, mean=tr.mean(axis=0), se=tr.std(axis=0, ddof=1) / math.sqrt(tr.shape[0]))


def run_qutip(args, tmp, p):
    pfile = os.path.join(tmp, "qutip_params.json")
    rfile = os.path.join(tmp, "qutip_result.npz")
    with open(pfile, "w") as f:
        json.dump(p, f)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", pfile, rfile]
    r = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    if r.returncode != 0:
        return dict(ok=False, error=(r.stderr.strip().splitlines() or ["?"])[-1])
    with np.load(rfile) as z:
        return dict(ok=True, **{k: z[k] for k in z.files})


def accuracy(mean, se, ref):
    """Per observable: max_t |mean - ref|, max_t se, max_t |z| (t > 0: every trajectory starts equal)."""
    out = {}
    for i, k in enumerate(("tau_z", "n")):
        d = np.abs(mean[i] - ref[k])
        e = se[i]
        ok = np.isfinite(d).all()
        out[k] = dict(dmax=float(np.max(d)) if ok else float("inf"), se=float(np.max(e[1:])) if ok else float("nan"),
                      z=float(np.max(d[1:] / np.maximum(e[1:], 1e-300))) if ok else float("inf"))
    return out


def part_qutip(args, tmp, rows):
    dts = [0.025, 0.01, 0.005] if args.quick else [0.025, 0.01, 0.005, 0.0025]
    M = args.ntraj or (200 if args.quick else 2000)
    me = run_qfluct(args, tmp, "me", ['model.kind="spin_boson"', f"model.fock_cutoff={FOCK_CUTOFF}"])
    if not me["ok"]:
        sys.exit(f"qfluct master failed: {me['error']}")
    p = load_params(CONFIG, FOCK_CUTOFF)
    worst = check_derived(p, me["side"])
    print(f"  rates agree with qfluct's sidecar to {worst:.1e} (relative)", file=sys.stderr)
    ref = me["data"]
    results = []
    for dt in dts:
        sub = int(round(p["dt"] / dt))
        # qfluct
        r = run_qfluct(args, tmp, f"qf_{dt}", ['model.kind="spin_boson"', f"model.fock_cutoff={FOCK_CUTOFF}",
                                               'solver.method="jump"', 'solver.unravelling="homodyne"',
                                               f"solver.dt_sde={dt}", f"solver.ntraj={M}", f"solver.seed={args.seed}"])
        if r["ok"]:
            d = r["data"]
            acc = accuracy(np.array([d["tau_z"], d["n"]]), np.array([d["tau_z_err"], d["n_err"]]), ref)
            per = float(r["side"]["solver"]["solver_seconds"]) / M
            results.append(dict(solver="qfluct", dt=dt, ntraj=M, s_per_traj=per, acc=acc))
        else:
            results.append(dict(solver="qfluct", dt=dt, ntraj=M, error=r["error"]))
        print(f"  qfluct dt={dt}: {results[-1].get('s_per_traj', results[-1].get('error'))}", file=sys.stderr, flush=True)
        for solver in args.qutip_solvers:
            q = dict(p, ntraj=M, nsubsteps=sub, solver=solver, seed=args.seed)
            r = run_qutip(args, tmp, q)
            if r["ok"]:
                acc = accuracy(r["mean"], r["se"], ref)
                results.append(dict(solver=f"qutip {solver}", dt=dt, ntraj=M, s_per_traj=float(r["solver_s"]) / M, acc=acc))
            else:
                results.append(dict(solver=f"qutip {solver}", dt=dt, ntraj=M, error=r["error"]))
            print(f"  {solver} dt={dt}: {results[-1].get('s_per_traj', results[-1].get('error'))}", file=sys.stderr, flush=True)
    for r in results:
        row = dict(part="qutip", case=r["solver"], dt=r["dt"], ntraj=r["ntraj"], s_per_traj=r.get("s_per_traj"),
                   error=r.get("error"))
        if "acc" in r:
            for k, a in r["acc"].items():
                row.update({f"dmax_{k}": a["dmax"], f"se_{k}": a["se"], f"zmax_{k}": a["z"]})
        rows.append(row)

    print(f"\n### Against qutip.ssesolve (spin_boson, all channels homodyne, {M} trajectories each, 1 thread)\n")
    print("| solver | dt | ms / traj | max dtau_z (se) | max dn (se) | max abs z (tau_z, n) | consistent with ME |")
    print("|---|---:|---:|---:|---:|---:|---|")
    best = {}
    for r in results:
        if "error" in r:
            print(f"| {r['solver']} | {r['dt']} | - | - | - | - | failed: {r['error'][:90]} |")
            continue
        a = r["acc"]
        zz = max(a["tau_z"]["z"], a["n"]["z"])
        good = zz <= Z_CRIT
        r["good"] = good
        if good and (r["solver"] not in best or r["dt"] > best[r["solver"]]["dt"]):
            best[r["solver"]] = r
        print(f"| {r['solver']} | {r['dt']} | {r['s_per_traj'] * 1e3:.2f} | {a['tau_z']['dmax']:.3g} ({a['tau_z']['se']:.2g}) | "
              f"{a['n']['dmax']:.3g} ({a['n']['se']:.2g}) | {a['tau_z']['z']:.1f}, {a['n']['z']:.1f} | {'yes' if good else 'no'} |")
    print()
    if "qfluct" in best:
        b = best["qfluct"]
        print(f"Equal accuracy (largest dt of the ladder with |z| <= {Z_CRIT:g} at M = {M}): qfluct at dt = {b['dt']}, "
              f"{b['s_per_traj'] * 1e3:.2f} ms / trajectory.\n")
        print("| QuTiP solver | its dt | ms / traj | ratio QuTiP / qfluct | same dt: ratio |")
        print("|---|---:|---:|---:|---:|")
        for name, q in best.items():
            if name == "qfluct":
                continue
            same = next((r for r in results if r["solver"] == "qfluct" and r["dt"] == q["dt"] and "error" not in r), None)
            ratio_same = f"{q['s_per_traj'] / same['s_per_traj']:.1f}" if same else "-"
            print(f"| {name} | {q['dt']} | {q['s_per_traj'] * 1e3:.2f} | {q['s_per_traj'] / b['s_per_traj']:.1f} | {ratio_same} |")
            rows.append(dict(part="qutip_ratio", case=name, dt=q["dt"], ratio=q["s_per_traj"] / b["s_per_traj"],
                             qfluct_dt=b["dt"]))


# ----------------------------------------------------------------------------------------------

def machine():
    return describe("threads = 1 everywhere (qfluct --threads 1, QuTiP serial_map, OMP/BLAS variables = 1)")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        with open(sys.argv[2]) as f:
            out = worker_ssesolve(json.load(f))
        np.savez(sys.argv[3], **{k: np.asarray(v) for k, v in out.items()})
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qfluct", default=os.path.join(REPO, "build", "qfluct"))
    ap.add_argument("--parts", default="cost,qutip", help="comma-separated: cost, qutip")
    ap.add_argument("--quick", action="store_true", help="fewer dt and trajectories (about 1 minute)")
    ap.add_argument("--ntraj", type=int, default=0, help="qutip part: trajectories per ensemble (default 2000)")
    ap.add_argument("--qutip-solvers", nargs="+", default=QUTIP_SOLVERS,
                    help="ssesolve solvers (e.g. euler-maruyama milstein platen taylor1.5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", default=os.path.join(REPO, "bench", "results", "homodyne.csv"))
    args = ap.parse_args()
    parts = args.parts.split(",")
    print(f"Machine: {machine()}\n")
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if "cost" in parts:
            part_cost(args, tmp, rows)
        if "qutip" in parts:
            part_qutip(args, tmp, rows)
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"\n({time.perf_counter() - t0:.0f} s; {args.csv})")


if __name__ == "__main__":
    main()
