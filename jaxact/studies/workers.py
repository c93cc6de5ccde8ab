"""Worker processes: one per CPU core (pinned, XLA single-threaded) or per accelerator device."""

from __future__ import annotations

import os

def placement() -> str:
    """"cpu" (pinned worker processes) or the accelerator platform (a worker per device)."""
    from jaxact import backend

    return backend.name()


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies, so a killed study leaves no workers."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def place(index: int, placement: str) -> None:
    """Puts this process on its core (CPU: pinned, XLA single-threaded) or its accelerator.
    Must run before JAX initializes its backend."""
    if placement == "cpu":
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[index % len(cores)]})
        # XLA sizes its CPU thread pool from the affinity mask: one thread on the pinned core.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    else:
        os.environ["CUDA_VISIBLE_DEVICES" if placement == "gpu" else "TPU_VISIBLE_DEVICES"] = str(index)


def _worker_main(target, index: int, placement: str, args: tuple) -> None:
    _die_with_parent()
    place(index, placement)
    target(index, *args)


def run_workers(target, args: tuple, workers: int, placement: str) -> list[int]:
    """Runs `target(index, *args)` in `workers` fresh processes (spawned: JAX is initialized in
    each after `place`); one accelerator worker runs in this process. On CPU even one worker is
    its own pinned process: a process on several cores sums some matmuls in another order, and
    training amplifies that last bit into other epochs and accuracies, so a unit's numbers would
    depend on --workers. Returns the exit codes. `target` must be importable (a module-level function)."""
    if workers == 1 and placement != "cpu":
        target(0, *args)
        return [0]
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_main, args=(target, i, placement, args), name=f"worker-{i}")
                 for i in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return [process.exitcode for process in processes]
