"""Plot of examples/open_system_study.sh: concurrence, negativity, excitations and the cavity
occupation, exact master equation (lines) against trajectories (points with 2-sigma bars)."""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from results_io import load  # noqa: E402

directory = sys.argv[1] if len(sys.argv) > 1 else "results/open_system"
me = load(os.path.join(directory, "master.csv"))
traj = load(os.path.join(directory, "jump.csv"))
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
panels = [
    (axes[0], ["concurrence", "negativity"], "entanglement of the two qubits"),
    (axes[1], ["excitations", "purity"], "qubit excitations, purity of the qubits' state"),
    (axes[2], ["n_0"], "cavity occupation"),
]
for ax, names, title in panels:
    for i, name in enumerate(names):
        colour = f"C{i}"
        ax.plot(me["t"], me[name], colour, label=f"{name} (master equation)")
        ax.errorbar(traj["t"][::2], traj[name][::2], yerr=2 * traj[name + "_err"][::2], fmt="o", ms=3, color=colour,
                    alpha=0.7, label=f"{name} (2000 trajectories, 2 sigma)")
    ax.set_xlabel("t")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
fig.suptitle("Two qubits in a lossy cavity (open_system): subradiant trapping makes entanglement", fontsize=11)
fig.tight_layout()
path = os.path.join(directory, "open_system.png")
fig.savefig(path, dpi=120)
print(f"wrote {path}")
