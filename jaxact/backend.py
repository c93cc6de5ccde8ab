"""Everything that depends on the backend, decided in one place.

| backend | convolution (training) | units per program | workers |
|---|---|---|---|
| cpu | "patches": 9 shifted slices + one matmul (XLA's conv backward is ~15 s per epoch here) | 1; a program's models run one after another (vmap is slower on CPU, 0.58-0.91x) | one per core, pinned, XLA single-threaded |
| gpu / tpu | "lax": cuDNN / native convolutions | 64 per device, vmapped: that is where an accelerator's speed comes from | one per host: its programs are sharded over every local device |
"""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Defaults:
    name: str
    conv_impl: str
    units_per_program: int
    models_in_parallel: int | None  # vmapped models of a program; None: all of them


def name() -> str:
    import jax

    return jax.default_backend()


def defaults(backend: str | None = None) -> Defaults:
    import jax

    backend = backend or name()
    if backend == "cpu":
        return Defaults(backend, conv_impl="patches", units_per_program=1, models_in_parallel=1)
    return Defaults(backend, conv_impl="lax", units_per_program=64 * jax.local_device_count(), models_in_parallel=None)


def eval_conv_impl(backend: str, models_in_parallel: int) -> str:
    """Forward-only `lax.conv` is the fastest evaluation for one model on CPU (0.14 s per 3,000
    images in chunks of 250); vmapped over models on CPU the patches form is."""
    return "lax" if backend != "cpu" or models_in_parallel == 1 else "patches"


def local_workers(backend: str | None = None) -> int:
    """On CPU one worker per core available to this process; on an accelerator host one, whose
    programs span every local device (`train.Program` shards the models over them)."""
    backend = backend or name()
    return len(os.sched_getaffinity(0)) if backend == "cpu" else 1


def cache_compiled_programs() -> None:
    """Keeps compiled programs in a persistent cache (JAX's, under $JAXACT_CACHE_DIR/xla): a study's
    workers, and every later run of the same study, load a program instead of compiling it again
    (~10 s for a misuse task's program on one pinned core). Entries are keyed by the program, the
    XLA flags and the JAX version, so a changed engine never reuses a stale one."""
    import jax

    from jaxact.data import fetch

    jax.config.update("jax_compilation_cache_dir", str(fetch.cache_root() / "xla"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
