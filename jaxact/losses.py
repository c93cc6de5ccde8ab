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

import dataclasses
import functools
import warnings
from typing import Callable

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


class ActivatedInputsWarning(UserWarning):
    """A logits loss was given values that look like activated outputs."""


def _report_activated_inputs(loss_name: str, mode, on_simplex, in_unit_interval) -> None:
    if on_simplex:
        message = (f"{loss_name}: every row of its input sums to 1 with values in [0, 1]: these look like softmax "
                   f"outputs, and {loss_name} applies its own squashing (a double softmax). Pass the logits.")
    elif in_unit_interval:
        message = (f"{loss_name}: every input lies in [0, 1]: these look like sigmoid/softmax outputs, and "
                   f"{loss_name} expects logits. Pass the logits.")
    else:
        return
    if mode == "raise":
        raise ValueError(message)
    warnings.warn(message, ActivatedInputsWarning, stacklevel=2)


def _check_logits(loss_name: str, inputs: Array, check_inputs) -> None:
    """The runtime guard of the logits losses (`check_inputs=True` warns, `"raise"` raises).

    It uses `jax.debug.callback` rather than `checkify`: it runs under a plain `jax.jit` (and
    `vmap`, `grad`) without the caller wrapping anything, and leaves the loss values untouched.
    With `check_inputs=False` (the default) nothing is traced, so it costs nothing.
    """
    if not check_inputs:
        return
    in_unit_interval = jnp.all((inputs >= 0) & (inputs <= 1))
    on_simplex = in_unit_interval & jnp.all(jnp.abs(jnp.sum(inputs, axis=-1) - 1) < 1e-3)
    jax.debug.callback(functools.partial(_report_activated_inputs, loss_name, check_inputs), on_simplex, in_unit_interval)


def bce_with_logits(logits: Array, targets: Array, check_inputs: bool | str = False) -> Array:
    r"""Binary cross-entropy on logits, ``nn.BCEWithLogitsLoss`` per example:

    .. math:: \frac{1}{K}\sum_k \left[ \max(z_k, 0) - z_k y_k + \ln(1 + e^{-|z_k|}) \right]

    Expects raw logits: it applies the sigmoid itself. Given sigmoid or softmax outputs (the
    documents' "BCEWithLogits + softmax"), it computes BCE of sigmoid(softmax(z)); with
    ``check_inputs`` it warns (or raises, ``"raise"``) when every input already lies in [0, 1].
    """
    _check_logits("bce_with_logits", logits, check_inputs)
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


def cross_entropy(logits: Array, targets: Array, check_inputs: bool | str = False) -> Array:
    r"""Cross-entropy on logits, the correct form: :math:`-\sum_k y_k \,\text{log\_softmax}(z)_k`.

    The same arithmetic as `categorical_cross_entropy`; the name says what the input must be:
    logits, with softmax only applied to read predictions. With ``check_inputs`` it warns (or
    raises, ``"raise"``) when every row already lies on the probability simplex: softmax outputs.
    """
    _check_logits("cross_entropy", logits, check_inputs)
    return optax.softmax_cross_entropy(logits, targets)


def cross_entropy_with_indices(logits: Array, labels: Array, check_inputs: bool | str = False) -> Array:
    r"""Cross-entropy on logits with integer class labels: :math:`-\text{log\_softmax}(z)_y`."""
    _check_logits("cross_entropy_with_indices", logits, check_inputs)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def mean_reduced(per_example_loss):
    """`loss(a, b)` -> the batch mean, e.g. `mean_reduced(bce)(p, y)` equals ``nn.BCELoss()(p, y)``."""
    return lambda *args: jnp.mean(per_example_loss(*args))


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a loss is, for everything that reasons about it (the study tables' corrected twins,
    `advise`, the checker): a registry entry beside `activations.Spec`.

    expects: what its first argument should be: "logits" (it squashes them itself), "probabilities"
      (in [0, 1]: after a sigmoid or softmax) or "values" (a regression output on the targets' scale).
    squashing: what it applies to its input itself ("softmax", "sigmoid") or None. Feeding it an
      output that already went through that squashing (or the other one) is the documents' mistake.
    aliases: the same loss as optax and PyTorch spell it.
    logits_form_of: for a name that means "`logits_form_of` computed on the logits" (cross_entropy
      is the documents' CCE given the logits), that name.
    """

    name: str
    fn: Callable
    expects: str
    squashing: str | None = None
    aliases: tuple[str, ...] = ()
    logits_form_of: str | None = None


EXPECTS = ("logits", "probabilities", "values")

SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("mse", mse, "values", aliases=("rmse", "squared_error", "l2_loss", "MSELoss", "nn.MSELoss")),
    Spec("mae", mae, "values", aliases=("absolute_error", "L1Loss", "nn.L1Loss")),
    Spec("bce", bce, "probabilities", aliases=("BCELoss", "nn.BCELoss")),
    Spec("bce_with_logits", bce_with_logits, "logits", "sigmoid",
         aliases=("sigmoid_binary_cross_entropy", "BCEWithLogitsLoss", "nn.BCEWithLogitsLoss")),
    # optax's and PyTorch's cross-entropies apply their own log-softmax to whatever they get: the documents' CCE.
    Spec("cce", categorical_cross_entropy, "logits", "softmax",
         aliases=("softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels", "safe_softmax_cross_entropy",
                  "CrossEntropyLoss", "nn.CrossEntropyLoss")),
    Spec("cross_entropy", cross_entropy, "logits", "softmax", logits_form_of="cce"),
]}
NAMES = tuple(SPECS) + tuple(alias for s in SPECS.values() for alias in s.aliases)  # every name `spec` accepts


def spec(name: str) -> Spec:
    """The spec of a registry name, or of an optax / PyTorch name of the same loss.

    Read from `SPECS` on every call, so a loss added there (a user's, or a test's) is known everywhere."""
    if name not in SPECS:
        name = next((s.name for s in SPECS.values() if name in s.aliases), name)
    if name not in SPECS:
        valid = tuple(SPECS) + tuple(alias for s in SPECS.values() for alias in s.aliases)
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(valid)}")
    return SPECS[name]


def get(name: str):
    """The per-example loss function of a registry name."""
    if name not in SPECS:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(SPECS)}")
    return SPECS[name].fn
