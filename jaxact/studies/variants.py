"""The misuse studies as declarative variant tables (documents 000 and 002).

Each row is a `Variant`: task, final activation, loss (and whether it sees logits), label
transform, whether the documents recommend it (✅/❌), what they reported (valid-best / test;
accuracy as a fraction, regression as MSE), and what they claim about it:
- "reference": the task's recommended combination, the yardstick for the other claims;
- "fails": does not learn (holds in a seed when the test metric is within 5 points of chance,
  or for regression no better than predicting the train mean, within 5 %);
- "parity": as good as the reference (holds when within 2 sd of the reference's seeds);
- "worse": clearly below the reference (holds when more than 2 sd below it).
For every row that applies CCE or BCEWithLogits to an *activated* output (the documents' PyTorch
semantics: a double softmax, or sigmoid(softmax(z))), a corrected twin computes the same loss
on the logits; twins are ours, marked `ours=True`, with no documented numbers.
"""

from __future__ import annotations

import dataclasses

from jaxact import tasks


@dataclasses.dataclass(frozen=True)
class Variant:
    study: str
    task: str
    final_activation: str
    loss: str
    on_logits: bool = False
    label_transform: str = "none"
    recommended: bool = False
    documented: tuple[float, float] | None = None
    claim: str | None = None
    ours: bool = False

    @property
    def name(self) -> str:
        if self.task == "regression":
            base = {"none": "", "standardize": "+norm", "sigmoid": "+sigmoid-labels",
                    "standardize_sigmoid": "+norm+sigmoid-labels"}[self.label_transform]
            return f"{self.final_activation}{base}"
        return f"{self.final_activation}+{self.loss}{'[logits]' if self.on_logits else ''}"

    @property
    def description(self) -> str:
        if self.task == "regression":
            transform = {"none": "labels as they are", "standardize": "labels standardized",
                         "sigmoid": "sigmoid on labels, logit back",
                         "standardize_sigmoid": "labels standardized, sigmoid on them, logit back"}
            return f"{self.final_activation} output, MSE, {transform[self.label_transform]}"
        on = "on logits (corrected)" if self.on_logits else "on the activated output"
        return f"{self.final_activation} output, {self.loss} {on}"


def _twins(rows: list[Variant]) -> list[Variant]:
    """Each documented row, followed by its corrected twin where the loss saw activated outputs."""
    out = []
    for row in rows:
        out.append(row)
        if row.loss in ("cce", "bce_with_logits") and not row.on_logits:
            out.append(dataclasses.replace(row, on_logits=True, documented=None, claim=None,
                                           ours=True, recommended=False))
    return out


def _study(study: str, rows: list[tuple]) -> tuple[Variant, ...]:
    variants = [Variant(study, *row[:4], label_transform=row[4], recommended=row[5], documented=row[6],
                        claim=row[7], ours=row[6] is None) for row in rows]
    return tuple(_twins(variants))


A, R = True, False  # ✅ recommended by the documents / ❌ not
_ = None
# (task, final_activation, loss, on_logits, label_transform, recommended, documented, claim)
ACTIVATION_MISUSE = _study("activation_misuse", [
    ("regression", "identity", "mse", False, "none", A, (1.8027, 1.7830), "fails"),
    ("regression", "identity", "mse", False, "standardize", A, (0.0722, 0.0586), "reference"),
    ("regression", "relu", "mse", False, "none", A, (1.8027, 1.7827), "fails"),
    ("regression", "relu", "mse", False, "standardize", A, (0.6230, 0.6272), "worse"),
    ("regression", "sigmoid", "mse", False, "sigmoid", R, _, _),
    ("regression", "sigmoid", "mse", False, "standardize_sigmoid", R, _, _),
    ("probability", "sigmoid", "bce", False, "none", A, (0.9663, 0.9729), "reference"),
    ("probability", "softmax", "bce", False, "none", R, (0.4987, 0.4931), "fails"),
    ("probability", "softmax", "cce", False, "none", R, (0.4987, 0.4931), "fails"),
    ("binary", "softmax", "cce", False, "none", A, (0.9657, 0.9723), "reference"),
    ("binary", "sigmoid", "bce", False, "none", R, (0.9710, 0.9767), "parity"),
    ("binary", "sigmoid", "cce", False, "none", R, (0.9657, 0.9669), "parity"),
    ("multiclass", "softmax", "cce", False, "none", A, (0.9710, 0.9731), "reference"),
    ("multiclass", "sigmoid", "bce", False, "none", R, (0.1053, 0.1135), "fails"),
    ("multiclass", "sigmoid", "cce", False, "none", R, (0.9697, 0.9742), "parity"),
    ("multilabel", "sigmoid", "bce", False, "none", A, (0.9820, 0.9872), "reference"),
    ("multilabel", "softmax", "bce", False, "none", R, (0.7678, 0.7722), "worse"),
    ("multilabel", "softmax", "cce", False, "none", R, (0.7898, 0.7949), "worse"),
])

LOSS_MISUSE = _study("loss_misuse", [
    ("binary", "softmax", "bce", False, "none", A, (0.9710, 0.9778), "reference"),
    ("binary", "sigmoid", "bce", False, "none", A, (0.9667, 0.9724), "parity"),
    ("binary", "softmax", "bce_with_logits", False, "none", A, (0.9677, 0.9714), "parity"),
    ("binary", "softmax", "mse", False, "none", R, (0.9700, 0.9775), "parity"),
    ("binary", "sigmoid", "mse", False, "none", R, (0.9713, 0.9732), "parity"),
    ("multiclass", "softmax", "cce", False, "none", A, (0.9683, 0.9717), "reference"),
    ("multiclass", "softmax", "mse", False, "none", R, (0.9690, 0.9748), "parity"),
    ("multiclass", "sigmoid", "mse", False, "none", R, (0.1097, 0.1028), "fails"),
    ("multiclass", "softmax", "bce", False, "none", R, (0.9720, 0.9739), "parity"),
    ("multiclass", "sigmoid", "bce", False, "none", R, (0.1097, 0.1028), "fails"),
    ("multiclass", "softmax", "bce_with_logits", False, "none", R, (0.9713, 0.9737), "parity"),
    ("multilabel", "sigmoid", "bce", False, "none", A, (0.9828, 0.9859), "reference"),
    ("multilabel", "softmax", "mse", False, "none", R, (0.7634, 0.7680), "worse"),
    ("multilabel", "sigmoid", "mse", False, "none", R, (0.9821, 0.9849), "parity"),
    ("multilabel", "softmax", "cce", False, "none", R, (0.7910, 0.7941), "worse"),
])

STUDIES: dict[str, tuple[Variant, ...]] = {"activation_misuse": ACTIVATION_MISUSE, "loss_misuse": LOSS_MISUSE}


def study_tasks(study: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.task for v in STUDIES[study]))


def select(study: str, task: str, names: list[str] | None = None) -> list[Variant]:
    """The variants of `study` for `task` ("all" for every task), optionally only `names`.

    Raises ValueError naming the valid tasks or variant names.
    """
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; valid: {', '.join(STUDIES)}")
    valid_tasks = study_tasks(study)
    if task != "all" and task not in valid_tasks:
        tasks.get_task(task)  # an unknown task name gets the tasks module's message
        raise ValueError(f"task {task!r} is not part of {study}; valid: {', '.join(valid_tasks)}, all")
    rows = [v for v in STUDIES[study] if task in ("all", v.task)]
    if names:
        known = {v.name for v in rows}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(unknown)} for {study}/{task}; valid: {', '.join(dict.fromkeys(v.name for v in rows))}")
        rows = [v for v in rows if v.name in names]
    return rows
