"""What the values of a batch's targets say about the task.

Targets of shape (..., K) are read as rows of K classes: the last axis is the class axis and
every other axis is batch (sequences, pixels). A target of shape (...,) or (..., 1) of class
indices is read as labels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

KINDS = ("exclusive", "multilabel", "binary", "indices", "soft", "regression")


@dataclasses.dataclass(frozen=True)
class Targets:
    """kind: "exclusive" (one-hot rows, label-smoothed or not, padding rows of zeros allowed),
    "multilabel" (rows of two levels with other than one positive, smoothed or not), "binary"
    (one 0/1 column), "indices" (integers 0..K-1, K >= 3, in one column), "soft" (rows in [0, 1]
    summing to 1, or one column in [0, 1]), "regression" (anything else).
    classes: K (the number of columns, or of distinct class indices)."""

    kind: str
    classes: int
    detail: str


def _two_levels(rows: np.ndarray) -> tuple[float, float] | None:
    """(low, high) when every value is one of two levels with low < high (0/1, or smoothed 0.01/0.91)."""
    levels = np.unique(rows)
    if len(levels) == 2:
        return float(levels[0]), float(levels[1])
    if len(levels) == 1 and levels[0] in (0.0, 1.0):
        return (0.0, 1.0)
    return None


def classify_targets(value) -> Targets:
    """The kind of target rows `value` holds (see `Targets`).

    Negated labels (-y, as in -y * log p) count as y. Rows summing to 1 that are not one-hot (nor
    label-smoothed one-hot) are "soft" (a teacher's distribution, mixup); rows of two levels with
    several or no positives are "multilabel", label-smoothed multi-hot included:
    y (1 - a) + a / 2 has levels a / 2 and 1 - a / 2 and rows that do not sum to 1.
    """
    y = np.asarray(value, np.float64)
    if y.size and y.max() <= 0 and y.min() < 0:
        y = -y
    rows = y.reshape(-1, y.shape[-1]) if y.ndim >= 2 else y.reshape(-1, 1)
    classes = rows.shape[1]
    integral = np.all(rows == np.round(rows))
    if classes == 1:
        values = np.unique(rows)
        if integral and values.min() == 0 and len(values) >= 3 and values.max() + 1 == len(values):
            return Targets("indices", len(values), f"class indices 0..{len(values) - 1} in one column")
        if np.isin(values, (0.0, 1.0)).all():
            return Targets("binary", 1, "one 0/1 column")
        if values.min() >= 0 and values.max() <= 1:
            return Targets("soft", 1, "one column of probabilities in [0, 1]")
        return _regression(rows)
    if rows.min() < 0 or rows.max() > 1:
        return _regression(rows)
    levels = _two_levels(rows)
    sums_to_one = np.allclose(rows.sum(1), 1.0, atol=1e-4)
    smoothed = levels is not None and levels != (0.0, 1.0)
    if levels is not None:
        positives = (rows == levels[1]).sum(1)
        # Padding (masked tokens or pixels) gives rows without a positive (zeros, or all the low level
        # once smoothed); the labelled rows decide, and must be at least half of them.
        labelled = positives[positives > 0]
        labelled_sum_to_one = np.allclose(rows[positives > 0].sum(1), 1.0, atol=1e-4)
        if (len(labelled) and np.all(labelled == 1) and len(labelled) * 2 >= len(positives)
                and (labelled_sum_to_one or not smoothed)):
            how = "label-smoothed one-hot" if smoothed else "one-hot"
            padding = f", {len(positives) - len(labelled)} rows of zeros" if len(labelled) < len(positives) else ""
            return Targets("exclusive", classes, f"{how} rows of {classes} classes{padding}")
        if not sums_to_one:
            how = "label-smoothed multi-hot" if smoothed else "multi-hot"
            other = int(np.sum(positives != 1))
            return Targets("multilabel", classes, f"{how} rows: {other} of {len(rows)} have other than exactly one "
                                                  f"positive of {classes}")
    if sums_to_one:
        return Targets("soft", classes, "soft target rows summing to 1")
    return Targets("multilabel", classes, f"rows of independent probabilities over {classes} labels (not summing to 1)")


def _regression(rows: np.ndarray) -> Targets:
    return Targets("regression", rows.shape[1], f"real-valued targets, mean {rows.mean():.2f}, std {rows.std():.2f}")


def target_scale_problem(targets) -> str | None:
    """Why regression `targets` are far from unit scale, or None (|mean| <= 2 and std <= 2).

    The documents' unscaled case, digits 0..9 (mean 4.5, std 2.9), learned only the mean; the bounds
    sit at half of that, so targets such as mean 1.1 / std 0.5 are left alone."""
    y = np.asarray(targets, np.float64)
    if abs(y.mean()) > 2.0 or y.std() > 2.0:
        return f"targets mean {y.mean():.2f}, std {y.std():.2f}"
    return None
