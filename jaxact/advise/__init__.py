"""Is my output layer right? `advise(task, final_activation, loss)` checks a combination against
the documents' rules before any training, with the evidence for each finding.

    >>> advise("multilabel", "softmax", "cce")          # -> [Finding(severity="error", ...), ...]
    >>> advise(labels=y, final_activation="sigmoid", loss="bce")   # task inferred from y

`loss` names (see jaxact.losses): mse, mae, rmse, bce, bce_with_logits, cce (nn.CrossEntropyLoss
applied to the activated output, as the documents did) and cross_entropy (on logits).
Evidence: the measured test metric of this combination and of the task's recommended one, from
the newest misuse-study results.json (runs/, then the repository's results/, or `results=` a file
or directory),
else the documents' reported numbers, labelled as such.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from jaxact import activations, tasks
from jaxact.studies import variants as variant_tables

SEVERITIES = ("ok", "warning", "error")
RECOMMENDED = {
    "regression": ("identity", "mse", "no output activation, MSE, targets standardized with the train mean/std"),
    "probability": ("sigmoid", "bce", "sigmoid output with BCE (or bce_with_logits on the logits)"),
    "binary": ("softmax", "cross_entropy", "softmax output, cross-entropy on the logits"),
    "multiclass": ("softmax", "cross_entropy", "softmax output, cross-entropy on the logits"),
    "multilabel": ("sigmoid", "bce", "one sigmoid per label with BCE (or bce_with_logits on the logits)"),
}
LOSSES = ("mse", "mae", "rmse", "bce", "bce_with_logits", "cce", "cross_entropy")
_REFERENCE_VARIANT = {  # the recommended combination as it appears in the study tables
    "regression": ("identity", "mse", False, "standardize"),
    "probability": ("sigmoid", "bce", False, "none"),
    "binary": ("softmax", "cce", True, "none"),
    "multiclass": ("softmax", "cce", True, "none"),
    "multilabel": ("sigmoid", "bce", False, "none"),
}


@dataclasses.dataclass(frozen=True)
class Finding:
    severity: str
    reason: str
    recommended: str
    evidence: str


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


_COMMITTED_RESULTS = pathlib.Path(__file__).resolve().parents[2] / "results"  # the repository's measured studies


def _latest_results(results) -> list[dict]:
    """Study documents: the given file, the results.json files under a directory, else those under
    runs/ and then the repository's results/ (5-seed runs of both misuse studies)."""
    roots = [pathlib.Path(results)] if results else [pathlib.Path("runs"), _COMMITTED_RESULTS]
    files = []
    for root in roots:  # newest first within each root; your own runs before the committed ones
        files += [root] if root.is_file() else sorted(root.glob("**/results.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    documents = []
    for path in files:
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(document, dict) and document.get("study") in variant_tables.STUDIES:
            document["_path"] = str(path)
            documents.append(document)
    return documents


def _variant_key(task, final, loss, on_logits, transform="none"):
    if loss == "cross_entropy":
        loss, on_logits = "cce", True
    return task, final, loss, bool(on_logits), transform


def _measured(documents, key) -> tuple[dict, str] | None:
    for document in documents:
        for v in document["variants"]:
            if _variant_key(v["task"], v["final_activation"], v["loss"], v.get("loss_on_logits", False),
                            v.get("label_transform", "none")) == key and v["summary"]["test"]["mean"] is not None:
                return v, document["_path"]
    return None


def _documented(key) -> variant_tables.Variant | None:
    for table in variant_tables.STUDIES.values():
        for v in table:
            if _variant_key(v.task, v.final_activation, v.loss, v.on_logits, v.label_transform) == key and v.documented:
                return v
    return None


def _evidence(task: str, key, documents) -> str:
    t = tasks.get_task(task)
    fmt = lambda x: f"{x:.4f} MSE" if not t.higher_is_better else f"{100 * x:.2f} %"  # noqa: E731
    reference_key = _variant_key(task, *_REFERENCE_VARIANT[task])
    measured, reference = _measured(documents, key), _measured(documents, reference_key)
    if measured and reference:
        (v, path), (r, _) = measured, reference
        return (f"measured: test {fmt(v['summary']['test']['mean'])} ± {fmt(v['summary']['test']['sd'])} over "
                f"{v['summary']['test']['n']} seeds vs {fmt(r['summary']['test']['mean'])} recommended ({path})")
    # The documents ran the recommended multiclass/binary rows with their double softmax: the
    # closest documented number for "cross-entropy on logits" is that row.
    def as_documented(k):
        task_, final_, loss_, _, transform_ = k
        return _documented(k) or _documented((task_, final_, loss_, False, transform_))

    documented, documented_reference = as_documented(key), as_documented(reference_key)
    if documented and documented_reference and key != reference_key:
        return (f"documents (one seed): test {fmt(documented.documented[1])} vs "
                f"{fmt(documented_reference.documented[1])} for the recommended combination")
    if documented:
        return f"documents (one seed, loss on the activated output): test {fmt(documented.documented[1])}"
    return "no measurement of this combination (run experiments.misuse / experiments.loss_misuse)"


def _rules(task: str, final: str, loss: str, on_logits: bool, labels) -> list[tuple[str, str]]:
    """(severity, reason) pairs from documents 000 and 002; empty means nothing to flag."""
    t = tasks.get_task(task)
    found = []
    probability_outputs = final in ("sigmoid", "softmax")
    if final == "softmax" and t.num_outputs == 1:
        found.append(("error", "softmax over a single output is identically 1: the output cannot move and "
                               "nothing is learned (document 000: 49.31 %, the share of one class)"))
    if task == "multilabel" and final == "softmax":
        found.append(("error", "softmax forces the label probabilities to sum to 1, but a multi-label row can "
                               "have several labels or none (document 000: ~20 points lost)"))
    if task == "multiclass" and final == "sigmoid":
        if loss in ("bce", "mse", "bce_with_logits"):
            found.append(("error", f"independent sigmoids with {loss} ignore that the classes are mutually "
                                   "exclusive: on 10 classes this does not learn (documents: ~10-11 %)"))
        else:
            found.append(("warning", "independent sigmoids ignore that the classes are mutually exclusive; it "
                                     "trains with cross-entropy here, but softmax is the consistent choice"))
    if task == "binary" and final == "sigmoid":
        found.append(("warning", "two mutually exclusive classes with independent sigmoids: it works with two "
                                 "classes (document 000) but softmax states the exclusivity"))
    if task in ("binary", "multiclass") and final == "softmax" and loss in ("bce", "mse", "bce_with_logits") and not on_logits:
        found.append(("warning", f"{loss} on softmax outputs trains here (documents: within noise of cross-entropy), "
                                 "but cross-entropy on the logits is the documents' recommendation"))
    if loss == "cce" and not on_logits and final == "softmax":
        found.append(("warning", "nn.CrossEntropyLoss applies log_softmax itself: on softmax outputs it is a double "
                                 "softmax whose loss can never reach 0; give it the logits"))
    if loss == "cce" and not on_logits and final == "sigmoid":
        found.append(("warning", "cross-entropy applies log_softmax itself: on sigmoid outputs it squashes twice"))
    if loss == "bce_with_logits" and not on_logits and probability_outputs:
        found.append(("warning", f"BCEWithLogits applies a sigmoid itself: on {final} outputs it computes "
                                 f"BCE(sigmoid({final}(z))); give it the logits"))
    if loss == "bce" and not probability_outputs:
        found.append(("error", f"BCE needs probabilities in [0, 1] but a {final} output is unbounded; add a sigmoid "
                               "or use bce_with_logits on the logits"))
    if loss in ("cce", "cross_entropy") and task == "multilabel" and final != "softmax":
        found.append(("warning", "cross-entropy treats the labels as one exclusive choice; multi-label wants a BCE per label"))
    if task == "regression":
        if final == "sigmoid":
            found.append(("error", "regression with a sigmoid-squashed target distorts the data and cannot be inverted "
                                   "where float32 sigmoid saturates to exactly 1.0 (|z| > ~16.6); predict unbounded values"))
        elif final == "relu":
            found.append(("warning", "a ReLU output cannot go below 0: fine for raw non-negative targets, but after "
                                     "standardization half of them are negative (document 000: 0.63 vs 0.06 MSE)"))
        elif final not in ("identity",):
            found.append(("warning", f"a {final} output bounds the predictions; regression usually has no output activation"))
        if loss in ("bce", "bce_with_logits", "cce", "cross_entropy"):
            found.append(("error", f"{loss} is a classification loss; regression wants MSE, MAE or RMSE"))
        if labels is not None:
            y = np.asarray(labels, np.float64)
            if abs(y.mean()) > 0.5 or not 0.5 <= y.std() <= 2.0:
                found.append(("warning", f"targets are not standardized (mean {y.mean():.2f}, std {y.std():.2f}): "
                                         "without it the documents' network only learned the mean (1.78 vs 0.06 MSE)"))
    elif loss in ("mse", "mae", "rmse") and task == "probability" and final == "sigmoid":
        pass  # document 002: for a probability, a regression loss is acceptable
    elif loss in ("mse", "mae", "rmse") and not found:
        found.append(("warning", f"{loss} on class probabilities trains here (documents) but cross-entropy is recommended"))
    return found


def advise(task: str | None = None, final_activation: str = "identity", loss: str = "mse", *,
           loss_on_logits: bool = False, labels=None, results: str | pathlib.Path | None = None) -> list[Finding]:
    """Findings for a (task, final activation, loss) combination; one "ok" finding if all is well.

    Args:
      task: one of jaxact.tasks.TASKS, or None to infer it from `labels`.
      final_activation: the output activation (registry name; "none" means identity).
      loss: a name from LOSSES; `cce` is applied to the activated output unless `loss_on_logits`.
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
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid losses: {', '.join(LOSSES)}")
    on_logits = loss_on_logits or loss == "cross_entropy"
    documents = _latest_results(results)
    transform = "none" if task != "regression" else "standardize_sigmoid" if final == "sigmoid" else "standardize"
    evidence = _evidence(task, _variant_key(task, final, loss, on_logits, transform), documents)
    recommended = RECOMMENDED[task][2]
    found = _rules(task, final, loss, on_logits, labels)
    if not found:
        return [Finding("ok", f"{final} + {loss} fits a {task} task", recommended, evidence)]
    return [Finding(severity, reason, recommended, evidence) for severity, reason in found]


def exit_code(findings: list[Finding]) -> int:
    """0 all ok, 1 a warning, 2 an error: usable as a CI gate."""
    return max(SEVERITIES.index(f.severity) for f in findings)
