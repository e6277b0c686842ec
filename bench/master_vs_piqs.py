#!/usr/bin/python3
"""Benchmark: qfluct's block master equation against QuTiP PIQS (issue 2).

Runs the open central spin model at the Fig. 2 point of Carollo, PRL 131, 227102 (2023)
(examples/fig2.toml) for a list of bath sizes N with

  * qfluct's exact block master equation (`qfluct run ... --threads 1`), and
  * QuTiP 4.7's PIQS: the bath Lindbladian of qutip.piqs.Dicke in the Dicke basis, tensored with
    the central spin and integrated with qutip.mesolve,

and measures wall time and peak memory (RSS) of each, single threaded, plus the max-over-t
difference of the observables. Where PIQS ran (N <= --check-max-N), a cross-check compares qfluct at
tight tolerances with PIQS's own rate formulas rebuilt in double precision (stock PIQS in QuTiP 4.7
evaluates them in single precision). For small N (default 4 and 5) all are also checked against an
independent full-space reference: the 2^(N+1)-dimensional model integrated with plain
qutip.mesolve at tolerances 1e-14.

Every solver runs in its own subprocess under GNU time (/usr/bin/time), which reports its peak RSS.
PIQS runs get a wall-clock limit (--piqs-timeout, default 600 s) and an address-space limit
(--piqs-mem-gib); once one times out or runs out of memory, larger N are skipped for PIQS.

Usage (from the repository root):
  /usr/bin/python3 bench/master_vs_piqs.py --qfluct build/qfluct            # N = 10 ... 320
  /usr/bin/python3 bench/master_vs_piqs.py --max-N 160                      # skip N = 320
  /usr/bin/python3 bench/master_vs_piqs.py --N 10 20 --full-N 4             # quick look

Results: bench/results/master_vs_piqs.csv (machine readable) and Markdown tables on stdout.
"""

import argparse
import csv
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tomllib

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBSERVABLES = ["tau_x", "tau_y", "tau_z", "q", "Q2", "Q4", "n"]
DIFF_OBS = ["tau_z", "q", "Q2", "Q4", "n"]  # reported max-over-t differences
EXIT_OOM = 3
GNU_TIME = "/usr/bin/time"  # Debian package "time"

# Single-threaded numerics in every child (OpenMP in QuTiP's spmv, BLAS, Eigen).
SINGLE_THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                      "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}


# ----------------------------------------------------------------------------------------------
# Model parameters (read from the qfluct config, so both solvers see the same model)
# ----------------------------------------------------------------------------------------------

def load_params(config_path, N):
    with open(config_path, "rb") as f:
        cfg = tomllib.load(f)
    m, ini, out = cfg["model"], cfg.get("initial", {}), cfg.get("output", {})
    # The PIQS / full-space constructions below cover exactly this case; refuse anything else.
    if m.get("kind", "central_spin") != "central_spin":
        sys.exit(f"{config_path}: only model.kind = central_spin is supported")
    if m.get("coupling", "sqrt") != "sqrt":
        sys.exit(f"{config_path}: only model.coupling = sqrt (g = g0/sqrt(N)) is supported")
    if any(abs(x) > 0 for x in m.get("h", [0, 0, 0])) or m.get("Gamma_phi", 0.0) != 0.0:
        sys.exit(f"{config_path}: bath field h and dephasing Gamma_phi must be zero here")
    if ini.get("central", "up") != "up" or ini.get("bath", "steady") != "steady":
        sys.exit(f"{config_path}: needs initial.central = \"up\" and initial.bath = \"steady\"")
    p = dict(N=int(N), g0=float(m["g0"]), w=[float(x) for x in m["w"]],
             gamma_up=float(m["gamma_up"]), gamma_down=float(m["gamma_down"]),
             Gamma_up=float(m["Gamma_up"]), Gamma_down=float(m["Gamma_down"]),
             t_end=float(out.get("t_end", 4.0)), dt=float(out.get("dt", 0.05)))
    p["g"] = p["g0"] / math.sqrt(N)
    p["Gamma_plus"] = p["Gamma_up"] + p["Gamma_down"]
    p["eps"] = (p["Gamma_down"] - p["Gamma_up"]) / p["Gamma_plus"]
    p["p_up"] = p["Gamma_up"] / p["Gamma_plus"]
    return p


def time_grid(p):
    n = int(round(p["t_end"] / p["dt"]))
    return np.arange(n + 1) * p["dt"]


def derive(raw, p):
    """Columns from raw moments, the same definitions as qfluct's CSV.

    raw: dict with tau_x, tau_y, tau_z, m1..m4 = <X^k> with X = J_- + J_+, and JpJm = <J_+ J_->.
    """
    s = 1.0 / math.sqrt(2.0 * p["eps"] * p["N"])
    mu, m2, m3, m4 = (s ** k * np.asarray(raw[f"m{k}"]) for k in (1, 2, 3, 4))
    out = {a: np.asarray(raw[a]) for a in ("tau_x", "tau_y", "tau_z")}
    out["q"] = mu
    out["Q2"] = m2 - mu ** 2
    out["Q4"] = m4 - 4 * m3 * mu + 6 * m2 * mu ** 2 - 3 * mu ** 4
    out["n"] = np.asarray(raw["JpJm"]) / (p["eps"] * p["N"])
    return out


# ----------------------------------------------------------------------------------------------
# Workers (run in a subprocess: `master_vs_piqs.py --worker piqs|full ...`)
# ----------------------------------------------------------------------------------------------

def _import_qutip():
    import qutip
    qutip.settings.num_cpus = 1  # QuTiP 4.7 would otherwise use OpenMP spmv above openmp_thresh
    return qutip


def _moment_ops(qutip, Xsp, tau_ops, JpJm):
    """Sparse operators whose expectation values we record, as COO triplets for fast traces."""
    X = Xsp.data.tocsr()
    ops = {"tau_x": tau_ops[0].data, "tau_y": tau_ops[1].data, "tau_z": tau_ops[2].data,
           "m1": X, "m2": X @ X}
    ops["m3"] = ops["m2"] @ X
    ops["m4"] = ops["m2"] @ ops["m2"]
    ops["JpJm"] = JpJm.data
    coo = {}
    for k, A in ops.items():
        A = A.tocoo()
        coo[k] = (A.row, A.col, A.data)
    return coo


def _solve(qutip, L, rho0, tlist, coo, atol, rtol):
    """qutip.mesolve with a superoperator; expectation values via a callback (no stored states)."""
    rec = {k: [] for k in coo}

    def e_ops(t, rho):
        R = rho.full()
        for k, (r, c, v) in coo.items():
            rec[k].append(np.sum(v * R[c, r]).real)  # tr(A rho) = sum_ij A_ij rho_ji
        return 0.0

    opts = qutip.Options(atol=atol, rtol=rtol, nsteps=10 ** 9, use_openmp=False,
                         store_states=False, store_final_state=False)
    qutip.mesolve(L, rho0, tlist, [], e_ops, options=opts)
    return {k: np.array(v) for k, v in rec.items()}


def _central_ops(qutip):
    up, dn = qutip.basis(2, 0), qutip.basis(2, 1)  # |up> = (1, 0)
    tau_m = dn * up.dag()                           # tau_- = |down><up|
    return up, tau_m, tau_m.dag(), [qutip.sigmax(), qutip.sigmay(), qutip.sigmaz()]


def omega_ss_dicke(N, p_up):
    """Omega_SS in PIQS's Dicke-basis representation (a diagonal of length (N/2+1)^2 or so).

    PIQS stores a permutation-invariant state as rho = (+)_j rho_j (x) 1_{d_j}/d_j by the blocks
    rho_j alone (ordering: j = N/2, N/2-1, ..., m = j, j-1, ..., -j); the block *traces* are the
    sector probabilities, tr rho = 1, and <collective O> = tr(O rho_Dicke) (qutip.piqs
    dicke_function_trace divides each block by d_j = state_degeneracy(N, j) to get the eigenvalues).
    A product of identical diagonal spins then has rho_j[m, m] = d_j p^(N/2+m) (1-p)^(N/2-m).
    Log space (lgamma) keeps this finite for large N.
    """
    from math import lgamma, log, exp
    diag = []
    for k in range(N // 2 + 1):
        j = N / 2 - k
        # d_j = C(N, N/2 - j) (2j+1) / (N/2 + j + 1)
        log_dj = (lgamma(N + 1) - lgamma(N / 2 - j + 1) - lgamma(N / 2 + j + 2) + log(2 * j + 1))
        for i in range(int(round(2 * j)) + 1):
            m = j - i
            nu = N / 2 + m
            diag.append(exp(log_dj + nu * log(p_up) + (N - nu) * log(1 - p_up)))
    return np.array(diag)


def dicke_lindbladian_double(N, emission, pumping):
    """PIQS's local emission + pumping Lindbladian, the same formulas, evaluated in double precision.

    qutip.piqs.Dicke.lindbladian() (QuTiP 4.7, qutip/cy/piqs.pyx) stores the rates in C `float`
    variables and evaluates gamma1 (the diagonal decay) and gamma2 (emission j -> j) entirely in
    single precision, so its matrix elements carry relative errors ~1e-7. This rebuild uses the same
    index map (jmm1_dictionary) and the same seven terms gamma1, 2, 3, 4, 7, 8, 9 in double precision;
    it separates PIQS's rounding from any real difference. Target (j, m, m1) is the row; each term is
    evaluated at its source (j', m', m1') as in piqs.pyx.
    """
    import scipy.sparse as sp
    from qutip import Qobj
    from qutip.cy.piqs import jmm1_dictionary, _num_dicke_states
    nds = _num_dicke_states(N)
    _, _, row_of, col_of = jmm1_dictionary(N)
    yE, yP, sqrt = float(emission), float(pumping), math.sqrt

    def g1(j, m, m1):
        return -(yE / 2 * (N + m + m1) + yP / 2 * (N - m - m1))

    def g2(j, m, m1):
        return 0.0 if j <= 0 else yE / 2 * sqrt((j + m) * (j - m + 1) * (j + m1) * (j - m1 + 1)) * (N / 2 + 1) / (j * (j + 1))

    def g3(j, m, m1):
        return 0.0 if j <= 0 else yE / 2 * sqrt((j + m) * (j + m - 1) * (j + m1) * (j + m1 - 1)) * (N / 2 + j + 1) / (j * (2 * j + 1))

    def g4(j, m, m1):
        return yE / 2 * sqrt((j - m + 1) * (j - m + 2) * (j - m1 + 1) * (j - m1 + 2)) * (N / 2 - j) / ((j + 1) * (2 * j + 1))

    def g7(j, m, m1):
        return 0.0 if j <= 0 else yP / 2 * sqrt((j - m - 1) * (j - m) * (j - m1 - 1) * (j - m1)) * (N / 2 + j + 1) / (j * (2 * j + 1))

    def g8(j, m, m1):
        return 0.0 if j <= 0 else yP / 2 * sqrt((j + m + 1) * (j - m) * (j + m1 + 1) * (j - m1)) * (N / 2 + 1) / (j * (j + 1))

    def g9(j, m, m1):
        return yP / 2 * sqrt((j + m + 1) * (j + m + 2) * (j + m1 + 1) * (j + m1 + 2)) * (N / 2 - j) / ((j + 1) * (2 * j + 1))

    terms = [(g1, 0, 0), (g2, 0, 1), (g3, 1, 1), (g4, -1, 1), (g7, 1, -1), (g8, 0, -1), (g9, -1, -1)]
    rows, cols, vals = [], [], []
    for r, (j, m, m1) in row_of.items():
        for f, dj, dm in terms:
            src = (j + dj, m + dm, m1 + dm)
            c = col_of.get(src)
            if c is not None:
                rows.append(r)
                cols.append(c)
                vals.append(f(*src))
    L = sp.csr_matrix((np.array(vals, dtype=complex), (rows, cols)), shape=(nds ** 2, nds ** 2))
    return Qobj(L, dims=[[[nds], [nds]], [[nds], [nds]]])


def worker_piqs(p, atol, rtol, double=False):
    t_import = time.perf_counter()
    qutip = _import_qutip()
    from qutip import piqs
    t0 = time.perf_counter()
    N = p["N"]
    up, tau_m, tau_p, paulis = _central_ops(qutip)
    nds = piqs.num_dicke_states(N)
    Ib = qutip.qeye(nds)
    Jm, Jp, Jz = piqs.jspin(N, "-"), piqs.jspin(N, "+"), piqs.jspin(N, "z")

    # Bath: local emission Gamma_down sigma_-^(k) and pumping Gamma_up sigma_+^(k). PIQS writes its
    # Lindbladian as (gamma_E/2) sum_k (2 A rho A^+ - {A^+A, rho}) with A = sigma_-^(k), i.e.
    # emission = Gamma_down in D[L] = L rho L^+ - {L^+L, rho}/2 with L = sqrt(Gamma_down) sigma_-.
    if double:
        L_bath = dicke_lindbladian_double(N, p["Gamma_down"], p["Gamma_up"])
    else:
        L_bath = piqs.Dicke(N, emission=p["Gamma_down"], pumping=p["Gamma_up"]).lindbladian()
    H_tau = sum(wa * s for wa, s in zip(p["w"], paulis))
    L_central = qutip.liouvillian(H_tau, [math.sqrt(p["gamma_down"]) * tau_m,
                                          math.sqrt(p["gamma_up"]) * tau_p])
    H_int = p["g"] * (qutip.tensor(tau_p, Jm) + qutip.tensor(tau_m, Jp))
    L = (qutip.super_tensor(L_central, qutip.spre(Ib))
         + qutip.super_tensor(qutip.spre(qutip.qeye(2)), L_bath)
         + qutip.liouvillian(H_int))

    diag = omega_ss_dicke(N, p["p_up"])
    rho_b = qutip.Qobj(np.diag(diag) if nds <= 2000 else _sparse_diag(diag), dims=[[nds], [nds]])
    # Checks on the Dicke-basis Omega_SS: trace 1, <J_z> = N(2p-1)/2, stationary under L_bath.
    lb = L_bath.data @ qutip.operator_to_vector(rho_b).full().ravel()
    checks = dict(trace=float(rho_b.tr().real), Jz=float(qutip.expect(Jz, rho_b)),
                  Jz_expected=N * (2 * p["p_up"] - 1) / 2,
                  Lbath_residual=float(np.abs(lb).sum()),
                  Lbath_nnz=int(L_bath.data.nnz), L_nnz=int(L.data.nnz), dim=2 * nds)
    rho0 = qutip.tensor(up * up.dag(), rho_b)

    X = qutip.tensor(qutip.qeye(2), Jm + Jp)
    coo = _moment_ops(qutip, X, [qutip.tensor(s, Ib) for s in paulis], qutip.tensor(qutip.qeye(2), Jp * Jm))
    t1 = time.perf_counter()
    raw = _solve(qutip, L, rho0, time_grid(p), coo, atol, rtol)
    t2 = time.perf_counter()
    return raw, dict(import_s=t0 - t_import, build_s=t1 - t0, solve_s=t2 - t1, **checks)


def _sparse_diag(diag):
    import scipy.sparse as sp
    return sp.diags(diag, format="csr")


def full_space_model(qutip, p):
    """The full 2^(N+1)-dimensional model with local jumps on every spin: H, c_ops (ordered tau_-,
    tau_+, sigma_-^1..N, sigma_+^1..N), the site embedding on(k, op) (site 0 = central spin) and J_-.
    Also used by bench/trajectories_vs_mcsolve.py."""
    N = p["N"]
    _, tau_m, tau_p, paulis = _central_ops(qutip)
    I2 = qutip.qeye(2)

    def on(k, op):  # op on site k of N+1 (site 0 = central spin)
        return qutip.tensor([op if i == k else I2 for i in range(N + 1)])

    sm = [on(k, tau_m) for k in range(1, N + 1)]  # sigma_-^(k) has the same matrix as tau_-
    Jm = sum(sm)
    Jp = Jm.dag()
    H = sum(wa * on(0, s) for wa, s in zip(p["w"], paulis)) + p["g"] * (on(0, tau_p) * Jm + on(0, tau_m) * Jp)
    c_ops = [math.sqrt(p["gamma_down"]) * on(0, tau_m), math.sqrt(p["gamma_up"]) * on(0, tau_p)]
    c_ops += [math.sqrt(p["Gamma_down"]) * s for s in sm] + [math.sqrt(p["Gamma_up"]) * s.dag() for s in sm]
    return H, c_ops, on, Jm


def worker_full(p, atol, rtol):
    """Independent reference: the full 2^(N+1)-dimensional model with local jumps on every spin."""
    qutip = _import_qutip()
    t0 = time.perf_counter()
    N = p["N"]
    up, _, _, paulis = _central_ops(qutip)
    H, c_ops, on, Jm = full_space_model(qutip, p)
    Jp = Jm.dag()
    bath1 = qutip.Qobj(np.diag([p["p_up"], 1 - p["p_up"]]))
    rho0 = qutip.tensor([up * up.dag()] + [bath1] * N)
    L = qutip.liouvillian(H, c_ops)
    coo = _moment_ops(qutip, Jm + Jp, [on(0, s) for s in paulis], Jp * Jm)
    t1 = time.perf_counter()
    raw = _solve(qutip, L, rho0, time_grid(p), coo, atol, rtol)
    t2 = time.perf_counter()
    return raw, dict(build_s=t1 - t0, solve_s=t2 - t1, dim=2 ** (N + 1))


def worker_main(args):
    p = load_params(args.config, args.worker_N)
    try:
        if args.worker == "full":
            raw, info = worker_full(p, args.worker_atol, args.worker_rtol)
        else:
            raw, info = worker_piqs(p, args.worker_atol, args.worker_rtol, double=args.worker == "piqs64")
    except MemoryError:
        sys.exit(EXIT_OOM)
    except Exception as e:  # scipy / C++ allocation failures do not always raise MemoryError
        if "alloc" in str(e).lower() or "memory" in str(e).lower():
            print(f"worker: {type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(EXIT_OOM)
        raise
    np.savez(args.worker_out, info=json.dumps(info), **{k: v for k, v in raw.items()})


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------

def _session_peak_rss_kb(sid):
    """Largest VmHWM (peak RSS, kB) among the processes of session sid, from /proc."""
    best = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            if int(stat[stat.rindex(")") + 2:].split()[3]) != sid:  # field 6: session id
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, float(line.split()[1]))
        except (OSError, ValueError, IndexError):
            continue
    return best


def run_measured(cmd, timeout=None, mem_bytes=None, env=None):
    """Run cmd as a child; return (status, wall_s, cpu_s, peak_rss_mb, stderr).

    Peak RSS and CPU time come from GNU time (/usr/bin/time), which execs cmd in a fresh child:
    os.wait4 on a child forked from this Python process would count the parent's image in ru_maxrss.
    """
    def limit():
        if mem_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))

    full_env = dict(os.environ, **SINGLE_THREAD_ENV, **(env or {}))
    err = tempfile.TemporaryFile()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        proc = subprocess.Popen([GNU_TIME, "-q", "-f", "%M %U %S", "-o", tf.name, *cmd], stdout=subprocess.DEVNULL,
                                stderr=err, env=full_env, preexec_fn=limit, start_new_session=True)
        timed_out, hwm_kb = False, 0.0
        if timeout is None:
            proc.wait()
        else:  # poll, so that a run killed at the deadline still reports a (sampled) peak RSS
            while True:
                try:
                    proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    hwm_kb = max(hwm_kb, _session_peak_rss_kb(proc.pid))
                    if time.perf_counter() - t0 >= timeout:
                        os.killpg(proc.pid, signal.SIGKILL)  # GNU time and the solver share this session
                        proc.wait()
                        timed_out = True
                        break
        wall = time.perf_counter() - t0
        fields = tf.read().split()
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    rc = proc.returncode
    # GNU time writes "Command exited with non-zero status" / "Command terminated by signal" lines first.
    try:
        rss_kb, cpu = float(fields[-3]), float(fields[-2]) + float(fields[-1])
    except (IndexError, ValueError):  # killed: GNU time wrote nothing; use the sampled peak
        rss_kb, cpu = (hwm_kb if hwm_kb > 0 else float("nan")), float("nan")
    if timed_out:
        status = "timeout"
    elif rc == 0:
        status = "ok"
    elif (rc == EXIT_OOM or rc == 128 + signal.SIGKILL or "MemoryError" in stderr or "bad_alloc" in stderr
          or "Cannot allocate memory" in stderr):
        status = "oom"
    else:
        status = "error"
    return status, wall, cpu, rss_kb / 1024.0, stderr


def run_qfluct(args, N, workdir, extra=(), tag="default"):
    out = os.path.join(workdir, f"qfluct_{tag}_N{N}.csv")
    cmd = [args.qfluct, "run", args.config, "--set", f"model.N={N}", *extra,
           "--threads", "1", "--quiet", "-o", out]
    best = None
    for rep in range(args.repeat):
        status, wall, cpu, rss, stderr = run_measured(cmd)
        if status != "ok":
            sys.exit(f"qfluct failed for N={N} ({status}):\n{' '.join(cmd)}\n{stderr}")
        if best is None or wall < best[0]:
            best = (wall, cpu, rss)
        if wall > 1.0:  # repeat only quick runs, where timer noise matters
            break
    data = np.genfromtxt(out, delimiter=",", names=True)
    with open(out[:-4] + ".json") as f:
        side = json.load(f)
    series = {k: data[k] for k in OBSERVABLES}
    return dict(status="ok", wall_s=best[0], cpu_s=best[1], peak_mb=best[2], t=data["t"],
                series=series, sidecar=side)


def run_worker(args, kind, N, workdir, atol, rtol, timeout=None, mem_gib=None):
    out = os.path.join(workdir, f"{kind}_N{N}_tol{atol:g}.npz")
    cmd = [sys.executable, os.path.abspath(__file__), "--config", args.config, "--worker", kind,
           "--worker-N", str(N), "--worker-out", out, "--worker-atol", repr(atol), "--worker-rtol", repr(rtol)]
    status, wall, cpu, rss, stderr = run_measured(
        cmd, timeout=timeout, mem_bytes=int(mem_gib * 2 ** 30) if mem_gib else None)
    res = dict(status=status, outer_wall_s=wall, cpu_s=cpu, peak_mb=rss)
    if status != "ok":
        if status == "error":
            print(f"[{kind} N={N}] failed:\n{stderr[-3000:]}", file=sys.stderr)
        return res
    z = np.load(out)
    info = json.loads(str(z["info"]))
    p = load_params(args.config, N)
    res.update(info)
    res["wall_s"] = info["build_s"] + info["solve_s"]
    res["series"] = derive({k: z[k] for k in z.files if k != "info"}, p)
    return res


def max_diffs(a, b):
    return {k: float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in DIFF_OBS}


def fmt_t(r):
    if r is None:
        return "-"
    if r["status"] == "timeout":
        return f"timeout >{r.get('timeout', 600):.0f} s"
    if r["status"] == "oom":
        return "out of memory"
    if r["status"] in ("skipped", "error"):
        return r["status"]
    return f"{r['wall_s']:.3g}"


def fmt_e(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qfluct", default=os.path.join(REPO, "build", "qfluct"), help="qfluct binary")
    ap.add_argument("--config", default=os.path.join(REPO, "examples", "fig2.toml"))
    ap.add_argument("--N", type=int, nargs="+", default=[10, 20, 40, 80, 160, 320])
    ap.add_argument("--max-N", type=int, default=None, help="skip bath sizes above this")
    ap.add_argument("--fit-min-N", type=int, default=40, help="fit the time exponent over N >= this")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many qfluct runs when a run takes < 1 s")
    ap.add_argument("--no-piqs", action="store_true", help="skip the PIQS comparison")
    ap.add_argument("--piqs-timeout", type=float, default=600.0, help="seconds per PIQS run")
    ap.add_argument("--piqs-mem-gib", type=float, default=16.0, help="address-space limit of a PIQS run")
    ap.add_argument("--piqs-tol", type=float, default=1e-10, help="atol = rtol of PIQS's mesolve")
    ap.add_argument("--full-N", type=int, nargs="*", default=[4, 5], help="N for the full-space accuracy check")
    ap.add_argument("--full-tol", type=float, default=1e-14,
                    help="atol = rtol of the full-space reference (1e-12 leaves errors ~2e-9 in Q4 at N = 5)")
    ap.add_argument("--qfluct-tight", type=float, nargs=2, default=[1e-12, 1e-14], metavar=("RTOL", "ATOL"),
                    help="qfluct's tight tolerances for the checks")
    ap.add_argument("--check-max-N", type=int, default=40,
                    help="cross-check PIQS against qfluct at tight tolerances up to this N")
    ap.add_argument("--check-tol", type=float, default=1e-12, help="atol = rtol of the mesolve cross-checks")
    ap.add_argument("--csv", default=os.path.join(REPO, "bench", "results", "master_vs_piqs.csv"))
    ap.add_argument("--keep", default=None, help="keep the raw time series in this folder")
    # worker mode (internal)
    ap.add_argument("--worker", choices=["piqs", "piqs64", "full"], help=argparse.SUPPRESS)
    ap.add_argument("--worker-N", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--worker-atol", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--worker-rtol", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args)

    args.qfluct = os.path.abspath(args.qfluct)
    args.config = os.path.abspath(args.config)
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} not found: apt-get install -y time")
    if not os.access(args.qfluct, os.X_OK):
        sys.exit(f"no qfluct binary at {args.qfluct} (build it, or pass --qfluct PATH)")
    Ns = sorted(n for n in args.N if args.max_N is None or n <= args.max_N)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    workdir = args.keep or tempfile.mkdtemp(prefix="master_vs_piqs_")
    rows = []
    log = lambda *a: print(*a, file=sys.stderr, flush=True)

    tight = ["--set", f"solver.rtol={args.qfluct_tight[0]:g}", "--set", f"solver.atol={args.qfluct_tight[1]:g}"]
    tight_label = f"rtol={args.qfluct_tight[0]:g} atol={args.qfluct_tight[1]:g}"
    piqs_label = f"atol=rtol={args.piqs_tol:g}"
    check_label = f"atol=rtol={args.check_tol:g}"

    def qfluct_label(r):
        s = r["sidecar"]["parameters"]["solver"]
        return f"rtol={s['rtol']:g} atol={s['atol']:g}"

    def row(section, N, solver, tol, r, reference=None, d=None, **extra):
        out = dict(section=section, N=N, solver=solver, tol=tol, status=r["status"])
        if r["status"] in ("ok", "timeout", "oom"):
            out.update(cpu_s=r.get("cpu_s"), peak_rss_mb=r.get("peak_mb"))
        if r["status"] == "ok":
            out.update(wall_s=r["wall_s"], outer_wall_s=r.get("outer_wall_s"), build_s=r.get("build_s"),
                       solve_s=r.get("solve_s"))
        elif r["status"] == "timeout":
            out.update(wall_s=f">{r['timeout']:g}", outer_wall_s=r.get("outer_wall_s"))
        if d:
            out.update(reference=reference, **{f"dmax_{k}": v for k, v in d.items()})
        out.update(extra)
        rows.append({k: v for k, v in out.items() if v is not None})

    # ---- scaling: qfluct vs PIQS -----------------------------------------------------------
    scaling, checks = [], []
    piqs_stop = None
    for N in Ns:
        p = load_params(args.config, N)
        qf = run_qfluct(args, N, workdir)
        side = qf["sidecar"].get("derived", {})
        assert abs(side.get("g", p["g"]) - p["g"]) < 1e-12 and abs(side.get("eps", p["eps"]) - p["eps"]) < 1e-12
        assert np.allclose(qf["t"], time_grid(p), atol=1e-12)
        log(f"[qfluct N={N}] {qf['wall_s']:.3f} s, cpu {qf['cpu_s']:.2f} s, peak {qf['peak_mb']:.1f} MB")
        row("scaling", N, "qfluct", qfluct_label(qf), qf)
        pq = None
        if not args.no_piqs:
            if piqs_stop:
                pq = dict(status="skipped")
            else:
                pq = run_worker(args, "piqs", N, workdir, args.piqs_tol, args.piqs_tol,
                                timeout=args.piqs_timeout, mem_gib=args.piqs_mem_gib)
                pq["timeout"] = args.piqs_timeout
                if pq["status"] != "ok":
                    piqs_stop = f"{pq['status']} at N={N}"
                log(f"[piqs N={N}] {pq['status']}: {fmt_t(pq)}{' s' if pq['status'] == 'ok' else ''}, "
                    f"cpu {pq['cpu_s']:.1f} s, peak {pq['peak_mb']:.1f} MB"
                    + (f", build {pq['build_s']:.2f} s, solve {pq['solve_s']:.2f} s; Omega_SS checks: trace="
                       f"{pq['trace']:.15f}, <J_z>={pq['Jz']:.12g} (expected {pq['Jz_expected']:.12g}), "
                       f"|L_bath rho_SS|_1={pq['Lbath_residual']:.2e}" if pq["status"] == "ok" else ""))
        d = max_diffs(pq["series"], qf["series"]) if pq and pq["status"] == "ok" else {}
        scaling.append((N, qf, pq, d))
        if pq:
            row("scaling", N, "piqs", piqs_label, pq, "qfluct (same N, config tolerances)", d,
                speedup_vs_qfluct=pq["wall_s"] / qf["wall_s"] if pq["status"] == "ok" else None,
                Lbath_residual=pq.get("Lbath_residual"))

        # Cross-check: where PIQS ran, separate its integrator error and its single precision from
        # any real difference: qfluct at tight tolerances vs PIQS's own formulas in double precision.
        if pq and pq["status"] == "ok" and N <= args.check_max_N:
            qt = run_qfluct(args, N, workdir, tight, tag="tight")
            p64 = run_worker(args, "piqs64", N, workdir, args.check_tol, args.check_tol,
                             timeout=args.piqs_timeout, mem_gib=args.piqs_mem_gib)
            c = dict(N=N, qf_default=max_diffs(qf["series"], qt["series"]), piqs=max_diffs(pq["series"], qt["series"]))
            row("check", N, "qfluct", qfluct_label(qf), qf, "qfluct " + tight_label, c["qf_default"])
            row("check", N, "piqs", piqs_label, pq, "qfluct " + tight_label, c["piqs"])
            if p64["status"] == "ok":
                c["piqs64"] = max_diffs(p64["series"], qt["series"])
                row("check", N, "piqs_formulas_float64", check_label, p64, "qfluct " + tight_label, c["piqs64"],
                    Lbath_residual=p64["Lbath_residual"])
            log(f"[check N={N}] max |dQ4| vs qfluct tight: qfluct default {c['qf_default']['Q4']:.1e}, PIQS "
                f"{c['piqs']['Q4']:.1e}, PIQS formulas float64 {c.get('piqs64', {}).get('Q4', float('nan')):.1e}")
            checks.append(c)

    # ---- accuracy against the full-space reference -----------------------------------------
    accuracy = []
    for N in args.full_N:
        ref = run_worker(args, "full", N, workdir, args.full_tol, args.full_tol)
        if ref["status"] != "ok":
            log(f"[full N={N}] {ref['status']}; accuracy check skipped")
            continue
        log(f"[full N={N}] dim {ref['dim']}, {ref['wall_s']:.2f} s")
        ref_label = f"full 2^{N + 1} qutip.mesolve atol=rtol={args.full_tol:g}"
        qd = run_qfluct(args, N, workdir)
        entries = [("qfluct", qfluct_label(qd), qd),
                   ("qfluct", tight_label, run_qfluct(args, N, workdir, tight, tag="tight"))]
        if not args.no_piqs:
            entries.append(("piqs", piqs_label, run_worker(args, "piqs", N, workdir, args.piqs_tol, args.piqs_tol)))
            entries.append(("piqs", check_label, run_worker(args, "piqs", N, workdir, args.check_tol, args.check_tol)))
            entries.append(("piqs_formulas_float64", check_label,
                            run_worker(args, "piqs64", N, workdir, args.check_tol, args.check_tol)))
        for solver, tol, r in entries:
            if r["status"] != "ok":
                continue
            d = max_diffs(r["series"], ref["series"])
            accuracy.append((N, solver, tol, r, d))
            row("accuracy", N, solver, tol, r, ref_label, d)

    # ---- outputs --------------------------------------------------------------------------
    fit = None
    pts = [(N, qf["wall_s"]) for N, qf, _, _ in scaling if N >= args.fit_min_N]
    if len(pts) >= 2:
        slope, _ = np.polyfit(np.log([a for a, _ in pts]), np.log([b for _, b in pts]), 1)
        fit = (slope, [a for a, _ in pts])
        rows.append(dict(section="fit", N=" ".join(str(a) for a, _ in pts), solver="qfluct", status="ok",
                         fit_exponent=slope))

    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    cols = ["section", "N", "solver", "tol", "status", "wall_s", "cpu_s", "peak_rss_mb", "outer_wall_s", "build_s",
            "solve_s", "speedup_vs_qfluct", "reference"] + [f"dmax_{k}" for k in DIFF_OBS] + \
        ["Lbath_residual", "fit_exponent"]
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else f"{v:.6g}" if isinstance(v, float) else v)
                        for k, v in r.items()})
    log(f"wrote {args.csv}; raw series in {workdir}")

    print(f"qfluct: block master equation, config tolerances, --threads 1. PIQS: qutip.piqs.Dicke + qutip.mesolve, "
          f"{piqs_label}, one thread; PIQS time = building the Liouvillian + mesolve (without Python start-up and "
          f"imports). Differences: max over t of |PIQS - qfluct|.\n")
    print("| N | qfluct s | qfluct peak MB | PIQS s | PIQS peak MB | PIQS/qfluct | max dtau_z | max dq | max dQ4 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for N, qf, pq, d in scaling:
        ok = pq is not None and pq["status"] == "ok"
        pmb, ratio = "-", "-"
        if ok:
            pmb, ratio = f"{pq['peak_mb']:.0f}", f"{pq['wall_s'] / qf['wall_s']:.0f}"
        elif pq is not None and pq["status"] in ("timeout", "oom") and not math.isnan(pq["peak_mb"]):
            pmb = f">= {pq['peak_mb']:.0f} (at kill)"
        if pq is not None and pq["status"] == "timeout":
            ratio = f"> {pq['timeout'] / qf['wall_s']:.0f}"
        print(f"| {N} | {qf['wall_s']:.3g} | {qf['peak_mb']:.0f} | {fmt_t(pq)} | {pmb} | {ratio} | "
              f"{fmt_e(d.get('tau_z'))} | {fmt_e(d.get('q'))} | {fmt_e(d.get('Q4'))} |")
    if fit:
        print(f"\nqfluct wall time ~ N^{fit[0]:.2f} (least-squares fit on log-log axes over N = "
              f"{', '.join(map(str, fit[1]))})")
    if checks:
        print(f"\nCross-check, max over t of |X - qfluct at {tight_label}| (tau_z / Q4):\n")
        print(f"| N | qfluct, config tolerances | PIQS, {piqs_label} | PIQS formulas in float64, {check_label} |")
        print("|---:|---:|---:|---:|")
        for c in checks:
            cell = lambda k: (f"{fmt_e(c[k]['tau_z'])} / {fmt_e(c[k]['Q4'])}" if k in c else "-")
            print(f"| {c['N']} | {cell('qf_default')} | {cell('piqs')} | {cell('piqs64')} |")
    if accuracy:
        print(f"\nAccuracy against the full 2^(N+1)-dimensional model (qutip.mesolve, atol=rtol={args.full_tol:g}),"
              " max over t:\n")
        print("| N | solver | tolerances | max dtau_z | max dq | max dQ2 | max dQ4 | max dn |")
        print("|---:|---|---|---:|---:|---:|---:|---:|")
        for N, solver, tol, r, d in accuracy:
            print(f"| {N} | {solver} | {tol} | {fmt_e(d['tau_z'])} | {fmt_e(d['q'])} | {fmt_e(d['Q2'])} | "
                  f"{fmt_e(d['Q4'])} | {fmt_e(d['n'])} |")


if __name__ == "__main__":
    main()
