#!/usr/bin/env python3
"""Checkpoint, resume, extend, parts and merge of `qfluct run` from the command line (ctest;
tests/CMakeLists.txt registers every case as checkpoint.CASE).

  checkpoint.py CASE QFLUCT SOURCE_DIR WORK_DIR [MPIEXEC]

Every case compares bytes against an uninterrupted plain run (no checkpoint options, one
thread, no mpirun) of the same configuration and final ntraj: its CSV and, where output.records
is on, its OUT.records.csv. Interruptions are seeded-random but wait on the checkpoint file
(its JSON header line) rather than on the clock, so that a slow or loaded machine only makes a
case slower, never wrong. Refusals must exit 2 with one stderr line "qfluct: error: KEY: ..."
naming the key or option, print nothing on stdout and leave the directory as it was.
Exits non-zero with a message on the first mismatch.
"""
import ctypes
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

# Open MPI in containers and CI, as in tests/mpi/ranks.py: oversubscribe the 2 cores, no
# cross-memory attach, shared memory and self only, mpirun's own banners off (-q).
MPI_ENV = {
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_btl": "self,vader",
}
TIMEOUT = 300  # seconds for any one process: a hang fails instead of stalling ctest
POLL = 0.01    # seconds between two looks at a checkpoint file

QFLUCT = SOURCE = WORK = MPIEXEC = None


def fail(message):
    sys.exit(f"FAIL: {message}")


def check(condition, message):
    if not condition:
        fail(message)


def config(name):
    if name == "fig2":
        return os.path.join(SOURCE, "examples", "fig2.toml")
    return os.path.join(SOURCE, "tests", "checkpoint", f"{name}.toml")


# The runs. LONG is killed and resumed (about 3 s on 2 free cores); MEDIUM is interrupted once
# (a third of LONG, with the records of the first 500 trajectories, so that they span the
# interruption); RECORDS is the small ensemble with measurement records; TOL is fig2.toml by
# jumps with solver.tol = 0.2 (reached after 464 trajectories).
LONG = ("long", [])
MEDIUM = ("long", ["solver.ntraj=2000", "output.records=500"])
RECORDS = ("records", [])
TOL = ("fig2", ["model.N=10", "solver.method=\"jump\"", "solver.tol=0.2"])
SMALL = ("long", ["model.N=10", "solver.ntraj=40"])  # the refusals' run


def with_sets(run, *sets):
    return (run[0], run[1] + list(sets))


def qfluct_argv(command, run, *args):
    argv = [QFLUCT, command, config(run[0])]
    for s in run[1]:
        argv += ["--set", s]
    return argv + list(args)


def environment():
    return dict(os.environ, OMP_NUM_THREADS="2", **MPI_ENV)


def execute(argv, cwd, expect=0):
    p = subprocess.run(argv, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=TIMEOUT)
    if expect is not None and p.returncode != expect:
        fail(f"`{' '.join(argv)}` (in {cwd}) exited {p.returncode}, expected {expect}:\n{p.stdout}{p.stderr}")
    return p


def start(argv, cwd):
    """A process in its own session, so that it and everything it starts (mpirun's ranks put
    themselves in process groups of their own, but stay in its session) can be killed."""
    return subprocess.Popen(argv, cwd=cwd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def session_members(sid):
    """The processes of session `sid`: (pid, is_zombie)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # stat fields 3 and 6: the state and the session id
            members.append((int(entry), fields[0] == "Z"))
    return members


def kill_session(p):
    """SIGKILL to every process of p's session (the job, as a batch system ends it), then waits
    until they are all gone, zombies reaped too: a checkpoint's temporary file is removed by the
    next run only once the process that wrote it no longer exists."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        members = session_members(p.pid)
        if not members:
            break
        check(time.monotonic() < deadline, f"processes of session {p.pid} survive SIGKILL: {members}")
        for pid, zombie in members:
            if pid == p.pid and zombie:
                p.wait()
            elif zombie:
                try:  # a rank whose mpirun died, adopted by this process (the subreaper; see main)
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass  # not ours: its parent reaps it
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.01)
    out, err = p.communicate(timeout=TIMEOUT)
    return err


def fresh(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def header(path):
    """The JSON header line of a checkpoint (None while the file does not exist)."""
    try:
        with open(path, "rb") as f:
            magic, line = f.readline(), f.readline()
    except FileNotFoundError:
        return None
    check(magic == b"qfluct-checkpoint 1\n", f"{path} does not start with the checkpoint magic line: {magic!r}")
    return json.loads(line)


def snapshot(directory):
    return {name: read(os.path.join(directory, name)) for name in sorted(os.listdir(directory))}


def plain(run, directory, name="plain"):
    """The reference: the uninterrupted run with no checkpoint option, one thread."""
    d = os.path.join(directory, name)
    os.makedirs(d, exist_ok=True)
    execute(qfluct_argv("run", run, "--threads", "1", "-o", "out.csv", "--quiet"), d)
    return os.path.join(d, "out.csv")


def sidecar(csv):
    return json.loads(read(csv[:-4] + ".json"))


def same_outputs(csv, reference, what, records=None):
    """csv (and OUT.records.csv) byte-identical to the reference run's."""
    check(read(csv) == read(reference), f"{what}: {csv} differs from the plain run's {reference}")
    if records is None:
        records = os.path.exists(reference[:-4] + ".records.csv")
    if records:
        mine, theirs = csv[:-4] + ".records.csv", reference[:-4] + ".records.csv"
        check(os.path.exists(theirs), f"the plain run {reference} wrote no records file")
        check(os.path.exists(mine), f"{what}: no {mine}")
        check(read(mine) == read(theirs), f"{what}: {mine} differs from the plain run's {theirs}")
    print(f"{what}: identical to the plain run" + (" (CSV and records)" if records else ""))


def wait_for(p, path, condition, what):
    """Polls the checkpoint header until condition(header) holds; None if p exited first."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        h = header(path)
        if h is not None and condition(h):
            return h
        if p.poll() is not None:
            return None
        time.sleep(POLL)
    fail(f"timed out waiting for {what} in {path}")


def no_temporaries(directory):
    left = [n for n in os.listdir(directory) if ".tmp." in n]
    check(not left, f"temporary files left in {directory}: {left}")


# ---------------------------------------------------------------------------------------------
# 1. SIGKILL at random moments, resumed each time.

def case_reference():
    """The fixture: the plain runs of LONG and MEDIUM, shared by the interruption cases."""
    for name, run in (("long", LONG), ("medium", MEDIUM)):
        d = fresh(f"reference_{name}")
        csv = plain(run, d)
        print(f"reference {name}: {sidecar(csv)['solver']['ntraj']} trajectories")


def reference(name):
    csv = os.path.join(WORK, f"reference_{name}", "plain", "out.csv")
    check(os.path.exists(csv), f"no {csv}: run the fixture checkpoint.reference first")
    return csv


def case_sigkill():
    """kill -9 at three seeded-random moments, each time resuming the previous checkpoint; the
    checkpoint must grow between kills (at most an interval of work is lost) and the finished run
    must equal the plain one. Kill k comes a random moment (0 to 0.2 s) after the checkpoint has
    passed a random count in the k-th fifth of the run."""
    d = fresh("sigkill")
    rng = random.Random(1401)
    ntraj = 6000
    args = ["--threads", "2", "-o", "out.csv", "--checkpoint-every", "0.2"]
    p = start(qfluct_argv("run", LONG, "--checkpoint", "ck", *args), d)
    saved = 0
    kills = 0
    for kill in range(3):
        # Wait until this process has saved more than the last one did and more than a random
        # count, then a random moment later.
        least = max(saved + 1, rng.randint(kill * ntraj // 5 + 1, (kill + 1) * ntraj // 5))
        h = wait_for(p, os.path.join(d, "ck"), lambda h: h["trajectories"] >= least, f"{least} trajectories")
        if h is None:
            fail(f"kill {kill + 1}: the run exited ({p.returncode}) before saving more than {saved} trajectories:\n"
                 f"{p.communicate()[1]}")
        time.sleep(rng.uniform(0.0, 0.2))
        if p.poll() is not None:
            break  # finished on its own: nothing left to kill
        kill_session(p)
        kills += 1
        h = header(os.path.join(d, "ck"))
        # Growth: what survives the kill holds more than the checkpoint this run started from.
        check(h["trajectories"] > saved and not h["complete"],
              f"kill {kill + 1}: the checkpoint holds {h['trajectories']} trajectories (complete: {h['complete']}), "
              f"the previous one {saved}")
        check(not os.path.exists(os.path.join(d, "out.csv")), f"kill {kill + 1}: a killed run wrote out.csv")
        print(f"kill {kill + 1}: checkpoint holds {h['trajectories']} of {ntraj} trajectories")
        saved = h["trajectories"]
        p = start(qfluct_argv("run", LONG, "--resume", "ck", *args), d)
    out, err = p.communicate(timeout=TIMEOUT)
    check(p.returncode == 0, f"the last resumed run exited {p.returncode}:\n{err}")
    check(kills == 3, f"only {kills} kill(s): the run finished too early to test three (make it longer)")
    check(f"resuming from ck: {saved} trajectories already run" in err,
          f"the resumed run should say it starts from the {saved} saved trajectories; stderr:\n{err}")
    same_outputs(os.path.join(d, "out.csv"), reference("long"), "resumed after 3 kills")
    h = header(os.path.join(d, "ck"))
    check(h["complete"] and h["trajectories"] == ntraj,
          f"final checkpoint: {h['trajectories']} trajectories, complete {h['complete']}")
    no_temporaries(d)  # temporaries of a write cut short by SIGKILL are removed by the next run


def case_kill_early():
    """kill -9 before the first checkpoint: --resume refuses (exit 2, no checkpoint), a fresh
    run with the same --checkpoint path works and equals the plain run."""
    d = fresh("kill_early")
    rng = random.Random(1402)
    args = ["--threads", "2", "-o", "out.csv", "--checkpoint-every", "0.2"]
    p = start(qfluct_argv("run", MEDIUM, "--checkpoint", "ck", *args), d)
    time.sleep(rng.uniform(0.0, 0.1))  # the first checkpoint comes 0.2 s after the start at the earliest
    check(p.poll() is None, f"the run ended within 0.1 s (exit {p.returncode})")
    kill_session(p)
    check(header(os.path.join(d, "ck")) is None,
          "a checkpoint exists within 0.1 s of the start, with --checkpoint-every 0.2")
    before = snapshot(d)
    r = execute(qfluct_argv("run", MEDIUM, "--resume", "ck", *args), d, expect=2)
    lines = r.stderr.splitlines()
    check(len(lines) == 1 and lines[0].startswith("qfluct: error: --resume: ") and "no checkpoint" in lines[0],
          f"--resume of a missing checkpoint: expected one line 'qfluct: error: --resume: no checkpoint ...', "
          f"got {r.stderr!r}")
    check(snapshot(d) == before, "the refused --resume changed the directory")
    print(f"--resume refused: {lines[0]}")
    execute(qfluct_argv("run", MEDIUM, "--checkpoint", "ck", *args, "--quiet"), d)
    same_outputs(os.path.join(d, "out.csv"), reference("medium"), "fresh run after a kill before any checkpoint")


# ---------------------------------------------------------------------------------------------
# 2. SIGTERM and SIGINT.

def case_signal(sig):
    d = fresh(f"sig{sig.name[3:].lower()}")
    rng = random.Random(1403 + sig)
    args = ["--threads", "2", "-o", "out.csv"]
    p = start(qfluct_argv("run", MEDIUM, "--checkpoint", "ck", "--checkpoint-every", "0.2", *args), d)
    # A moment after the first checkpoint, so that the run has a state to save.
    h = wait_for(p, os.path.join(d, "ck"), lambda h: True, "the first checkpoint")
    check(h is not None, f"the run exited ({p.returncode}) before its first checkpoint")
    time.sleep(rng.uniform(0.0, 0.1))
    check(p.poll() is None, f"the run finished ({p.returncode}) before the {sig.name}: make it longer")
    p.send_signal(sig)
    out, err = p.communicate(timeout=TIMEOUT)
    check(p.returncode == 128 + sig, f"{sig.name}: exit {p.returncode}, expected {128 + sig}; stderr {err!r}")
    h = header(os.path.join(d, "ck"))
    # The line names the checkpoint and what it holds, which must be what the file holds.
    line = f"checkpoint ck holds {h['trajectories']} trajectories (continue with --resume ck)"
    check(len(err.splitlines()) == 1 and err.startswith(f"qfluct: interrupted by {sig.name}") and line in err,
          f"{sig.name}: expected one line 'qfluct: interrupted by {sig.name}; ...; {line}', got {err!r}")
    check(not h["complete"], f"{sig.name}: the run was not finished, the checkpoint says complete")
    check(not os.path.exists(os.path.join(d, "out.csv")), f"{sig.name}: an interrupted run wrote out.csv")
    print(f"{sig.name}: exit {p.returncode}, {err.strip()}")
    execute(qfluct_argv("run", MEDIUM, "--resume", "ck", *args, "--quiet"), d)
    same_outputs(os.path.join(d, "out.csv"), reference("medium"), f"resumed after {sig.name}")


# ---------------------------------------------------------------------------------------------
# 3. Extend.

def extend_chain(d, run, counts, threads=("2", "1", "2")):
    """Runs counts[0] trajectories into a checkpoint, then extends it to each later count;
    every stage must equal the plain run of its count."""
    ck = os.path.join(d, "ck")
    for i, n in enumerate(counts):
        out = f"out{n}.csv"
        if i == 0:
            execute(qfluct_argv("run", with_sets(run, f"solver.ntraj={n}"), "--checkpoint", "ck",
                                "--threads", threads[0], "-o", out, "--quiet"), d)
        else:
            execute(qfluct_argv("run", with_sets(run, f"solver.ntraj={counts[0]}"), "--resume", "ck",
                                "--extend", str(n), "--threads", threads[i % len(threads)], "-o", out, "--quiet"), d)
        ref = plain(with_sets(run, f"solver.ntraj={n}"), d, f"plain{n}")
        what = f"{run[0]} {' '.join(run[1])}: ntraj {n}" + (f" extended from {counts[i - 1]}" if i else "")
        same_outputs(os.path.join(d, out), ref, what)
        h = header(ck)
        check(h["ntraj"] == n and h["complete"],
              f"{what}: checkpoint header ntraj {h['ntraj']}, complete {h['complete']}")
    return d


def case_extend_group1():
    d = extend_chain(fresh("extend_group1"), RECORDS, [150])
    # Resuming a finished run without --extend runs nothing and writes the same outputs.
    execute(qfluct_argv("run", with_sets(RECORDS, "solver.ntraj=150"), "--resume", "ck", "-o", "again.csv",
                        "--quiet"), d)
    same_outputs(os.path.join(d, "again.csv"), os.path.join(d, "plain150", "out.csv"), "finished run resumed")
    # --resume ck --checkpoint ck2 saves into ck2 and leaves ck as it was.
    before = read(os.path.join(d, "ck"))
    execute(qfluct_argv("run", with_sets(RECORDS, "solver.ntraj=150"), "--resume", "ck", "--extend", "400",
                        "--checkpoint", "ck2", "--threads", "2", "-o", "out400.csv", "--quiet"), d)
    same_outputs(os.path.join(d, "out400.csv"), plain(with_sets(RECORDS, "solver.ntraj=400"), d, "plain400"),
                 "ntraj 150 extended to 400")
    check(read(os.path.join(d, "ck")) == before, "--resume ck --checkpoint ck2 changed ck")
    h = header(os.path.join(d, "ck2"))
    check(h["ntraj"] == 400 and h["complete"] and h["trajectories"] == 400, f"ck2 header: {h}")


def case_extend_group3():
    # 100 = 33 * 3 + 1 and 251 = 83 * 3 + 2: both runs end on a short group; extended, the
    # short group is run whole. Records of the first 5 trajectories.
    extend_chain(fresh("extend_group3"), with_sets(RECORDS, "solver.group_size=3", "output.records=5"), [100, 251])


def case_extend_twice():
    # A -> B -> C with group size 3, none a multiple of 3.
    extend_chain(fresh("extend_twice"), with_sets(RECORDS, "solver.group_size=3"), [47, 130, 301])


def case_extend_tol():
    """solver.tol: a run stopped by its cap, extended, equals the plain run with the larger cap
    (which stops at the tolerance); a run stopped by the tolerance, extended, stays there."""
    d = fresh("extend_tol")
    small, large, larger = 300, 1000, 1500
    extend_chain(d, TOL, [small, large, larger])
    # What the chain exercised: the cap stopped the first run, the tolerance the other two.
    first, second, third = (sidecar(os.path.join(d, f"plain{n}", "out.csv"))["solver"] for n in (small, large, larger))
    check(first["end_condition"] == "ntraj reached" and first["ntraj"] == small,
          f"the ntraj = {small} run should stop at its cap: {first['end_condition']}, {first['ntraj']}")
    check(second["end_condition"] == "tolerance reached" and small < second["ntraj"] < large,
          f"the ntraj = {large} run should stop at solver.tol between {small} and {large}: "
          f"{second['end_condition']}, {second['ntraj']}")
    check(third["ntraj"] == second["ntraj"], f"ntraj = {larger} stopped at {third['ntraj']}, not {second['ntraj']}")
    print(f"tolerance reached after {second['ntraj']} trajectories")


# ---------------------------------------------------------------------------------------------
# 4. Parts and merge.

def run_parts(d, run, parts, threads):
    pieces = []
    for i in range(1, parts + 1):
        piece = f"piece_{i}"
        execute(qfluct_argv("run", run, "--part", f"{i}/{parts}", "--checkpoint", piece,
                            "--threads", threads[(i - 1) % len(threads)], "--quiet"), d)
        h = header(os.path.join(d, piece))
        check(h["complete"] and h["part"] == i and h["parts"] == parts, f"{piece}: header {h}")
        pieces.append(piece)
    check(not any(n.endswith(".csv") for n in os.listdir(d)), f"a --part run wrote a CSV: {os.listdir(d)}")
    return pieces


def case_parts(parts, run, seed):
    d = fresh(f"parts{parts}")
    ref = plain(run, d)
    pieces = run_parts(d, run, parts, ["1", "2"])
    random.Random(seed).shuffle(pieces)
    execute([QFLUCT, "merge", *pieces, "-o", "merged.csv", "--threads", "2", "--quiet"], d)
    same_outputs(os.path.join(d, "merged.csv"), ref, f"{parts} parts merged in the order {' '.join(pieces)}",
                 records=True)


def case_parts3():
    case_parts(3, with_sets(RECORDS, "solver.ntraj=300"), 1404)


def case_parts4():
    # 301 = 100 * 3 + 1: the last part ends on a short group; records of 4 trajectories.
    case_parts(4, with_sets(RECORDS, "solver.ntraj=301", "solver.group_size=3", "output.records=4"), 1405)


def case_merge_extend():
    """merge --checkpoint M, then run --resume M --extend: equals the plain larger run."""
    d = fresh("merge_extend")
    run = with_sets(RECORDS, "solver.ntraj=200")
    pieces = run_parts(d, run, 3, ["2", "1"])
    execute([QFLUCT, "merge", pieces[2], pieces[0], pieces[1], "-o", "merged.csv", "--checkpoint", "M", "--quiet"], d)
    same_outputs(os.path.join(d, "merged.csv"), plain(run, d), "3 parts merged")
    h = header(os.path.join(d, "M"))
    check(h["parts"] == 1 and h["complete"] and h["trajectories"] == 200, f"merged checkpoint header: {h}")
    execute(qfluct_argv("run", run, "--resume", "M", "--extend", "333", "--threads", "2", "-o", "extended.csv",
                        "--quiet"), d)
    same_outputs(os.path.join(d, "extended.csv"), plain(with_sets(RECORDS, "solver.ntraj=333"), d, "plain333"),
                 "merged checkpoint extended to 333")


# ---------------------------------------------------------------------------------------------
# 5. Refusals.

def refused(argv, d, key, *words):
    """Exit 2, one line 'qfluct: error: KEY: ...' containing `words`, nothing on stdout and the
    directory (names and bytes) as before."""
    before = snapshot(d)
    p = execute(argv, d, expect=None)
    lines = p.stderr.splitlines()
    shown = " ".join(a if a != QFLUCT else "qfluct" for a in argv)
    check(p.returncode == 2 and not p.stdout and len(lines) == 1 and lines[0].startswith(f"qfluct: error: {key}: "),
          f"`{shown}`: expected exit 2 and one line 'qfluct: error: {key}: ...', got exit {p.returncode}, "
          f"stdout {p.stdout!r}, stderr {p.stderr!r}")
    for w in words:
        check(w in lines[0], f"`{shown}`: the error should mention {w!r}: {lines[0]}")
    after = snapshot(d)
    check(after.keys() == before.keys(), f"`{shown}` created or removed files: {sorted(after.keys() ^ before.keys())}")
    changed = [n for n in after if after[n] != before[n]]
    check(not changed, f"`{shown}` changed {changed}")
    print(f"refused: {lines[0]}")


def small_checkpoint(d, run=SMALL, name="ck"):
    execute(qfluct_argv("run", run, "--checkpoint", name, "-o", f"{name}.csv", "--quiet"), d)
    for suffix in (".csv", ".json"):
        os.remove(os.path.join(d, name + suffix))
    return os.path.join(d, name)


def rewrite(path, change_header=None, flip=None):
    data = read(path)
    magic, line, state = data.split(b"\n", 2)
    if change_header:
        h = json.loads(line)
        change_header(h)
        line = json.dumps(h, separators=(",", ":")).encode()
    if flip is not None:
        state = bytearray(state)
        state[flip] ^= 0x01
        state = bytes(state)
    with open(path, "wb") as f:
        f.write(magic + b"\n" + line + b"\n" + state)


def refuse_other_config():
    d = fresh("refuse_other_config")
    small_checkpoint(d)
    refused(qfluct_argv("run", with_sets(SMALL, "model.N=11"), "--resume", "ck", "-o", "out.csv"), d, "--resume",
            "model.N")


def refuse_damaged_state():
    d = fresh("refuse_damaged_state")
    ck = small_checkpoint(d)
    rewrite(ck, flip=len(read(ck).split(b"\n", 2)[2]) // 2)  # a byte in the middle of the state
    refused(qfluct_argv("run", SMALL, "--resume", "ck", "-o", "out.csv"), d, "--resume", "damaged")


def refuse_other_version():
    d = fresh("refuse_other_version")
    ck = small_checkpoint(d)
    rewrite(ck, change_header=lambda h: h.update(qfluct_version="0.0.1-elsewhere"))
    refused(qfluct_argv("run", SMALL, "--resume", "ck", "-o", "out.csv"), d, "--resume", "0.0.1-elsewhere")


def refuse_other_ntraj():
    d = fresh("refuse_other_ntraj")
    small_checkpoint(d)
    refused(qfluct_argv("run", with_sets(SMALL, "solver.ntraj=60"), "--resume", "ck", "-o", "out.csv"), d,
            "solver.ntraj", "--extend")


def refuse_extend_smaller():
    d = fresh("refuse_extend_smaller")
    small_checkpoint(d)
    refused(qfluct_argv("run", SMALL, "--resume", "ck", "--extend", "30", "-o", "out.csv"), d, "--extend")


def refuse_other_part():
    d = fresh("refuse_other_part")
    merge_pieces_of(d)
    refused(qfluct_argv("run", SMALL, "--part", "1/3", "--resume", "piece_2"), d, "--part", "2/3")


def refuse_checkpoint_exists():
    d = fresh("refuse_checkpoint_exists")
    small_checkpoint(d)
    refused(qfluct_argv("run", SMALL, "--checkpoint", "ck", "-o", "out.csv"), d, "--checkpoint", "--resume")


def refuse_checkpoint_not_checkpoint():
    d = fresh("refuse_checkpoint_not_checkpoint")
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not a checkpoint\n")
    refused(qfluct_argv("run", SMALL, "--checkpoint", "notes.txt", "-o", "out.csv"), d, "--checkpoint", "notes.txt")


def refuse_part(spec):
    def case():
        d = fresh("refuse_part_" + spec.replace("/", "_of_"))
        refused(qfluct_argv("run", SMALL, "--part", spec, "--checkpoint", "piece"), d, "--part", spec)
    return case


def refuse_checkpoint_is_output():
    """The checkpoint (or the one resumed) must not be one of -o's files, which would replace it
    (found by a new-user review: the run ended with exit 0 and the checkpoint gone)."""
    d = fresh("refuse_checkpoint_is_output")
    refused(qfluct_argv("run", SMALL, "-o", "same.csv", "--checkpoint", "same.csv"), d, "--checkpoint", "its CSV")
    refused(qfluct_argv("run", SMALL, "-o", "q.csv", "--checkpoint", "q.json"), d, "--checkpoint", "its sidecar")
    small_checkpoint(d, name="r.ckpt")
    refused(qfluct_argv("run", SMALL, "-o", "r.ckpt", "--resume", "r.ckpt"), d, "--resume", "its CSV")
    refused(qfluct_argv("run", SMALL, "--part", "1/1", "--checkpoint", "p"), d, "--part", "whole run")
    refused([QFLUCT, "run", "r.ckpt", "-o", "x.csv"], d, "r.ckpt", "is a checkpoint, not a config file")


def refuse_part_without_checkpoint():
    d = fresh("refuse_part_without_checkpoint")
    refused(qfluct_argv("run", SMALL, "--part", "1/3"), d, "--part", "--checkpoint")


def refuse_part_with_output():
    d = fresh("refuse_part_with_output")
    refused(qfluct_argv("run", SMALL, "--part", "1/3", "--checkpoint", "piece", "-o", "out.csv"), d, "-o")


def refuse_extend_without_resume():
    d = fresh("refuse_extend_without_resume")
    refused(qfluct_argv("run", SMALL, "--extend", "100", "--checkpoint", "ck", "-o", "out.csv"), d, "--extend")


def refuse_master():
    d = fresh("refuse_master")
    refused(qfluct_argv("run", ("fig2", []), "--checkpoint", "ck", "-o", "out.csv"), d, "--checkpoint", "master")


def merge_pieces_of(d, run=SMALL, parts=3, prefix="piece_"):
    for i in range(1, parts + 1):
        execute(qfluct_argv("run", run, "--part", f"{i}/{parts}", "--checkpoint", f"{prefix}{i}", "--quiet"), d)


def refuse_merge_missing():
    d = fresh("refuse_merge_missing")
    merge_pieces_of(d)
    refused([QFLUCT, "merge", "piece_3", "piece_1", "-o", "out.csv"], d, "merge", "2")


def refuse_merge_duplicate():
    d = fresh("refuse_merge_duplicate")
    merge_pieces_of(d)
    shutil.copy(os.path.join(d, "piece_2"), os.path.join(d, "copy_2"))
    refused([QFLUCT, "merge", "piece_1", "piece_2", "copy_2", "piece_3", "-o", "out.csv"], d, "copy_2", "piece_2")


def refuse_merge_unfinished():
    """A part killed early (its last checkpoint resumable, not complete) is refused; resumed to
    its end, the merge is the plain run."""
    d = fresh("refuse_merge_unfinished")
    run = with_sets(LONG, "solver.ntraj=600")
    merge_pieces_of(d, run, 3)
    os.remove(os.path.join(d, "piece_2"))
    part = qfluct_argv("run", run, "--part", "2/3", "--threads", "1")
    p = start(part + ["--checkpoint", "piece_2", "--checkpoint-every", "0"], d)
    h = wait_for(p, os.path.join(d, "piece_2"), lambda h: True, "the part's first checkpoint")
    check(h is not None and p.poll() is None, f"the part finished ({p.returncode}) before it could be killed")
    kill_session(p)
    h = header(os.path.join(d, "piece_2"))
    check(not h["complete"], f"piece_2 holds {h['trajectories']} trajectories and is complete: killed too late")
    refused([QFLUCT, "merge", "piece_1", "piece_2", "piece_3", "-o", "out.csv"], d, "piece_2", "not finished")
    execute(part + ["--resume", "piece_2", "--quiet"], d)
    execute([QFLUCT, "merge", "piece_1", "piece_2", "piece_3", "-o", "out.csv", "--quiet"], d)
    same_outputs(os.path.join(d, "out.csv"), plain(run, d), f"part 2/3 killed at {h['trajectories']} trajectories, "
                 "resumed and merged")


def refuse_merge_damaged():
    d = fresh("refuse_merge_damaged")
    merge_pieces_of(d)
    piece = os.path.join(d, "piece_3")
    rewrite(piece, flip=len(read(piece).split(b"\n", 2)[2]) - 1)  # the state's last byte
    refused([QFLUCT, "merge", "piece_1", "piece_2", "piece_3", "-o", "out.csv"], d, "piece_3", "damaged")


def refuse_merge_other_ntraj():
    # The configuration hash leaves solver.ntraj out (for --extend): merge must compare it itself.
    d = fresh("refuse_merge_other_ntraj")
    merge_pieces_of(d)
    merge_pieces_of(d, with_sets(SMALL, "solver.ntraj=60"), 3, "other_")
    refused([QFLUCT, "merge", "piece_1", "piece_2", "other_3", "-o", "out.csv"], d, "other_3", "ntraj")


def refuse_merge_foreign():
    d = fresh("refuse_merge_foreign")
    merge_pieces_of(d)
    merge_pieces_of(d, with_sets(SMALL, "model.N=12"), 3, "other_")
    refused([QFLUCT, "merge", "piece_1", "other_2", "piece_3", "-o", "out.csv"], d, "other_2", "model.N")


# ---------------------------------------------------------------------------------------------
# 6. Under mpirun.

def mpirun(ranks):
    return [MPIEXEC, "-q", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks)]


def case_mpi_part():
    """A part under mpirun -np 2 and one plain, merged: the plain run's bytes."""
    d = fresh("mpi_part")
    run = with_sets(RECORDS, "solver.ntraj=300")
    execute(mpirun(2) + qfluct_argv("run", run, "--part", "1/2", "--checkpoint", "piece_1", "--threads", "1",
                                    "--quiet"), d)
    execute(qfluct_argv("run", run, "--part", "2/2", "--checkpoint", "piece_2", "--threads", "2", "--quiet"), d)
    execute([QFLUCT, "merge", "piece_2", "piece_1", "-o", "merged.csv", "--quiet"], d)
    same_outputs(os.path.join(d, "merged.csv"), plain(run, d), "part 1/2 under mpirun -np 2 + part 2/2 plain, merged",
                 records=True)


def killed_mpi_run(d, ranks, rng):
    """MEDIUM under mpirun -np `ranks`, checkpoint after every chunk; SIGKILL to the whole job a
    random moment after its first checkpoint. Returns the trajectories saved."""
    p = start(mpirun(ranks) + qfluct_argv("run", MEDIUM, "--checkpoint", "ck", "--checkpoint-every", "0",
                                          "--threads", "1", "-o", "out.csv"), d)
    h = wait_for(p, os.path.join(d, "ck"), lambda h: True, "the first checkpoint")
    if h is None:
        fail(f"mpirun -np {ranks} exited ({p.returncode}) before its first checkpoint:\n{p.communicate()[1]}")
    time.sleep(rng.uniform(0.0, 0.2))
    check(p.poll() is None, f"mpirun -np {ranks} finished before the kill: make the run longer")
    kill_session(p)
    h = header(os.path.join(d, "ck"))
    check(0 < h["trajectories"] and not h["complete"], f"checkpoint after the kill: {h}")
    check(not os.path.exists(os.path.join(d, "out.csv")), "a killed mpirun job wrote out.csv")
    print(f"mpirun -np {ranks} killed with {h['trajectories']} trajectories saved")
    return h["trajectories"]


def case_mpi_resume_ranks():
    """A checkpoint made under -np 3, resumed under -np 2."""
    d = fresh("mpi_resume_ranks")
    killed_mpi_run(d, 3, random.Random(1406))
    execute(mpirun(2) + qfluct_argv("run", MEDIUM, "--resume", "ck", "--threads", "1", "-o", "out.csv", "--quiet"), d)
    same_outputs(os.path.join(d, "out.csv"), reference("medium"), "killed under -np 3, resumed under -np 2")
    no_temporaries(d)


def case_mpi_sigkill():
    """SIGKILL of the mpirun job (all its processes), then resumed without mpirun."""
    d = fresh("mpi_sigkill")
    killed_mpi_run(d, 2, random.Random(1407))
    execute(qfluct_argv("run", MEDIUM, "--resume", "ck", "--threads", "2", "-o", "out.csv", "--quiet"), d)
    same_outputs(os.path.join(d, "out.csv"), reference("medium"), "killed under -np 2, resumed plain")
    no_temporaries(d)


def case_mpi_sigterm():
    """SIGTERM to mpirun: rank 0 saves while the other rank waits (it used to exit at once and
    mpirun then killed rank 0 during the save, in 2 of 4 tries); the line names what was saved."""
    d = fresh("mpi_sigterm")
    p = start(mpirun(2) + qfluct_argv("run", LONG, "--checkpoint", "ck", "--checkpoint-every", "0",
                                      "--threads", "1", "-o", "out.csv"), d)
    h = wait_for(p, os.path.join(d, "ck"), lambda h: True, "the first checkpoint")
    check(h is not None, f"mpirun exited ({p.returncode}) before its first checkpoint")
    # LONG (about 2 s here): mpirun takes a moment to pass the signal on.
    check(p.poll() is None, "mpirun finished before the SIGTERM: make the run longer")
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=TIMEOUT)
    h = header(os.path.join(d, "ck"))
    line = f"checkpoint ck holds {h['trajectories']} trajectories (continue with --resume ck)"
    check("qfluct: interrupted by SIGTERM" in err and line in err, f"expected rank 0's line with '{line}', got {err!r}")
    check(not h["complete"] and not os.path.exists(os.path.join(d, "out.csv")), "the job was not interrupted")
    execute(qfluct_argv("run", LONG, "--resume", "ck", "--threads", "2", "-o", "out.csv", "--quiet"), d)
    same_outputs(os.path.join(d, "out.csv"), reference("long"), "SIGTERM under -np 2, resumed plain")
    no_temporaries(d)


CASES = {
    "reference": case_reference,
    "sigkill": case_sigkill,
    "kill_early": case_kill_early,
    "sigterm": lambda: case_signal(signal.SIGTERM),
    "sigint": lambda: case_signal(signal.SIGINT),
    "extend_group1": case_extend_group1,
    "extend_group3": case_extend_group3,
    "extend_twice": case_extend_twice,
    "extend_tol": case_extend_tol,
    "parts3": case_parts3,
    "parts4": case_parts4,
    "merge_extend": case_merge_extend,
    "refuse_other_config": refuse_other_config,
    "refuse_damaged_state": refuse_damaged_state,
    "refuse_other_version": refuse_other_version,
    "refuse_other_ntraj": refuse_other_ntraj,
    "refuse_extend_smaller": refuse_extend_smaller,
    "refuse_other_part": refuse_other_part,
    "refuse_checkpoint_exists": refuse_checkpoint_exists,
    "refuse_checkpoint_not_checkpoint": refuse_checkpoint_not_checkpoint,
    "refuse_part_0_of_3": refuse_part("0/3"),
    "refuse_part_4_of_3": refuse_part("4/3"),
    "refuse_part_x": refuse_part("x"),
    "refuse_part_without_checkpoint": refuse_part_without_checkpoint,
    "refuse_checkpoint_is_output": refuse_checkpoint_is_output,
    "refuse_part_with_output": refuse_part_with_output,
    "refuse_extend_without_resume": refuse_extend_without_resume,
    "refuse_master": refuse_master,
    "refuse_merge_missing": refuse_merge_missing,
    "refuse_merge_duplicate": refuse_merge_duplicate,
    "refuse_merge_unfinished": refuse_merge_unfinished,
    "refuse_merge_damaged": refuse_merge_damaged,
    "refuse_merge_other_ntraj": refuse_merge_other_ntraj,
    "refuse_merge_foreign": refuse_merge_foreign,
    "mpi_part": case_mpi_part,
    "mpi_resume_ranks": case_mpi_resume_ranks,
    "mpi_sigkill": case_mpi_sigkill,
    "mpi_sigterm": case_mpi_sigterm,
}


def main():
    global QFLUCT, SOURCE, WORK, MPIEXEC
    if len(sys.argv) < 5 or sys.argv[1] not in CASES:
        sys.exit(f"usage: checkpoint.py CASE QFLUCT SOURCE_DIR WORK_DIR [MPIEXEC]; CASE in {', '.join(CASES)}")
    case = sys.argv[1]
    QFLUCT, SOURCE, WORK = (os.path.abspath(a) for a in sys.argv[2:5])
    MPIEXEC = sys.argv[5] if len(sys.argv) > 5 else None
    if case.startswith("mpi_") and not MPIEXEC:
        sys.exit(f"{case} needs MPIEXEC")
    os.makedirs(WORK, exist_ok=True)
    # Orphans (the ranks of a killed mpirun) become this process's children, to be reaped in
    # kill_session: an init that does not reap (some containers) would leave them as zombies.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    CASES[case]()


if __name__ == "__main__":
    main()
