"""Train steps in the four styles the checker meets: Equinox, Flax Linen + `TrainState`, Flax NNX
and plain JAX, and Keras' losses written in JAX (as Keras 2 / TF computes them), for the
check corpus (tests/test_check_corpus.py). Each builder takes a loss `loss_fn(outputs, targets)`,
the number of outputs, the final activation (a function) and the number of input features, and
returns `(train_step, state)`; the step is called as `train_step(*state, x, y)`. Every model
maps Float[Array, "... features"] to Float[Array, "... outputs"]: rank-3 inputs give per-token
outputs."""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import flax.linen as linen
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from flax.training import train_state

IDENTITY = lambda z: z  # noqa: E731
KERAS_EPSILON = 1e-7  # keras.backend.epsilon()


# --- Keras' losses, as its TF backend computes them from probabilities (from_logits=False) -------

def keras_binary_crossentropy(p, y):
    """keras.losses.binary_crossentropy: clip p to [eps, 1 - eps], then -(y log(p + eps) + (1 - y) log(1 - p + eps))."""
    p = jnp.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -jnp.mean(y * jnp.log(p + KERAS_EPSILON) + (1 - y) * jnp.log(1 - p + KERAS_EPSILON))


def keras_categorical_crossentropy(p, y):
    """keras.losses.categorical_crossentropy: p renormalized by its sum over the last axis, clipped, -sum(y log p)."""
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    p = jnp.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -jnp.mean(jnp.sum(y * jnp.log(p), axis=-1))


def keras_sparse_categorical_crossentropy(p, labels):
    """keras.losses.sparse_categorical_crossentropy: log of the clipped probabilities taken as logits
    of a softmax cross-entropy with integer labels."""
    logits = jnp.log(jnp.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON))
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def keras_mean_squared_error(p, y):
    return jnp.mean(jnp.square(y - p))


def keras_mean_absolute_error(p, y):
    return jnp.mean(jnp.abs(y - p))


# --- Equinox ---------------------------------------------------------------------------------------

class EqxMLP(eqx.Module):
    """An Equinox MLP holding its activation functions and a name: non-array leaves of the pytree."""

    hidden: eqx.nn.Linear
    out: eqx.nn.Linear
    hidden_activation: Callable
    final: Callable
    name: str

    def __init__(self, inputs: int, outputs: int, final: Callable, key):
        k1, k2 = jax.random.split(key)
        self.hidden = eqx.nn.Linear(inputs, 16, key=k1)
        self.out = eqx.nn.Linear(16, outputs, key=k2)
        self.hidden_activation = jax.nn.relu
        self.final = final
        self.name = "mlp"

    def __call__(self, x):
        rows = x.reshape(-1, x.shape[-1])
        z = jax.vmap(lambda r: self.out(self.hidden_activation(self.hidden(r))))(rows)
        return self.final(z.reshape(x.shape[:-1] + (z.shape[-1],)))


def eqx_step(loss_fn, outputs: int, final=IDENTITY, inputs: int = 8):
    """An Equinox step under eqx.filter_jit that returns the updated model (functions and all)."""
    model = EqxMLP(inputs, outputs, final, jax.random.key(0))
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def train_step(model, opt_state, x, y):
        loss, grads = eqx.filter_value_and_grad(lambda m: loss_fn(m(x), y))(model)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    return train_step, (model, opt_state)


# --- Flax Linen + TrainState ----------------------------------------------------------------------

class LinenMLP(linen.Module):
    outputs: int
    final: Callable = IDENTITY

    @linen.compact
    def __call__(self, x):
        return self.final(linen.Dense(self.outputs)(linen.relu(linen.Dense(16)(x))))


def trainstate_step(loss_fn, outputs: int, final=IDENTITY, inputs: int = 8):
    """The Flax examples' step: a `TrainState` (apply_fn and tx are static fields), jitted."""
    net = LinenMLP(outputs, final)
    params = net.init(jax.random.key(0), jnp.zeros((1, inputs)))["params"]
    state = train_state.TrainState.create(apply_fn=net.apply, params=params, tx=optax.sgd(0.1, momentum=0.9))

    @jax.jit
    def train_step(state, x, y):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(state.apply_fn({"params": p}, x), y))(state.params)
        return state.apply_gradients(grads=grads), loss

    return train_step, (state,)


# --- Flax NNX --------------------------------------------------------------------------------------

class NNXMLP(nnx.Module):
    def __init__(self, inputs: int, outputs: int, final: Callable, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(inputs, 16, rngs=rngs)
        self.out = nnx.Linear(16, outputs, rngs=rngs)
        self.final = final

    def __call__(self, x):
        return self.final(self.out(nnx.relu(self.hidden(x))))


def nnx_step(loss_fn, outputs: int, final=IDENTITY, inputs: int = 8):
    model = NNXMLP(inputs, outputs, final, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(lambda m: loss_fn(m(x), y))(model)
        optimizer.update(model, grads)
        return loss

    return train_step, (model, optimizer)


# --- plain JAX -------------------------------------------------------------------------------------

def plain_params(outputs: int, inputs: int = 8) -> dict:
    k1, k2 = jax.random.split(jax.random.key(0))
    return {"w1": jax.random.normal(k1, (inputs, 16)) * 0.3, "b1": jnp.zeros((16,)),
            "w2": jax.random.normal(k2, (16, outputs)) * 0.3, "b2": jnp.zeros((outputs,))}


def plain_predict(params: dict, x, final=IDENTITY):
    lead = (1,) * (x.ndim - 1)  # biases broadcast over the batch (and token) axes explicitly
    hidden = jnp.tanh(x @ params["w1"] + params["b1"].reshape(lead + (-1,)))
    return final(hidden @ params["w2"] + params["b2"].reshape(lead + (-1,)))


def plain_step(loss_fn, outputs: int, final=IDENTITY, inputs: int = 8):
    """A dict of arrays and SGD by hand."""

    def train_step(params, x, y):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(plain_predict(p, x, final), y))(params)
        return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), loss

    return train_step, (plain_params(outputs, inputs),)


STYLES = {"eqx": eqx_step, "trainstate": trainstate_step, "nnx": nnx_step, "plain": plain_step}
