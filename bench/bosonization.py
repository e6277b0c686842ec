#!/usr/bin/python3
"""Benchmark: bosonization of mesoscopic reservoirs (issue 12; Fantechi & Merkli, PRL 136, 060402).

Measures qfluct's CLI (`qfluct run CONFIG --threads 1`, each run a child process under GNU time for
the peak RSS; wall time of the whole command, best of --repeat when under 1 s) on four model
families, all with t in [0, 10] and output every 0.05 (201 times), ODE tolerances rtol = 1e-10,
atol = 1e-12 unless said otherwise:

  qubit      the paper's qubit example (the issue's config): S a qubit (index 0 = up),
             H_S = 0.55 sigma_z, rho_S(0) = [[0.7, 0.3-0.2i], [0.3+0.2i, 0.3]], h_R = |up><up|,
             rho_R = 0.2|up><up| + 0.8|down><down|, G = 0.5|down><up|, v = |up><down|.
  pure(d_R)  d_R-level components, pure rho_R = |0><0|, h_R = diag(0, 1, 1.5, 2.2, 2.9)[:d_R],
             v_q = |q><0| (q = 1 .. d_R - 1) with G_q = 0.5 sigma_x, 0.3 sigma_z, 0.4 sigma_y,
             0.2 sigma_x on the same qubit S (d_R = 3 is the qutrit of the goal).
  nd         a nondemolition model with nine modes: qutrit components, h_R = diag(0, 1, 2.3),
             thermal rho_R (beta = 1, full rank), v = A - tr(rho_R A) 1 with every entry of A
             nonzero (all transitions, diagonal ones included), H_S = 0.55 sigma_z,
             G = diag(0.5, -0.3).

Parts (each can be skipped):

  goals    the issue's four goals, timed, with peak RSS, and each checked against a reference:
           qubit S + F (bosonized, two modes) vs a 100x tighter qfluct run and vs QuTiP sesolve on
           S + F with larger Fock cutoffs; finite M = 4096 by Dicke sectors vs an exact closed form
           (the exchange coupling conserves N_up(S) + N_up(R): 2x2 blocks per rung of every Dicke
           sector, evaluated here in numpy); the symmetric subspace at M = 262144 (pure(3)) vs a
           100x tighter run and vs QuTiP sesolve on the symmetric subspace built here with twice
           qfluct's quanta cutoff; nd by the bosonized closed form and at finite M = 1e6 (method
           nondemolition) vs numpy: d_mn(t)^M from scipy expm, and the M -> infinity limit from the
           second-order (Duhamel) expansion of d_mn done here in closed form.
  scaling  time and peak RSS against M (full, symmetric, dicke, nondemolition) and against d_R
           (symmetric at M = 2^18 and bosonized S + F for pure(d_R)), with least-squares exponents.
  qutip    the finite-M references against qutip.mesolve on the full tensor space S (x) R^(x)M
           (qutip.tensor of the local operators): qubit (mixed rho_R, density matrix) for qfluct
           full and dicke, pure(3) (the pure components of rho_S, kets) for qfluct full and
           symmetric. QuTiP runs in a child process (timed around the model build and mesolve,
           imports excluded), single threaded, at the same tolerances as qfluct.

Usage (repository root; QuTiP needs Debian's /usr/bin/python3 and python3-qutip):
  /usr/bin/python3 bench/bosonization.py --qfluct build/qfluct             # everything, ~10 min
  /usr/bin/python3 bench/bosonization.py --parts goals                     # one part
  /usr/bin/python3 bench/bosonization.py --quick                           # smaller ranges, ~2 min

Output: Markdown tables on stdout, bench/results/bosonization_{goals,scaling,fits,qutip}.csv.
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
from master_vs_piqs import REPO, run_measured  # noqa: E402  (GNU time, single-thread env)
from machine import describe  # noqa: E402  (bench/machine.py)

T_END, DT = 10.0, 0.05
DEFAULT_TOL = dict(rtol=1e-10, atol=1e-12)
TIGHT_TOL = dict(rtol=1e-12, atol=1e-14)  # 100x tighter
GOALS = {"qubit_SF": 5.0, "qubit_dicke_4096": 30.0, "pure3_symmetric_262144": 30.0,
         "nd_bosonized": 1.0, "nd_finite_1e6": 1.0}


def times():
    return np.arange(int(round(T_END / DT)) + 1) * DT


# ----------------------------------------------------------------------------------------------
# Models: plain dicts of numpy matrices, written as qfluct TOML and sent to the QuTiP workers
# ----------------------------------------------------------------------------------------------

SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]])
SZ = np.diag([1.0, -1.0]).astype(complex)
RHO_S0 = np.array([[0.7, 0.3 - 0.2j], [0.3 + 0.2j, 0.3]])


def qubit_model():
    return dict(name="qubit", H=0.55 * SZ, initial=RHO_S0, h=np.diag([1.0, 0.0]).astype(complex),
                rho=np.diag([0.2, 0.8]).astype(complex),
                couplings=[(np.array([[0, 0], [0.5, 0]], complex), np.array([[0, 1], [0, 0]], complex))])


def pure_model(dR):
    E = [0.0, 1.0, 1.5, 2.2, 2.9][:dR]
    Gs = [0.5 * SX, 0.3 * SZ, 0.4 * SY, 0.2 * SX]
    rho = np.zeros((dR, dR), complex)
    rho[0, 0] = 1
    cps = []
    for q in range(1, dR):
        v = np.zeros((dR, dR), complex)
        v[q, 0] = 1
        cps.append((Gs[q - 1], v))
    return dict(name=f"pure{dR}", H=0.55 * SZ, initial=RHO_S0, h=np.diag(E).astype(complex), rho=rho, couplings=cps)


def nd_model():
    E = np.array([0.0, 1.0, 2.3])
    p = np.exp(-E) / np.exp(-E).sum()
    rho = np.diag(p).astype(complex)
    A = np.array([[0.3, 1.0, 0.5], [0.7, -0.2, 0.4], [0.2, 0.6, 0.1]], complex)
    v = A - np.trace(rho @ A) * np.eye(3)
    return dict(name="nd", H=0.55 * SZ, initial=RHO_S0, h=np.diag(E).astype(complex), rho=rho,
                couplings=[(np.diag([0.5, -0.3]).astype(complex), v)])


def toml_matrix(A):
    def entry(z):
        z = complex(z)
        return repr(z.real) if z.imag == 0 else f"[{z.real!r}, {z.imag!r}]"
    return "[" + ", ".join("[" + ", ".join(entry(z) for z in row) + "]" for row in np.asarray(A)) + "]"


def write_config(path, model, kind, M=None, method=None, tol=DEFAULT_TOL, fock_tol=None):
    lines = ["[model]", f'kind = "{kind}"']
    if fock_tol is not None:
        lines.append(f"fock_tol = {fock_tol!r}")
    lines += ["[system]", f"H = {toml_matrix(model['H'])}", f"initial = {toml_matrix(model['initial'])}",
              "[reservoir]", f"h = {toml_matrix(model['h'])}", f"rho = {toml_matrix(model['rho'])}"]
    if M is not None:
        lines.append(f"M = {int(M)}")
    for G, v in model["couplings"]:
        lines += ["[[reservoir.coupling]]", f"G = {toml_matrix(G)}", f"v = {toml_matrix(v)}"]
    lines += ["[solver]", f"rtol = {tol['rtol']!r}", f"atol = {tol['atol']!r}"]
    if method:
        lines.append(f'reservoir_method = "{method}"')
    lines += ["[output]", f"t_end = {T_END!r}", f"dt = {DT!r}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def model_json(model):
    def enc(A):
        A = np.asarray(A, complex)
        return [A.real.tolist(), A.imag.tolist()]
    return dict(name=model["name"], H=enc(model["H"]), initial=enc(model["initial"]), h=enc(model["h"]),
                rho=enc(model["rho"]), couplings=[[enc(G), enc(v)] for G, v in model["couplings"]])


def model_from_json(d):
    dec = lambda p: np.array(p[0]) + 1j * np.array(p[1])  # noqa: E731
    return dict(name=d["name"], H=dec(d["H"]), initial=dec(d["initial"]), h=dec(d["h"]), rho=dec(d["rho"]),
                couplings=[(dec(G), dec(v)) for G, v in d["couplings"]])


# ----------------------------------------------------------------------------------------------
# Running qfluct
# ----------------------------------------------------------------------------------------------

def read_rho(csv_path, d):
    with open(csv_path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(csv_path, delimiter=",", skiprows=1, ndmin=2)
    col = {name: i for i, name in enumerate(header)}
    rho = np.zeros((data.shape[0], d, d), complex)
    for a in range(d):
        for b in range(d):
            rho[:, a, b] = data[:, col[f"rho_{a}{b}_re"]] + 1j * data[:, col[f"rho_{a}{b}_im"]]
    return data[:, col["t"]], rho


class Runner:
    def __init__(self, args, workdir):
        self.args, self.workdir, self.count = args, workdir, 0

    def qfluct(self, model, kind, M=None, method=None, tol=DEFAULT_TOL, fock_tol=None, repeat=None):
        """One qfluct run (best wall time of `repeat` when under 1 s). Returns a dict with status,
        wall_s, cpu_s, peak_mb, rho (T x d x d), info (sidecar "solver"), derived."""
        self.count += 1
        tag = f"{self.count:04d}_{model['name']}_{kind}_{method or 'auto'}_{M or 'inf'}"
        cfg, out = os.path.join(self.workdir, tag + ".toml"), os.path.join(self.workdir, tag + ".csv")
        write_config(cfg, model, kind, M, method, tol, fock_tol)
        cmd = [self.args.qfluct, "run", cfg, "--threads", "1", "--quiet", "-o", out]
        best = None
        for _ in range(repeat or self.args.repeat):
            status, wall, cpu, rss, stderr = run_measured(cmd)
            if status != "ok":
                return dict(status=status, wall_s=wall, cpu_s=cpu, peak_mb=rss, error=stderr.strip()[-400:],
                            config=cfg)
            if best is None or wall < best["wall_s"]:
                best = dict(status="ok", wall_s=wall, cpu_s=cpu, peak_mb=rss, config=cfg)
            if wall >= 1.0:
                break
        with open(os.path.join(self.workdir, tag + ".json")) as f:
            side = json.load(f)
        best["t"], best["rho"] = read_rho(out, model["H"].shape[0])
        best["info"], best["derived"] = side.get("solver", {}), side.get("derived", {})
        return best

    def worker(self, name, payload, timeout=None):
        """A QuTiP / numpy reference in a child process under GNU time."""
        self.count += 1
        base = os.path.join(self.workdir, f"{self.count:04d}_worker_{name}")
        with open(base + ".in.json", "w") as f:
            json.dump(payload, f)
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--worker-in", base + ".in.json",
               "--worker-out", base + ".npz"]
        status, wall, cpu, rss, stderr = run_measured(cmd, timeout=timeout)
        res = dict(status=status, outer_wall_s=wall, cpu_s=cpu, peak_mb=rss)
        if status != "ok":
            res["error"] = stderr.strip()[-400:]
            return res
        z = np.load(base + ".npz")
        res["rho"], res["solver_s"] = z["rho"], float(z["solver_s"])
        return res


def maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ----------------------------------------------------------------------------------------------
# References computed in numpy (this process; no qfluct code)
# ----------------------------------------------------------------------------------------------

def exchange_reference(M, tgrid, eS=0.55, w=1.0, g=0.5, p_up=0.2, cut=1e-22):
    """The qubit example at finite M, exactly: H = eS sz + w N_up(R) + (g/sqrt M)(|dn><up| J_+ + h.c.)
    conserves N_up(S) + N_up(R), so in Dicke sector j the pairs {|up,m>, |dn,m+1>} are 2x2 blocks.
    rho_R^(x)M gives |j,m> (each of its d_j copies) weight p_up^(M/2+m) p_dn^(M/2-m). (j, m) of
    relative weight below `cut` are dropped (their total is reported)."""
    from scipy.special import gammaln
    p_dn = 1 - p_up
    r0 = RHO_S0
    js = np.arange(M % 2 / 2.0, M / 2.0 + 0.25, 1.0)
    J, Mm = [], []
    for j in js:
        ms = np.arange(-j, j + 0.5)
        J.append(np.full(ms.shape, j))
        Mm.append(ms)
    J, Mm = np.concatenate(J), np.concatenate(Mm)
    k = M / 2 - J  # C(M, M/2 - j)
    logd = np.log(2 * J + 1) - np.log(M / 2 + J + 1) + gammaln(M + 1) - gammaln(k + 1) - gammaln(M - k + 1)
    logW = logd + (M / 2 + Mm) * math.log(p_up) + (M / 2 - Mm) * math.log(p_dn)
    W = np.exp(logW - logW.max())
    keep = W > cut
    dropped = W[~keep].sum() / W.sum()
    J, Mm, W = J[keep], Mm[keep], W[keep] / W[keep].sum()

    def block(mb, t):
        # block {|up, mb>, |dn, mb+1>}: diag A = eS + w(M/2+mb), B = -eS + w(M/2+mb+1), off c
        A = eS + w * (M / 2 + mb)
        B = -eS + w * (M / 2 + mb + 1)
        c = g / math.sqrt(M) * np.sqrt(np.maximum(J * (J + 1) - mb * (mb + 1), 0.0))
        half, mid = (A - B) / 2, (A + B) / 2
        Om = np.sqrt(half ** 2 + c ** 2)
        ph = np.exp(-1j * mid * t)
        co, sn = np.cos(Om * t), t * np.sinc(Om * t / np.pi)  # sin(Om t)/Om
        U00 = ph * (co - 1j * sn * half)
        U11 = ph * (co + 1j * sn * half)
        U01 = ph * (-1j * sn * c)
        return U00, U01, U11

    out = np.zeros((len(tgrid), 2, 2), complex)
    for i, t in enumerate(tgrid):
        a, _, _ = block(Mm, t)              # U|up,m>  = a |up,m> + ...
        _, cp, dp = block(Mm - 1, t)        # U|dn,m>  = cp |up,m-1> + dp |dn,m>
        b = block(Mm, t)[1]                 # U|up,m> component on |dn,m+1> (U10 = U01)
        uu = r0[0, 0] * np.abs(a) ** 2 + r0[1, 1] * np.abs(cp) ** 2
        dd = r0[0, 0] * np.abs(b) ** 2 + r0[1, 1] * np.abs(dp) ** 2
        ud = r0[0, 1] * a * np.conj(dp)
        out[i] = [[np.dot(W, uu), np.dot(W, ud)], [np.dot(W, np.conj(ud)), np.dot(W, dd)]]
    return out, dict(pairs=int(keep.sum()), dropped_weight=float(dropped))


def nd_reference(model, tgrid, M=None):
    """Nondemolition coherence of a qubit S with H_S, G diagonal. M finite: d(t)^M with
    d = tr(rho_R e^{i h_1 t} e^{-i h_0 t}) from scipy expm (M log d evaluated with log1p). M None:
    the M -> infinity limit exp(c2), c2 = tr rho_R (A_1 A_0 - B_0 - B_1^+) from the second-order
    Duhamel expansion of U_j = e^{i h_R t} e^{-i h_j t} (the first order vanishes, tr rho v = 0),
    with A_j, B_j integrated in closed form in the (diagonal) eigenbasis of h_R."""
    from scipy.linalg import expm
    e = np.real(np.diag(model["H"]))
    hR, rho = model["h"], model["rho"]
    E = np.real(np.diag(hR))
    assert np.allclose(hR, np.diag(E)) and np.allclose(model["H"], np.diag(e))
    Ws = []
    for j in range(2):
        W = np.zeros_like(hR)
        for G, v in model["couplings"]:
            g = G[j, j]
            W += g * v + np.conj(g) * v.conj().T
        Ws.append(W)
    out = np.zeros((len(tgrid), 2, 2), complex)
    r0 = model["initial"]

    def phi1(a, t):
        return t if abs(a) < 1e-12 else (np.exp(1j * a * t) - 1) / (1j * a)

    def phi2(a, t):  # int_0^t s e^{ias} ds
        return t * t / 2 if abs(a) < 1e-12 else t * np.exp(1j * a * t) / (1j * a) + (np.exp(1j * a * t) - 1) / a ** 2

    def I2(a, b, t):  # int_0^t ds e^{ias} int_0^s ds' e^{ibs'}
        return phi2(a, t) if abs(b) < 1e-12 else (phi1(a + b, t) - phi1(a, t)) / (1j * b)

    n = len(E)
    for i, t in enumerate(tgrid):
        if M is not None:
            lam = 1 / math.sqrt(M)
            U = expm(1j * (hR + lam * Ws[1]) * t) @ expm(-1j * (hR + lam * Ws[0]) * t)
            d = np.trace(rho @ U)
            D = np.exp(M * np.log1p(d - 1))
        else:
            A = [np.array([[Ws[j][k, l] * phi1(E[k] - E[l], t) for l in range(n)] for k in range(n)]) for j in range(2)]
            B = [np.array([[sum(Ws[j][k, r] * Ws[j][r, l] * I2(E[k] - E[r], E[r] - E[l], t) for r in range(n))
                            for l in range(n)] for k in range(n)]) for j in range(2)]
            D = np.exp(np.trace(rho @ (A[1] @ A[0] - B[0] - B[1].conj().T)))
        # rho_01(t) = rho_01(0) e^{-i(e_0 - e_1)t} D_01, D_01 = tr(rho_R e^{i h_1 t} e^{-i h_0 t})^M
        c = r0[0, 1] * np.exp(-1j * (e[0] - e[1]) * t) * D
        out[i] = [[r0[0, 0], c], [np.conj(c), r0[1, 1]]]
    return out


# ----------------------------------------------------------------------------------------------
# Workers (child processes): QuTiP references
# ----------------------------------------------------------------------------------------------

def _qutip():
    import qutip
    qutip.settings.num_cpus = 1
    return qutip


def _pure_components(rho, tol=1e-14):
    w, V = np.linalg.eigh(rho)
    return [(float(w[i]), V[:, i]) for i in range(len(w)) if w[i] > tol]


def _solve_components(qt, H, comps_S, env_state, dS, dE, tlist, tol):
    """sum_i w_i Tr_E |psi_i(t)><psi_i(t)| with psi_i = phi_i (x) env_state, by qutip.mesolve (kets)."""
    opts = qt.Options(atol=tol["atol"], rtol=tol["rtol"], nsteps=10 ** 7, use_openmp=False)
    out = np.zeros((len(tlist), dS, dS), complex)
    for w, phi in comps_S:
        psi0 = qt.Qobj(np.kron(phi, env_state).reshape(-1, 1), dims=[H.dims[0], [1] * len(H.dims[0])])
        rec = []
        qt.mesolve(H, psi0, tlist, [], lambda t, psi: rec.append(psi.full().reshape(dS, dE)), options=opts,
                   progress_bar=None)
        for i, X in enumerate(rec):
            out[i] += w * (X @ X.conj().T)
    return out


def _full_space_hamiltonian(qt, model, M):
    dS, dR = model["H"].shape[0], model["h"].shape[0]
    IS, IR = qt.qeye(dS), qt.qeye(dR)

    def on(k, op):  # op on component k (1..M), identity elsewhere; S first
        return qt.tensor([IS] + [qt.Qobj(op) if i == k else IR for i in range(1, M + 1)])

    H = qt.tensor([qt.Qobj(model["H"])] + [IR] * M)
    for k in range(1, M + 1):
        H += on(k, model["h"])
    lam = 1 / math.sqrt(M)
    for G, v in model["couplings"]:
        Gf = qt.tensor([qt.Qobj(G)] + [IR] * M)
        X = sum(on(k, v) for k in range(1, M + 1))
        H += lam * (Gf * X + (Gf * X).dag())
    return H


def worker_full(p):
    """S (x) R^(x)M with qutip.tensor; mixed rho_R: mesolve on the density matrix; pure: kets."""
    qt = _qutip()
    model, M, tol = model_from_json(p["model"]), p["M"], p["tol"]
    tlist = times()
    t0 = time.perf_counter()
    dS, dR = model["H"].shape[0], model["h"].shape[0]
    dE = dR ** M
    H = _full_space_hamiltonian(qt, model, M)
    comps_R = _pure_components(model["rho"])
    if len(comps_R) == 1:
        env = comps_R[0][1]
        for _ in range(M - 1):
            env = np.kron(env, comps_R[0][1])
        rho = _solve_components(qt, H, _pure_components(model["initial"]), env, dS, dE, tlist, tol)
    else:
        rho0 = qt.tensor([qt.Qobj(model["initial"])] + [qt.Qobj(model["rho"])] * M)
        opts = qt.Options(atol=tol["atol"], rtol=tol["rtol"], nsteps=10 ** 7, use_openmp=False)
        rec = []

        def red(t, r):
            R = r.full().reshape(dS, dE, dS, dE)
            rec.append(np.einsum("aibi->ab", R))
        qt.mesolve(H, rho0, tlist, [], red, options=opts, progress_bar=None)
        rho = np.array(rec)
    return rho, time.perf_counter() - t0


def _compositions(total_max, parts):
    """All tuples of `parts` nonnegative ints with sum <= total_max."""
    if parts == 0:
        yield ()
        return
    for n in range(total_max + 1):
        for rest in _compositions(total_max - n, parts - 1):
            yield (n,) + rest


def worker_symmetric(p):
    """Pure rho_R = |0><0|, v_q = |q><0|: the symmetric subspace with at most K quanta outside level
    0, states |n_1..n_{d-1}>, b_q^+ b_0 |n> = sqrt((n_q + 1) n_0) |n + e_q>, n_0 = M - sum n."""
    import scipy.sparse as sp
    qt = _qutip()
    model, M, K, tol = model_from_json(p["model"]), p["M"], p["K"], p["tol"]
    tlist = times()
    t0 = time.perf_counter()
    dS, dR = model["H"].shape[0], model["h"].shape[0]
    E = np.real(np.diag(model["h"]))
    states = list(_compositions(min(K, M), dR - 1))
    index = {s: i for i, s in enumerate(states)}
    D = len(states)
    HR = sp.diags([sum(E[q + 1] * s[q] for q in range(dR - 1)) + E[0] * (M - sum(s)) for s in states])
    lam = 1 / math.sqrt(M)
    H = sp.kron(sp.csr_matrix(model["H"]), sp.identity(D)) + sp.kron(sp.identity(dS), HR)
    for q, (G, v) in enumerate(model["couplings"]):
        rows, cols, vals = [], [], []
        for s, i in index.items():
            up = s[:q] + (s[q] + 1,) + s[q + 1:]
            if up in index:
                rows.append(index[up])
                cols.append(i)
                vals.append(math.sqrt((s[q] + 1) * (M - sum(s))))
        X = sp.csr_matrix((vals, (rows, cols)), shape=(D, D))  # sum_m v_q^[m] = b_q^+ b_0
        V = lam * sp.kron(sp.csr_matrix(G), X)
        H = H + V + V.conj().T
    Hq = qt.Qobj(H.tocsr(), dims=[[dS, D], [dS, D]])
    env = np.zeros(D, complex)
    env[index[(0,) * (dR - 1)]] = 1
    rho = _solve_components(qt, Hq, _pure_components(model["initial"]), env, dS, D, tlist, tol)
    return rho, time.perf_counter() - t0


def worker_sf(p):
    """S + F from qfluct's sidecar modes (omega_i, X_q coefficients), Fock cutoffs p['cutoffs']:
    H = H_S + sum_i omega_i a_i^+ a_i + sum_q (G_q (x) X_q + h.c.), F in the vacuum."""
    qt = _qutip()
    model, tol, modes, cut = model_from_json(p["model"]), p["tol"], p["modes"], p["cutoffs"]
    tlist = times()
    t0 = time.perf_counter()
    dS = model["H"].shape[0]
    n = len(modes)
    ids = [qt.qeye(c + 1) for c in cut]

    def a(i):
        return qt.tensor([qt.qeye(dS)] + [qt.destroy(cut[k] + 1) if k == i else ids[k] for k in range(n)])

    aa = [a(i) for i in range(n)]
    H = qt.tensor([qt.Qobj(model["H"])] + ids)
    for i, m in enumerate(modes):
        H += m["omega"] * aa[i].dag() * aa[i]
    for q, (G, _) in enumerate(model["couplings"]):
        X = 0
        for i, m in enumerate(modes):
            ca = complex(*m["X"][q]["a"])
            cd = complex(*m["X"][q]["a_dag"])
            X = X + ca * aa[i] + cd * aa[i].dag()
        Gf = qt.tensor([qt.Qobj(G)] + ids)
        H += Gf * X + (Gf * X).dag()
    dE = int(np.prod([c + 1 for c in cut]))
    vac = np.zeros(dE, complex)
    vac[0] = 1
    rho = _solve_components(qt, H, _pure_components(model["initial"]), vac, dS, dE, tlist, tol)
    return rho, time.perf_counter() - t0


def worker_main(args):
    with open(args.worker_in) as f:
        p = json.load(f)
    fn = dict(full=worker_full, symmetric=worker_symmetric, sf=worker_sf)[args.worker]
    rho, solver_s = fn(p)
    np.savez(args.worker_out, rho=rho, solver_s=solver_s)


# ----------------------------------------------------------------------------------------------
# Parts
# ----------------------------------------------------------------------------------------------

def fmt_t(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else (f"{x:.3g}" if x < 100 else f"{x:.0f}")


def fmt_e(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1e}"


def part_goals(R, rows):
    tg = times()
    print("\n## Goals (1 thread, t in [0, 10], dt = 0.05; wall time of the whole command)\n")
    print("| goal | config | wall s | CPU s | peak RSS MB | goal s | met | accuracy check | max abs diff | notes |")
    print("|---|---|---:|---:|---:|---:|---|---|---:|---|")

    def record(goal, cfg, r, check, diff, extra=""):
        met = r["status"] == "ok" and r["wall_s"] < GOALS[goal]
        rows.append(dict(goal=goal, config=cfg, status=r["status"], wall_s=r.get("wall_s"), cpu_s=r.get("cpu_s"),
                         peak_mb=r.get("peak_mb"), goal_s=GOALS[goal], met=met, check=check, max_abs_diff=diff,
                         notes=extra))
        print(f"| {goal} | {cfg} | {fmt_t(r.get('wall_s'))} | {fmt_t(r.get('cpu_s'))} | {fmt_t(r.get('peak_mb'))} | "
              f"{GOALS[goal]:g} | {'yes' if met else 'NO'} | {check} | {fmt_e(diff)} | {extra} |")
        if r["status"] != "ok":
            print(f"|  | error: {r.get('error', '')[:200]} |||||||")
        sys.stdout.flush()

    # 1. qubit example, S + F
    qm = qubit_model()
    r = R.qfluct(qm, "bosonized")
    rt = R.qfluct(qm, "bosonized", tol=TIGHT_TOL, fock_tol=1e-12)
    cuts = [m["fock_cutoff"] for m in r["derived"].get("modes", [])]
    modes = r["info"]["fluctuation_reservoir"]["modes"]
    ref = R.worker("sf", dict(model=model_json(qm), tol=TIGHT_TOL, modes=modes, cutoffs=[c + 8 for c in cuts]))
    cfg = f"bosonized, 2 modes, cutoffs {cuts}, dim {r['info'].get('dimension')}"
    record("qubit_SF", cfg, r, "100x tighter rtol/atol, fock_tol 1e-12", maxdiff(r["rho"], rt["rho"]))
    if ref["status"] == "ok":
        record("qubit_SF", cfg, r, f"QuTiP sesolve S+F, cutoffs {[c + 8 for c in cuts]}, rtol 1e-12 atol 1e-14 "
               f"({ref['solver_s']:.1f} s)", maxdiff(r["rho"], ref["rho"]))
    sf_qubit = r["rho"]

    # 2. qubit example, M = 4096, Dicke sectors
    r = R.qfluct(qm, "finite_reservoir", M=4096, method="dicke")
    if r["status"] == "ok":
        t0 = time.perf_counter()
        ex, exinfo = exchange_reference(4096, tg)
        ex_s = time.perf_counter() - t0
        i = r["info"]
        cfg = (f"dicke, M = 4096, {i.get('sectors_used')}/{i.get('sectors_total')} sectors, window "
               f"{i.get('largest_window')}, {i.get('evolution')}")
        record("qubit_dicke_4096", cfg, r, f"exact 2x2-block closed form ({exinfo['pairs']} (j,m), numpy {ex_s:.1f} s)",
               maxdiff(r["rho"], ex), extra=f"|rho(M=4096) - rho(S+F)|max = {maxdiff(r['rho'], sf_qubit):.2e}")
    else:
        record("qubit_dicke_4096", "dicke, M = 4096", r, "-", None)

    # 3. pure qutrit, M = 2^18, symmetric subspace
    pm = pure_model(3)
    r = R.qfluct(pm, "finite_reservoir", M=262144, method="symmetric")
    if r["status"] == "ok":
        rt = R.qfluct(pm, "finite_reservoir", M=262144, method="symmetric", tol=TIGHT_TOL)
        K = int(r["info"]["quanta_cutoff"])
        cfg = (f"symmetric, M = 262144, quanta cutoff {K} (tried {r['info'].get('cutoffs_tried')}), dim "
               f"{r['info'].get('dimension')}, top pop {r['info'].get('top_population', float('nan')):.1e}")
        record("pure3_symmetric_262144", cfg, r, "100x tighter rtol/atol", maxdiff(r["rho"], rt["rho"]))
        ref = R.worker("symmetric", dict(model=model_json(pm), M=262144, K=2 * K, tol=TIGHT_TOL))
        if ref["status"] == "ok":
            record("pure3_symmetric_262144", cfg, r, f"QuTiP sesolve, own symmetric subspace, cutoff {2 * K}, "
                   f"rtol 1e-12 atol 1e-14 ({ref['solver_s']:.1f} s)", maxdiff(r["rho"], ref["rho"]))
    else:
        record("pure3_symmetric_262144", "symmetric, M = 262144", r, "-", None)

    # 4. nondemolition, nine modes
    nm = nd_model()
    r = R.qfluct(nm, "bosonized", method="nondemolition")
    if r["status"] == "ok":
        nmodes = len(r["info"].get("fluctuation_reservoir", {}).get("modes", []))
        ref = nd_reference(nm, tg)
        record("nd_bosonized", f"bosonized closed form, {nmodes} modes", r,
               "M -> inf limit of d(t)^M, 2nd-order Duhamel in numpy", maxdiff(r["rho"], ref))
        nd_inf = r["rho"]
    else:
        record("nd_bosonized", "bosonized closed form", r, "-", None)
        nd_inf = None
    r = R.qfluct(nm, "finite_reservoir", M=10 ** 6, method="nondemolition")
    if r["status"] == "ok":
        ref = nd_reference(nm, tg, M=10 ** 6)
        extra = "" if nd_inf is None else f"|rho(M=1e6) - rho(S+F)|max = {maxdiff(r['rho'], nd_inf):.2e}"
        record("nd_finite_1e6", "finite M = 1e6, nondemolition", r, "tr(rho_R e^{ih_1t}e^{-ih_0t})^M, scipy expm",
               maxdiff(r["rho"], ref), extra=extra)
    else:
        record("nd_finite_1e6", "finite M = 1e6, nondemolition", r, "-", None)


def fit_exponent(xs, ys):
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    ok = np.isfinite(xs) & np.isfinite(ys) & (ys > 0) & (xs > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs[ok]), np.log(ys[ok]), 1)[0])


def add_fits(fits, name, variable, xs, ts, cs, ms, upper_half=True, exponential=False):
    """Least-squares exponents a of wall time, CPU time and peak RSS ~ x^a (log-log axes), or with
    exponential=True the factor b per unit of x (y ~ b^x), over the upper half of the points
    (below, process start-up, ~5 ms and ~10 MB, dominates)."""
    if len(xs) < 3:
        return
    top = max(2, len(xs) // 2) if upper_half else len(xs)
    sl = slice(len(xs) - top, len(xs))
    X = np.exp(np.asarray(xs[sl], float)) if exponential else xs[sl]  # log(e^M) = M: the slope is ln b
    tr = (lambda a: math.exp(a)) if exponential else (lambda a: a)
    fits.append(dict(series=name, variable=variable, law="y ~ b^x, b given" if exponential else "y ~ x^a, a given",
                     range=f"{xs[sl][0]:g}..{xs[sl][-1]:g}",
                     time_exponent=tr(fit_exponent(X, ts[sl])), cpu_exponent=tr(fit_exponent(X, cs[sl])),
                     memory_exponent=tr(fit_exponent(X, ms[sl]))))


def part_scaling(R, args, rows, fits):
    print("\n## Time and memory against M and d_R (1 thread, wall of the whole command)\n")
    print("| series | method | M | d_R | wall s | CPU s | peak RSS MB | size | notes |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    qm, pm, nm = qubit_model(), pure_model(3), nd_model()
    q = args.quick
    series = [
        ("qubit_full", qm, "full", list(range(2, (7 if q else args.full_mixed_max_M) + 1)),
         lambda i: f"dim {i.get('dimension')}, {i.get('evolution')}"),
        ("pure3_full", pm, "full", list(range(2, (8 if q else args.full_pure_max_M) + 1)),
         lambda i: f"dim {i.get('dimension')}, {i.get('evolution')}"),
        ("pure3_symmetric", pm, "symmetric", [2 ** k for k in range(3, 19, 3 if q else 1)],
         lambda i: f"K {i.get('quanta_cutoff')}, dim {i.get('dimension')}"),
        ("qubit_dicke", qm, "dicke", [2 ** k for k in range(3, (15 if q else args.dicke_max_log2) + 1, 3 if q else 1)],
         lambda i: f"{i.get('sectors_used')} sectors, window {i.get('largest_window')}"),
        ("nd_nondemolition", nm, "nondemolition", [2 ** k for k in (3, 10, 20)] + [10 ** 6, 10 ** 9, 10 ** 12],
         lambda i: ""),
    ]
    for name, model, method, Ms, describe in series:
        xs, ts, cs, ms, ds = [], [], [], [], []
        for M in Ms:
            r = R.qfluct(model, "finite_reservoir", M=M, method=method)
            dR = model["h"].shape[0]
            size = r.get("info", {}).get("dimension", "")
            note = describe(r.get("info", {})) if r["status"] == "ok" else f"{r['status']}: {r.get('error', '')[-160:]}"
            rows.append(dict(series=name, method=method, M=M, d_R=dR, status=r["status"], wall_s=r.get("wall_s"),
                             cpu_s=r.get("cpu_s"), peak_mb=r.get("peak_mb"), size=size, notes=note))
            print(f"| {name} | {method} | {M} | {dR} | {fmt_t(r.get('wall_s'))} | {fmt_t(r.get('cpu_s'))} | "
                  f"{fmt_t(r.get('peak_mb'))} | {size} | {note} |")
            sys.stdout.flush()
            if r["status"] == "ok":
                xs.append(M), ts.append(r["wall_s"]), cs.append(r["cpu_s"]), ms.append(r["peak_mb"])
                ds.append(r["info"].get("dimension", float("nan")))
        if method == "full":  # exponential in M: the growth factor per added component, and a power of D
            add_fits(fits, name, "M", xs, ts, cs, ms, exponential=True)
            add_fits(fits, name, "dimension", ds, ts, cs, ms)
        else:
            add_fits(fits, name, "M", xs, ts, cs, ms)
    # against d_R: symmetric at M = 2^18 and bosonized S + F, pure(d_R)
    for name, kind, method, M, dRs in (("pureD_symmetric", "finite_reservoir", "symmetric", 262144, (2, 3, 4, 5)),
                                       ("pureD_bosonized", "bosonized", None, None, range(2, args.sf_max_dR + 1))):
        xs, ts, cs, ms, ds = [], [], [], [], []
        for dR in dRs:
            model = pure_model(dR)
            r = R.qfluct(model, kind, M=M, method=method)
            if r["status"] == "ok":
                i = r["info"]
                size = i.get("dimension", "")
                note = (f"K {i.get('quanta_cutoff')}" if kind == "finite_reservoir"
                        else f"{dR - 1} modes, cutoffs {[m['fock_cutoff'] for m in r['derived'].get('modes', [])]}")
                xs.append(dR), ts.append(r["wall_s"]), cs.append(r["cpu_s"]), ms.append(r["peak_mb"])
                ds.append(float(size) if size != "" else float("nan"))
            else:
                size, note = "", f"{r['status']}: {r.get('error', '')[-160:]}"
            rows.append(dict(series=name, method=method or "S+F", M=M or "inf", d_R=dR, status=r["status"],
                             wall_s=r.get("wall_s"), cpu_s=r.get("cpu_s"), peak_mb=r.get("peak_mb"), size=size,
                             notes=note))
            print(f"| {name} | {method or 'S+F'} | {M or 'inf'} | {dR} | {fmt_t(r.get('wall_s'))} | "
                  f"{fmt_t(r.get('cpu_s'))} | {fmt_t(r.get('peak_mb'))} | {size} | {note} |")
            sys.stdout.flush()
        add_fits(fits, name, "d_R", xs, ts, cs, ms, upper_half=False)
        add_fits(fits, name, "dimension", ds, ts, cs, ms)
    print("\n| series | against x | law | fitted over | wall time | CPU time | peak RSS |")
    print("|---|---|---|---|---:|---:|---:|")
    for f in fits:
        print(f"| {f['series']} | {f['variable']} | {f['law']} | {f['range']} | {f['time_exponent']:.2f} | "
              f"{f['cpu_exponent']:.2f} | {f['memory_exponent']:.2f} |")


def part_qutip(R, args, rows):
    qtol = TIGHT_TOL if args.qutip_tol == "tight" else DEFAULT_TOL
    print(f"\n## Finite-M references against QuTiP mesolve on the full tensor space (QuTiP at rtol "
          f"{qtol['rtol']:g}, atol {qtol['atol']:g}; qfluct at rtol 1e-10, atol 1e-12 and 100x tighter; 1 thread)\n")
    print("| model | M | dim | QuTiP s | QuTiP MB | method | qfluct s | qfluct MB | QuTiP/qfluct | qfluct tight s | "
          "QuTiP/qfluct tight | diff vs QuTiP | diff vs exact | QuTiP vs exact |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = [(qubit_model(), ("full", "dicke"), range(2, (6 if args.quick else args.qutip_mixed_max_M) + 1)),
             (pure_model(3), ("full", "symmetric"), range(2, (6 if args.quick else args.qutip_pure_max_M) + 1))]
    tg = times()
    for model, methods, Ms in cases:
        for M in Ms:
            dim = model["H"].shape[0] * model["h"].shape[0] ** M
            ref = R.worker("full", dict(model=model_json(model), M=M, tol=qtol), timeout=args.qutip_timeout)
            # the qubit example has an exact closed form (exchange_reference); pure(3) has none
            exact = exchange_reference(M, tg)[0] if model["name"] == "qubit" else None
            for method in methods:
                r = R.qfluct(model, "finite_reservoir", M=M, method=method)
                rt = R.qfluct(model, "finite_reservoir", M=M, method=method, tol=TIGHT_TOL) \
                    if method != "dicke" else r  # dicke without channels is spectral: no ODE tolerance
                ok = ref["status"] == "ok" and r["status"] == "ok"
                diff = maxdiff(r["rho"], ref["rho"]) if ok else None
                dex = maxdiff(r["rho"], exact) if exact is not None and r["status"] == "ok" else None
                qex = maxdiff(ref["rho"], exact) if exact is not None and ref["status"] == "ok" else None
                ratio = ref["solver_s"] / r["wall_s"] if ok else None
                ratio_t = ref["solver_s"] / rt["wall_s"] if ok and rt["status"] == "ok" else None
                rows.append(dict(model=model["name"], M=M, dim=dim, qutip_status=ref["status"],
                                 qutip_rtol=qtol["rtol"], qutip_atol=qtol["atol"],
                                 qutip_s=ref.get("solver_s"), qutip_outer_s=ref.get("outer_wall_s"),
                                 qutip_mb=ref.get("peak_mb"), method=method, qfluct_status=r["status"],
                                 qfluct_s=r.get("wall_s"), qfluct_cpu_s=r.get("cpu_s"), qfluct_mb=r.get("peak_mb"),
                                 qfluct_tight_s=rt.get("wall_s"), ratio=ratio, ratio_tight=ratio_t,
                                 diff_vs_qutip=diff, diff_vs_exact=dex, qutip_vs_exact=qex,
                                 tight_vs_default=maxdiff(r["rho"], rt["rho"]) if rt["status"] == "ok" and ok else None))
                qs = fmt_t(ref.get("solver_s")) if ref["status"] == "ok" else ref["status"]
                print(f"| {model['name']} | {M} | {dim} | {qs} | {fmt_t(ref.get('peak_mb'))} | {method} | "
                      f"{fmt_t(r.get('wall_s'))} | {fmt_t(r.get('peak_mb'))} | {fmt_t(ratio)} | "
                      f"{fmt_t(rt.get('wall_s')) if method != 'dicke' else '(same)'} | {fmt_t(ratio_t)} | "
                      f"{fmt_e(diff)} | {fmt_e(dex)} | {fmt_e(qex)} |")
                sys.stdout.flush()
            if ref["status"] != "ok":
                break


def write_csv(path, rows):
    if not rows:
        return
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def machine():
    return describe("threads = 1 everywhere")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qfluct", default=os.path.join(REPO, "build", "qfluct"))
    ap.add_argument("--parts", default="goals,scaling,qutip", help="comma-separated: goals, scaling, qutip")
    ap.add_argument("--quick", action="store_true", help="smaller M ranges (about 2 minutes)")
    ap.add_argument("--repeat", type=int, default=3, help="runs under 1 s: best of this many")
    ap.add_argument("--full-mixed-max-M", type=int, default=8, help="qubit full tensor space (M = 9: ~25 s)")
    ap.add_argument("--full-pure-max-M", type=int, default=9, help="qutrit full tensor space (M = 10: ~20 s)")
    ap.add_argument("--dicke-max-log2", type=int, default=18)
    ap.add_argument("--sf-max-dR", type=int, default=4,
                    help="bosonized S + F of pure(d_R) up to this d_R (5: ~15 min and 2 GB, four modes at cutoff 32)")
    ap.add_argument("--qutip-mixed-max-M", type=int, default=8)
    ap.add_argument("--qutip-pure-max-M", type=int, default=8)
    ap.add_argument("--qutip-timeout", type=float, default=300)
    ap.add_argument("--qutip-tol", choices=("tight", "same"), default="tight",
                    help="QuTiP at rtol 1e-12, atol 1e-14 (tight) or at qfluct's 1e-10, 1e-12 (same)")
    ap.add_argument("--results", default=os.path.join(REPO, "bench", "results"))
    ap.add_argument("--suffix", default="", help="CSV names bosonization_<part><suffix>.csv")
    ap.add_argument("--keep", help="keep configs, CSVs and sidecars in this directory")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-in", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args)
    args.qfluct = os.path.abspath(args.qfluct)
    parts = set(args.parts.split(","))
    print(f"qfluct {args.qfluct}\nmachine: {machine()}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bosonization_") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        R = Runner(args, workdir)
        os.makedirs(args.results, exist_ok=True)
        if "goals" in parts:
            rows = []
            part_goals(R, rows)
            write_csv(os.path.join(args.results, f"bosonization_goals{args.suffix}.csv"), rows)
        if "scaling" in parts:
            rows, fits = [], []
            part_scaling(R, args, rows, fits)
            write_csv(os.path.join(args.results, f"bosonization_scaling{args.suffix}.csv"), rows)
            write_csv(os.path.join(args.results, f"bosonization_fits{args.suffix}.csv"), fits)
        if "qutip" in parts:
            rows = []
            part_qutip(R, args, rows)
            write_csv(os.path.join(args.results, f"bosonization_qutip{args.suffix}.csv"), rows)
    print(f"\ntotal {time.perf_counter() - start:.0f} s, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
