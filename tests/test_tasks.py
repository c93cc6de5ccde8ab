"""Label maps against the documents' tables, and metrics on hand-made inputs."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxact import tasks

DIGITS = np.arange(10)


def test_regression_strokes_and_holes():
    expected = {0: 2, 1: 1, 2: 2, 3: 2, 4: 6, 5: 3, 6: 3, 7: 2, 8: 4, 9: 3}
    assert tasks.get_task("regression").targets(DIGITS)[:, 0].tolist() == [expected[d] for d in DIGITS]


def test_probability_and_binary_curved_digits():
    curved = [1.0 if d in (0, 3, 6, 8, 9) else 0.0 for d in DIGITS]
    assert tasks.get_task("probability").targets(DIGITS)[:, 0].tolist() == curved
    binary = tasks.get_task("binary").targets(DIGITS)
    assert binary.argmax(1).tolist() == [int(c) for c in curved] and (binary.sum(1) == 1).all()


def test_multiclass_one_hot():
    np.testing.assert_array_equal(tasks.get_task("multiclass").targets(DIGITS), np.eye(10))


def test_multilabel_even_prime_curved_square():
    table = tasks.get_task("multilabel").targets(DIGITS).astype(int).tolist()
    assert table == [
        [1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1],
        [0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1],
    ]


def test_output_sizes_and_direction():
    assert {n: t.num_outputs for n, t in tasks.TASKS.items()} == {
        "regression": 1, "probability": 1, "binary": 2, "multiclass": 10, "multilabel": 4}
    assert [n for n, t in tasks.TASKS.items() if not t.higher_is_better] == ["regression"]


def test_unknown_task_lists_valid_ones():
    with pytest.raises(ValueError, match="regression, probability, binary, multiclass, multilabel"):
        tasks.get_task("ranking")


def test_multilabel_accuracy_counts_each_output():
    targets = jnp.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    predictions = jnp.array([[0.9, 0.1, 0.4, 0.5], [0.2, 0.7, 0.1, 0.6]])
    # row 0: 3 of 4 right (0.4 -> 0 is wrong); row 1: 3 of 4 right (0.7 -> 1 is wrong)
    assert float(tasks.get_task("multilabel").metric(predictions, targets)) == pytest.approx(6 / 8)


def test_argmax_and_threshold_accuracy():
    binary = tasks.get_task("binary")
    assert float(binary.metric(jnp.array([[0.2, 0.8], [0.6, 0.4]]), jnp.array([[0.0, 1.0], [0.0, 1.0]]))) == 0.5
    probability = tasks.get_task("probability")
    # a softmax over one output is exactly 1: it predicts "curved" for every image
    assert float(probability.metric(jnp.ones((4, 1)), jnp.array([[1.0], [0.0], [1.0], [1.0]]))) == 0.75


def test_regression_mse_on_original_scale():
    regression = tasks.get_task("regression")
    assert float(regression.metric(jnp.array([[2.0], [4.0]]), jnp.array([[1.0], [6.0]]))) == pytest.approx(2.5)


def test_constant_baselines():
    digits = np.arange(10).repeat([5, 20, 5, 5, 5, 5, 5, 5, 5, 5])
    assert tasks.get_task("multiclass").constant_baseline(digits, digits) == pytest.approx(20 / 65)
    mse = tasks.get_task("regression").constant_baseline(digits, digits)
    values = tasks.get_task("regression").targets(digits)
    assert mse == pytest.approx(float(values.var()), rel=1e-5)


@pytest.mark.parametrize("name", ["standardize", "sigmoid", "standardize_sigmoid"])
def test_label_transforms_round_trip(name):
    transform = tasks.get_label_transform(name)
    y = jnp.array([[1.0], [2.0], [3.0], [4.0], [6.0]])
    stats = tasks.label_stats(y)
    np.testing.assert_allclose(transform.inverse(transform.forward(y, stats), stats), y, rtol=1e-4)


def test_standardize_uses_population_std():
    y = jnp.array([[1.0], [3.0]])
    mean, std = tasks.label_stats(y)
    assert float(mean[0, 0]) == 2.0 and float(std[0, 0]) == 1.0
