"""The device benchmark: how fast one compiled program trains many models on this backend's devices.

    python -m experiments.bench_device --out=runs/bench_device              # a GPU or TPU host: ~5 min
    python -m experiments.bench_device --tiny --out=/tmp/bench              # seconds, any machine (the tests)

1. Model-epochs per second against models per program (1, 8, 32, 64, 128; a size that does not
   fit in memory ends the series): every model vmapped, the models axis sharded over every local
   device, each model on its own data sample (2,000 train + 3,000 valid images per epoch, as the
   misuse studies), timed per epoch after a warm-up epoch; with the device's peak memory where
   the backend reports it.
2. One whole task table of the activation-misuse study (regression: 6 variants x 5 seeds) as one
   program, to early stop: wall time, epochs, and what early stopping under vmap cost (the
   model-epochs the program ran after a model had stopped).
Writes bench.json and bench.md.
"""

from experiments import _startup  # noqa: F401  (first: a signal while importing ends in one line)

import json
import pathlib
import time

import jax
import numpy as np
from absl import app, flags

from jaxact import backend, data, reporting, tasks, train
from jaxact.combinations import Combination
from jaxact.studies import runner
from jaxact.studies.misuse import table

_OUT = flags.DEFINE_string("out", "runs/bench_device", "Output directory for bench.json and bench.md.")
_MODELS = flags.DEFINE_list("models", ["1", "8", "32", "64", "128"], "Models per program.")
_EPOCHS = flags.DEFINE_integer("epochs", 2, "Timed epochs per program, after one warm-up epoch.")
_TABLE = flags.DEFINE_string("table_task", "regression", "The activation-misuse task whose table trains as one program.")
_SEEDS = flags.DEFINE_integer("seeds", 5, "Seeds of the table.")
_TINY = flags.DEFINE_bool("tiny", False, "Tiny sizes (64 train / 32 valid / 64 test images, 1 timed epoch, 1 and 2 "
                          "models, 2 seeds, 3 epochs to stop): a smoke run of the same code.")

HEAD = Combination("multiclass", "softmax", "cce")  # the documents' multiclass head


def _sizes() -> dict:
    if _TINY.value:
        return {"train": 64, "valid": 32, "test": 64, "epochs": 1, "models": [1, 2], "seeds": 2, "max_epochs": 3}
    return {"train": 2000, "valid": 3000, "test": None, "epochs": _EPOCHS.value, "models": [int(m) for m in _MODELS.value],
            "seeds": _SEEDS.value, "max_epochs": 100}


def _samples(count: int, sizes: dict) -> list[train.Sample]:
    rows = [data.sample("misuse", seed, {"train": sizes["train"], "valid": sizes["valid"]}) for seed in range(count)]
    return [train.Sample(r["train"], r["valid"]) for r in rows]


def _peak_bytes() -> int | None:
    stats = jax.local_devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def throughput(pool: train.Dataset, models: int, sizes: dict) -> dict:
    """Seconds per program-epoch of `models` vmapped models (after a warm-up epoch) and model-epochs per second."""
    config = train.EngineConfig("multiclass", train.Options.covering([train.Model(HEAD, 0)]),
                                max_epochs=sizes["epochs"] + 1, patience=10_000, models_in_parallel=None)
    ends: dict[int, float] = {}
    result = train.Program(config).fit([train.Model(HEAD, seed) for seed in range(models)], pool,
                                       _samples(models, sizes), on_epoch=lambda r: ends.__setitem__(r.epoch, time.perf_counter()))
    epochs = [ends[e + 1] - ends[e] for e in range(sizes["epochs"])]
    seconds = float(np.median(epochs))
    return {"models": models, "seconds_per_epoch": seconds, "model_epochs_per_second": models / seconds,
            "compile_seconds": result.compile_seconds, "peak_bytes": _peak_bytes()}


def whole_table(pool_split, test_split, sizes: dict) -> dict:
    """The task's activation-misuse table x seeds as one program, to early stop."""
    task = tasks.get_task(_TABLE.value)
    variants = table.select("activation_misuse", task.name)
    units = [(v.combination, seed) for seed in range(sizes["seeds"]) for v in variants]
    models = [train.Model(c, seed) for c, seed in units]
    config = train.EngineConfig(task.name, train.Options.covering(models), max_epochs=sizes["max_epochs"],
                                models_in_parallel=None)
    pool = train.Dataset(pool_split.pixels, task.targets(pool_split.digits))
    test = train.Dataset(test_split.pixels, task.targets(test_split.digits))
    samples = _samples(sizes["seeds"], sizes)  # each seed its own data sample, as --split=per_seed
    result = train.Program(config).fit(models, pool, [samples[seed] for _, seed in units], {"test": test})
    ran = len(models) * int(result.epochs.max())
    return {"task": task.name, "units": len(models), "variants": len(variants), "seeds": sizes["seeds"],
            "seconds": result.seconds, "compile_seconds": result.compile_seconds,
            "epochs": {"min": int(result.epochs.min()), "max": int(result.epochs.max()), "sum": int(result.epochs.sum())},
            "early_stopping_cost": 1 - int(result.epochs.sum()) / ran,
            "test": {v.name: [float(result.evaluations["test"][i]) for i, (c, _) in enumerate(units) if c == v.combination]
                     for v in variants}}


def markdown(document: dict) -> str:
    devices = document["devices"]
    lines = [f"# Device benchmark: {document['backend']} ({devices['count']} x {devices['kind']})", "",
             f"{document['sizes']['train']} train + {document['sizes']['valid']} valid images per model-epoch, "
             f"every model vmapped, the models axis sharded over {devices['count']} device(s); "
             f"{document['sizes']['epochs']} timed epoch(s) after a warm-up. Versions: "
             + ", ".join(f"{k} {v}" for k, v in document["versions"].items()) + ".", "",
             "| models per program | s per program-epoch | model-epochs per s | compile s | peak memory |",
             "|---|---|---|---|---|"]
    for row in document["throughput"]:
        peak = f"{row['peak_bytes'] / 2**20:.0f} MiB" if row.get("peak_bytes") else "—"
        lines.append(f"| {row['models']} | {row['seconds_per_epoch']:.3f} | {row['model_epochs_per_second']:.2f} | "
                     f"{row['compile_seconds']:.1f} | {peak} |")
    if document.get("stopped_at"):
        lines += ["", f"{document['stopped_at']} models per program did not fit: {document['stopped_because']}"]
    t = document.get("table")
    if t:
        lines += ["", f"Whole `{t['task']}` table of the activation-misuse study ({t['variants']} variants x {t['seeds']} "
                  f"seeds = {t['units']} units) as one program, to early stop: {t['seconds']:.1f} s (compile "
                  f"{t['compile_seconds']:.1f} s), epochs {t['epochs']['min']}-{t['epochs']['max']}; early stopping "
                  f"under vmap cost {100 * t['early_stopping_cost']:.0f} % of the model-epochs the program ran (a "
                  "vmapped program runs until its slowest model stops)."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    runner.quiet_logs()
    sizes = _sizes()
    devices = jax.local_devices()
    document = {"backend": backend.name(), "devices": {"count": len(devices), "kind": devices[0].device_kind},
                "versions": reporting.versions(), "sizes": sizes, "throughput": []}
    pool_split = data.train_pool()
    test_split = data.test_split(test_size=sizes["test"])
    pool = train.Dataset(pool_split.pixels, tasks.get_task("multiclass").targets(pool_split.digits))
    for models in sizes["models"]:
        try:
            row = throughput(pool, models, sizes)
        except jax.errors.JaxRuntimeError as error:  # out of memory: larger programs will not fit either
            document["stopped_at"], document["stopped_because"] = models, str(error).splitlines()[0][:200]
            break
        document["throughput"].append(row)
        print(f"{models:4d} models per program: {row['seconds_per_epoch']:.3f} s per epoch, "
              f"{row['model_epochs_per_second']:.2f} model-epochs per s", flush=True)
    document["table"] = whole_table(pool_split, test_split, sizes)
    print(f"whole {document['table']['task']} table: {document['table']['units']} units in "
          f"{document['table']['seconds']:.1f} s", flush=True)
    out = pathlib.Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    reporting.write_json(out / "bench.json", document)
    (out / "bench.md").write_text(markdown(document))
    print(f"wrote {out}/bench.json and bench.md", flush=True)


if __name__ == "__main__":
    app.run(main)
