"""Datasets by name: each registers how to load its train and test rows and the study plans
sampled from its train rows. A new dataset is a new module that calls `register` (and one
import line in jaxact/data/__init__.py)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A digit dataset: `load(split)` -> (uint8 images Int[ndarray, "n 28 28 1"], digits Int[ndarray, "n"])
    for split "train" and "test"; `plans[plan]` the parts (name -> rows) sampled from "train"."""

    name: str
    description: str
    load: Callable[[str], tuple[np.ndarray, np.ndarray]]
    sizes: dict[str, int]  # rows per split
    plans: dict[str, dict[str, int]]


DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    DATASETS[dataset.name] = dataset
    return dataset


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def plan(dataset: str, plan_name: str) -> dict[str, int]:
    """The parts of `plan_name` on `dataset`; ValueError naming the plans it has."""
    spec = get(dataset)
    if plan_name not in spec.plans:
        raise ValueError(f"dataset {dataset!r} has no {plan_name!r} split; its splits: {', '.join(spec.plans)}")
    return spec.plans[plan_name]


def read_split(builder, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All rows of a prepared tfds builder's `split` as (images, labels int32, row index), sorted by
    the stored index, so callers never depend on the order tfds wrote them in. Read-only arrays."""
    source = builder.as_data_source(split=split)
    rows = source.__getitems__(range(len(source)))
    index = np.fromiter((row["index"] for row in rows), np.int64, len(rows))
    order = np.argsort(index)
    images = np.stack([rows[i]["image"] for i in order])
    labels = np.fromiter((rows[i]["label"] for i in order), np.int32, len(rows))
    for array in (images, labels):
        array.setflags(write=False)
    return images, labels, index[order]
