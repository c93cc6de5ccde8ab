"""What every study entrypoint does around the library: quiet logs, one-line errors, progress lines."""

from __future__ import annotations

import logging
import os
import sys
import time


def quiet_logs() -> None:
    """Silences absl/tfds INFO, Optuna's INFO and JAX's "Unable to initialize backend 'tpu'"."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    for name in ("jax._src.xla_bridge", "tensorflow_datasets", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import optuna
    import tensorflow_datasets as tfds

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tfds.disable_progress_bar()


def fail(error: Exception) -> None:
    sys.exit(f"error: {error}")


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def eta(elapsed: float, finished_now: int, remaining: int) -> str:
    """Remaining time at the rate of this invocation so far."""
    if finished_now <= 0:
        return "ETA —"
    return f"ETA {minutes(elapsed / finished_now * remaining)}"


def run_workers(db, worker, config, done_before: int, remaining: int, workers: int, placement: str) -> tuple[float, list[int]]:
    """Runs `worker(index, config, invocation, done_before)` in `workers` processes and records the
    invocation (wall time, worker count) with the study: at the start, after every batch (by the
    workers), at the end. With nothing remaining, neither: running a finished study again only
    rewrites its report. Returns (wall seconds, exit codes)."""
    from jaxact import scheduler

    if remaining <= 0:
        return 0.0, []
    invocation = scheduler.Invocation.start(workers)
    db.record(invocation)
    codes = scheduler.run_workers(worker, (config, invocation, done_before), workers, placement)
    db.record(invocation)
    return time.time() - invocation.started, codes
