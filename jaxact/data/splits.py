"""The studies' data splits, sampled with a seeded generator over a dataset's train rows.

| dataset | plan   | sampled of train | parts (in order)                            | test       |
|---------|--------|------------------|---------------------------------------------|------------|
| mnist   | misuse | 5,000 of 60,000  | train 2,000 / valid 3,000                   | all 10,000 |
| mnist   | hpo    | 10,000 of 60,000 | train 3,000 / valid 2,000 / hpo_valid 5,000 | all 10,000 |
| digits  | misuse | 1,200 of 1,200   | train 480 / valid 720                       | all 597    |

The sample is a seeded draw of row indices, so it does not depend on how tfds stores rows.
Smaller sizes (smoke runs) take a prefix of each part: subsets stay nested and disjoint.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jaxact.data import registry


# Every uint8 pixel's scaled value, Float[ndarray, "256"], computed once with the documents'
# float32 operations: indexing it gives the same bits as scaling each pixel, in one pass instead of
# five over the array. The engine indexes it too, inside the program, so a pool crosses to the
# device as uint8 (a quarter of the bytes) and no process scales 60,000 images it never trains on.
PIXEL_VALUES = ((np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0 - 0.5) / 0.5).astype(np.float32)


def scale(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 as the documents did: (x / 255 - 0.5) / 0.5, into [-1, 1]."""
    return PIXEL_VALUES[pixels]


@dataclasses.dataclass(frozen=True)
class Split:
    """Pixels UInt8[ndarray, "n 28 28 1"], digits Int[ndarray, "n"], IDX rows; `images` are the
    pixels scaled into [-1, 1] (Float[ndarray, "n 28 28 1"], computed on first use)."""

    pixels: np.ndarray
    digits: np.ndarray
    rows: np.ndarray

    @functools.cached_property
    def images(self) -> np.ndarray:
        return scale(self.pixels)

    def __len__(self) -> int:
        return len(self.digits)


def sample_rows(plan: str, seed: int, dataset: str = "mnist") -> dict[str, np.ndarray]:
    """Train-row indices of each part of `plan` on `dataset`, drawn without replacement."""
    parts = registry.plan(dataset, plan)
    drawn = np.random.default_rng(seed).choice(registry.get(dataset).sizes["train"], size=sum(parts.values()),
                                               replace=False)
    bounds = np.cumsum([0, *parts.values()])
    return {name: drawn[lo:hi] for name, lo, hi in zip(parts, bounds[:-1], bounds[1:])}


def make_splits(
    plan: str,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    test_size: int | None = None,
    dataset: str = "mnist",
) -> dict[str, Split]:
    """The parts of `plan` plus "test" (the dataset's test images, or a prefix of `test_size`)."""
    rows = sample(plan, seed, sizes, dataset)
    train_images, train_digits = registry.arrays(dataset, "train")
    splits = {name: Split(train_images[r], train_digits[r], r) for name, r in rows.items()}
    splits["test"] = test_split(dataset, test_size)
    return splits


def sample(plan: str, seed: int, sizes: dict[str, int] | None = None, dataset: str = "mnist") -> dict[str, np.ndarray]:
    """`sample_rows`, each part cut to its prefix of `sizes[part]` rows where given."""
    rows = sample_rows(plan, seed, dataset)
    for name, size in (sizes or {}).items():
        if name not in rows or not 0 < size <= len(rows[name]):
            raise ValueError(f"{name} size {size} outside 1..{len(rows.get(name, ()))} for plan {plan!r}")
        rows[name] = rows[name][:size]
    return rows


def train_pool(dataset: str = "mnist") -> Split:
    """Every train row of `dataset`: the pool a program's models draw their samples from (`sample`'s
    rows index it)."""
    images, digits = registry.arrays(dataset, "train")
    return Split(images, digits, np.arange(len(digits)))


def test_split(dataset: str = "mnist", test_size: int | None = None) -> Split:
    """The dataset's test images, or their first `test_size`."""
    images, digits = registry.arrays(dataset, "test")
    rows = np.arange(test_size or len(digits))
    return Split(images[rows], digits[rows], rows)
