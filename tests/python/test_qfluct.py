"""Tests of the Python module qfluct against the command-line program (the reference).

Run by CTest, one case per test (python/CMakeLists.txt), as
    /usr/bin/python3 tests/python/test_qfluct.py TestClass.test_name
with PYTHONPATH=BUILD/python, QFLUCT_BINARY=BUILD/qfluct and QFLUCT_SOURCE_DIR=the checkout.
Every comparison with the CLI is exact (bytes of the CSV, or numbers parsed from it): both call
the same library functions, and the CSV holds 17 significant digits, which read back as the
same doubles.
"""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import unittest

import numpy as np

import qfluct

BINARY = os.environ.get("QFLUCT_BINARY", "build/qfluct")
SOURCE = pathlib.Path(os.environ.get("QFLUCT_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
EXAMPLES = SOURCE / "examples"


def cli(command, config, sets, out, threads=2, extra=()):
    """Runs `qfluct COMMAND CONFIG --set ... -o OUT`; returns the completed process."""
    args = [BINARY, command, str(config)]
    for s in sets:
        args += ["--set", s]
    args += list(extra) + ["-o", str(out), "--quiet", "--threads", str(threads)]
    return subprocess.run(args, capture_output=True, text=True)


class Case(unittest.TestCase):
    def setUp(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="qfluct_py_"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def same_as_cli(self, config, sets, overrides, threads=2, command="run", **kwargs):
        """The CLI with --set SETS and qfluct.run/steady with OVERRIDES (the same settings in
        Python values) write the same CSV bytes; returns the Python result."""
        p = cli(command, config, sets, self.dir / "cli.csv", threads, kwargs.pop("extra", ()))
        self.assertEqual(p.returncode, 0, p.stderr)
        call = qfluct.run if command == "run" else qfluct.steady
        r = call(config, threads=threads, quiet=True, **kwargs, **overrides)
        r.to_csv(self.dir / "py.csv")
        cli_bytes = (self.dir / "cli.csv").read_bytes()
        self.assertEqual((self.dir / "py.csv").read_bytes(), cli_bytes)
        self.assertEqual(r.csv_bytes(), cli_bytes)
        # The numbers themselves, parsed from the CLI's text (17 digits read back exactly).
        table = np.loadtxt(self.dir / "cli.csv", delimiter=",", skiprows=1, ndmin=2)
        header = cli_bytes.decode().splitlines()[0].split(",")
        if command == "run":
            np.testing.assert_array_equal(r.times, table[:, 0])
            for i, name in enumerate(header[1:], start=1):
                got = r.sem[name[:-4]] if name.endswith("_err") else r.expect[name]
                np.testing.assert_array_equal(got, table[:, i], err_msg=name)
        else:
            np.testing.assert_array_equal(r.values, table)
        # The sidecars describe the same configuration.
        side = json.loads((self.dir / "cli.json").read_text())
        mine = json.loads((self.dir / "py.json").read_text())
        for key in ("parameters", "config_sha256", "columns", "derived", "scan", "csv_sha256"):
            self.assertEqual(mine.get(key), side.get(key), key)
        self.assertEqual(r.info["parameters"], side["parameters"])
        return r


class TestCliParity(Case):
    """The same configuration through the CLI and qfluct.run: identical numbers, every kind."""

    def test_central_spin_master(self):
        self.same_as_cli(EXAMPLES / "fig2.toml", ["model.N=6", "output.t_end=1.0"],
                         {"model.N": 6, "output.t_end": 1.0})

    def test_central_spin_jump_any_threads(self):
        # trajectories: the CLI on 2 threads, Python on 1 (results do not depend on threads)
        r = self.same_as_cli(EXAMPLES / "fig2.toml",
                             ["model.N=10", 'solver.method="jump"', "solver.ntraj=40", "output.t_end=1.0"],
                             {"N": 10, "method": "jump", "ntraj": 40, "t_end": 1.0}, threads=1)
        self.assertEqual(r.info["threads"], 1)
        self.assertEqual(set(r.sem), set(r.columns))
        self.assertEqual(r.plan["ntraj"], 40)
        self.assertEqual(r.plan["trajectories"], 40)
        self.assertEqual(r.seeds, (1, range(40)))

    def test_spin_boson(self):
        self.same_as_cli(EXAMPLES / "fig2.toml", ['model.kind="spin_boson"', "output.t_end=2.0"],
                         {"model.kind": "spin_boson", "output.t_end": 2.0})

    def test_mean_field(self):
        self.same_as_cli(EXAMPLES / "mean_field.toml", ['model.kind="mean_field"', "output.t_end=2.0"],
                         {"kind": "mean_field", "t_end": 2.0})

    def test_open_system_master(self):
        self.same_as_cli(EXAMPLES / "open_system.toml", ["output.t_end=5.0"], {"output.t_end": 5.0})

    def test_open_system_jump(self):
        self.same_as_cli(EXAMPLES / "open_system.toml",
                         ["output.t_end=5.0", 'solver.method="jump"', "solver.ntraj=50"],
                         {"output.t_end": 5.0, "solver.method": "jump", "solver.ntraj": 50})

    def test_bosonized(self):
        self.same_as_cli(EXAMPLES / "bosonized_qubit.toml", ["output.t_end=5.0"], {"t_end": 5.0})

    def test_finite_reservoir(self):
        self.same_as_cli(EXAMPLES / "bosonized_qubit.toml",
                         ['model.kind="finite_reservoir"', "reservoir.M=4", "output.t_end=5.0"],
                         {"model.kind": "finite_reservoir", "M": 4, "t_end": 5.0})

    def test_homodyne_records(self):
        r = self.same_as_cli(EXAMPLES / "homodyne.toml", ["output.t_end=1.0", "solver.ntraj=20", "output.records=3"],
                             {"output.t_end": 1.0, "solver.ntraj": 20, "output.records": 3})
        self.assertEqual((self.dir / "py.records.csv").read_bytes(), (self.dir / "cli.records.csv").read_bytes())
        self.assertEqual(r.records["trajectory"], [0, 1, 2])

    def test_steady_scan(self):
        r = self.same_as_cli(EXAMPLES / "fig2.toml", ['model.kind="spin_boson"'], {"model.kind": "spin_boson"},
                             command="steady", extra=["--scan", "model.g0=0.5:8:4"], scan="model.g0=0.5:8:4")
        np.testing.assert_array_equal(r.scan["values"], [0.5, 3.0, 5.5, 8.0])
        # The sidecar as config repeats the scan; (key, values) gives the same points.
        again = qfluct.steady(self.dir / "py.json", quiet=True)
        self.assertEqual(again.csv_bytes(), r.csv_bytes())
        listed = qfluct.steady(EXAMPLES / "fig2.toml", scan=("model.g0", np.linspace(0.5, 8, 4)), quiet=True,
                               kind="spin_boson")
        self.assertEqual(listed.csv_bytes(), r.csv_bytes())


class TestConfigForms(Case):
    """A TOML path, a TOML string and a nested dict; numpy matrices against TOML matrices."""

    def test_path_string_dict_agree(self):
        path = EXAMPLES / "open_system.toml"
        text = path.read_text()
        as_dict = tomllib.loads(text)  # Python's own TOML reader, independent of qfluct's
        results = [qfluct.run(c, t_end=3.0, quiet=True).csv_bytes() for c in (path, str(path), text, as_dict)]
        for r in results[1:]:
            self.assertEqual(r, results[0])

    def test_numpy_matrices_equal_toml(self):
        # open_system.toml's expressions as numpy matrices (complex dtype), built with np.kron
        sz = np.diag([1.0, -1.0]).astype(complex)
        sp = np.array([[0, 1], [0, 0]], dtype=complex)  # |up><down|, basis 0 = up
        sm = sp.conj().T
        one = np.eye(2, dtype=complex)
        cfg = tomllib.loads((EXAMPLES / "open_system.toml").read_text())
        cfg["output"]["t_end"] = 3.0
        cfg["system"]["H"] = 0.05 * np.kron(one, sz)
        cfg["system"]["initial"] = np.array([0, 1, 0, 0], dtype=complex)
        cfg["system"]["channel"][0]["L"] = np.kron(sm, one)
        cfg["system"]["channel"][1]["L"] = np.kron(one, sm)
        cfg["coupling"][0]["G"] = 0.5 * (np.kron(sp, one) + np.kron(one, sp))
        cfg["output"]["observable"][0]["O"] = 0.5 * np.kron(sz, one) + 0.5 * np.kron(one, sz) + np.kron(one, one)
        from_numpy = qfluct.run(cfg, quiet=True)
        from_toml = qfluct.run(EXAMPLES / "open_system.toml", t_end=3.0, quiet=True)
        self.assertEqual(from_numpy.csv_bytes(), from_toml.csv_bytes())

    def test_complex_numpy_state_equals_toml_pairs(self):
        # bosonized_qubit.toml's initial state [[0.7, [0.3, -0.2]], [[0.3, 0.2], 0.3]]
        rho = np.array([[0.7, 0.3 - 0.2j], [0.3 + 0.2j, 0.3]])
        a = qfluct.run(EXAMPLES / "bosonized_qubit.toml", t_end=3.0, quiet=True, **{"system.initial": rho})
        b = qfluct.run(EXAMPLES / "bosonized_qubit.toml", t_end=3.0, quiet=True)
        self.assertEqual(a.csv_bytes(), b.csv_bytes())
        # and a different state does change the numbers (the override is not ignored)
        c = qfluct.run(EXAMPLES / "bosonized_qubit.toml", t_end=3.0, quiet=True,
                       **{"system.initial": rho.conj()})
        self.assertNotEqual(a.csv_bytes(), c.csv_bytes())

    def test_keyword_equals_dotted(self):
        a = qfluct.run(EXAMPLES / "fig2.toml", N=7, t_end=0.5, quiet=True)
        b = qfluct.run(EXAMPLES / "fig2.toml", **{"model.N": 7, "output.t_end": 0.5}, quiet=True)
        self.assertEqual(a.csv_bytes(), b.csv_bytes())
        self.assertEqual(a.info["parameters"]["model"]["N"], 7)

    def test_ambiguous_keyword_raises(self):
        # "h" ends model.h and reservoir.h
        with self.assertRaises(qfluct.InputError) as c:
            qfluct.run(EXAMPLES / "fig2.toml", h=[0.0, 0.0, 0.1])
        self.assertEqual(c.exception.key, "h")
        self.assertIn("model.h or reservoir.h", str(c.exception))
        # "rate" lives in the array of tables [[system.channel]]: the element must be named
        with self.assertRaises(qfluct.InputError) as c:
            qfluct.run(EXAMPLES / "open_system.toml", rate=0.1)
        self.assertEqual(c.exception.key, "rate")
        self.assertIn("system.channel[0].rate", str(c.exception))
        # the element form works
        a = qfluct.run(EXAMPLES / "open_system.toml", t_end=1.0, quiet=True, **{"system.channel[1].rate": 0.05})
        self.assertEqual(a.info["parameters"]["system"]["channel"][1]["rate"], 0.05)


class TestErrors(Case):
    """Bad input: qfluct.InputError (a ValueError) with the CLI's text, naming the key."""

    def same_error(self, sets, overrides):
        p = cli("run", EXAMPLES / "fig2.toml", sets, self.dir / "x.csv")
        self.assertEqual(p.returncode, 2)
        with self.assertRaises(qfluct.InputError) as c:
            qfluct.run(EXAMPLES / "fig2.toml", **overrides)
        self.assertIsInstance(c.exception, ValueError)
        self.assertEqual(p.stderr, f"qfluct: error: {c.exception}\n")
        return c.exception

    def test_unknown_key(self):
        e = self.same_error(["model.Nx=3"], {"model.Nx": 3})
        self.assertEqual(e.key, "model.Nx")

    def test_bad_value(self):
        e = self.same_error(["model.N=-1"], {"model.N": -1})
        self.assertEqual(e.key, "model.N")

    def test_wrong_type(self):
        e = self.same_error(['solver.ntraj="many"'], {"solver.ntraj": "many"})
        self.assertEqual(e.key, "solver.ntraj")

    def test_malformed_toml_string(self):
        with self.assertRaises(qfluct.InputError) as c:
            qfluct.run("[model]\nN = = 3\n")
        self.assertEqual(c.exception.key, "<string>")
        self.assertIn("malformed TOML at line 2", str(c.exception))

    def test_threads_must_be_positive(self):
        with self.assertRaises(qfluct.InputError) as c:
            qfluct.run(EXAMPLES / "fig2.toml", threads=0)
        self.assertEqual(c.exception.key, "threads")


def _threads_now():
    return len(os.listdir("/proc/self/task"))


def _threads_settle(expected, timeout=5.0):
    """The thread count once it reaches `expected`, or after `timeout` s. The run's thread is
    joined before KeyboardInterrupt is raised, but the OpenMP workers of its team leave the
    process a moment after it (libgomp releases them when their master thread exits): a leak
    still shows as a count above `expected` after the timeout."""
    deadline = time.monotonic() + timeout
    while _threads_now() != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return _threads_now()


class TestInterrupt(Case):
    """SIGINT during a long run: KeyboardInterrupt, then the interpreter goes on."""

    LONG = {"model.N": 1000, "solver.method": "jump", "solver.ntraj": 10_000_000, "output.t_end": 4.0}

    def test_sigint_raises_keyboard_interrupt(self):
        before = _threads_now()
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with self.assertRaises(KeyboardInterrupt):
            qfluct.run(EXAMPLES / "fig2.toml", threads=2, quiet=True, **self.LONG)
        timer.join()
        # nothing left running: the run's thread and its OpenMP workers are gone
        self.assertEqual(_threads_settle(before), before)
        # the interpreter goes on, and a second run gives the CLI's numbers
        self.same_as_cli(EXAMPLES / "fig2.toml", ["model.N=6", "output.t_end=1.0"],
                         {"model.N": 6, "output.t_end": 1.0})
        # and a second interruption works too
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with self.assertRaises(KeyboardInterrupt):
            qfluct.run(EXAMPLES / "fig2.toml", threads=1, quiet=True, **self.LONG)
        timer.join()

    def test_progress_on_calling_thread_and_callback_error_stops(self):
        main = threading.get_ident()
        seen = []

        def progress(label, done, total):
            seen.append((threading.get_ident(), label, done, total))

        qfluct.run(EXAMPLES / "fig2.toml", N=10, method="jump", ntraj=200, t_end=1.0, threads=2, quiet=True,
                   progress=progress)
        self.assertTrue(seen)
        self.assertTrue(all(t == main for t, *_ in seen))
        self.assertEqual(seen[-1][1:], ("trajectories", 200.0, 200.0))
        dones = [d for _, _, d, _ in seen]
        self.assertEqual(dones, sorted(dones))

        class Enough(Exception):
            pass

        def stop(label, done, total):
            raise Enough

        with self.assertRaises(Enough):
            qfluct.run(EXAMPLES / "fig2.toml", threads=2, quiet=True, progress=stop, **self.LONG)


class TestThreads(Case):
    def test_concurrent_calls_keep_their_thread_counts(self):
        # two calls at once from two Python threads, on 1 and 2 OpenMP threads: each records its
        # own count, both give the CLI's bytes (results do not depend on threads), and the
        # calling threads' OpenMP setting is untouched (no global state)
        sets = ["model.N=10", 'solver.method="jump"', "solver.ntraj=64", "output.t_end=1.0"]
        overrides = {"N": 10, "method": "jump", "ntraj": 64, "t_end": 1.0}
        p = cli("run", EXAMPLES / "fig2.toml", sets, self.dir / "cli.csv")
        self.assertEqual(p.returncode, 0, p.stderr)
        results = {}

        def call(k):
            results[k] = qfluct.run(EXAMPLES / "fig2.toml", threads=k, quiet=True, **overrides)

        workers = [threading.Thread(target=call, args=(k,)) for k in (1, 2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        for k in (1, 2):
            self.assertEqual(results[k].info["threads"], k)
            self.assertEqual(results[k].csv_bytes(), (self.dir / "cli.csv").read_bytes())
        self.assertEqual(qfluct.run(EXAMPLES / "fig2.toml", quiet=True, **overrides).info["threads"],
                         int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))


class TestResult(Case):
    def test_rho_of_open_system(self):
        r = qfluct.run(EXAMPLES / "open_system.toml", t_end=3.0, quiet=True)
        O = np.diag([2.0, 1.0, 1.0, 0.0])  # the "excitations" observable of the config
        for i in (0, len(r.times) // 2, -1):
            rho = r.rho(i)
            # tr(rho O) is the column computed by the solver from the full state: agreement to
            # rounding (1e-12 on O(1) numbers) shows rho is the reduced state of the columns
            self.assertAlmostEqual(np.trace(rho @ O).real, r.expect["excitations"][i], delta=1e-12)
            self.assertAlmostEqual(np.trace(rho).real, 1.0, delta=1e-9)  # the solver's trace error is below 1e-9
        self.assertEqual(r.rho(0)[1, 1], 1.0)  # |ud> at t = 0: exactly

    def test_to_pandas(self):
        r = qfluct.run(EXAMPLES / "fig2.toml", N=6, t_end=0.5, method="jump", ntraj=10, quiet=True)
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(ImportError):
                r.to_pandas()
            return
        df = r.to_pandas()
        self.assertEqual(list(df.columns), r.csv_bytes().decode().splitlines()[0].split(","))
        np.testing.assert_array_equal(df["tau_z_err"].to_numpy(), r.sem["tau_z"])

    def test_installed_package_imports(self):
        # cmake --install puts the module beside the library; a fresh interpreter imports it
        build = pathlib.Path(BINARY).resolve().parent
        prefix = self.dir / "prefix"
        p = subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        site = next(prefix.glob("lib*/python3*/site-packages"))
        self.assertTrue((site / "qfluct" / "__init__.py").exists())
        env = dict(os.environ, PYTHONPATH=str(site))
        code = ("import qfluct, sys; r = qfluct.run(sys.argv[1], N=6, t_end=0.5, quiet=True); "
                "sys.stdout.buffer.write(r.csv_bytes()); print(qfluct.__file__, file=sys.stderr)")
        p = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "fig2.toml")], capture_output=True, env=env,
                           cwd=self.dir)  # not the build tree, whose qfluct "" on sys.path would find
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.decode().splitlines()[-1], str(site / "qfluct" / "__init__.py"))
        q = cli("run", EXAMPLES / "fig2.toml", ["model.N=6", "output.t_end=0.5"], self.dir / "c.csv")
        self.assertEqual(q.returncode, 0)
        self.assertEqual(p.stdout, (self.dir / "c.csv").read_bytes())


if __name__ == "__main__":
    unittest.main()
