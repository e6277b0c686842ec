# %% [markdown]
# # Fig. 2 of Carollo, PRL 131, 227102 (2023), from Python
#
# The reduced Fig. 2 study (`examples/fig2_study.sh --reduced` does it with the command-line
# program) through the Python module `qfluct`: the central spin model at finite N (exact block
# master equation, and quantum-jump trajectories with error bands) converges to the emergent
# open Jaynes-Cummings (spin-boson) model, Eq. (9); its stationary state is strongly
# non-Gaussian. Then the spin-boson model side by side with QuTiP's `mesolve` on the same axes.
#
# Run it as a script (`PYTHONPATH=build/python /usr/bin/python3 examples/fig2.py [OUTDIR]`, the
# figures go to OUTDIR, default `results/fig2_python`, or $QFLUCT_FIG2_OUT), or cell by cell (`# %%`) in an editor,
# or as the notebook `examples/fig2.ipynb`. Sizes are reduced so that it runs in about 10 s on
# 2 cores.

# %%
import os
import sys
import time

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script writes files; a notebook shows the figures inline
import matplotlib.pyplot as plt
import numpy as np

here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()  # notebook: examples/
try:
    import qfluct
except ImportError:  # not on PYTHONPATH: the module of the checkout's build (build/python)
    sys.path.insert(0, os.path.join(here, "..", "build", "python"))
    import qfluct

config = os.path.join(here, "fig2.toml")  # N = 10, g0 = 4, g = g0/sqrt(N), w = (1, 0, 0.5), master equation
args = [a for a in sys.argv[1:] if not a.startswith("-")] if "ipykernel" not in sys.modules else []
outdir = args[0] if args else os.environ.get("QFLUCT_FIG2_OUT", os.path.join(here, "..", "results", "fig2_python"))
os.makedirs(outdir, exist_ok=True)
threads = 2

# %% [markdown]
# ## Time evolution: finite N against the emergent model
# `qfluct.run(config, **overrides)` takes the TOML file and the same keys as `--set`; a bare
# name (`N=20`) stands for the one key it ends (`model.N`). Each result has `.times`,
# `.expect[column]` and, for trajectories, `.sem[column]` (standard errors).

# %%
start = time.time()
master = {N: qfluct.run(config, N=N, threads=threads) for N in (6, 10, 20, 40)}
jump = {N: qfluct.run(config, N=N, method="jump", ntraj=400, seed=N, threads=threads, quiet=True) for N in (320,)}
emergent = qfluct.run(config, kind="spin_boson", threads=threads, quiet=True)  # quiet: model.N does not apply
print(f"runs: {time.time() - start:.1f} s on {threads} threads")
print("derived quantities of the emergent model:", emergent.info["derived"])

# %%
panels = [("tau_z", r"$\langle\tau_z\rangle$"), ("q", r"$\langle q_N\rangle$"), ("Q4", r"$\langle Q_N^4\rangle$")]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
colors = plt.cm.viridis(np.linspace(0, 0.9, len(master) + len(jump)))
for ax, (col, label) in zip(axes, panels):
    for k, (N, r) in enumerate(master.items()):
        ax.plot(r.times, r.expect[col], color=colors[k], lw=1.3, label=f"N = {N} (master eq.)")
    for k, (N, r) in enumerate(jump.items(), start=len(master)):
        lo, hi = r.expect[col] - r.sem[col], r.expect[col] + r.sem[col]
        ax.fill_between(r.times, lo, hi, color=colors[k], alpha=0.35, lw=0)
        ax.plot(r.times, r.expect[col], color=colors[k], lw=0.8, label=f"N = {N} ({r.plan['ntraj']} traj.)")
    ax.plot(emergent.times, emergent.expect[col], "k--", lw=1.6, label="emergent spin-boson, Eq. (9)")
    ax.set_xlabel(r"$\gamma t$")
    ax.set_title(label)
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(outdir, "fig2_dynamics.png"), dpi=120)

# Distance to the emergent model: falls like 1/N (slope -1 on a log-log plot).
Ns = np.array(list(master))
dist = np.array([np.max(np.abs(r.expect["Q4"] - emergent.expect["Q4"])) for r in master.values()])
slope = np.polyfit(np.log(Ns[1:]), np.log(dist[1:]), 1)[0]
print("max_t |Q4_N - Q4_emergent|:", dict(zip(Ns.tolist(), dist.round(5).tolist())), f"slope {slope:.2f}")

# %% [markdown]
# ## Stationary state of the emergent model across g0
# `qfluct.steady(config, scan="KEY=START:STOP:COUNT")` is `qfluct steady --scan`; `(KEY, values)`
# takes any values.

# %%
scan = qfluct.steady(config, scan=("model.g0", np.linspace(0.5, 8, 16)), kind="spin_boson", threads=threads,
                     quiet=True)
g0 = scan.expect["g0"]
fig, ax = plt.subplots(figsize=(5.5, 4))
ax.plot(g0, scan.expect["Q4"], "o-", label=r"$\langle Q^4\rangle$")
ax.plot(g0, scan.expect["Q2sq3"], "s--", label=r"$3\langle Q^2\rangle^2$ (Gaussian value)")
ax.set_xlabel(r"$g_0/\gamma$")
ax.set_title("stationary state, emergent model")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(os.path.join(outdir, "fig2_stationary.png"), dpi=120)
print("largest |nongauss| / 3 Q2^2:", np.max(np.abs(scan.expect["nongauss"]) / scan.expect["Q2sq3"]).round(3))

# %% [markdown]
# ## The spin-boson model with QuTiP's mesolve, on the same axes
# The emergent model of docs/theory.md, section 6.1, built independently with QuTiP 4.7:
# H = w·τ + G (τ₋a† + τ₊a), G = g0 √ε; jumps √γ↓ τ₋, √γ↑ τ₊, √κ↓ a, √κ↑ a†,
# κ↓ = Γ₊ + Γ↑/ε, κ↑ = Γ↑/ε; the boson starts thermal with n̄ = Γ↑/(εΓ₊), the spin up.

# %%
import qutip

p = emergent.info["parameters"]["model"]
Gp = p["Gamma_up"] + p["Gamma_down"]
eps = (p["Gamma_down"] - p["Gamma_up"]) / Gp
G, k_down, k_up, nbar = p["g0"] * np.sqrt(eps), Gp + p["Gamma_up"] / eps, p["Gamma_up"] / eps, p["Gamma_up"] / (eps * Gp)
derived = emergent.info["derived"]  # what qfluct derived from the same parameters
assert np.allclose([G, k_down, k_up, nbar], [derived[k] for k in ("G", "kappa_down", "kappa_up", "nbar")], rtol=1e-14)
nc = 40  # Fock levels 0..39: the thermal tail x^40, x = nbar / (1 + nbar) = 0.2, is 1e-28
a = qutip.tensor(qutip.qeye(2), qutip.destroy(nc))
tm = qutip.tensor(qutip.sigmam(), qutip.qeye(nc))  # tau_minus = |down><up|, basis 0 = up as in qfluct
sx, sy, sz = (qutip.tensor(s, qutip.qeye(nc)) for s in (qutip.sigmax(), qutip.sigmay(), qutip.sigmaz()))
w = p["w"]
H = w[0] * sx + w[1] * sy + w[2] * sz + G * (tm * a.dag() + tm.dag() * a)
c_ops = [np.sqrt(p["gamma_down"]) * tm, np.sqrt(p["gamma_up"]) * tm.dag(), np.sqrt(k_down) * a, np.sqrt(k_up) * a.dag()]
rho0 = qutip.tensor(qutip.basis(2, 0).proj(), qutip.thermal_dm(nc, nbar))
q = (a + a.dag()) / np.sqrt(2)
start = time.time()
out = qutip.mesolve(H, rho0, emergent.times, c_ops, [sz, q, q * q, q * q * q, q * q * q * q],
                    options=qutip.Options(atol=1e-12, rtol=1e-10, nsteps=100000))
m1, m2, m3, m4 = (np.real(e) for e in out.expect[1:])
reference = {"tau_z": np.real(out.expect[0]), "q": m1, "Q4": m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4}
print(f"QuTiP mesolve: {time.time() - start:.1f} s")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
for ax, (col, label) in zip(axes, panels):
    ax.plot(emergent.times, emergent.expect[col], lw=3, alpha=0.5, label="qfluct (block master equation)")
    ax.plot(emergent.times, reference[col], "k:", lw=1.5, label="QuTiP mesolve")
    ax.set_xlabel(r"$\gamma t$")
    ax.set_title(label + ", spin-boson model")
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(outdir, "fig2_qutip.png"), dpi=120)

# The two agree to the integrators' tolerances (qfluct rtol 1e-9, mesolve rtol 1e-10 on O(1)
# numbers; <Q^4> is about 1-3): 1e-6 leaves a wide margin, while a wrong rate or sign is O(0.1).
worst = {c: float(np.max(np.abs(emergent.expect[c] - reference[c]))) for c in reference}
print("max |qfluct - QuTiP|:", worst)
assert max(worst.values()) < 1e-6, worst
print(f"figures in {outdir}/: fig2_dynamics.png, fig2_stationary.png, fig2_qutip.png")
