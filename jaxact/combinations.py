"""The identity of an output-layer combination, and what the documents measured of each.

A `Combination` is (task, final activation, loss, whether the loss sees the logits, label
transform): the one identity that the study tables, the engine's model rows, `advise`, the
checker's evidence and every results.json use. `DOCUMENTED` holds the rows of documents 000
(output activation misuse) and 002 (loss misuse) with their one-seed numbers, what each document
says of the row, and whether it recommends it; `RECOMMENDED` the combination to use per task.

    >>> Combination("multiclass", "softmax", "softmax_cross_entropy").loss   # aliases resolve
    'cce'
    >>> Combination("multiclass", "softmax", "cce").corrected().name
    'softmax+cce[logits]'
"""

from __future__ import annotations

import dataclasses

from jaxact import activations, losses, tasks

LABEL_TRANSFORM_SUFFIX = {"none": "", "standardize": "+norm", "sigmoid": "+sigmoid-labels",
                          "standardize_sigmoid": "+norm+sigmoid-labels"}
LABEL_TRANSFORM_TEXT = {"none": "labels as they are", "standardize": "labels standardized",
                        "sigmoid": "sigmoid on labels, logit back",
                        "standardize_sigmoid": "labels standardized, sigmoid on them, logit back"}


@dataclasses.dataclass(frozen=True)
class Combination:
    """task + final activation + loss (on the activated output, or on the logits) + label transform.

    Names are canonical after construction: optax / PyTorch loss names become the registry's
    (`losses.spec`), `cross_entropy` becomes `cce` on the logits, a final activation "none" is
    "identity". Unknown names raise ValueError naming the valid ones.
    """

    task: str
    final_activation: str = "identity"
    loss: str = "mse"
    on_logits: bool = False
    label_transform: str = "none"

    def __post_init__(self):
        tasks.get_task(self.task)
        final = "identity" if self.final_activation in (None, "none") else self.final_activation
        activations.spec(final)
        spec = losses.spec(self.loss)
        loss, on_logits = (spec.logits_form_of, True) if spec.logits_form_of else (spec.name, bool(self.on_logits))
        tasks.get_label_transform(self.label_transform)
        object.__setattr__(self, "final_activation", final)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "on_logits", on_logits)

    @property
    def name(self) -> str:
        """The variant name the reports use: `softmax+cce`, `softmax+cce[logits]`, `relu+norm` (regression)."""
        if self.task == "regression" and self.loss == "mse":
            return f"{self.final_activation}{LABEL_TRANSFORM_SUFFIX[self.label_transform]}"
        return f"{self.final_activation}+{self.loss}{'[logits]' if self.on_logits else ''}"

    @property
    def description(self) -> str:
        if self.task == "regression" and self.loss == "mse":
            return f"{self.final_activation} output, MSE, {LABEL_TRANSFORM_TEXT[self.label_transform]}"
        on = "on logits (corrected)" if self.on_logits else "on the activated output"
        return f"{self.final_activation} output, {self.loss} {on}"

    @property
    def squashes_twice(self) -> bool:
        """The loss applies its own squashing to an output that the final activation already squashed."""
        return (not self.on_logits and losses.spec(self.loss).squashing is not None
                and self.final_activation != "identity")

    def corrected(self) -> "Combination | None":
        """The same loss on the logits, where the loss applies its own squashing to the activated output."""
        return dataclasses.replace(self, on_logits=True) if self.squashes_twice else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> "Combination":
        """From `to_dict`'s fields (extra keys ignored). Results written before the combination
        had one spelling call `on_logits` "loss_on_logits"."""
        on_logits = fields.get("on_logits", fields.get("loss_on_logits", False))
        return cls(fields["task"], fields["final_activation"], fields["loss"], on_logits,
                   fields.get("label_transform", "none"))


@dataclasses.dataclass(frozen=True)
class Documented:
    """A row of document 000 or 002: its combination, valid-best / test metric (accuracy as a
    fraction, regression MSE), whether the document recommends it (✅) and what it claims of it
    (reference, fails, parity, worse: decided by the studies' reports)."""

    document: str
    combination: Combination
    valid: float
    test: float
    recommended: bool = False
    claim: str = "reference"


def _rows(document: str, *rows: tuple) -> tuple[Documented, ...]:
    out = []
    for task, final, loss, transform, recommended, valid, test, claim in rows:
        out.append(Documented(document, Combination(task, final, loss, False, transform), valid, test, recommended, claim))
    return tuple(out)


R, W = True, False  # the documents' ✅ / ❌
DOCUMENTED = _rows(
    "000",  # output activation misuse
    ("regression", "identity", "mse", "none", R, 1.8027, 1.7830, "fails"),
    ("regression", "identity", "mse", "standardize", R, 0.0722, 0.0586, "reference"),
    ("regression", "relu", "mse", "none", R, 1.8027, 1.7827, "fails"),
    ("regression", "relu", "mse", "standardize", R, 0.6230, 0.6272, "worse"),
    ("probability", "sigmoid", "bce", "none", R, 0.9663, 0.9729, "reference"),
    ("probability", "softmax", "bce", "none", W, 0.4987, 0.4931, "fails"),
    ("probability", "softmax", "cce", "none", W, 0.4987, 0.4931, "fails"),
    ("binary", "softmax", "cce", "none", R, 0.9657, 0.9723, "reference"),
    ("binary", "sigmoid", "bce", "none", W, 0.9710, 0.9767, "parity"),
    ("binary", "sigmoid", "cce", "none", W, 0.9657, 0.9669, "parity"),
    ("multiclass", "softmax", "cce", "none", R, 0.9710, 0.9731, "reference"),
    ("multiclass", "sigmoid", "bce", "none", W, 0.1053, 0.1135, "fails"),
    ("multiclass", "sigmoid", "cce", "none", W, 0.9697, 0.9742, "parity"),
    ("multilabel", "sigmoid", "bce", "none", R, 0.9820, 0.9872, "reference"),
    ("multilabel", "softmax", "bce", "none", W, 0.7678, 0.7722, "worse"),
    ("multilabel", "softmax", "cce", "none", W, 0.7898, 0.7949, "worse"),
) + _rows(
    "002",  # loss misuse
    ("binary", "softmax", "bce", "none", R, 0.9710, 0.9778, "reference"),
    ("binary", "sigmoid", "bce", "none", R, 0.9667, 0.9724, "parity"),
    ("binary", "softmax", "bce_with_logits", "none", R, 0.9677, 0.9714, "parity"),
    ("binary", "softmax", "mse", "none", W, 0.9700, 0.9775, "parity"),
    ("binary", "sigmoid", "mse", "none", W, 0.9713, 0.9732, "parity"),
    ("multiclass", "softmax", "cce", "none", R, 0.9683, 0.9717, "reference"),
    ("multiclass", "softmax", "mse", "none", W, 0.9690, 0.9748, "parity"),
    ("multiclass", "sigmoid", "mse", "none", W, 0.1097, 0.1028, "fails"),
    ("multiclass", "softmax", "bce", "none", W, 0.9720, 0.9739, "parity"),
    ("multiclass", "sigmoid", "bce", "none", W, 0.1097, 0.1028, "fails"),
    ("multiclass", "softmax", "bce_with_logits", "none", W, 0.9713, 0.9737, "parity"),
    ("multilabel", "sigmoid", "bce", "none", R, 0.9828, 0.9859, "reference"),
    ("multilabel", "softmax", "mse", "none", W, 0.7634, 0.7680, "worse"),
    ("multilabel", "sigmoid", "mse", "none", W, 0.9821, 0.9849, "parity"),
    ("multilabel", "softmax", "cce", "none", W, 0.7910, 0.7941, "worse"),
)

def documented(combination: Combination, document: str | None = None) -> list[Documented]:
    """The documents' rows of `combination` (of one `document`, or both)."""
    return [d for d in DOCUMENTED if d.combination == combination and document in (None, d.document)]


def _recommended() -> dict[str, Combination]:
    """Each task's reference row (the first document that has one), its double squashing
    corrected: the documents' softmax + CCE becomes cross-entropy on the logits."""
    out: dict[str, Combination] = {}
    for row in DOCUMENTED:
        if row.claim == "reference" and row.combination.task not in out:
            out[row.combination.task] = row.combination.corrected() or row.combination
    return out


RECOMMENDED = _recommended()
