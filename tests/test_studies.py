"""Variant tables against DESIGN.md, the entrypoints end to end on tiny subsets, bad input."""

import json
import os
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxact import train
from jaxact.studies import runner, variants

REPO = pathlib.Path(__file__).resolve().parents[1]
DESIGN = REPO.parent / "shared" / "DESIGN.md"
NAMES = {"softmax": "softmax", "sigmoid": "sigmoid", "BCE": "bce", "CCE": "cce", "MSE": "mse",
         "BCEWithLogits": "bce_with_logits"}
REGRESSION = {"no activation": "identity", "ReLU": "relu"}


def _design_rows(heading: str):
    """(task, variant text, valid, test) rows of the DESIGN.md table under `heading`."""
    text = DESIGN.read_text()
    section = text[text.index(heading):]
    section = section[: section.index("\n\n", section.index("|---|"))]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        match = re.fullmatch(r"([\d.]+) / ([\d.]+)", cells[-1]) if len(cells) == 3 else None
        if match:
            yield cells[0], cells[1], float(match[1]), float(match[2])


def _find(table, **fields):
    found = [v for v in table if all(getattr(v, k) == value for k, value in fields.items()) and not v.ours]
    assert len(found) == 1, fields
    return found[0]


@pytest.mark.skipif(not DESIGN.exists(), reason="../shared/DESIGN.md is not beside the checkout")
def test_every_documented_row_is_in_the_tables_with_its_numbers():
    activation_rows = list(_design_rows("Activation misuse (`000`)"))
    loss_rows = list(_design_rows("Loss misuse (`002`)"))
    assert len(activation_rows) == 16 and len(loss_rows) == 15
    for task, text, valid, test in activation_rows:
        if task == "regression":
            activation, normalized = text.split(", ")
            v = _find(variants.ACTIVATION_MISUSE, task=task, final_activation=REGRESSION[activation],
                      label_transform="none" if normalized == "not normalized" else "standardize")
            assert v.documented == (valid, test)
        else:
            final, loss = text.split(" + ")
            v = _find(variants.ACTIVATION_MISUSE, task=task, final_activation=NAMES[final], loss=NAMES[loss])
            assert v.documented == pytest.approx((valid / 100, test / 100), abs=1e-9)
    for task, text, valid, test in loss_rows:
        loss, final = text.split(" + ")
        v = _find(variants.LOSS_MISUSE, task=task, final_activation=NAMES[final], loss=NAMES[loss])
        assert v.documented == pytest.approx((valid / 100, test / 100), abs=1e-9)
    # spot checks by value
    assert _find(variants.ACTIVATION_MISUSE, task="multiclass", final_activation="sigmoid", loss="bce").documented == (0.1053, 0.1135)
    assert _find(variants.LOSS_MISUSE, task="multilabel", final_activation="softmax", loss="cce").documented == (0.7910, 0.7941)


def test_skipped_regression_variants_and_corrected_twins_exist():
    names = {v.name for v in variants.select("activation_misuse", "regression")}
    assert {"sigmoid+sigmoid-labels", "sigmoid+norm+sigmoid-labels"} <= names
    for table in variants.STUDIES.values():
        for v in table:
            if v.loss in ("cce", "bce_with_logits") and not v.ours:
                twin = [t for t in table if t.task == v.task and t.name == v.name + "[logits]"]
                assert len(twin) == 1 and twin[0].ours and twin[0].on_logits and twin[0].documented is None


def test_double_softmax_twin_computes_a_different_loss():
    rows = variants.select("activation_misuse", "multiclass", ["softmax+cce", "softmax+cce[logits]"])
    config = runner.engine_config(runner.StudyConfig("activation_misuse", "multiclass"), "multiclass", rows)
    z = jax.random.normal(jax.random.key(0), (16, 10)) * 4
    targets = jax.nn.one_hot(jnp.arange(16) % 10, 10)
    documents, twin = (
        train.per_example_loss(config, train.Models(*(jnp.asarray(c[0]) for c in train.Models.build(seed=0, objective=i))),
                               z, jax.nn.softmax(z), targets)
        for i in range(2))
    np.testing.assert_allclose(twin, -jnp.sum(targets * jax.nn.log_softmax(z), -1), rtol=1e-6)
    np.testing.assert_allclose(documents, -jnp.sum(targets * jax.nn.log_softmax(jax.nn.softmax(z)), -1), rtol=1e-6)
    assert float(jnp.min(jnp.abs(documents - twin))) > 1e-3


def _run(module, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


SMOKE = ["--seeds=2", "--train_size=300", "--valid_size=200", "--test_size=500", "--max_epochs=2"]


@pytest.mark.parametrize("module, task", [("experiments.misuse", "multiclass"), ("experiments.loss_misuse", "multilabel")])
def test_entrypoint_smoke_run_writes_json_markdown_and_png(module, task, tmp_path, mnist_dir):
    out = tmp_path / "out"
    done = _run(module, f"--task={task}", f"--out_dir={out}", *SMOKE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "models still training" in done.stdout and "done in" in done.stdout
    study = json.loads((out / "results.json").read_text())
    assert study["task"] == task and study["study"] in ("activation_misuse", "loss_misuse")
    expected = variants.select(study["study"], task)
    assert [v["name"] for v in study["variants"]] == [v.name for v in expected]
    for v in study["variants"]:
        assert {"name", "task", "final_activation", "loss", "recommended", "documented", "seeds"} <= set(v)
        assert v["documented"] is None or set(v["documented"]) == {"valid", "test"}
        assert len(v["seeds"]) == 2
        for s in v["seeds"]:
            assert {"seed", "best_valid", "test", "best_epoch", "epochs", "diverged"} <= set(s)
            assert isinstance(s["diverged"], bool) and 1 <= s["epochs"] <= 2
            assert s["diverged"] or 0.0 <= s["test"] <= 1.0
    markdown = (out / "report.md").read_text()
    for v in expected:
        assert f"| `{v.name}` |" in markdown
    png = (out / f"curves_{task}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


@pytest.mark.parametrize("module, args, message", [
    ("experiments.misuse", ["--task=ranking"], "unknown task 'ranking'"),
    ("experiments.loss_misuse", ["--task=regression"], "task 'regression' is not part of loss_misuse"),
    ("experiments.misuse", ["--task=binary", "--variants=softmax+hinge"], "unknown variant(s) softmax+hinge"),
    ("experiments.activation_hpo", ["--storage=nosuchdb://host/db"], "cannot open storage 'nosuchdb://host/db'"),
    ("experiments.activation_hpo", ["--batch_trials=0"], "batch_trials must be at least 1, got 0"),
])
def test_bad_input_is_one_line_nonzero_and_writes_nothing(module, args, message, tmp_path):
    out = tmp_path / "never"
    done = _run(module, *args, f"--out_dir={out}", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert not out.exists() and not (tmp_path / "runs").exists()
