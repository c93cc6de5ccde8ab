"""The checker's side of the rules: which observations of the recognizers (patterns.py) are which
mistake of `rules.RULES`, and which combination the program computes where that is known.

A hit's `measured` combination caps its severity (rules.severity_cap): sigmoid BCE applied to
softmax outputs on one-hot rows breaks two rules (softmax into a sigmoid loss, sigmoids on
exclusive classes), but the documents measured that very combination at parity, so neither is
an error.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxact.advisor.patterns import NOT_PROBABILITY, SIGMOID_FAMILY, SOFTMAX_FAMILY, Fact, Observation
from jaxact.advisor.targets import Targets, classify_targets, target_scale_problem
from jaxact.combinations import Combination


@dataclasses.dataclass(frozen=True)
class Hit:
    rule: str
    detail: str = ""
    measured: Combination | None = None


def _final(fact: Fact) -> str:
    """The model's own final activation: the first squashing of the value's history."""
    first = fact.history[0] if fact.history else "identity"
    return first if first in ("sigmoid", "softmax", "relu") else "identity"


def _task(targets: Targets) -> str | None:
    if targets.kind == "exclusive":
        return "binary" if targets.classes == 2 else "multiclass"
    if targets.kind == "indices":
        return "multiclass"
    return {"multilabel": "multilabel", "binary": "probability", "regression": "regression"}.get(targets.kind)


def _loss(output: Fact, op: str) -> str:
    """The loss a model output meets its targets in: a second squashing names it, else the op."""
    second = output.history[1] if len(output.history) > 1 else None
    if second == "sigmoid":
        return "bce_with_logits"
    if second == "softmax":
        return "cce"
    if op == "sub":
        return "mse"
    return "cce" if output.tag in SOFTMAX_FAMILY else "bce"


def _measured(output: Fact, targets: Targets, op: str) -> Combination | None:
    task = _task(targets)
    if task is None:
        return None
    try:
        return Combination(task, _final(output), _loss(output, op))
    except ValueError:
        return None


def _aligned(output_shape: tuple, target_shape: tuple) -> bool:
    """Targets shaped like the output (class axis last, every other axis batch), or one column of
    labels beside an output of one column."""
    if not output_shape or not target_shape:
        return False
    if output_shape == target_shape:
        return True
    return output_shape[-1] == 1 and (output_shape[:-1] == target_shape or output_shape == target_shape + (1,))


def _repeated_along_a_batch_axis(value: np.ndarray) -> bool:
    """Rank >= 3 values equal along a non-class axis: a broadcast (an attention padding mask
    (B, 1, 1, T) spread over heads and queries), not rows of labels."""
    if value.ndim < 3:
        return False
    return any(value.shape[a] > 1 and np.array_equal(value, np.broadcast_to(np.take(value, [0], axis=a), value.shape))
               for a in range(value.ndim - 1))


def _class_axis_last(value: np.ndarray, output: Fact, output_shape: tuple, target_shape: tuple) -> np.ndarray:
    """Targets with the class axis last: the axis a softmax of the output ran over (channels-first
    outputs, softmax(axis=1)), else the last one."""
    if len(output.axis) == 1 and output_shape == target_shape and 0 <= output.axis[0] < len(output_shape):
        return np.moveaxis(value, output.axis[0], -1)
    return value


def _squashing(observation: Observation) -> list[Hit]:
    x = observation.operand
    if observation.kind == "sigmoid":
        if x.tag == "sigmoid":
            return [Hit("sigmoid-twice")]
        if x.tag == "softmax":
            return [Hit("softmax-into-sigmoid-loss")]
        return []
    hits = []
    if observation.size == 1:
        hits.append(Hit("softmax-single-output", "normalized over an axis of size 1" if observation.normalization
                        else "over an axis of size 1"))
    if x.tag == "softmax" and not observation.normalization:
        hits.append(Hit("double-softmax"))
    elif x.tag in SIGMOID_FAMILY:
        hits.append(Hit("sigmoid-into-softmax-loss", "sigmoid outputs renormalized by their sum"
                        if observation.normalization else ""))
    return hits


def _log(observation: Observation) -> list[Hit]:
    x = observation.operand
    if x.tag == "softmax" and not x.clipped:
        return [Hit("log-of-softmax")]
    if x.tag in NOT_PROBABILITY or (x.tag == "normalized" and x.source is not None and x.source.tag in NOT_PROBABILITY):
        what = x.tag if x.tag != "normalized" else f"{x.source.tag} output divided by its sum"
        return [Hit("log-of-unbounded", f"log of a {what}{', clipped' if x.clipped else ''}")]
    if x.tag == "one_minus" and x.source is not None and x.source.tag == "softmax":
        return [Hit("probability-loss-mismatch", "BCE's log(1 - p) on softmax outputs")]
    return []


def _meets(observation: Observation) -> list[Hit]:
    output, targets = observation.operand, observation.targets
    output_shape, target_shape = observation.shapes
    if not targets.data or targets.value.size < 2 or not _aligned(output_shape, target_shape):
        return []
    if not np.any(targets.value):  # all zeros: an optimizer's state or a mask, not a batch's targets
        return []
    if _repeated_along_a_batch_axis(targets.value):  # a padding mask broadcast over heads and queries
        return []
    kind = classify_targets(_class_axis_last(targets.value, output, output_shape, target_shape))
    measured = _measured(output, kind, observation.op)
    hit = lambda rule, detail=kind.detail: [Hit(rule, detail, measured)]  # noqa: E731
    softmax, sigmoid = output.tag in SOFTMAX_FAMILY, output.tag in SIGMOID_FAMILY
    if (softmax or _final(output) == "softmax") and kind.kind == "multilabel":  # sigmoid BCE on softmax outputs too
        return hit("softmax-multilabel")
    if sigmoid and kind.kind == "exclusive":
        return hit("sigmoid-exclusive-classes" if kind.classes >= 3 else "sigmoid-two-exclusive-classes")
    if sigmoid and kind.kind == "indices":
        return hit("sigmoid-exclusive-classes", f"{kind.detail}, the targets of one sigmoid output")
    if softmax and kind.kind == "exclusive" and observation.op == "sub" and len(output.history) == 1:
        return hit("probability-loss-mismatch", f"MSE on softmax outputs, {kind.detail}")
    if output.tag == "logits" and kind.kind == "exclusive" and observation.op == "sub":
        return hit("regression-loss-on-classes", f"MSE on unactivated outputs, {kind.detail}")
    if kind.kind != "regression" or observation.op != "sub":
        return []
    hits = []
    if output.tag == "sigmoid":
        hits += hit("sigmoid-regression-output")
    elif output.tag == "relu":
        hits += hit("relu-regression-output")
    elif output.tag == "tanh" and np.abs(targets.value).max() > 1:
        hits += hit("bounded-regression-output", f"a tanh output in (-1, 1), {kind.detail}, up to "
                                                 f"{np.abs(targets.value).max():.2f} in size")
    if output.tag in ("logits", "relu", "sigmoid") and (problem := target_scale_problem(targets.value)):
        hits += hit("unscaled-regression-targets", problem)
    return hits


def hits(observation: Observation) -> list[Hit]:
    """The rules an observation breaks."""
    return {"sigmoid": _squashing, "softmax": _squashing, "log": _log, "meets": _meets}[observation.kind](observation)
