#!/usr/bin/python3
"""Benchmark: qfluct's quantum-jump ensembles against QuTiP's mcsolve on the full tensor-product space.

Runs the open central spin model at the Fig. 2 point of Carollo, PRL 131, 227102 (2023)
(examples/fig2.toml: w = (1, 0, 0.5), g = 4/sqrt(N), gamma_up = 0.8, gamma_down = 0.1, Gamma_up = 0.2,
Gamma_down = 1, central spin up, bath in Omega_SS, t in [0, 4], dt = 0.05) for a list of bath sizes N
with two unravellings of the same Lindblad equation into quantum jumps:

  * qfluct: `qfluct run examples/fig2.toml --set model.N=N --set 'solver.method="jump"'
    --set solver.ntraj=K --threads 1 --quiet -o OUT.csv`; time = "wall_seconds" of the JSON sidecar;
  * QuTiP 4.7 `qutip.mcsolve` on the full 2^(N+1)-dimensional space (N + 1 qubits, local jump
    operators sqrt(gamma_down) tau_-, sqrt(gamma_up) tau_+, and sqrt(Gamma_down) sigma_-^k,
    sqrt(Gamma_up) sigma_+^k on every bath spin), the operators built exactly as in
    bench/master_vs_piqs.py `worker_full` (validated there against qfluct's master equation to 1e-10).
    mcsolve needs a pure initial state. Omega_SS is diagonal in the product basis, so each trajectory
    draws the number k of up bath spins from Binomial(N, p_up), p_up = Gamma_up / (Gamma_up + Gamma_down)
    (numpy Generator, fixed seed). The model is permutation symmetric, so mcsolve runs once per distinct k,
    starting from the product state with the central spin and the first k bath spins up and carrying that
    k's number of trajectories. The per-trajectory results are pooled into one ensemble of iid samples.
    mcsolve time = the sum of the wall times of these mcsolve calls (its system set-up included,
    building the operators and the Python start-up/imports excluded).

Measured for each N:
  * wall time per trajectory of each tool and their ratio (mcsolve / qfluct), plus CPU time, to
    show that only one thread ran;
  * agreement of the two ensembles in tau_z = <sigma_z of the central spin>: at each time
    z(t) = (mean_mcsolve - mean_qfluct) / sqrt(se_mcsolve^2 + se_qfluct^2), reported as max_t |z| and
    chi^2/dof = mean_t z^2 over the times where the combined standard error is nonzero (t > 0). The
    times are strongly correlated (one trajectory contributes to all of them), so chi^2/dof has a
    wider spread than for independent points: near 1 is consistent, >> 1 is a real difference. For
    81 correlated times max |z| below about 3 is consistent;
  * each ensemble against the exact mean: qfluct's block master equation (`qfluct run` with the
    config's solver.method = "master", rtol = 1e-9, atol = 1e-11, itself checked against the full-space
    mesolve in bench/master_vs_piqs.py), z_tool(t) = (mean_tool - exact) / se_tool, max_t |z| for each
    tool. This tells which ensemble is off if the two disagree;
  * mean number of jumps per trajectory of each tool (total and per channel, in the CSV);
  * from each tool's largest standard error of tau_z over t, se_max, with its ntraj, the number of
    trajectories for stderr(tau_z) < 1e-3 at every t, ntraj_needed = ntraj (se_max / 1e-3)^2, and the
    predicted wall time ntraj_needed x (wall time per trajectory).

mcsolve settings: QuTiP 4.7 defaults for the integrator (zvode 'adams', atol = 1e-8, rtol = 1e-6,
nsteps = 1000) and for the jump-time search (norm_tol = 1e-3, norm_t_tol = 1e-6, norm_steps = 5), with
Options(num_cpus=1, use_openmp=False, average_expect=False, store_states=False), so each call runs
its trajectories serially (qutip.parallel.serial_map) and returns tau_z(t) of every trajectory. The
values actually used are printed and written to the CSV. qfluct uses the config's solver settings
(waiting-time method, jump_tol = 1e-12, window_tol = 1e-12).

Machine caveat: the reference machine has 2 cores. Everything here is single threaded: qfluct
`--threads 1` (the sidecar's "threads" is checked), and the mcsolve worker gets qutip.settings.num_cpus
= 1, OMP_NUM_THREADS = 1 and the BLAS thread variables = 1. CPU time is reported beside wall time (CPU
<= wall means no second thread ran). Wall times depend on what else runs on the second core; the
script prints nproc and the load average at start.

Usage (from the repository root):
  /usr/bin/python3 bench/trajectories_vs_mcsolve.py                              # N = 4 6 8 10
        (about 1.5 min on the 2-core reference machine with the other core busy: mcsolve takes about
        4, 7, 23 and 90 ms per trajectory at N = 4, 6, 8, 10, qfluct about 0.2-0.3 ms)
  /usr/bin/python3 bench/trajectories_vs_mcsolve.py --N 4 --ntraj 400 --mc-ntraj 100   # quick check
  /usr/bin/python3 bench/trajectories_vs_mcsolve.py --qfluct build/qfluct --N 4 6 --csv /tmp/t.csv

Results: bench/results/trajectories_vs_mcsolve.csv (one row per N; written to a temporary file and
renamed) and a Markdown table on stdout. Progress goes to stderr.
"""

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SE_TARGET = 1e-3
CHANNELS = ["tau_minus", "tau_plus", "sigma_minus", "sigma_plus"]  # names of qfluct's sidecar

# The model reader, time grid and full-space construction are master_vs_piqs.py's, validated there
# against the full-space mesolve and qfluct's master equation.
from master_vs_piqs import SINGLE_THREAD_ENV, _import_qutip, full_space_model, load_params, time_grid  # noqa: E402


# ----------------------------------------------------------------------------------------------
# mcsolve worker (runs in a subprocess: `trajectories_vs_mcsolve.py --worker ...`)
# ----------------------------------------------------------------------------------------------

def full_space_jump_model(qutip, p):
    """H, c_ops, tau_z, the channel (index into CHANNELS) of each c_op, and |up>, |down>."""
    H, c_ops, on, _ = full_space_model(qutip, p)
    N = p["N"]
    channel_of_cop = np.array([0, 1] + [2] * N + [3] * N)
    return H, c_ops, on(0, qutip.sigmaz()), channel_of_cop, qutip.basis(2, 0), qutip.basis(2, 1)


def worker_mcsolve(p, ntraj, seed):
    qutip = _import_qutip()
    t0 = time.perf_counter()
    N = p["N"]
    H, c_ops, tau_z, channel_of_cop, up, dn = full_space_jump_model(qutip, p)
    tlist = time_grid(p)
    rng = np.random.default_rng([seed, N])
    ks = rng.binomial(N, p["p_up"], size=ntraj)  # up bath spins of each trajectory's initial state
    t1 = time.perf_counter()

    tz = np.empty((ntraj, len(tlist)))
    jumps = np.zeros((ntraj, len(CHANNELS)), dtype=np.int64)
    solve_s = cpu_s = 0.0
    calls, opts = [], None
    row = 0
    for k in np.unique(ks):
        nk = int(np.sum(ks == k))
        psi0 = qutip.tensor([up] * (1 + int(k)) + [dn] * (N - int(k)))
        seeds = [int(s) for s in rng.integers(0, 2 ** 32, size=nk, dtype=np.uint64)]
        opts = qutip.Options(num_cpus=1, use_openmp=False, average_expect=False, store_states=False,
                             store_final_state=False, seeds=seeds)
        w0, c0 = time.perf_counter(), time.process_time()
        res = qutip.mcsolve(H, psi0, tlist, c_ops, [tau_z], ntraj=nk, options=opts, progress_bar=False)
        w1, c1 = time.perf_counter(), time.process_time()
        solve_s += w1 - w0
        cpu_s += c1 - c0
        calls.append(dict(k=int(k), ntraj=nk, wall_s=w1 - w0))
        if len(res.expect) != nk:
            raise RuntimeError(f"mcsolve returned {len(res.expect)} trajectories, expected {nk}")
        for i, e in enumerate(res.expect):  # average_expect=False: one [tau_z(t)] list per trajectory
            tz[row + i] = np.real(e[0])
        for i, which in enumerate(res.col_which):
            if len(which):
                jumps[row + i] = np.bincount(channel_of_cop[np.asarray(which, dtype=int)], minlength=len(CHANNELS))
        row += nk
    assert row == ntraj
    info = dict(build_s=t1 - t0, solve_s=solve_s, cpu_s=cpu_s, calls=calls, dim=2 ** (N + 1),
                num_cpus=opts.num_cpus, qutip_num_cpus=qutip.settings.num_cpus, use_openmp=opts.use_openmp,
                qutip_version=qutip.__version__,
                omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                options=dict(method=opts.method, order=opts.order, atol=opts.atol, rtol=opts.rtol,
                             nsteps=opts.nsteps, norm_tol=opts.norm_tol, norm_t_tol=opts.norm_t_tol,
                             norm_steps=opts.norm_steps))
    return tz, jumps, ks, info


def worker_main(args):
    p = load_params(args.config, args.worker_N)
    tz, jumps, ks, info = worker_mcsolve(p, args.worker_ntraj, args.seed)
    np.savez(args.worker_out, tau_z=tz, jumps=jumps, ks=ks, info=json.dumps(info))


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------

def run_child(cmd, timeout=None):
    """Run cmd single threaded; return (returncode or 'timeout', wall_s, cpu_s of the child, stderr)."""
    env = dict(os.environ, **SINGLE_THREAD_ENV)
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
    deadline = None if timeout is None else t0 + timeout
    rc = None
    while rc is None:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            rc = os.waitstatus_to_exitcode(status)
            proc.returncode = rc
            break
        if deadline is not None and time.perf_counter() > deadline:
            os.killpg(proc.pid, 9)
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            err.seek(0)
            return "timeout", time.perf_counter() - t0, float("nan"), err.read().decode(errors="replace")
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    err.seek(0)
    return rc, wall, ru.ru_utime + ru.ru_stime, err.read().decode(errors="replace")


def run_qfluct_master(args, N, workdir):
    """Exact tau_z(t) from qfluct's block master equation (the config's solver settings)."""
    out = os.path.join(workdir, f"qfluct_master_N{N}.csv")
    cmd = [args.qfluct, "run", args.config, "--set", f"model.N={N}", "--set", 'solver.method="master"',
           "--threads", "1", "--quiet", "-o", out]
    rc, wall, cpu, stderr = run_child(cmd)
    if rc != 0:
        sys.exit(f"qfluct (master) failed for N={N} (exit {rc}):\n{' '.join(cmd)}\n{stderr}")
    data = np.genfromtxt(out, delimiter=",", names=True)
    return dict(t=data["t"], mean=data["tau_z"], wall_s=wall)


def run_qfluct(args, N, workdir):
    out = os.path.join(workdir, f"qfluct_N{N}.csv")
    cmd = [args.qfluct, "run", args.config, "--set", f"model.N={N}", "--set", 'solver.method="jump"',
           "--set", f"solver.ntraj={args.ntraj}", "--set", f"solver.seed={args.seed}",
           "--threads", "1", "--quiet", "-o", out]
    rc, wall, cpu, stderr = run_child(cmd)
    if rc != 0:
        sys.exit(f"qfluct failed for N={N} (exit {rc}):\n{' '.join(cmd)}\n{stderr}")
    data = np.genfromtxt(out, delimiter=",", names=True)
    with open(out[:-4] + ".json") as f:
        side = json.load(f)
    s = side["solver"]
    if side.get("threads", s.get("threads")) != 1:
        sys.exit(f"qfluct ran with {side.get('threads')} threads, expected 1")
    if s.get("ntraj") != args.ntraj:
        print(f"[qfluct N={N}] note: ran {s.get('ntraj')} trajectories ({s.get('end_condition')})",
              file=sys.stderr)
    return dict(t=data["t"], mean=data["tau_z"], se=data["tau_z_err"], ntraj=int(s["ntraj"]),
                wall_s=float(side["wall_seconds"]), outer_wall_s=wall, cpu_s=cpu,
                jumps={c: float(s["jumps_per_channel_per_trajectory"].get(c, float("nan"))) for c in CHANNELS},
                jumps_total=float(s["jumps_per_trajectory"]), threads=int(side.get("threads", 1)),
                heavy_tail_times=s.get("heavy_tail_times", []), sidecar=side)


def run_mcsolve(args, N, workdir):
    out = os.path.join(workdir, f"mcsolve_N{N}.npz")
    cmd = [sys.executable, os.path.abspath(__file__), "--config", args.config, "--seed", str(args.seed),
           "--worker", "--worker-N", str(N), "--worker-ntraj", str(args.mc_ntraj), "--worker-out", out]
    rc, wall, cpu, stderr = run_child(cmd, timeout=args.mc_timeout if args.mc_timeout > 0 else None)
    if rc == "timeout":
        return dict(status="timeout", outer_wall_s=wall)
    if rc != 0:
        print(f"[mcsolve N={N}] failed (exit {rc}):\n{stderr[-3000:]}", file=sys.stderr)
        return dict(status="error", outer_wall_s=wall)
    z = np.load(out)
    info = json.loads(str(z["info"]))
    tz, jumps = z["tau_z"], z["jumps"]
    n = tz.shape[0]
    jt = jumps.sum(axis=1)
    return dict(status="ok", mean=tz.mean(axis=0), se=tz.std(axis=0, ddof=1) / math.sqrt(n), ntraj=n,
                jumps={c: float(jumps[:, i].mean()) for i, c in enumerate(CHANNELS)},
                jumps_total=float(jt.mean()), jumps_total_se=float(jt.std(ddof=1) / math.sqrt(n)),
                outer_wall_s=wall, child_cpu_s=cpu, **info)


def compare(qf, mc, t):
    se = np.sqrt(qf["se"] ** 2 + mc["se"] ** 2)
    use = se > 0
    z = (mc["mean"][use] - qf["mean"][use]) / se[use]
    i = int(np.argmax(np.abs(z)))
    return dict(max_abs_z=float(abs(z[i])), t_max_z=float(t[use][i]), chi2_per_dof=float(np.mean(z ** 2)),
                dof=int(use.sum()), max_abs_diff=float(np.max(np.abs(mc["mean"] - qf["mean"]))))


def z_vs_exact(ens, exact):
    """max_t |mean - exact| / se and chi^2/dof of one ensemble against the exact mean (t with se > 0)."""
    use = ens["se"] > 0
    z = (ens["mean"][use] - exact[use]) / ens["se"][use]
    return float(np.max(np.abs(z))), float(np.mean(z ** 2))


def predict(ntraj, se_max, s_per_traj):
    need = ntraj * (se_max / SE_TARGET) ** 2
    return need, need * s_per_traj


def fmt_s(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x >= 3600:
        return f"{x / 3600:.3g} h"
    if x >= 60:
        return f"{x / 60:.3g} min"
    return f"{x:.3g} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qfluct", default=os.path.join(REPO, "build", "qfluct"), help="qfluct binary (default build/qfluct)")
    ap.add_argument("--config", default=os.path.join(REPO, "examples", "fig2.toml"),
                    help="qfluct config of the model (default examples/fig2.toml)")
    ap.add_argument("--N", type=int, nargs="+", default=[4, 6, 8, 10], help="bath sizes (default 4 6 8 10)")
    ap.add_argument("--ntraj", type=int, default=2000, help="qfluct trajectories per N (default 2000)")
    ap.add_argument("--mc-ntraj", type=int, default=500, help="mcsolve trajectories per N (default 500)")
    ap.add_argument("--seed", type=int, default=1, help="qfluct solver.seed and the mcsolve worker's seed (default 1)")
    ap.add_argument("--mc-timeout", type=float, default=0.0,
                    help="wall-clock limit in s of one mcsolve worker (0 = none, the default); "
                         "after a timeout larger N skip mcsolve")
    ap.add_argument("--csv", default=os.path.join(REPO, "bench", "results", "trajectories_vs_mcsolve.csv"),
                    help="output CSV (default bench/results/trajectories_vs_mcsolve.csv)")
    ap.add_argument("--keep", default=None, help="keep qfluct's CSVs and the mcsolve per-trajectory data in this folder")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-N", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--worker-ntraj", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.config = os.path.abspath(args.config)
    if args.worker:
        return worker_main(args)

    args.qfluct = os.path.abspath(args.qfluct)
    if not os.access(args.qfluct, os.X_OK):
        sys.exit(f"no qfluct binary at {args.qfluct} (build it, or pass --qfluct PATH)")
    if args.ntraj < 2 or args.mc_ntraj < 2:
        sys.exit("--ntraj and --mc-ntraj must be at least 2 (standard errors)")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    workdir = args.keep or tempfile.mkdtemp(prefix="trajectories_vs_mcsolve_")
    log = lambda *a: print(*a, file=sys.stderr, flush=True)
    load = os.getloadavg()
    log(f"nproc = {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"every solver single threaded")

    results, mc_stop, mc_opts = [], None, None
    for N in args.N:
        p = load_params(args.config, N)
        t = time_grid(p)
        qf = run_qfluct(args, N, workdir)
        assert len(qf["t"]) == len(t) and np.allclose(qf["t"], t, atol=1e-12), "qfluct's time grid differs"
        qf["s_per_traj"] = qf["wall_s"] / qf["ntraj"]
        ex = run_qfluct_master(args, N, workdir)
        assert len(ex["t"]) == len(t) and np.allclose(ex["t"], t, atol=1e-12), "master time grid differs"
        qf["exact"] = ex["mean"]
        qf["z_exact"], qf["chi2_exact"] = z_vs_exact(qf, ex["mean"])
        log(f"[qfluct N={N}] {qf['ntraj']} traj, {qf['wall_s']:.3f} s ({qf['s_per_traj'] * 1e3:.3g} ms/traj), "
            f"cpu {qf['cpu_s']:.2f} s, threads {qf['threads']}, {qf['jumps_total']:.2f} jumps/traj"
            + (f"; {len(qf['heavy_tail_times'])} heavy-tail times in the sidecar (they concern q moments, not tau_z)"
               if qf["heavy_tail_times"] else ""))
        if mc_stop:
            mc = dict(status="skipped")
        else:
            mc = run_mcsolve(args, N, workdir)
            if mc["status"] != "ok":
                mc_stop = f"{mc['status']} at N={N}"
        if mc["status"] == "ok":
            mc_opts = mc["options"]
            mc["s_per_traj"] = mc["solve_s"] / mc["ntraj"]
            log(f"[mcsolve N={N}] dim {mc['dim']}, {mc['ntraj']} traj in {len(mc['calls'])} calls (one per k), "
                f"solve {mc['solve_s']:.2f} s ({mc['s_per_traj'] * 1e3:.3g} ms/traj), cpu {mc['cpu_s']:.2f} s, "
                f"build {mc['build_s']:.2f} s, {mc['jumps_total']:.2f} +- {mc['jumps_total_se']:.2f} jumps/traj")
        else:
            log(f"[mcsolve N={N}] {mc['status']}")
        results.append((N, qf, mc))

    # ---- CSV ------------------------------------------------------------------------------
    rows = []
    for N, qf, mc in results:
        q_se = float(np.max(qf["se"]))
        q_need, q_pred = predict(qf["ntraj"], q_se, qf["s_per_traj"])
        r = dict(N=N, dim=2 ** (N + 1), qfluct_ntraj=qf["ntraj"], qfluct_threads=qf["threads"],
                 qfluct_wall_s=qf["wall_s"], qfluct_cpu_s=qf["cpu_s"], qfluct_s_per_traj=qf["s_per_traj"],
                 qfluct_max_se=q_se, qfluct_ntraj_needed=q_need, qfluct_pred_s=q_pred,
                 qfluct_jumps_per_traj=qf["jumps_total"], qfluct_max_abs_z_vs_master=qf["z_exact"],
                 qfluct_chi2_per_dof_vs_master=qf["chi2_exact"],
                 **{f"qfluct_jumps_{c}": qf["jumps"][c] for c in CHANNELS}, mc_status=mc["status"])
        if mc["status"] == "ok":
            m_se = float(np.max(mc["se"]))
            m_need, m_pred = predict(mc["ntraj"], m_se, mc["s_per_traj"])
            c = compare(qf, mc, time_grid(load_params(args.config, N)))
            mz, mchi = z_vs_exact(mc, qf["exact"])
            r.update(mc_ntraj=mc["ntraj"], mc_num_cpus=mc["num_cpus"], mc_calls=len(mc["calls"]),
                     mc_solve_s=mc["solve_s"], mc_cpu_s=mc["cpu_s"], mc_build_s=mc["build_s"],
                     mc_s_per_traj=mc["s_per_traj"], ratio_s_per_traj=mc["s_per_traj"] / qf["s_per_traj"],
                     mc_max_se=m_se, mc_ntraj_needed=m_need, mc_pred_s=m_pred,
                     mc_jumps_per_traj=mc["jumps_total"], mc_jumps_per_traj_se=mc["jumps_total_se"],
                     mc_max_abs_z_vs_master=mz, mc_chi2_per_dof_vs_master=mchi,
                     **{f"mc_jumps_{ch}": mc["jumps"][ch] for ch in CHANNELS},
                     **c, mc_options=" ".join(f"{k}={v}" for k, v in mc["options"].items()))
        rows.append(r)
    cols = ["N", "dim", "qfluct_ntraj", "qfluct_threads", "qfluct_wall_s", "qfluct_cpu_s", "qfluct_s_per_traj",
            "mc_status", "mc_ntraj", "mc_num_cpus", "mc_calls", "mc_solve_s", "mc_cpu_s", "mc_build_s",
            "mc_s_per_traj", "ratio_s_per_traj", "max_abs_z", "t_max_z", "chi2_per_dof", "dof", "max_abs_diff",
            "qfluct_max_abs_z_vs_master", "qfluct_chi2_per_dof_vs_master", "mc_max_abs_z_vs_master",
            "mc_chi2_per_dof_vs_master", "qfluct_max_se", "mc_max_se", "qfluct_ntraj_needed", "qfluct_pred_s", "mc_ntraj_needed", "mc_pred_s",
            "qfluct_jumps_per_traj", "mc_jumps_per_traj", "mc_jumps_per_traj_se"] + \
        [f"qfluct_jumps_{c}" for c in CHANNELS] + [f"mc_jumps_{c}" for c in CHANNELS] + ["mc_options"]
    csv_path = os.path.abspath(args.csv)
    os.makedirs(os.path.dirname(csv_path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trajectories_vs_mcsolve.", suffix=".csv", dir=os.path.dirname(csv_path))
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        os.replace(tmp, csv_path)
    except BaseException:
        os.unlink(tmp)
        raise
    if args.keep:
        log(f"wrote {csv_path}; raw data in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"wrote {csv_path}")

    # ---- Markdown ---------------------------------------------------------------------------
    o = mc_opts or {}
    print(f"Fig. 2 point, t in [0, {time_grid(load_params(args.config, args.N[0]))[-1]:g}], dt = "
          f"{load_params(args.config, args.N[0])['dt']:g}; one thread each (nproc = {os.cpu_count()}). "
          f"qfluct: jump unravelling, {args.ntraj} trajectories, time = sidecar wall_seconds. mcsolve (QuTiP "
          f"4.7, full 2^(N+1) space): {args.mc_ntraj} trajectories, one call per initial k, time = sum of "
          f"the mcsolve calls; {o.get('method', '?')}, atol = {o.get('atol', '?')}, rtol = {o.get('rtol', '?')}, "
          f"norm_tol = {o.get('norm_tol', '?')}, norm_t_tol = {o.get('norm_t_tol', '?')}, "
          f"norm_steps = {o.get('norm_steps', '?')}. z = (mean_mc - mean_qfluct)/sqrt(se_mc^2 + se_qfluct^2) of "
          f"tau_z per t; 'vs master': max abs z of each ensemble against qfluct's exact master equation, "
          f"(mean - exact)/se. 'for se < {SE_TARGET:g}': predicted wall time to bring the largest standard error of "
          f"tau_z over t below {SE_TARGET:g}.\n")
    print("| N | dim | qfluct ms/traj | mcsolve ms/traj | mcsolve/qfluct | max abs z | chi2/dof | "
          "max abs z vs master, qfluct / mcsolve | "
          "max se qfluct | max se mcsolve | qfluct for se < 1e-3 | mcsolve for se < 1e-3 | jumps/traj qfluct | "
          "jumps/traj mcsolve |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ok = r["mc_status"] == "ok"
        cell = lambda k, spec, scale=1.0: format(r[k] * scale, spec) if ok else "-"
        mc_ms = cell("mc_s_per_traj", ".3g", 1e3) if ok else r["mc_status"]
        mc_jumps = f"{r['mc_jumps_per_traj']:.3f} ± {r['mc_jumps_per_traj_se']:.3f}" if ok else "-"
        print(f"| {r['N']} | {r['dim']} | {r['qfluct_s_per_traj'] * 1e3:.3g} | {mc_ms} | "
              f"{cell('ratio_s_per_traj', '.3g')} | {cell('max_abs_z', '.2f')} | {cell('chi2_per_dof', '.2f')} | "
              f"{r['qfluct_max_abs_z_vs_master']:.2f} / {cell('mc_max_abs_z_vs_master', '.2f')} | "
              f"{r['qfluct_max_se']:.2e} | {cell('mc_max_se', '.2e')} | {fmt_s(r['qfluct_pred_s'])} | "
              f"{fmt_s(r['mc_pred_s']) if ok else '-'} | {r['qfluct_jumps_per_traj']:.3f} | {mc_jumps} |")

if __name__ == "__main__":
    main()
