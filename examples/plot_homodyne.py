"""Plot of examples/homodyne.toml: homodyne records of single trajectories (current I averaged
over each output interval, integrated current Y) and the ensemble mean of tau_x, which the
tau_minus current measures (<L + L^+> = sqrt(gamma_down) <tau_x> at phase 0), against the master
equation.

  /usr/bin/python3 examples/plot_homodyne.py [DIR]     # DIR holds jump.csv, jump.records.csv,
                                                       # jump.json and master.csv
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from results_io import load  # noqa: E402

directory = sys.argv[1] if len(sys.argv) > 1 else "results/homodyne"
me = load(os.path.join(directory, "master.csv"))
traj = load(os.path.join(directory, "jump.csv"))
rec = load(os.path.join(directory, "jump.records.csv"))
with open(os.path.join(directory, "jump.json")) as f:
    side = json.load(f)
params, solver = side["parameters"], side["solver"]
gamma = params["model"]["gamma_down"]
phase = solver["homodyne_phase"]["tau_minus"]
if abs(phase) > 1e-12:
    sys.exit("this plot compares the tau_minus current with tau_x: it needs homodyne_phase = 0")
ntraj = solver["ntraj"]

# Mean current sqrt(gamma) <tau_x>(t) and its integral (the mean of Y), from the master equation.
t_me = me["t"]
mean_I = np.sqrt(gamma) * me["tau_x"]
mean_Y = np.concatenate([[0.0], np.cumsum(0.5 * (mean_I[1:] + mean_I[:-1]) * np.diff(t_me))])

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
ids = np.unique(rec["trajectory"]).astype(int)
for k, i in enumerate(ids):
    r = rec[rec["trajectory"] == i]
    t = np.concatenate([[0.0], r["t"]])
    if k < 2:  # two records are enough to show what the current looks like
        axes[0].step(t, np.concatenate([[r["I_tau_minus"][0]], r["I_tau_minus"]]), where="pre", color=f"C{k}",
                     lw=0.9, label=f"trajectory {i}")
    axes[1].plot(t, np.concatenate([[0.0], r["Y_tau_minus"]]), color=f"C{k}", lw=1, label=f"trajectory {i}")
dt = float(np.diff(rec["t"][:2])[0]) if len(rec) > 1 else params["output"]["dt"]
axes[0].plot(t_me, mean_I, "k", lw=1.5, label=r"mean $\sqrt{\gamma_\downarrow}\langle\tau_x\rangle$ (ME)")
axes[0].fill_between(t_me, mean_I - 1 / np.sqrt(dt), mean_I + 1 / np.sqrt(dt), color="0.85", zorder=0,
                     label=r"$\pm 1/\sqrt{\Delta t}$ (noise of the interval mean)")
axes[0].set_title(fr"current $I$ averaged over $\Delta t = {dt:g}$", fontsize=10)
axes[1].plot(t_me, mean_Y, "k", lw=1.5, label=r"mean: $\int \sqrt{\gamma_\downarrow}\langle\tau_x\rangle dt$ (ME)")
axes[1].fill_between(t_me, mean_Y - np.sqrt(t_me), mean_Y + np.sqrt(t_me), color="0.85", zorder=0,
                     label=r"$\pm\sqrt{t}$ (spread of the noise W alone)")
axes[1].set_title(r"integrated current $Y(t) = \int_0^t I\,dt$", fontsize=10)
ax = axes[2]
ax.plot(t_me, me["tau_x"], "k", lw=1.5, label="master equation")
ax.plot(traj["t"], traj["tau_x"], "C3", lw=1, label=f"{ntraj} homodyne trajectories")
ax.fill_between(traj["t"], traj["tau_x"] - 2 * traj["tau_x_err"], traj["tau_x"] + 2 * traj["tau_x_err"], color="C3",
                alpha=0.3, lw=0, label="2 standard errors")
ax.set_title(r"ensemble mean of $\tau_x$", fontsize=10)
for a in axes:
    a.set_xlabel("t")
    a.legend(fontsize=7)
fig.suptitle(r"spin-boson model, $\tau_-$ by homodyne detection (phase 0), other channels jump "
             f"(dt_sde = {solver['dt_sde']:g})", fontsize=11)
fig.tight_layout()
path = os.path.join(directory, "homodyne_records.png")
fig.savefig(path, dpi=110)
print(f"wrote {path}")
