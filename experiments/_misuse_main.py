"""Shared absl main of the two misuse studies: flags -> jaxact.studies.misuse -> report.

The units (variant x seed) live in a study storage under --out_dir; workers (one per core by
default) train them; the report is built from the storage. Run the same command again to resume.
"""

from __future__ import annotations

import time

from absl import flags

from experiments import _flags, _study_main
from jaxact import reporting, scheduler, tasks
from jaxact.studies.misuse import report, study

FLAGS = flags.FLAGS


def define_flags(study_name: str, default_task: str) -> None:
    _flags.define(study.StudyConfig, study.StudyConfig(study=study_name, task=default_task), skip=("study",))


def _worker(index: int, config: study.StudyConfig, invocation: scheduler.Invocation, done_before: int) -> None:
    """One worker: a progress line per finished unit, per-epoch detail in out_dir/worker-<index>.log."""
    _study_main.quiet_logs()
    log = open(config.resolved_out_dir() / f"worker-{index}.log", "a", buffering=1)

    def on_epoch(unit, r):
        log.write(f"{unit['task']} {unit['variant']} seed {unit['seed']} epoch {r.epoch + 1}: loss {r.train_loss:.5f} "
                  f"valid {r.valid_metric:.5f} best {r.best_metric:.5f} @ {r.best_epoch + 1}{' (stopped)' if r.done else ''}\n")

    def on_unit(result, counts):
        unit, attrs = result.unit, result.attrs
        hib = tasks.get_task(unit["task"]).higher_is_better
        total = counts["done"] + counts["running"] + counts["waiting"]
        elapsed = time.time() - invocation.started
        print(f"[{counts['done']}/{total}] {unit['task']} {unit['variant']} seed {unit['seed']}: test "
              f"{reporting.format_metric(attrs['test'], hib)}{' (diverged)' if attrs['diverged'] else ''}, "
              f"{attrs['epochs']} epochs, {attrs['seconds']:.0f} s | worker {index} | elapsed "
              f"{_study_main.minutes(elapsed)}, {_study_main.eta(elapsed, counts['done'] - done_before, total - counts['done'])}",
              flush=True)

    study.work(config, on_unit, on_epoch, invocation)
    log.close()


def main(study_name: str) -> None:
    _study_main.quiet_logs()
    config = _flags.config_from_flags(study.StudyConfig, study=study_name)
    try:
        variants = study.plan(config)
        units = study.units(config, variants)
        per_device, placement = scheduler.default_workers()
        workers = config.workers or per_device
        db = study.open_study(config)
    except ValueError as error:
        _study_main.fail(error)
    out_dir = config.resolved_out_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    db.enqueue(units)
    counts = db.counts()
    total = sum(counts.values())
    print(f"{study_name} {config.task}: {len(variants)} variants x {config.seeds} seeds = {len(units)} units; "
          f"{counts['done']} of {total} already done, {workers} worker(s) on {placement} -> {out_dir}", flush=True)
    wall, codes = _study_main.run_workers(db, _worker, config, counts["done"], total - counts["done"], workers, placement)
    document = report.write(out_dir, config, db)
    reported = sum(t["units"] for t in document["tasks"])  # the status says what the report holds
    if reported >= len(units):
        status = "done"
    elif not db.counts()["waiting"]:
        status = (f"done here; {len(units) - reported} unit(s) still training elsewhere (the machine that finishes "
                  "last writes the whole report; or rerun)")
    else:
        status = f"stopped with {reported} of {len(units)} units done (rerun to resume)"
    if any(codes):
        status += f"; worker exit codes {codes}"
    print(f"{status} in {_study_main.minutes(wall)}: {out_dir}/report.md, results.json, "
          + ", ".join(f"curves_{t['task']}.png" for t in document["tasks"]), flush=True)
