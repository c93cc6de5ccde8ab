"""The misuse studies as declarative variant tables (documents 000 and 002).

Each row is a `Variant`: a `Combination` (task, final activation, loss and whether it sees
logits, label transform) and the documents' row of it (`jaxact.combinations.DOCUMENTED`: whether
they recommend it, ✅/❌, what they reported, and what they claim about it, decided by the report
from 95 % confidence intervals over seeds, see `report.verdict`). For every row whose loss
squashes an *activated* output again (the documents' PyTorch semantics: a double softmax, or
sigmoid(softmax(z))), a corrected twin computes the same loss on the logits; twins and the
variants the documents skipped are ours, with no documented numbers.
"""

from __future__ import annotations

import dataclasses

from jaxact import combinations, tasks
from jaxact.combinations import Combination, Documented


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
    """A row of a study: its combination, the documents' row of it (None for ours), and whether it
    is ours: a corrected twin or a variant the documents skipped."""

    study: str
    combination: Combination
    documented_row: Documented | None = None

    @property
    def ours(self) -> bool:
        return self.documented_row is None

    @property
    def claim(self) -> str | None:
        return self.documented_row.claim if self.documented_row else None

    @property
    def recommended(self) -> bool:
        return bool(self.documented_row and self.documented_row.recommended)

    @property
    def documented(self) -> tuple[float, float] | None:
        """(valid best, test) as the document reported them."""
        return (self.documented_row.valid, self.documented_row.test) if self.documented_row else None

    @property
    def name(self) -> str:
        return self.combination.name

    @property
    def task(self) -> str:
        return self.combination.task

    @property
    def description(self) -> str:
        return self.combination.description


def _study(study: str, document: str, skipped: dict[str, list[Combination]] = {}) -> tuple[Variant, ...]:  # noqa: B006
    """The document's rows in its order, each followed by its corrected twin where the loss squashes
    an activated output again (the documents' PyTorch semantics), and after a task's last row the
    variants of that task the document skipped."""
    rows = [d for d in combinations.DOCUMENTED if d.document == document]
    out = []
    for i, row in enumerate(rows):
        out.append(Variant(study, row.combination, row))
        if twin := row.combination.corrected():
            out.append(Variant(study, twin))
        if i + 1 == len(rows) or rows[i + 1].combination.task != row.combination.task:
            out += [Variant(study, c) for c in skipped.get(row.combination.task, ())]
    return tuple(out)


ACTIVATION_MISUSE = _study("activation_misuse", "000", skipped={"regression": [
    Combination("regression", "sigmoid", "mse", label_transform="sigmoid"),
    Combination("regression", "sigmoid", "mse", label_transform="standardize_sigmoid"),
]})
LOSS_MISUSE = _study("loss_misuse", "002")

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
