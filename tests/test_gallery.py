"""The activation gallery, the computed property table, and document 003's logistic study."""

import os
import pathlib
import subprocess
import sys

import numpy as np

from jaxact import activations
from jaxact.studies import gallery, logistic

REPO = pathlib.Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def test_gallery_writes_every_png_and_the_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "experiments.gallery", f"--out_dir={tmp_path}", "--points=61",
                           "--cost_elements=10000"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = [f"activation_{n}.png" for n in activations.REGISTRY] + [
        "overview.png", "sigmoid_vs_tanh_derivative.png", "logit_sigmoid_inverse.png", "init_pairing.png"]
    for name in expected:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 2_000, name
    table = (tmp_path / "activation_properties.md").read_text()
    for row in ("| sigmoid | 0 ~ 1 | ❌ (0.500) | 0 |", "| tanh | -1 ~ 1 | ✅", "| prelu | −∞ ~ +∞ | ❌ (0.299) | 1 |",
                "| silu | -0.278 ~ +∞ | ✅"):
        assert row in table, row


def test_notable_points_and_init_pairing():
    (x, y, text), = gallery.notable_points("silu")
    assert abs(y + 0.278) < 1e-3 and abs(x + 1.278) < 2e-3
    relu_he, relu_glorot = gallery.activation_spread("relu", "he"), gallery.activation_spread("relu", "glorot")
    assert relu_he[-1] > 0.5 and relu_glorot[-1] < 0.1  # He keeps ReLU's signal alive over 10 layers; Glorot does not


def test_generated_csv_obeys_the_rule(tmp_path):
    features, labels = logistic.generate(2_000, seed=1)
    logistic.write_csv(tmp_path / "binary.csv", features, labels)
    read_features, read_labels = logistic.read_csv(tmp_path / "binary.csv")
    assert read_features.min() >= 0 and read_features.max() <= 100
    expected = ((read_features >= 40).all(1) & (read_features.mean(1) >= 60)).astype(np.float32)
    np.testing.assert_array_equal(read_labels, expected)
    assert 0.05 < read_labels.mean() < 0.5
    sizes = [len(part[1]) for part in logistic.split(read_features, read_labels)]
    assert sizes == [1600, 200, 200]


def test_compiled_logistic_run_lowers_the_cost():
    features, labels = logistic.generate(1_000, seed=0)
    train_set, _, test_set = logistic.split(features, labels)
    reports = []
    params, costs, stats = logistic.train(logistic.DOCUMENT, train_set, epochs=300, report_every=100,
                                          on_report=lambda e, c: reports.append(int(e)))
    assert costs.shape == (300,) and costs[-1] < costs[0]
    assert reports == [100, 200, 300]
    fixed_params, fixed_costs, fixed_stats = logistic.train(logistic.FIXED, train_set, epochs=300)
    assert fixed_costs[-1] < costs[-1]
    assert logistic.accuracy(logistic.FIXED, fixed_params, fixed_stats, test_set) >= 0.8
