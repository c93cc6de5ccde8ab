"""Datasets by name: each registers how to load its train and test rows and the study plans
sampled from its train rows. A new dataset is a new module that calls `register` (and one
import line in jaxact/data/__init__.py)."""

from __future__ import annotations

import dataclasses
import os
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
    version: str = "1.0.0"  # of what `load` returns: a new version is read from the source again


def arrays(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """`get(name).load(split)`, kept as an .npz in the cache directory after its first load: later
    processes (every study worker) read it in ~30 ms instead of going through tfds (~5 s for
    MNIST's 70,000 rows, plus importing tensorflow-datasets)."""
    from jaxact.data import fetch

    dataset = get(name)
    path = fetch.cache_root() / "arrays" / f"{name}-{dataset.version}-{split}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                return _read_only(stored["images"]), _read_only(stored["digits"])
        except (OSError, ValueError, KeyError):
            pass  # damaged: read from the source again
    images, digits = dataset.load(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial.npz")
    try:
        np.savez(partial, images=images, digits=digits)
        os.replace(partial, path)
    except OSError:  # a full or read-only cache: the arrays are still good
        partial.unlink(missing_ok=True)
    return images, digits


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


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
