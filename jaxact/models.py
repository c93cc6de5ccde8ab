"""The documents' CNN, in Flax NNX, with pluggable activations and initializers.

    conv 3x3, 1->32, padding 1, conv_activation; maxpool 2     (28x28 -> 14x14)
    conv 3x3, 32->64, no padding, conv_activation; maxpool 2   (14x14 -> 12x12 -> 6x6)
    conv 3x3, 64->64, no padding, conv_activation; flatten     (6x6 -> 4x4 -> 1024)
    dense 1024->64, fc_activation; dense 64->num_outputs, final_activation

Parameters: 320 + 18,496 + 36,928 (conv) + 65,600 + 65 * num_outputs (dense); 121,994 for ten
outputs. Each activation site holds one or several candidates (a name, or a tuple of names) and
applies the one a `Choice` of indices picks at call time, so models that differ only in their
activations share one compiled program (the studies' variants, the HPO's trials).

Convolution has two implementations with the same parameters, outputs and gradients:
- "patches": the 9 shifted slices of the (padded) input concatenated on the channel axis, then
  one matmul. On CPU, XLA's convolution backward pass is slow (measured: ~15 s per epoch with
  `lax.conv` vs ~1.1 s this way); slices and a matmul have fast gradients everywhere.
- "lax": `lax.conv_general_dilated` (cuDNN on GPU; fine for forward-only evaluation on CPU).
Max-pooling is a reshape and a max over the two window axes: `reduce_window`'s backward
(`select_and_scatter`) is slow on CPU. Exact ties in a window split the gradient (PyTorch gives
it to one element). Ties are common: over MNIST's empty background conv1's output is its bias,
the same in all four positions.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxact import activations

Array = jax.Array
CONV_IMPLS = ("patches", "lax")


def default_conv_impl(backend: str | None = None) -> str:
    """"patches" on CPU (fast gradients), "lax" on GPU/TPU (cuDNN / native convolutions)."""
    return "patches" if (backend or jax.default_backend()) == "cpu" else "lax"


def _pytorch_uniform(fan_in: int):
    """PyTorch's default for every weight and bias of Conv2d/Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


_ZEROS = nnx.initializers.zeros_init()
# name -> fan_in -> (kernel_init, bias_init); kernels are (..., fan_in, fan_out)
INITIALIZERS = {
    "pytorch": lambda fan_in: (_pytorch_uniform(fan_in), _pytorch_uniform(fan_in)),
    "flax": lambda fan_in: (nnx.initializers.lecun_normal(), _ZEROS),
    "he": lambda fan_in: (nnx.initializers.he_normal(), _ZEROS),
    "glorot": lambda fan_in: (nnx.initializers.glorot_uniform(), _ZEROS),
}


def _initializers(name: str, fan_in: int):
    """(kernel_init, bias_init) of an initializer name."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; valid: {', '.join(INITIALIZERS)}")
    return INITIALIZERS[name](fan_in)


def _kernel(init, key, shape):
    # Flax's variance-scaling initializers read fan-in/fan-out from the last two axes; a 3x3 conv
    # kernel's fan-in is 9 * in_channels, so initialize the (9 * in, out) matrix and reshape.
    flat = (math.prod(shape[:-1]), shape[-1])
    return init(key, flat).reshape(shape)


MATMUL_DTYPES = ("float32", "bfloat16")


def check_matmul_dtype(dtype: str) -> str:
    if dtype not in MATMUL_DTYPES:
        raise ValueError(f"unknown matmul_dtype {dtype!r}; valid: {', '.join(MATMUL_DTYPES)}")
    return dtype


@jax.custom_vjp
def _matmul_bf16(a: Array, b: Array) -> Array:
    return jnp.matmul(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16), preferred_element_type=jnp.float32)


def _matmul_bf16_fwd(a, b):
    a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    return jnp.matmul(a16, b16, preferred_element_type=jnp.float32), (a16, b16)


def _matmul_bf16_bwd(residuals, g):
    # The backward matmuls in bfloat16 too: JAX's own transpose would feed them float32 cotangents,
    # and float32 matmuls (measured: the epoch no faster than all-float32).
    a16, b16 = residuals
    g16 = g.astype(jnp.bfloat16)
    grad_a = jnp.einsum("...o,io->...i", g16, b16, preferred_element_type=jnp.float32)
    grad_b = jnp.einsum("...i,...o->io", a16, g16, preferred_element_type=jnp.float32)
    return grad_a, grad_b


_matmul_bf16.defvjp(_matmul_bf16_fwd, _matmul_bf16_bwd)


@jax.custom_vjp
def _matmul_f32(a: Array, b: Array) -> Array:
    return a @ b


def _matmul_f32_fwd(a, b):
    return a @ b, (a, b)


def _matmul_f32_bwd(residuals, g):
    a, b = residuals
    # The weight gradient as (g^T a)^T: XLA's CPU dot runs a^T g for the conv2 patches (4,608 x 288)
    # at half the speed of this layout (1.70 vs 0.97 ms per batch of 32, one thread).
    flat_a, flat_g = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
    return g @ b.T, (flat_g.T @ flat_a).T


_matmul_f32.defvjp(_matmul_f32_fwd, _matmul_f32_bwd)


def matmul(a: Array, b: Array, dtype: str = "float32") -> Array:
    r""":math:`a b` for a: Float[Array, "... in"], b: Float[Array, "in out"], in float32 or with
    bfloat16 inputs and float32 accumulation (forward and backward); the result is float32 either
    way, so activations and losses keep their float32 semantics (sigmoid saturation, BCE's clamp)."""
    return _matmul_f32(a, b) if check_matmul_dtype(dtype) == "float32" else _matmul_bf16(a, b)


def conv_patches(x: Array, kernel: Array, padding: int, dtype: str = "float32") -> Array:
    """3x3 stride-1 convolution as one matmul over the 9 shifted slices.

    Args:
      x: Float[Array, "batch height width in"].
      kernel: Float[Array, "3 3 in out"] (HWIO), the same layout `lax.conv` uses.
    Returns:
      Float[Array, "batch height+2p-2 width+2p-2 out"].
    """
    if padding:
        x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    height, width = x.shape[1] - 2, x.shape[2] - 2
    patches = jnp.concatenate(
        [x[:, dy:dy + height, dx:dx + width, :] for dy in range(3) for dx in range(3)], axis=-1)
    return matmul(patches, kernel.reshape(-1, kernel.shape[-1]), dtype)


def _patches(x: Array, padding: int) -> Array:
    """Float[Array, "batch h w in"] -> the 9 shifted slices concatenated: Float[Array, "batch h' w' 9*in"]."""
    if padding:
        x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    height, width = x.shape[1] - 2, x.shape[2] - 2
    return jnp.concatenate([x[:, dy:dy + height, dx:dx + width, :] for dy in range(3) for dx in range(3)], axis=-1)


def conv_lax(x: Array, kernel: Array, padding: int, dtype: str = "float32") -> Array:
    """The same convolution through `lax.conv_general_dilated` (NHWC, HWIO); forward use only with
    bfloat16 (evaluation), whose gradients would be float32."""
    if dtype == "bfloat16":
        x, kernel = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), [(padding, padding)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        preferred_element_type=jnp.float32)


def _pool_windows(x: Array) -> Array:
    """Float[Array, "b h w c"] -> Float[Array, "b h//2 2 w//2 2 c"] (floor mode: an odd last row/column is dropped)."""
    batch, height, width, channels = x.shape
    x = x[:, : height // 2 * 2, : width // 2 * 2, :]
    return x.reshape(batch, height // 2, 2, width // 2, 2, channels)


@jax.custom_vjp
def max_pool_2x2(x: Array) -> Array:
    """2x2 max-pool, stride 2, floor mode (as PyTorch): reshape + max over the window axes.

    Gradient: a window's cotangent g split equally among its k tied maxima, g/k each (what
    autodiff of `jnp.max` gives, bit for bit), written as one select so XLA fuses it into one pass
    (autodiff's indicator/count/multiply chain measured ~3 % of a float32 train step more).
    """
    return jnp.max(_pool_windows(x), axis=(2, 4))


def _max_pool_fwd(x):
    pooled = max_pool_2x2(x)
    return pooled, (x, pooled)


def _max_pool_bwd(residuals, g):
    x, pooled = residuals
    at_max = _pool_windows(x) == pooled[:, :, None, :, None, :]
    ties = jnp.sum(at_max, axis=(2, 4), keepdims=True).astype(g.dtype)
    grad = jnp.where(at_max, g[:, :, None, :, None, :] / ties, 0.0).reshape(
        x.shape[0], pooled.shape[1] * 2, pooled.shape[2] * 2, x.shape[3])
    pad = ((0, 0), (0, x.shape[1] - grad.shape[1]), (0, x.shape[2] - grad.shape[2]), (0, 0))
    return (jnp.pad(grad, pad),)


max_pool_2x2.defvjp(_max_pool_fwd, _max_pool_bwd)


def _add_bias(x: Array, bias: Array) -> Array:
    # explicit rank: the tests run with jax_numpy_rank_promotion="raise"
    return x + bias.astype(x.dtype).reshape((1,) * (x.ndim - 1) + (-1,))


class Conv3x3(nnx.Module):
    def __init__(self, in_channels: int, out_channels: int, padding: int, initializer: str, rngs: nnx.Rngs):
        fan_in = 9 * in_channels
        kernel_init, bias_init = _initializers(initializer, fan_in)
        self.kernel = nnx.Param(_kernel(kernel_init, rngs.params(), (3, 3, in_channels, out_channels)))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_channels,), jnp.float32))
        self.padding = padding

    def __call__(self, x: Array, impl: str, dtype: str = "float32") -> Array:
        conv = conv_patches if impl == "patches" else conv_lax
        kernel = self.kernel[...].astype(x.dtype)
        return _add_bias(conv(x, kernel, self.padding, dtype), self.bias[...])


class Dense(nnx.Module):
    def __init__(self, in_features: int, out_features: int, initializer: str, rngs: nnx.Rngs):
        kernel_init, bias_init = _initializers(initializer, in_features)
        self.kernel = nnx.Param(kernel_init(rngs.params(), (in_features, out_features), jnp.float32))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), jnp.float32))

    def __call__(self, x: Array, dtype: str = "float32") -> Array:
        return _add_bias(matmul(x, self.kernel[...].astype(x.dtype), dtype), self.bias[...])


ActivationName = str | tuple[str, ...]


def choose(index: Array | int, branches: list[Callable], *args):
    """`branches[index](*args)`: the engine's one mechanism for everything a model of a program picks
    by index (its activations, objective, label transform). `lax.switch` runs only the chosen branch
    when models run one at a time and selects among all of them under `vmap`; one branch is a plain call."""
    return branches[0](*args) if len(branches) == 1 else jax.lax.switch(index, branches, *args)


def candidates(name: ActivationName) -> tuple[str, ...]:
    return name if isinstance(name, tuple) else (name,)


class ActivationSite(nnx.Module):
    """An activation site of the CNN: its candidates (a module each, so a PReLU slope is learned per
    site and per candidate), one of which a call applies."""

    def __init__(self, name: ActivationName):
        self.names = candidates(name)
        self.candidates = nnx.List([activations.get(n) for n in self.names])

    def __call__(self, x: Array, index: Array | int = 0, key: Array | None = None) -> Array:
        return choose(index, [functools.partial(lambda m, x: m(x, key), m) for m in self.candidates], x)


class Choice(NamedTuple):
    """Which candidate each activation site applies (indices into the config's tuples)."""

    conv: Array | int = 0
    fc: Array | int = 0
    final: Array | int = 0


def _check_hidden(name: ActivationName, where: str) -> None:
    for n in candidates(name):
        if not activations.spec(n).elementwise:
            raise ValueError(f"{where} {n!r} changes the feature shape; pick an element-wise activation")


@dataclasses.dataclass(frozen=True)
class CNNConfig:
    """What defines a CNN's structure (hashable: it keys the compiled programs)."""

    num_outputs: int = 10
    conv_activation: ActivationName = "relu"
    fc_activation: ActivationName = "sigmoid"
    final_activation: ActivationName = "softmax"
    initializer: str = "pytorch"
    matmul_dtype: str = "float32"  # or "bfloat16": bf16 inputs, float32 accumulation (see `matmul`)
    # The output layer's initial bias, every output set to it (None: the initializer's). A positive
    # value starts a ReLU output head alive: z > 0 on every input, so gradients reach it.
    output_bias: float | None = None


class CNN(nnx.Module):
    def __init__(self, config: CNNConfig, rngs: nnx.Rngs):
        _check_hidden(config.conv_activation, "conv_activation")
        _check_hidden(config.fc_activation, "fc_activation")
        _initializers(config.initializer, 1)  # validates the name
        check_matmul_dtype(config.matmul_dtype)
        self.matmul_dtype = config.matmul_dtype
        init = config.initializer
        self.conv1 = Conv3x3(1, 32, 1, init, rngs)
        self.conv2 = Conv3x3(32, 64, 0, init, rngs)
        self.conv3 = Conv3x3(64, 64, 0, init, rngs)
        self.fc = Dense(4 * 4 * 64, 64, init, rngs)
        self.out = Dense(64, config.num_outputs, init, rngs)
        if config.output_bias is not None:  # after Dense drew its bias: every other parameter is unchanged
            self.out.bias = nnx.Param(jnp.full((config.num_outputs,), config.output_bias, jnp.float32))
        # One module per site, so a PReLU slope is learned per layer.
        self.conv_act1, self.conv_act2, self.conv_act3 = (ActivationSite(config.conv_activation) for _ in range(3))
        self.fc_act = ActivationSite(config.fc_activation)
        self.final_activation = ActivationSite(config.final_activation)

    def features(self, x: Array, conv_impl: str = "patches", key: Array | None = None,
                 choice: Choice = Choice()) -> tuple[Array, dict[str, Array]]:
        """The logits z and each hidden site's activations (conv1-3 before pooling, fc):
        Float[Array, "batch 28 28 1"] -> (Float[Array, "batch num_outputs"], {site: activations}).

        `key` is for random activations (RReLU) in training; None evaluates deterministically.
        `choice` picks each site's candidate (by default the first).
        """
        keys = list(jax.random.split(key, 4)) if key is not None else [None] * 4
        dtype = self.matmul_dtype
        sites = {"conv1": self.conv_act1(self.conv1(x, conv_impl, dtype), choice.conv, keys[0])}
        sites["conv2"] = self.conv_act2(self.conv2(max_pool_2x2(sites["conv1"]), conv_impl, dtype), choice.conv, keys[1])
        sites["conv3"] = self.conv_act3(self.conv3(max_pool_2x2(sites["conv2"]), conv_impl, dtype), choice.conv, keys[2])
        sites["fc"] = self.fc_act(self.fc(sites["conv3"].reshape(x.shape[0], -1), dtype), choice.fc, keys[3])
        return self.out(sites["fc"], dtype), sites

    def logits(self, x: Array, conv_impl: str = "patches", key: Array | None = None, choice: Choice = Choice()) -> Array:
        """Pre-activation outputs z: Float[Array, "batch 28 28 1"] -> Float[Array, "batch num_outputs"]."""
        return self.features(x, conv_impl, key, choice)[0]

    def __call__(self, x: Array, conv_impl: str = "patches", key: Array | None = None, choice: Choice = Choice()) -> Array:
        """Outputs after the final activation."""
        return self.final_activation(self.logits(x, conv_impl, key, choice), choice.final)


SITES = ("conv1", "conv2", "conv3", "fc")  # the hidden activation sites `CNN.features` returns


def param_count(model: nnx.Module) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))
