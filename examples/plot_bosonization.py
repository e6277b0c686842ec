#!/usr/bin/python3
"""Plots the bosonization study (examples/bosonization_study.sh); Fantechi & Merkli, PRL 136,
060402 (2026).

  plot_bosonization.py RESULTS_DIR

Reads the CSVs (and JSON sidecars) the driver wrote and saves, in RESULTS_DIR:
bosonization_qubit.png: the paper's qubit example: rho_S(t) from S + F (two modes at +-omega_R),
  from the single effective thermal mode, from the effective mode as printed (no sqrt(1 - 2w),
  vacuum), and from finite M; max over t of the trace distance to S + F against M (log-log, slope).
bosonization_qutrit.png: a qutrit reservoir (two modes of F), the same two panels.
bosonization_nondemolition.png: |D_01(t)| = |rho_01(t)| / |rho_01(0)| for a v with diagonal
  elements: the closed form (qfluct), S + F in Fock space, finite M, Eq. (21) over all modes and
  as printed (k != l only), and the short-time Gaussian of Eq. (22) (computed here from the
  sidecar's mode list); for a homogeneous qutrit coupling, Eq. (22) corrected and as printed;
  max_t | |D_M| - |D_F| | against M.
bosonization_entanglement.png: concurrence of two qubits sharing a reservoir (Eq. (20)): F and
  finite M with the scaling 1/sqrt(M); finite M with the mean-field scaling 1/M; the distances.
Trace distance: 0.5 sum |eigenvalues of rho_1 - rho_2| at each output time, rho from the
rho_ab_re, rho_ab_im columns. Slopes: least squares of log(distance) against log(M) over M >=
FIT_MIN_M (the asymptotic regime; printed and shown in the figure).
"""
import glob
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from results_io import load

FIT_MIN_M = 256


def rho(data):
    """rho_S(t) as an array (n_times, d, d) from the rho_ab_re / rho_ab_im columns."""
    names = [n for n in data.dtype.names if n.startswith("rho_") and n.endswith("_re")]
    d = int(round(np.sqrt(len(names))))
    out = np.empty((len(data), d, d), dtype=complex)
    for a in range(d):
        for b in range(d):
            key = f"rho_{a}{b}" if d <= 10 else f"rho_{a}_{b}"
            out[:, a, b] = data[key + "_re"] + 1j * data[key + "_im"]
    return out


def trace_distance(r1, r2):
    """0.5 sum |eigenvalues of r1 - r2| per time (arrays (n, d, d))."""
    return 0.5 * np.abs(np.linalg.eigvalsh(r1 - r2)).sum(axis=1)


def same_times(a, b):
    if len(a) != len(b) or np.max(np.abs(a["t"] - b["t"])) > 1e-9:
        raise SystemExit(f"output times differ ({len(a)} and {len(b)} rows)")


def max_trace_distance(a, b):
    same_times(a, b)
    return float(np.max(trace_distance(rho(a), rho(b))))


def finite_runs(directory, prefix):
    """{M: data} for PREFIX_M<M>.csv, sorted by M."""
    found = {}
    for f in glob.glob(os.path.join(directory, f"{prefix}_M*.csv")):
        m = re.search(rf"{re.escape(prefix)}_M(\d+)\.csv$", f)
        if m:
            found[int(m.group(1))] = load(f)
    return dict(sorted(found.items()))


def optional(directory, name):
    path = os.path.join(directory, name)
    return load(path) if os.path.exists(path) else None


def fit_slope(Ms, dist):
    Ms, dist = np.asarray(Ms, float), np.asarray(dist, float)
    use = (Ms >= FIT_MIN_M) & (dist > 0)
    if use.sum() < 2:
        return None, None
    slope, intercept = np.polyfit(np.log(Ms[use]), np.log(dist[use]), 1)
    return slope, (Ms[use], np.exp(intercept) * Ms[use] ** slope)


def convergence_panel(ax, Ms, dist, label, marker="o", color=None, ls="-", mfc=None):
    """Log-log distance against M with its fitted slope; returns the slope (or None)."""
    line, = ax.loglog(Ms, dist, marker=marker, ls=ls, color=color, mfc=mfc, label=label)
    slope, fit = fit_slope(Ms, dist)
    if slope is not None:
        ax.loglog(*fit, ":", color=line.get_color(), lw=2)
        # the local slope of the last two points shows where a fit over a range is still bending
        last = np.log(dist[-1] / dist[-2]) / np.log(Ms[-1] / Ms[-2])
        line.set_label(f"{label}: slope {slope:.3f} (last pair {last:.2f})")
        print(f"  slope of {label}: {slope:.4f} (fit over M >= {FIT_MIN_M}); last pair {last:.3f}")
    ax.set_xlabel("M")
    ax.grid(alpha=0.3, which="both")
    return slope


def cplx_matrix(m):
    """A sidecar matrix (entries: number or [re, im]) as a complex array."""
    return np.array([[complex(*e) if isinstance(e, list) else complex(e) for e in row] for row in m])


def sidecar(csv_path):
    with open(os.path.splitext(csv_path)[0] + ".json") as f:
        return json.load(f)


def shown(runs, n=6):
    """At most n of the finite-M runs (spread over the range) for the time plots."""
    keys = list(runs)
    idx = sorted(set(np.round(np.linspace(0, len(keys) - 1, min(n, len(keys)))).astype(int))) if keys else []
    return {keys[i]: runs[keys[i]] for i in idx}


def colours(n):
    return plt.cm.viridis(np.linspace(0.0, 0.9, max(n, 1)))


# ---------------------------------------------------------------------------------------------
def study_dynamics(directory, prefix, title, extra, png, summary):
    """Studies 1 and 2: <sigma_z>, Re rho_01 against t, and the convergence in M."""
    F = load(os.path.join(directory, f"{prefix}_F.csv"))
    finite = finite_runs(directory, prefix)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    cols = colours(len(shown(finite)))
    r_F = rho(F)
    for ax, (what, f) in zip(axes[:2], [(r"$\langle\sigma_z\rangle$", lambda r: (r[:, 0, 0] - r[:, 1, 1]).real),
                                        (r"Re $\rho_{01}$", lambda r: r[:, 0, 1].real)]):
        for (M, d), c in zip(shown(finite).items(), cols):
            ax.plot(d["t"], f(rho(d)), color=c, lw=1.0, label=f"M = {M}")
        ax.plot(F["t"], f(r_F), "k-", lw=2.2, alpha=0.6, label="S + F")
        for label, data, ls, color in extra:
            ax.plot(data["t"], f(rho(data)), ls, color=color, lw=1.4, label=label)
        ax.set_xlabel("t")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    ax = axes[2]
    slope = None
    if finite:
        Ms = list(finite)
        dist = [max_trace_distance(d, F) for d in finite.values()]
        slope = convergence_panel(ax, Ms, dist, "finite M vs S + F")
        for M, dd in zip(Ms, dist):
            print(f"  {prefix}: M = {M:6d}  max_t trace distance to S + F = {dd:.4e}")
        summary[f"{prefix}_slope"] = slope
        summary[f"{prefix}_distances"] = dict(zip(map(str, Ms), dist))
    notes = []
    for label, data, ls, color in extra:
        dd = max_trace_distance(data, F)
        print(f"  {prefix}: {label}: max_t trace distance to S + F = {dd:.3e}")
        summary[f"{prefix}_{label.replace(' ', '_')}"] = dd
        notes.append(f"{label}: {dd:.1e}")
    if notes:
        ax.text(0.03, 0.03, "max$_t$ trace distance to S + F\n" + "\n".join(notes), transform=ax.transAxes,
                fontsize=8, va="bottom", bbox=dict(fc="white", ec="0.7"))
    if finite:
        xs = np.array([min(finite), max(finite)], float)
        ax.loglog(xs, dist[0] * (xs / xs[0]) ** -1.0, "k--", lw=0.8, alpha=0.5, label=r"$\propto 1/M$")
    ax.set_ylabel(r"$\max_t \, \frac{1}{2}\Vert\rho_M(t) - \rho_F(t)\Vert_1$")
    ax.set_title(f"convergence (fit over M >= {FIT_MIN_M})" + (f": slope {slope:.3f}" if slope is not None else ""))
    ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path = os.path.join(directory, png)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
def decoherence_closed_forms(side, t):
    """|D_01(t)| over all modes of F and over k != l only (Eq. (21) as printed), and the short-time
    Gaussian exp[-2 sum_i |f_0 - f_1|^2_i t^2 / 4] (Eq. (22), general form), from the sidecar's
    modes. Per mode i (frequency w, X = a a_i + a_dag a_i^+) in eigenstate n of G (eigenvalue g_n)
    the mode sees f_n a^+ + conj(f_n) a with f_n = g_n a_dag + conj(g_n) conj(a), so (displaced
    oscillator) |D_i| = exp[-2 |f_0 - f_1|^2 sin^2(w t / 2) / w^2], -> t^2 / 4 at w = 0."""
    G = cplx_matrix(side["parameters"]["reservoir"]["coupling"][0]["G"])
    if np.max(np.abs(G - np.diag(np.diag(G)))) > 1e-12:
        raise SystemExit("the nondemolition study needs a diagonal G")
    g = np.diag(G)
    modes = side["solver"]["fluctuation_reservoir"]["modes"]
    all_exp, printed_exp, short_exp = np.zeros_like(t), np.zeros_like(t), np.zeros_like(t)
    for m in modes:
        a, adag = complex(*m["X"][0]["a"]), complex(*m["X"][0]["a_dag"])
        f = [gn * adag + np.conj(gn) * np.conj(a) for gn in g[:2]]
        w = m["omega"]
        s = (np.sin(w * t / 2) / w) ** 2 if abs(w) > 1e-12 else t ** 2 / 4
        term = 2 * abs(f[0] - f[1]) ** 2 * s
        all_exp += term
        short_exp += 2 * abs(f[0] - f[1]) ** 2 * t ** 2 / 4
        if m["k"] != m["l"]:
            printed_exp += term
    return np.exp(-all_exp), np.exp(-printed_exp), np.exp(-short_exp)


def abs_D(data):
    r = rho(data)
    return np.abs(r[:, 0, 1]) / np.abs(r[0, 0, 1])


def study_nondemolition(directory, summary):
    path_F = os.path.join(directory, "nd_F.csv")
    F = load(path_F)
    side = sidecar(path_F)
    t = F["t"]
    D_all, D_printed, D_short = decoherence_closed_forms(side, t)
    D_F = abs_D(F)
    summary["nd_closed_form_vs_all_modes"] = float(np.max(np.abs(D_F - D_all)))
    summary["nd_printed_vs_all_modes"] = float(np.max(np.abs(D_printed - D_all)))
    print(f"  nondemolition: max_t | |D_F| - all modes (Python) | = {summary['nd_closed_form_vs_all_modes']:.2e};"
          f" as printed (k != l) is off by up to {summary['nd_printed_vs_all_modes']:.3f}")
    fock = optional(directory, "nd_fock.csv")
    finite = finite_runs(directory, "nd")

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    ax = axes[0]
    for (M, d), c in zip(shown(finite).items(), colours(len(shown(finite)))):
        ax.plot(d["t"], abs_D(d), color=c, lw=1.0, label=f"M = {M}")
    ax.plot(t, D_F, "k-", lw=2.2, alpha=0.6, label=f"S + F, qfluct ({side['parameters']['solver']['reservoir_method']})")
    if fock is not None:
        same_times(fock, F)
        dfock = float(np.max(np.abs(abs_D(fock) - D_F)))
        summary["nd_fock_vs_F"] = dfock
        print(f"  nondemolition: S + F in Fock space vs qfluct's S + F: {dfock:.2e}")
        ax.plot(t[::4], abs_D(fock)[::4], "o", mfc="none", ms=5, color="C3", label=f"S + F in Fock space ({dfock:.0e})")
    ax.plot(t, D_all, "--", color="C1", lw=1.5, label="Eq. (21), product over all modes")
    ax.plot(t, D_printed, ":", color="C0", lw=2, label=r"Eq. (21) as printed ($k \neq l$)")
    ax.plot(t, D_short, "-.", color="C2", lw=1.2, label="Eq. (22), short-time Gaussian (all k, l)")
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("t")
    ax.set_ylabel(r"$|D_{01}(t)|$")
    ax.set_title("qubit components, v with diagonal elements")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    ax = axes[1]
    path_H = os.path.join(directory, "homog_F.csv")
    if os.path.exists(path_H):
        H = load(path_H)
        sh = sidecar(path_H)
        th = H["t"]
        G = cplx_matrix(sh["parameters"]["reservoir"]["coupling"][0]["G"])
        v = cplx_matrix(sh["parameters"]["reservoir"]["coupling"][0]["v"])
        dR = v.shape[0]
        off = np.abs(v[~np.eye(dR, dtype=bool)])
        u = float(off[0])
        if np.max(np.abs(off - u)) > 1e-12 or np.max(np.abs(np.diag(v))) > 1e-12:
            raise SystemExit("homogeneous study: |v_kl| must be u off the diagonal and 0 on it")
        dg = (G[0, 0] - G[1, 1]).real
        corrected = np.exp(-2 * dg ** 2 * (dR - 1) * u ** 2 * th ** 2)
        printed = np.exp(-th ** 2 * (2 * dR - 1) * u ** 2)
        Dh_all, _, _ = decoherence_closed_forms(sh, th)
        hruns = shown(finite_runs(directory, "homog"))
        for (M, d), c in zip(hruns.items(), colours(len(hruns))):
            ax.plot(d["t"], abs_D(d), color=c, lw=1.0, label=f"M = {M}")
        ax.plot(th, abs_D(H), "k-", lw=2.2, alpha=0.6, label="S + F (qfluct)")
        ax.plot(th, Dh_all, "--", color="C1", lw=1.5, label="Eq. (21), all modes")
        ax.plot(th, corrected, "-.", color="C2", lw=1.5,
                label=rf"Eq. (22) corrected: $e^{{-2\Delta g^2 (d_R-1) u^2 t^2}}$ ({2 * dg ** 2 * (dR - 1) * u ** 2:.3g} $t^2$)")
        ax.plot(th, printed, ":", color="C0", lw=2,
                label=rf"Eq. (22) as printed: $e^{{-t^2 (2d_R-1) u^2}}$ ({(2 * dR - 1) * u ** 2:.3g} $t^2$)")
        summary["homog_rate_corrected"] = 2 * dg ** 2 * (dR - 1) * u ** 2
        summary["homog_rate_printed"] = (2 * dR - 1) * u ** 2
        # the Gaussian describes the onset: compare up to the first time |D| falls below 1/e
        early = th <= th[np.argmax(abs_D(H) < np.exp(-1))] if (abs_D(H) < np.exp(-1)).any() else th <= th[-1]
        summary["homog_short_time_rel_error"] = float(np.max(np.abs(np.log(abs_D(H)[early][1:]) /
                                                                    np.log(corrected[early][1:]) - 1)))
        print(f"  homogeneous: Eq. (22) corrected rate {summary['homog_rate_corrected']:.4g} t^2, printed "
              f"{summary['homog_rate_printed']:.4g} t^2; |log|D_F| / log(corrected) - 1| <= "
              f"{summary['homog_short_time_rel_error']:.3f} until |D| = 1/e")
        ax.set_ylim(-0.02, 1.05)
        ax.set_title(rf"homogeneous qutrit coupling: $d_R = {dR}$, $u = {u:g}$, $\Delta g = {dg:g}$")
        ax.legend(fontsize=7)
    ax.set_xlabel("t")
    ax.set_ylabel(r"$|D_{01}(t)|$")
    ax.grid(alpha=0.3)

    ax = axes[2]
    # Two distances: the trace distance of rho_S (sees the phase of D_01) and the modulus |D_01|.
    # With diagonal elements in v the third-order reservoir correlations survive and give D_M a
    # correction of order M^(-1/2) in its phase; |D_M| converges like 1/M.
    refs = [("nd", F, "diagonal v", "o"), ("homog", optional(directory, "homog_F.csv"), "homogeneous v", "s")]
    for (prefix, ref, label, marker), color in zip(refs, ["C0", "C1"]):
        runs = finite_runs(directory, prefix)
        if ref is None or not runs:
            continue
        dmod, dtr = [], []
        for d in runs.values():
            same_times(d, ref)
            dmod.append(float(np.max(np.abs(abs_D(d) - abs_D(ref)))))
            dtr.append(max_trace_distance(d, ref))
        summary[f"{prefix}_trace_slope"] = convergence_panel(ax, list(runs), dtr, f"{label}: trace distance", marker, color)
        summary[f"{prefix}_abs_slope"] = convergence_panel(ax, list(runs), dmod, f"{label}: $|\\,|D_M| - |D_F|\\,|$",
                                                           marker, color, "--", "none")
        summary[f"{prefix}_trace_distances"] = dict(zip(map(str, runs), dtr))
        summary[f"{prefix}_abs_distances"] = dict(zip(map(str, runs), dmod))
        for M, a, b in zip(runs, dtr, dmod):
            print(f"  {prefix}: M = {M:6d}  max_t trace distance = {a:.4e}  max_t | |D_M| - |D_F| | = {b:.4e}")
    ax.set_ylabel("max over t of the distance to S + F")
    ax.set_title(f"convergence (fit over M >= {FIT_MIN_M})")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.suptitle("Nondemolition decoherence: Fantechi & Merkli Eqs. (21)-(22)")
    fig.tight_layout()
    path = os.path.join(directory, "bosonization_nondemolition.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
def study_entanglement(directory, summary):
    F = load(os.path.join(directory, "ent_F.csv"))
    sq, lin = finite_runs(directory, "ent"), finite_runs(directory, "ent_linear")
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    for ax, runs, title in [(axes[0], sq, r"scaling $1/\sqrt{M}$ (fluctuation)"), (axes[1], lin, r"scaling $1/M$ (mean field)")]:
        for (M, d), c in zip(shown(runs).items(), colours(len(shown(runs)))):
            ax.plot(d["t"], d["concurrence"], color=c, lw=1.0, label=f"M = {M}")
        ax.plot(F["t"], F["concurrence"], "k-", lw=2.2, alpha=0.6, label="S + F (Eq. (20))")
        ax.set_xlabel("t")
        ax.set_ylabel("concurrence")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    axes[1].set_ylim(axes[0].get_ylim())
    summary["ent_F_max_concurrence"] = float(np.max(F["concurrence"]))
    print(f"  entanglement: S + F max_t concurrence = {summary['ent_F_max_concurrence']:.4f}")
    ax = axes[2]
    if sq:
        dist = []
        for d in sq.values():
            same_times(d, F)
            dist.append(float(np.max(np.abs(d["concurrence"] - F["concurrence"]))))
        summary["ent_slope"] = convergence_panel(ax, list(sq), dist, r"$\max_t |C_M - C_F|$, $1/\sqrt{M}$", "o")
        td = [max_trace_distance(d, F) for d in sq.values()]
        summary["ent_trace_slope"] = convergence_panel(ax, list(sq), td, r"$\max_t$ trace distance, $1/\sqrt{M}$", "s")
        for M, a, b in zip(sq, dist, td):
            print(f"  ent: M = {M:6d}  max_t |C_M - C_F| = {a:.4e}  max_t trace distance = {b:.4e}")
        summary["ent_distances"] = dict(zip(map(str, sq), dist))
    if lin:
        cmax = [float(np.max(d["concurrence"])) for d in lin.values()]
        summary["ent_linear_slope"] = convergence_panel(ax, list(lin), cmax, r"$\max_t C_M$, $1/M$ (mean field)", "^")
        for M, c in zip(lin, cmax):
            print(f"  ent_linear: M = {M:6d}  max_t concurrence = {c:.4e}")
        summary["ent_linear_max_concurrence"] = dict(zip(map(str, lin), cmax))
    ax.set_title(f"convergence (fit over M >= {FIT_MIN_M})")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.suptitle("Entanglement of two qubits through a shared reservoir (Eq. (20))")
    fig.tight_layout()
    path = os.path.join(directory, "bosonization_entanglement.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(directory):
    summary = {}
    print("study 1: the paper's qubit example")
    extra = []
    for name, label, ls, color in [("qubit_effective.csv", "one thermal mode", "--", "C1"),
                                   ("qubit_printed.csv", "one mode as printed", ":", "C3")]:
        d = optional(directory, name)
        if d is not None:
            extra.append((label, d, ls, color))
    study_dynamics(directory, "qubit", r"Qubit example: $h_R = \omega_R|\uparrow\rangle\langle\uparrow|$, "
                   r"$\rho_R = w|\downarrow\rangle\langle\downarrow| + (1-w)|\uparrow\rangle\langle\uparrow|$, w = 0.2, "
                   r"$G = 0.5\,\sigma_-$, $v = \sigma_+$", extra, "bosonization_qubit.png", summary)
    print("study 2: a qutrit reservoir (two modes)")
    study_dynamics(directory, "qutrit", r"Qutrit reservoir in its ground state, $v_q = |q\rangle\langle 0|$: two modes of F",
                   [], "bosonization_qutrit.png", summary)
    print("study 3: nondemolition decoherence")
    study_nondemolition(directory, summary)
    print("study 4: entanglement")
    study_entanglement(directory, summary)
    path = os.path.join(directory, "bosonization_summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/bosonization")
