#!/usr/bin/env python3
"""Plots tau_z, <q> and <Q^4> against time for the master-equation runs of the Fig. 2 study
(Carollo 2023, Fig. 2(a)-(c)). Usage: plot_fig2_master.py RESULTS_DIR"""
import glob
import os
import re
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def main(directory):
    files = sorted(glob.glob(os.path.join(directory, "master_N*.csv")),
                   key=lambda f: int(re.search(r"N(\d+)", f).group(1)))
    if not files:
        sys.exit(f"no master_N*.csv in {directory}")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = [("tau_z", r"$\langle\tau_z\rangle$"), ("q", r"$\langle q_N\rangle$"), ("Q4", r"$\langle Q_N^4\rangle$")]
    for f in files:
        N = int(re.search(r"N(\d+)", f).group(1))
        data = np.genfromtxt(f, delimiter=",", names=True)
        for ax, (col, label) in zip(axes, panels):
            ax.plot(data["t"], data[col], label=f"N = {N}")
    for ax, (col, label) in zip(axes, panels):
        ax.set_xlabel(r"$\gamma t$")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("Central spin model, Fig. 2 point, exact block master equation")
    fig.tight_layout()
    out = os.path.join(directory, "fig2_master.png")
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/fig2")
