"""Every activation function the documents name: pure functions, NNX modules, a registry, metadata.

Pure functions take and return arrays of any float dtype (float32, bfloat16) and work under
`jit`, `vmap` and `grad`. Modules wrap them for the CNN; only PReLU (a learnable slope) and
RReLU (a random slope, so a `key` in training) need more than the function. `get(name)` builds
a fresh module; unknown names fail with the list of valid ones. `metadata(name)` computes the
properties of document 001's table (range, zero-centered, trainable) and more.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Array = jax.Array


def identity(x: Array) -> Array:
    r""":math:`f(x) = x` (no output activation: the regression default)."""
    return x


def step(x: Array) -> Array:
    r"""Heaviside step, the perceptron's activation: :math:`f(x) = 1` if :math:`x \ge 0` else 0.

    Its derivative is 0 almost everywhere, which is why it cannot be trained by gradients.
    """
    return jnp.where(x >= 0, jnp.ones_like(x), jnp.zeros_like(x))


def threshold(x: Array, threshold: float = 0.5, value: float = 0.0) -> Array:
    r"""PyTorch's ``nn.Threshold``: :math:`f(x) = x` if :math:`x > \text{threshold}` else ``value``."""
    return jnp.where(x > threshold, x, jnp.full_like(x, value))


def sigmoid(x: Array) -> Array:
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, range (0, 1); :math:`\sigma' = \sigma(1 - \sigma) \le 0.25`."""
    return jax.nn.sigmoid(x)


def logit(p: Array) -> Array:
    r"""The inverse of the sigmoid: :math:`\text{logit}(p) = \ln \frac{p}{1 - p}`, for p in (0, 1).

    In float32 :math:`\sigma(x)` is exactly 1.0 from x ~ 16.6 on, so logit(sigmoid(x)) is +inf there:
    why document 000 rejects squashing regression targets with a sigmoid.
    """
    return jnp.log(p) - jnp.log1p(-p)


def tanh(x: Array) -> Array:
    r""":math:`\tanh(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}} = 2\sigma(2x) - 1`, range (-1, 1)."""
    return jnp.tanh(x)


def hard_tanh(x: Array, min_val: float = -1.0, max_val: float = 1.0) -> Array:
    r""":math:`f(x) = \min(\max(x, \text{min\_val}), \text{max\_val})`."""
    return jnp.clip(x, min_val, max_val)


def relu(x: Array) -> Array:
    r""":math:`f(x) = \max(0, x)`; derivative 0 for x < 0 and 1 for x > 0 (JAX uses 0 at 0)."""
    return jax.nn.relu(x)


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    r""":math:`f(x) = x` if :math:`x \ge 0` else :math:`a x` with fixed ``negative_slope`` a."""
    return jnp.where(x >= 0, x, negative_slope * x)


def prelu(x: Array, slope: Array) -> Array:
    r""":math:`f(x) = \max(0, x) + a \min(0, x)` with a learnable slope a (PyTorch starts it at 0.25)."""
    slope = jnp.reshape(jnp.asarray(slope), ()).astype(x.dtype)  # one slope for all channels
    return jnp.where(x >= 0, x, slope * x)


RRELU_LOWER, RRELU_UPPER = 1.0 / 8.0, 1.0 / 3.0


def rrelu(x: Array, key: Array | None = None, lower: float = RRELU_LOWER, upper: float = RRELU_UPPER) -> Array:
    r"""Randomized leaky ReLU: :math:`f(x) = x` if :math:`x \ge 0` else :math:`a x`.

    Training (a ``key`` given): :math:`a \sim U(\text{lower}, \text{upper})` per element.
    Evaluation (``key=None``): the mean slope :math:`(\text{lower} + \text{upper}) / 2` (11/48 by default).
    """
    if key is None:
        slope = jnp.asarray((lower + upper) / 2, x.dtype)
    else:
        slope = jax.random.uniform(key, x.shape, jnp.float32, lower, upper).astype(x.dtype)
    return jnp.where(x >= 0, x, slope * x)


def elu(x: Array, alpha: float = 1.0) -> Array:
    r""":math:`f(x) = x` if :math:`x > 0` else :math:`\alpha (e^x - 1)`; range :math:`(-\alpha, \infty)`, C1 at 0 iff alpha = 1."""
    return jax.nn.elu(x, alpha)


def selu(x: Array) -> Array:
    r""":math:`f(x) = \lambda x` if :math:`x > 0` else :math:`\lambda \alpha (e^x - 1)`, :math:`\lambda \approx 1.0507, \alpha \approx 1.6733`."""
    return jax.nn.selu(x)


def gelu(x: Array) -> Array:
    r"""Exact GELU: :math:`f(x) = x \Phi(x) = \frac{x}{2}(1 + \text{erf}(x / \sqrt 2))`."""
    return jax.nn.gelu(x, approximate=False)


def gelu_tanh(x: Array) -> Array:
    r"""GELU, tanh form: :math:`\frac{x}{2}(1 + \tanh(\sqrt{2/\pi}(x + 0.044715 x^3)))`."""
    return jax.nn.gelu(x, approximate=True)


def silu(x: Array) -> Array:
    r"""SiLU / Swish: :math:`f(x) = x \sigma(x)`; minimum ~ -0.278 at x ~ -1.278, not monotonic."""
    return jax.nn.silu(x)


def mish(x: Array) -> Array:
    r""":math:`f(x) = x \tanh(\text{softplus}(x))`."""
    return x * jnp.tanh(jax.nn.softplus(x))


def softplus(x: Array) -> Array:
    r""":math:`f(x) = \ln(1 + e^x)`, a smooth ReLU."""
    return jax.nn.softplus(x)


def maxout(x: Array, pieces: int = 2) -> Array:
    r"""Maxout over features: :math:`f(x)_j = \max_{i < k} x_{jk + i}`; the last axis shrinks k-fold."""
    if x.shape[-1] % pieces:
        raise ValueError(f"maxout needs the feature count ({x.shape[-1]}) divisible by pieces ({pieces})")
    return jnp.max(x.reshape(*x.shape[:-1], x.shape[-1] // pieces, pieces), axis=-1)


def softmax(x: Array) -> Array:
    r""":math:`\text{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}` over the last axis; of one output it is 1."""
    return jax.nn.softmax(x, axis=-1)


def softmin(x: Array) -> Array:
    r""":math:`\text{softmin}(x) = \text{softmax}(-x)`."""
    return jax.nn.softmax(-x, axis=-1)


def log_softmax(x: Array) -> Array:
    r""":math:`x_i - \ln \sum_j e^{x_j}`, computed without overflow (max subtracted)."""
    return jax.nn.log_softmax(x, axis=-1)


class Activation(nnx.Module):
    """A parameter-free activation as a module: `module(x, key=None)`."""

    def __init__(self, fn: Callable[[Array], Array]):
        self.fn = fn

    def __call__(self, x: Array, key: Array | None = None) -> Array:
        del key
        return self.fn(x)


class PReLU(nnx.Module):
    """PReLU with one learnable slope (PyTorch's ``nn.PReLU()``: one parameter, initialized 0.25)."""

    def __init__(self, init: float = 0.25):
        self.slope = nnx.Param(jnp.full((1,), init, jnp.float32))

    def __call__(self, x: Array, key: Array | None = None) -> Array:
        del key
        return prelu(x, self.slope[...])


class RReLU(nnx.Module):
    """RReLU: a random slope per element when called with a `key` (training), the mean without."""

    def __init__(self, lower: float = RRELU_LOWER, upper: float = RRELU_UPPER):
        self.lower, self.upper = lower, upper

    def __call__(self, x: Array, key: Array | None = None) -> Array:
        return rrelu(x, key, self.lower, self.upper)


@dataclasses.dataclass(frozen=True)
class Spec:
    """A registry entry. `initializer` is the documents' pairing (004: sigmoid/tanh -> Glorot,
    ReLU family -> He); `elementwise` is False for the ones that act across the last axis."""

    name: str
    fn: Callable[..., Array]
    make: Callable[[], nnx.Module]
    initializer: str | None
    elementwise: bool = True
    random: bool = False  # needs a key in training (RReLU)
    domain: tuple[float, float] = (-np.inf, np.inf)  # where it is defined (logit: (0, 1))


def _spec(name, fn, initializer, elementwise=True, make=None, **fields):
    return Spec(name, fn, make or (lambda: Activation(fn)), initializer, elementwise, **fields)


_GLOROT, _HE = "glorot", "he"
REGISTRY: dict[str, Spec] = {s.name: s for s in [
    _spec("identity", identity, _GLOROT),
    _spec("step", step, None),
    _spec("threshold", threshold, None),
    _spec("sigmoid", sigmoid, _GLOROT),
    _spec("logit", logit, None, domain=(0.0, 1.0)),
    _spec("tanh", tanh, _GLOROT),
    _spec("hard_tanh", hard_tanh, _GLOROT),
    _spec("relu", relu, _HE),
    _spec("leaky_relu", leaky_relu, _HE),
    _spec("leaky_relu_0.01", functools.partial(leaky_relu, negative_slope=0.01), _HE),
    _spec("leaky_relu_0.1", functools.partial(leaky_relu, negative_slope=0.1), _HE),
    _spec("prelu", lambda x: prelu(x, 0.25), _HE, make=PReLU),
    _spec("rrelu", rrelu, _HE, make=RReLU, random=True),
    _spec("elu", elu, _HE),
    _spec("selu", selu, "lecun"),
    _spec("gelu", gelu, _HE),
    _spec("gelu_tanh", gelu_tanh, _HE),
    _spec("silu", silu, _HE),
    _spec("swish", silu, _HE),
    _spec("mish", mish, _HE),
    _spec("softplus", softplus, _HE),
    _spec("maxout", maxout, _HE, elementwise=False),
    _spec("softmax", softmax, None, elementwise=False),
    _spec("softmin", softmin, None, elementwise=False),
    _spec("log_softmax", log_softmax, None, elementwise=False),
]}

HPO_NAMES = ("sigmoid", "relu", "leaky_relu_0.01", "leaky_relu_0.1", "prelu", "elu", "tanh", "silu")


def spec(name: str) -> Spec:
    if name not in REGISTRY:
        raise ValueError(f"unknown activation {name!r}; valid activations: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def get(name: str) -> nnx.Module:
    """A fresh module for `name` (PReLU gets its own slope)."""
    return spec(name).make()


def function(name: str) -> Callable[[Array], Array]:
    """The pure function of `name`, parameters at their initial values (PReLU slope 0.25)."""
    return spec(name).fn


@dataclasses.dataclass(frozen=True)
class Metadata:
    """Properties computed from the function itself (see `metadata`)."""

    name: str
    range: tuple[float, float]
    zero_centered: bool | None
    mean_on_symmetric_input: float
    trainable_parameters: int
    monotonic: bool | None
    smooth: bool | None
    initializer: str | None


ZERO_CENTERED_TOLERANCE = 0.25


@functools.lru_cache(maxsize=None)
def metadata(name: str) -> Metadata:
    """Computes document 001's property table for one activation.

    - range: min and max of f over [-1e6, 1e6] (a dense grid near 0, wide points beyond), with
      values beyond ±1e3 reported as ±inf; vector activations (softmax...) over random vectors.
    - zero-centered: :math:`|E[f(x)]| < 0.25` for :math:`x \\sim N(0, 1)` (quantile grid). With this
      bound the table reproduces document 001: ELU (0.16), tanh (0), SiLU (0.21) centered; ReLU (0.40),
      leaky ReLU (0.39), PReLU (0.30), sigmoid (0.5) not.
    - trainable parameters: the module's `nnx.Param` count.
    - monotonic: f non-decreasing on the grid; smooth: f and jax.grad(f) continuous on the grid.
    """
    entry = spec(name)
    module = entry.make()
    trainable = sum(int(np.size(v)) for v in jax.tree.leaves(nnx.state(module, nnx.Param)))
    fn = lambda x: module(x)  # noqa: E731  (evaluation mode: RReLU at its mean slope)
    if entry.elementwise:
        grid = np.concatenate([-np.logspace(6, 1, 60), np.linspace(-10, 10, 20_001), np.logspace(1, 6, 60)])
        lo_x, hi_x = entry.domain
        bounded = np.isfinite(lo_x) and np.isfinite(hi_x)
        if bounded:  # the open interval's ends too: that is where logit's range is reached
            grid = np.concatenate([[lo_x], grid, [hi_x]])
        domain = (grid >= lo_x) & (grid <= hi_x) if bounded else np.ones_like(grid, bool)
        x = jnp.asarray(grid[domain], jnp.float32)
        y = np.asarray(fn(x), np.float64)
        fine = (np.abs(grid[domain]) <= 6) & np.isfinite(y)
        dy = np.asarray(jax.vmap(jax.grad(fn))(x), np.float64)
        monotonic = bool(np.all(np.diff(y[np.isfinite(y)]) >= -1e-6))
        smooth = bool(np.max(np.abs(np.diff(y[fine]))) < 1e-2 and np.max(np.abs(np.diff(dy[fine]))) < 1e-2)
        levels = jnp.linspace(0.0005, 0.9995, 2000)
        # "symmetric input": N(0, 1) quantiles, or evenly over a bounded domain
        symmetric = lo_x + (hi_x - lo_x) * levels if bounded else jax.scipy.special.ndtri(levels)
        mean = float(jnp.mean(fn(symmetric)))
        zero_centered = abs(mean) < ZERO_CENTERED_TOLERANCE
    else:
        # Vector activations: range over random vectors; "zero-centered" is not defined for them.
        y = np.asarray(fn(jax.random.normal(jax.random.key(0), (2000, 8)) * 1e4), np.float64)
        monotonic = smooth = zero_centered = None
        mean = float(np.mean(np.asarray(fn(jax.random.normal(jax.random.key(1), (2000, 8))))))
    finite = y[np.isfinite(y)]
    bound = lambda v: float(np.sign(v) * np.inf) if abs(v) > 1e3 else round(float(v), 3)  # noqa: E731
    lo = -np.inf if np.any(y == -np.inf) else bound(finite.min())
    hi = np.inf if np.any(y == np.inf) else bound(finite.max())
    return Metadata(name, (lo, hi), zero_centered, mean, trainable,
                    monotonic, smooth, entry.initializer)
