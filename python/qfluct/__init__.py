"""qfluct from Python: quantum trajectories and exact master equations for open central-spin
systems and any finite open system coupled to bosonic modes.

    import qfluct
    r = qfluct.run("examples/fig2.toml", N=20)            # or **{"model.N": 20}
    r.times, r.expect["tau_z"], r.sem, r.info["solver"]
    s = qfluct.steady("examples/fig2.toml", scan="model.g0=0.5:8:16")

The computations are those of the command-line program (the same library calls): the same
configuration gives the same numbers, and ``to_csv`` writes the same bytes as ``qfluct run -o``.
See README.md, section "Python", and docs/python.md.
"""
import difflib
import json
import math
import numbers
import os
import re
import sys
import warnings

import numpy as np

from ._errors import InputError, Note, NumericalError
from . import _qfluct as _native

__version__ = _native.version
__all__ = ["run", "steady", "Result", "SteadyResult", "InputError", "NumericalError", "Note", "to_toml"]

# --- configurations and overrides -------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key, where):
    if not isinstance(key, str):
        raise InputError(where or "config", f"keys must be strings, got {key!r}")
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_float(x):
    # repr is the shortest text that reads back as the same double ("inf", "nan", "1e-20" are TOML)
    return repr(float(x))


def _toml_value(value, key):
    """A Python value as TOML text: numbers, booleans, strings, lists, dicts (inline tables),
    complex numbers as [re, im], numpy arrays as nested arrays (matrices, state vectors)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _toml_float(value)
    if isinstance(value, numbers.Complex):
        z = complex(value)
        # a complex with zero imaginary part is written as the plain number: the same value, and
        # a state vector needs one plain entry (io/matrix_input.hpp)
        return _toml_float(z.real) if z.imag == 0 else f"[{_toml_float(z.real)}, {_toml_float(z.imag)}]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _toml_value(value.item(), key)
        return _toml_value(value.tolist(), key)
    if isinstance(value, dict):
        items = [f"{_toml_key(k, key)} = {_toml_value(v, f'{key}.{k}' if key else k)}" for k, v in value.items()]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, f"{key}[{i}]") for i, v in enumerate(value)) + "]"
    raise InputError(key or "config", f"cannot be given as a {type(value).__name__} (numbers, booleans, strings, "
                                      "lists, dicts and numpy arrays can)")


def to_toml(config):
    """The TOML text of a configuration given as a nested dict (what ``run`` reads it as)."""
    if not isinstance(config, dict):
        raise TypeError("to_toml takes a dict")
    return "".join(f"{_toml_key(k, '')} = {_toml_value(v, k)}\n" for k, v in config.items())


def _source(config):
    """(kind, source, name): a file path, or text (TOML, or a sidecar's JSON) shown as name."""
    if isinstance(config, dict):
        return "text", to_toml(config), "<dict>"
    if isinstance(config, os.PathLike):
        return "path", os.fspath(config), ""
    if isinstance(config, str):
        # a TOML document has a '=' (or a newline); a path has neither
        if "\n" in config or "=" in config or config.lstrip().startswith("{"):
            return "text", config, "<string>"
        return "path", config, ""
    raise TypeError(f"config must be a TOML file path, a TOML string or a dict, not {type(config).__name__}")


def _overrides(kwargs):
    """The overrides as --set's KEY=VALUE: dotted keys as they are, a bare name (N=80) as the one
    key of the configuration's sections that it ends (model.N)."""
    keys = _native.config_keys()
    resolved = []
    for name, value in kwargs.items():
        key = name
        if "." not in name and "[" not in name:
            plain = [k for k in keys if "[" not in k and k.rsplit(".", 1)[1] == name]
            inside = [k for k in keys if "[" in k and k.rsplit(".", 1)[1] == name]
            if len(plain) != 1:
                if plain:
                    reason = f"is ambiguous: it could be {' or '.join(plain)}; give the dotted key, e.g. **{{'{plain[0]}': ...}}"
                elif inside:
                    reason = (f"is a key of an array of tables ({', '.join(inside)}): give the element, "
                              f"e.g. **{{'{inside[0].replace('[i]', '[0]')}': ...}}")
                else:
                    close = difflib.get_close_matches(name, sorted({k.rsplit('.', 1)[1] for k in keys}), n=1)
                    reason = "no configuration key is named " + name + (f" (did you mean {close[0]}?)" if close else "")
                raise InputError(name, reason)
            key = plain[0]
        resolved.append(f"{key}={_toml_value(value, key)}")
    return resolved


# --- progress and notes -----------------------------------------------------------------------

class _TextBar:
    """A bar on stderr when tqdm is not installed."""

    def __init__(self):
        self.label = None

    def __call__(self, label, done, total):
        self.label = label
        fraction = min(1.0, done / total) if total > 0 else 1.0
        filled = int(30 * fraction)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {100 * fraction:5.1f}%")
        sys.stderr.flush()

    def close(self):
        if self.label is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _TqdmBar:
    """tqdm.auto (a widget in Jupyter, text elsewhere): one bar per stage of the run."""

    def __init__(self, tqdm):
        self.tqdm = tqdm
        self.bar = None
        self.label = None

    def __call__(self, label, done, total):
        if label != self.label:
            self.close()
            self.label = label
            whole = float(total).is_integer() and total > 1  # counts (trajectories, points), not fractions
            self.bar = self.tqdm(total=int(total) if whole else total, desc=label,
                                 unit={"trajectories": "traj", "steady states": "point"}.get(label, "it"))
        self.bar.n = int(done) if float(total).is_integer() and total > 1 else done
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _progress(progress):
    """(callback, close): the callback gets (label, done, total), always on the calling thread."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        try:
            from tqdm.auto import tqdm
            bar = _TqdmBar(tqdm)
        except ImportError:
            bar = _TextBar()
        return bar, bar.close
    if callable(progress):
        return progress, lambda: None
    raise TypeError("progress must be None, True or a callable (label, done, total)")


def _note(quiet):
    if quiet:
        return None
    return lambda text: warnings.warn(text, Note, stacklevel=3)


def _threads(threads):
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise InputError("threads", f"expects a whole number >= 1, got {threads!r}")
    return int(threads)


def _command(name, source, overrides, threads):
    shown = source[1] if source[0] == "path" else source[2]
    return [name, shown] + list(overrides) + ([f"threads={threads}"] if threads is not None else [])


# --- results ----------------------------------------------------------------------------------

def _rho_from(columns, row):
    """The reduced density matrix in a row of columns: rho_ab_re/_im (systems S), or the central
    spin's Bloch vector tau (basis 0 = up: rho = (1 + tau . sigma) / 2); None without either."""
    index = {c: i for i, c in enumerate(columns)}
    names = [c for c in columns if re.fullmatch(r"rho_\d+(_\d+)?_re", c)]
    if names:
        d = math.isqrt(len(names))
        rho = np.empty((d, d), dtype=complex)
        for a in range(d):
            for b in range(d):
                ab = f"{a}{b}" if d <= 10 else f"{a}_{b}"
                rho[a, b] = row[index[f"rho_{ab}_re"]] + 1j * row[index[f"rho_{ab}_im"]]
        return rho
    if all(c in index for c in ("tau_x", "tau_y", "tau_z")):
        x, y, z = (row[index[c]] for c in ("tau_x", "tau_y", "tau_z"))
        return 0.5 * np.array([[1 + z, x - 1j * y], [x + 1j * y, 1 - z]])
    return None


class Result:
    """A time evolution (``qfluct.run``).

    times      the output grid (numpy array)
    expect     dict column -> numpy array over times (ensemble means for trajectories)
    sem        dict column -> standard errors (trajectory ensembles; {} for exact solvers)
    columns    the column names, in the CSV's order
    values     times x columns array; errors: the same for standard errors (or empty)
    info       the JSON sidecar as a dict (parameters, derived quantities, solver diagnostics)
    plan, seed, seeds   the trajectory plan (None for exact solvers)
    records    measurement records (output.records), or None
    """

    def __init__(self, native, sidecar):
        self._native = native
        self.info = json.loads(sidecar)
        self.columns = list(native.columns)
        self.times = np.asarray(native.times, dtype=float)
        self.values = np.asarray(native.values)
        self.errors = np.asarray(native.errors)
        self.expect = {c: self.values[:, i].copy() for i, c in enumerate(self.columns)}
        self.sem = {c: self.errors[:, i].copy() for i, c in enumerate(self.columns)} if self.errors.size else {}

    @property
    def plan(self):
        """Trajectory runs: the plan that fixes the numbers (trajectory i draws from random
        stream i of ``seed``; groups of ``group_size`` are the unit of work), and how many ran."""
        solver = self.info["parameters"].get("solver", {})
        if solver.get("method") != "jump":
            return None
        plan = {k: solver[k] for k in ("seed", "ntraj", "group_size", "tol") if k in solver}
        ran = self.info.get("solver", {})
        if "ntraj" in ran:
            plan["trajectories"] = ran["ntraj"]  # run: fewer than ntraj when tol was reached first
        if "groups" in ran:
            plan["groups"] = ran["groups"]
        return plan

    @property
    def seed(self):
        plan = self.plan
        return None if plan is None else plan["seed"]

    @property
    def seeds(self):
        """(seed, range of trajectory indices): trajectory i uses random stream i of seed."""
        plan = self.plan
        if plan is None:
            return None
        return plan["seed"], range(int(plan.get("trajectories", plan["ntraj"])))

    @property
    def records(self):
        """Measurement records of the first output.records trajectories: a dict with "columns"
        (homodyne outputs, then jump channels), "trajectory" (indices) and "values" (one
        times x columns array each: integrated currents Y and jump counts); None without."""
        homodyne, jumps, trajectory, values = self._native.records
        if not values:
            return None
        return {"homodyne": list(homodyne), "jump_channels": list(jumps), "trajectory": list(trajectory),
                "values": [np.asarray(v) for v in values]}

    def rho(self, t_index):
        """The reduced density matrix at times[t_index]: of S (open_system, bosonized,
        finite_reservoir) or of the central spin (from tau); trajectories: the ensemble mean."""
        row = self.values[t_index]
        rho = _rho_from(self.columns, row)
        if rho is None:
            raise ValueError(f"no reduced density matrix among the columns {self.columns}")
        return rho

    def csv_bytes(self):
        """The CSV as ``qfluct run`` writes it."""
        return self._native.csv_text()

    def to_csv(self, path, sidecar=True):
        """Writes the CSV (the bytes ``qfluct run -o path`` writes) and, with sidecar, the JSON
        sidecar beside it (path.json; records in path.records.csv), committed as the CLI does."""
        self._native.to_csv(os.fspath(path), sidecar)

    def to_pandas(self):
        """The CSV's table as a pandas DataFrame (t, columns, and X_err after each column X)."""
        import pandas as pd  # optional
        data = {"t": self.times}
        for c in self.columns:
            data[c] = self.expect[c]
            if self.sem:
                data[c + "_err"] = self.sem[c]
        return pd.DataFrame(data)

    def __repr__(self):
        kind = self.info["parameters"]["model"]["kind"]
        return f"<qfluct.Result {kind}: {len(self.times)} times x {len(self.columns)} columns>"


class SteadyResult:
    """Stationary states (``qfluct.steady``), one row per scan point.

    columns    the CSV's columns (the scanned one first)
    values     points x columns array
    expect     dict column -> numpy array over points (the scanned column included)
    scan       {"key", "column", "values"} or None
    info       the JSON sidecar as a dict (points: residuals, cutoffs, ...)
    """

    def __init__(self, native, sidecar):
        self._native = native
        self.info = json.loads(sidecar)
        self.columns = list(native.columns)
        self.values = np.asarray(native.values)
        self.expect = {c: self.values[:, i].copy() for i, c in enumerate(self.columns)}
        self.scan = None
        if native.scan_key is not None:
            self.scan = {"key": native.scan_key, "column": native.scan_column,
                         "values": self.expect[native.scan_column]}

    def rho(self, point=0):
        """The reduced density matrix at scan point `point` (see Result.rho)."""
        rho = _rho_from(self.columns, self.values[point])
        if rho is None:
            raise ValueError(f"no reduced density matrix among the columns {self.columns}")
        return rho

    def csv_bytes(self):
        return self._native.csv_text()

    def to_csv(self, path, sidecar=True):
        """Writes the CSV (the bytes ``qfluct steady -o path`` writes) and the sidecar beside it."""
        self._native.to_csv(os.fspath(path), sidecar)

    def to_pandas(self):
        import pandas as pd  # optional
        return pd.DataFrame({c: self.expect[c] for c in self.columns})

    def __repr__(self):
        return f"<qfluct.SteadyResult: {len(self.values)} point(s) x {len(self.columns)} columns>"


# --- the calls --------------------------------------------------------------------------------

def run(config, *, threads=None, progress=None, quiet=False, **overrides):
    """Time evolution, as ``qfluct run CONFIG --set KEY=VALUE ...``.

    config     a TOML file path (or a sidecar .json of an earlier run), a TOML string, or a
               nested dict with the file's keys ({"model": {"kind": "spin_boson", ...}, ...});
               matrices may be numpy arrays (complex allowed)
    overrides  dotted keys as --set takes them (**{"model.N": 80, "mode[0].omega": 1.0}), or a
               bare name that ends exactly one key of the configuration (N=80, ntraj=500)
    threads    OpenMP threads of this call (default: OMP_NUM_THREADS, else every processor);
               results do not depend on it
    progress   True: a bar (tqdm.auto when installed, a text bar otherwise); or a callable
               (label, done, total), called on the calling thread about 10 times a second
    quiet      no warnings (qfluct.Note) for the configuration's notes

    Raises InputError (a ValueError, naming the key, with the CLI's text) for bad input, and
    KeyboardInterrupt when interrupted (Ctrl-C): the run stops at its next progress report.
    """
    source = _source(config)
    sets = _overrides(overrides)
    k = _threads(threads)
    callback, close = _progress(progress)
    try:
        native, sidecar = _native.run(*source, sets, k, _note(quiet), callback, _command("qfluct.run", source, sets, k))
    finally:
        close()
    return Result(native, sidecar)


def steady(config, scan=None, *, threads=None, progress=None, quiet=False, **overrides):
    """Stationary states, as ``qfluct steady CONFIG [--scan KEY=START:STOP:COUNT]``.

    scan  None; "KEY=START:STOP:COUNT" (as --scan); or (KEY, values) / {KEY: values} with any
          values (1 to 100000 finite numbers). A sidecar given as config repeats its scan.
    The other arguments are those of ``run``; an interruption is seen between scan points.
    """
    source = _source(config)
    sets = _overrides(overrides)
    spec, key, values = "", None, []
    if isinstance(scan, str):
        spec = scan
    elif isinstance(scan, dict):
        if len(scan) != 1:
            raise InputError("scan", "a dict scan holds one key: {KEY: values}")
        (key, values), = scan.items()
    elif isinstance(scan, (tuple, list)):
        if len(scan) != 2:
            raise InputError("scan", "expects (KEY, values)")
        key, values = scan
    elif scan is not None:
        raise InputError("scan", f"expects 'KEY=START:STOP:COUNT' or (KEY, values), got {type(scan).__name__}")
    if key is not None:
        try:
            values = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=float))]
        except (TypeError, ValueError):
            raise InputError("scan", "the scan's values must be numbers") from None
    k = _threads(threads)
    callback, close = _progress(progress)
    shown = sets + ([f"scan={spec}"] if spec else [f"scan={key}"] if key else [])
    try:
        native, sidecar = _native.steady(*source, sets, spec, key, values, k, _note(quiet), callback,
                                         _command("qfluct.steady", source, shown, k))
    finally:
        close()
    return SteadyResult(native, sidecar)
