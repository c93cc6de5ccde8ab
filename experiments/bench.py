"""Engine benchmark: median seconds per model-epoch (2,000 train + 3,000 valid) on this backend.

    python -m experiments.bench --out=bench.json [--epochs=3]

Rows: conv implementation (patches+matmul vs lax.conv) x models (1, 2, 4, 8) x how they share
the machine (sequential: one model at a time inside the program; vmapped: all at once). Each
model-epoch is timed from the engine's per-epoch reports; the first epoch of each run (warm-up)
is dropped. Then one full misuse variant (multiclass, softmax + CE, patience 10) to early stop.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np
from absl import app, flags

from jaxact import data, models, tasks, train
from jaxact.combinations import Combination

MULTICLASS = Combination("multiclass", "softmax", "cce")  # the documents' double softmax

_OUT = flags.DEFINE_string("out", None, "Write the results as JSON here.")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Timed epochs per run (after one warm-up epoch).")
_N_MODELS = flags.DEFINE_list("n_models", ["1", "2", "4", "8"], "Model counts.")
_CONV_IMPLS = flags.DEFINE_list("conv_impls", list(models.CONV_IMPLS), "Convolution implementations.")
_SLOW_LIMIT = flags.DEFINE_integer(
    "lax_cpu_max_models", 1, "On CPU, lax.conv training runs only up to this many models (its backward "
    "pass takes ~15 s per epoch, and vmapped over models far more).")
_FULL_VARIANT = flags.DEFINE_bool("full_variant", True, "Also time one misuse variant to early stop.")


def _datasets(task):
    splits = data.make_splits("misuse", seed=0)
    return train.Dataset.for_task(task, splits)


def time_run(datasets, conv_impl: str, n_models: int, parallel: int, epochs: int) -> dict:
    config = train.EngineConfig("multiclass", max_epochs=epochs + 1, patience=10_000, conv_impl=conv_impl,
                                models_in_parallel=parallel)
    stamps: list[tuple[int, int, float]] = []
    result = train.fit(config, [train.Model(MULTICLASS, seed) for seed in range(n_models)], datasets["train"],
                       datasets["valid"], on_epoch=lambda r: stamps.append((r.model, r.epoch, time.perf_counter())))
    per_model_epoch = []
    if parallel == 1:  # sequential: consecutive reports of a model bound one epoch each
        for (m0, e0, t0), (m1, e1, t1) in zip(stamps, stamps[1:]):
            if m0 == m1 and e1 == e0 + 1 and e0 >= 0:
                per_model_epoch.append(t1 - t0)
    else:  # vmapped: all models report together at the end of each epoch
        ends = sorted({e: t for _, e, t in stamps}.items())
        per_model_epoch = [(t1 - t0) / n_models for (_, t0), (_, t1) in zip(ends, ends[1:])]
    return {"conv_impl": conv_impl, "n_models": n_models, "mode": "sequential" if parallel == 1 else "vmapped",
            "median_model_epoch_s": float(np.median(per_model_epoch)), "timed_model_epochs": len(per_model_epoch),
            "compile_s": result.compile_seconds, "total_s": result.seconds}


def main(argv):
    del argv
    backend = jax.default_backend()
    task = tasks.get_task("multiclass")
    datasets = _datasets(task)
    rows = []
    print(f"backend {backend}; {len(datasets['train'].targets)} train + {len(datasets['valid'].targets)} valid per epoch", flush=True)
    for conv_impl in _CONV_IMPLS.value:
        for n in map(int, _N_MODELS.value):
            for parallel in sorted({1, n}):
                if backend == "cpu" and conv_impl == "lax" and n > _SLOW_LIMIT.value:
                    continue
                row = time_run(datasets, conv_impl, n, parallel, _EPOCHS.value)
                rows.append(row)
                print(f"{conv_impl:8s} models {n} {row['mode']:10s} median {row['median_model_epoch_s']:.3f} s per model-epoch "
                      f"(compile {row['compile_s']:.1f} s)", flush=True)
    out = {"backend": backend, "device": str(jax.devices()[0]), "epochs": _EPOCHS.value, "rows": rows}
    if _FULL_VARIANT.value:
        config = train.EngineConfig("multiclass", max_epochs=100, patience=10)
        result = train.fit(config, [train.Model(MULTICLASS, 0)], datasets["train"], datasets["valid"],
                           {"test": datasets["test"]})
        out["full_variant"] = {"variant": "multiclass softmax+cce, seed 0", "seconds": result.seconds,
                               "compile_s": result.compile_seconds, "epochs": int(result.epochs[0]),
                               "best_epoch": int(result.best_epoch[0]), "test": float(result.evaluations["test"][0])}
        print(f"full variant to early stop: {result.seconds:.1f} s ({int(result.epochs[0])} epochs, compile "
              f"{result.compile_seconds:.1f} s), test accuracy {100 * result.evaluations['test'][0]:.2f} %", flush=True)
    by_key = {(r["conv_impl"], r["n_models"], r["mode"]): r["median_model_epoch_s"] for r in rows}
    ratios = {}
    if ("lax", 1, "sequential") in by_key and ("patches", 1, "sequential") in by_key:
        ratios["patches_speedup_over_lax_conv"] = by_key[("lax", 1, "sequential")] / by_key[("patches", 1, "sequential")]
    for n in map(int, _N_MODELS.value):
        if n > 1 and ("patches", n, "vmapped") in by_key and ("patches", n, "sequential") in by_key:
            ratios[f"vmapped_vs_sequential_throughput_{n}"] = by_key[("patches", n, "sequential")] / by_key[("patches", n, "vmapped")]
    out["ratios"] = ratios
    print(json.dumps(ratios, indent=1), flush=True)
    if _OUT.value:
        with open(_OUT.value, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    sys.exit(app.run(main))
