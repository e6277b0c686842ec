#!/usr/bin/python3
"""Plots the inhomogeneous-coupling study (examples/inhomogeneous_study.sh).

  plot_inhomogeneous.py RESULTS_DIR

inhomogeneous.png: max over gamma t in [0, 4] of |<O>_N - <O>_emergent| against N for
O = tau_z, q, Q4: random couplings (full-space master equation: filled markers; trajectories:
open markers with the standard error at the maximiser; their max over t sits near a noise floor
of ~3 standard errors) next to homogeneous couplings (exact Dicke-sector master equation).
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from results_io import load, runs




def main(directory):
    ref = load(os.path.join(directory, "spin_boson.csv"))
    random, homogeneous = runs(directory, "random"), runs(directory, "homogeneous")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, col in zip(axes, ["tau_z", "q", "Q4"]):
        Nh = np.array(list(homogeneous))
        dh = [np.max(np.abs(d[col] - ref[col])) for d in homogeneous.values()]
        ax.loglog(Nh, dh, "o-", color="C0", label="homogeneous (Dicke sectors, exact)")
        for N, d in random.items():
            diff = np.abs(d[col] - ref[col])
            i = int(np.argmax(diff))
            if col + "_err" in d.dtype.names:
                ax.errorbar([N], [diff[i]], yerr=[d[col + "_err"][i]], fmt="s", mfc="none", color="C3",
                            label="random $c_k$ (trajectories)" if N == min(n for n in random if col + "_err" in random[n].dtype.names) else None)
            else:
                ax.loglog([N], [diff[i]], "s", color="C3", label="random $c_k$ (full-space ME)" if N == min(random) else None)
        ax.set_xlabel("N")
        ax.set_ylabel(rf"$\Delta$[{col}]")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(r"Inhomogeneous couplings $c_k$ (uniform, $\sum c_k^2/N = 1$): distance to the emergent model, Fig. 2 point")
    fig.tight_layout()
    path = os.path.join(directory, "inhomogeneous.png")
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/inhomogeneous")
