"""Worker processes (one per CPU core, pinned and XLA single-threaded; one per accelerator host,
its programs sharded over every device) and the one path by which a study's command stops: a signal or a worker's fault.

- Ctrl-C / SIGTERM to the command (or Ctrl-C to its whole process group): the command asks
  every worker to stop (SIGTERM), gives them `GRACE_SECONDS`, then kills the rest. Workers ignore
  SIGINT (they are spawned with it ignored, so not even an import is interrupted with a
  traceback) and leave quietly on SIGTERM. What they were training is abandoned: the next run
  trains it again from scratch.
- A worker's fault (a full disk, a database that stays away, a damaged journal): the worker
  reports one line and exits; the command stops the others the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import time

GRACE_SECONDS = 5.0
FAULT_EXIT = 3  # a worker's exit code after a fault it reported
STOPPED_EXIT = 128 + signal.SIGTERM


class Stopped(BaseException):
    """Raised in a worker by SIGTERM: unwinds it (locks are released) without a traceback."""


def placement() -> str:
    """"cpu" (pinned worker processes) or the accelerator platform (a worker per device)."""
    from jaxact import backend

    return backend.name()


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies, so a killed study leaves no workers."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def place(index: int, placement: str) -> None:
    """CPU: pins this process to its core, XLA single-threaded. Must run before JAX initializes
    its backend. An accelerator host's one worker keeps every device (its programs span them)."""
    if placement == "cpu":
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[index % len(cores)]})
        # XLA sizes its CPU thread pool from the affinity mask: one thread on the pinned core.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()


class _Stopping:
    """Set in a worker once SIGTERM arrived: a `Stopped` raised inside a JAX callback comes back
    wrapped in another exception, which must still end the worker quietly."""

    requested = False


def _raise_stopped(signum, frame):
    # Only the first: the command may signal twice (its handler, then its loop), and a second
    # Stopped raised while the first unwinds would cut a `finally` short (a lock never released).
    if _Stopping.requested:
        return
    _Stopping.requested = True
    raise Stopped


def _worker_main(target, index: int, placement: str, args: tuple, faults) -> None:
    """A worker process: `target(index, *args)`; a `Fault` it raises becomes one line to the
    command and exit code FAULT_EXIT; SIGTERM exits STOPPED_EXIT; never a traceback for either."""
    signal.signal(signal.SIGTERM, _raise_stopped)
    _die_with_parent()
    place(index, placement)
    try:
        target(index, *args)
        # Everything the worker did is stored (journal appends are fsynced): skip the interpreter's
        # teardown (JAX's backend and caches, ~0.5 s per worker at the end of every study).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    except Stopped:
        os._exit(STOPPED_EXIT)
    except Fault as fault:
        faults.put(str(fault))
        faults.close()
        faults.join_thread()
        os._exit(FAULT_EXIT)
    except BaseException:
        if _Stopping.requested:
            os._exit(STOPPED_EXIT)
        raise


class Fault(Exception):
    """A fault of the machine, not of the code: a full disk, a lost database, a damaged journal.
    Its message is the one line the command prints (what happened; what to do)."""


@dataclasses.dataclass
class Outcome:
    codes: list[int]
    signal: int | None  # the signal that stopped the command, if one did
    faults: list[str]  # the workers' fault lines


class Interrupts:
    """While active (a context manager), SIGINT and SIGTERM to this process are recorded instead of
    raising, and forwarded as SIGTERM to the registered worker processes. A handler that only
    records cannot be lost the way a KeyboardInterrupt raised inside a garbage-collector callback is."""

    def __init__(self):
        self.signal: int | None = None
        self.processes: list = []
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signal is None:
            self.signal = signum
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    def __enter__(self) -> "Interrupts":
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run_workers(target, args: tuple, workers: int, placement: str, interrupts: Interrupts) -> Outcome:
    """Runs `target(index, *args)` in `workers` fresh processes (spawned: JAX is initialized in
    each after `place`), until all end, a signal stops the command, or a worker reports a fault.
    On CPU even one worker is its own pinned process: a process on several cores sums some matmuls
    in another order, and training amplifies that last bit into other epochs and accuracies, so a
    unit's numbers would depend on --workers. `target` must be importable (a module-level function)."""
    import multiprocessing
    import multiprocessing.connection

    context = multiprocessing.get_context("spawn")
    faults = context.Queue()
    processes = [context.Process(target=_worker_main, args=(target, i, placement, args, faults), name=f"worker-{i}")
                 for i in range(workers)]
    # Spawned with SIGINT ignored: a Ctrl-C to the process group then reaches only this process,
    # which stops the workers itself (an interpreter started with SIGINT ignored keeps it ignored).
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for process in processes:
            process.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    interrupts.processes = processes
    lines: list[str] = []
    stop_at = None
    while any(p.exitcode is None for p in processes):
        # Wakes as soon as a worker exits, else every 0.2 s to look at faults and signals.
        multiprocessing.connection.wait([p.sentinel for p in processes if p.exitcode is None], timeout=0.2)
        while not faults.empty():
            lines.append(faults.get())
        if (interrupts.signal is not None or lines) and stop_at is None:
            stop_at = time.monotonic() + GRACE_SECONDS
            for process in processes:
                if process.exitcode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGTERM)
        if stop_at is not None and time.monotonic() > stop_at:
            for process in processes:
                if process.exitcode is None:
                    process.kill()
    while not faults.empty():
        lines.append(faults.get())
    interrupts.processes = []
    return Outcome([p.exitcode for p in processes], interrupts.signal, lines)
