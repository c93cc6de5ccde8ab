"""The studies' data splits, sampled with a seeded generator over the 60,000 train rows.

| plan   | sampled | parts (in order)                               | test       |
|--------|---------|------------------------------------------------|------------|
| misuse | 5,000   | train 2,000 / valid 3,000                      | all 10,000 |
| hpo    | 10,000  | train 3,000 / valid 2,000 / hpo_valid 5,000    | all 10,000 |

The sample is a seeded draw of IDX row indices, so it does not depend on how tfds stores rows.
Smaller sizes (smoke runs) take a prefix of each part: subsets stay nested and disjoint.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxact.data.tfds_mnist import load_split

PLANS: dict[str, dict[str, int]] = {
    "misuse": {"train": 2_000, "valid": 3_000},
    "hpo": {"train": 3_000, "valid": 2_000, "hpo_valid": 5_000},
}


@dataclasses.dataclass(frozen=True)
class Split:
    """Images Float[ndarray, "n 28 28 1"] in [-1, 1], digits Int[ndarray, "n"], IDX rows."""

    images: np.ndarray
    digits: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.digits)


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 as the documents did: (x / 255 - 0.5) / 0.5, into [-1, 1]."""
    return ((images.astype(np.float32) / 255.0 - 0.5) / 0.5).astype(np.float32)


def sample_rows(plan: str, seed: int) -> dict[str, np.ndarray]:
    """IDX train-row indices of each part of `plan`, drawn without replacement."""
    if plan not in PLANS:
        raise ValueError(f"unknown split plan {plan!r}; valid: {', '.join(PLANS)}")
    parts = PLANS[plan]
    drawn = np.random.default_rng(seed).choice(60_000, size=sum(parts.values()), replace=False)
    bounds = np.cumsum([0, *parts.values()])
    return {name: drawn[lo:hi] for name, lo, hi in zip(parts, bounds[:-1], bounds[1:])}


def make_splits(
    plan: str,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    test_size: int | None = None,
    raw_dir: str | None = None,
) -> dict[str, Split]:
    """The parts of `plan` plus "test" (the 10,000 test images, or a prefix of `test_size`)."""
    rows = sample_rows(plan, seed)
    for name, size in (sizes or {}).items():
        if name not in rows or not 0 < size <= len(rows[name]):
            raise ValueError(f"{name} size {size} outside 1..{len(rows.get(name, ()))} for plan {plan!r}")
        rows[name] = rows[name][:size]
    train_images, train_digits = load_split("train", raw_dir)
    test_images, test_digits = load_split("test", raw_dir)
    splits = {name: Split(scale(train_images[r]), train_digits[r], r) for name, r in rows.items()}
    test_rows = np.arange(test_size or len(test_digits))
    splits["test"] = Split(scale(test_images[test_rows]), test_digits[test_rows], test_rows)
    return splits
