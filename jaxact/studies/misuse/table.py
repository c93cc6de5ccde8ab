"""The misuse studies as declarative variant tables (documents 000 and 002).

Each row is a `Variant`: task, final activation, loss (and whether it sees logits), label
transform, whether the documents recommend it (✅/❌), what they reported (valid-best / test;
accuracy as a fraction, regression as MSE), and what they claim about it (`CLAIMS`; the report
decides each claim from 95 % confidence intervals over seeds, see `report.verdict`).
For every row that applies CCE or BCEWithLogits to an *activated* output (the documents' PyTorch
semantics: a double softmax, or sigmoid(softmax(z))), a corrected twin computes the same loss
on the logits; twins are ours, marked `ours=True`, with no documented numbers.
"""

from __future__ import annotations

import dataclasses

from jaxact import tasks


CHANCE_BAND = 0.05  # "does not learn": at most 5 accuracy points above the best constant prediction
CHANCE_MSE_SHARE = 0.95  # regression: an MSE of at least 95 % of predicting the train mean
ACCURACY_MARGIN = 0.005  # parity / worse: +-0.5 accuracy points from the reference
MSE_MARGIN = 0.10  # regression parity / worse: +-10 % of the reference's MSE

CLAIMS = {
    "reference": "the task's recommended combination, the yardstick of the others",
    "fails": f"does not learn: the 95 % interval of the test metric lies within the chance band (at most "
             f"{100 * CHANCE_BAND:.0f} accuracy points above the best constant prediction; regression: an MSE of at "
             f"least {100 * CHANCE_MSE_SHARE:.0f} % of predicting the train mean)",
    "parity": f"as good as the reference: the 95 % interval of the difference from the reference (paired by seed) "
              f"lies within +-{100 * ACCURACY_MARGIN:.1f} accuracy points (regression: +-{100 * MSE_MARGIN:.0f} % of "
              "the reference's MSE)",
    "worse": "clearly worse than the reference: the 95 % interval of the difference lies entirely beyond that margin, "
             "on the worse side",
}


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


def _study(study: str, rows: list[dict]) -> tuple[Variant, ...]:
    return tuple(_twins([Variant(study, **row, ours=row["documented"] is None) for row in rows]))


def _row(task, final_activation, loss, label_transform="none", *, recommended=False, documented=None, claim=None):
    return dict(task=task, final_activation=final_activation, loss=loss, label_transform=label_transform,
                recommended=recommended, documented=documented, claim=claim)


ACTIVATION_MISUSE = _study("activation_misuse", [
    _row("regression", "identity", "mse", recommended=True, documented=(1.8027, 1.7830), claim="fails"),
    _row("regression", "identity", "mse", "standardize", recommended=True, documented=(0.0722, 0.0586), claim="reference"),
    _row("regression", "relu", "mse", recommended=True, documented=(1.8027, 1.7827), claim="fails"),
    _row("regression", "relu", "mse", "standardize", recommended=True, documented=(0.6230, 0.6272), claim="worse"),
    _row("regression", "sigmoid", "mse", "sigmoid"),  # the documents skipped these two
    _row("regression", "sigmoid", "mse", "standardize_sigmoid"),
    _row("probability", "sigmoid", "bce", recommended=True, documented=(0.9663, 0.9729), claim="reference"),
    _row("probability", "softmax", "bce", documented=(0.4987, 0.4931), claim="fails"),
    _row("probability", "softmax", "cce", documented=(0.4987, 0.4931), claim="fails"),
    _row("binary", "softmax", "cce", recommended=True, documented=(0.9657, 0.9723), claim="reference"),
    _row("binary", "sigmoid", "bce", documented=(0.9710, 0.9767), claim="parity"),
    _row("binary", "sigmoid", "cce", documented=(0.9657, 0.9669), claim="parity"),
    _row("multiclass", "softmax", "cce", recommended=True, documented=(0.9710, 0.9731), claim="reference"),
    _row("multiclass", "sigmoid", "bce", documented=(0.1053, 0.1135), claim="fails"),
    _row("multiclass", "sigmoid", "cce", documented=(0.9697, 0.9742), claim="parity"),
    _row("multilabel", "sigmoid", "bce", recommended=True, documented=(0.9820, 0.9872), claim="reference"),
    _row("multilabel", "softmax", "bce", documented=(0.7678, 0.7722), claim="worse"),
    _row("multilabel", "softmax", "cce", documented=(0.7898, 0.7949), claim="worse"),
])

LOSS_MISUSE = _study("loss_misuse", [
    _row("binary", "softmax", "bce", recommended=True, documented=(0.9710, 0.9778), claim="reference"),
    _row("binary", "sigmoid", "bce", recommended=True, documented=(0.9667, 0.9724), claim="parity"),
    _row("binary", "softmax", "bce_with_logits", recommended=True, documented=(0.9677, 0.9714), claim="parity"),
    _row("binary", "softmax", "mse", documented=(0.9700, 0.9775), claim="parity"),
    _row("binary", "sigmoid", "mse", documented=(0.9713, 0.9732), claim="parity"),
    _row("multiclass", "softmax", "cce", recommended=True, documented=(0.9683, 0.9717), claim="reference"),
    _row("multiclass", "softmax", "mse", documented=(0.9690, 0.9748), claim="parity"),
    _row("multiclass", "sigmoid", "mse", documented=(0.1097, 0.1028), claim="fails"),
    _row("multiclass", "softmax", "bce", documented=(0.9720, 0.9739), claim="parity"),
    _row("multiclass", "sigmoid", "bce", documented=(0.1097, 0.1028), claim="fails"),
    _row("multiclass", "softmax", "bce_with_logits", documented=(0.9713, 0.9737), claim="parity"),
    _row("multilabel", "sigmoid", "bce", recommended=True, documented=(0.9828, 0.9859), claim="reference"),
    _row("multilabel", "softmax", "mse", documented=(0.7634, 0.7680), claim="worse"),
    _row("multilabel", "sigmoid", "mse", documented=(0.9821, 0.9849), claim="parity"),
    _row("multilabel", "softmax", "cce", documented=(0.7910, 0.7941), claim="worse"),
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
