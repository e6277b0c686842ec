#!/usr/bin/python3
"""Benchmark: qfluct against QuTiP 4.7 on the emergent spin-boson model (issue 4).

The model is the open Jaynes-Cummings model of Carollo, PRL 131, 227102 (2023), Eq. (9), at the
Fig. 2 point of examples/fig2.toml (gamma = 1):

  H = w_x tau_x + w_y tau_y + w_z tau_z + G (tau_- a^+ + tau_+ a),   G = g0 sqrt(eps),
  jumps sqrt(gamma_down) tau_-, sqrt(gamma_up) tau_+, sqrt(kappa_down) a, sqrt(kappa_up) a^+,
  eps = (Gamma_down - Gamma_up) / Gamma_+,  Gamma_+ = Gamma_up + Gamma_down,
  kappa_down = Gamma_+ + Gamma_up / eps,  kappa_up = Gamma_up / eps,
  |up> = (1, 0), tau_- = |down><up|, q = (a + a^+) / sqrt(2);
  initial state |up><up| (x) thermal boson, nbar = Gamma_up / (eps Gamma_+), whose geometric
  Fock distribution is truncated at the cutoff n_max and renormalised on 0..n_max (as qfluct does).

Three tasks, each solved by both tools on the same problem (same cutoff, same output grid):

  master  qfluct `run` (solver.method = "master", Dormand-Prince rtol 1e-9, atol 1e-11)
          vs qutip.mesolve with Options(atol=1e-11, rtol=1e-9), single threaded;
  steady  qfluct `steady` (sparse LU) vs qutip.steadystate (default "direct" method);
  jump    qfluct `run` with solver.method = "jump", ntraj trajectories, --threads K
          vs qutip.mcsolve with ntraj trajectories and Options(num_cpus=K), for K = 1 and 2.
          mcsolve uses the same ODE tolerances as mesolve and norm_tol = 1e-9 (relative accuracy
          of the jump times; qfluct locates them to 1e-12 in log-norm). By default mcsolve
          is also timed at QuTiP's default options (atol 1e-8, rtol 1e-6, norm_tol 1e-3), K = 1
          (--no-mc-default-options skips that run).

mcsolve accepts only a pure initial state. The thermal boson is handled exactly as qfluct does it
(one Fock number drawn per trajectory): the Fock numbers of all ntraj trajectories are drawn at
once (a multinomial draw with the truncated thermal weights), and mcsolve runs once per occupied
Fock number n with ntraj_n trajectories from |up>|n>. All these calls are inside the timed
subprocess. The trajectories are then shuffled (seeded), which makes them an i.i.d. sample, and
reduced like qfluct's: ensemble means of the per-trajectory <tau_a>, <q^k> (k = 1..4) with
standard errors; central moments Q2, Q4 of the ensemble with delete-one-group jackknife errors.

Every solver runs in its own subprocess; the wall time is measured around it (process start,
imports and output included). The solver's own time is also reported: qfluct's sidecar
"wall_seconds", and for QuTiP the time around the mesolve / steadystate / mcsolve calls. Every
child gets OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 1 and QuTiP gets use_openmp = False, so the
only parallelism is the K workers of the trajectory task (qfluct's OpenMP threads, mcsolve's
parallel_map processes).

Physics checks: the derived rates are compared with qfluct's sidecar ("derived"); the max over t of
|difference| of tau_z, <q>, Q2, Q4 between qfluct's master equation and mesolve, and between the
two steady states; for trajectories max_t |z| with z = (mean - mesolve) / standard error, for
qfluct's and mcsolve's ensembles (over all t with a nonzero error, and over t >= 0.2, where the
heavy-tailed early quadratures no longer make the errors unreliable).

Usage (from the repository root; QuTiP needs Debian's /usr/bin/python3):
  /usr/bin/python3 bench/spin_boson_vs_qutip.py --qfluct build/qfluct
  /usr/bin/python3 bench/spin_boson_vs_qutip.py --ntraj 1000 --workers 1      # quick look
  /usr/bin/python3 bench/spin_boson_vs_qutip.py --tasks jump --workers 2       # rerun one part

Results: bench/results/spin_boson_vs_qutip.csv (one record per line, long format; see
write_csv) and Markdown tables on stdout. Ratios are QuTiP seconds / qfluct seconds.
"""

import argparse
import csv
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tomllib

import numpy as np

COMPARED = ["tau_z", "q", "Q2", "Q4"]  # the brief's four; n is reported too
EARLY_T = 0.2  # below this the trajectory errors of the quadratures are unreliable (heavy tails)

# Paths, column names, the single-thread environment and the output time grid are shared with
# the PIQS benchmark.
from master_vs_piqs import OBSERVABLES, REPO, SINGLE_THREAD_ENV, time_grid  # noqa: E402


# ----------------------------------------------------------------------------------------------
# Model parameters (read from the qfluct config, so both tools see the same model)
# ----------------------------------------------------------------------------------------------

def load_params(config_path, fock_cutoff):
    with open(config_path, "rb") as f:
        cfg = tomllib.load(f)
    m, ini, out = cfg["model"], cfg.get("initial", {}), cfg.get("output", {})
    # The QuTiP construction below covers exactly this case; refuse anything else.
    if any(abs(x) > 0 for x in m.get("h", [0, 0, 0])) or m.get("Gamma_phi", 0.0) != 0.0:
        sys.exit(f"{config_path}: bath field h and dephasing Gamma_phi must be zero here")
    if ini.get("central", "up") != "up" or ini.get("bath", "steady") != "steady":
        sys.exit(f"{config_path}: needs initial.central = \"up\" and initial.bath = \"steady\"")
    if "couplings" in m:
        sys.exit(f"{config_path}: inhomogeneous couplings are not supported here")
    p = dict(g0=float(m.get("g0", 4.0)), w=[float(x) for x in m.get("w", [1.0, 0.0, 0.5])],
             gamma_up=float(m.get("gamma_up", 0.8)), gamma_down=float(m.get("gamma_down", 0.1)),
             Gamma_up=float(m.get("Gamma_up", 0.2)), Gamma_down=float(m.get("Gamma_down", 1.0)),
             t_end=float(out.get("t_end", 4.0)), dt=float(out.get("dt", 0.05)),
             fock_cutoff=int(fock_cutoff))
    p["Gamma_plus"] = p["Gamma_up"] + p["Gamma_down"]
    p["eps"] = (p["Gamma_down"] - p["Gamma_up"]) / p["Gamma_plus"]
    if p["eps"] <= 0:
        sys.exit(f"{config_path}: eps = (Gamma_down - Gamma_up)/Gamma_+ must be > 0")
    p["G"] = p["g0"] * math.sqrt(p["eps"])
    p["kappa_up"] = p["Gamma_up"] / p["eps"]
    p["kappa_down"] = p["Gamma_plus"] + p["Gamma_up"] / p["eps"]
    p["nbar"] = p["Gamma_up"] / (p["eps"] * p["Gamma_plus"])
    return p


def fock_weights(p):
    """Thermal weights p_n = (1 - r) r^n, r = nbar/(1 + nbar), renormalised on 0..n_max."""
    r = p["nbar"] / (1.0 + p["nbar"])
    w = r ** np.arange(p["fock_cutoff"] + 1, dtype=float)
    return w / w.sum()


def check_derived(p, sidecar):
    """Largest relative difference between our derived rates and qfluct's sidecar ones."""
    d = sidecar["derived"]
    worst = 0.0
    for k in ("G", "eps", "Gamma_plus", "kappa_down", "kappa_up", "nbar"):
        if k not in d:
            sys.exit(f"qfluct sidecar has no derived.{k}")
        worst = max(worst, abs(d[k] - p[k]) / max(abs(p[k]), 1e-300))
    if int(d.get("fock_cutoff", -1)) != p["fock_cutoff"]:
        sys.exit(f"qfluct used Fock cutoff {d.get('fock_cutoff')}, expected {p['fock_cutoff']}")
    if worst > 1e-12:
        sys.exit(f"derived rates disagree with qfluct's sidecar (relative {worst:.2e}):\n"
                 f"  ours   {{{', '.join(f'{k}: {p[k]!r}' for k in ('G', 'eps', 'kappa_down', 'kappa_up', 'nbar'))}}}\n"
                 f"  qfluct {d}")
    return worst


# ----------------------------------------------------------------------------------------------
# Central moments of q from raw moments
# ----------------------------------------------------------------------------------------------

def central_moments(m1, m2, m3, m4):
    Q2 = m2 - m1 ** 2
    Q4 = m4 - 4 * m3 * m1 + 6 * m2 * m1 ** 2 - 3 * m1 ** 4
    return Q2, Q4


# ----------------------------------------------------------------------------------------------
# QuTiP workers (run in a subprocess: `--worker NAME --params FILE --result FILE`)
# ----------------------------------------------------------------------------------------------

def qutip_model(p):
    import qutip as qt
    nf = p["fock_cutoff"] + 1
    # qutip: basis(2, 0) is sigma_z = +1, i.e. |up> = (1, 0); sigmam() = |1><0| = |down><up|.
    tm = qt.tensor(qt.sigmam(), qt.qeye(nf))
    a = qt.tensor(qt.qeye(2), qt.destroy(nf))
    tx = qt.tensor(qt.sigmax(), qt.qeye(nf))
    ty = qt.tensor(qt.sigmay(), qt.qeye(nf))
    tz = qt.tensor(qt.sigmaz(), qt.qeye(nf))
    wx, wy, wz = p["w"]
    H = wx * tx + wy * ty + wz * tz + p["G"] * (tm * a.dag() + tm.dag() * a)
    c_ops = [math.sqrt(p["gamma_down"]) * tm, math.sqrt(p["gamma_up"]) * tm.dag(),
             math.sqrt(p["kappa_down"]) * a, math.sqrt(p["kappa_up"]) * a.dag()]
    q = (a + a.dag()) / math.sqrt(2.0)
    q2 = q * q
    # e_ops: tau_x, tau_y, tau_z, q, q^2, q^3, q^4, n (all Hermitian -> real expectations)
    e_ops = [tx, ty, tz, q, q2, q2 * q, q2 * q2, a.dag() * a]
    up = qt.basis(2, 0)
    return qt, H, c_ops, e_ops, up, nf


def observables_from_raw(raw):
    """raw: array (8, ...) of <tau_x>, <tau_y>, <tau_z>, <q>, <q^2>, <q^3>, <q^4>, <n>."""
    Q2, Q4 = central_moments(raw[3], raw[4], raw[5], raw[6])
    return dict(tau_x=raw[0], tau_y=raw[1], tau_z=raw[2], q=raw[3], Q2=Q2, Q4=Q4, n=raw[7])


def worker_mesolve(p, args):
    qt, H, c_ops, e_ops, up, nf = qutip_model(p)
    rho0 = qt.tensor(up * up.dag(), qt.Qobj(np.diag(fock_weights(p))))
    opts = qt.Options(atol=p["atol"], rtol=p["rtol"], nsteps=1_000_000, use_openmp=False)
    t0 = time.perf_counter()
    res = qt.mesolve(H, rho0, time_grid(p), c_ops, e_ops, options=opts, progress_bar=None)
    solver_s = time.perf_counter() - t0
    raw = np.array([np.real(e) for e in res.expect])
    return dict(solver_s=solver_s, raw=raw)


def worker_steadystate(p, args):
    qt, H, c_ops, e_ops, up, nf = qutip_model(p)
    t0 = time.perf_counter()
    rho = qt.steadystate(H, c_ops)  # default: method="direct" (sparse LU)
    solver_s = time.perf_counter() - t0
    raw = np.array([np.real(qt.expect(e, rho)) for e in e_ops])
    resid = (qt.liouvillian(H, c_ops) * qt.operator_to_vector(rho)).norm()
    return dict(solver_s=solver_s, raw=raw, residual=resid, trace=np.real(rho.tr()))


def worker_mcsolve(p, args):
    qt, H, c_ops, e_ops, up, nf = qutip_model(p)
    ntraj, workers = p["ntraj"], p["workers"]
    rng = np.random.default_rng(p["seed"])
    counts = rng.multinomial(ntraj, fock_weights(p))
    if p["mc_options"] == "default":
        opts = qt.Options(num_cpus=workers, use_openmp=False, average_expect=False)
    else:
        opts = qt.Options(atol=p["atol"], rtol=p["rtol"], nsteps=1_000_000, num_cpus=workers,
                          use_openmp=False, norm_tol=p["norm_tol"], norm_steps=50,
                          average_expect=False)
    per_traj = []  # (ntraj_n, 8, nt) per Fock number
    jumps = []     # per trajectory: number of jumps in each channel (tau_-, tau_+, a, a^+)
    calls = 0
    t0 = time.perf_counter()
    for n, cnt in enumerate(counts):
        if cnt == 0:
            continue
        opts.seeds = int(rng.integers(2 ** 31))
        psi0 = qt.tensor(up, qt.basis(nf, n))
        res = qt.mcsolve(H, psi0, time_grid(p), c_ops, e_ops, ntraj=int(cnt), options=opts,
                         progress_bar=False)
        calls += 1
        for which in res.col_which:
            jumps.append(np.bincount(np.asarray(which, dtype=int), minlength=len(c_ops)))
        # average_expect=False: res.expect is a list (one per trajectory) of lists of e_ops arrays
        per_traj.append(np.real(np.array(res.expect, dtype=complex)).reshape(int(cnt), len(e_ops), -1))
    solver_s = time.perf_counter() - t0
    traj = np.concatenate(per_traj, axis=0)
    traj = traj[rng.permutation(traj.shape[0])]  # i.i.d. order, so jackknife groups are exchangeable
    return dict(solver_s=solver_s, traj=traj, counts=counts, calls=calls, jumps=np.array(jumps))


WORKERS = dict(mesolve=worker_mesolve, steadystate=worker_steadystate, mcsolve=worker_mcsolve)


def worker_main(args):
    with open(args.params) as f:
        p = json.load(f)
    out = WORKERS[args.worker](p, args)
    np.savez(args.result, **{k: np.asarray(v) for k, v in out.items()})


# ----------------------------------------------------------------------------------------------
# Ensemble statistics for mcsolve trajectories (means, standard errors, grouped jackknife)
# ----------------------------------------------------------------------------------------------

def ensemble_stats(traj, groups):
    """traj: (ntraj, 8, nt) per-trajectory raw expectations. Returns (values, errors) dicts.

    Means (tau_a, q, n): sample mean and standard error. Q2, Q4: central moments of the ensemble
    mixture with delete-one-group jackknife bias correction and errors (qfluct's estimators)."""
    ntraj = traj.shape[0]
    mean = traj.mean(axis=0)
    se = traj.std(axis=0, ddof=1) / math.sqrt(ntraj)
    vals = observables_from_raw(mean)
    errs = dict(tau_x=se[0], tau_y=se[1], tau_z=se[2], q=se[3], n=se[7])
    G = min(groups, ntraj)
    gsize = ntraj // G
    used = traj[:G * gsize].reshape(G, gsize, *traj.shape[1:])
    sums = used.sum(axis=1)  # (G, 8, nt)
    total = sums.sum(axis=0)
    full = observables_from_raw(total / (G * gsize))
    loo = [observables_from_raw((total - sums[g]) / ((G - 1) * gsize)) for g in range(G)]
    for k in ("Q2", "Q4"):
        th = np.array([l[k] for l in loo])
        thbar = th.mean(axis=0)
        vals[k] = G * full[k] - (G - 1) * thbar  # bias corrected
        errs[k] = np.sqrt((G - 1) / G * ((th - thbar) ** 2).sum(axis=0))
    return vals, errs


# ----------------------------------------------------------------------------------------------
# Running the tools
# ----------------------------------------------------------------------------------------------

def child_env():
    env = dict(os.environ)
    env.update(SINGLE_THREAD_ENV)
    return env


def run_timed(cmd, log):
    """Wall time around the subprocess, its CPU time (user + sys of it and its children) and the
    1-minute load average before and after it."""
    load0 = os.getloadavg()[0]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load1 = os.getloadavg()[0]
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    if log:
        print(f"  {wall:8.3f} s wall {cpu:8.3f} s cpu  load {load0:.2f} -> {load1:.2f}  {' '.join(cmd)}",
              file=sys.stderr, flush=True)
    return dict(wall=wall, cpu=cpu, loads=[load0, load1])


def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def qfluct_cmd(args, sub, out, extra):
    cmd = [args.qfluct, sub, args.config, "--set", 'model.kind="spin_boson"',
           "--set", f"model.fock_cutoff={args.fock_cutoff}"]
    for kv in extra:
        cmd += ["--set", kv]
    return cmd + ["--quiet", "-o", out]


def run_qfluct(args, tmp, tag, sub, extra, threads=None):
    out = os.path.join(tmp, f"qfluct_{tag}.csv")
    cmd = qfluct_cmd(args, sub, out, extra)
    if threads is not None:
        cmd += ["--threads", str(threads)]
    tm = run_timed(cmd, args.verbose)
    with open(out[:-4] + ".json") as f:
        side = json.load(f)
    return dict(tm, solver=float(side["wall_seconds"]), data=read_csv(out), sidecar=side)


def run_qutip(args, tmp, tag, worker, p):
    pfile = os.path.join(tmp, f"params_{tag}.json")
    rfile = os.path.join(tmp, f"qutip_{tag}.npz")
    with open(pfile, "w") as f:
        json.dump(p, f)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker, "--params", pfile,
           "--result", rfile]
    tm = run_timed(cmd, args.verbose)
    with np.load(rfile) as z:
        res = {k: z[k] for k in z.files}
    return dict(tm, solver=float(res["solver_s"]), res=res)


def best_of(runs):
    """Fastest of repeated runs by process wall time (and the fastest solver time)."""
    best = min(runs, key=lambda r: r["wall"])
    return dict(best, solver=min(r["solver"] for r in runs),
                walls=[r["wall"] for r in runs], loads=[x for r in runs for x in r["loads"]])


def maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def max_z(vals, errs, ref, t, k, t_min=0.0):
    v, e, r = np.asarray(vals[k]), np.asarray(errs[k]), np.asarray(ref[k])
    # Points with a zero error (t = 0: every trajectory starts with the same tau_a) carry no
    # information; mcsolve's rounding leaves errors ~1e-17 there, so use a small floor.
    mask = (e > 1e-12) & (t >= t_min - 1e-12)
    if not mask.any():
        return float("nan")
    return float(np.max(np.abs(v[mask] - r[mask]) / e[mask]))


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------

def machine_info():
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qfluct", default=os.path.join(REPO, "build", "qfluct"),
                    help="qfluct binary (default: build/qfluct in the repository)")
    ap.add_argument("--config", default=os.path.join(REPO, "examples", "fig2.toml"))
    ap.add_argument("--fock-cutoff", type=int, default=32, help="highest Fock number (both tools)")
    ap.add_argument("--tasks", nargs="+", default=["master", "steady", "jump"],
                    choices=["master", "steady", "jump"])
    ap.add_argument("--ntraj", type=int, default=10000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="worker counts for the trajectory task (qfluct --threads, mcsolve num_cpus)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="repeats of the fast tasks (master, steady); the fastest is reported")
    ap.add_argument("--jump-repeats", type=int, default=1, help="repeats of the mcsolve runs")
    ap.add_argument("--qfluct-jump-repeats", type=int, default=3,
                    help="repeats of qfluct's trajectory runs (seconds each; the fastest is reported)")
    ap.add_argument("--rtol", type=float, default=1e-9)
    ap.add_argument("--atol", type=float, default=1e-11)
    ap.add_argument("--norm-tol", type=float, default=1e-9, help="mcsolve Options.norm_tol")
    ap.add_argument("--no-mc-default-options", dest="mc_default_options", action="store_false",
                    help="skip the extra mcsolve run at QuTiP's default Options (1 worker)")
    ap.add_argument("--seed", type=int, default=1, help="qfluct solver.seed and mcsolve's seed")
    ap.add_argument("--jackknife-groups", type=int, default=200)
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "spin_boson_vs_qutip.csv"))
    ap.add_argument("--details", help="also write the time series of every solver to this CSV")
    ap.add_argument("--verbose", action="store_true", help="log every command with its wall time")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args)

    args.qfluct = os.path.abspath(args.qfluct)
    if not os.access(args.qfluct, os.X_OK):
        sys.exit(f"no qfluct binary at {args.qfluct} (build it, or pass --qfluct PATH)")
    p = load_params(args.config, args.fock_cutoff)
    p.update(atol=args.atol, rtol=args.rtol, norm_tol=args.norm_tol, seed=args.seed)
    t = time_grid(p)
    tol_set = [f"solver.rtol={args.rtol!r}", f"solver.atol={args.atol!r}"]

    timing = []     # dict(task, workers, qfluct_wall, qutip_wall, qfluct_solver, qutip_solver, load, note)
    agree = []      # dict(task, observable, quantity, qfluct, qutip, value, note)
    info = dict(machine=machine_info(), load_start=os.getloadavg())
    print(f"machine: {info['machine']}; load average at start {info['load_start'][0]:.2f} "
          f"{info['load_start'][1]:.2f} {info['load_start'][2]:.2f}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="sb_vs_qutip_") as tmp:
        # --- master equation (always run: it is the reference for the trajectory z-scores) ---
        details = {}
        need_me = "master" in args.tasks or "jump" in args.tasks
        reps = args.repeats if "master" in args.tasks else 1
        if need_me:
            qf = best_of([run_qfluct(args, tmp, f"me{i}", "run", tol_set + ['solver.method="master"'], 1)
                          for i in range(reps)])
            derived_err = check_derived(p, qf["sidecar"])
            print(f"derived rates match qfluct's sidecar (largest relative difference {derived_err:.1e}):"
                  f" G = {p['G']:.15g}, eps = {p['eps']:.15g}, kappa_down = {p['kappa_down']:.15g},"
                  f" kappa_up = {p['kappa_up']:.15g}, nbar = {p['nbar']:.15g}", file=sys.stderr)
            qt_me = best_of([run_qutip(args, tmp, f"me{i}", "mesolve", p) for i in range(reps)])
            me_ref = observables_from_raw(qt_me["res"]["raw"])
            qf_me = qf["data"]
            details["mesolve"] = (me_ref, None)
            details["qfluct_master"] = ({k: qf_me[k] for k in OBSERVABLES}, None)
            if not np.allclose(qf_me["t"], t, atol=1e-12):
                sys.exit("qfluct's output grid differs from ours")
            if "master" in args.tasks:
                timing.append(dict(task="master", workers=1, qf=qf, qt=qt_me,
                                   note=f"mesolve atol={args.atol:g} rtol={args.rtol:g}; "
                                        f"best of {reps}"))
                for k in COMPARED + ["n"]:
                    agree.append(dict(task="master", observable=k, quantity="max_t |qfluct - mesolve|",
                                      value=maxdiff(qf_me[k], me_ref[k])))
        # --- steady state ---
        if "steady" in args.tasks:
            qf = best_of([run_qfluct(args, tmp, f"ss{i}", "steady", [], None) for i in range(args.repeats)])
            qt_ss = best_of([run_qutip(args, tmp, f"ss{i}", "steadystate", p) for i in range(args.repeats)])
            ss_ref = observables_from_raw(qt_ss["res"]["raw"])
            timing.append(dict(task="steady", workers=1, qf=qf, qt=qt_ss,
                               note=f"steadystate method=direct; best of {args.repeats}; "
                                    f"QuTiP residual |L rho| = {float(qt_ss['res']['residual']):.1e}"))
            for k in COMPARED + ["n"]:
                agree.append(dict(task="steady", observable=k, quantity="|qfluct - steadystate|",
                                  value=abs(float(qf["data"][k][0]) - float(ss_ref[k]))))
        # --- trajectories ---
        if "jump" in args.tasks:
            jump_set = ['solver.method="jump"', f"solver.ntraj={args.ntraj}", f"solver.seed={args.seed}"]
            configs = [(w, "tight") for w in args.workers]
            if args.mc_default_options:
                configs.append((1, "default"))
            qf_by_w, first, compared, mc_first = {}, None, {args.workers[0]}, None
            for w, mcopt in configs:
                if w not in qf_by_w:
                    qf_by_w[w] = best_of([run_qfluct(args, tmp, f"jump_w{w}_{i}", "run", jump_set, w)
                                          for i in range(args.qfluct_jump_repeats)])
                qf = qf_by_w[w]
                pw = dict(p, ntraj=args.ntraj, workers=w, mc_options=mcopt)
                qt_j = best_of([run_qutip(args, tmp, f"jump_w{w}_{mcopt}_{i}", "mcsolve", pw)
                                for i in range(args.jump_repeats)])
                label = "jump" if mcopt == "tight" else "jump (mcsolve default Options)"
                optnote = (f"mcsolve atol={args.atol:g} rtol={args.rtol:g} norm_tol={args.norm_tol:g}"
                           if mcopt == "tight" else "mcsolve Options() defaults: atol=1e-8 rtol=1e-6 norm_tol=1e-3")
                timing.append(dict(task=label, workers=w, qf=qf, qt=qt_j,
                                   note=f"ntraj={args.ntraj}; {optnote}; {int(qt_j['res']['calls'])} "
                                        f"mcsolve calls (one per sampled Fock number); qfluct best of "
                                        f"{args.qfluct_jump_repeats} (walls "
                                        f"{', '.join(f'{x:.2f}' for x in qf['walls'])} s), mcsolve best of "
                                        f"{args.jump_repeats}"))
                # statistics
                d = qf["data"]
                qf_vals = {k: d[k] for k in OBSERVABLES}
                qf_errs = {k: d[k + "_err"] for k in OBSERVABLES}
                mc_vals, mc_errs = ensemble_stats(qt_j["res"]["traj"], args.jackknife_groups)
                if first is None:
                    first = d
                    for k in COMPARED + ["n"]:
                        agree.append(dict(task="jump", observable=k,
                                          quantity="qfluct max_t |z| vs mesolve (t >= 0.2 / all t)",
                                          value=max_z(qf_vals, qf_errs, me_ref, t, k, EARLY_T),
                                          value_all=max_z(qf_vals, qf_errs, me_ref, t, k)))
                    for k in COMPARED + ["n"]:
                        agree.append(dict(task="jump", observable=k,
                                          quantity="qfluct max_t |mean - qfluct ME|",
                                          value=maxdiff(qf_vals[k], qf_me[k])))
                elif w not in compared:
                    compared.add(w)
                    same = all(np.array_equal(first[k], d[k]) for k in first)
                    agree.append(dict(task="jump", observable="all",
                                      quantity=f"qfluct CSV bit-identical, threads {args.workers[0]} vs {w}",
                                      value=float(same)))
                tag = f"mcsolve ({w} worker{'s' if w > 1 else ''}, {mcopt} options)"
                same_as_before = False
                if mc_first is None:
                    mc_first = (w, mcopt, qt_j["res"]["traj"])
                elif mcopt == mc_first[1]:
                    same_as_before = bool(np.array_equal(mc_first[2], qt_j["res"]["traj"]))
                    agree.append(dict(task="jump", observable="all",
                                      quantity=f"mcsolve trajectories identical, {mc_first[0]} vs {w} workers "
                                               "(same seeds; if 1, their statistics are not repeated)",
                                      value=float(same_as_before)))
                if not same_as_before:
                    for k in COMPARED + ["n"]:
                        agree.append(dict(task="jump", observable=k,
                                          quantity=f"{tag} max_t |z| vs mesolve (t >= 0.2 / all t)",
                                          value=max_z(mc_vals, mc_errs, me_ref, t, k, EARLY_T),
                                          value_all=max_z(mc_vals, mc_errs, me_ref, t, k)))
                    for k in COMPARED + ["n"]:
                        v = np.abs(mc_vals[k] - qf_vals[k])
                        e = np.hypot(mc_errs[k], qf_errs[k])
                        ok = e > 1e-12
                        late = ok & (t >= EARLY_T - 1e-12)
                        agree.append(dict(task="jump", observable=k,
                                          quantity=f"{tag} vs qfluct ensemble: max_t |diff|/sqrt(err1^2+err2^2)"
                                                   " (t >= 0.2 / all t)",
                                          value=float(np.max(v[late] / e[late])),
                                          value_all=float(np.max(v[ok] / e[ok]))))
                    # jumps per trajectory and channel: qfluct's sidecar vs mcsolve's collapse records
                    qf_j = qf["sidecar"]["solver"]["jumps_per_channel_per_trajectory"]
                    mj = qt_j["res"]["jumps"]
                    for ch, key in enumerate(("tau_minus", "tau_plus", "boson_loss", "boson_gain")):
                        mean, se = mj[:, ch].mean(), mj[:, ch].std(ddof=1) / math.sqrt(mj.shape[0])
                        agree.append(dict(task="jump", observable=f"jumps {key}",
                                          quantity=f"{tag}: jumps per trajectory, qfluct {qf_j[key]:.4g} vs "
                                                   f"mcsolve {mean:.4g} +- {se:.2g}; value = difference / (sqrt(2) x mcsolve's error)",
                                          value=(qf_j[key] - mean) / (math.sqrt(2) * se) if se > 0 else float("nan")))
                if mcopt == "tight":
                    details[f"mcsolve_w{w}"] = (mc_vals, mc_errs)
                details.setdefault("qfluct_jump", (qf_vals, qf_errs))
            qf_hw = qf_by_w[args.workers[0]]["sidecar"]["solver"].get("heavy_tail_times", [])
            if qf_hw:
                print(f"note: qfluct flags times where one trajectory carries > 5% of <q^4>: "
                      f"{', '.join(f'{x:g}' for x in qf_hw)}", file=sys.stderr)

    info["load_end"] = os.getloadavg()
    if args.details and details:
        write_details(args.details, t, details)
    write_csv(args.out, timing, agree, info)
    print_tables(timing, agree, info, args)


def write_details(path, t, details):
    """Time series: t, then for every solver and observable its value (and _err where it has one)."""
    cols, data = ["t"], [t]
    for name, (vals, errs) in details.items():
        for k in OBSERVABLES:
            cols.append(f"{name}:{k}")
            data.append(np.asarray(vals[k]))
            if errs is not None and k in errs:
                cols.append(f"{name}:{k}_err")
                data.append(np.asarray(errs[k]))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(cols)
        for row in np.array(data).T:
            wr.writerow([f"{x:.17g}" for x in row])


def write_csv(path, timing, agree, info):
    """Long format: record = time | agreement | machine.

    time rows: task, workers, quantity in {process_wall_s, solver_s, process_cpu_s}, qfluct, qutip,
               value = qutip / qfluct, load1 = range of the 1-minute load average before and
               after the runs (it includes the benchmark's own processes).
    agreement rows: task, observable, quantity, value (and value_all_t for z-scores)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    cols = ["record", "task", "workers", "observable", "quantity", "qfluct", "qutip", "value",
            "value_all_t", "load1", "note"]
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=cols)
        wr.writeheader()
        wr.writerow(dict(record="machine", note=f"{info['machine']}; load average start "
                                                 f"{info['load_start'][0]:.2f}, end {info['load_end'][0]:.2f}"))
        for r in timing:
            for q, key in (("process_wall_s", "wall"), ("solver_s", "solver"), ("process_cpu_s", "cpu")):
                wr.writerow(dict(record="time", task=r["task"], workers=r["workers"], quantity=q,
                                 qfluct=f"{r['qf'][key]:.4g}", qutip=f"{r['qt'][key]:.4g}",
                                 value=f"{r['qt'][key] / r['qf'][key]:.3g}",
                                 load1=f"{min(r['qf']['loads'] + r['qt']['loads']):.2f}-"
                                       f"{max(r['qf']['loads'] + r['qt']['loads']):.2f}",
                                 note=r["note"]))
        for a in agree:
            wr.writerow(dict(record="agreement", task=a["task"], observable=a["observable"],
                             quantity=a["quantity"], value=f"{a['value']:.3g}",
                             value_all_t=(f"{a['value_all']:.3g}" if "value_all" in a else "")))


def print_tables(timing, agree, info, args):
    print(f"\nMachine: {info['machine']}. Load average (1 min) at start {info['load_start'][0]:.2f}, "
          f"at end {info['load_end'][0]:.2f}. Ratio = QuTiP / qfluct.\n")
    print("| task | workers | qfluct s (process) | QuTiP s (process) | ratio | qfluct s (solver) "
          "| QuTiP s (solver) | ratio | qfluct CPU s | QuTiP CPU s | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in timing:
        qf, qt = r["qf"], r["qt"]
        loads = qf["loads"] + qt["loads"]
        print(f"| {r['task']} | {r['workers']} | {qf['wall']:.3g} | {qt['wall']:.3g} | "
              f"{qt['wall'] / qf['wall']:.3g} | {qf['solver']:.3g} | {qt['solver']:.3g} | "
              f"{qt['solver'] / qf['solver']:.3g} | {qf['cpu']:.3g} | {qt['cpu']:.3g} | "
              f"{min(loads):.2f}-{max(loads):.2f} |")
    for r in timing:
        print(f"- {r['task']}, {r['workers']} worker(s): {r['note']}")
    print("\n| task | observable | quantity | value | all t |")
    print("|---|---|---|---|---|")
    for a in agree:
        va = f"{a['value_all']:.3g}" if "value_all" in a else ""
        print(f"| {a['task']} | {a['observable']} | {a['quantity']} | {a['value']:.3g} | {va} |")
    print(f"\nResults written to {os.path.relpath(args.out, os.getcwd())}")


if __name__ == "__main__":
    main()
