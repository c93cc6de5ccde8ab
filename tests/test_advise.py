"""The misuse advisor: every combination the documents discuss, label-based task inference,
optax and PyTorch loss names, the packaged evidence, and the CLI's exit codes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jaxact
from jaxact import advisor, combinations, tasks
from jaxact.advisor import rules

# (task, final activation, loss, loss on logits) -> the most severe finding expected
CASES = {
    ("regression", "identity", "mse", False): "ok",
    ("regression", "relu", "mse", False): "warning",
    ("regression", "sigmoid", "mse", False): "error",
    ("probability", "sigmoid", "bce", False): "ok",
    ("probability", "softmax", "bce", False): "error",
    ("probability", "softmax", "cce", False): "error",
    ("probability", "identity", "bce_with_logits", True): "ok",
    ("binary", "softmax", "cross_entropy", True): "ok",
    ("binary", "softmax", "cce", False): "warning",
    ("binary", "sigmoid", "bce", False): "warning",
    ("binary", "sigmoid", "cce", False): "warning",
    ("binary", "softmax", "bce", False): "warning",
    ("binary", "softmax", "bce_with_logits", False): "warning",
    ("binary", "softmax", "mse", False): "warning",
    ("binary", "sigmoid", "mse", False): "warning",
    ("multiclass", "softmax", "cross_entropy", True): "ok",
    ("multiclass", "softmax", "cce", False): "warning",
    ("multiclass", "sigmoid", "bce", False): "error",
    ("multiclass", "sigmoid", "mse", False): "error",
    ("multiclass", "sigmoid", "cce", False): "warning",
    ("multiclass", "softmax", "mse", False): "warning",
    ("multiclass", "softmax", "bce", False): "warning",
    ("multiclass", "softmax", "bce_with_logits", False): "warning",
    ("multilabel", "sigmoid", "bce", False): "ok",
    ("multilabel", "identity", "bce_with_logits", True): "ok",
    ("multilabel", "sigmoid", "mse", False): "warning",
    ("multilabel", "softmax", "bce", False): "error",
    ("multilabel", "softmax", "mse", False): "error",
    ("multilabel", "softmax", "cce", False): "error",
    ("multilabel", "identity", "bce", False): "error",
}


@pytest.mark.parametrize("case, severity", CASES.items(), ids=["-".join(map(str, c)) for c in CASES])
def test_documented_combinations(case, severity, tmp_path):
    task, final, loss, on_logits = case
    findings = jaxact.advise(task, final, loss, loss_on_logits=on_logits, results=tmp_path)
    assert advisor.SEVERITIES[advisor.exit_code(findings)] == severity, findings
    assert all(f.reason and f.fix and f.evidence and (f.rule in rules.RULES or f.rule == "ok") for f in findings)


def test_every_documented_combination_is_covered():
    for row in combinations.DOCUMENTED:
        c = row.combination
        if c.task != "regression":
            assert (c.task, c.final_activation, c.loss, c.on_logits) in CASES, c.name


def test_recommended_combination_of_each_task_is_ok(tmp_path):
    for task, c in combinations.RECOMMENDED.items():
        findings = jaxact.advise(task, c.final_activation, c.loss, loss_on_logits=c.on_logits, results=tmp_path)
        assert [f.severity for f in findings] == ["ok"], findings


def test_evidence_falls_back_to_the_documents_then_uses_measurements(tmp_path):
    finding = jaxact.advise("multiclass", "sigmoid", "bce", results=tmp_path)[0]
    assert finding.evidence.startswith("documents (one seed) on multiclass") and "11.35 %" in finding.evidence
    assert "97.31 %" in finding.evidence


def test_task_inference_on_mnist_labels(misuse_splits):
    digits = misuse_splits["valid"].digits
    for name, task in tasks.TASKS.items():
        assert advisor.infer_task(task.targets(digits)) == name
    assert advisor.infer_task(digits) == "multiclass"
    assert advisor.infer_task(np.random.default_rng(0).normal(size=100)) == "regression"
    assert advisor.infer_task(np.random.default_rng(0).random(100)) == "probability"
    findings = jaxact.advise(labels=tasks.get_task("regression").targets(digits), final_activation="identity", loss="mse")
    assert "unscaled-regression-targets" in [f.rule for f in findings]


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        jaxact.advise("binary", "softmax", "hinge")
    with pytest.raises(ValueError, match="unknown activation"):
        jaxact.advise("binary", "softmux", "bce")


@pytest.mark.parametrize("args, code", [
    (["--task=multiclass", "--final_activation=softmax", "--loss=cross_entropy"], 0),
    (["--task=binary", "--final_activation=softmax", "--loss=cce"], 1),
    (["--task=multilabel", "--final_activation=softmax", "--loss=cce"], 2),
    (["--task=ranking"], 2),
])
def test_cli_exit_codes(args, code, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    done = subprocess.run([sys.executable, "-m", "jaxact.advisor", *args, f"--results={tmp_path}"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == code, done.stderr[-1000:]
    if code != 2 or "ranking" not in args[0]:
        assert "fix:" in done.stdout and "evidence:" in done.stdout


def test_default_evidence_is_packaged_from_the_committed_studies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/ here: the measurements packaged with jaxact are used
    finding = jaxact.advise("multiclass", "sigmoid", "bce")[0]
    packaged = next(v for d in json.loads(rules.PACKAGED_EVIDENCE.read_text()) for v in d["variants"]
                    if (v["task"], v["final_activation"], v["loss"]) == ("multiclass", "sigmoid", "bce"))
    mean = 100 * packaged["summary"]["test"]["mean"]
    assert finding.evidence.startswith(f"measured on multiclass: test {mean:.2f} %"), finding.evidence
    assert finding.evidence.endswith("_misuse/results.json)")


def test_packaged_evidence_matches_the_committed_results():
    """evidence.json is derived from results/: regenerate it with the studies (see README)."""
    import pathlib

    results = pathlib.Path(__file__).resolve().parents[1] / "results"
    assert json.loads(rules.PACKAGED_EVIDENCE.read_text()) == rules.evidence_documents(results)


def test_packaged_evidence_comes_from_mnist_studies_only(tmp_path):
    """A digits study beside the MNIST one must not become the advisor's evidence."""

    variant = {"task": "multiclass", "final_activation": "sigmoid", "loss": "bce", "summary": {"test": {"mean": 0.11}}}
    for name, dataset in (("activation_misuse", "mnist"), ("activation_misuse_digits", "digits")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(
            {"study": "activation_misuse", "config": {"dataset": dataset}, "variants": [variant]}))
    assert [d["path"] for d in rules.evidence_documents(tmp_path)] == ["results/activation_misuse/results.json"]


@pytest.mark.parametrize("optax_name, pytorch_name, ours", [
    ("softmax_cross_entropy", "CrossEntropyLoss", "cce"),
    ("softmax_cross_entropy_with_integer_labels", "nn.CrossEntropyLoss", "cce"),
    ("sigmoid_binary_cross_entropy", "BCEWithLogitsLoss", "bce_with_logits"),
    ("squared_error", "MSELoss", "mse"),
])
def test_optax_and_pytorch_loss_names(optax_name, pytorch_name, ours, tmp_path):
    for task, final in (("multiclass", "softmax"), ("multilabel", "sigmoid"), ("binary", "softmax")):
        expected = jaxact.advise(task, final, ours, results=tmp_path)
        assert jaxact.advise(task, final, optax_name, results=tmp_path) == expected
        assert jaxact.advise(task, final, pytorch_name, results=tmp_path) == expected


def test_every_rule_is_data_no_more_severe_than_its_measurement():
    """A rule lives in one place: text, severity, evidence and the advise condition on the rule."""
    for rule in rules.RULES.values():
        assert rule.reason and rule.fix and rule.severity in ("warning", "error"), rule.id
        assert rules.capped(rule.severity, rule.evidence) == rule.severity, rule.id
    assert rules.severity_cap(combinations.Combination("multiclass", "softmax", "bce_with_logits")) == "warning"
    assert rules.severity_cap(combinations.Combination("multiclass", "sigmoid", "bce")) == "error"


def test_a_rule_added_to_the_table_is_advised(monkeypatch, tmp_path):
    toy = rules.Rule("toy-tanh-binary", "warning", "a toy rule", "a toy fix",
                     when=rules.When(task=("binary",), final=("tanh",), detail="{final} output"))
    monkeypatch.setitem(rules.RULES, toy.id, toy)
    findings = jaxact.advise("binary", "tanh", "cross_entropy", results=tmp_path)
    assert [(f.rule, f.reason) for f in findings if f.rule == toy.id] == [(toy.id, "a toy rule (tanh output)")]
    assert jaxact.advise("multiclass", "tanh", "cross_entropy", results=tmp_path)[0].rule == "ok"
