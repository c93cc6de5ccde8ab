"""A study's unit queue: units of work kept in an Optuna storage (`jaxact.studies.storage`),
claimed by any number of workers on any number of machines, resumable after a kill at any moment.

A study is a table of *units*, each an Optuna trial: a fixed grid enqueues its units once
(`Study.enqueue`: misuse studies, one variant x seed per unit) and workers pop them; a search
asks its sampler for new ones (the activation HPO). Either way a unit is

  WAITING --claim--> RUNNING (owner host:pid, heartbeat) --finish--> COMPLETE (value, attributes)

and a RUNNING unit whose owner is gone (a dead process on this host, or no heartbeat for
STALE_SECONDS) is *abandoned*: the next worker that looks fails it and enqueues a copy, which is
trained again from scratch with the unit's own seed. Everything a report needs is stored with the unit (user attributes,
per-epoch intermediate values), so reports are built from the storage alone.

A study keeps the settings its units were trained with and refuses to resume with others.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pathlib
import socket
import threading
import time
from typing import Any, Callable, Iterator, NamedTuple

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from jaxact.studies import storage as storage_module

OWNER = "owner"  # unit attribute: "host:pid" of the process training it
HEARTBEAT = "heartbeat"  # unit attribute: unix time, refreshed while it trains
UNIT = "unit"  # unit attribute: what to train (a grid's row), JSON-able
KEY = "key"  # unit attribute: the unit's identity, to find duplicates
DUPLICATE_OF = "duplicate_of"  # set on a FAILed unit that two workers enqueued twice
ABANDONED = "abandoned"  # set on a FAILed unit whose worker died; a copy of it was enqueued
SEED = "seed"  # unit attribute of a search's trial: its training seed, kept by its copies
SETTINGS = "settings"  # study attribute: what every unit's result depends on
SECONDS = "seconds"  # study attribute: {"train": summed unit-training seconds, "invocations": [older records]}
INVOCATION = "invocation "  # study attribute prefix: one attribute per run of a study's command
HEARTBEAT_SECONDS = 60.0
STALE_SECONDS = 600.0
CLAIM_SECONDS = 10.0  # a popped unit gets its owner within this (two storage writes after the pop)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # PRUNED: a unit whose result has no finite value


class Invocation(NamedTuple):
    """One run of a study's command (its workers share it): when it started and with how many
    workers. Each has its own study attribute, so invocations on several machines never
    overwrite each other's record."""

    host: str
    pid: int
    started: float  # Unix time
    workers: int

    @classmethod
    def start(cls, workers: int) -> "Invocation":
        return cls(socket.gethostname(), os.getpid(), time.time(), workers)

    @property
    def key(self) -> str:
        return f"{INVOCATION}{self.host}:{self.pid} {self.started:.3f}"


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    # A killed worker whose parent died too is a zombie until its new parent reaps it, and a
    # container's PID 1 may never do so: it answers signal 0 but will not write again.
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust the signal
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def is_abandoned(trial: FrozenTrial, now: float) -> bool:
    """Whether a RUNNING unit is nobody's: never owned (CLAIM_SECONDS after it started), left by
    this process (a run that raised), left by a dead process on this host, or silent for
    STALE_SECONDS (a worker on another machine that died). Another live worker's units are left to it."""
    owner = trial.user_attrs.get(OWNER)
    if owner is None:  # popped but not yet owned: give the popping worker its moment
        return _unowned_for(trial, now) > CLAIM_SECONDS
    if owner == this_process():
        return True
    if now - trial.user_attrs.get(HEARTBEAT, 0.0) > STALE_SECONDS:
        return True
    host, pid = owner.rsplit(":", 1)
    return host == socket.gethostname() and not _process_alive(int(pid))


def _unowned_for(trial: FrozenTrial, now: float) -> float:
    started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return now - started


def idle_at_end(invocation: dict, trials: list[FrozenTrial]) -> float | None:
    """Core-seconds an invocation's workers waited for its last unit: with f_w the time worker w
    finished its last unit and F = max_w f_w, sum_w (F - f_w), a worker that finished none counting
    from the invocation's start. 0 when every worker worked to the end; None without finished
    units (or without the record's host, kept from before invocations had one)."""
    if "host" not in invocation:
        return None
    start, stop = invocation["started"], invocation["started"] + invocation["wall"]
    last: dict[str, float] = {}
    for trial in trials:
        owner = str(trial.user_attrs.get(OWNER, ""))
        done = trial.datetime_complete.timestamp() if trial.datetime_complete else None
        if done is not None and start <= done <= stop and owner.rsplit(":", 1)[0] == invocation["host"]:
            last[owner] = max(last.get(owner, start), done)
    if not last:
        return None
    end = max(last.values())
    return sum(end - t for t in last.values()) + max(0, invocation["workers"] - len(last)) * (end - start)


def unit_key(unit: dict) -> str:
    return json.dumps(unit, sort_keys=True)


class UnitQueue:
    """A study's units in an Optuna storage (see the module doc).

    Args:
      storage: a journal file path or an SQLAlchemy URL (see `open_storage`).
      name: the study name.
      settings: what every unit's result depends on besides the unit itself; a study created
        with other settings refuses to load (rerun with those, or give another name).
      direction: of the units' values, for Optuna's own tools (a search's objective).
      sampler: the Optuna sampler of a search (None for a grid).
    """

    def __init__(self, storage: str, name: str, settings: dict, direction: str = "maximize", sampler=None):
        self.storage = storage_module.open_storage(storage)
        self.name = name
        try:
            # Load first: create_study(load_if_exists=True) appends a create record to a journal on
            # every run, so a finished study rerun would still change its committed journal.
            try:
                self.optuna = optuna.load_study(storage=self.storage, study_name=name, sampler=sampler)
            except KeyError:  # load_if_exists: another worker may create it between the two calls
                self.optuna = optuna.create_study(storage=self.storage, study_name=name, direction=direction,
                                                  sampler=sampler, load_if_exists=True)
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise storage_module.StorageError(f"cannot open storage {storage!r} ({type(error).__name__}: {error})") from None
        self.id = self.storage.get_study_id_from_name(name)
        settings = json.loads(json.dumps(settings))  # as it reads back from the storage
        stored = self.optuna.user_attrs.get(SETTINGS)
        self.settings = stored or settings
        if stored is None:
            self.optuna.set_user_attr(SETTINGS, settings)
        elif stored != settings:
            changed = ", ".join(f"{k}={stored.get(k)} (now {settings.get(k)})" for k in sorted(set(stored) | set(settings))
                                if stored.get(k) != settings.get(k))
            raise ValueError(f"study {name!r} was trained with {changed}: rerun with those flags, or give another "
                             "--out_dir / --study_name")

    def trial_id(self, trial) -> int:
        """The storage id of a trial known by its number."""
        return self.storage.get_trial_id_from_study_id_trial_number(self.id, trial.number)

    def trials(self, states=None) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.id, deepcopy=False, states=states)

    def enqueue(self, units: list[dict]) -> int:
        """Adds the units not yet in the study (by key); returns how many were added."""
        known = {t.user_attrs.get(KEY) for t in self.trials() if DUPLICATE_OF not in t.user_attrs}
        added = 0
        for unit in units:
            key = unit_key(unit)
            if key not in known:
                self.optuna.enqueue_trial({}, user_attrs={UNIT: unit, KEY: key})
                known.add(key)
                added += 1
        return added

    def counts(self, finished=None) -> dict[str, int]:
        """Units per state: done (finished), running, waiting. Given a `finished` trial, "done"
        counts only the units finished no later than it: its place in the order of finishing, the
        same whenever it is read (two workers finishing at once, each counting after its own
        finish, would otherwise both count both)."""
        trials = [t for t in self.trials() if DUPLICATE_OF not in t.user_attrs]
        done = [t for t in trials if t.state in FINISHED]
        mine = next((t for t in done if finished is not None and t.number == finished.number), None)
        if mine is not None:
            done = [t for t in done if t.datetime_complete <= mine.datetime_complete]
        return {"done": len(done),
                "running": sum(t.state == TrialState.RUNNING for t in trials),
                "waiting": sum(t.state == TrialState.WAITING for t in trials)}

    def _set_attrs(self, trial_id: int, attrs: dict) -> bool:
        """Sets user attributes unless the unit has finished meanwhile (told by a worker that took it over)."""
        try:
            if self.storage.get_trial(trial_id).state.is_finished():
                return False
            for key, value in attrs.items():
                self.storage.set_trial_user_attr(trial_id, key, value)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        return True

    def recover(self) -> int:
        """Fails every abandoned RUNNING unit and enqueues a fresh copy of it (its unit, key,
        parameters and seed), to be trained again from scratch. A unit's state moves only once
        from RUNNING to FAIL, so of several workers that find the same abandoned unit, exactly
        one makes the copy. Returns how many units it recovered."""
        now = time.time()
        recovered = 0
        for trial in self.trials(states=(TrialState.RUNNING,)):
            if not is_abandoned(trial, now):
                continue
            trial_id = self.trial_id(trial)
            try:  # attributes first: a finished trial takes none
                self.storage.set_trial_user_attr(trial_id, ABANDONED, True)
                if not self.storage.set_trial_state_values(trial_id, TrialState.FAIL):
                    continue
            except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, sqlalchemy.exc.OperationalError):
                continue  # another worker recovered it
            self.optuna.enqueue_trial(dict(trial.params), user_attrs={
                k: trial.user_attrs[k] for k in (UNIT, KEY, SEED) if k in trial.user_attrs})
            recovered += 1
        return recovered

    def claim(self, n: int, prefer: Callable[[dict], Any] | None = None) -> list[FrozenTrial]:
        """Up to `n` WAITING units for this process (after recovering abandoned ones): in enqueue
        order, or by `prefer(unit)` (a sort key, smallest first; ties keep enqueue order).

        A unit is popped with the storage's atomic WAITING -> RUNNING transition, so two workers
        never get the same one; of several copies of a unit's key (two machines enqueued the same
        grid at once) only the first that did not fail is trained, the others are failed as
        duplicates, so a key is never trained twice.
        With nothing to claim but a unit popped and not yet owned (its worker may have died between
        the two writes), waits until it is owned or abandoned: a worker that gave up then would
        leave the study unfinished with nobody left to notice.
        """
        while not (claimed := self._claim(n, prefer)):
            now = time.time()
            unowned = [_unowned_for(t, now) for t in self.trials(states=(TrialState.RUNNING,))
                       if OWNER not in t.user_attrs]
            if not unowned:
                return []
            time.sleep(max(0.1, CLAIM_SECONDS + 0.1 - max(unowned)))
        return claimed

    def _claim(self, n: int, prefer: Callable[[dict], Any] | None) -> list[FrozenTrial]:
        self.recover()
        claimed = []
        trials = self.trials()
        # Of several copies of a key (two machines enqueued the same grid at once, or a copy of an
        # abandoned unit), only the first that did not fail may train: a rule every worker applies
        # alike, so two workers popping two copies at the same moment cannot both train the key.
        first: dict[str, int] = {}
        for t in trials:
            if KEY in t.user_attrs and t.state != TrialState.FAIL:
                first[t.user_attrs[KEY]] = min(first.get(t.user_attrs[KEY], t.number), t.number)
        waiting = [t for t in trials if t.state == TrialState.WAITING]
        if prefer is not None:
            waiting = sorted(waiting, key=lambda t: prefer(t.user_attrs.get(UNIT, {})))
        for trial in waiting:
            if len(claimed) >= n:
                break
            trial_id = self.trial_id(trial)
            if not self._pop(trial_id):
                continue
            key = trial.user_attrs.get(KEY)
            if key is not None and first[key] != trial.number:
                self.storage.set_trial_user_attr(trial_id, DUPLICATE_OF, key)
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                continue
            self._own(trial_id)
            claimed.append(self.storage.get_trial(trial_id))
        return claimed

    def _pop(self, trial_id: int) -> bool:
        try:
            return self.storage.set_trial_state_values(trial_id, TrialState.RUNNING)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, sqlalchemy.exc.OperationalError):
            return False  # taken by another worker meanwhile

    def _own(self, trial_id: int) -> bool:
        # The heartbeat first: a unit seen with an owner but no heartbeat yet would look stale.
        return self._set_attrs(trial_id, {HEARTBEAT: time.time(), OWNER: this_process()})

    def own(self, trial: optuna.Trial) -> None:
        """Claims a unit this process asked the sampler for."""
        self._own(self.trial_id(trial))

    def surplus(self, trial, limit: int) -> bool:
        """For searches: fails `trial` (a fresh one this process asked) and returns True if at least
        `limit` trials that did not fail come before it, i.e. the study already has enough."""
        before = sum(t.number < trial.number and t.state != TrialState.FAIL for t in self.trials())
        if before < limit:
            return False
        self.storage.set_trial_user_attr(self.trial_id(trial), "surplus", True)
        self.storage.set_trial_state_values(self.trial_id(trial), TrialState.FAIL)
        return True

    @contextlib.contextmanager
    def heartbeat(self, trials: list[FrozenTrial]) -> Iterator[None]:
        """Refreshes the units' heartbeat every HEARTBEAT_SECONDS while the body trains them."""
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_SECONDS):
                for trial in trials:
                    try:
                        self._set_attrs(self.trial_id(trial), {HEARTBEAT: time.time()})
                    except (OSError, storage_module.StorageError):
                        pass  # a full disk or a database away: the worker's next write reports it

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def finish(self, trial: FrozenTrial, value: float, attrs: dict, curve: list[float] = ()) -> bool:
        """Stores a unit's result: attributes, the per-epoch `curve` as intermediate values, then
        COMPLETE with `value` (PRUNED when `value` is not finite: a unit that diverged at once).
        False if another worker finished it first."""
        trial_id = self.trial_id(trial)
        if not self._set_attrs(trial_id, attrs):
            return False
        for step, point in enumerate(curve):
            if math.isfinite(point):
                self.storage.set_trial_intermediate_value(trial_id, step, float(point))
        state, values = (TrialState.COMPLETE, [float(value)]) if math.isfinite(value) else (TrialState.PRUNED, None)
        try:
            self.storage.set_trial_state_values(trial_id, state, values=values)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        return True

    def add_seconds(self, train: float, invocation: Invocation | None = None) -> None:
        """Accumulates a finished batch's training seconds (a read-modify-write: approximate when
        workers on several machines add at once) and records the `invocation` that trained it."""
        seconds = dict(self.storage.get_study_user_attrs(self.id).get(SECONDS) or {"train": 0.0, "invocations": []})
        seconds["train"] = seconds["train"] + train
        self.storage.set_study_user_attr(self.id, SECONDS, seconds)
        if invocation is not None:
            self.record(invocation)

    def record(self, invocation: Invocation) -> None:
        """Sets the invocation's wall time to now minus its start. Its command records it when it
        starts and ends, its workers after every batch they finish: an invocation killed midway
        keeps the wall time up to its last finished batch."""
        self.storage.set_study_user_attr(self.id, invocation.key, {
            "started": invocation.started, "wall": time.time() - invocation.started, "workers": invocation.workers,
            "host": invocation.host})

    def seconds(self) -> dict:
        """{"train": summed unit-training seconds, "invocations": [{"wall", "workers", "idle_at_end",
        ...}] in the order they started}; see `idle_at_end`."""
        attrs = self.storage.get_study_user_attrs(self.id)
        seconds = attrs.get(SECONDS) or {}
        recorded = sorted((v for k, v in attrs.items() if k.startswith(INVOCATION)), key=lambda i: i["started"])
        if recorded:
            finished = self.trials(states=FINISHED)
            recorded = [{**i, "idle_at_end": idle_at_end(i, finished)} for i in recorded]
        return {"train": seconds.get("train", 0.0), "invocations": seconds.get("invocations", []) + recorded}

    def finished(self) -> list[FrozenTrial]:
        """Finished units, one per key (the first), in trial order."""
        seen, out = set(), []
        for trial in self.trials(states=FINISHED):
            key = trial.user_attrs.get(KEY, trial.number)
            if key not in seen:
                seen.add(key)
                out.append(trial)
        return out
