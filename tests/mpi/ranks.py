#!/usr/bin/env python3
"""The CLI under mpirun against the plain run (ctest; tests/CMakeLists.txt).

  ranks.py serial QFLUCT CONFIG DIR
      the reference: QFLUCT run CONFIG --threads 1 -o DIR/serial/out.csv, without mpirun; checks
      that solver.tol stopped it before ntraj (so the tests exercise the shared stopping decision)
  ranks.py ranks QFLUCT CONFIG DIR MPIEXEC R K
      mpirun -np R QFLUCT run CONFIG --threads K -o DIR/rR_tK/out.csv: the CSV and records file
      must be byte-identical to the reference's, the sidecars equal but for the fields that
      describe the process (command, created, threads, ranks, *_seconds), and "ranks" = R
  ranks.py bad-input QFLUCT CONFIG DIR MPIEXEC R
      mpirun -np R with a bad value, then with a bad -o: exit code 2, exactly one line on stderr
      (rank 0's "qfluct: error: KEY: ..."), nothing on stdout, no output written
Exits non-zero with a message on the first mismatch.
"""
import json
import os
import subprocess
import sys

# Open MPI in containers and CI: oversubscribe the 2 cores, no cross-memory attach (ptrace is
# often forbidden), shared memory and self only (no network interfaces to probe), and mpirun's
# own "a process exited non-zero" banner off (-q), so that stderr is qfluct's alone.
MPI_ENV = {
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_btl": "self,vader",
}
# Fields that describe the process rather than the results.
PROCESS_FIELDS = {"command", "created", "threads", "ranks"}


def fail(message):
    sys.exit(f"FAIL: {message}")


def run(argv, cwd):
    env = dict(os.environ, **MPI_ENV)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def mpirun(mpiexec, ranks):
    return [mpiexec, "-q", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks)]


def results_only(value):
    """The sidecar without the fields that describe the process (at any depth)."""
    if isinstance(value, dict):
        return {k: results_only(v) for k, v in value.items()
                if k not in PROCESS_FIELDS and not k.endswith("_seconds")}
    if isinstance(value, list):
        return [results_only(v) for v in value]
    return value


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def run_into(argv, directory):
    os.makedirs(directory, exist_ok=True)
    for name in ("out.csv", "out.json", "out.records.csv"):
        if os.path.exists(os.path.join(directory, name)):
            os.remove(os.path.join(directory, name))
    p = run(argv + ["-o", "out.csv", "--quiet"], directory)
    if p.returncode != 0:
        fail(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return directory


def main():
    mode, qfluct, config, top = sys.argv[1:5]
    config, qfluct = os.path.abspath(config), os.path.abspath(qfluct)
    reference = os.path.join(top, "serial")
    if mode == "serial":
        run_into([qfluct, "run", config, "--threads", "1"], reference)
        sidecar = json.loads(read(os.path.join(reference, "out.json")))
        solver = sidecar["solver"]
        if not (solver["end_condition"] == "tolerance reached" and solver["ntraj"] < solver["ntraj_requested"]):
            fail(f"the reference should stop at solver.tol before ntraj: {solver['end_condition']}, "
                 f"{solver['ntraj']} of {solver['ntraj_requested']}")
        if sidecar["ranks"] != 1 or solver["records"] != 3:
            fail(f"reference sidecar: ranks {sidecar['ranks']}, records {solver['records']}")
        print(f"reference: {solver['ntraj']} of {solver['ntraj_requested']} trajectories (tolerance reached)")
    elif mode == "ranks":
        mpiexec, ranks, threads = sys.argv[5], int(sys.argv[6]), sys.argv[7]
        here = run_into(mpirun(mpiexec, ranks) + [qfluct, "run", config, "--threads", threads],
                        os.path.join(top, f"r{ranks}_t{threads}"))
        for name in ("out.csv", "out.records.csv"):
            if read(os.path.join(here, name)) != read(os.path.join(reference, name)):
                fail(f"{name} with {ranks} rank(s) x {threads} thread(s) differs from the serial run's")
        mine, theirs = (json.loads(read(os.path.join(d, "out.json"))) for d in (here, reference))
        if mine["ranks"] != ranks:
            fail(f"sidecar records ranks = {mine['ranks']}, ran {ranks}")
        if results_only(mine) != results_only(theirs):
            a, b = results_only(mine), results_only(theirs)
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            fail(f"sidecars differ beyond the process fields, in {keys}")
        print(f"{ranks} rank(s) x {threads} thread(s): CSV, records and sidecar match the serial run")
    elif mode == "bad-input":
        mpiexec, ranks = sys.argv[5], int(sys.argv[6])
        here = os.path.join(top, "bad_input")
        os.makedirs(here, exist_ok=True)
        # A bad value (found on every rank) and a bad -o (checked on rank 0 alone, then agreed).
        for args, start in ((["--set", "solver.tol=-1", "-o", "out.csv"], "qfluct: error: solver.tol: "),
                            (["-o", "missing/out.csv"], "qfluct: error: -o: ")):
            p = run(mpirun(mpiexec, ranks) + [qfluct, "run", config] + args, here)
            lines = p.stderr.splitlines()
            if p.returncode != 2 or p.stdout or len(lines) != 1 or not lines[0].startswith(start):
                fail(f"{args}: expected exit 2 and one line '{start}...', got exit {p.returncode}, "
                     f"stdout {p.stdout!r}, stderr {p.stderr!r}")
            if os.listdir(here):
                fail(f"bad input wrote {os.listdir(here)}")
            print(f"{ranks} ranks, bad input: {lines[0]}")
    else:
        fail(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
