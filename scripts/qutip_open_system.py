#!/usr/bin/python3
"""Independent QuTiP reference for qfluct's model.kind = "open_system" (issue 11).

Reads an open_system TOML configuration (the contract of issue 11), builds the model on the full
truncated space S (x) mode_0 (x) mode_1 (x) ... (last mode fastest) with QuTiP, and writes

  --times FILE    the master equation (qutip.mesolve, atol 1e-15, rtol 1e-14) on qfluct's output
                  grid 0, dt, 2 dt, ..., t_end, columns
                    t, rho_00_re, rho_00_im, rho_01_re, ... (reduced rho of S, row-major),
                    n_0, n_1, ..., <named observables>, purity[, concurrence, negativity]
  --steady FILE   the same columns without t for the stationary state (qutip.steadystate,
                  sparse direct LU), after checking its residual and that it is unique
  --selftest      checks this script against closed forms (see selftest()) and exits

Model (hbar = 1):
  H_total = H (x) 1 + sum_i omega_i a_i^+ a_i + sum_c ( G_c (x) X_c + G_c^+ (x) X_c^+ ),
  X_c = sum_i ( a_c[i] a_i + a_dag_c[i] a_i^+ ),
  collapse operators sqrt(rate) L (x) 1, sqrt(kappa_down_i) a_i, sqrt(kappa_up_i) a_i^+,
  rho(0) = initial (x) thermal(nbar_0) (x) thermal(nbar_1) ...

Conventions and limits of this reference:
  * Matrices are nested arrays, complex entries as [re, im]; the string form of a matrix
    ("0.5*sigma_z(x)1") is NOT supported here and is rejected with an error.
  * Each [[mode]] must give fock_cutoff (the highest Fock number kept, so cutoff + 1 levels);
    there is no automatic choice. The population of the top two levels of every mode is reported
    on stderr (maximum over the run) and must stay below model.fock_tol (default 1e-10).
  * The thermal initial state is qutip.thermal_dm on the truncated space, i.e. renormalised on
    levels 0..cutoff: p_n = x^n (1 - x) / (1 - x^(cutoff + 1)), x = nbar / (1 + nbar). qfluct must
    use the same convention, or the comparison must use nbar = 0, or nbar and cutoff such that
    x^(cutoff + 1) is below the comparison tolerance (the test models keep it below 1e-12).
  * system.initial: d rows of length d are a density matrix (Hermitian, trace 1, positive within
    1e-10 / 1e-12), anything else a state vector of norm 1 (within 1e-10; not renormalised). For
    d = 2 a complex vector [[re, im], [re, im]] looks like a matrix and is read as one.
  * [solver] is ignored (qfluct's solver options); other unknown keys are errors.
  * The reduced rho of S is written Hermitised, (rho + rho^+)/2 (mesolve does not enforce it).
  * Negativity is qutip.negativity (method "eigenvalues": the sum of |negative eigenvalues| of the
    partial transpose on the second qubit). Concurrence is computed here (see concurrence()):
    qutip.concurrence loses ~1e-8 near pure product states, too much for a 1e-9 reference.

Bad input: "qutip_open_system.py: error: KEY: reason" on stderr, exit 2, nothing written.
Run with Debian's /usr/bin/python3 (3.11: tomllib) and python3-qutip (4.7).
"""

import argparse
import math
import sys
import tomllib

import numpy as np
import qutip
import scipy
import scipy.sparse.linalg

# QuTiP drops entries below settings.atol (1e-12) after arithmetic on Qobj ("auto tidyup"); a
# reference good to 1e-12 must keep them (1/2 (rho + rho^+) lost 7e-13 of the trace otherwise).
qutip.settings.auto_tidyup = False

MESOLVE_ATOL = 1e-15
MESOLVE_RTOL = 1e-14


class ConfigError(Exception):
    def __init__(self, key, reason):
        super().__init__(f"{key}: {reason}")
        self.key = key


# ---------------------------------------------------------------------------------------------
# Configuration


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def parse_complex(x, key):
    if is_number(x):
        z = complex(float(x), 0.0)
    elif isinstance(x, list) and len(x) == 2 and all(is_number(v) for v in x):
        z = complex(float(x[0]), float(x[1]))
    else:
        raise ConfigError(key, f"expected a number or [re, im], got {x!r}")
    if not (math.isfinite(z.real) and math.isfinite(z.imag)):
        raise ConfigError(key, f"entries must be finite, got {x!r}")
    return z


def parse_real(table, section, name, default=None, minimum=None):
    key = f"{section}.{name}"
    if name not in table:
        if default is None:
            raise ConfigError(key, "required")
        return default
    x = table[name]
    if not is_number(x) or not math.isfinite(float(x)):
        raise ConfigError(key, f"expected a finite number, got {x!r}")
    if minimum is not None and float(x) < minimum:
        raise ConfigError(key, f"must be >= {minimum:g}, got {x!r}")
    return float(x)


def parse_matrix(x, key, d=None):
    if isinstance(x, str):
        raise ConfigError(key, "the string form of a matrix is not supported by this reference script; "
                               "give it as nested arrays with complex entries as [re, im]")
    if not isinstance(x, list) or not x or not all(isinstance(row, list) for row in x):
        raise ConfigError(key, "expected a square matrix as a list of rows")
    n = len(x)
    if any(len(row) != n for row in x):
        raise ConfigError(key, f"expected a square matrix; rows have lengths {[len(r) for r in x]}")
    if d is not None and n != d:
        raise ConfigError(key, f"expected {d} x {d} (the dimension of system.H), got {n} x {n}")
    return np.array([[parse_complex(v, key) for v in row] for row in x], dtype=complex)


def require_hermitian(m, key):
    scale = max(1.0, np.abs(m).max())
    if np.abs(m - m.conj().T).max() > 1e-12 * scale:
        raise ConfigError(key, "must be Hermitian")


def check_keys(table, section, allowed):
    if not isinstance(table, dict):
        raise ConfigError(section, "expected a table")
    for k in table:
        if k not in allowed:
            raise ConfigError(f"{section}.{k}", "unknown key")


def parse_config(doc):
    """The model as plain Python data, validated like qfluct's contract asks."""
    check_keys(doc, "(top level)", {"model", "system", "mode", "coupling", "output", "solver"})
    model = doc.get("model", {})
    check_keys(model, "model", {"kind", "fock_tol"})
    if model.get("kind") != "open_system":
        raise ConfigError("model.kind", f'this script handles "open_system" only, got {model.get("kind")!r}')
    fock_tol = parse_real(model, "model", "fock_tol", 1e-10, 0.0)

    system = doc.get("system")
    if system is None:
        raise ConfigError("system", "required")
    check_keys(system, "system", {"H", "initial", "channel"})
    if "H" not in system:
        raise ConfigError("system.H", "required")
    H = parse_matrix(system["H"], "system.H")
    require_hermitian(H, "system.H")
    d = H.shape[0]

    if "initial" not in system:
        raise ConfigError("system.initial", "required")
    init = system["initial"]
    # A list of d rows of length d is a density matrix; otherwise a state vector of d numbers or
    # [re, im] pairs. For d = 2 the two overlap: [[a, b], [c, d]] is read as the matrix.
    is_matrix = isinstance(init, str) or (isinstance(init, list) and len(init) == d
                                          and all(isinstance(r, list) and len(r) == d for r in init))
    if not is_matrix:
        if not isinstance(init, list):
            raise ConfigError("system.initial", "expected a density matrix or a state vector")
        psi = np.array([parse_complex(v, "system.initial") for v in init], dtype=complex)
        if len(psi) != d:
            raise ConfigError("system.initial", f"a state vector must have length {d}, got {len(psi)}")
        if abs(np.linalg.norm(psi) - 1.0) > 1e-10:
            raise ConfigError("system.initial", f"a state vector must have norm 1, got {np.linalg.norm(psi):.17g}")
        rho_S = np.outer(psi, psi.conj())
    else:
        rho_S = parse_matrix(init, "system.initial", d)
        require_hermitian(rho_S, "system.initial")
        if abs(np.trace(rho_S).real - 1.0) > 1e-10:
            raise ConfigError("system.initial", f"trace must be 1, got {np.trace(rho_S).real:.17g}")
        if np.linalg.eigvalsh(rho_S).min() < -1e-12:
            raise ConfigError("system.initial", "must be positive semidefinite")

    channels = []
    for k, ch in enumerate(system.get("channel", [])):
        sec = f"system.channel[{k}]"
        check_keys(ch, sec, {"L", "rate", "name"})
        if "L" not in ch:
            raise ConfigError(f"{sec}.L", "required")
        channels.append((parse_matrix(ch["L"], f"{sec}.L", d), parse_real(ch, sec, "rate", None, 0.0)))

    modes = []
    for k, m in enumerate(doc.get("mode", [])):
        sec = f"mode[{k}]"
        check_keys(m, sec, {"omega", "kappa_down", "kappa_up", "nbar", "fock_cutoff"})
        cutoff = m.get("fock_cutoff")
        if not isinstance(cutoff, int) or isinstance(cutoff, bool) or cutoff < 1:
            raise ConfigError(f"{sec}.fock_cutoff", "required here (no automatic choice in the reference), an integer >= 1")
        modes.append(dict(omega=parse_real(m, sec, "omega", 0.0), kappa_down=parse_real(m, sec, "kappa_down", 0.0, 0.0),
                          kappa_up=parse_real(m, sec, "kappa_up", 0.0, 0.0), nbar=parse_real(m, sec, "nbar", 0.0, 0.0),
                          cutoff=cutoff))

    couplings = []
    for k, c in enumerate(doc.get("coupling", [])):
        sec = f"coupling[{k}]"
        check_keys(c, sec, {"G", "a", "a_dag"})
        if "G" not in c:
            raise ConfigError(f"{sec}.G", "required")
        G = parse_matrix(c["G"], f"{sec}.G", d)
        coeff = {}
        for name in ("a", "a_dag"):
            v = c.get(name, [0.0] * len(modes))
            if not isinstance(v, list) or len(v) != len(modes):
                raise ConfigError(f"{sec}.{name}", f"expected one coefficient per mode ({len(modes)}), got {v!r}")
            coeff[name] = [parse_complex(x, f"{sec}.{name}") for x in v]
        couplings.append((G, coeff["a"], coeff["a_dag"]))

    output = doc.get("output", {})
    check_keys(output, "output", {"t_end", "dt", "entanglement", "observable"})
    t_end = parse_real(output, "output", "t_end", None)
    dt = parse_real(output, "output", "dt", None)
    if not t_end > 0:
        raise ConfigError("output.t_end", "must be > 0")
    if not dt > 0:
        raise ConfigError("output.dt", "must be > 0")
    entanglement = output.get("entanglement", False)
    if not isinstance(entanglement, bool):
        raise ConfigError("output.entanglement", "expected true or false")
    if entanglement and d != 4:
        raise ConfigError("output.entanglement", f"needs d = 4 (two qubits), got d = {d}")
    observables = []
    reserved = set(column_names(d, len(modes), [], entanglement, True))
    for k, o in enumerate(output.get("observable", [])):
        sec = f"output.observable[{k}]"
        check_keys(o, sec, {"name", "O"})
        name = o.get("name")
        if not isinstance(name, str) or not name or name in reserved or any(name == n for n, _ in observables):
            raise ConfigError(f"{sec}.name", f"expected a new, non-empty column name, got {name!r}")
        if "O" not in o:
            raise ConfigError(f"{sec}.O", "required")
        O = parse_matrix(o["O"], f"{sec}.O", d)
        require_hermitian(O, f"{sec}.O")
        observables.append((name, O))

    return dict(H=H, initial=rho_S, channels=channels, modes=modes, couplings=couplings, t_end=t_end, dt=dt,
                entanglement=entanglement, observables=observables, fock_tol=fock_tol)


def time_grid(t_end, dt):
    """qfluct's output grid (src/solver/time_series.cpp, time_grid): 0, dt, ..., ending at t_end."""
    n = math.floor(t_end / dt * (1.0 + 1e-12) + 1e-9)
    t = [i * dt for i in range(n + 1)]
    multiple = n * dt >= t_end or t_end - n * dt <= (1e-9 + 1e-12 * n) * dt
    if multiple and n > 0:
        t[-1] = t_end
    else:
        t.append(t_end)
    return t


# ---------------------------------------------------------------------------------------------
# The model in QuTiP


def column_names(d, n_modes, observables, entanglement, with_t):
    names = ["t"] if with_t else []
    for a in range(d):
        for b in range(d):
            names += [f"rho_{a}{b}_re", f"rho_{a}{b}_im"]
    names += [f"n_{i}" for i in range(n_modes)]
    names += [name for name, _ in observables]
    names += ["purity"]
    if entanglement:
        names += ["concurrence", "negativity"]
    return names


def space_dims(spec):
    """QuTiP dims of the full space; a factor of dimension 1 (d = 1) is left out, because QuTiP
    drops unit dimensions from products and then refuses to add the results."""
    d = spec["H"].shape[0]
    dims = ([d] if d > 1 else []) + [m["cutoff"] + 1 for m in spec["modes"]]
    return dims or [1]


def build(spec):
    """H, collapse operators, rho(0) and the mode number operators on the full space, built as
    Kronecker products S (x) mode_0 (x) mode_1 ... (last mode fastest)."""
    d = spec["H"].shape[0]
    levels = [m["cutoff"] + 1 for m in spec["modes"]]
    dims = space_dims(spec)

    def full(factors):
        m = scipy.sparse.csr_matrix(np.ones((1, 1)))
        for f in factors:
            m = scipy.sparse.kron(m, scipy.sparse.csr_matrix(f), format="csr")
        return qutip.Qobj(m, dims=[dims, dims])

    eyes = [np.eye(n) for n in levels]

    def on_system(m):
        return full([m] + eyes)

    def on_mode(i, op):
        return full([np.eye(d)] + [op if j == i else eyes[j] for j in range(len(levels))])

    a = [on_mode(i, np.diag(np.sqrt(np.arange(1, n)), 1)) for i, n in enumerate(levels)]
    H = on_system(spec["H"])
    for i, m in enumerate(spec["modes"]):
        H += m["omega"] * a[i].dag() * a[i]
    for G, ca, cad in spec["couplings"]:
        if not a:
            continue
        X = sum(ca[i] * a[i] + cad[i] * a[i].dag() for i in range(len(a)))
        GX = on_system(G) * X
        H += GX + GX.dag()
    c_ops = [math.sqrt(rate) * on_system(L) for L, rate in spec["channels"] if rate > 0]
    for i, m in enumerate(spec["modes"]):
        if m["kappa_down"] > 0:
            c_ops.append(math.sqrt(m["kappa_down"]) * a[i])
        if m["kappa_up"] > 0:
            c_ops.append(math.sqrt(m["kappa_up"]) * a[i].dag())
    rho0 = full([spec["initial"]] + [qutip.thermal_dm(n, m["nbar"]).full() for n, m in zip(levels, spec["modes"])])
    numbers = [x.dag() * x for x in a]
    return H, c_ops, rho0, numbers


SIGMA_Y2 = np.kron(np.array([[0, -1j], [1j, 0]]), np.array([[0, -1j], [1j, 0]]))


def concurrence(rho):
    """Wootters' concurrence max(0, l1 - l2 - l3 - l4), the l_i as the singular values of
    W^T (sigma_y (x) sigma_y) W with rho = W W^+ (negative eigenvalues of rho set to zero).
    qutip.concurrence takes sqrt |eigenvalues| of the non-Hermitian rho rho~ instead, which is off
    by up to ~1e-8 near pure product states (defective zero eigenvalue); this form stays at
    rounding (the self-test shows both against |sin 2Jt|)."""
    p, v = np.linalg.eigh(0.5 * (rho + rho.conj().T))
    W = v * np.sqrt(np.clip(p, 0.0, None))
    l = np.linalg.svd(W.T @ SIGMA_Y2 @ W, compute_uv=False)
    return float(max(0.0, l[0] - l[1] - l[2] - l[3]))


def measure(spec, rho, a):
    """a: the number operators of the modes. One CSV row (without t) of the full-space state rho, and the top-two populations per mode."""
    d = spec["H"].shape[0]
    full = rho.full()
    n_modes = len(spec["modes"])
    # Reduced rho of S: trace over the modes (S is the slowest index).
    rest = full.shape[0] // d
    rho_S = np.einsum("aibi->ab", full.reshape(d, rest, d, rest))
    rho_S = 0.5 * (rho_S + rho_S.conj().T)
    row = []
    for x in rho_S.reshape(-1):
        row += [x.real, x.imag]
    row += [float(qutip.expect(a[i], rho)) for i in range(n_modes)]
    row += [float(np.trace(O @ rho_S).real) for _, O in spec["observables"]]
    row.append(float(np.trace(rho_S @ rho_S).real))
    if spec["entanglement"]:
        q = qutip.Qobj(rho_S, dims=[[2, 2], [2, 2]])
        row += [concurrence(rho_S), float(qutip.negativity(q, 1, method="eigenvalues"))]
    tops = []
    for i in range(n_modes):
        p = np.real(rho.ptrace(len(space_dims(spec)) - n_modes + i).diag())
        tops.append(float(p[-2:].sum()) if len(p) >= 2 else float(p[-1]))
    return row, tops


def run_times(spec, atol=MESOLVE_ATOL, rtol=MESOLVE_RTOL):
    H, c_ops, rho0, a = build(spec)
    times = time_grid(spec["t_end"], spec["dt"])
    options = qutip.Options(atol=atol, rtol=rtol, nsteps=10**7, store_states=True)
    result = qutip.mesolve(H, rho0, times, c_ops, [], options=options)
    rows, top = [], [0.0] * len(spec["modes"])
    for t, state in zip(times, result.states):
        row, tops = measure(spec, state, a)
        rows.append([t] + row)
        top = [max(x, y) for x, y in zip(top, tops)]
    return rows, top


class NotUnique(Exception):
    pass


def run_steady(spec):
    """Stationary state from QuTiP (qutip.steadystate: sparse direct LU up to a full space of 60
    states; above, where LU fill-in makes it take minutes, GMRES with an incomplete-LU
    preconditioner, method "iterative-gmres"), then polished by GMRES on
    A vec(rho) = w |0>, A = L + w |0>< vec(1)| (the trace condition added to the first row, as
    QuTiP does; L rho = 0 and tr rho = 1), preconditioned by an incomplete LU of A, to a relative
    residual of 1e-15. Checks: the residual max |L rho|; uniqueness, as the distance to the
    solution polished from a random start (a second stationary state would make A singular and
    the two differ); and, up to a Liouvillian of 5000 rows, the spectral gap (second-smallest
    |eigenvalue| of L). Returns the row, top populations, residual, uniqueness distance, gap
    (None when not computed) and the polish's change to QuTiP's state."""
    H, c_ops, _, numbers = build(spec)
    dim = H.shape[0]
    L = qutip.liouvillian(H, c_ops)
    Ld = L.data.tocsc()
    N = Ld.shape[0]
    gap = None
    if N <= 400:
        gap = float(np.sort(np.abs(np.linalg.eigvals(L.full())))[1])
    elif N <= 5000:
        ev = scipy.sparse.linalg.eigs(Ld, k=3, sigma=-1e-3, which="LM", return_eigenvectors=False)
        gap = float(np.sort(np.abs(ev))[1])
    if gap is not None and not gap > 1e-10:
        raise NotUnique(f"the Liouvillian has a second eigenvalue {gap:.2e} ~ 0")
    if dim <= 60:
        rho_qutip = qutip.steadystate(H, c_ops, method="direct")
    else:
        rho_qutip = qutip.steadystate(H, c_ops, method="iterative-gmres", use_precond=True, tol=1e-14,
                                      drop_tol=1e-5, fill_factor=20, restart=200, maxiter=10000)
    w = float(np.abs(Ld.data).mean())
    trace_row = np.zeros(N)
    trace_row[[k * (dim + 1) for k in range(dim)]] = 1.0  # column-stacked vec: rho_kk at k (dim + 1)
    A = (Ld + scipy.sparse.csc_matrix((w * trace_row, (np.zeros(N, dtype=int), np.arange(N))), shape=Ld.shape)).tocsc()
    b = np.zeros(N, dtype=complex)
    b[0] = w
    try:
        ilu = scipy.sparse.linalg.spilu(A, drop_tol=1e-5, fill_factor=20)
    except RuntimeError as e:  # "Factor is exactly singular": a second stationary state
        raise NotUnique(f"the steady-state system is singular ({e})") from e
    M = scipy.sparse.linalg.LinearOperator(A.shape, ilu.solve, dtype=complex)

    def polish(x0):
        x, info = scipy.sparse.linalg.gmres(A, b, x0=x0, M=M, tol=1e-15, atol=0.0, restart=200, maxiter=100)
        return x

    def to_operator(x):
        rho = x.reshape(dim, dim, order="F")  # undo the column stacking
        rho = 0.5 * (rho + rho.conj().T)
        return qutip.Qobj(rho / np.trace(rho).real, dims=H.dims)

    rho = to_operator(polish(qutip.operator_to_vector(rho_qutip).full().ravel()))
    rng = np.random.default_rng(20231127)
    other = to_operator(polish(rng.standard_normal(N) + 1j * rng.standard_normal(N)))
    uniqueness = float(np.abs(rho.full() - other.full()).max())
    correction = float(np.abs(rho.full() - rho_qutip.full()).max())
    residual = float(np.abs(Ld @ rho.full().ravel(order="F")).max())
    row, tops = measure(spec, rho, numbers)
    return row, tops, residual, uniqueness, gap, correction


# ---------------------------------------------------------------------------------------------
# Output


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(f"{float(x):.17g}" for x in r) + "\n")


def report_truncation(spec, top, what):
    for i, p in enumerate(top):
        print(f"{what}: mode {i} (cutoff {spec['modes'][i]['cutoff']}): top-two population max {p:.3e}", file=sys.stderr)
        if p > spec["fock_tol"]:
            print(f"{what}: warning: mode {i} top-two population {p:.3e} exceeds model.fock_tol = "
                  f"{spec['fock_tol']:g}; raise mode[{i}].fock_cutoff", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Self-test against closed forms


SELFTEST_QUBIT_DECAY = """
[model]
kind = "open_system"
[system]
H = [[0.35, 0], [0, -0.35]]                 # 0.5 h sigma_z, h = 0.7 (index 0 = up)
initial = [[0.7, [0.3, -0.1]], [[0.3, 0.1], 0.3]]
[[system.channel]]
L = [[0, 0], [1, 0]]                        # sigma_- = |down><up|
rate = 0.4
[output]
t_end = 3.0
dt = 0.25
[[output.observable]]
name = "sz"
O = [[1, 0], [0, -1]]
"""

SELFTEST_THERMAL_MODE = """
[model]
kind = "open_system"
[system]
H = [[0.0]]
initial = [1.0]
[[mode]]
omega = 1.7
kappa_down = 1.0
kappa_up = 0.25
nbar = 0.1
fock_cutoff = 40
[output]
t_end = 3.0
dt = 0.5
"""

SELFTEST_TWO_MODE_JC = """
[model]
kind = "open_system"
[system]
H = [[0.6, 0], [0, -0.6]]                   # 0.5 omega sigma_z, resonant with both modes
initial = [1, 0]                            # up
[[mode]]
omega = 1.2
fock_cutoff = 4
[[mode]]
omega = 1.2
fock_cutoff = 3
[[coupling]]                                # sigma_+ (x) (g0 a_0 + g1 e^{i phi} a_1) + h.c.
G = [[0, 1], [0, 0]]
a = [0.3, [0.32, 0.24]]
a_dag = [0, 0]
[output]
t_end = 4.0
dt = 0.5
[[output.observable]]
name = "sz"
O = [[1, 0], [0, -1]]
"""

SELFTEST_EXCHANGE = """
[model]
kind = "open_system"
[system]
H = [[0, 0, 0, 0], [0, 0, 0.45, 0], [0, 0.45, 0, 0], [0, 0, 0, 0]]   # J (|ud><du| + |du><ud|)
initial = [0, 1, 0, 0]                      # |ud>
[output]
t_end = 3.0
dt = 0.25
entanglement = true
"""


def selftest():
    failures = []

    def check(what, err, tol):
        status = "ok" if err <= tol else "FAILED"
        print(f"selftest: {what}: max error {err:.2e} (tolerance {tol:.0e}) {status}")
        if err > tol:
            failures.append(what)

    def col(header, rows, name):
        return np.array([r[header.index(name)] for r in rows])

    # 1. Qubit decay with precession: rho_00(t) = rho_00(0) e^{-rate t},
    #    rho_01(t) = rho_01(0) e^{-(i h + rate/2) t}; stationary state |down><down|.
    spec = parse_config(tomllib.loads(SELFTEST_QUBIT_DECAY))
    rows, _ = run_times(spec)
    header = column_names(2, 0, spec["observables"], False, True)
    t = col(header, rows, "t")
    r00 = 0.7 * np.exp(-0.4 * t)
    r01 = (0.3 - 0.1j) * np.exp(-(0.7j + 0.2) * t)
    check("qubit decay rho_00", np.abs(col(header, rows, "rho_00_re") - r00).max(), 1e-11)
    check("qubit decay rho_01", np.abs(col(header, rows, "rho_01_re") + 1j * col(header, rows, "rho_01_im") - r01).max(), 1e-11)
    check("qubit decay rho_10 = conj rho_01",
          np.abs(col(header, rows, "rho_10_re") + 1j * col(header, rows, "rho_10_im") - r01.conj()).max(), 1e-11)
    check("qubit decay sz", np.abs(col(header, rows, "sz") - (2 * r00 - 1)).max(), 1e-11)
    purity = r00**2 + (1 - r00)**2 + 2 * np.abs(r01)**2
    check("qubit decay purity", np.abs(col(header, rows, "purity") - purity).max(), 1e-11)
    row, _, residual, uniqueness, gap, _ = run_steady(spec)
    expect = np.zeros(len(row))
    expect[6] = 1.0      # rho_11_re
    expect[8] = -1.0     # sz
    expect[9] = 1.0      # purity
    check("qubit decay steady state", np.abs(np.array(row) - expect).max(), 1e-12)
    check("qubit decay steady residual", residual, 1e-12)
    # Spectrum of the Liouvillian: 0, -rate (populations), -rate/2 +- i h (coherences).
    check("qubit decay spectral gap = rate (> 0: unique)", abs(gap - 0.4), 1e-10)
    check("qubit decay uniqueness (random start)", uniqueness, 1e-12)

    # 1b. Pure dephasing (L = sigma_z): every diagonal state is stationary, so the checks must
    #     report a non-unique stationary state (zero gap, random start lands elsewhere).
    spec = parse_config(tomllib.loads(SELFTEST_QUBIT_DECAY.replace("L = [[0, 0], [1, 0]]", "L = [[1, 0], [0, -1]]")))
    try:
        run_steady(spec)
        detected = "no"
    except NotUnique as e:
        detected = str(e)
    print(f"selftest: dephasing: a second stationary state is detected: {detected}")
    if detected == "no":
        failures.append("dephasing not unique")

    # 2. A damped mode from thermal nbar_0 = 0.1: dn/dt = -(kd - ku) n + ku, so
    #    n(t) = n_ss + (n_0 - n_ss) e^{-(kd - ku) t} with n_ss = ku / (kd - ku) = 1/3.
    #    Cutoff 40: truncation x^41 with x = n_ss / (1 + n_ss) = 1/4, about 2e-25.
    spec = parse_config(tomllib.loads(SELFTEST_THERMAL_MODE))
    rows, top = run_times(spec)
    header = column_names(1, 1, [], False, True)
    t = col(header, rows, "t")
    n_t = 1 / 3 + (0.1 - 1 / 3) * np.exp(-0.75 * t)
    check("thermal mode n(t)", np.abs(col(header, rows, "n_0") - n_t).max(), 1e-11)
    # mesolve's atol is the floor for the top populations during the run.
    check("thermal mode truncation (mesolve)", max(top), 1e-12)
    row, top, residual, uniqueness, gap, _ = run_steady(spec)
    check("thermal mode steady n", abs(row[2] - 1 / 3), 1e-13)
    check("thermal mode steady truncation", max(top), 1e-20)
    check("thermal mode steady residual", residual, 1e-12)
    # Spectrum: -(kd - ku) k for populations, -(kd - ku) m / 2 - i omega m for coherences.
    check("thermal mode spectral gap = kd - ku (> 0: unique)", abs(gap - 0.75), 1e-8)
    check("thermal mode uniqueness (random start)", uniqueness, 1e-12)

    # 3. A qubit coupled resonantly to two modes, no loss: |up,0,0> exchanges its excitation with
    #    the bright mode (g0 a_0 + g1 a_1)/g, g = sqrt(|g0|^2 + |g1|^2) = 0.5:
    #    P_up = cos^2(g t), n_i = |g_i|^2 / g^2 sin^2(g t); the phase of g1 drops out.
    #    Checks the coupling convention G (x) X + h.c., the mode order, and complex coefficients.
    spec = parse_config(tomllib.loads(SELFTEST_TWO_MODE_JC))
    rows, top = run_times(spec)
    header = column_names(2, 2, spec["observables"], False, True)
    t = col(header, rows, "t")
    p_up = np.cos(0.5 * t)**2
    check("two-mode JC P_up", np.abs(col(header, rows, "rho_00_re") - p_up).max(), 1e-11)
    check("two-mode JC n_0", np.abs(col(header, rows, "n_0") - 0.36 * (1 - p_up)).max(), 1e-11)
    check("two-mode JC n_1", np.abs(col(header, rows, "n_1") - 0.64 * (1 - p_up)).max(), 1e-11)
    check("two-mode JC sz", np.abs(col(header, rows, "sz") - np.cos(t)).max(), 1e-11)
    check("two-mode JC coherence stays 0", np.abs(col(header, rows, "rho_01_re")).max(), 1e-12)
    check("two-mode JC truncation (one excitation)", max(top), 1e-14)

    # 4. Two qubits under exchange J from |ud>: cos(J t)|ud> - i sin(J t)|du>, so
    #    C = |sin(2 J t)|, N = C / 2, purity 1.
    spec = parse_config(tomllib.loads(SELFTEST_EXCHANGE))
    rows, _ = run_times(spec)
    header = column_names(4, 0, [], True, True)
    t = col(header, rows, "t")
    c = np.abs(np.sin(0.9 * t))
    check("exchange concurrence", np.abs(col(header, rows, "concurrence") - c).max(), 1e-11)
    rho_S = [np.array([r[1 + 2 * k] + 1j * r[2 + 2 * k] for k in range(16)]).reshape(4, 4) for r in rows]
    check("exchange concurrence, qutip.concurrence (sqrt |eig| of rho rho~)",
          max(abs(qutip.concurrence(qutip.Qobj(m, dims=[[2, 2], [2, 2]])) - x) for m, x in zip(rho_S, c)), 1e-7)
    check("exchange negativity", np.abs(col(header, rows, "negativity") - c / 2).max(), 1e-11)
    check("exchange purity", np.abs(col(header, rows, "purity") - 1).max(), 1e-11)
    check("exchange rho_12", np.abs(col(header, rows, "rho_12_im") - np.sin(0.45 * t) * np.cos(0.45 * t)).max(), 1e-11)

    # 5. The time grid and bad input.
    check("time grid 0.3 / 0.1", abs(len(time_grid(0.3, 0.1)) - 4) + abs(time_grid(0.3, 0.1)[-1] - 0.3), 0)
    check("time grid 1 / 0.3 ends with a short step", abs(time_grid(1.0, 0.3)[-1] - 1.0) + abs(len(time_grid(1.0, 0.3)) - 5), 0)
    bad = [
        ("system.H", SELFTEST_QUBIT_DECAY.replace("H = [[0.35, 0], [0, -0.35]]", "H = [[0.35, 1], [0, -0.35]]")),
        ("system.H", SELFTEST_QUBIT_DECAY.replace("H = [[0.35, 0], [0, -0.35]]", 'H = "0.35*sigma_z"')),
        ("system.channel[0].rate", SELFTEST_QUBIT_DECAY.replace("rate = 0.4", "rate = -0.4")),
        ("system.initial", SELFTEST_QUBIT_DECAY.replace("initial = [[0.7,", "initial = [[0.8,")),
        ("coupling[0].a", SELFTEST_TWO_MODE_JC.replace("a = [0.3, [0.32, 0.24]]", "a = [0.3]")),
        ("mode[1].fock_cutoff", SELFTEST_TWO_MODE_JC.replace("fock_cutoff = 3", "")),
        ("mode[0].nbar", SELFTEST_THERMAL_MODE.replace("nbar = 0.1", "nbar = -0.1")),
        ("output.entanglement", SELFTEST_QUBIT_DECAY.replace("dt = 0.25", "dt = 0.25\nentanglement = true")),
        ("system.colour", SELFTEST_QUBIT_DECAY.replace("[system]", "[system]\ncolour = 1")),
        ("output.observable[0].O", SELFTEST_QUBIT_DECAY.replace("O = [[1, 0], [0, -1]]", "O = [[1, 0], [1, -1]]")),
    ]
    for key, text in bad:
        try:
            parse_config(tomllib.loads(text))
            got = "accepted"
        except ConfigError as e:
            got = e.key
        print(f"selftest: bad input names {key}: {'ok' if got == key else 'FAILED (' + got + ')'}")
        if got != key:
            failures.append(f"bad input {key}")

    print(f"selftest: QuTiP {qutip.__version__}, NumPy {np.__version__}, SciPy {scipy.__version__}: "
          + ("all passed" if not failures else f"{len(failures)} FAILED: {failures}"))
    return 0 if not failures else 1


# ---------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", help="open_system TOML configuration")
    p.add_argument("--times", metavar="CSV", help="write the master equation on the output grid")
    p.add_argument("--steady", metavar="CSV", help="write the stationary state")
    p.add_argument("--selftest", action="store_true", help="check this script against closed forms")
    p.add_argument("--atol", type=float, default=MESOLVE_ATOL, help=f"mesolve atol (default {MESOLVE_ATOL:g})")
    p.add_argument("--rtol", type=float, default=MESOLVE_RTOL, help=f"mesolve rtol (default {MESOLVE_RTOL:g})")
    args = p.parse_args()
    if args.selftest:
        return selftest()
    if not args.config or not (args.times or args.steady):
        p.error("give a CONFIG and --times and/or --steady (or --selftest)")
    try:
        with open(args.config, "rb") as f:
            spec = parse_config(tomllib.load(f))
    except tomllib.TOMLDecodeError as e:
        print(f"qutip_open_system.py: error: {args.config}: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"qutip_open_system.py: error: {e}", file=sys.stderr)
        return 2
    d, n_modes = spec["H"].shape[0], len(spec["modes"])
    dim = d * math.prod(m["cutoff"] + 1 for m in spec["modes"])
    print(f"QuTiP {qutip.__version__}: d = {d}, {n_modes} modes, full space {dim}", file=sys.stderr)
    if args.times:
        rows, top = run_times(spec, args.atol, args.rtol)
        report_truncation(spec, top, "mesolve")
        write_csv(args.times, column_names(d, n_modes, spec["observables"], spec["entanglement"], True), rows)
    if args.steady:
        try:
            row, top, residual, uniqueness, gap, correction = run_steady(spec)
        except NotUnique as e:
            print(f"qutip_open_system.py: error: no unique stationary state: {e}", file=sys.stderr)
            return 1
        report_truncation(spec, top, "steady")
        print(f"steady: residual max |L rho| = {residual:.2e}, distance to the state from a random start "
              f"{uniqueness:.2e}, spectral gap {'not computed' if gap is None else f'{gap:.4g}'}, polishing "
              f"changed QuTiP's state by {correction:.2e}", file=sys.stderr)
        if residual > 1e-12 or uniqueness > 1e-10 or (gap is not None and not gap > 1e-6):
            print("qutip_open_system.py: error: the stationary state is not accurate or not unique", file=sys.stderr)
            return 1
        write_csv(args.steady, column_names(d, n_modes, spec["observables"], spec["entanglement"], False), [row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
