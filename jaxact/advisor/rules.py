"""The misuse rules: one table shared by `advise` (a named combination) and `check` (a traced
program), and the evidence each finding cites.

A rule is data in one place: its text (reason, fix), severity, the measured combination that
shows what it costs (evidence) and `when`, the condition under which `advise` reports it. The
checker's recognizers live in patterns.py and the observations each rule fires on in detect.py.
Severity follows the measurement: "error" where the documents' network did not learn or lost
many points, "warning" where it trained within noise of the right combination but the code is
still wrong or weaker; `severity_cap` keeps every finding at or below what was measured.

Evidence is looked up, in order: a misuse-study results.json you name, the newest under runs/,
the measurements packaged with jaxact (`evidence.json`, built from the repository's committed
5-seed studies), and the documents' one-seed numbers, labelled as such.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from typing import Callable

from jaxact import combinations, losses, tasks
from jaxact.advisor.targets import target_scale_problem
from jaxact.combinations import Combination

SEVERITIES = ("ok", "warning", "error")
PACKAGED_EVIDENCE = pathlib.Path(__file__).with_name("evidence.json")
RECOMMENDED_VARIANT = combinations.RECOMMENDED
RECOMMENDED_TEXT = {
    "regression": "no output activation, MSE, targets standardized with the train mean/std",
    "probability": "sigmoid output with BCE (or sigmoid_binary_cross_entropy / bce_with_logits on the logits)",
    "binary": "softmax output, cross-entropy on the logits (optax.softmax_cross_entropy on the logits)",
    "multiclass": "softmax output, cross-entropy on the logits (optax.softmax_cross_entropy on the logits)",
    "multilabel": "one sigmoid per label with BCE (optax.sigmoid_binary_cross_entropy on the logits)",
}

LOSS_NAMES = losses.NAMES


def canonical_loss(name: str) -> str:
    """A jaxact.losses registry name for `name` (itself, an optax or a PyTorch name)."""
    return losses.spec(name).name


ANY = None


@dataclasses.dataclass(frozen=True)
class When:
    """The named combinations `advise` reports a rule for: each field a tuple of the names that
    match (None: any), `not_*` the names that exclude; `on_logits` True / False / None (any).

    squashing, expects: what the loss's `losses.Spec` says it applies itself / expects as input, so
      that a loss added to `losses.SPECS` is advised by what it is, not by its name.
    labels: a function of the label array returning a detail (the rule applies) or None.
    not_pairs: (task, final) pairs that exclude.
    alone: the rule applies only when no rule before it in the table did.
    detail: the finding's detail, formatted with {task}, {final}, {loss}.
    """

    task: tuple[str, ...] | None = ANY
    final: tuple[str, ...] | None = ANY
    loss: tuple[str, ...] | None = ANY
    squashing: tuple[str | None, ...] | None = ANY
    expects: tuple[str, ...] | None = ANY
    on_logits: bool | None = None
    not_task: tuple[str, ...] = ()
    not_final: tuple[str, ...] = ()
    not_pairs: tuple[tuple[str, str], ...] = ()
    labels: Callable | None = None
    alone: bool = False
    detail: str = ""

    def detail_for(self, task: str, final: str, loss: str, on_logits: bool, labels, found: list) -> str | None:
        """The finding's detail if the combination matches, else None."""
        if self.alone and found:
            return None
        spec = losses.spec(loss)
        for names, name in ((self.task, task), (self.final, final), (self.loss, loss),
                            (self.squashing, spec.squashing), (self.expects, spec.expects)):
            if names is not None and name not in names:
                return None
        if task in self.not_task or final in self.not_final or (task, final) in self.not_pairs:
            return None
        if self.on_logits is not None and on_logits != self.on_logits:
            return None
        if self.labels is not None:
            return self.labels(labels) if labels is not None else None
        return self.detail.format(task=task, final=final, loss=loss)


@dataclasses.dataclass(frozen=True)
class Rule:
    """A mistake: `reason` says what and why, `fix` what to write instead, `evidence` the study
    row that measured it (compared with the task's recommended row), `when` the named
    combinations `advise` reports it for (None: the checker finds it in code only)."""

    id: str
    severity: str
    reason: str
    fix: str
    evidence: Combination | None = None
    when: When | None = None


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


SINGLE_OUTPUT_TASKS = tuple(name for name in tasks.TASKS if tasks.get_task(name).num_outputs == 1)
CLASSES = ("binary", "multiclass")



RULES = _rules(
    Rule("softmax-single-output", "error",
         "softmax over a single output is identically 1 (and a log-softmax / softmax cross-entropy over one "
         "output identically 0): the output cannot move and nothing is learned",
         "one output with a sigmoid and BCE (sigmoid_binary_cross_entropy on the logit), or two outputs with softmax",
         Combination("probability", "softmax", "bce"),
         When(task=SINGLE_OUTPUT_TASKS, final=("softmax",), detail="document 000: 49.31 %, the share of one class")),
    Rule("softmax-multilabel", "error",
         "softmax (or softmax cross-entropy) forces the label probabilities to sum to 1, but multi-label target "
         "rows have several positives or none",
         "one sigmoid per label with BCE (optax.sigmoid_binary_cross_entropy on the logits)",
         Combination("multilabel", "softmax", "bce"), When(task=("multilabel",), final=("softmax",))),
    Rule("sigmoid-exclusive-classes", "error",
         "independent sigmoids (BCE or MSE per output) on mutually exclusive one-hot classes ignore the "
         "exclusivity: with many classes every output learns to say 'no'",
         "softmax cross-entropy on the logits (optax.softmax_cross_entropy[_with_integer_labels])",
         Combination("multiclass", "sigmoid", "bce"),
         When(task=("multiclass",), final=("sigmoid",), loss=("bce", "mse", "bce_with_logits"),
              detail="{loss} per output on 10 classes")),
    Rule("double-softmax", "warning",
         "a softmax output is fed to a loss that applies its own log-softmax (softmax cross-entropy, "
         "nn.CrossEntropyLoss): a double softmax, whose loss can never reach 0 and whose gradients shrink",
         "give the cross-entropy the logits; apply softmax only to read probabilities",
         Combination("multiclass", "softmax", "cce"), When(final=("softmax",), squashing=("softmax",), on_logits=False)),
    Rule("sigmoid-twice", "error",
         "a sigmoid output is fed to a loss that applies its own sigmoid (sigmoid_binary_cross_entropy, "
         "BCEWithLogits): the model's probabilities are squashed into [0.5, 0.73] and the loss cannot reach 0",
         "give the logits to sigmoid_binary_cross_entropy, or keep the sigmoid and use BCE on probabilities",
         when=When(final=("sigmoid",), squashing=("sigmoid",), on_logits=False)),
    Rule("softmax-into-sigmoid-loss", "warning",
         "a softmax output is fed to a loss that applies its own sigmoid (BCEWithLogits / "
         "sigmoid_binary_cross_entropy): it computes BCE(sigmoid(softmax(z)))",
         "exclusive classes: softmax cross-entropy on the logits; independent labels: sigmoid BCE on the logits",
         Combination("multiclass", "softmax", "bce_with_logits"),
         When(final=("softmax",), squashing=("sigmoid",), on_logits=False)),
    Rule("sigmoid-into-softmax-loss", "warning",
         "sigmoid outputs are fed to a softmax cross-entropy, which applies its own log-softmax: it squashes "
         "twice and ignores that the classes are exclusive in the output layer",
         "softmax cross-entropy on the logits",
         Combination("multiclass", "sigmoid", "cce"), When(final=("sigmoid",), squashing=("softmax",), on_logits=False)),
    Rule("log-of-softmax", "warning",
         "log(softmax(z)) written out: the same loss as log_softmax / softmax cross-entropy on the logits, "
         "but it underflows to log(0) = -inf for confident wrong predictions",
         "jax.nn.log_softmax(z), or optax.softmax_cross_entropy on the logits"),
    Rule("log-of-unbounded", "error",
         "the log of an output that is not a probability (no sigmoid/softmax before it): BCE-style losses on "
         "logits take the log of negative numbers (NaN) and of values above 1",
         "BCE on the logits (optax.sigmoid_binary_cross_entropy), or a sigmoid before BCE",
         Combination("multilabel", "identity", "bce"),
         When(expects=("probabilities",), not_final=("sigmoid", "softmax"), detail="{loss} on a {final} output")),
    Rule("sigmoid-regression-output", "error",
         "a sigmoid output on a regression target: predictions are confined to (0, 1) and, if the targets are "
         "squashed instead, float32 sigmoid saturates to exactly 1.0 beyond |z| ~ 16.6 and cannot be inverted",
         "no output activation and standardized targets",
         Combination("regression", "sigmoid", "mse", label_transform="sigmoid"),
         When(task=("regression",), final=("sigmoid",))),
    Rule("relu-regression-output", "warning",
         "a ReLU output cannot go below 0: after standardization about half of the targets are negative, and a "
         "dead output unit stops learning",
         "no output activation and standardized targets",
         Combination("regression", "relu", "mse", label_transform="standardize"),
         When(task=("regression",), final=("relu",), detail="document 000: 0.63 vs 0.06 MSE")),
    Rule("unscaled-regression-targets", "warning",
         "regression targets far from unit scale and not standardized: the documents' network only learned "
         "the mean",
         "standardize the targets with the train mean and std, and map predictions back",
         Combination("regression", "identity", "mse"), When(task=("regression",), labels=target_scale_problem)),
    # Combinations the advisor knows by name; the checker sees these mistakes as the ones above.
    Rule("sigmoid-two-exclusive-classes", "warning",
         "two mutually exclusive classes with independent sigmoids: it trains with two classes (document 000), "
         "but softmax states the exclusivity",
         "softmax over the two outputs with cross-entropy on the logits, or one sigmoid output",
         Combination("binary", "sigmoid", "bce"), When(task=("binary",), final=("sigmoid",))),
    Rule("probability-loss-mismatch", "warning",
         "BCE or MSE on softmax outputs of exclusive classes trains (documents: within noise of cross-entropy), "
         "but cross-entropy on the logits is the consistent choice",
         "softmax cross-entropy on the logits",
         Combination("multiclass", "softmax", "bce"),
         When(task=CLASSES, final=("softmax",), loss=("bce", "mse"), on_logits=False, detail="{loss} on softmax outputs")),
    Rule("classification-loss-on-regression", "error",
         "a classification loss on a regression target", "MSE, MAE or RMSE on an unbounded output",
         when=When(task=("regression",), expects=("probabilities", "logits"), detail="{loss}")),
    Rule("cross-entropy-multilabel", "warning",
         "cross-entropy treats the labels as one exclusive choice; multi-label wants a BCE per label",
         "sigmoid BCE per label", when=When(task=("multilabel",), squashing=("softmax",), not_final=("softmax",))),
    Rule("bounded-regression-output", "warning",
         "this output activation bounds the predictions; regression usually has no output activation",
         "no output activation and standardized targets",
         when=When(task=("regression",), not_final=("identity", "sigmoid", "relu"), detail="a {final} output")),
    Rule("regression-loss-on-classes", "warning",
         "a regression loss on class probabilities trains here (documents) but cross-entropy is recommended",
         "cross-entropy on the logits", when=When(loss=("mse", "mae"), not_task=("regression",), alone=True,
                                                  not_pairs=(("probability", "sigmoid"),),
                                                  detail="{loss}")),
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One misuse found: `severity` ("ok" | "warning" | "error"), a stable `rule` id (see RULES),
    `reason` (what and why), `fix`, `evidence` (measured or documented numbers) and, for the
    checker, `where` (file:line of the operation in your code)."""

    severity: str
    rule: str
    reason: str
    fix: str
    evidence: str
    where: str = ""

    @property
    def message(self) -> str:
        at = f" (at {self.where})" if self.where else ""
        return f"{self.reason}{at}. Evidence: {self.evidence}. Fix: {self.fix}."


def severity_cap(combination: Combination | None) -> str:
    """The most severe finding a combination's measurement allows: "warning" where the documents
    measured it at parity with the recommended one (it trained as well), else "error"."""
    if combination is None:
        return "error"
    rows = combinations.documented(combination)
    return "warning" if any(row.claim == "parity" for row in rows) else "error"


def capped(severity: str, *measured: Combination | None) -> str:
    """`severity`, lowered to the cap of every measured combination given."""
    return SEVERITIES[min([SEVERITIES.index(severity)] + [SEVERITIES.index(severity_cap(m)) for m in measured])]


def finding(rule_id: str, documents: list[dict], detail: str = "", where: str = "",
            measured: Combination | None = None) -> Finding:
    """The Finding of rule `rule_id`, its reason extended by `detail`, with the evidence of its study
    row. `measured`: the combination the checked program computes, where known; the finding is no
    more severe than its measurement (nor than the rule's own evidence)."""
    rule = RULES[rule_id]
    key = rule.evidence
    evidence = "no study row measures this mistake" if key is None else evidence_text(key.task, key, documents)
    if measured is not None and measured != key and combinations.documented(measured):
        evidence = evidence_text(measured.task, measured, documents)
    severity = capped(rule.severity, key, measured)
    return Finding(severity, rule.id, rule.reason + (f" ({detail})" if detail else ""), rule.fix, evidence, where)


def exit_code(findings: list[Finding]) -> int:
    """0 all ok, 1 a warning, 2 an error: usable as a CI gate."""
    return max((SEVERITIES.index(f.severity) for f in findings), default=0)


# --- evidence ---------------------------------------------------------------------------------

def load_documents(results=None) -> list[dict]:
    """Measured study variants: the given file or directory's results.json files, else those under
    runs/ (newest first), then the packaged evidence. Each document: {"path", "variants"}."""
    roots = [pathlib.Path(results)] if results else [pathlib.Path("runs")]
    files = []
    for root in roots:
        files += [root] if root.is_file() else sorted(root.glob("**/results.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    documents = []
    for path in files:
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(document, dict) and isinstance(document.get("variants"), list):
            documents.append({"path": str(path), "variants": document["variants"]})
    if not results and PACKAGED_EVIDENCE.is_file():
        documents += json.loads(PACKAGED_EVIDENCE.read_text())
    return documents


def evidence_documents(results_dir: pathlib.Path) -> list[dict]:
    """The packaged evidence built from a directory of study results: per MNIST study (the
    documents' dataset), each variant's key fields and test summary (what `evidence_text` reads),
    with the study's results path."""
    out = []
    for path in sorted(results_dir.glob("*/results.json")):
        document = json.loads(path.read_text())
        if not isinstance(document, dict) or not isinstance(document.get("variants"), list):
            continue
        if document.get("config", {}).get("dataset", "mnist") != "mnist":
            continue
        out.append({"path": f"results/{path.parent.name}/results.json", "variants": [
            {**Combination.from_dict(v).to_dict(), "summary": {"test": v["summary"]["test"]}} for v in document["variants"]]})
    return out


def write_packaged_evidence(results_dir: pathlib.Path) -> pathlib.Path:
    """Rewrites the evidence packaged with jaxact from the committed study results."""
    PACKAGED_EVIDENCE.write_text(json.dumps(evidence_documents(results_dir), indent=1) + "\n")
    return PACKAGED_EVIDENCE


def _measured(documents: list[dict], key: Combination) -> tuple[dict, str] | None:
    for document in documents:
        for v in document["variants"]:
            if Combination.from_dict(v) == key and v["summary"]["test"]["mean"] is not None:
                return v, document["path"]
    return None


def _documented(key: Combination) -> combinations.Documented | None:
    """The documents' row for `key`; for a loss on the logits, their row of the same combination on the
    activated output (their PyTorch code: e.g. the double softmax of CE on logits)."""
    for candidate in (key, dataclasses.replace(key, on_logits=False)):
        if rows := combinations.documented(candidate):
            return rows[0]
    return None


def evidence_text(task: str, key: Combination, documents: list[dict]) -> str:
    """This combination's test metric beside the task's recommended one, measured if possible."""
    t = tasks.get_task(task)
    fmt = lambda x: f"{x:.4f} MSE" if not t.higher_is_better else f"{100 * x:.2f} %"  # noqa: E731
    reference_key = RECOMMENDED_VARIANT[task]
    measured, reference = _measured(documents, key), _measured(documents, reference_key)
    if measured and reference:
        (v, path), (r, _) = measured, reference
        test = v["summary"]["test"]
        return (f"measured on {task}: test {fmt(test['mean'])} ± {fmt(test['sd'])} over {test['n']} seeds vs "
                f"{fmt(r['summary']['test']['mean'])} recommended ({path})")
    documented, documented_reference = _documented(key), _documented(reference_key)
    if documented and documented_reference and key != reference_key:
        return (f"documents (one seed) on {task}: test {fmt(documented.test)} vs "
                f"{fmt(documented_reference.test)} for the recommended combination")
    if documented:
        return f"documents (one seed, loss on the activated output) on {task}: test {fmt(documented.test)}"
    return "no measurement of this combination (run experiments.misuse / experiments.loss_misuse)"
