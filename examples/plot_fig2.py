#!/usr/bin/python3
"""Plots the Fig. 2 study of Carollo 2023 from the CSV files of examples/fig2_study.sh.

  plot_fig2.py RESULTS_DIR

fig2_dynamics.png: (a) <tau_z>, (b) <q_N>, (c) <Q_N^4> against gamma t for finite N (solid:
exact master equation; bands: trajectories, +-1 standard error) and the emergent spin-boson
model (dashed). Insets: Delta[O] = max over gamma t in [0, 4] of |<O>_N - <O>_emergent| against
N, log-log, with the least-squares slope over the master-equation points (N >= 10); the
trajectory points show the ensembles' noise floor (max over t of a noisy difference ~ 3 sigma).
fig2_stationary.png: (d) stationary <Q^4> and 3<Q^2>^2 of the emergent model against g0 and
against w_x; shaded where the state is strongly non-Gaussian, |Q4 - 3 Q2^2| > 10% of 3 Q2^2.
Rates in units of gamma (the paper's reference rate), times in units of 1/gamma.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from results_io import load, runs

STRONG = 0.10  # relative deviation from the Gaussian value called "strongly non-Gaussian"




def distance(data, ref, col):
    """max over t of |data - ref|, and the standard error at the maximiser (0 for exact data)."""
    diff = np.abs(data[col] - ref[col])
    i = int(np.argmax(diff))
    err = data[col + "_err"][i] if col + "_err" in data.dtype.names else 0.0
    return diff[i], err


def dynamics(directory):
    ref = load(os.path.join(directory, "spin_boson.csv"))
    master, jump = runs(directory, "master"), runs(directory, "jump")
    panels = [("tau_z", r"$\langle\tau_z\rangle$", "(a)"), ("q", r"$\langle q_N\rangle$", "(b)"),
              ("Q4", r"$\langle Q_N^4\rangle$", "(c)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(master) + len(jump)))
    for ax, (col, label, tag) in zip(axes, panels):
        k = 0
        for N, d in master.items():
            ax.plot(d["t"], d[col], color=colors[k], lw=1.4, label=f"N = {N} (ME)")
            k += 1
        for N, d in jump.items():
            ax.fill_between(d["t"], d[col] - d[col + "_err"], d[col] + d[col + "_err"], color=colors[k], alpha=0.35,
                            lw=0)
            ax.plot(d["t"], d[col], color=colors[k], lw=0.8, label=f"N = {N} (trajectories)")
            k += 1
        ax.plot(ref["t"], ref[col], "k--", lw=1.6, label="emergent spin-boson, Eq. (9)")
        ax.set_xlabel(r"$\gamma t$")
        ax.set_ylabel(label)
        ax.set_title(f"{tag} {label}")
        ax.grid(alpha=0.3)
        # Inset: distance against N.
        ins = ax.inset_axes([0.56, 0.56, 0.4, 0.38])
        Nm = np.array(list(master))
        dm = np.array([distance(d, ref, col)[0] for d in master.values()])
        ins.loglog(Nm, dm, "o", ms=4, color="C0", label="ME")
        if jump:
            Nj = np.array(list(jump))
            dj = np.array([distance(d, ref, col) for d in jump.values()])
            # max over t of a noisy difference sits near 3 standard errors: a noise floor, not
            # the 1/N law, unless the ensembles are very large.
            ins.errorbar(Nj, dj[:, 0], yerr=dj[:, 1], fmt="s", ms=4, color="C3", label="traj. (noise floor)")
        fit = Nm >= 10
        if fit.sum() >= 2:
            slope, icpt = np.polyfit(np.log(Nm[fit]), np.log(dm[fit]), 1)
            xs = np.array([Nm[fit].min(), max(Nm.max(), max(jump) if jump else 0)])
            ins.loglog(xs, np.exp(icpt) * xs ** slope, "k:", lw=1)
            ins.set_title(f"ME slope {slope:.2f}", fontsize=8)
        ins.legend(fontsize=6, loc="lower left")
        ins.set_xlabel("N", fontsize=8)
        ins.set_ylabel(r"$\Delta$[" + col + "]", fontsize=8)
        ins.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Central spin model at the Fig. 2 point (Carollo 2023): finite N against the emergent model")
    fig.tight_layout()
    path = os.path.join(directory, "fig2_dynamics.png")
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def stationary(directory):
    scans = [(f, c) for f, c in (("steady_g0.csv", "g0"), ("steady_wx.csv", "w_x"))
             if os.path.exists(os.path.join(directory, f))]
    fig, axes = plt.subplots(1, len(scans), figsize=(6 * len(scans), 4.2), squeeze=False)
    labels = {"g0": r"$g_0/\gamma$", "w_x": r"$w_x/\gamma$"}
    for ax, (f, col) in zip(axes[0], scans):
        d = load(os.path.join(directory, f))
        x = d[col]
        ax.plot(x, d["Q4"], "o-", label=r"$\langle Q^4\rangle_{\rm th}$")
        ax.plot(x, d["Q2sq3"], "s--", label=r"$3\langle Q^2\rangle_{\rm th}^2$ (Gaussian)")
        strong = np.abs(d["nongauss"]) > STRONG * d["Q2sq3"]
        ymin, ymax = ax.get_ylim()
        ax.fill_between(x, ymin, ymax, where=strong, color="orange", alpha=0.2, step="mid",
                        label=f"strongly non-Gaussian (>{STRONG:.0%})")
        ax.set_ylim(ymin, ymax)
        ax.set_xlabel(labels[col])
        ax.set_ylabel("stationary moment")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_title("(d) stationary state of the emergent model")
    fig.tight_layout()
    path = os.path.join(directory, "fig2_stationary.png")
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    directory = sys.argv[1] if len(sys.argv) > 1 else "results/fig2"
    dynamics(directory)
    stationary(directory)
