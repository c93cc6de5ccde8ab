"""A misuse study on the runner: its config, its units (one combination x seed each) and how a
batch of them trains on the engine.

    runner.run(ACTIVATION_MISUSE, StudyConfig(task="regression"), print)   # the documents' settings
    StudyConfig(task="regression", **SMOKE)                                # seconds: tests, README
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import time
from typing import Callable

import numpy as np

from jaxact import backend, data, tasks, train
from jaxact.combinations import Combination
from jaxact.config import check_at_least, option
from jaxact.studies import runner
from jaxact.studies.misuse import table

SPLITS = ("per_seed", "fixed")


@dataclasses.dataclass(frozen=True)
class StudyConfig(runner.RunConfig):
    """Defaults reproduce documents 000 / 002: 2,000 train / 3,000 valid / 10,000 test images,
    patience 10, 5 seeds; `make run` (regression: 6 variants x 5 seeds) on a 2-core CPU."""

    task: str = option("regression", "Task name, or 'all'.")
    seeds: int = option(5, "Seeds per variant (model init, shuffling and, with --split=per_seed, the data sample).")
    split: str = option("per_seed", "per_seed: each seed draws its own train/valid sample (data variance in the "
                                    "intervals); fixed: one sample (of --seed) for every seed (the documents' protocol).")
    variants: tuple[str, ...] | None = option(None, "Only these variant names (default all of the task).")

    def name_suffix(self) -> str:
        return self.task if self.dataset == "mnist" else f"{self.dataset}-{self.task}"

    def settings(self) -> dict:
        return super().settings() | {"split": self.split} | ({"seed": self.seed} if self.split == "fixed" else {})

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def split_seed(self, seed: int) -> int:
        """The seed of the data sample a unit of `seed` trains on."""
        return seed if self.split == "per_seed" else self.seed


SMOKE = dict(seeds=2, train_size=300, valid_size=200, test_size=500, max_epochs=2)  # big_vision's runlocal


def combination_of(unit: dict) -> Combination:
    return Combination.from_dict(unit)


def claim_order(queue) -> Callable[[dict], tuple]:
    """Seed-major, so that an interrupted study holds whole seeds; within a seed the units expected
    to take longest first (the mean seconds of their combination's finished units; unmeasured ones
    first), so that short units fill the end instead of one long unit training alone while the
    other workers idle (longest processing time first). For programs that train one unit after
    another (the CPU)."""
    seconds: dict[Combination, list[float]] = {}
    for record in runner.records(queue):
        seconds.setdefault(combination_of(record.unit), []).append(record.seconds)
    expected = {c: sum(values) / len(values) for c, values in seconds.items()}
    return lambda unit: (unit["seed"], -expected.get(combination_of(unit), math.inf))


def vmapped_claim_order(queue) -> Callable[[dict], tuple]:
    """For vmapped programs (accelerators), which run until their slowest unit stops: by task, then
    the most epochs expected first (the mean epochs of the combination's finished units;
    unmeasured ones first), then seed, so that a claimed batch holds units that stop together."""
    epochs: dict[Combination, list[int]] = {}
    for record in runner.records(queue):
        epochs.setdefault(combination_of(record.unit), []).append(record.epochs)
    expected = {c: sum(values) / len(values) for c, values in epochs.items()}
    return lambda unit: (unit["task"], -expected.get(combination_of(unit), math.inf), unit["seed"])


class Trainer:
    """Trains batches of units; keeps the pool, test set, samples and each task's compiled program."""

    def __init__(self, study: str, config: StudyConfig):
        self.study, self.config = study, config
        self._pool = data.train_pool(config.dataset)
        self._test = data.test_split(config.dataset, config.test_size)
        self._samples: dict[int, dict[str, np.ndarray]] = {}
        self._programs: dict[str, train.Program] = {}

    def sample(self, seed: int) -> dict[str, np.ndarray]:
        key = self.config.split_seed(seed)
        if key not in self._samples:
            self._samples[key] = data.sample("misuse", key, self.config.sizes(), self.config.dataset)
        return self._samples[key]

    def program(self, task: str) -> train.Program:
        """One program per task: every combination of the study's table for the task is an option, so
        all units of a task share it, whatever a batch holds."""
        if task not in self._programs:
            combinations = [v.combination for v in table.STUDIES[self.study] if v.task == task]
            options = train.Options.covering(train.Model(c, 0) for c in combinations)
            self._programs[task] = train.Program(train.EngineConfig(
                task, options, matmul_dtype=self.config.matmul_dtype, max_epochs=self.config.max_epochs,
                patience=self.config.patience, models_in_parallel=self.config.models_in_parallel))
        return self._programs[task]

    def chance(self, task: tasks.Task, seed: int) -> dict[str, float]:
        """The metric of the best constant prediction (from the unit's train rows) on its valid rows and on test."""
        rows = self.sample(seed)
        train_digits = self._pool.digits[rows["train"]]
        return {"valid": task.constant_baseline(train_digits, self._pool.digits[rows["valid"]]),
                "test": task.constant_baseline(train_digits, self._test.digits)}

    def train(self, units: list[dict]) -> list[runner.UnitRecord]:
        """Records of `units`, in order; units of one task share one program (any seeds and samples)."""
        records: dict[int, runner.UnitRecord] = {}
        by_task: dict[str, list[int]] = {}
        for i, unit in enumerate(units):
            by_task.setdefault(unit["task"], []).append(i)
        for task_name, members in by_task.items():
            task = tasks.get_task(task_name)
            batch = [units[i] for i in members]
            samples = [train.Sample(self.sample(u["seed"])["train"], self.sample(u["seed"])["valid"]) for u in batch]
            pool = train.Dataset(self._pool.pixels, task.targets(self._pool.digits))
            test = train.Dataset(self._test.pixels, task.targets(self._test.digits))
            start = time.perf_counter()
            fit = self.program(task_name).fit([train.Model(combination_of(u), u["seed"]) for u in batch], pool, samples,
                                              {"test": test})
            seconds = time.perf_counter() - start
            for i, record in zip(members, runner.records_of(
                    fit, batch, lambda j: fit.evaluations["test"][j], seconds,
                    lambda j: {"chance": self.chance(task, batch[j]["seed"])})):
                records[i] = record
        return [records[i] for i in range(len(units))]


class MisuseStudy(runner.Study):
    """Documents 000 (activation_misuse) and 002 (loss_misuse): a grid of combination x seed units."""

    def __init__(self, name: str):
        self.name = name

    def variants(self, config: StudyConfig) -> list[table.Variant]:
        return table.select(self.name, config.task, list(config.variants or ()) or None)

    def validate(self, config: StudyConfig) -> None:
        check_at_least(config, 1, "seeds")
        if config.split not in SPLITS:
            raise ValueError(f"--split must be one of {', '.join(SPLITS)}, got {config.split!r}")
        self.variants(config)
        config.validate()

    def units(self, config: StudyConfig) -> list[dict]:
        """One unit per variant x seed, seed-major, so that an interrupted study has whole seeds."""
        variants = self.variants(config)
        return [{**v.combination.to_dict(), "seed": s} for s in config.seed_list() for v in variants]

    def identity(self, config: StudyConfig, unit: dict) -> dict:
        """What a unit's numbers depend on: the same in both misuse studies for a shared
        combination (a program's other options do not change a unit's numbers)."""
        import jax
        import jaxlib

        settings = {k: v for k, v in config.settings().items() if k not in ("split", "seed")}
        return {"kind": "misuse unit", "unit": unit, "sample_seed": config.split_seed(unit["seed"]), **settings,
                "engine": train.NUMERICS, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                "backend": jax.default_backend(), "xla_flags": os.environ.get("XLA_FLAGS", "")}

    def source(self, config: StudyConfig) -> runner.Grid:
        vmapped = (config.models_in_parallel or backend.defaults().models_in_parallel) != 1
        return runner.Grid(self.units(config), vmapped_claim_order if vmapped else claim_order)

    def trainer(self, config: StudyConfig) -> Trainer:
        return Trainer(self.name, config)

    def title(self, config: StudyConfig) -> str:
        return f"{self.name} {config.task}: {len(self.variants(config))} variants x {config.seeds} seeds"

    def label(self, unit: dict) -> str:
        return f"{unit['task']} {combination_of(unit).name} seed {unit['seed']}"

    def result_text(self, record: runner.UnitRecord) -> str:
        from jaxact import reporting

        task = tasks.get_task(record.unit["task"])
        return f"test {reporting.format_metric(record.evaluations['test'], task.higher_is_better)}"

    def report(self, out_dir: pathlib.Path, config: StudyConfig, queue) -> dict:
        from jaxact.studies.misuse import report

        return report.write(out_dir, self.name, config, queue)


ACTIVATION_MISUSE = MisuseStudy("activation_misuse")
LOSS_MISUSE = MisuseStudy("loss_misuse")
STUDIES = {s.name: s for s in (ACTIVATION_MISUSE, LOSS_MISUSE)}
