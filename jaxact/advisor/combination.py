"""Is my output layer right? `advise(task, final_activation, loss)` checks a named combination
against the documents' rules before any training, with the evidence for each finding.

    >>> advise("multilabel", "softmax", "cce")          # -> [Finding(severity="error", ...), ...]
    >>> advise(labels=y, final_activation="sigmoid", loss="sigmoid_binary_cross_entropy")

`loss` names: jaxact.losses' (mse, mae, bce, bce_with_logits, cce = a cross-entropy applied to the
activated output as the documents did, cross_entropy = on logits), optax's
(softmax_cross_entropy, sigmoid_binary_cross_entropy, squared_error, ...) and PyTorch's
(CrossEntropyLoss, BCELoss, BCEWithLogitsLoss, MSELoss, ...). Like PyTorch's, optax's
cross-entropies apply their own squashing to whatever they get: unless `loss_on_logits`, they are
taken to see the activated output.
"""

from __future__ import annotations

import pathlib

import numpy as np

from jaxact import activations, tasks
from jaxact.advisor import rules
from jaxact.advisor.rules import Finding
from jaxact.combinations import Combination


def infer_task(labels) -> str:
    """Suggests the task from a label array.

    - integers 0..K-1 in one column (K >= 3) -> multiclass;
    - rows of 0/1 that each hold exactly one 1 -> binary (2 columns) or multiclass (more);
    - rows of 0/1 with any number of 1s -> multilabel (several columns) or probability (one);
    - values in [0, 1] -> probability; anything else (unbounded reals, counts) -> regression.
    """
    y = np.asarray(labels, np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.size == 0:
        raise ValueError(f"labels must be (n,) or (n, outputs), got shape {np.shape(labels)}")
    binary_values = np.isin(y, (0.0, 1.0)).all()
    if y.shape[1] == 1:
        values = np.unique(y)
        integral = np.all(values == np.round(values))
        if integral and values.min() == 0 and len(values) >= 3 and values.max() + 1 == len(values):
            return "multiclass"
        if binary_values or (y.min() >= 0 and y.max() <= 1):
            return "probability"
        return "regression"
    if binary_values:
        if np.all(y.sum(1) == 1):
            return "binary" if y.shape[1] == 2 else "multiclass"
        return "multilabel"
    return "regression"


def _rule_ids(task: str, final: str, loss: str, on_logits: bool, labels) -> list[tuple[str, str]]:
    """(rule id, detail) of each rule of `rules.RULES` whose `when` the combination meets, in table order."""
    found: list[tuple[str, str]] = []
    for rule in rules.RULES.values():
        if rule.when is not None and (detail := rule.when.detail_for(task, final, loss, on_logits, labels, found)) is not None:
            found.append((rule.id, detail))
    return found


def advise(task: str | None = None, final_activation: str = "identity", loss: str = "mse", *,
           loss_on_logits: bool = False, labels=None, results: str | pathlib.Path | None = None) -> list[Finding]:
    """Findings for a (task, final activation, loss) combination; one "ok" finding if all is well.

    Args:
      task: one of jaxact.tasks.TASKS, or None to infer it from `labels`.
      final_activation: the output activation (registry name; "none" means identity).
      loss: a jaxact, optax or PyTorch loss name (see the module doc).
      labels: optional label array, used to infer the task and to check target scaling.
      results: a misuse-study results.json (or a directory of them) for measured evidence.
    """
    if task is None:
        if labels is None:
            raise ValueError("give a task or labels to infer it from")
        task = infer_task(labels)
    tasks.get_task(task)
    final = "identity" if final_activation in ("none", None) else final_activation
    activations.spec(final)
    loss = rules.canonical_loss(loss)
    on_logits = loss_on_logits or loss == "cross_entropy"
    documents = rules.load_documents(results)
    found = _rule_ids(task, final, loss, on_logits, labels)
    if not found:
        transform = "standardize" if task == "regression" else "none"
        evidence = rules.evidence_text(task, Combination(task, final, loss, on_logits, transform), documents)
        return [Finding("ok", "ok", f"{final} + {loss} fits a {task} task", rules.RECOMMENDED_TEXT[task], evidence)]
    # The evidence is this combination's own row where the study tables have it, else the rule's row.
    transform = "none" if task != "regression" else "standardize_sigmoid" if final == "sigmoid" else "standardize"
    own_key = Combination(task, final, loss, on_logits, transform)
    own = rules.evidence_text(task, own_key, documents)
    out = []
    for rule_id, detail in found:
        f = rules.finding(rule_id, documents, detail)
        if not own.startswith("no measurement"):
            f = Finding(f.severity, f.rule, f.reason, f.fix, own)
        out.append(f)
    return out
