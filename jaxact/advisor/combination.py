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
    """(rule id, detail) pairs of documents 000 and 002 that the combination breaks."""
    t = tasks.get_task(task)
    found = []
    probability_outputs = final in ("sigmoid", "softmax")
    if final == "softmax" and t.num_outputs == 1:
        found.append(("softmax-single-output", "document 000: 49.31 %, the share of one class"))
    if task == "multilabel" and final == "softmax":
        found.append(("softmax-multilabel", ""))
    if task == "multiclass" and final == "sigmoid":
        if loss in ("bce", "mse", "bce_with_logits"):
            found.append(("sigmoid-exclusive-classes", f"{loss} per output on 10 classes"))
        elif loss == "cce" and not on_logits:
            found.append(("sigmoid-into-softmax-loss", ""))
    if task == "binary" and final == "sigmoid":
        found.append(("sigmoid-two-exclusive-classes", ""))
    if task in ("binary", "multiclass") and final == "softmax" and loss in ("bce", "mse") and not on_logits:
        found.append(("probability-loss-mismatch", f"{loss} on softmax outputs"))
    if loss == "cce" and not on_logits and final == "softmax":
        found.append(("double-softmax", ""))
    if loss == "cce" and not on_logits and final == "sigmoid" and task != "multiclass":
        found.append(("sigmoid-into-softmax-loss", ""))
    if loss == "bce_with_logits" and not on_logits and final == "softmax":
        found.append(("softmax-into-sigmoid-loss", ""))
    if loss == "bce_with_logits" and not on_logits and final == "sigmoid":
        found.append(("sigmoid-twice", ""))
    if loss == "bce" and not probability_outputs:
        found.append(("log-of-unbounded", f"BCE on a {final} output"))
    if loss == "cce" and task == "multilabel" and final != "softmax":
        found.append(("cross-entropy-multilabel", ""))
    if task == "regression":
        if final == "sigmoid":
            found.append(("sigmoid-regression-output", ""))
        elif final == "relu":
            found.append(("relu-regression-output", "document 000: 0.63 vs 0.06 MSE"))
        elif final != "identity":
            found.append(("bounded-regression-output", f"a {final} output"))
        if loss in ("bce", "bce_with_logits", "cce"):
            found.append(("classification-loss-on-regression", loss))
        if labels is not None and (problem := rules.target_scale_problem(labels)):
            found.append(("unscaled-regression-targets", problem))
    elif loss in ("mse", "mae") and task == "probability" and final == "sigmoid":
        pass  # document 002: for a probability, a regression loss is acceptable
    elif loss in ("mse", "mae") and not found:
        found.append(("regression-loss-on-classes", loss))
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
