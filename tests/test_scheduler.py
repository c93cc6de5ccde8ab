"""The scheduler: units claimed once by concurrent workers, a study killed with SIGKILL at any
moment resumes to the same report, and workers on different "machines" share a study through a
real PostgreSQL server."""

import json
import multiprocessing
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import types

import numpy as np
import optuna
import pytest

from jaxact.studies import queue as scheduler
from jaxact.studies import runner

REPO = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ["--seeds=2", "--train_size=300", "--valid_size=200", "--test_size=500", "--max_epochs=2"]


def _claim_all(url: str, results) -> None:
    study = scheduler.UnitQueue(url, "stress", {"a": 1})
    finished = 0
    while claimed := study.claim(2):
        for trial in claimed:
            time.sleep(0.02)  # "training", so that the workers overlap
            finished += study.finish(trial, 1.0, {"by": scheduler.this_process()})
    results.put(finished)


@pytest.mark.parametrize("storage", ["study.journal", "sqlite:///{dir}/study.db"])
def test_concurrent_workers_finish_every_unit_exactly_once(storage, tmp_path, dead_owner):
    url = storage.format(dir=tmp_path) if "://" in storage else str(tmp_path / storage)
    study = scheduler.UnitQueue(url, "stress", {"a": 1})
    assert study.enqueue([{"i": i} for i in range(60)]) == 60
    assert study.enqueue([{"i": i} for i in range(70)]) == 10  # only the new ones
    for trial in study.trials()[:5]:  # popped by a worker that died: every worker will find them abandoned
        study.storage.set_trial_state_values(study.trial_id(trial), optuna.trial.TrialState.RUNNING)
        study.storage.set_trial_user_attr(study.trial_id(trial), scheduler.OWNER, dead_owner())
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_claim_all, args=(url, results)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    counts = [results.get(timeout=10) for _ in workers]
    assert sum(counts) == 70, counts  # no unit finished twice
    finished = study.finished()
    assert len(finished) == 70 and len({t.user_attrs[scheduler.KEY] for t in finished}) == 70
    assert study.counts() == {"done": 70, "running": 0, "waiting": 0}
    lost = [t for t in study.trials() if t.user_attrs.get(scheduler.ABANDONED)]
    assert len(lost) == 5 and len(study.trials()) == 75  # exactly one copy of each


def test_which_running_trials_are_abandoned(dead_owner):
    import datetime

    now = time.time()
    here = socket.gethostname()
    started = lambda seconds_ago: datetime.datetime.fromtimestamp(now - seconds_ago)  # noqa: E731
    trial = lambda started_at=started(1), **attrs: types.SimpleNamespace(user_attrs=attrs, datetime_start=started_at)  # noqa: E731
    assert not scheduler.is_abandoned(trial(), now)  # popped a moment ago: its worker is about to own it
    assert scheduler.is_abandoned(trial(started(scheduler.CLAIM_SECONDS + 1)), now)  # never owned
    assert scheduler.is_abandoned(trial(owner=f"{here}:{os.getpid()}", heartbeat=now), now)  # this process's, from a run that raised
    assert not scheduler.is_abandoned(trial(owner=f"elsewhere:{os.getpid()}", heartbeat=now - 60), now)
    assert scheduler.is_abandoned(trial(owner=f"elsewhere:{os.getpid()}", heartbeat=now - scheduler.STALE_SECONDS - 1), now)
    assert not scheduler.is_abandoned(trial(owner=f"{here}:{os.getppid()}", heartbeat=now), now)  # a live process here
    assert scheduler.is_abandoned(trial(owner=dead_owner(), heartbeat=now), now)  # its process is gone
    zombie = subprocess.Popen(["true"])  # exited, never reaped: what a killed worker is under a PID 1 that never reaps
    time.sleep(0.5)
    assert scheduler.is_abandoned(trial(owner=f"{here}:{zombie.pid}", heartbeat=now), now)
    zombie.wait()


def test_a_unit_popped_by_a_worker_killed_before_owning_it_is_retrained(tmp_path, monkeypatch):
    """kill -9 between the pop and the owner's write leaves a RUNNING unit without an owner; the
    last worker must not leave while it is young, or nobody would ever train it."""
    monkeypatch.setattr(scheduler, "CLAIM_SECONDS", 1.0)
    study = scheduler.UnitQueue(str(tmp_path / "s.journal"), "popped", {})
    study.enqueue([{"i": 0}])
    (trial,) = study.trials()
    assert study._pop(study.trial_id(trial))  # the dead worker's pop, never followed by its owner
    start = time.time()
    (copy,) = study.claim(5)
    assert time.time() - start >= 0.9 and copy.user_attrs[scheduler.UNIT] == {"i": 0}
    assert [t.state for t in study.trials()] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING]
    study.finish(copy, 0.5, {})
    assert study.claim(5) == []  # and with nothing unowned, an empty study returns at once




def test_misuse_units_are_claimed_seed_major_and_the_longest_of_a_seed_first(tmp_path):
    """Longest processing time first within a seed, estimated from the combination's finished units."""
    from jaxact.studies.misuse import study as misuse

    seconds = {"sigmoid+bce": 10.0, "softmax+cce": 50.0, "sigmoid+cce": 30.0}
    combos = {name: misuse.Combination("multiclass", *name.split("+")) for name in seconds}
    study = scheduler.UnitQueue(str(tmp_path / "s.journal"), "order", {})
    study.enqueue([{**combos[v].to_dict(), "seed": s} for s in range(3) for v in seconds])
    order = []
    while claimed := study.claim(1, misuse.claim_order(study)):
        unit = claimed[0].user_attrs[scheduler.UNIT]
        name = misuse.combination_of(unit).name
        order.append((unit["seed"], name))
        record = runner.UnitRecord(unit, 0.5, 0.5, 0, 1, False, [1.0], [0.5], {"test": 0.5}, seconds[name], 0.0,
                                   {"id": "p", "units": 1})
        study.finish(claimed[0], record.value, record.attrs(), record.valid_curve)
    assert order == [(0, "sigmoid+bce"), (0, "softmax+cce"), (0, "sigmoid+cce")] + [
        (s, v) for s in (1, 2) for v in ("softmax+cce", "sigmoid+cce", "sigmoid+bce")]


def test_a_units_place_in_the_finishing_order_does_not_depend_on_when_it_is_read(tmp_path):
    """Two workers finishing at once each count after their own finish: counted by state, both
    would show the same number ("[4/6]" twice, no "[3/6]")."""
    study = scheduler.UnitQueue(str(tmp_path / "s.journal"), "order", {})
    study.enqueue([{"i": i} for i in range(3)])
    first, second, _ = study.claim(3)
    study.finish(first, 0.5, {})
    study.finish(second, 0.5, {})
    assert study.counts() == {"done": 2, "running": 1, "waiting": 0}
    assert study.counts(finished=first) == {"done": 1, "running": 1, "waiting": 0}
    assert study.counts(finished=second) == {"done": 2, "running": 1, "waiting": 0}


def test_a_duplicate_unit_is_failed_not_trained(tmp_path):
    study = scheduler.UnitQueue(str(tmp_path / "s.journal"), "dup", {})
    study.enqueue([{"i": 0}])
    study.optuna.enqueue_trial({}, user_attrs={scheduler.UNIT: {"i": 0}, scheduler.KEY: scheduler.unit_key({"i": 0})})
    (first,) = study.claim(5)  # the second copy is found a duplicate when popped
    assert study.counts() == {"done": 0, "running": 1, "waiting": 0}
    study.finish(first, 0.5, {})
    states = [t.state for t in study.trials()]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]


def test_two_copies_popped_at_once_train_only_the_first(tmp_path):
    """Two machines enqueued the same unit; a worker that pops the later copy first (it saw both
    waiting) must not train it: only the first copy that did not fail may train."""
    study = scheduler.UnitQueue(str(tmp_path / "s.journal"), "race", {})
    study.enqueue([{"i": 0}])
    study.optuna.enqueue_trial({}, user_attrs={scheduler.UNIT: {"i": 0, "copy": 1},
                                               scheduler.KEY: scheduler.unit_key({"i": 0})})
    (claimed,) = study.claim(1, prefer=lambda unit: -unit.get("copy", 0))  # the copy comes first in this order
    assert claimed.number == 0
    states = {t.number: (t.state.name, t.user_attrs.get(scheduler.DUPLICATE_OF)) for t in study.trials()}
    assert states == {0: ("RUNNING", None), 1: ("FAIL", scheduler.unit_key({"i": 0}))}


def test_settings_are_kept_and_enforced(tmp_path):
    scheduler.UnitQueue(str(tmp_path / "s.journal"), "kept", {"max_epochs": 2, "split": "per_seed"})
    with pytest.raises(ValueError, match=r"trained with max_epochs=2 \(now 3\): rerun with those flags"):
        scheduler.UnitQueue(str(tmp_path / "s.journal"), "kept", {"max_epochs": 3, "split": "per_seed"})


def test_reopening_a_study_leaves_its_journal_as_it_was(tmp_path):
    # The committed results/ journals must not change when `make results` finds a study finished.
    journal = tmp_path / "s.journal"
    scheduler.UnitQueue(str(journal), "reopened", {"seeds": 1}).enqueue([{"seed": 0}])
    before = journal.read_bytes()
    study = scheduler.UnitQueue(str(journal), "reopened", {"seeds": 1})
    assert study.enqueue([{"seed": 0}]) == 0
    assert journal.read_bytes() == before


def _run(*args, cwd, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _seed_values(out: pathlib.Path) -> dict:
    document = json.loads((out / "results.json").read_text())
    return {(v["name"], s["seed"]): (s["test"], s["best_valid"], s["epochs"], s["train_loss"])
            for v in document["variants"] for s in v["seeds"]}


def test_one_worker_gives_two_workers_numbers_bit_for_bit(tmp_path, mnist_dir):
    # Long enough for a process on two cores to drift from a pinned one (measured before every CPU
    # worker was pinned: train losses 8e-6 apart, a test accuracy 0.2 points apart).
    args = ["experiments.misuse", "--task=multiclass", "--variants=sigmoid+cce", *SMOKE, "--train_size=1000", "--max_epochs=6"]
    runs = {n: _run(*args, f"--workers={n}", f"--out_dir={tmp_path / str(n)}", cwd=tmp_path) for n in (1, 2)}
    for run in runs.values():
        assert run.wait(600) == 0, run.stderr.read()[-2000:]
    one, two = _seed_values(tmp_path / "1"), _seed_values(tmp_path / "2")
    assert len(one) == 2 and one == two


def test_kill_9_at_any_moment_then_rerun_gives_the_uninterrupted_report(tmp_path, mnist_dir):
    args = ["experiments.misuse", "--task=multiclass", "--workers=2", *SMOKE]
    whole = _run(*args, f"--out_dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.wait(600) == 0, whole.stderr.read()[-2000:]
    killed = _run(*args, f"--out_dir={tmp_path / 'killed'}", cwd=tmp_path, start_new_session=True)
    seen = []
    for line in killed.stdout:  # kill the whole process group once 3 units are done (two workers may both print 4)
        seen.append(line)
        if line.startswith("[") and int(line[1:line.index("/")]) >= 3:
            os.killpg(killed.pid, signal.SIGKILL)
            break
    killed.wait(60)
    assert killed.returncode == -signal.SIGKILL
    time.sleep(1)  # the workers die with their parent (PR_SET_PDEATHSIG)
    rerun = _run(*args, f"--out_dir={tmp_path / 'killed'}", cwd=tmp_path)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-2000:]
    first = out.splitlines()[0]
    done_before = int(first.split("units; ")[1].split(" of ")[0])
    assert 3 <= done_before < 10, first
    assert sum(line.startswith("[") for line in out.splitlines()) == 10 - done_before  # fewer units trained
    whole_values, resumed = _seed_values(tmp_path / "whole"), _seed_values(tmp_path / "killed")
    assert whole_values.keys() == resumed.keys() and len(resumed) == 10
    for key, (test, valid, epochs, loss) in whole_values.items():
        r_test, r_valid, r_epochs, r_loss = resumed[key]
        assert epochs == r_epochs and abs(test - r_test) <= 1e-6 and abs(valid - r_valid) <= 1e-6, key
        np.testing.assert_allclose(loss, r_loss, rtol=1e-6)
    invocations = json.loads((tmp_path / "killed" / "results.json").read_text())["seconds"]["invocations"]
    # the killed invocation kept its wall time up to its last finished unit
    assert [i["workers"] for i in invocations] == [2, 2] and invocations[0]["wall"] > 0, invocations
    again = _run(*args, f"--out_dir={tmp_path / 'killed'}", cwd=tmp_path)
    out, err = again.communicate(timeout=600)  # finished: nothing trained, no invocation recorded, the report rewritten
    assert again.returncode == 0 and "10 of 10 already done" in out and not any(line.startswith("[") for line in out.splitlines()), err[-2000:]
    assert json.loads((tmp_path / "killed" / "results.json").read_text())["seconds"]["invocations"] == invocations


# --- PostgreSQL (the server: tests/conftest.py) ----------------------------------------------------

def _machines(args: list[str], tmp_path, count: int = 2) -> list[str]:
    """`count` invocations of the same command at once, each with its own directory ("machine")."""
    workers = [_run(*args, f"--out_dir={tmp_path / f'machine{i}'}", cwd=tmp_path) for i in range(count)]
    outputs = []
    for w in workers:
        out, err = w.communicate(timeout=900)
        assert w.returncode == 0, err[-2000:]
        outputs.append(out)
    return outputs


def test_two_machines_share_a_misuse_study_on_postgres(postgres_url, tmp_path, mnist_dir):
    outputs = _machines(["experiments.misuse", "--task=multiclass", "--workers=1", f"--storage={postgres_url}",
                         "--study_name=shared_misuse", *SMOKE], tmp_path)
    trained = [sum(line.startswith("[") for line in out.splitlines()) for out in outputs]
    assert sum(trained) == 10 and all(t > 0 for t in trained), trained  # both machines worked, nothing twice
    study = optuna.load_study(study_name="shared_misuse", storage=postgres_url)
    complete = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 10 and len({t.user_attrs[scheduler.KEY] for t in complete}) == 10
    assert all(t.user_attrs.get(scheduler.DUPLICATE_OF) for t in study.get_trials()
               if t.state == optuna.trial.TrialState.FAIL)  # only copies two machines enqueued at once
    owners = {t.user_attrs[scheduler.OWNER] for t in complete}
    assert len(owners) == 2
    units_in_reports = [sum(len(v["seeds"]) for v in json.loads((tmp_path / f"machine{i}" / "results.json").read_text())
                            ["variants"]) for i in range(2)]
    assert max(units_in_reports) == 10  # the machine that finished last saw every unit
    for out, units in zip(outputs, units_in_reports):
        assert out.splitlines()[-1].startswith("done in" if units == 10 else "done here; 1 unit(s) still training")


def test_two_machines_share_an_hpo_study_on_postgres(postgres_url, tmp_path, mnist_dir):
    _machines(["experiments.activation_hpo", "--trials=6", "--units_per_program=2", "--train_size=200", "--valid_size=100",
               "--hpo_valid_size=200", "--test_size=300", "--max_epochs=2", "--workers=1",
               f"--storage={postgres_url}", "--study_name=shared_hpo"], tmp_path)
    study = optuna.load_study(study_name="shared_hpo", storage=postgres_url)
    trials = study.get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6 and len({tuple(sorted(t.params.items())) for t in complete}) == 6
    assert len({t.user_attrs[scheduler.OWNER] for t in complete}) == 2
    assert all(t.user_attrs.get("surplus") for t in trials if t.state == optuna.trial.TrialState.FAIL)
