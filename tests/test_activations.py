"""Activations against independent float64 NumPy formulas, their gradients, and metadata.

Tolerances per dtype: float32 rtol 1e-5 / atol 1e-6 (a few ulps of exp/log1p); bfloat16
rtol 2e-2 / atol 2e-2 (8 mantissa bits, eps 3.9e-3, a few roundings).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxact import activations as A

F32 = dict(rtol=1e-5, atol=1e-6)
BF16 = dict(rtol=2e-2, atol=2e-2)
EDGES = np.array([0.0, 1e-7, -1e-7, 15.0, -15.0, 40.0, -40.0, 100.0, -100.0])
GRID = np.concatenate([np.linspace(-20, 20, 4001), EDGES])


def _sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _erf(x):
    from math import erf
    return np.vectorize(erf)(x)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
REFERENCES = {
    "identity": lambda x: x,
    "step": lambda x: (x >= 0).astype(np.float64),
    "threshold": lambda x: np.where(x > 0.5, x, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "leaky_relu_0.01": lambda x: np.where(x >= 0, x, 0.01 * x),
    "leaky_relu_0.1": lambda x: np.where(x >= 0, x, 0.1 * x),
    "prelu": lambda x: np.maximum(x, 0) + 0.25 * np.minimum(x, 0),
    "rrelu": lambda x: np.where(x >= 0, x, 11 / 48 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "softplus": _softplus,
}


def _apply(name, x):
    return A.get(name)(x)  # evaluation mode (RReLU at its mean slope)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float32_values_match_reference(name):
    got = np.asarray(jax.jit(lambda x: _apply(name, x))(jnp.asarray(GRID, jnp.float32)), np.float64)
    np.testing.assert_allclose(got, REFERENCES[name](GRID.astype(np.float32).astype(np.float64)), **F32)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_bfloat16_values_match_reference(name):
    x = jnp.asarray(np.linspace(-8, 8, 801), jnp.bfloat16)
    got = _apply(name, x)
    assert got.dtype == jnp.bfloat16
    ref = REFERENCES[name](np.asarray(x, np.float64))
    np.testing.assert_allclose(np.asarray(got, np.float64), ref, **BF16)


@pytest.mark.parametrize("name, at_plus_inf, at_minus_inf", [
    ("sigmoid", 1.0, 0.0), ("tanh", 1.0, -1.0), ("relu", np.inf, 0.0), ("leaky_relu_0.1", np.inf, -np.inf),
    ("elu", np.inf, -1.0), ("softplus", np.inf, 0.0), ("hard_tanh", 1.0, -1.0), ("step", 1.0, 0.0)])
def test_infinities(name, at_plus_inf, at_minus_inf):
    got = _apply(name, jnp.array([np.inf, -np.inf], jnp.float32))
    assert got.tolist() == [at_plus_inf, at_minus_inf]


def test_sigmoid_worked_example_of_document_001():
    # 0.5*0.1 + 0.5*0.4 + 0.8*(-0.9) + 1.0 = 0.53 -> sigmoid = 0.629483
    assert float(A.sigmoid(jnp.float32(0.53))) == pytest.approx(0.629483, abs=5e-7)


def test_tanh_is_a_rescaled_sigmoid():
    x = jnp.asarray(GRID, jnp.float32)
    np.testing.assert_allclose(A.tanh(x), 2 * A.sigmoid(2 * x) - 1, atol=2e-7 * 8)


def test_logit_inverts_sigmoid_where_float32_can():
    x = np.linspace(-15, 15, 3001).astype(np.float32)
    round_trip = np.asarray(A.logit(A.sigmoid(jnp.asarray(x))), np.float64)
    # 1 - sigmoid(x) keeps ~6e-8 absolute precision near 1, so the error grows like 6e-8 * e^x
    np.testing.assert_array_less(np.abs(round_trip - x), 1e-5 + 1.2e-7 * np.exp(x))


def test_float32_sigmoid_saturates_to_exactly_one():
    """Document 000's reason the sigmoid-on-labels trick fails: sigmoid(x) == 1.0 from x ~ 16.6."""
    lo, hi = np.float32(10.0), np.float32(30.0)
    for _ in range(60):
        mid = np.float32((lo + hi) / 2)
        lo, hi = (lo, mid) if float(A.sigmoid(jnp.float32(mid))) == 1.0 else (mid, hi)
    assert 16.0 < hi < 17.5
    assert 1.0 - _sigmoid(np.float64(hi)) > 0  # mathematically not 1 ...
    assert float(A.sigmoid(jnp.float32(hi))) == 1.0  # ... but float32 says it is,
    assert float(A.logit(A.sigmoid(jnp.float32(hi)))) == np.inf  # so the inverse cannot recover x


def test_silu_minimum():
    x = jnp.linspace(-4, 0, 400_001)
    y = A.silu(x)
    i = int(jnp.argmin(y))
    assert float(y[i]) == pytest.approx(-0.2785, abs=1e-4) and float(x[i]) == pytest.approx(-1.2785, abs=1e-3)


def test_softmax_family():
    z = jax.random.normal(jax.random.key(0), (64, 10)) * 5
    np.testing.assert_allclose(jnp.sum(A.softmax(z), axis=-1), 1.0, rtol=1e-6)
    assert A.softmax(jnp.array([[1000.0], [-5.0], [0.0]])).tolist() == [[1.0], [1.0], [1.0]]
    np.testing.assert_allclose(A.softmin(z), A.softmax(-z), rtol=1e-6)
    np.testing.assert_allclose(A.log_softmax(z), jnp.log(A.softmax(z)), atol=1e-5)
    big = A.log_softmax(jnp.array([[1000.0, 0.0, -1000.0]]))
    assert np.isfinite(np.asarray(big)).all()
    np.testing.assert_allclose(big, [[0.0, -1000.0, -2000.0]])


def test_maxout_takes_max_over_pieces():
    x = jnp.array([[1.0, 5.0, -2.0, -3.0, 0.5, 0.25]])
    assert A.maxout(x, pieces=2).tolist() == [[5.0, -2.0, 0.5]]
    assert A.maxout(x, pieces=3).tolist() == [[5.0, 0.5]]
    with pytest.raises(ValueError, match="divisible"):
        A.maxout(x, pieces=4)


def test_gradients_against_analytic_derivatives():
    x = jnp.asarray(np.linspace(-10, 10, 2001), jnp.float32)
    d_sigmoid = jax.vmap(jax.grad(A.sigmoid))(x)
    s = A.sigmoid(x)
    np.testing.assert_allclose(d_sigmoid, s * (1 - s), atol=1e-7)
    assert float(jnp.max(d_sigmoid)) == pytest.approx(0.25) and float(x[jnp.argmax(d_sigmoid)]) == 0.0
    np.testing.assert_allclose(jax.vmap(jax.grad(A.tanh))(x), 1 - jnp.tanh(x) ** 2, atol=1e-6)
    assert set(np.unique(np.asarray(jax.vmap(jax.grad(A.relu))(x))).tolist()) == {0.0, 1.0}
    elu_grad = jax.grad(A.elu)
    assert float(elu_grad(jnp.float32(-1e-6))) == pytest.approx(1.0, abs=1e-5)
    assert float(elu_grad(jnp.float32(1e-6))) == 1.0
    check_grads(A.sigmoid, (jnp.linspace(-5.0, 5.0, 11),), order=2, modes=["rev"])
    check_grads(A.silu, (jnp.linspace(-5.0, 5.0, 11),), order=2, modes=["rev"])


def test_prelu_gradient_with_respect_to_its_slope():
    x = jnp.array([-2.0, -0.5, 1.0, 3.0])
    grad = jax.grad(lambda a: jnp.sum(A.prelu(x, a)))(jnp.float32(0.25))
    assert float(grad) == pytest.approx(-2.5)  # sum of min(0, x)
    check_grads(lambda a: A.prelu(x, a), (jnp.float32(0.3),), order=1, modes=["rev"])


def test_rrelu_random_in_training_mean_in_evaluation():
    module = A.get("rrelu")
    x = -jnp.ones((10_000,))
    slopes = -np.asarray(module(x, key=jax.random.key(0)))
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3 and len(np.unique(slopes)) > 9_000
    assert abs(slopes.mean() - 11 / 48) < 0.005
    np.testing.assert_allclose(module(x), -11 / 48 * np.ones(10_000), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(A.REGISTRY))
def test_every_activation_under_jit_vmap_grad_and_bfloat16(name):
    module = A.get(name)
    lo, hi = A.spec(name).domain
    x = jnp.linspace(max(lo, -3.0) + 0.05, min(hi, 3.0) - 0.05, 8).reshape(2, 4)
    direct = module(x)
    np.testing.assert_allclose(jax.jit(lambda v: module(v))(x), direct, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(lambda v: module(v))(x), direct, rtol=1e-6)
    grads = jax.grad(lambda v: jnp.sum(module(v)))(x)
    assert grads.shape == x.shape and np.isfinite(np.asarray(grads)).all()
    low = module(x.astype(jnp.bfloat16))
    assert low.dtype == jnp.bfloat16 and np.isfinite(np.asarray(low, np.float32)).all()


def test_registry_names_and_unknown_name():
    assert set(A.HPO_NAMES) <= set(A.REGISTRY)
    with pytest.raises(ValueError, match="unknown activation 'swoosh'; valid activations: identity, step"):
        A.get("swoosh")


def test_property_table_of_document_001():
    """Range / zero-centered / trainable, as document 001's table (computed, not typed)."""
    inf = np.inf
    table = {
        "sigmoid": ((0.0, 1.0), False, 0), "relu": ((0.0, inf), False, 0),
        "leaky_relu_0.01": ((-inf, inf), False, 0), "prelu": ((-inf, inf), False, 1),
        "elu": ((-1.0, inf), True, 0), "tanh": ((-1.0, 1.0), True, 0),
        "silu": ((-0.278, inf), True, 0), "softmax": ((0.0, 1.0), None, 0),
    }
    for name, (value_range, zero_centered, trainable) in table.items():
        meta = A.metadata(name)
        assert (meta.range, meta.zero_centered, meta.trainable_parameters) == (value_range, zero_centered, trainable), name


def test_monotonic_smooth_and_initializer_pairing():
    assert not A.metadata("silu").monotonic and A.metadata("relu").monotonic
    assert A.metadata("elu").smooth and not A.metadata("relu").smooth and not A.metadata("selu").smooth
    assert {n: A.metadata(n).initializer for n in ("sigmoid", "tanh", "relu", "prelu")} == {
        "sigmoid": "glorot", "tanh": "glorot", "relu": "he", "prelu": "he"}


def test_an_activation_site_applies_the_candidate_it_is_given():
    from jaxact import models

    site = models.ActivationSite(("relu", "tanh", "prelu"))
    x = jnp.array([-1.0, 2.0])
    np.testing.assert_allclose(site(x, 1), jnp.tanh(x))
    np.testing.assert_allclose(site(x, jnp.int32(2)), [-0.25, 2.0])
    np.testing.assert_allclose(jax.jit(lambda i: site(x, i))(jnp.int32(0)), [0.0, 2.0])
