"""A misuse study's run: its config, its units (one variant x seed each), and the glue that trains
a batch of units on the engine for the scheduler.

    config = StudyConfig(study="activation_misuse", task="regression")   # the documents' settings
    config = StudyConfig(..., **SMOKE)                                    # seconds: tests, README
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import time
from typing import Callable

from jaxact import data, models, scheduler, tasks, train
from jaxact.config import check_at_least, option
from jaxact.studies.misuse import table

SPLITS = ("per_seed", "fixed")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Defaults reproduce documents 000 / 002: 2,000 train / 3,000 valid / 10,000 test images,
    patience 10, 5 seeds; `make run` (regression: 6 variants x 5 seeds) on a 2-core CPU."""

    study: str = option("activation_misuse", "activation_misuse (document 000) or loss_misuse (document 002).")
    task: str = option("regression", "Task name, or 'all'.")
    seeds: int = option(5, "Seeds per variant (model init, shuffling and, with --split=per_seed, the data sample).")
    seed: int = option(0, "Base seed: the seeds are seed, seed+1, ...; with --split=fixed also the one data sample.")
    split: str = option("per_seed", "per_seed: each seed draws its own train/valid sample (data variance in the "
                                    "intervals); fixed: one sample for every seed (the documents' protocol).")
    dataset: str = option("mnist", "mnist (the documents) or digits (scikit-learn's UCI digits: 480 train / 720 valid "
                                   "/ 597 test).")
    matmul_dtype: str = option("float32", "float32, or bfloat16: matmul inputs in bfloat16 with float32 "
                                          "accumulation (activations and losses stay float32).")
    max_epochs: int = option(100, "Epoch cap per model.")
    patience: int = option(10, "Early-stopping patience (epochs without strict improvement).")
    train_size: int | None = option(None, "Training images (default the dataset's: 2,000 for MNIST; fewer: a prefix).")
    valid_size: int | None = option(None, "Per-epoch validation images (default the dataset's: 3,000 for MNIST).")
    test_size: int | None = option(None, "Test images (default all: 10,000 for MNIST; fewer for smoke runs).")
    variants: tuple[str, ...] | None = option(None, "Only these variant names (default all of the task).")
    workers: int | None = option(None, "Worker processes (default: one per CPU core, each pinned to it; one per "
                                       "accelerator).")
    units_per_program: int | None = option(None, "Units trained together in one compiled program (default: 1 on "
                                                 "CPU, one after another; 64 vmapped on GPU/TPU).")
    out_dir: str | None = option(None, "Output directory (default runs/<study>/<task>). Run the same command again "
                                       "to resume.")
    storage: str | None = option(None, "Where the units are kept: default a journal file in out_dir; an SQLAlchemy "
                                       "URL (postgresql://...) to share the study between machines.")
    study_name: str | None = option(None, "Study name in the storage (default <study>-<task>).")

    def _suffix(self) -> str:
        return self.task if self.dataset == "mnist" else f"{self.dataset}-{self.task}"

    def resolved_out_dir(self) -> pathlib.Path:
        return pathlib.Path(self.out_dir or f"runs/{self.study}/{self._suffix()}")

    def resolved_storage(self) -> str:
        return self.storage or scheduler.storage_url(self.resolved_out_dir())

    def resolved_study_name(self) -> str:
        return self.study_name or f"{self.study}-{self._suffix()}"

    def sizes(self) -> dict[str, int]:
        """Train and valid rows: the given ones, else the dataset's misuse split."""
        parts = data.plan(self.dataset, "misuse")
        return {"train": self.train_size or parts["train"], "valid": self.valid_size or parts["valid"]}

    def settings(self) -> dict:
        """What a unit's result depends on besides its variant and seed: fixed for a study's life."""
        return {"dataset": self.dataset, **self.sizes()} | {name: getattr(self, name) for name in
                ("split", "matmul_dtype", "max_epochs", "patience", "test_size")} | ({"seed": self.seed} if self.split == "fixed" else {})


SMOKE = dict(seeds=2, train_size=300, valid_size=200, test_size=500, max_epochs=2)  # big_vision's runlocal


def plan(config: StudyConfig) -> list[table.Variant]:
    """The variants to run, after validating everything that could fail later: ValueError with a
    one-line message naming the fix. Costs nothing: no data, no training."""
    check_at_least(config, 1, "seeds", "max_epochs", "patience", "train_size", "valid_size", "test_size", "workers",
                   "units_per_program")
    check_at_least(config, 0, "seed")
    if config.split not in SPLITS:
        raise ValueError(f"--split must be one of {', '.join(SPLITS)}, got {config.split!r}")
    if config.matmul_dtype not in models.MATMUL_DTYPES:
        raise ValueError(f"--matmul_dtype must be one of {', '.join(models.MATMUL_DTYPES)}, got {config.matmul_dtype!r}")
    dataset = data.get_dataset(config.dataset)
    parts = data.plan(config.dataset, "misuse")
    for name in ("train", "valid"):
        size = getattr(config, f"{name}_size")
        if size is not None and size > parts[name]:
            raise ValueError(f"--{name}_size must be at most {parts[name]:,} (the {config.dataset} misuse split), "
                             f"got {size:,}")
    if config.test_size is not None and config.test_size > dataset.sizes["test"]:
        raise ValueError(f"--test_size must be at most {dataset.sizes['test']:,} (the {config.dataset} test set), "
                         f"got {config.test_size:,}")
    out_dir = config.resolved_out_dir()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out_dir {str(out_dir)!r} is a file: give a directory")
    return table.select(config.study, config.task, list(config.variants or ()) or None)


def units(config: StudyConfig, variants: list[table.Variant]) -> list[dict]:
    """One unit per variant x seed, seed-major, so that an interrupted study has whole seeds."""
    seeds = [config.seed + i for i in range(config.seeds)]
    return [{"task": v.task, "variant": v.name, "seed": s} for s in seeds for v in variants]


def open_study(config: StudyConfig) -> scheduler.Study:
    return scheduler.Study(config.resolved_storage(), config.resolved_study_name(), config.settings())


def engine_config(config: StudyConfig, task: str) -> train.EngineConfig:
    """One engine program per task: every variant of the study's table for the task is a choice
    (final activation, objective, label transform) by index, so all units of a task share it."""
    rows = [v for v in table.STUDIES[config.study] if v.task == task]
    finals = tuple(dict.fromkeys(v.final_activation for v in rows))
    objectives = tuple(dict.fromkeys(train.Objective(v.loss, v.on_logits) for v in rows))
    transforms = tuple(dict.fromkeys(v.label_transform for v in rows))
    model = models.CNNConfig(
        num_outputs=tasks.get_task(task).num_outputs, conv_activation="relu", fc_activation="sigmoid",
        final_activation=finals if len(finals) > 1 else finals[0], matmul_dtype=config.matmul_dtype)
    return train.EngineConfig(task=task, model=model, objectives=objectives, label_transforms=transforms,
                              max_epochs=config.max_epochs, patience=config.patience,
                              models_in_parallel=config.units_per_program)


def model_row(engine: train.EngineConfig, variant: table.Variant, seed: int) -> dict:
    """The engine's choice indices of one unit."""
    finals = engine.model.final_activation
    finals = finals if isinstance(finals, tuple) else (finals,)
    return dict(seed=seed, final=finals.index(variant.final_activation),
                objective=engine.objectives.index(train.Objective(variant.loss, variant.on_logits)),
                label_transform=engine.label_transforms.index(variant.label_transform))


def split_seed(config: StudyConfig, seed: int) -> int:
    return seed if config.split == "per_seed" else config.seed


@dataclasses.dataclass(frozen=True)
class UnitResult:
    unit: dict
    value: float  # the test metric
    attrs: dict
    curve: list[float]  # valid metric per epoch


class Trainer:
    """Trains batches of units; keeps each task's data split and compiled program between batches."""

    def __init__(self, config: StudyConfig):
        self.config = config
        self.variants = {(v.task, v.name): v for v in table.STUDIES[config.study]}
        self._splits: dict[int, dict] = {}

    def splits(self, seed: int) -> dict:
        key = split_seed(self.config, seed)
        if key not in self._splits:
            self._splits[key] = data.make_splits("misuse", seed=key, sizes=self.config.sizes(),
                                                 test_size=self.config.test_size, dataset=self.config.dataset)
        return self._splits[key]

    def train(self, batch: list[dict], on_epoch: Callable[[dict, train.EpochReport], None] | None = None) -> list[UnitResult]:
        """Results of `batch`, in order; units of one task and data sample share one program."""
        results: dict[int, UnitResult] = {}
        groups: dict[tuple, list[int]] = {}
        for i, unit in enumerate(batch):
            groups.setdefault((unit["task"], split_seed(self.config, unit["seed"])), []).append(i)
        for (task_name, _), members in groups.items():
            task = tasks.get_task(task_name)
            splits = self.splits(batch[members[0]]["seed"])
            datasets = train.Dataset.for_task(task, splits)
            engine = engine_config(self.config, task_name)
            rows = [model_row(engine, self.variants[(task_name, batch[i]["variant"])], batch[i]["seed"]) for i in members]
            models_ = train.ModelSettings.build(**{k: [r[k] for r in rows] for k in rows[0]})
            report = (lambda r: on_epoch(batch[members[r.model]], r)) if on_epoch else None
            start = time.perf_counter()
            fit = train.fit(engine, models_, datasets["train"], datasets["valid"], {"test": datasets["test"]}, report)
            seconds = time.perf_counter() - start
            chance = {name: task.constant_baseline(splits["train"].digits, splits[name].digits) for name in ("valid", "test")}
            for j, i in enumerate(members):
                epochs = int(fit.epochs[j])
                test = float(fit.evaluations["test"][j])
                results[i] = UnitResult(batch[i], test, {
                    "test": test, "best_valid": float(fit.best_valid[j]), "best_epoch": int(fit.best_epoch[j]),
                    "epochs": epochs, "diverged": bool(fit.diverged[j]),
                    "train_loss": [float(x) for x in fit.train_loss[j][:epochs]],
                    "chance": chance, "seconds": seconds / len(members), "compile_seconds": fit.compile_seconds,
                }, [float(x) for x in fit.valid_metric[j][:epochs]])
        return [results[i] for i in range(len(batch))]


def default_units_per_program() -> int:
    import jax

    return 1 if jax.default_backend() == "cpu" else 64


def claim_order(study: scheduler.Study) -> Callable[[dict], tuple]:
    """Seed-major, so that an interrupted study holds whole seeds; within a seed the units expected
    to take longest first (the mean seconds of their variant's finished units; unmeasured ones
    first), so that short units fill the end instead of one long unit training alone while the
    other workers idle (longest processing time first)."""
    seconds: dict[tuple, list[float]] = {}
    for trial in study.finished():
        unit = trial.user_attrs[scheduler.UNIT]
        seconds.setdefault((unit["task"], unit["variant"]), []).append(trial.user_attrs["seconds"])
    expected = {variant: sum(values) / len(values) for variant, values in seconds.items()}
    return lambda unit: (unit["seed"], -expected.get((unit["task"], unit["variant"]), math.inf))


def work(config: StudyConfig, on_unit: Callable[[UnitResult, dict], None] | None = None,
         on_epoch: Callable[[dict, train.EpochReport], None] | None = None,
         invocation: scheduler.Invocation | None = None) -> int:
    """One worker: claims units until none are left, trains them, stores their results.
    Returns how many units it finished. `on_unit(result, counts)` after each (counts: the
    study's done / running / waiting units); the `invocation` it belongs to is recorded after each batch."""
    study = open_study(config)
    trainer = Trainer(config)
    per_program = config.units_per_program or default_units_per_program()
    finished = 0
    while claimed := study.claim(per_program, claim_order(study)):
        batch = [t.user_attrs[scheduler.UNIT] for t in claimed]
        start = time.perf_counter()
        with study.heartbeat(claimed):
            results = trainer.train(batch, on_epoch)
        study.add_seconds(time.perf_counter() - start, invocation)
        for trial, result in zip(claimed, results):
            if study.finish(trial, result.value, result.attrs, result.curve):
                finished += 1
                if on_unit is not None:
                    on_unit(result, study.counts())
    return finished

