"""The activation factorial: its table of units, a tiny real run that learns and measures sparsity,
and the report's statistics and verdicts on constructed data with known answers."""

import dataclasses
import json

import numpy as np
import pytest

from jaxact import models, reporting
from jaxact.studies import runner
from jaxact.studies.factorial import report
from jaxact.studies.factorial import study as factorial


def test_the_table_is_every_conv_x_fc_activation_x_seed_at_one_learning_rate():
    units = factorial.units(factorial.FactorialConfig())
    assert len(units) == 8 * 8 * 2
    assert {u["learning_rate"] for u in units} == {0.002}
    assert {(u["conv_activation"], u["fc_activation"]) for u in units if u["seed"] == 1} == {
        (c, f) for c in factorial.activations.HPO_NAMES for f in factorial.activations.HPO_NAMES}
    assert [u["seed"] for u in units] == sorted(u["seed"] for u in units)  # seed-major: whole seeds on interruption


def test_bad_activation_names_fail_before_anything_is_written(tmp_path):
    config = factorial.FactorialConfig(conv_activations=("relu", "swish9"), out_dir=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="--conv_activations: unknown swish9; pick from sigmoid, relu"):
        runner.run(factorial.STUDY, config, print)
    assert not (tmp_path / "x").exists()


def _discard(line):
    """A picklable sink for the workers' progress lines."""


def test_a_tiny_run_learns_and_measures_sparsity(tmp_path, mnist_dir):
    config = factorial.FactorialConfig(**{**factorial.SMOKE, "max_epochs": 3, "seeds": 1}, workers=1,
                                       out_dir=str(tmp_path / "run"))
    document = runner.run(factorial.STUDY, config, _discard)
    assert document["units_done"] == 4 and document["diverged"] == 0
    units = {(u["conv_activation"], u["fc_activation"]): u for u in document["units"]}
    assert all(u["test"] > 0.4 for u in units.values())  # chance is ~11 %: every cell learned in 3 epochs
    relu, tanh = units["relu", "relu"]["sparsity"], units["tanh", "sigmoid"]["sparsity"]
    assert all(relu[site]["zero"] > 0.1 for site in ("conv1", "conv2", "conv3", "fc"))  # ReLU: exact zeros
    assert all(tanh[site]["zero"] < 0.01 for site in models.SITES)  # tanh / sigmoid: (almost) none
    assert all(s["near"] >= s["zero"] for u in units.values() for s in u["sparsity"].values())
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["cells"][0]["test"]["n"] == 1
    for name in ("report.md", "heatmap.png", "sparsity.png", "forest.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0


CONV_EFFECT = {"relu": 0.0, "prelu": 0.01, "tanh": -0.01}
FC_EFFECT = {"sigmoid": -0.02, "relu": 0.0, "tanh": 0.005}
CONV_ZERO = {"relu": 0.5, "prelu": 0.6, "tanh": 0.0}  # ranks as accuracy: rho = +1
FC_NEAR = {"sigmoid": 0.0, "relu": 0.6, "tanh": 0.8}  # density 1, 0.4, 0.2: against accuracy, rho = -1


def _constructed(tmp_path, seeds=4):
    """A finished study whose accuracies are 0.97 + conv effect + FC effect + small noise, and whose
    sparsity is fixed per activation: every verdict is known in advance."""
    config = factorial.FactorialConfig(conv_activations=tuple(CONV_EFFECT), fc_activations=tuple(FC_EFFECT),
                                       seeds=seeds, out_dir=str(tmp_path))
    queue = factorial.STUDY.open(config)
    factorial.STUDY.source(config).prepare(queue)
    rng = np.random.default_rng(0)
    values = {}
    for trial in queue.claim(len(CONV_EFFECT) * len(FC_EFFECT) * seeds):
        unit = trial.user_attrs["unit"]
        conv, fc = unit["conv_activation"], unit["fc_activation"]
        value = 0.97 + CONV_EFFECT[conv] + FC_EFFECT[fc] + rng.normal(0, 0.0005)
        values[conv, fc, unit["seed"]] = value
        sparsity = {site: {"zero": CONV_ZERO[conv], "near": CONV_ZERO[conv]} for site in ("conv1", "conv2", "conv3")}
        sparsity["fc"] = {"zero": FC_NEAR[fc] / 2, "near": FC_NEAR[fc]}
        record = runner.UnitRecord(unit=unit, value=value, best_valid=value, best_epoch=3, epochs=9, diverged=False,
                                   train_loss=[1.0], valid_curve=[value], evaluations={"test": value}, seconds=1.0,
                                   compile_seconds=0.0, program={"id": "constructed", "units": 1},
                                   extra={"sparsity": sparsity})
        queue.finish(trial, record.value, record.attrs(), record.valid_curve)
    return config, queue, values


def test_main_effects_cells_and_verdicts_on_constructed_data(tmp_path):
    config, queue, values = _constructed(tmp_path)
    written = report.write(tmp_path, config, queue)
    document = written["document"]
    assert written["units"] == document["units_total"] == 36
    conv = document["main_effects"]["conv"]
    assert conv["prelu"]["mean"] == pytest.approx(np.mean([v for (c, _, _), v in values.items() if c == "prelu"]))
    assert [conv[n]["rank"] for n in ("prelu", "relu", "tanh")] == [1, 2, 3]
    assert conv["prelu"]["ci95"][0] < conv["prelu"]["mean"] < conv["prelu"]["ci95"][1]
    assert [conv[n]["median_rank_per_partner"] for n in ("prelu", "relu", "tanh")] == [1, 2, 3]
    cell = next(c for c in document["cells"] if (c["conv_activation"], c["fc_activation"]) == ("tanh", "sigmoid"))
    assert cell["test"]["mean"] == pytest.approx(np.mean([values["tanh", "sigmoid", s] for s in range(4)]))
    claims = {c["claim"]: c for c in document["claims"]}
    prelu = claims["conv PReLU is the best conv activation"]
    assert prelu["compared_with"] == "relu" and prelu["estimate"] == pytest.approx(0.01, abs=0.001)
    assert prelu["status"] == "holds"
    assert claims["FC tanh ranks high"]["status"] == "holds"
    sigmoid = claims["FC sigmoid ranks high"]
    assert sigmoid["compared_with"] == "tanh" and sigmoid["status"] == "does not hold"
    assert sigmoid["interval"][1] < -report.RANK_MARGIN
    conv_zero = next(c for c in document["claims"] if c.get("measure") == "conv_zero")
    assert conv_zero["estimate"] == pytest.approx(1.0) and conv_zero["status"] == "holds"
    fc_density = next(c for c in document["claims"] if c.get("measure") == "fc_density_near")
    assert fc_density["estimate"] == pytest.approx(-1.0) and fc_density["status"] == "does not hold"
    assert document["sparsity"]["fc"]["relu"]["fc_near"] == pytest.approx(0.6)
    text = (tmp_path / "report.md").read_text()
    assert "| conv PReLU is the best conv activation | rank 1 of 3; gain over relu:" in text
    assert "**36 of 36 units done**" in text


def test_a_partial_study_reports_what_finished(tmp_path):
    config, queue, _ = _constructed(tmp_path, seeds=2)
    bigger = dataclasses.replace(config, seeds=3)  # a third seed enqueued, not trained
    document = report.collect(bigger, queue)
    assert (document["units_done"], document["units_total"]) == (18, 27)
    assert all(c["test"]["n"] == 2 and c["test"]["not_finite"] == 1 for c in document["cells"])


def test_spearman_interval_and_the_three_verdicts():
    groups = np.array([[0.1, 0.2, 0.15], [0.5, 0.4, 0.45], [0.9, 0.8, 0.85]])
    rho, interval = reporting.spearman_ci(groups, groups * 2 + 1, 3)
    assert rho == pytest.approx(1.0) and interval == [1.0, 1.0]
    noisy = np.random.default_rng(1).normal(size=(8, 16))
    rho, interval = reporting.spearman_ci(noisy, np.random.default_rng(2).normal(size=(8, 16)), 16)
    assert interval[0] < rho < interval[1] and interval[0] < 0 < interval[1]
    assert reporting.against([0.1, 0.4], 0.0, 1.0) == "holds"
    assert reporting.against([-0.4, -0.1], 0.0, 1.0) == "does not hold"
    assert reporting.against([-0.1, 0.4], 0.0, 1.0) == "inconclusive"
    assert reporting.against(None, 0.0, 1.0) == "inconclusive"
