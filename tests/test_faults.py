"""The fault suite: what real machines do to a running study - a torn or damaged journal, a full
disk, Ctrl-C / SIGTERM in every phase, a database restarted or gone - ends in one line, loses
nothing finished, and the same command then finishes with every unit complete exactly once.

Most faults hit the runner, the same for every study, so they are driven through `fault_study`
(a toy study run as a command; units sleep instead of training); the ones that touch training
(a signal while JAX compiles, a full disk under a real study's worker logs) use experiments.misuse."""

import collections
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}:{REPO}"}
SMOKE = ["--seeds=2", "--train_size=300", "--valid_size=200", "--test_size=500", "--max_epochs=2"]


def _start(*args, env=None, **kwargs):
    return subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env={**ENV, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _toy(out, *flags, env=None, **kwargs):
    return _start("fault_study", f"--out_dir={out}", *flags, env=env, **kwargs)


def _finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _states(storage, name="faults"):
    study = optuna.load_study(study_name=name, storage=storage)
    complete = [t.user_attrs["unit"]["x"] for t in study.get_trials() if t.state.name == "COMPLETE"]
    return collections.Counter(complete), collections.Counter(t.state.name for t in study.get_trials())


def _journal(out):
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))


def _assert_every_unit_once(storage, points):
    complete, _ = _states(storage)
    assert complete == {x: 1 for x in range(points)}, complete


def _one_line(err):
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _wait_for_units(process, count):
    """Reads progress lines until `count` units are done; returns them."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("[") and int(line[1:line.index("/")]) >= count:
            return lines
    raise AssertionError(f"the command ended before {count} units: {lines}")


# --- the journal ---------------------------------------------------------------------------------

def test_a_torn_last_record_is_cut_before_the_next_write_and_the_study_resumes(tmp_path):
    out = tmp_path / "out"
    killed = _toy(out, "--points=8", "--seconds=0.5", start_new_session=True)
    _wait_for_units(killed, 3)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(30)
    journal = out / "study.journal"
    whole = journal.read_bytes()
    cut = whole[:-40]  # the last record loses its end: an append a crash or a full disk cut short
    journal.write_bytes(cut)
    code, stdout, err = _finish(_toy(out, "--points=8", "--seconds=0.1"))
    assert code == 0, err
    _assert_every_unit_once(_journal(out), 8)
    (torn,) = out.glob("study.journal.torn-*")
    assert torn.read_bytes() == cut[cut.rindex(b"\n") + 1:]  # the cut bytes, kept beside the journal
    assert journal.read_bytes().startswith(cut[:cut.rindex(b"\n") + 1])


def test_a_record_damaged_before_the_last_is_one_line_naming_the_file_the_offset_and_the_fix(tmp_path):
    out = tmp_path / "out"
    assert _finish(_toy(out, "--points=6", "--seconds=0"))[0] == 0
    journal = out / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    offset = sum(len(line) for line in lines[:middle])
    lines[middle] = b'{"op_code": 5, "trial_id' + b"#" * (len(lines[middle]) - 25) + b"\n"  # garbage, same length
    journal.write_bytes(b"".join(lines))
    code, stdout, err = _finish(_toy(out, "--points=6", "--seconds=0"))
    line = _one_line(err)
    assert code == 1 and line.startswith(f"error: journal {journal} is damaged at byte {offset:,}"), line
    assert f"truncate -s {offset} {journal}" in line and "storage URL" not in line
    os.truncate(journal, offset)  # what the line says to do
    code, stdout, err = _finish(_toy(out, "--points=6", "--seconds=0"))
    assert code == 0, err
    _assert_every_unit_once(_journal(out), 6)


_HOLD_THE_LOCK = """
import os, sys, time
from jaxact.studies import storage
def stall(fd):  # the append is under the lock and its bytes written: say so, never return
    print("holding", flush=True)
    time.sleep(600)
os.fsync = stall
storage.RecoveringJournalBackend(sys.argv[1]).append_logs([{"op_code": 0, "study_name": "killed", "directions": [1]}])
"""


def test_a_writer_killed_while_it_holds_the_journal_lock_does_not_stall_the_others(tmp_path):
    """A worker that dies mid-append (SIGKILL, or os._exit while its heartbeat thread appends) must
    not leave a lock behind: Optuna's symlink lock held the next writer for its 30 s grace period."""
    journal = str(tmp_path / "study.journal")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_THE_LOCK, journal], cwd=REPO, env=ENV,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "holding\n"
    from jaxact.studies import storage
    writer = threading.Thread(target=optuna.create_study, kwargs={"study_name": "after",
                                                                  "storage": storage.open_storage(journal)})
    writer.start()
    writer.join(1.0)
    assert writer.is_alive()  # the lock excludes: the append waits for the holder
    holder.kill()
    holder.wait(30)
    killed = time.monotonic()
    writer.join(20)
    assert not writer.is_alive() and time.monotonic() - killed < 3
    assert {s.study_name for s in optuna.get_all_study_summaries(storage.open_storage(journal))} == {"killed", "after"}


_STOP_TWICE = """
import sys, time
from jaxact.studies import workers
def unit(index):
    try:
        print("training", flush=True)
        time.sleep(60)
    finally:  # what a lock's release or a journal append does while the worker unwinds
        time.sleep(1.0)
        print("cleaned up", flush=True)
workers._worker_main(unit, 0, "none", (), None)
"""


def test_a_second_sigterm_does_not_cut_a_stopping_workers_cleanup_short(tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", _STOP_TWICE], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert worker.stdout.readline() == "training\n"
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # inside the `finally`
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert (worker.returncode, out, err) == (128 + signal.SIGTERM, "cleaned up\n", "")


# --- a full disk ---------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path, request):
    """A small tmpfs (300 kB, or the test's `disk_size` mark; root only), grown by `grow()`,
    unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    size = request.node.get_closest_marker("disk_size").args[0] if request.node.get_closest_marker("disk_size") else "300k"
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    try:
        yield mount, lambda: subprocess.run(["mount", "-o", "remount,size=50m", str(mount)], check=True)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_ends_in_one_line_and_the_rerun_on_space_finishes(small_disk):
    mount, grow = small_disk
    out = mount / "out"
    code, stdout, err = _finish(_toy(out, "--points=12", "--seconds=0", "--payload=8000"))
    line = _one_line(err)
    assert code == 1 and line.startswith("the disk is full") and "run the same command to resume" in line, line
    done_before = sum(_states(_journal(out))[0].values())
    assert 0 < done_before < 12
    grow()
    code, stdout, err = _finish(_toy(out, "--points=12", "--seconds=0", "--payload=8000"))
    assert code == 0, err
    _assert_every_unit_once(_journal(out), 12)


@pytest.mark.disk_size("40k")  # the journal of these 12 units alone is ~43 kB
def test_a_real_study_on_a_full_disk_ends_in_one_line_and_resumes(small_disk, mnist_dir):
    """Worker logs, the journal and the report's PNGs share the disk with a study's training."""
    mount, grow = small_disk
    args = ["experiments.misuse", "--task=regression", f"--out_dir={mount / 'out'}", *SMOKE]
    code, stdout, err = _finish(_start(*args), timeout=600)
    line = _one_line(err)
    assert code == 1 and "the disk is full" in line and "run the same command to resume" in line, line
    grow()
    code, stdout, err = _finish(_start(*args), timeout=600)
    assert code == 0, err
    study = optuna.load_study(study_name="activation_misuse-regression", storage=_journal(mount / "out"))
    keys = collections.Counter(t.user_attrs["key"] for t in study.get_trials() if t.state.name == "COMPLETE")
    assert len(keys) == 12 and set(keys.values()) == {1}


# --- signals -------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_importing_ends_in_one_line_and_writes_nothing(tmp_path, signum, code):
    process = _toy(tmp_path / "out", "--points=4")
    time.sleep(0.5)
    process.send_signal(signum)
    returncode, stdout, err = _finish(process, timeout=30)
    assert returncode == code
    assert _one_line(err) == f"interrupted ({signal.Signals(signum).name}) while starting: nothing was trained or written"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "Ctrl-C to the process group"])
def test_a_signal_while_training_stops_every_worker_within_seconds_then_the_rerun_finishes(tmp_path, how):
    out = tmp_path / "out"
    process = _toy(out, "--points=10", "--seconds=2", start_new_session=True)
    _wait_for_units(process, 2)
    start = time.monotonic()
    if how == "Ctrl-C to the process group":  # what a terminal does: every worker gets it too
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(getattr(signal, how))
    code, stdout, err = _finish(process, timeout=60)
    assert time.monotonic() - start < 8
    assert code == (143 if how == "SIGTERM" else 130)
    line = _one_line(err)
    assert line.startswith("interrupted (SIG") and "in flight abandoned" in line and line.endswith(
        "run the same command to resume"), line
    done = json.loads((out / "results.json").read_text())["units"]  # the report of what finished
    assert 2 <= len(done) < 10
    assert subprocess.run(["pgrep", "-f", f"--out_dir={out}"], capture_output=True).stdout == b""  # no worker left
    code, stdout, err = _finish(_toy(out, "--points=10", "--seconds=0.1"))
    assert code == 0, err
    _assert_every_unit_once(_journal(out), 10)


def test_ctrl_c_while_the_engine_compiles_stops_a_real_study_then_it_resumes(tmp_path, mnist_dir):
    out = tmp_path / "out"
    args = ["experiments.misuse", "--task=multiclass", f"--out_dir={out}", *SMOKE]
    # A cache without compiled programs (the data's cache shared): the workers compile for ~5 s, so
    # the signal lands in the compilation, not after a study that loaded its program and finished.
    cache = tmp_path / "cache"
    cache.mkdir()
    (mnist_dir.parent / "arrays").mkdir(exist_ok=True)
    for part in ("mnist", "arrays"):
        (cache / part).symlink_to(mnist_dir.parent / part)
    env = {"JAXACT_CACHE_DIR": str(cache)}
    process = _start(*args, env=env, start_new_session=True)
    assert process.stdout.readline().startswith("activation_misuse multiclass:")  # the workers are starting
    time.sleep(5)  # spawned (~2 s), data loaded and traced (~1 s), compiling
    start = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    code, stdout, err = _finish(process, timeout=60)
    assert code == 130 and time.monotonic() - start < 8
    assert _one_line(err).startswith("interrupted (SIGINT): ")
    code, stdout, err = _finish(_start(*args, env=env), timeout=600)
    assert code == 0, err
    study = optuna.load_study(study_name="activation_misuse-multiclass", storage=_journal(out))
    keys = collections.Counter(t.user_attrs["key"] for t in study.get_trials() if t.state.name == "COMPLETE")
    assert len(keys) == 10 and set(keys.values()) == {1}


# --- the database --------------------------------------------------------------------------------

def test_a_database_restart_mid_study_costs_nothing(postgres, tmp_path):
    storage = ["--storage=" + postgres.url, "--study_name=restarted"]
    process = _toy(tmp_path / "out", "--points=10", "--seconds=1", *storage)
    _wait_for_units(process, 2)
    postgres.stop()
    time.sleep(4)
    postgres.start()
    code, stdout, err = _finish(process, timeout=300)
    assert code == 0 and "Traceback" not in err, err
    complete, states = _states(postgres.url, "restarted")
    assert complete == {x: 1 for x in range(10)}, (complete, states)


def test_a_database_that_stays_away_ends_in_one_line_and_the_rerun_finishes(postgres, tmp_path):
    storage = ["--storage=" + postgres.url, "--study_name=gone"]
    process = _toy(tmp_path / "out", "--points=10", "--seconds=1", *storage, env={"JAXACT_DB_RETRY_SECONDS": "5"})
    _wait_for_units(process, 2)
    postgres.stop()
    try:
        code, stdout, err = _finish(process, timeout=120)
    finally:
        postgres.start()
    line = _one_line(err)
    assert code == 1 and "stayed unreachable for 5 s" in line and "run the same command to resume" in line, line
    code, stdout, err = _finish(_toy(tmp_path / "out", "--points=10", "--seconds=0", *storage))
    assert code == 0, err
    complete, _ = _states(postgres.url, "gone")
    assert complete == {x: 1 for x in range(10)}


# --- reports built from what the storage holds --------------------------------------------------

def test_two_invocations_at_once_report_the_wall_time_of_one(tmp_path):
    storage = f"--storage={tmp_path / 'shared.journal'}"
    both = [_toy(tmp_path / f"machine{i}", "--points=8", "--seconds=1", storage, "--workers=1") for i in range(2)]
    start = time.time()
    for process in both:
        assert _finish(process)[0] == 0
    elapsed = time.time() - start
    invocations = json.loads((tmp_path / "machine0" / "results.json").read_text())["seconds"]["invocations"]
    from jaxact import reporting

    assert len(invocations) == 2 and reporting.wall_seconds(invocations) <= elapsed + 1
    assert sum(i["wall"] for i in invocations) > reporting.wall_seconds(invocations) + 2  # they overlapped


def test_another_studys_run_never_overwrites_a_report(tmp_path):
    out = tmp_path / "out"
    assert _finish(_toy(out, "--points=3", "--seconds=0"))[0] == 0
    before = (out / "results.json").read_bytes()
    code, stdout, err = _finish(_toy(out, "--points=3", "--seconds=0", "--study_name=other"))
    assert code == 1 and _one_line(err) == (f"error: --out_dir {str(out)!r} holds the report of study 'faults', not "
                                            "'other': give another --out_dir")
    assert (out / "results.json").read_bytes() == before
