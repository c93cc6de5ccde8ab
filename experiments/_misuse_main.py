"""Shared absl main of the two misuse studies (flags -> jaxact.studies -> jaxact.report)."""

from __future__ import annotations

import datetime
import pathlib
import sys
import time

from absl import flags

from jaxact import report
from jaxact.studies import runner

FLAGS = flags.FLAGS


def define_flags(study: str, default_task: str) -> None:
    flags.DEFINE_string("task", default_task, "Task name, or 'all'.")
    flags.DEFINE_integer("seeds", 5, "Seeds per variant (model init and shuffling).")
    flags.DEFINE_integer("seed", 0, "Base seed: seeds are seed, seed+1, ...; also the data split seed.")
    flags.DEFINE_string("out_dir", None, f"Output directory (default runs/{study}/<task>-<timestamp>/).")
    flags.DEFINE_integer("max_epochs", 100, "Epoch cap per model.")
    flags.DEFINE_integer("patience", 10, "Early-stopping patience (epochs without strict improvement).")
    flags.DEFINE_integer("train_size", 2_000, "Training images (prefix of the seeded 2,000).")
    flags.DEFINE_integer("valid_size", 3_000, "Per-epoch validation images (prefix of the seeded 3,000).")
    flags.DEFINE_integer("test_size", None, "Test images (default all 10,000; smaller for smoke runs).")
    flags.DEFINE_list("variants", None, "Only these variant names (default all of the task).")
    flags.DEFINE_integer("models_in_parallel", None, "Models vmapped together (default: 1 on CPU, 64 on GPU).")


def main(study: str) -> None:
    config = runner.StudyConfig(
        study=study, task=FLAGS.task, seeds=FLAGS.seeds, base_seed=FLAGS.seed, max_epochs=FLAGS.max_epochs,
        patience=FLAGS.patience, train_size=FLAGS.train_size, valid_size=FLAGS.valid_size,
        test_size=FLAGS.test_size, variants=tuple(FLAGS.variants) if FLAGS.variants else None,
        models_in_parallel=FLAGS.models_in_parallel)
    try:
        plan = runner.validate(config)
    except ValueError as error:
        sys.exit(f"error: {error}")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = pathlib.Path(FLAGS.out_dir or f"runs/{study}/{config.task}-{stamp}")
    print(f"{study}: {sum(len(rows) for _, rows in plan)} variants x {config.seeds} seeds -> {out_dir}", flush=True)
    start = time.perf_counter()
    results = []
    for task, rows in plan:
        results.append(runner.run_task(config, task, rows, lambda p: print(report.format_progress(p), flush=True)))
        # after every task, so an interrupted --task=all keeps the tasks it finished
        report.write_study(out_dir, config, results, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    print(f"done in {seconds / 60:.1f} min: {out_dir}/report.md, results.json, "
          + ", ".join(f"curves_{task}.png" for task, _ in plan), flush=True)
