"""The engine beside its PyTorch peer, in one interleaved run (A B A B ..., every configuration once
per round), on the same data: 2,000 train images in batches of 32 + 3,000 valid per epoch.

    python -m experiments.bench_peers --rounds=3 --epochs=3 --out=results/bench_peers
    pip install torch==2.13.0   # the peer (CPU build); without it only the engine is timed

Configurations: each side (PyTorch, the engine in float32, the engine with bfloat16 matmuls) as 1
process x all threads, and as one pinned single-thread process per core running at once (throughput = model-epochs of all processes / wall). Each process times its
epochs after one warm-up, train and evaluation separately. The engine's pieces are the ones
`jaxact.train.fit` runs (`train_epoch`, `evaluate`); the peer is the documents' loop on
pre-made tensors (no per-sample DataLoader). Writes bench.json and bench.md.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from jaxact import reporting
from jaxact.studies import workers

_ROUNDS = flags.DEFINE_integer("rounds", 3, "Interleaved rounds (every configuration once per round).")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Timed epochs per process, after one warm-up epoch.")
_OUT = flags.DEFINE_string("out", "runs/bench_peers", "Output directory for bench.json and bench.md.")
_WORKER = flags.DEFINE_enum("worker", None, ["engine", "engine-bf16", "torch", "torch-whole"],
                            "Internal: time one process of this side.")
_WHOLE = flags.DEFINE_bool("whole", False, "Instead: whole commands, interleaved - PyTorch's best configuration vs "
                           "`python -m experiments.misuse` at its defaults, each training --models multiclass softmax+CE "
                           "models for --whole_epochs epochs (2,000 train + 3,000 valid images) and testing each on the "
                           "10,000 test images; wall time from start to exit.")
_MODELS = flags.DEFINE_integer("models", 4, "--whole: models per command (seeds 0 ..).")
_WHOLE_EPOCHS = flags.DEFINE_integer("whole_epochs", 10, "--whole: epochs per model.")
_FIRST_SEED = flags.DEFINE_integer("first_seed", 0, "Internal: the first model's seed of a torch-whole worker.")
_THREADS = flags.DEFINE_integer("threads", None, "Internal: threads of a worker (pinned when 1).")
_CORE = flags.DEFINE_integer("core", None, "Internal: which of the available cores a single-thread worker is pinned to.")


def _engine_epochs(epochs: int, matmul_dtype: str) -> list[dict]:
    import jax

    from jaxact import data, tasks, train
    from jaxact.combinations import Combination

    config = train.EngineConfig("multiclass", matmul_dtype=matmul_dtype).resolved()
    splits, task = data.make_splits("misuse", seed=0), tasks.get_task("multiclass")
    # uint8 pixels scaled inside the program, as the studies feed it
    pool, sample = train.pool_of(*(train.Dataset(splits[name].pixels, task.targets(splits[name].digits))
                                   for name in ("train", "valid")))
    pool = train.Dataset(train.device_images(pool.images), jax.numpy.asarray(pool.targets))
    model = train.Model(Combination("multiclass", "softmax", "cce"), seed=0)
    row = train.Rows(*(jax.numpy.asarray(c[0]) for c in train.Rows.of(config.options, [model], [sample])))
    params = train.init(config, jax.random.key(0))
    opt_state = train.optimizer(config).init(params)
    train_targets = pool.targets[row.train]
    stats = tasks.label_stats(train_targets)
    epoch = jax.jit(lambda p, o, k: train.train_epoch(config, row, p, o, k, pool.images, train_targets))
    evaluate = jax.jit(lambda p: train.evaluate(config, row, p, pool, stats, row.valid))
    out = []
    for i in range(epochs + 1):
        start = time.perf_counter()
        params, opt_state, _ = jax.block_until_ready(epoch(params, opt_state, jax.random.key(i)))
        trained = time.perf_counter()
        accuracy = float(jax.block_until_ready(evaluate(params)))
        out.append({"train": trained - start, "eval": time.perf_counter() - trained, "valid_accuracy": accuracy})
    return out[1:]


def _torch_epochs(epochs: int, threads: int | None, seed: int = 0, test: bool = False) -> list[dict]:
    """The documents' loop on pre-made tensors: `epochs` timed epochs after a warm-up one (or, with
    `test`, exactly `epochs` epochs then the 10,000-image test, as a study unit does)."""
    import torch
    from torch import nn

    from jaxact import data

    if threads:
        torch.set_num_threads(threads)
    splits = data.make_splits("misuse", seed=seed)
    to_torch = lambda s: (torch.tensor(np.asarray(s.images)).permute(0, 3, 1, 2).contiguous(),  # noqa: E731
                          torch.tensor(np.asarray(s.digits), dtype=torch.long))
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (to_torch(splits[k]) for k in ("train", "valid", "test"))
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 10), nn.Softmax(dim=1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()

    def accuracy(x, y):
        model.eval()
        with torch.no_grad():
            return sum((model(x[i:i + 32]).argmax(1) == y[i:i + 32]).sum().item() for i in range(0, len(y), 32)) / len(y)

    out = []
    for _ in range(epochs + (0 if test else 1)):
        start = time.perf_counter()
        model.train()
        for index in torch.randperm(len(y_train)).split(32):
            optimizer.zero_grad()
            criterion(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
        trained = time.perf_counter()
        out.append({"train": trained - start, "valid_accuracy": accuracy(x_valid, y_valid),
                    "eval": time.perf_counter() - trained})
    if test:
        return out + [{"test_accuracy": accuracy(x_test, y_test)}]
    return out[1:]


def _worker() -> None:
    if _THREADS.value == 1:
        workers.place(_CORE.value or 0, "cpu")  # pinned as a study's worker is
    if _WORKER.value.startswith("engine"):
        epochs = _engine_epochs(_EPOCHS.value, "bfloat16" if _WORKER.value.endswith("bf16") else "float32")
    elif _WORKER.value == "torch-whole":
        epochs = [_torch_epochs(_WHOLE_EPOCHS.value, _THREADS.value, seed, test=True)
                  for seed in range(_FIRST_SEED.value, _FIRST_SEED.value + _MODELS.value)]
    else:
        epochs = _torch_epochs(_EPOCHS.value, _THREADS.value)
    print(json.dumps(epochs))


def _whole_command(side: str, cores: list[int], out_dir: str) -> float:
    """Wall seconds of one whole command: PyTorch in one configuration, or the study entrypoint."""
    models, epochs = _MODELS.value, _WHOLE_EPOCHS.value
    if side == "jaxact":
        commands = [[sys.executable, "-m", "experiments.misuse", "--task=multiclass", "--variants=softmax+cce",
                     f"--seeds={models}", f"--max_epochs={epochs}", f"--patience={epochs + 1}", f"--out_dir={out_dir}"]]
    elif side == "torch 1 process":
        commands = [[sys.executable, "-m", "experiments.bench_peers", "--worker=torch-whole", f"--models={models}",
                     f"--whole_epochs={epochs}"]]
    else:  # one pinned single-thread process per core, the models split between them
        share = -(-models // len(cores))
        commands = [[sys.executable, "-m", "experiments.bench_peers", "--worker=torch-whole", "--threads=1",
                     f"--core={i}", f"--first_seed={i * share}", f"--models={min(share, models - i * share)}",
                     f"--whole_epochs={epochs}"] for i in range(len(cores)) if i * share < models]
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"{side} failed: {err[-1500:]}")
    return time.perf_counter() - start


def _whole(cores: list[int]) -> None:
    import tempfile

    sides = ["torch 1 process", "torch pinned processes", "jaxact"]
    rounds = []
    for r in range(_ROUNDS.value):
        with tempfile.TemporaryDirectory() as tmp:
            row = {side: _whole_command(side, cores, f"{tmp}/{i}") for i, side in enumerate(sides)}
        rounds.append(row)
        print(f"round {r + 1}: " + ", ".join(f"{side} {seconds:.1f} s" for side, seconds in row.items()), flush=True)
    ratios = [min(row["torch 1 process"], row["torch pinned processes"]) / row["jaxact"] for row in rounds]
    document = {"models": _MODELS.value, "epochs": _WHOLE_EPOCHS.value, "cores": len(cores), "rounds": rounds,
                "pytorch_best_over_jaxact_per_round": ratios, "versions": reporting.versions()}
    out = pathlib.Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    (out / "whole.json").write_text(json.dumps(document, indent=1))
    lines = [f"# Whole commands: {_MODELS.value} multiclass models x {_WHOLE_EPOCHS.value} epochs + the 10,000-image "
             f"test each, {len(rounds)} interleaved rounds, {len(cores)} cores", "",
             "| round | " + " | ".join(sides) + " | PyTorch's best / jaxact |", "|---|" + "---|" * (len(sides) + 1)]
    for i, (row, ratio) in enumerate(zip(rounds, ratios)):
        lines.append(f"| {i + 1} | " + " | ".join(f"{row[s]:.1f} s" for s in sides) + f" | {ratio:.2f}x |")
    lines += ["", f"Median PyTorch's best / jaxact: {np.median(ratios):.2f}x (jaxact: `python -m experiments.misuse` at "
              "its defaults, its workers pinned one per core; versions " + ", ".join(
                  f"{k} {v}" for k, v in document["versions"].items()) + ")."]
    (out / "whole.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


CONFIGS = [  # (side, processes, threads per process)
    ("torch", 1, None), ("engine", 1, None), ("engine-bf16", 1, None),
    ("torch", "per core", 1), ("engine", "per core", 1), ("engine-bf16", "per core", 1)]


def _run(side: str, processes, threads, cores: list[int]) -> dict:
    """One configuration: its processes at once; per-model-epoch seconds (throughput)."""
    count = len(cores) if processes == "per core" else 1
    procs = [subprocess.Popen([sys.executable, "-m", "experiments.bench_peers", f"--worker={side}",
                               f"--epochs={_EPOCHS.value}"] + (["--threads=1", f"--core={i}"] if threads else []),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(count)]
    results = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"{side} worker failed: {err[-1500:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    # Processes run side by side: the throughput of the configuration is model-epochs / the slowest
    # process's epoch time, i.e. per-model-epoch seconds = median epoch time / processes.
    epoch = [float(np.median([e["train"] + e["eval"] for e in r])) for r in results]
    train = [float(np.median([e["train"] for e in r])) for r in results]
    evaluate = [float(np.median([e["eval"] for e in r])) for r in results]
    return {"side": side, "processes": count, "threads": threads or "all",
            "per_model_epoch": max(epoch) / count, "epoch": max(epoch), "train": max(train), "eval": max(evaluate),
            "valid_accuracy": [r[-1]["valid_accuracy"] for r in results]}


def _name(row: dict) -> str:
    return f"{row['side']}, {row['processes']} process{'es' if row['processes'] > 1 else ''} x {row['threads']} thread(s)"


def main(argv):
    del argv
    if _WORKER.value:
        _worker()
        return
    if _WHOLE.value:
        _whole(sorted(os.sched_getaffinity(0)))
        return
    try:
        import torch  # noqa: F401

        configs = CONFIGS
    except ImportError:
        print("torch is not installed (pip install torch==2.13.0): timing the engine only", flush=True)
        configs = [c for c in CONFIGS if c[0] == "engine"]
    cores = sorted(os.sched_getaffinity(0))
    rounds = []
    for r in range(_ROUNDS.value):
        row = [_run(side, processes, threads, cores) for side, processes, threads in configs]
        for result in row:
            print(f"round {r + 1}: {_name(result):40s} {result['per_model_epoch']:.3f} s per model-epoch (train "
                  f"{result['train']:.3f} + eval {result['eval']:.3f} s per process-epoch)", flush=True)
        rounds.append(row)
    names = [_name(x) for x in rounds[0]]
    table = {name: [row[i] for row in rounds] for i, name in enumerate(names)}
    best = {side: min((n for n in names if n.split(",")[0] == side), key=lambda n: np.median([x["per_model_epoch"] for x in table[n]]))
            for side in {c[0] for c in configs}}
    ratios = {side: [rounds[r][names.index(best["torch"])]["per_model_epoch"] / rounds[r][names.index(best[side])]["per_model_epoch"]
                     for r in range(len(rounds))] for side in ("engine", "engine-bf16") if "torch" in best}
    document = {"rounds": rounds, "epochs": _EPOCHS.value, "cores": len(cores), "best": best,
                "engine_speedup_over_torch_per_round": ratios}
    out = pathlib.Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(document, indent=1))
    lines = [f"# Engine vs PyTorch peer: {len(rounds)} interleaved rounds, {_EPOCHS.value} timed epochs per process",
             "", "Seconds per model-epoch (2,000 train + 3,000 valid images; with one process per core, the "
             "throughput of all of them): median and min-max over rounds; train / eval per process-epoch (medians).", "",
             "| configuration | per model-epoch: median (min-max) | train | eval |", "|---|---|---|---|"]
    for name in names:
        values = [x["per_model_epoch"] for x in table[name]]
        lines.append(f"| {name} | {np.median(values):.3f} ({min(values):.3f}-{max(values):.3f}) | "
                     f"{np.median([x['train'] for x in table[name]]):.3f} | {np.median([x['eval'] for x in table[name]]):.3f} |")
    for side, values in ratios.items():
        lines += ["", f"`{best[side]}` vs PyTorch's best (`{best['torch']}`), speed-up per round: "
                      f"{', '.join(f'{x:.2f}x' for x in values)} (median {np.median(values):.2f}x)."]
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    app.run(main)
