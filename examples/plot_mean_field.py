#!/usr/bin/python3
"""Plots the mean-field study (examples/mean_field_study.sh).

  plot_mean_field.py RESULTS_DIR

mean_field_dynamics.png: <tau_x>, <tau_y>, <tau_z> against gamma t for g = g0/N (finite N,
solid; trajectories with +-1 standard-error bands) and the mean-field model (dashed), with the
bath Bloch vector m(t) of the mean-field model.
mean_field_convergence.png: max over gamma t in [0, 4] of |<tau_a>_N - prediction| against N,
log-log: (left) g = g0/N against the mean-field model, with least-squares slopes over the
master-equation points; (right) g = g0/sqrt(N) against the mean-field model (stays off) and
against the emergent spin-boson model (converges like 1/N).
Rates in units of gamma; times in units of 1/gamma.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from results_io import load, runs




def distance(data, ref, col):
    return float(np.max(np.abs(data[col] - ref[col])))


def main(directory):
    linear, mf = runs(directory, "linear"), load(os.path.join(directory, "linear_mean_field.csv"))
    cols = ["tau_x", "tau_y", "tau_z"]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(linear)))
    for ax, col in zip(axes, cols):
        for (N, d), color in zip(linear.items(), colors):
            if col + "_err" in d.dtype.names:
                ax.fill_between(d["t"], d[col] - d[col + "_err"], d[col] + d[col + "_err"], color=color, alpha=0.35, lw=0)
                ax.plot(d["t"], d[col], color=color, lw=0.8, label=f"N = {N} (trajectories)")
            else:
                ax.plot(d["t"], d[col], color=color, lw=1.3, label=f"N = {N} (ME)")
        ax.plot(mf["t"], mf[col], "k--", lw=1.6, label="mean field (Theorem 2)")
        ax.set_xlabel(r"$\gamma t$")
        ax.set_ylabel(rf"$\langle\tau_{col[-1]}\rangle$")
        ax.grid(alpha=0.3)
    for c, label in zip(["m_x", "m_y", "m_z"], ["$m_x$", "$m_y$", "$m_z$"]):
        axes[3].plot(mf["t"], mf[c], label=label)
    axes[3].set_xlabel(r"$\gamma t$")
    axes[3].set_ylabel("bath Bloch vector m(t)")
    axes[3].grid(alpha=0.3)
    axes[3].legend(fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle(r"$g = g_0/N$, bath field and bath polarised along x: finite N against the mean-field model")
    fig.tight_layout()
    path = os.path.join(directory, "mean_field_dynamics.png")
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    Ns = np.array(list(linear))
    exact = np.array(["tau_x_err" not in d.dtype.names for d in linear.values()])
    for col, marker in zip(cols, "osd"):
        d = np.array([distance(data, mf, col) for data in linear.values()])
        slope = np.polyfit(np.log(Ns[exact]), np.log(d[exact]), 1)[0]
        left.loglog(Ns[exact], d[exact], marker + "-", label=rf"$\tau_{col[-1]}$ (ME), slope {slope:.2f}")
        if (~exact).any():
            errs = [data[col + "_err"][np.argmax(np.abs(data[col] - mf[col]))] for data, e in zip(linear.values(), exact)
                    if not e]
            left.errorbar(Ns[~exact], d[~exact], yerr=errs, fmt=marker, mfc="none", color=left.lines[-1].get_color(),
                          label=rf"$\tau_{col[-1]}$ (trajectories)")
    xs = np.array([Ns.min(), Ns.max()])
    left.loglog(xs, 0.5 * left.lines[0].get_ydata()[0] * (xs / xs[0]) ** -1.0, "k:", lw=1, label=r"$\propto 1/N$")
    left.set_xlabel("N")
    left.set_ylabel(r"$\max_t |\langle\tau\rangle_N - \langle\tau\rangle_{\rm mf}|$")
    left.set_title(r"$g = g_0/N$: mean field is exact as $N\to\infty$")
    left.legend(fontsize=7)
    left.grid(alpha=0.3, which="both")

    sq = runs(directory, "sqrt")
    sq_mf, sq_sb = load(os.path.join(directory, "sqrt_mean_field.csv")), load(os.path.join(directory, "sqrt_spin_boson.csv"))
    Nq = np.array(list(sq))
    for ref, name, marker in ((sq_mf, "mean field", "s"), (sq_sb, "spin-boson, Eq. (9)", "o")):
        d = np.array([distance(data, ref, "tau_z") for data in sq.values()])
        right.loglog(Nq, d, marker + "-", label=rf"$\tau_z$ against {name}")
    right.set_xlabel("N")
    right.set_ylabel(r"$\max_t |\langle\tau_z\rangle_N - \mathrm{prediction}|$")
    right.set_title(r"$g = g_0/\sqrt{N}$ (Fig. 2 point): fluctuations, not mean field")
    right.legend(fontsize=8)
    right.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path = os.path.join(directory, "mean_field_convergence.png")
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/mean_field")
