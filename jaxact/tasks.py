"""The five MNIST tasks of the documents: label maps, output sizes, metrics and direction.

| task        | outputs | target                                               | metric                           |
|-------------|---------|------------------------------------------------------|----------------------------------|
| regression  | 1       | strokes + holes: 1->1; 0,2,3,7->2; 5,6,9->3; 8->4; 4->6 | MSE on the original scale (lower) |
| probability | 1       | 1.0 if the digit is curved (0, 3, 6, 8, 9)           | accuracy of output >= 0.5        |
| binary      | 2       | one-hot; class 1 = curved digit                      | accuracy of argmax               |
| multiclass  | 10      | one-hot digit                                        | accuracy of argmax               |
| multilabel  | 4       | [even, prime, curved, square]                        | mean over all outputs of (output >= 0.5) == label |

Every target is a float32 row of `num_outputs` values, so every loss sees the same shapes and
all variants of one task can train in one program. The documents round predictions; they state
the rule as "prediction >= 0.5 counts as 1", which is what the metrics use.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxact import activations

CURVED = (0, 3, 6, 8, 9)
STROKES_AND_HOLES = {1: 1, 0: 2, 2: 2, 3: 2, 7: 2, 5: 3, 6: 3, 9: 3, 8: 4, 4: 6}
MULTILABEL_GROUPS = {
    "even": (0, 2, 4, 6, 8),
    "prime": (2, 3, 5, 7),
    "curved": CURVED,
    "square": (0, 1, 4, 9),
}


def _membership(*groups: tuple[int, ...]) -> np.ndarray:
    return np.array([[float(d in g) for g in groups] for d in range(10)], np.float32)


def _squared_error(predictions, targets):
    return jnp.mean(jnp.square(predictions - targets), axis=-1)


def _thresholded_accuracy(predictions, targets):
    return jnp.mean(((predictions >= 0.5) == (targets >= 0.5)).astype(predictions.dtype), axis=-1)


def _argmax_accuracy(predictions, targets):
    hit = jnp.argmax(predictions, axis=-1) == jnp.argmax(targets, axis=-1)
    return hit.astype(predictions.dtype)


@dataclasses.dataclass(frozen=True)
class Task:
    """A task: `targets(digits)` and a per-example metric whose mean is the reported figure.

    Attributes:
      label_table: Float[ndarray, "10 num_outputs"], the target row of each digit.
      per_example_metric: (predictions, targets) -> Float[Array, "batch"]; predictions are on
        the targets' original scale.
      higher_is_better: accuracy (True) or MSE (False).
    """

    name: str
    label_table: np.ndarray
    per_example_metric: Callable[[jax.Array, jax.Array], jax.Array]
    higher_is_better: bool
    metric_name: str
    exclusive: bool = False  # one class per example, read by argmax

    @property
    def num_outputs(self) -> int:
        return self.label_table.shape[1]

    def targets(self, digits) -> np.ndarray:
        """Float[ndarray, "n num_outputs"] targets of integer `digits`."""
        return self.label_table[np.asarray(digits)]

    def metric(self, predictions, targets) -> jax.Array:
        return jnp.mean(self.per_example_metric(predictions, targets))

    def constant_baseline(self, train_digits, eval_digits) -> float:
        """The metric of the best constant prediction: the train mean (MSE) or majority labels.

        A model "does not learn" when it is no better than this (e.g. 11.35 % on the MNIST test
        set for multiclass: always predicting "1").
        """
        train, evaluated = self.targets(train_digits), self.targets(eval_digits)
        if not self.higher_is_better:
            constant = np.broadcast_to(train.mean(axis=0), evaluated.shape)
        elif self.exclusive:
            constant = np.broadcast_to(np.eye(self.num_outputs)[np.argmax(train.sum(0))], evaluated.shape)
        else:
            constant = np.broadcast_to((train.mean(axis=0) >= 0.5).astype(np.float32), evaluated.shape)
        return float(self.metric(jnp.asarray(constant), jnp.asarray(evaluated)))


TASKS: dict[str, Task] = {
    "regression": Task(
        "regression",
        np.array([[STROKES_AND_HOLES[d]] for d in range(10)], np.float32),
        _squared_error, higher_is_better=False, metric_name="MSE"),
    "probability": Task("probability", _membership(CURVED), _thresholded_accuracy, True, "accuracy"),
    "binary": Task(
        "binary", np.eye(2, dtype=np.float32)[[int(d in CURVED) for d in range(10)]],
        _argmax_accuracy, True, "accuracy", exclusive=True),
    "multiclass": Task("multiclass", np.eye(10, dtype=np.float32), _argmax_accuracy, True, "accuracy", exclusive=True),
    "multilabel": Task("multilabel", _membership(*MULTILABEL_GROUPS.values()), _thresholded_accuracy, True, "accuracy"),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


# Label transforms of regression variants: forward maps training targets, inverse maps model
# outputs back to the original scale before the metric. `stats` = (mean, population std) of
# the train targets (the documents standardize with the train labels only).
def _identity(values, stats):
    del stats
    return values


def _standardize(values, stats):
    mean, std = stats
    return (values - mean) / std


def _unstandardize(values, stats):
    mean, std = stats
    return values * std + mean


@dataclasses.dataclass(frozen=True)
class LabelTransform:
    """y -> forward(y) for training; model output -> inverse(output) before the metric."""

    name: str
    forward: Callable
    inverse: Callable


LABEL_TRANSFORMS: dict[str, LabelTransform] = {
    "none": LabelTransform("none", _identity, _identity),
    "standardize": LabelTransform("standardize", _standardize, _unstandardize),
    # Document 000's rejected recipe: sigmoid on the labels and on the output, logit back.
    "sigmoid": LabelTransform(
        "sigmoid", lambda y, s: activations.sigmoid(y), lambda p, s: activations.logit(p)),
    "standardize_sigmoid": LabelTransform(
        "standardize_sigmoid",
        lambda y, s: activations.sigmoid(_standardize(y, s)),
        lambda p, s: _unstandardize(activations.logit(p), s)),
}


def get_label_transform(name: str) -> LabelTransform:
    if name not in LABEL_TRANSFORMS:
        raise ValueError(f"unknown label transform {name!r}; valid: {', '.join(LABEL_TRANSFORMS)}")
    return LABEL_TRANSFORMS[name]


def label_stats(train_targets) -> tuple[jax.Array, jax.Array]:
    """(mean, population std) over the train examples, per output: each Float[Array, "1 outputs"]."""
    return jnp.mean(train_targets, axis=0, keepdims=True), jnp.std(train_targets, axis=0, keepdims=True)
