"""The misuse tables, the entrypoints end to end on tiny subsets, bad input."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxact import train
from jaxact.studies.misuse import table as variants

REPO = pathlib.Path(__file__).resolve().parents[1]


def _documented(table):
    return [v for v in table if v.documented]


def test_the_documented_rows_are_all_there():
    """The documents' tables (000: 16 rows, 002: 15) live in table.py, each with its numbers and
    claim, and every task has one recommended reference row."""
    assert len(_documented(variants.ACTIVATION_MISUSE)) == 16 and len(_documented(variants.LOSS_MISUSE)) == 15
    for name, rows in variants.STUDIES.items():
        for task in variants.study_tasks(name):
            references = [v for v in rows if v.task == task and v.claim == "reference"]
            assert len(references) == 1 and references[0].recommended, (name, task)
        for v in _documented(rows):
            valid, test = v.documented
            assert v.claim in variants.CLAIMS
            assert (0 < valid < 1 and 0 < test < 1) if v.task != "regression" else (valid > 0 and test > 0)
    # spot checks by value
    assert _find(variants.ACTIVATION_MISUSE, task="multiclass", final_activation="sigmoid", loss="bce").documented == (0.1053, 0.1135)
    assert _find(variants.LOSS_MISUSE, task="multilabel", final_activation="softmax", loss="cce").documented == (0.7910, 0.7941)
    assert _find(variants.ACTIVATION_MISUSE, task="regression", final_activation="relu",
                 label_transform="standardize").documented == (0.6230, 0.6272)


def _find(table, **fields):
    found = [v for v in table if all(getattr(v.combination, k) == value for k, value in fields.items()) and not v.ours]
    assert len(found) == 1, fields
    return found[0]


def test_skipped_regression_variants_and_corrected_twins_exist():
    names = {v.name for v in variants.select("activation_misuse", "regression")}
    assert {"sigmoid+sigmoid-labels", "sigmoid+norm+sigmoid-labels"} <= names
    for table in variants.STUDIES.values():
        for v in table:
            if v.combination.loss in ("cce", "bce_with_logits") and not v.ours:
                twin = [t for t in table if t.task == v.task and t.name == v.name + "[logits]"]
                assert len(twin) == 1 and twin[0].ours and twin[0].combination.on_logits and twin[0].documented is None


def test_double_softmax_twin_computes_a_different_loss():
    rows = variants.select("activation_misuse", "multiclass", ["softmax+cce", "softmax+cce[logits]"])
    models = [train.Model(v.combination, 0) for v in rows]
    config = train.EngineConfig("multiclass", train.Options.covering(models))
    z = jax.random.normal(jax.random.key(0), (16, 10)) * 4
    targets = jax.nn.one_hot(jnp.arange(16) % 10, 10)
    sample = train.Sample(np.arange(2), np.arange(2))
    documents, twin = (
        train.per_example_loss(config, train.Rows(*(jnp.asarray(c[0]) for c in train.Rows.of(config.options, [m], [sample]))),
                               z, jax.nn.softmax(z), targets)
        for m in models)
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
    expected = variants.select("activation_misuse" if module.endswith(".misuse") else "loss_misuse", task)
    lines = done.stdout.splitlines()
    assert lines[0].endswith(f"{len(expected) * 2} units; 0 of {len(expected) * 2} already done, 2 worker(s) on cpu -> {out}")
    assert sum(line.startswith("[") for line in lines) == len(expected) * 2 and "ETA" in lines[1]
    assert lines[-1].startswith("done in")
    assert "Unable to initialize backend" not in done.stderr and "INFO" not in done.stderr
    study = json.loads((out / "results.json").read_text())
    assert study["task"] == task and study["study"] in ("activation_misuse", "loss_misuse")
    assert [v["name"] for v in study["variants"]] == [v.name for v in expected]
    for v in study["variants"]:
        assert {"name", "task", "final_activation", "loss", "recommended", "documented", "seeds"} <= set(v)
        assert v["documented"] is None or set(v["documented"]) == {"valid", "test"}
        assert len(v["seeds"]) == 2
        for s in v["seeds"]:
            assert {"seed", "best_valid", "test", "best_epoch", "epochs", "diverged"} <= set(s)
            assert isinstance(s["diverged"], bool) and 1 <= s["epochs"] <= 2
            assert s["diverged"] or 0.0 <= s["test"] <= 1.0
        assert len(v["summary"]["test"]["ci95"]) == 2
        if v["claim"] in ("fails", "parity", "worse"):
            assert v["verdict"]["status"] in ("holds", "does not hold", "inconclusive")
    assert (out / "worker-0.log").read_text().count(" epoch ") >= 2
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
    ("experiments.activation_hpo", ["--units_per_program=0"], "--units_per_program must be at least 1, got 0"),
    ("experiments.activation_hpo", ["--dataset=digits"], "dataset 'digits' has no 'hpo' split"),
    ("experiments.misuse", ["--workers=100"], "--workers=100 is more than the"),
    ("experiments.misuse", ["--matmul_dtype=fp8"], "--matmul_dtype: unknown matmul_dtype 'fp8'"),
    ("experiments.misuse", ["--seeds=0"], "--seeds must be at least 1, got 0"),
    ("experiments.misuse", ["--max_epochs=-1"], "--max_epochs must be at least 1, got -1"),
    ("experiments.misuse", ["--train_size=999999"], "--train_size must be at most 2,000 (the mnist misuse split), got 999,999"),
    ("experiments.misuse", ["--split=random"], "--split must be one of per_seed, fixed, got 'random'"),
    ("experiments.loss_misuse", ["--storage=nosuchdb://host/db"], "cannot open storage 'nosuchdb://host/db'"),
    ("experiments.activation_hpo", ["--hpo_valid_size=6000"], "--hpo_valid_size must be at most 5,000"),
])
def test_bad_input_is_one_line_nonzero_and_writes_nothing(module, args, message, tmp_path):
    out = tmp_path / "never"
    done = _run(module, *args, f"--out_dir={out}", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert not out.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("module", ["experiments.misuse", "experiments.activation_hpo"])
def test_an_out_dir_that_is_a_file_fails_before_training(module, tmp_path):
    file = tmp_path / "results"
    file.write_text("mine")
    done = _run(module, f"--out_dir={file}", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"error: --out_dir {str(file)!r} is a file: give a directory"
    assert file.read_text() == "mine"


def test_the_same_study_on_digits_and_the_dataset_comparison(tmp_path, mnist_dir):
    outs = {}
    for dataset in ("mnist", "digits"):
        outs[dataset] = tmp_path / dataset
        done = _run("experiments.misuse", "--task=probability", f"--dataset={dataset}", f"--out_dir={outs[dataset]}",
                    "--seeds=2", "--train_size=200", "--valid_size=200", "--test_size=300", "--max_epochs=2",
                    cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
    digits = json.loads((outs["digits"] / "results.json").read_text())
    assert digits["dataset"] == "digits" and digits["settings"]["dataset"] == "digits"
    assert "# activation misuse: probability on digits" in (outs["digits"] / "report.md").read_text()
    done = _run("experiments.compare_datasets", f"--results={outs['mnist']},{outs['digits']}",
                f"--out_dir={tmp_path / 'compare'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    comparison = json.loads((tmp_path / "compare" / "comparison.json").read_text())
    assert comparison["datasets"] == ["mnist", "digits"]
    assert [r["variant"] for r in comparison["rows"]] == ["softmax+bce", "softmax+cce"]  # the two "fails" claims
    for row in comparison["rows"]:
        assert set(row["datasets"]) == {"mnist", "digits"}
        # softmax over one output is identically 1: it cannot learn on any dataset
        assert all(cell["status"] in ("holds", "inconclusive") for cell in row["datasets"].values())
    markdown = (tmp_path / "compare" / "comparison.md").read_text()
    assert "| probability | `softmax+bce` | fails |" in markdown
    bad = _run("experiments.compare_datasets", f"--results={outs['mnist']},{outs['mnist']}",
               f"--out_dir={tmp_path / 'bad'}", cwd=tmp_path)
    assert bad.returncode != 0 and bad.stderr.strip().endswith("error: give results of different datasets, got mnist, mnist")


def test_a_unit_both_misuse_studies_need_is_trained_once_and_a_changed_setting_is_never_reused(tmp_path, mnist_dir):
    smoke = ["--task=multiclass", "--seeds=1", "--train_size=300", "--valid_size=200", "--test_size=500", "--max_epochs=2"]
    cache = f"--unit_cache={tmp_path / 'units.jsonl'}"
    assert _run("experiments.misuse", *smoke, cache, f"--out_dir={tmp_path / 'activation'}", cwd=tmp_path).returncode == 0
    shared = _run("experiments.loss_misuse", *smoke, cache, f"--out_dir={tmp_path / 'loss'}", cwd=tmp_path)
    fresh = _run("experiments.loss_misuse", *smoke, f"--out_dir={tmp_path / 'fresh'}", cwd=tmp_path)
    changed = _run("experiments.loss_misuse", *smoke, "--max_epochs=3", cache, f"--out_dir={tmp_path / 'changed'}",
                   cwd=tmp_path)
    assert shared.returncode == fresh.returncode == changed.returncode == 0, shared.stderr[-2000:]
    document = lambda name: json.loads((tmp_path / name / "results.json").read_text())  # noqa: E731
    (info,) = document("loss")["tasks"]
    # multiclass softmax+cce, its [logits] twin and sigmoid+bce are in both tables
    assert info["reused"] == ["sigmoid+bce seed 0 from activation_misuse-multiclass",
                              "softmax+cce seed 0 from activation_misuse-multiclass",
                              "softmax+cce[logits] seed 0 from activation_misuse-multiclass"]
    assert "3 reused from activation_misuse-multiclass" in (tmp_path / "loss" / "report.md").read_text()
    assert document("changed")["tasks"][0]["reused"] == []
    # reusing changes nothing: trained fresh in the loss study's own program, the numbers are the same
    numbers = lambda name: {(v["name"], s["seed"]): (s["test"], s["best_valid"], s["epochs"], s["train_loss"])  # noqa: E731
                            for v in document(name)["variants"] for s in v["seeds"]}
    assert numbers("loss") == numbers("fresh")
