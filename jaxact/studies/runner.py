"""The one study runner: every study is a source of units + a trainer + a report on it.

A study (`Study`) supplies
- its config: a `RunConfig` subclass (the fields and validation every study shares live here);
- its source of units (`source`): a `Grid` of units enqueued once (the misuse studies: one
  combination x seed each) or a search that asks a sampler (the activation HPO);
- how to train a batch of units (`trainer`), returning one `UnitRecord` per unit;
- how to name a unit and its result in a progress line, and its report, built from the records.

The runner does the rest, the same for every study: validate before anything is written, open
the study's unit queue, enqueue, run the workers (one per core or device), the claim -> train ->
finish loop with heartbeats, the invocation's record, progress lines with an ETA, per-epoch
detail in a log file, the report, and the closing status line.

    document = runner.run(misuse.STUDY, misuse.StudyConfig(task="regression"), sink=print)
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import pathlib
import signal
import threading
import time
import uuid
from typing import Any, Callable, NamedTuple

from jaxact import backend, data, models, reporting
from jaxact.config import check_at_least, option
from jaxact.studies import cache, storage, workers
from jaxact.studies import queue as queue_module
from jaxact.studies.queue import Invocation, UnitQueue


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The fields every study has; a study's config subclasses it (its defaults may differ).

    `plan` names the dataset split plan the study samples from (`jaxact.data.plan`); every
    `<part>_size` field caps a part of it (None: the plan's size).
    """

    dataset: str = option("mnist", "mnist (the documents) or digits (scikit-learn's UCI digits).")
    seed: int = option(0, "Base seed (model init, shuffling; data samples, see the study).")
    matmul_dtype: str = option("float32", "float32, or bfloat16: matmul inputs in bfloat16 with float32 "
                                          "accumulation (activations and losses stay float32).")
    max_epochs: int = option(100, "Epoch cap per model.")
    patience: int = option(10, "Early-stopping patience (epochs without strict improvement).")
    train_size: int | None = option(None, "Training images (default the dataset's plan; fewer: a prefix).")
    valid_size: int | None = option(None, "Per-epoch validation images (default the dataset's plan).")
    test_size: int | None = option(None, "Test images (default all: 10,000 for MNIST; fewer for smoke runs).")
    workers: int | None = option(None, "Worker processes (default and at most: one per CPU core, each pinned to it; "
                                       "one on an accelerator host, its programs sharded over every device).")
    units_per_program: int | None = option(None, "Units a worker claims at once and trains in one compiled program "
                                                 "(default: 1 on CPU; 64 per device on GPU/TPU).")
    models_in_parallel: int | None = option(None, "Units of a program trained at once, vmapped (default: 1 on CPU, "
                                                  "one after another; all of the program's on GPU/TPU).")
    out_dir: str | None = option(None, "Output directory: the report, and the study's journal unless --storage "
                                       "(default runs/<study>/...). Run the same command again to resume.")
    storage: str | None = option(None, "Where the units are kept: default a journal file in out_dir; an SQLAlchemy "
                                       "URL (postgresql://...) to share the study between machines.")
    study_name: str | None = option(None, "Study name in the storage (default from the study and its task).")
    unit_cache: str | None = option(None, "A file of finished units shared by studies: a unit another study already "
                                          "trained under the same identity (data sample, combination, seed, settings, "
                                          "engine and JAX versions) is reused, not trained again.")

    plan = "misuse"  # the data plan (not a field: fixed per study)

    def name_suffix(self) -> str:
        """What distinguishes this run's default out_dir and study name (the study decides)."""
        return ""

    def resolved_out_dir(self, study: str) -> pathlib.Path:
        suffix = self.name_suffix()
        return pathlib.Path(self.out_dir or f"runs/{study}{'/' + suffix if suffix else ''}")

    def resolved_storage(self, study: str) -> str:
        return self.storage or storage.storage_url(self.resolved_out_dir(study))

    def resolved_study_name(self, study: str) -> str:
        suffix = self.name_suffix()
        return self.study_name or f"{study}{'-' + suffix if suffix else ''}"

    def sizes(self) -> dict[str, int]:
        """Rows of each part of the plan: the given `<part>_size`, else the plan's."""
        parts = data.plan(self.dataset, self.plan)
        return {part: getattr(self, f"{part}_size", None) or size for part, size in parts.items()}

    def resolved_test_size(self) -> int:
        return self.test_size or data.get_dataset(self.dataset).sizes["test"]

    def resolved_workers(self) -> int:
        return self.workers or backend.local_workers()

    def resolved_units_per_program(self) -> int:
        return self.units_per_program or backend.defaults().units_per_program

    def settings(self) -> dict:
        """What every unit's result depends on besides the unit itself: fixed for a study's life."""
        return {"dataset": self.dataset, **self.sizes(), "test_size": self.test_size, "matmul_dtype": self.matmul_dtype,
                "max_epochs": self.max_epochs, "patience": self.patience}

    def validate(self) -> None:
        """ValueError with a one-line message naming the fix, for anything that would fail later.
        Costs nothing: no data, no training. Subclasses extend it."""
        counts = [f.name for f in dataclasses.fields(self)
                  if f.name.endswith("_size") or f.name in ("max_epochs", "patience", "workers", "units_per_program",
                                                             "models_in_parallel")]
        check_at_least(self, 1, *counts)
        check_at_least(self, 0, "seed")
        try:
            models.check_matmul_dtype(self.matmul_dtype)
        except ValueError as error:
            raise ValueError(f"--matmul_dtype: {error}") from None
        parts = data.plan(self.dataset, self.plan)
        for part, limit in parts.items():
            size = getattr(self, f"{part}_size", None)
            if size is not None and size > limit:
                raise ValueError(f"--{part}_size must be at most {limit:,} (the {self.dataset} {self.plan} split), "
                                 f"got {size:,}")
        test_limit = data.get_dataset(self.dataset).sizes["test"]
        if self.test_size is not None and self.test_size > test_limit:
            raise ValueError(f"--test_size must be at most {test_limit:,} (the {self.dataset} test set), "
                             f"got {self.test_size:,}")
        available = backend.local_workers()
        if self.workers is not None and self.workers > available:
            if backend.name() == "cpu":
                why = (f"the {available} CPU core(s) here: one pinned worker per core is the fastest, and each "
                       "costs a JAX process")
            else:
                why = (f"the one worker an accelerator host runs: its programs span all {jax_devices()} local "
                       f"{backend.name()} device(s)")
            raise ValueError(f"--workers={self.workers} is more than {why}; give at most {available}")
        out_dir = pathlib.Path(self.out_dir) if self.out_dir else None
        if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out_dir {str(out_dir)!r} is a file: give a directory")


@dataclasses.dataclass
class UnitRecord:
    """What a study stores of one trained unit, written and read only here.

    value: the study's objective (misuse: the test metric; HPO: HPO-valid accuracy);
    best_epoch: 0-based; evaluations: the best params' metric on each evaluation set;
    valid_curve: the valid metric per epoch (stored as the trial's intermediate values);
    program: which compiled program trained it ("id"), how many units that program held, over how
      many devices, and on which of them this unit trained;
    extra: what only one study stores (e.g. the chance level of the misuse studies).
    """

    unit: dict
    value: float
    best_valid: float
    best_epoch: int
    epochs: int
    diverged: bool
    train_loss: list[float]
    valid_curve: list[float]
    evaluations: dict[str, float]
    seconds: float
    compile_seconds: float
    program: dict
    extra: dict = dataclasses.field(default_factory=dict)

    FIELDS = ("best_valid", "best_epoch", "epochs", "diverged", "train_loss", "evaluations", "seconds",
              "compile_seconds", "program", "extra")

    def attrs(self) -> dict:
        return {queue_module.UNIT: self.unit, **{k: getattr(self, k) for k in self.FIELDS}}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> "UnitRecord":
        return cls(**fields)

    @classmethod
    def from_trial(cls, trial) -> "UnitRecord":
        attrs = trial.user_attrs
        curve = [trial.intermediate_values.get(step, math.nan) for step in range(attrs["epochs"])]
        value = trial.value if trial.value is not None else math.nan
        return cls(unit=attrs[queue_module.UNIT], value=value, valid_curve=curve, **{k: attrs[k] for k in cls.FIELDS})


def jax_devices() -> int:
    import jax

    return jax.local_device_count()


def records_of(fit, units: list[dict], value: Callable[[int], float], seconds: float,
               extra: Callable[[int], dict] = lambda i: {}) -> list[UnitRecord]:
    """One record per unit of a `train.FitResult` (units in the program's model order); `value(i)`
    the i-th unit's objective, `seconds` the program's training time."""
    program = {"id": uuid.uuid4().hex[:12], "units": len(units), "devices": int(fit.device.max()) + 1}
    out = []
    for i, unit in enumerate(units):
        epochs = int(fit.epochs[i])
        out.append(UnitRecord(
            unit=unit, value=float(value(i)), best_valid=float(fit.best_valid[i]), best_epoch=int(fit.best_epoch[i]),
            epochs=epochs, diverged=bool(fit.diverged[i]), train_loss=[float(x) for x in fit.train_loss[i][:epochs]],
            valid_curve=[float(x) for x in fit.valid_metric[i][:epochs]],
            evaluations={name: float(values[i]) for name, values in fit.evaluations.items()},
            seconds=seconds / len(units), compile_seconds=fit.compile_seconds,
            program={**program, "device": int(fit.device[i])}, extra=extra(i)))
    return out


def records(queue: UnitQueue) -> list[UnitRecord]:
    """The records of a study's finished units, one per unit, in trial order."""
    return [UnitRecord.from_trial(t) for t in queue.finished()]


class Claimed(NamedTuple):
    trial: Any  # the unit's trial (FrozenTrial or optuna.Trial)
    unit: dict


class Grid:
    """A fixed table of units, enqueued once (only the missing ones), claimed in `order(queue)`'s
    order (a sort key over units, smallest first) or in enqueue order."""

    def __init__(self, units: list[dict], order: Callable[[UnitQueue], Callable[[dict], Any]] | None = None):
        self.units = units
        self.order = order

    def prepare(self, queue: UnitQueue) -> None:
        queue.enqueue(self.units)

    def total(self, queue: UnitQueue) -> int:
        return len(self.units)

    def claim(self, queue: UnitQueue, n: int) -> list[Claimed]:
        claimed = queue.claim(n, self.order(queue) if self.order else None)
        return [Claimed(t, t.user_attrs[queue_module.UNIT]) for t in claimed]


class Study:
    """What a study supplies to the runner (subclass it; see the module doc)."""

    name: str = "study"
    unit_noun: str = "unit"

    def open(self, config: RunConfig) -> UnitQueue:
        return UnitQueue(config.resolved_storage(self.name), config.resolved_study_name(self.name), config.settings(),
                         **self.queue_options(config))

    def queue_options(self, config: RunConfig) -> dict:
        return {}

    def validate(self, config: RunConfig) -> None:
        config.validate()

    def identity(self, config: RunConfig, unit: dict) -> dict | None:
        """Everything a unit's result depends on, for sharing it through --unit_cache; None: never shared."""
        return None

    def title(self, config: RunConfig) -> str:
        raise NotImplementedError

    def source(self, config: RunConfig):
        raise NotImplementedError

    def trainer(self, config: RunConfig):
        """An object with `train(units) -> list[UnitRecord]`, kept for a worker's life."""
        raise NotImplementedError

    def label(self, unit: dict) -> str:
        raise NotImplementedError

    def result_text(self, record: UnitRecord) -> str:
        raise NotImplementedError

    def report(self, out_dir: pathlib.Path, config: RunConfig, queue: UnitQueue) -> dict:
        """Writes the report from the queue's records; returns {"document", "files", "units"}."""
        raise NotImplementedError


def work(study: Study, config: RunConfig, on_unit: Callable[[UnitRecord, dict], None] | None = None,
         invocation: Invocation | None = None) -> int:
    """One worker: claims units until none are left, trains them (or reuses a unit another study
    trained under the same identity, from `config.unit_cache`), stores their records. Returns how
    many it finished. `on_unit(record, counts)` after each (counts: the study's done / running /
    waiting); the `invocation` is recorded after each batch."""
    queue = study.open(config)
    source = study.source(config)
    trainer = study.trainer(config)
    units_cache = cache.UnitCache(config.unit_cache) if config.unit_cache else None
    per_program = config.resolved_units_per_program()
    finished = 0

    def store(claimed: Claimed, record: UnitRecord) -> None:
        nonlocal finished
        if queue.finish(claimed.trial, record.value, record.attrs(), record.valid_curve):
            finished += 1
            if on_unit is not None:
                on_unit(record, queue.counts(finished=claimed.trial))

    while claimed := source.claim(queue, per_program):
        identities = [study.identity(config, c.unit) if units_cache else None for c in claimed]
        to_train = []
        for c, identity in zip(claimed, identities):
            entry = units_cache.get(identity) if identity is not None else None
            if entry is None:
                to_train.append((c, identity))
                continue
            record = UnitRecord.from_dict(entry["record"])
            store(c, dataclasses.replace(record, unit=c.unit, extra={**record.extra, "reused_from": entry["study"]}))
        if not to_train:
            continue
        start = time.perf_counter()
        with queue.heartbeat([c.trial for c, _ in to_train]):
            records = trainer.train([c.unit for c, _ in to_train])
        queue.add_seconds(time.perf_counter() - start, invocation)
        for (c, identity), record in zip(to_train, records):
            if identity is not None:
                units_cache.put(identity, queue.name, record.to_dict())
            store(c, record)
    return finished


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def eta(elapsed: float, finished_now: int, remaining: int) -> str:
    """Remaining time at the rate of this invocation so far."""
    if finished_now <= 0:
        return "ETA —"
    return f"ETA {minutes(elapsed / finished_now * remaining)}"


class _Log:
    """Per-epoch detail in out_dir/worker-<index>.log. It never stops training: on a write error
    (a full disk) it stops logging; the next storage write reports the fault."""

    def __init__(self, path: pathlib.Path):
        self.file = None
        with contextlib.suppress(OSError):
            self.file = open(path, "a", buffering=1)

    def write(self, line: str) -> None:
        if self.file is not None:
            try:
                self.file.write(line)
            except OSError:
                self.file = None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.file is not None:
                self.file.close()


MACHINE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                  errno.EIO: "an I/O error", errno.EROFS: "the file system is read-only"}


def machine_fault(error: BaseException) -> str | None:
    """One line for a fault of the machine (disk, database, damaged journal), or None for anything else."""
    if isinstance(error, OSError) and error.errno in MACHINE_ERRNOS:
        return f"{MACHINE_ERRNOS[error.errno]} ({error.filename or error.strerror})"
    if isinstance(error, storage.StorageError):
        return str(error)
    return None


def _worker(index: int, study: Study, config: RunConfig, invocation: Invocation, done_before: int, total: int,
            sink: Callable[[str], None]) -> None:
    """A worker process: a progress line per finished unit, its per-epoch detail in out_dir/worker-<index>.log;
    a fault of the machine becomes `workers.Fault` (one line to the command)."""
    quiet_logs()
    backend.cache_compiled_programs()
    log = _Log(config.resolved_out_dir(study.name) / f"worker-{index}.log")

    def on_unit(record, counts):
        for epoch, (loss, metric) in enumerate(zip(record.train_loss, record.valid_curve)):
            log.write(f"{study.label(record.unit)} epoch {epoch + 1}: loss {loss:.5f} valid {metric:.5f}"
                      f"{' (best)' if epoch == record.best_epoch else ''}\n")
        elapsed = time.time() - invocation.started
        done = counts["done"]
        shown_total = max(total, done + counts["running"] + counts["waiting"])
        sink(f"[{done}/{shown_total}] {study.label(record.unit)}: {study.result_text(record)}"
             f"{' (diverged)' if record.diverged else ''}, {record.epochs} epochs, {record.seconds:.0f} s | "
             f"worker {index} | elapsed {minutes(elapsed)}, {eta(elapsed, done - done_before, shown_total - done)}")

    try:
        work(study, config, on_unit, invocation)
    except Exception as error:
        if (line := machine_fault(error)) is None:
            raise
        raise workers.Fault(line) from None
    finally:
        log.close()


def quiet_logs() -> None:
    """Silences absl/tfds INFO, Optuna's INFO, JAX's "Unable to initialize backend 'tpu'" and SQLAlchemy's pool
    tracebacks for connections a restarted database dropped."""
    import logging
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    for name in ("jax._src.xla_bridge", "tensorflow_datasets", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # its retries' warnings: the runner says what matters
    # A connection the database dropped (a restart) fails its ROLLBACK when it goes back to the pool:
    # SQLAlchemy logs that with a traceback, then discards the connection; storage.RetryingRDBStorage
    # retries the call that lost it, and reports a database that stays away in one line.
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)


class CommandStopped(Exception):
    """The command ended early (a signal, a fault of the machine): `line` says what was kept and
    how to resume; `exit_code` 130 / 143 for SIGINT / SIGTERM, 1 for a fault."""

    def __init__(self, line: str, exit_code: int):
        super().__init__(line)
        self.line, self.exit_code = line, exit_code


def _check_out_dir(out_dir: pathlib.Path, study_name: str) -> None:
    """A study's report is never overwritten by another study's run."""
    path = out_dir / "results.json"
    if not path.is_file():
        return
    try:
        owner = json.loads(path.read_text()).get("study_name")
    except (OSError, ValueError):
        return
    if owner not in (None, study_name):
        raise ValueError(f"--out_dir {str(out_dir)!r} holds the report of study {owner!r}, not {study_name!r}: give "
                         "another --out_dir")


def run(study: Study, config: RunConfig, sink: Callable[[str], None]) -> dict:
    """A study's command: validates (ValueError before anything is written), enqueues, trains the
    units left on `config.workers` workers, writes the report. `sink` receives the progress lines
    (the workers' too: it must be picklable, e.g. `print`). Returns the report's document.

    Raises CommandStopped after SIGINT / SIGTERM (every worker stopped within a few seconds, the
    units in flight abandoned, the report of what finished written) or a fault of the machine."""
    with workers.Interrupts() as interrupts:
        try:
            return _run(study, config, sink, interrupts)
        except OSError as error:
            if (line := machine_fault(error)) is None:
                raise
            raise CommandStopped(f"{line}; every unit finished before it is kept: fix it and run the same command "
                                 "to resume", 1) from None


def _signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _run(study: Study, config: RunConfig, sink: Callable[[str], None], interrupts: workers.Interrupts) -> dict:
    study.validate(config)
    out_dir = config.resolved_out_dir(study.name)
    _check_out_dir(out_dir, config.resolved_study_name(study.name))
    queue = study.open(config)
    source = study.source(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    source.prepare(queue)
    total = source.total(queue)
    done = queue.counts()["done"]
    count, placement = config.resolved_workers(), workers.placement()
    sink(f"{study.title(config)} = {total} {study.unit_noun}s; {done} of {total} already done, {count} worker(s) on "
         f"{placement} -> {out_dir}")
    wall, outcome = 0.0, workers.Outcome([], interrupts.signal, [])
    if done < total and interrupts.signal is None:  # a finished study run again trains nothing, records nothing
        invocation = Invocation.start(count)
        queue.record(invocation)
        # The report's SciPy and Matplotlib (~1.5 s to import) load while the workers train, not after.
        threading.Thread(target=reporting.import_dependencies, daemon=True).start()
        outcome = workers.run_workers(_worker, (study, config, invocation, done, total, sink), count, placement,
                                      interrupts)
        with contextlib.suppress(OSError, storage.StorageError):
            queue.record(invocation)
        wall = time.time() - invocation.started
    stopped = outcome.signal is not None or outcome.faults
    abandoned = 0
    if stopped:  # the units in flight: failed now and copied, so that the next run trains them first
        with contextlib.suppress(OSError, storage.StorageError):
            abandoned = queue.recover()
    try:
        written = study.report(out_dir, config, queue)
        reported, report_text = written["units"], f"{out_dir}/{written['files'][0]}"
    except (OSError, storage.StorageError) as error:
        if not stopped:
            raise
        written, reported, report_text = None, None, "no report written"
    held = f"{reported} of {total} {study.unit_noun}s done" if reported is not None else "the units finished so far kept"
    if outcome.faults:
        raise CommandStopped(f"{outcome.faults[0]}: stopped with {held} ({abandoned} in flight abandoned, trained again "
                             f"on resume); {report_text}; fix it and run the same command to resume", 1)
    if outcome.signal is not None:
        raise CommandStopped(f"interrupted ({_signal_name(outcome.signal)}): {held}, {abandoned} in flight abandoned "
                             f"(trained again on resume); {report_text}; run the same command to resume",
                             128 + outcome.signal)
    if reported >= total:
        status = "done"
    elif not queue.counts()["waiting"]:
        status = (f"done here; {total - reported} {study.unit_noun}(s) still training elsewhere (the machine that "
                  "finishes last writes the whole report; or rerun)")
    else:
        status = f"stopped with {reported} of {total} {study.unit_noun}s done (rerun to resume)"
    if any(outcome.codes):
        status += f"; worker exit codes {outcome.codes}"
    sink(f"{status} in {minutes(wall)}: " + ", ".join(f"{out_dir}/{f}" if i == 0 else f
                                                      for i, f in enumerate(written["files"])))
    return written["document"]
