"""`jaxact.check` on code it was not written against: real bug reports translated to JAX, each with
its accepted fix, and hand-written steps in the styles outside tests/test_check.py (Equinox, Linen
+ TrainState, per-token outputs, loops, label smoothing, Keras' losses, distillation).

Every misuse must be found with its rule; no fixed twin or correct step may get an error (only the
warnings a case lists); no case may crash.

Real bug reports: each case names its source. "DeepLocalize" is the Stack Overflow benchmark of
Wardat et al., ICSE 2021 (github.com/Wardat-ISU/DeepLocalize, Benchmark/StackOverflow/<id>, buggy
and correct code); "DeepFD" the benchmark of Cao et al., ICSE 2022 (github.com/ArabelaTso/DeepFD,
Benchmark/Subjects/<id>, origin.py and repair.py); "defects4ml" the benchmark of Morovati et al.,
EMSE 2023 (github.com/mohmehmo/defects4ml, bugs/<n>, buggy and fixed). Three posts were found by search and are not
known to be in a benchmark; they say so. Keras models are translated layer for layer into the
style named in the case, Keras' losses into check_corpus_models' keras_* functions.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxact
from jaxact import losses

from check_corpus_models import (IDENTITY, STYLES, keras_binary_crossentropy, keras_categorical_crossentropy,
                                 keras_mean_absolute_error, keras_mean_squared_error,
                                 keras_sparse_categorical_crossentropy, plain_params, plain_predict)

RNG = np.random.default_rng(1)
BATCH = 16
S, G, R = jax.nn.softmax, jax.nn.sigmoid, jax.nn.relu


def one_hot(classes: int, batch: int = BATCH) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[np.arange(batch) % classes]


def multi_hot(labels: int, batch: int = BATCH) -> np.ndarray:
    rows = RNG.integers(0, 2, size=(batch, labels)).astype(np.float32)
    rows[0] = 1.0  # at least one row with several positives
    return rows


def binary_column(batch: int = BATCH) -> np.ndarray:
    return (np.arange(batch) % 2).astype(np.float32)[:, None]


def features(inputs: int = 8, batch: int = BATCH, tokens: int | None = None) -> jax.Array:
    shape = (batch, inputs) if tokens is None else (batch, tokens, inputs)
    return jnp.asarray(RNG.normal(size=shape), jnp.float32)


@dataclasses.dataclass(frozen=True)
class Case:
    """A train step and its batch. rule: the rule a misuse must trigger (None: correct code).
    allowed: warnings a correct case may get (deserved). source: where a real bug comes from."""

    style: str
    loss: Callable
    outputs: int
    final: Callable
    targets: object
    rule: str | None = None
    allowed: tuple[str, ...] = ()
    source: str = ""
    inputs: int = 8
    tokens: int | None = None

    def run(self) -> list:
        step, state = STYLES[self.style](self.loss, self.outputs, self.final, self.inputs)
        x = features(self.inputs, np.shape(self.targets)[0], self.tokens)
        return jaxact.check(step, *state, x, self.targets)


@dataclasses.dataclass(frozen=True)
class Custom:
    """A step that does not fit the builders: `build()` returns (step, args)."""

    build: Callable
    rule: str | None = None
    allowed: tuple[str, ...] = ()
    source: str = ""

    def run(self) -> list:
        step, args = self.build()
        return jaxact.check(step, *args)


DL = "DeepLocalize, Stack Overflow question {}: https://stackoverflow.com/questions/{}"
D4ML = "defects4ml bug {:03d} (github.com/mohmehmo/defects4ml), Stack Overflow question {}: https://stackoverflow.com/questions/{}"
TOKENS, VOCAB = 6, 12

# --- real bug reports and their accepted fixes ----------------------------------------------------
REAL = {
    # Dense(1) + softmax with binary_crossentropy; fix: Dense(1, sigmoid).
    "SO31880720 softmax over one output, Keras BCE": Case(
        "eqx", keras_binary_crossentropy, 1, S, binary_column(), "softmax-single-output", source=DL.format(31880720, 31880720)),
    "SO31880720 fixed: sigmoid output": Case(
        "eqx", keras_binary_crossentropy, 1, G, binary_column(), source=DL.format(31880720, 31880720)),
    # Dense(1) + softmax, MSE on real-valued targets; fix: linear output.
    "SO33969059 softmax over one output, MSE": Case(
        "trainstate", keras_mean_squared_error, 1, S, RNG.normal(size=(BATCH, 1)).astype(np.float32),
        "softmax-single-output", source=DL.format(33969059, 33969059)),
    "SO33969059 fixed: linear output": Case(
        "trainstate", keras_mean_squared_error, 1, IDENTITY, RNG.normal(size=(BATCH, 1)).astype(np.float32),
        source=DL.format(33969059, 33969059)),
    # XOR-like 0/1 targets, Dense(1) + softmax, MSE; fix: sigmoid.
    "SO34311586 softmax over one output, MSE on 0/1": Case(
        "nnx", keras_mean_squared_error, 1, S, binary_column(), "softmax-single-output", source=DL.format(34311586, 34311586), inputs=2),
    "SO34311586 fixed: sigmoid output": Case(
        "nnx", keras_mean_squared_error, 1, G, binary_column(), source=DL.format(34311586, 34311586), inputs=2),
    "SO45337371 Dense(1, softmax) + BCE": Case(
        "plain", keras_binary_crossentropy, 1, S, binary_column(), "softmax-single-output", source=DL.format(45337371, 45337371)),
    "SO45337371 fixed: Dense(1, sigmoid)": Case(
        "plain", keras_binary_crossentropy, 1, G, binary_column(), source=DL.format(45337371, 45337371)),
    # boolean targets, Dense(1) + softmax, MAE; fix: sigmoid + BCE.
    "SO45442843 softmax over one output, MAE on booleans": Case(
        "eqx", keras_mean_absolute_error, 1, S, binary_column(), "softmax-single-output", source=DL.format(45442843, 45442843), inputs=1),
    "SO45442843 fixed: sigmoid + BCE": Case(
        "eqx", keras_binary_crossentropy, 1, G, binary_column(), source=DL.format(45442843, 45442843), inputs=1),
    # to_categorical over 2 classes, softmax + MSE; fix: sigmoid + BCE (2 sigmoids on exclusive classes: a deserved warning).
    "SO34673164 softmax + MSE on 2 one-hot classes": Case(
        "trainstate", keras_mean_squared_error, 2, S, one_hot(2), "probability-loss-mismatch", source=DL.format(34673164, 34673164), inputs=16),
    "SO34673164 fixed: sigmoid + BCE": Case(
        "trainstate", keras_binary_crossentropy, 2, G, one_hot(2), allowed=("sigmoid-two-exclusive-classes",),
        source=DL.format(34673164, 34673164), inputs=16),
    # make_multilabel_classification(n_classes=3), softmax + MSE; fix: sigmoid + BCE.
    "SO38648195 softmax + MSE on multi-label rows": Case(
        "nnx", keras_mean_squared_error, 3, S, multi_hot(3), "softmax-multilabel", source=DL.format(38648195, 38648195), inputs=20),
    "SO38648195 fixed: sigmoid + BCE": Case(
        "nnx", keras_binary_crossentropy, 3, G, multi_hot(3), source=DL.format(38648195, 38648195), inputs=20),
    # Dense(1) + relu with binary_crossentropy; fix: sigmoid.
    "SO44066044 relu output + BCE": Case(
        "plain", keras_binary_crossentropy, 1, R, binary_column(), "log-of-unbounded", source=DL.format(44066044, 44066044), inputs=11),
    "SO44066044 fixed: sigmoid output": Case(
        "plain", keras_binary_crossentropy, 1, G, binary_column(), source=DL.format(44066044, 44066044), inputs=11),
    # y = x^2 + 3 on [-10, 10] (Linear_Data.csv), sigmoid output + MSE; fix: linear output (targets still unscaled).
    "SO48221692 sigmoid output on a regression": Case(
        "eqx", keras_mean_squared_error, 1, G, (np.linspace(-10, 10, BATCH) ** 2 + 3).astype(np.float32)[:, None],
        "sigmoid-regression-output", source=DL.format(48221692, 48221692), inputs=1),
    "SO48221692 fixed: linear output": Case(
        "eqx", keras_mean_squared_error, 1, IDENTITY, (np.linspace(-10, 10, BATCH) ** 2 + 3).astype(np.float32)[:, None],
        allowed=("unscaled-regression-targets",), source=DL.format(48221692, 48221692), inputs=1),
    # real-valued targets (Book1.csv), relu output + MSE; fix: tanh output.
    "SO48251943 relu output on a regression": Case(
        "trainstate", keras_mean_squared_error, 1, R, RNG.normal(0.5, 0.8, size=(BATCH, 1)).astype(np.float32),
        "relu-regression-output", source=DL.format(48251943, 48251943), inputs=2),
    "SO48251943 fixed: tanh output": Case(
        "trainstate", keras_mean_squared_error, 1, jnp.tanh, RNG.normal(0.5, 0.8, size=(BATCH, 1)).astype(np.float32),
        allowed=("bounded-regression-output",), source=DL.format(48251943, 48251943), inputs=2),
    # MNIST 784-30-10 without output activation, MSE on one-hot; fix: softmax + categorical_crossentropy.
    "SO48385830 linear outputs + MSE on one-hot digits": Case(
        "nnx", keras_mean_squared_error, 10, IDENTITY, one_hot(10), "regression-loss-on-classes", source=DL.format(48385830, 48385830)),
    "SO48385830 fixed: softmax + categorical CE": Case(
        "nnx", keras_categorical_crossentropy, 10, S, one_hot(10), source=DL.format(48385830, 48385830)),
    # three image folders read as class_mode="binary" (labels 0, 1, 2), Dense(1) + sigmoid + BCE; fix: Dense(3) + softmax + CE.
    "SO50079585 class indices 0..2 into one sigmoid": Case(
        "plain", keras_binary_crossentropy, 1, G, (np.arange(BATCH) % 3).astype(np.float32)[:, None],
        "sigmoid-exclusive-classes", source=DL.format(50079585, 50079585)),
    "SO50079585 fixed: softmax over 3 + categorical CE": Case(
        "plain", keras_categorical_crossentropy, 3, S, one_hot(3), source=DL.format(50079585, 50079585)),
    # iris one-hot, Dense(3) + sigmoid with categorical_crossentropy; fix: softmax.
    "SO51930566 sigmoid + categorical CE on iris": Case(
        "eqx", keras_categorical_crossentropy, 3, G, one_hot(3), "sigmoid-into-softmax-loss", source=DL.format(51930566, 51930566), inputs=4),
    "SO51930566 fixed: softmax": Case(
        "eqx", keras_categorical_crossentropy, 3, S, one_hot(3), source=DL.format(51930566, 51930566), inputs=4),
    # y = x^4, MSE on the raw targets; fix: StandardScaler on x and y.
    "SO52800582 unscaled regression targets": Case(
        "trainstate", keras_mean_squared_error, 1, IDENTITY, (np.linspace(-5, 5, BATCH) ** 4).astype(np.float32)[:, None],
        "unscaled-regression-targets", source=DL.format(52800582, 52800582), inputs=1),
    "SO52800582 fixed: standardized targets": Case(
        "trainstate", keras_mean_squared_error, 1, IDENTITY,
        ((lambda y: (y - y.mean()) / y.std())(np.linspace(-5, 5, BATCH) ** 4)).astype(np.float32)[:, None],
        source=DL.format(52800582, 52800582), inputs=1),
    # MNIST, Dense(10) + sigmoid with categorical_crossentropy; fix: softmax.
    "SO55328966 sigmoid + categorical CE on digits": Case(
        "nnx", keras_categorical_crossentropy, 10, G, one_hot(10), "sigmoid-into-softmax-loss", source=DL.format(55328966, 55328966)),
    "SO55328966 fixed: softmax": Case(
        "nnx", keras_categorical_crossentropy, 10, S, one_hot(10), source=DL.format(55328966, 55328966)),
    "SO59278771 sigmoid + categorical CE on iris": Case(
        "plain", keras_categorical_crossentropy, 3, G, one_hot(3), "sigmoid-into-softmax-loss", source=DL.format(59278771, 59278771), inputs=4),
    "SO59278771 fixed: softmax": Case(
        "plain", keras_categorical_crossentropy, 3, S, one_hot(3), source=DL.format(59278771, 59278771), inputs=4),
    # MNIST CNN ending in Dense(10, relu) with categorical_crossentropy; fix: Dense(10, softmax).
    "SO47352366 relu outputs + categorical CE": Case(
        "eqx", keras_categorical_crossentropy, 10, R, one_hot(10), "log-of-unbounded", source=DL.format(47352366, 47352366)),
    "SO47352366 fixed: softmax": Case(
        "eqx", keras_categorical_crossentropy, 10, S, one_hot(10), source=DL.format(47352366, 47352366)),
    # TimeDistributed(Dense(3, sigmoid)) + sparse_categorical_crossentropy (per-token labels); DeepFD's repair: 2 units.
    "SO59282996 per-token sigmoid + sparse categorical CE": Case(
        "trainstate", keras_sparse_categorical_crossentropy, 3, G, (np.arange(BATCH * TOKENS) % 3).reshape(BATCH, TOKENS),
        "sigmoid-into-softmax-loss", source="DeepFD, Stack Overflow question 59282996: https://stackoverflow.com/questions/59282996",
        tokens=TOKENS),
    "SO59282996 repaired: 2 per-token sigmoid units": Case(
        "trainstate", keras_sparse_categorical_crossentropy, 2, G, (np.arange(BATCH * TOKENS) % 2).reshape(BATCH, TOKENS),
        allowed=("sigmoid-into-softmax-loss",),
        source="DeepFD, Stack Overflow question 59282996: https://stackoverflow.com/questions/59282996", tokens=TOKENS),
    # defects4ml bug 086: y = np.eye(6000, 1) (one 0/1 column), Dense(1) + softmax + binary_crossentropy; fix: sigmoid.
    "SO45378493 Dense(1) + softmax + BCE": Case(
        "nnx", keras_binary_crossentropy, 1, S, np.eye(BATCH, 1, dtype=np.float32), "softmax-single-output", source=D4ML.format(86, 45378493, 45378493)),
    "SO45378493 fixed: sigmoid": Case(
        "nnx", keras_binary_crossentropy, 1, G, np.eye(BATCH, 1, dtype=np.float32), source=D4ML.format(86, 45378493, 45378493)),
    # defects4ml bug 092: y = randint(0, 1) (all zeros), Dense(1) + softmax + binary_crossentropy; fix: sigmoid.
    "SO58844149 Dense(1) + softmax + BCE, all-zero labels": Case(
        "trainstate", keras_binary_crossentropy, 1, S, np.zeros((BATCH, 1), np.float32), "softmax-single-output",
        source=D4ML.format(92, 58844149, 58844149)),
    "SO58844149 fixed: sigmoid": Case(
        "trainstate", keras_binary_crossentropy, 1, G, np.zeros((BATCH, 1), np.float32), source=D4ML.format(92, 58844149, 58844149)),
    # 19 one-hot classes, Dense(19, sigmoid) + binary_crossentropy; accepted answer: softmax + categorical_crossentropy.
    "SO45799474 sigmoid + BCE on 19 one-hot classes": Case(
        "nnx", keras_binary_crossentropy, 19, G, one_hot(19, 19), "sigmoid-exclusive-classes",
        source="Stack Overflow question 45799474 (found by search, no benchmark): https://stackoverflow.com/questions/45799474"),
    "SO45799474 fixed: softmax + categorical CE": Case(
        "nnx", keras_categorical_crossentropy, 19, S, one_hot(19, 19),
        source="Stack Overflow question 45799474 (found by search, no benchmark): https://stackoverflow.com/questions/45799474"),
    # topic classification, softmax + binary_crossentropy on one-hot rows; fix: categorical_crossentropy.
    "SO42081257 softmax + BCE on one-hot topics": Case(
        "plain", keras_binary_crossentropy, 5, S, one_hot(5), "probability-loss-mismatch",
        source="Stack Overflow question 42081257 (found by search, no benchmark): https://stackoverflow.com/questions/42081257"),
    "SO42081257 fixed: categorical CE": Case(
        "plain", keras_categorical_crossentropy, 5, S, one_hot(5),
        source="Stack Overflow question 42081257 (found by search, no benchmark): https://stackoverflow.com/questions/42081257"),
    # one sigmoid output with categorical_crossentropy on 0/1 labels; answer: binary_crossentropy.
    "SE565956 one sigmoid output + categorical CE": Case(
        "eqx", keras_categorical_crossentropy, 1, G, binary_column(), "softmax-single-output", inputs=10,
        source="Cross Validated question 565956 (found by search, no benchmark): https://stats.stackexchange.com/questions/565956"),
    "SE565956 fixed: binary CE": Case(
        "eqx", keras_binary_crossentropy, 1, G, binary_column(), inputs=10,
        source="Cross Validated question 565956 (found by search, no benchmark): https://stats.stackexchange.com/questions/565956"),
}


# --- hand-written: styles, shapes, loops, smoothing, distillation --------------------------------

def int_ce(z, labels):
    return optax.softmax_cross_entropy_with_integer_labels(z, labels).mean()


def onehot_ce(z, y):
    return optax.softmax_cross_entropy(z, y).mean()


def sigmoid_bce(z, y):
    return optax.sigmoid_binary_cross_entropy(z, y).mean()


def squared(p, y):
    return optax.squared_error(p, y).mean()


def masked_token_ce(z, labels):
    """Per-token cross-entropy on logits, padding (label -1) masked out."""
    mask = labels >= 0
    per_token = optax.softmax_cross_entropy(z, jax.nn.one_hot(labels, z.shape[-1]))
    return jnp.sum(per_token * mask) / jnp.sum(mask)


def token_sigmoid_bce(z, labels):
    """Per-token BCE of independent sigmoids against one_hot(labels) (zero rows for padding)."""
    return optax.sigmoid_binary_cross_entropy(z, jax.nn.one_hot(labels, z.shape[-1])).mean()


def token_labels(batch: int = BATCH, padded: bool = True) -> np.ndarray:
    labels = (np.arange(batch * TOKENS) % VOCAB).reshape(batch, TOKENS).astype(np.int32)
    if padded:
        labels[:, -2:] = -1
    return labels


def log_softmax_of_log_sigmoid(z, y):
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(jnp.log(jax.nn.sigmoid(z))), axis=-1))


def bce_on_clipped(z, y):
    p = jnp.clip(z, 1e-7, 1 - 1e-7)
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def eye_targets_mse(p, labels):
    return squared(p, jnp.eye(p.shape[-1])[labels])


def take_targets_ce(z, labels):
    return onehot_ce(z, jnp.take(jnp.eye(z.shape[-1]), labels, axis=0))


def accumulation_step(loss_fn, final, outputs: int, micro: int, use_scan: bool):
    """Gradient accumulation over `micro` micro-batches: lax.scan over stacked batches, or
    fori_loop slicing the batch with dynamic_slice."""
    params = plain_params(outputs)

    def loss_of(p, x, y):
        return loss_fn(plain_predict(p, x, final), y)

    def train_step(params, x, y):
        size = x.shape[0] // micro
        zeros = jax.tree.map(jnp.zeros_like, params)
        if use_scan:
            stacked = (x.reshape(micro, size, -1), y.reshape((micro, size) + y.shape[1:]))

            def body(total, batch):
                return jax.tree.map(jnp.add, total, jax.grad(loss_of)(params, *batch)), None

            grads, _ = jax.lax.scan(body, zeros, stacked)
        else:
            def body(i, total):
                xb = jax.lax.dynamic_slice_in_dim(x, i * size, size)
                yb = jax.lax.dynamic_slice_in_dim(y, i * size, size)
                return jax.tree.map(jnp.add, total, jax.grad(loss_of)(params, xb, yb))

            grads = jax.lax.fori_loop(0, micro, body, zeros)
        return jax.tree.map(lambda p, g: p - 0.1 * g / micro, params, grads)

    return train_step, (params, features(8, BATCH))


def distillation_step(student_softmax: bool):
    """Knowledge distillation (Hinton et al.): KL between the teacher's and the student's softmax at
    temperature T, plus cross-entropy on the hard labels. The teacher's log-probabilities are
    stop_gradient'ed: they are targets, not the model's output."""
    student, teacher = plain_params(10), plain_params(10)
    temperature = 4.0

    def loss_fn(params, x, labels):
        student_out = plain_predict(params, x, S if student_softmax else IDENTITY)
        teacher_log_p = jax.lax.stop_gradient(jnp.log(jax.nn.softmax(plain_predict(teacher, x) / temperature)))
        if student_softmax:  # the student's probabilities into a loss that applies its own softmax
            soft = optax.softmax_cross_entropy(student_out / temperature, jnp.exp(teacher_log_p)).mean()
        else:
            student_log_p = jax.nn.log_softmax(student_out / temperature)
            soft = jnp.mean(jnp.sum(jnp.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1))
        return soft * temperature ** 2 + int_ce(student_out, labels)

    def train_step(params, x, labels):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, labels)
        return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), loss

    return train_step, (student, features(8, BATCH), np.arange(BATCH) % 10)


def eqx_mlp_step(final, loss_fn, targets, head=IDENTITY):
    """eqx.nn.MLP holds its activation and final activation functions (applied per unit) as fields;
    `head` is applied to the whole output vector; the step takes a string and a flag and returns
    the model."""
    model = eqx.nn.MLP(8, targets.shape[-1], 16, 2, activation=jax.nn.relu, final_activation=final, key=jax.random.key(0))

    @eqx.filter_jit
    def train_step(model, x, y, mode: str = "train", clip: bool = True):
        loss, grads = eqx.filter_value_and_grad(lambda m: loss_fn(head(jax.vmap(m)(x)), y))(model)
        grads = jax.tree.map(lambda g: jnp.clip(g, -1, 1), grads) if clip else grads
        return eqx.apply_updates(model, jax.tree.map(lambda g: -0.1 * g, grads)), {"loss": loss, "mode": mode}

    return train_step, (model, features(8, BATCH), targets, "train", True)


def cond_step(final):
    """The loss chosen by lax.cond on a flag array (label smoothing on or off)."""
    params = plain_params(10)

    def train_step(params, x, y, smooth):
        def loss_fn(p):
            out = plain_predict(p, x, final)
            return jax.lax.cond(smooth, lambda: onehot_ce(out, optax.smooth_labels(y, 0.1)), lambda: onehot_ce(out, y))

        return jax.grad(loss_fn)(params)

    return train_step, (params, features(8, BATCH), one_hot(10), jnp.asarray(True))


def jaxact_bce_on_logits():
    """jaxact.losses.bce (a custom_vjp) given logits."""
    params = plain_params(4)
    return (lambda p, x, y: jax.grad(lambda q: losses.bce(plain_predict(q, x), y).mean())(p)), (params, features(), multi_hot(4))


def channels_first_step(loss_fn, final_axis1):
    """A segmentation head in NCHW layout: per-pixel class scores on axis 1 (PyTorch's layout)."""
    kernel = jax.random.normal(jax.random.key(0), (4, 3)) * 0.3

    def train_step(kernel, images, y):
        def loss(k):
            scores = jnp.einsum("bchw,ck->bkhw", images, k)
            return loss_fn(final_axis1(scores), y)

        return jax.grad(loss)(kernel)

    pixels = np.arange(2 * 5 * 5) % 3
    targets = np.moveaxis(np.eye(3, dtype=np.float32)[pixels.reshape(2, 5, 5)], -1, 1)  # one-hot on axis 1
    return train_step, (kernel, jnp.asarray(RNG.normal(size=(2, 4, 5, 5)), jnp.float32), targets)


def attention_step():
    """A self-attention classifier that re-applies the padding mask (from the tokens) to the attention
    weights after their softmax: the mask is no target."""
    params = {"embed": jax.random.normal(jax.random.key(0), (VOCAB, 8)) * 0.3, "out": plain_params(VOCAB)}

    def train_step(params, tokens, labels):
        def loss(p):
            x = p["embed"][jnp.maximum(tokens, 0)]  # padding tokens are -1
            weights = jax.nn.softmax(x @ jnp.swapaxes(x, 1, 2) / jnp.sqrt(8.0), axis=-1)
            weights = weights * jnp.broadcast_to((tokens >= 0)[:, None, :], weights.shape)
            return masked_token_ce(plain_predict(p["out"], weights @ x), labels)

        return jax.grad(loss)(params)

    labels = token_labels()
    return train_step, (params, labels, labels)


def vae_step():
    """A VAE with a one-dimensional latent: its KL term sums exp(log variance) over an axis of size 1,
    which is no softmax; sigmoid outputs with BCE on pixels in [0, 1]."""
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {"mu": jax.random.normal(k1, (8, 1)) * 0.3, "log_var": jax.random.normal(k2, (8, 1)) * 0.3,
              "decoder": jax.random.normal(k3, (1, 8)) * 0.3}

    def train_step(params, pixels, noise):
        def loss(p):
            mu, log_var = pixels @ p["mu"], pixels @ p["log_var"]
            z = mu + jnp.exp(0.5 * log_var) * noise
            reconstruction = jax.nn.sigmoid(z @ p["decoder"])
            # KL(N(mu, var) || N(0, 1)) = 0.5 * sum(var + mu^2 - 1 - log var), its terms summed one by one
            kl = 0.5 * (jnp.sum(jnp.exp(log_var), axis=-1) + jnp.sum(mu ** 2 - 1 - log_var, axis=-1))
            return jnp.mean(kl) + keras_binary_crossentropy(reconstruction, pixels)

        return jax.grad(loss)(params)

    pixels = RNG.uniform(size=(BATCH, 8)).astype(np.float32)
    return train_step, (params, pixels, RNG.normal(size=(BATCH, 1)).astype(np.float32))


def axis1_ce(p, y):
    return -jnp.mean(jnp.sum(y * jnp.log(p), axis=1))


def axis1_log_softmax_ce(z, y):
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z, axis=1), axis=1))


HAND = {
    "eqx logits -> integer-label CE": Case("eqx", int_ce, 10, IDENTITY, np.arange(BATCH) % 10),
    "eqx softmax -> integer-label CE": Case("eqx", int_ce, 10, S, np.arange(BATCH) % 10, "double-softmax"),
    "eqx.nn.MLP sigmoid final -> optax sigmoid BCE": Custom(lambda: eqx_mlp_step(G, sigmoid_bce, multi_hot(4)), "sigmoid-twice"),
    "eqx.nn.MLP logits -> optax sigmoid BCE, string and flag args": Custom(lambda: eqx_mlp_step(IDENTITY, sigmoid_bce, multi_hot(4))),
    "eqx.nn.MLP softmax over one output, returns the model": Custom(
        lambda: eqx_mlp_step(IDENTITY, keras_binary_crossentropy, binary_column(), head=S), "softmax-single-output"),
    "eqx Keras categorical CE on softmax": Case("eqx", keras_categorical_crossentropy, 10, S, one_hot(10)),
    "trainstate logits -> sigmoid BCE on multi-hot": Case("trainstate", sigmoid_bce, 4, IDENTITY, multi_hot(4)),
    "trainstate softmax -> sigmoid BCE on one-hot": Case(
        "trainstate", sigmoid_bce, 10, S, one_hot(10), "softmax-into-sigmoid-loss", allowed=("sigmoid-exclusive-classes",)),
    "plain softmax -> sigmoid BCE on multi-hot": Case("plain", sigmoid_bce, 4, S, multi_hot(4), "softmax-multilabel"),
    "trainstate sigmoid + Keras BCE on one-hot": Case("trainstate", keras_binary_crossentropy, 10, G, one_hot(10), "sigmoid-exclusive-classes"),
    "nnx per-token logits -> masked CE": Case("nnx", masked_token_ce, VOCAB, IDENTITY, token_labels(), tokens=TOKENS),
    "eqx per-token softmax -> integer-label CE": Case(
        "eqx", int_ce, VOCAB, S, token_labels(padded=False), "double-softmax", tokens=TOKENS),
    "plain per-token logits -> sigmoid BCE on one_hot(tokens), padded": Case(
        "plain", token_sigmoid_bce, VOCAB, IDENTITY, token_labels(), "sigmoid-exclusive-classes", tokens=TOKENS),
    "trainstate per-token logits -> masked CE": Case("trainstate", masked_token_ce, VOCAB, IDENTITY, token_labels(), tokens=TOKENS),
    "nnx per-token softmax + MSE on multi-hot tags": Case(
        "nnx", squared, 4, S, np.stack([multi_hot(4) for _ in range(TOKENS)], 1), "softmax-multilabel", tokens=TOKENS),
    "scan accumulation: sigmoid + BCE on one-hot": Custom(
        lambda: (lambda f, a: (f, a + (one_hot(10),)))(*accumulation_step(keras_binary_crossentropy, G, 10, 4, True)),
        "sigmoid-exclusive-classes"),
    "scan accumulation: logits + CE": Custom(
        lambda: (lambda f, a: (f, a + (one_hot(10),)))(*accumulation_step(onehot_ce, IDENTITY, 10, 4, True))),
    "fori accumulation: softmax + MSE on multi-hot": Custom(
        lambda: (lambda f, a: (f, a + (multi_hot(4),)))(*accumulation_step(squared, S, 4, 4, False)), "softmax-multilabel"),
    "fori accumulation: logits + sigmoid BCE on multi-hot": Custom(
        lambda: (lambda f, a: (f, a + (multi_hot(4),)))(*accumulation_step(sigmoid_bce, IDENTITY, 4, 4, False))),
    "smoothed one-hot -> sigmoid BCE, 10 classes": Case(
        "nnx", lambda z, y: sigmoid_bce(z, optax.smooth_labels(y, 0.1)), 10, IDENTITY, one_hot(10), "sigmoid-exclusive-classes"),
    "smoothed multi-hot -> softmax CE": Case(
        "plain", lambda z, y: onehot_ce(z, optax.smooth_labels(y, 0.1)), 4, IDENTITY, multi_hot(4), "softmax-multilabel"),
    "smoothed multi-hot -> sigmoid BCE": Case(
        "eqx", lambda z, y: sigmoid_bce(z, optax.smooth_labels(y, 0.1)), 4, IDENTITY, multi_hot(4)),
    "smoothed one-hot -> softmax CE on logits": Case(
        "trainstate", lambda z, y: onehot_ce(z, optax.smooth_labels(y, 0.1)), 10, IDENTITY, one_hot(10)),
    "distillation, student logits (teacher stop_gradient'ed)": Custom(lambda: distillation_step(False)),
    "distillation, student softmax into CE": Custom(lambda: distillation_step(True), "double-softmax"),
    "cond-selected loss on softmax outputs": Custom(lambda: cond_step(S), "double-softmax"),
    "cond-selected loss on logits": Custom(lambda: cond_step(IDENTITY)),
    "eye(C)[labels] targets, sigmoid + MSE": Case("nnx", eye_targets_mse, 10, G, np.arange(BATCH) % 10, "sigmoid-exclusive-classes"),
    "take(eye, labels) targets, logits + CE": Case("plain", take_targets_ce, 10, IDENTITY, np.arange(BATCH) % 10),
    "log_softmax of log(sigmoid(z))": Case("eqx", log_softmax_of_log_sigmoid, 10, IDENTITY, one_hot(10), "sigmoid-into-softmax-loss"),
    "BCE on clipped logits": Case("plain", bce_on_clipped, 4, IDENTITY, multi_hot(4), "log-of-unbounded"),
    "Keras categorical CE on logits (renormalized)": Case("nnx", keras_categorical_crossentropy, 10, IDENTITY, one_hot(10), "log-of-unbounded"),
    "tanh outputs + BCE on multi-hot": Case("nnx", keras_binary_crossentropy, 4, jnp.tanh, multi_hot(4), "log-of-unbounded"),
    "tanh output on unscaled regression": Case(
        "plain", squared, 1, jnp.tanh, (np.arange(BATCH) % 7 + 1).astype(np.float32)[:, None], "bounded-regression-output"),
    "class indices 0..4 -> sigmoid BCE on one logit": Case(
        "trainstate", sigmoid_bce, 1, IDENTITY, (np.arange(BATCH) % 5).astype(np.float32)[:, None], "sigmoid-exclusive-classes"),
    "0/1 labels -> sigmoid BCE on one logit": Case("trainstate", sigmoid_bce, 1, IDENTITY, binary_column()),
    "jaxact.losses.bce (custom_vjp) on logits": Custom(jaxact_bce_on_logits, "log-of-unbounded"),
    "attention weights re-masked after softmax, logits -> masked CE": Custom(attention_step),
    "VAE with a one-dimensional latent": Custom(vae_step),
    "NCHW logits -> log_softmax(axis=1) CE on one-hot pixels": Custom(lambda: channels_first_step(axis1_log_softmax_ce, IDENTITY)),
    "NCHW sigmoid -> BCE on one-hot pixels of 3 classes": Custom(
        lambda: channels_first_step(lambda p, y: keras_binary_crossentropy(jnp.moveaxis(p, 1, -1), jnp.moveaxis(y, 1, -1)), G),
        "sigmoid-exclusive-classes"),
}

CORPUS = {**{f"real: {k}": v for k, v in REAL.items()}, **{f"hand: {k}": v for k, v in HAND.items()}}
TIMES: dict[str, float] = {}


def _timed(name: str):
    start = time.perf_counter()
    findings = CORPUS[name].run()
    TIMES[name] = time.perf_counter() - start
    return findings


@pytest.mark.parametrize("name", [n for n, c in CORPUS.items() if c.rule])
def test_misuse_found_with_its_rule(name):
    case = CORPUS[name]
    findings = _timed(name)
    found = {f.rule: f for f in findings}
    assert case.rule in found, findings
    assert found[case.rule].severity in ("warning", "error") and found[case.rule].fix and found[case.rule].evidence
    assert "test_check_corpus.py" in found[case.rule].where or "check_corpus_models.py" in found[case.rule].where, found[case.rule].where


@pytest.mark.parametrize("name", [n for n, c in CORPUS.items() if not c.rule])
def test_correct_code_gets_no_error(name):
    case = CORPUS[name]
    findings = _timed(name)
    assert not [f for f in findings if f.severity == "error"], findings
    assert {f.rule for f in findings} <= set(case.allowed), findings


def test_corpus_size_and_sources():
    """With tests/test_check.py's corpus: >= 80 cases, >= 20 of them real bug reports."""
    import test_check

    real = [c for n, c in CORPUS.items() if n.startswith("real: ")]
    assert len(CORPUS) + len(test_check.CORPUS) >= 80 and sum(1 for c in real if c.rule) >= 20
    assert all(c.source for c in real)
    for name, case in REAL.items():  # every real bug has its fixed twin from the same source
        if case.rule:
            assert any(not other.rule and other.source == case.source for other in REAL.values()), name
    assert {c.style for c in CORPUS.values() if isinstance(c, Case)} == set(STYLES)


def test_measured_parity_is_never_an_error():
    """Sigmoid BCE on softmax outputs of one-hot rows breaks two rules, but the documents measured
    that combination at parity (multiclass softmax + BCEWithLogits): warnings only."""
    findings = CORPUS["hand: trainstate softmax -> sigmoid BCE on one-hot"].run()
    assert {f.rule for f in findings} == {"softmax-into-sigmoid-loss", "sigmoid-exclusive-classes"}
    assert {f.severity for f in findings} == {"warning"}


def test_check_time_per_case():
    """The whole corpus is checked in a few seconds: each case is traced once, nothing compiled."""
    names = list(CORPUS)[::7]
    seconds = [time.perf_counter()]
    for name in names:
        CORPUS[name].run()
        seconds.append(time.perf_counter())
    per_case = np.diff(seconds)
    assert np.median(per_case) < 1.0, dict(zip(names, per_case))
