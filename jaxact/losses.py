"""Loss functions with the documents' (PyTorch) semantics, and the corrected forms.

Each function returns the **unreduced per-example** loss, Float[Array, "batch"] for inputs of
shape (batch, outputs); the caller reduces (`mean`). Element-wise losses (MSE, MAE, BCE) average
over the outputs of an example, so the batch mean equals PyTorch's default mean over all elements.

Which input each expects is the point of the project:
- `bce` takes probabilities (after a sigmoid or softmax), like ``nn.BCELoss``.
- `bce_with_logits` and `cross_entropy` take logits (no output activation).
- `categorical_cross_entropy` is ``nn.CrossEntropyLoss`` as the documents used it: applied to
  whatever it is given. On softmax outputs that is log_softmax(softmax(z)): a double softmax.
Where optax has the function, it is used (`optax.squared_error`, `optax.sigmoid_binary_cross_entropy`,
`optax.softmax_cross_entropy[_with_integer_labels]`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array

LOG_CLAMP = -100.0  # PyTorch's nn.BCELoss clamps log(p) and log(1 - p) at -100


def mse(predictions: Array, targets: Array) -> Array:
    r"""Mean squared error per example: :math:`\frac{1}{K}\sum_k (\hat y_k - y_k)^2`.

    Args:
      predictions: Float[Array, "batch outputs"], on the targets' scale.
      targets: Float[Array, "batch outputs"].
    """
    return jnp.mean(optax.squared_error(predictions, targets), axis=-1)


def mae(predictions: Array, targets: Array) -> Array:
    r"""Mean absolute error (L1) per example: :math:`\frac{1}{K}\sum_k |\hat y_k - y_k|`."""
    return jnp.mean(jnp.abs(predictions - targets), axis=-1)


def rmse(predictions: Array, targets: Array) -> Array:
    r"""The documents' RMSELoss: :math:`\sqrt{\text{mean over the batch of MSE}}`, a scalar.

    Not per-example: the square root of the batch mean is not a mean of per-example terms.
    """
    return jnp.sqrt(jnp.mean(mse(predictions, targets)))


_BCE_GRAD_EPS = 1e-12  # PyTorch's binary_cross_entropy_backward: (p - y) / max(p (1 - p), 1e-12)


@jax.custom_vjp
def bce(probabilities: Array, targets: Array) -> Array:
    r"""Binary cross-entropy on probabilities, ``nn.BCELoss`` per example:

    .. math:: -\frac{1}{K}\sum_k \left[ y_k \max(\ln p_k, -100) + (1 - y_k) \max(\ln(1 - p_k), -100) \right]

    Expects outputs of a sigmoid (or any values in [0, 1]); p = 0 or 1 gives a finite loss, as in
    PyTorch, because of the clamp. The gradient is PyTorch's too,
    :math:`\partial/\partial p_k = \frac{p_k - y_k}{K \max(p_k (1 - p_k), 10^{-12})}`: finite at p = 0 or 1,
    so a saturated output (a softmax over one output is exactly 1) gets no NaN, just no learning.
    """
    return _bce_forward(probabilities, targets)


def _bce_forward(probabilities, targets):
    log_p = jnp.maximum(jnp.log(probabilities), LOG_CLAMP)
    log_not_p = jnp.maximum(jnp.log1p(-probabilities), LOG_CLAMP)
    return -jnp.mean(targets * log_p + (1 - targets) * log_not_p, axis=-1)


def _bce_fwd(probabilities, targets):
    return _bce_forward(probabilities, targets), (probabilities, targets)


def _bce_bwd(residuals, cotangent):
    p, y = residuals
    scale = cotangent[..., None] / p.shape[-1]
    grad_p = scale * (p - y) / jnp.maximum(p * (1 - p), _BCE_GRAD_EPS)
    grad_y = scale * (jnp.maximum(jnp.log1p(-p), LOG_CLAMP) - jnp.maximum(jnp.log(p), LOG_CLAMP))
    return grad_p, grad_y


bce.defvjp(_bce_fwd, _bce_bwd)


def bce_with_logits(logits: Array, targets: Array) -> Array:
    r"""Binary cross-entropy on logits, ``nn.BCEWithLogitsLoss`` per example:

    .. math:: \frac{1}{K}\sum_k \left[ \max(z_k, 0) - z_k y_k + \ln(1 + e^{-|z_k|}) \right]

    Expects raw logits: it applies the sigmoid itself. Given sigmoid or softmax outputs (the
    documents' "BCEWithLogits + softmax"), it computes BCE of sigmoid(softmax(z)).
    """
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, targets), axis=-1)


def categorical_cross_entropy(inputs: Array, targets: Array) -> Array:
    r"""``nn.CrossEntropyLoss`` as the documents used it, on whatever it is given:

    .. math:: -\sum_k y_k \,\text{log\_softmax}(x)_k

    ``targets`` are soft or multi-hot rows (one-hot for classes). On softmax outputs x = softmax(z)
    this is a double softmax: the probabilities are squashed again and the loss can never reach 0.
    """
    return optax.softmax_cross_entropy(inputs, targets)


def categorical_cross_entropy_with_indices(inputs: Array, labels: Array) -> Array:
    r"""As `categorical_cross_entropy` with integer class ``labels``: :math:`-\text{log\_softmax}(x)_y`."""
    return optax.softmax_cross_entropy_with_integer_labels(inputs, labels)


def cross_entropy(logits: Array, targets: Array) -> Array:
    r"""Cross-entropy on logits, the correct form: :math:`-\sum_k y_k \,\text{log\_softmax}(z)_k`.

    The same arithmetic as `categorical_cross_entropy`; the name says what the input must be:
    logits, with softmax only applied to read predictions.
    """
    return optax.softmax_cross_entropy(logits, targets)


def cross_entropy_with_indices(logits: Array, labels: Array) -> Array:
    r"""Cross-entropy on logits with integer class labels: :math:`-\text{log\_softmax}(z)_y`."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def mean_reduced(per_example_loss):
    """`loss(a, b)` -> the batch mean, e.g. `mean_reduced(bce)(p, y)` equals ``nn.BCELoss()(p, y)``."""
    return lambda *args: jnp.mean(per_example_loss(*args))


# Registry names used in the studies' variant tables (the documents' names).
REGISTRY = {
    "mse": mse,
    "mae": mae,
    "bce": bce,
    "bce_with_logits": bce_with_logits,
    "cce": categorical_cross_entropy,
    "cross_entropy": cross_entropy,
}


def get(name: str):
    if name not in REGISTRY:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(REGISTRY)}")
    return REGISTRY[name]
