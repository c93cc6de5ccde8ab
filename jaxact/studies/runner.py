"""Runs a misuse study: every variant x seed of a task as one compiled engine call."""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from jaxact import data, models, tasks, train
from jaxact.studies import variants as variant_tables


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Defaults reproduce the documents: 2,000 train / 3,000 valid / 10,000 test, patience 10."""

    study: str
    task: str
    seeds: int = 5
    base_seed: int = 0
    max_epochs: int = 100
    patience: int = 10
    train_size: int = 2_000
    valid_size: int = 3_000
    test_size: int | None = None
    variants: tuple[str, ...] | None = None
    models_in_parallel: int | None = None


@dataclasses.dataclass(frozen=True)
class Progress:
    """One epoch of one model, with the study context a progress line needs."""

    task: str
    variant: str
    seed: int
    model: int
    models: int
    report: train.EpochReport
    elapsed: float


@dataclasses.dataclass
class TaskResult:
    task: str
    variants: list[variant_tables.Variant]
    seeds: list[int]
    fit: train.FitResult
    chance: dict[str, float]  # metric of the best constant prediction on "valid" and "test"

    def rows(self, variant_index: int) -> slice:
        n = len(self.seeds)
        return slice(variant_index * n, (variant_index + 1) * n)


def validate(config: StudyConfig) -> list[tuple[str, list[variant_tables.Variant]]]:
    """(task, variants) pairs to run; raises ValueError on unknown tasks or variant names."""
    selected = variant_tables.select(config.study, config.task, list(config.variants or ()) or None)
    by_task: dict[str, list] = {}
    for v in selected:
        by_task.setdefault(v.task, []).append(v)
    return list(by_task.items())


def engine_config(config: StudyConfig, task: str, rows: list[variant_tables.Variant]) -> train.EngineConfig:
    finals = tuple(dict.fromkeys(v.final_activation for v in rows))
    objectives = tuple(dict.fromkeys(train.Objective(v.loss, v.on_logits) for v in rows))
    transforms = tuple(dict.fromkeys(v.label_transform for v in rows))
    model = models.CNNConfig(
        num_outputs=tasks.get_task(task).num_outputs, conv_activation="relu", fc_activation="sigmoid",
        final_activation=finals if len(finals) > 1 else finals[0])
    return train.EngineConfig(task=task, model=model, objectives=objectives, label_transforms=transforms,
                              max_epochs=config.max_epochs, patience=config.patience,
                              models_in_parallel=config.models_in_parallel)


def run_task(config: StudyConfig, task_name: str, rows: list[variant_tables.Variant],
             on_progress: Callable[[Progress], None] | None = None) -> TaskResult:
    task = tasks.get_task(task_name)
    splits = data.make_splits("misuse", seed=config.base_seed,
                              sizes={"train": config.train_size, "valid": config.valid_size},
                              test_size=config.test_size)
    datasets = train.Dataset.for_task(task, splits)
    engine = engine_config(config, task_name, rows)
    seeds = [config.base_seed + i for i in range(config.seeds)]
    finals = engine.model.final_activation if isinstance(engine.model.final_activation, tuple) else (engine.model.final_activation,)
    model_rows = train.Models.build(
        seed=[s for _ in rows for s in seeds],
        final=[finals.index(v.final_activation) for v in rows for _ in seeds],
        objective=[engine.objectives.index(train.Objective(v.loss, v.on_logits)) for v in rows for _ in seeds],
        label_transform=[engine.label_transforms.index(v.label_transform) for v in rows for _ in seeds])
    start = time.perf_counter()

    def report(epoch_report: train.EpochReport):
        if on_progress is not None:
            v = rows[epoch_report.model // len(seeds)]
            on_progress(Progress(task_name, v.name, seeds[epoch_report.model % len(seeds)], epoch_report.model,
                                 model_rows.size, epoch_report, time.perf_counter() - start))

    result = train.fit(engine, model_rows, datasets["train"], datasets["valid"], {"test": datasets["test"]}, report)
    chance = {name: task.constant_baseline(splits["train"].digits, splits[name].digits) for name in ("valid", "test")}
    return TaskResult(task_name, rows, seeds, result, chance)


def run(config: StudyConfig, on_progress: Callable[[Progress], None] | None = None) -> list[TaskResult]:
    return [run_task(config, task, rows, on_progress) for task, rows in validate(config)]
