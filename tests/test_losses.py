"""Losses against float64 NumPy formulas, PyTorch's semantics, and optax where they overlap."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import warnings

import pytest
from jax.test_util import check_grads

from jaxact import losses as L

F32 = dict(rtol=1e-5, atol=1e-6)
RNG = np.random.default_rng(0)
B, K = 64, 10


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _inputs():
    logits = RNG.normal(size=(B, K)) * 3
    probabilities = 1 / (1 + np.exp(-logits))
    multi_hot = (RNG.random((B, K)) < 0.4).astype(np.float64)
    one_hot = np.eye(K)[RNG.integers(0, K, B)]
    return logits, probabilities, multi_hot, one_hot


def _f32(*arrays):
    return [jnp.asarray(a, jnp.float32) for a in arrays]


def test_regression_losses():
    p, y = RNG.normal(size=(B, 3)), RNG.normal(size=(B, 3))
    jp, jy = _f32(p, y)
    np.testing.assert_allclose(jax.jit(L.mse)(jp, jy), ((p - y) ** 2).mean(-1), **F32)
    np.testing.assert_allclose(L.mae(jp, jy), np.abs(p - y).mean(-1), **F32)
    assert float(L.rmse(jp, jy)) == pytest.approx(np.sqrt(((p - y) ** 2).mean()), rel=1e-5)
    assert L.mse(jp, jy).shape == (B,)


def test_bce_matches_pytorch_formula_with_clamp():
    _, p, y, _ = _inputs()
    expected = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100)).mean(-1)
    np.testing.assert_allclose(jax.jit(L.bce)(*_f32(p, y)), expected, **F32)


def test_bce_at_zero_and_one_is_finite():
    p = jnp.array([[0.0], [1.0], [0.0], [1.0]])
    y = jnp.array([[1.0], [0.0], [0.0], [1.0]])
    assert L.bce(p, y).tolist() == [100.0, 100.0, 0.0, 0.0]
    grads = jax.grad(lambda q: jnp.sum(L.bce(q, y)))(jnp.array([[0.5], [0.5], [0.5], [0.5]]))
    assert np.isfinite(np.asarray(grads)).all()


def test_bce_with_logits_matches_stable_formula_and_optax():
    z, _, y, _ = _inputs()
    expected = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(-1)
    jz, jy = _f32(z, y)
    np.testing.assert_allclose(jax.jit(L.bce_with_logits)(jz, jy), expected, **F32)
    np.testing.assert_allclose(L.bce_with_logits(jz, jy), optax.sigmoid_binary_cross_entropy(jz, jy).mean(-1))


def test_bce_with_logits_equals_bce_of_sigmoid_where_both_finite():
    # Within |z| <= 8 float32 keeps 1 - sigmoid(z) to ~2e-4 relative; beyond, BCE on probabilities
    # drifts (at z = 12 it is off by 0.07 %), which is why the logits form exists.
    z = jnp.linspace(-8.0, 8.0, 97).reshape(-1, 1)
    y = (jnp.arange(97) % 2).astype(jnp.float32).reshape(-1, 1)
    np.testing.assert_allclose(L.bce_with_logits(z, y), L.bce(jax.nn.sigmoid(z), y), rtol=5e-4, atol=1e-5)


def test_bce_with_logits_stays_exact_where_bce_saturates():
    z = jnp.array([[200.0], [-200.0]])
    y = jnp.array([[0.0], [1.0]])
    assert L.bce_with_logits(z, y).tolist() == [200.0, 200.0]
    assert L.bce(jax.nn.sigmoid(z), y).tolist() == [100.0, 100.0]  # the clamp, not the true loss


def test_categorical_cross_entropy_on_softmax_is_a_double_softmax():
    z, _, multi_hot, one_hot = _inputs()
    probabilities = np.exp(_log_softmax(z))
    for targets in (one_hot, multi_hot):
        expected = -(targets * _log_softmax(probabilities)).sum(-1)
        np.testing.assert_allclose(
            jax.jit(L.categorical_cross_entropy)(*_f32(probabilities, targets)), expected, **F32)
    # a double softmax can never reach zero loss, even on a perfect prediction
    perfect = jnp.eye(K)
    assert float(jnp.min(L.categorical_cross_entropy(perfect, perfect))) > 1.4


def test_cross_entropy_on_logits_and_index_form():
    z, _, _, one_hot = _inputs()
    jz, jy = _f32(z, one_hot)
    expected = -(one_hot * _log_softmax(z)).sum(-1)
    np.testing.assert_allclose(L.cross_entropy(jz, jy), expected, **F32)
    labels = jnp.asarray(one_hot.argmax(-1))
    np.testing.assert_allclose(L.cross_entropy_with_indices(jz, labels), L.cross_entropy(jz, jy), **F32)
    np.testing.assert_allclose(L.categorical_cross_entropy_with_indices(jz, labels), expected, **F32)
    np.testing.assert_allclose(L.cross_entropy(jz, jy), optax.softmax_cross_entropy(jz, jy))


def test_single_output_cross_entropy_is_identically_zero():
    """The documents' probability task with CCE: log_softmax over one output is 0, so no gradient."""
    z = jnp.array([[3.0], [-2.0]])
    y = jnp.array([[1.0], [0.0]])
    assert L.categorical_cross_entropy(z, y).tolist() == [0.0, 0.0]
    assert jax.grad(lambda v: jnp.sum(L.categorical_cross_entropy(v, y)))(z).tolist() == [[0.0], [0.0]]


def test_gradients():
    z, _, y, _ = _inputs()
    jz, jy = _f32(z[:4], y[:4])
    # float32 finite differences: step 1e-2 and 1e-2 tolerances (float64 is off in this project)
    tolerance = dict(order=1, modes=["rev"], eps=1e-2, atol=1e-2, rtol=1e-2)
    check_grads(lambda v: L.bce_with_logits(v, jy), (jz,), **tolerance)
    check_grads(lambda v: L.cross_entropy(v, jy), (jz,), **tolerance)
    check_grads(lambda v: L.bce(jax.nn.sigmoid(v), jy), (jz,), **tolerance)


def test_mean_reduction_and_registry():
    _, p, y, _ = _inputs()
    jp, jy = _f32(p, y)
    assert float(L.mean_reduced(L.bce)(jp, jy)) == pytest.approx(float(jnp.mean(L.bce(jp, jy))))
    assert set(L.SPECS) == {"mse", "mae", "bce", "bce_with_logits", "cce", "cross_entropy"}
    with pytest.raises(ValueError, match="unknown loss 'hinge'; valid losses: mse"):
        L.get("hinge")


def test_rank_mismatch_is_an_error_not_a_broadcast():
    for loss in (L.mse, L.bce_with_logits, L.mae, L.bce):
        with pytest.raises(ValueError, match="rank_promotion|Shape mismatch"):
            loss(jnp.zeros((8, 1)), jnp.zeros((8,)))


def test_bce_gradient_is_pytorchs_and_finite_at_saturation():
    p = jnp.array([[0.3, 0.9], [1.0, 0.0]])
    y = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    grad = jax.grad(lambda q: jnp.sum(L.bce(q, y)))(p)
    expected = (p - y) / jnp.maximum(p * (1 - p), 1e-12) / 2
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    assert np.isfinite(np.asarray(grad)).all()
    # through a softmax over one output (always 1): zero gradient, not NaN
    z = jnp.array([[0.4], [-1.3]])
    through = jax.grad(lambda v: jnp.sum(L.bce(jax.nn.softmax(v, axis=-1), jnp.array([[0.0], [1.0]]))))(z)
    assert through.tolist() == [[0.0], [0.0]]


# --- the runtime guard of the logits losses ---

Z = jax.random.normal(jax.random.key(0), (32, 10)) * 3
Y = jax.nn.one_hot(jnp.arange(32) % 10, 10)


@pytest.mark.parametrize("loss", [L.cross_entropy, L.bce_with_logits])
def test_guard_fires_on_softmax_outputs_under_jit(loss):
    checked = jax.jit(lambda z, y: loss(z, y, check_inputs=True))
    with pytest.warns(L.ActivatedInputsWarning, match="Pass the logits"):
        jax.block_until_ready(checked(jax.nn.softmax(Z), Y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(checked(Z, Y), loss(Z, Y))  # raw logits: silent, same values


def test_guard_on_sigmoid_outputs_and_raise_mode():
    with pytest.warns(L.ActivatedInputsWarning, match="in \\[0, 1\\]"):
        jax.block_until_ready(jax.jit(lambda z: L.bce_with_logits(z, Y, check_inputs=True))(jax.nn.sigmoid(Z)))
    with pytest.raises(Exception, match="double softmax"):
        jax.block_until_ready(jax.jit(lambda z: L.cross_entropy(z, Y, check_inputs="raise"))(jax.nn.softmax(Z)))


def test_guard_off_traces_nothing():
    jaxpr = jax.make_jaxpr(lambda z: L.cross_entropy(z, Y))(Z)
    assert "callback" not in str(jaxpr)
    assert "callback" in str(jax.make_jaxpr(lambda z: L.cross_entropy(z, Y, check_inputs=True))(Z))
