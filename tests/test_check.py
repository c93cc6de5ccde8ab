"""`jaxact.check` on a corpus of train steps written the way people write them: Flax NNX, Flax
Linen and plain JAX, optax losses and hand-written ones. Every misuse must be found with its
rule; no correct case may get an error."""

import logging
import time
import warnings

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxact
from jaxact import losses, models
from jaxact.advisor import checker, rules

RNG = np.random.default_rng(0)
BATCH = 16
X = jnp.asarray(RNG.normal(size=(BATCH, 8)), jnp.float32)
LABELS = jnp.arange(BATCH) % 10  # exclusive digit classes
ONE_HOT = np.eye(10, dtype=np.float32)[np.asarray(LABELS)]
MULTI_HOT = np.asarray(RNG.integers(0, 2, size=(BATCH, 4)), np.float32)  # [even, prime, curved, square]-like
BINARY = np.asarray(RNG.integers(0, 2, size=(BATCH, 1)), np.float32)
COUNTS = np.asarray(RNG.integers(1, 7, size=(BATCH, 1)), np.float32)  # strokes + holes: 1..6
STANDARDIZED = (COUNTS - COUNTS.mean()) / COUNTS.std()
IDENTITY = lambda z: z  # noqa: E731


class NNXNet(nnx.Module):
    def __init__(self, outputs: int, final=IDENTITY, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(8, 16, rngs=rngs)
        self.out = nnx.Linear(16, outputs, rngs=rngs)
        self.final = final

    def __call__(self, x):
        return self.final(self.out(nnx.relu(self.hidden(x))))


class LinenNet(linen.Module):
    outputs: int
    final: str = "identity"

    @linen.compact
    def __call__(self, x):
        z = linen.Dense(self.outputs)(linen.relu(linen.Dense(16)(x)))
        return {"identity": IDENTITY, "softmax": linen.softmax, "sigmoid": linen.sigmoid}[self.final](z)


def nnx_step(loss_fn, outputs, final=IDENTITY):
    """A full NNX train step: value_and_grad of the loss, AdamW update, under nnx.jit."""
    model = NNXNet(outputs, final, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(lambda m: loss_fn(m(x), y))(model)
        optimizer.update(model, grads)
        return loss

    return train_step, (model, optimizer)


def linen_step(loss_fn, outputs, final="identity"):
    """A Linen train step over (params, opt_state), jitted, as in the Flax examples."""
    net = LinenNet(outputs, final)
    params = net.init(jax.random.key(0), X)
    tx = optax.adam(1e-3)

    @jax.jit
    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(net.apply(p, x), y))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step, (params, tx.init(params))


def plain_step(loss_fn, outputs, final=IDENTITY):
    """Plain JAX: a two-layer MLP as a dict of arrays, SGD by hand."""
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"w1": jax.random.normal(k1, (8, 16)) * 0.3, "b1": jnp.zeros((1, 16)),
              "w2": jax.random.normal(k2, (16, outputs)) * 0.3, "b2": jnp.zeros((1, outputs))}

    def predict(params, x):
        return final(jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"])

    def train_step(params, x, y):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(predict(p, x), y))(params)
        return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), loss

    return train_step, (params,)


# Hand-written losses, the ways they appear in tutorials.
def hand_bce(p, y):
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def hand_bce_clipped(p, y):
    p = jnp.clip(p, 1e-7, 1 - 1e-7)
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log1p(-p))


def hand_bce_with_logits(z, y):
    return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))


def hand_ce(z, y):
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z), axis=-1))


def hand_ce_of_log_softmax_probs(p, y):
    return -jnp.mean(jnp.sum(y * jnp.log(p), axis=-1))


def lse_ce(z, labels):
    return jnp.mean(jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, labels[:, None], axis=-1)[:, 0])


def int_ce(z, labels):
    return optax.softmax_cross_entropy_with_integer_labels(z, labels).mean()


def onehot_ce(z, y):
    return optax.softmax_cross_entropy(z, y).mean()


def sigmoid_bce(z, y):
    return optax.sigmoid_binary_cross_entropy(z, y).mean()


def mse(p, y):
    return optax.squared_error(p, y).mean()


def one_hot_inside(loss):
    """The targets arrive as integer labels and are one-hot encoded inside the step."""
    return lambda z, labels: loss(z, jax.nn.one_hot(labels, z.shape[-1]))


def standardized_inside(z, y):
    return jnp.mean((z - (y - y.mean()) / y.std()) ** 2)


def documents_cnn_step(on_logits: bool):
    """The documents' CNN (jaxact.models.CNN, final softmax) and their PyTorch-style CE on it."""
    model = models.CNN(models.CNNConfig(10, final_activation="softmax"), nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(1e-3, weight_decay=0.01), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, images, y):
        def loss_fn(model):
            outputs = model.logits(images) if on_logits else model(images)
            return losses.categorical_cross_entropy(outputs, y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    images = jnp.asarray(RNG.uniform(-1, 1, size=(32, 28, 28, 1)), jnp.float32)
    return train_step, (model, optimizer), images, np.eye(10, dtype=np.float32)[np.arange(32) % 10]


S, G = jax.nn.softmax, jax.nn.sigmoid
# name -> (builder, loss, outputs, final, targets, the rule a misuse must trigger / None for correct code)
CORPUS = {
    # misuses
    "nnx softmax -> optax integer-label CE": (nnx_step, int_ce, 10, nnx.softmax, LABELS, "double-softmax"),
    "nnx softmax -> optax one-hot CE": (nnx_step, onehot_ce, 10, nnx.softmax, ONE_HOT, "double-softmax"),
    "linen softmax -> hand log_softmax CE": (linen_step, hand_ce, 10, "softmax", ONE_HOT, "double-softmax"),
    "plain softmax -> hand logsumexp CE": (plain_step, lse_ce, 10, S, LABELS, "double-softmax"),
    "nnx sigmoid -> optax sigmoid BCE": (nnx_step, sigmoid_bce, 4, nnx.sigmoid, MULTI_HOT, "sigmoid-twice"),
    "linen sigmoid -> hand BCE-with-logits": (linen_step, hand_bce_with_logits, 4, "sigmoid", MULTI_HOT, "sigmoid-twice"),
    "nnx softmax over 1 output + BCE": (nnx_step, hand_bce, 1, nnx.softmax, BINARY, "softmax-single-output"),
    "plain integer-label CE on 1 output": (plain_step, int_ce, 1, IDENTITY, jnp.zeros(BATCH, jnp.int32), "softmax-single-output"),
    "linen softmax over 1 output + MSE": (linen_step, mse, 1, "softmax", BINARY, "softmax-single-output"),
    "nnx logits -> optax CE on multi-hot": (nnx_step, onehot_ce, 4, IDENTITY, MULTI_HOT, "softmax-multilabel"),
    "linen softmax + MSE on multi-hot": (linen_step, mse, 4, "softmax", MULTI_HOT, "softmax-multilabel"),
    "plain softmax + hand BCE on multi-hot": (plain_step, hand_bce_clipped, 4, S, MULTI_HOT, "softmax-multilabel"),
    "nnx sigmoid + hand BCE on one_hot(labels)": (nnx_step, one_hot_inside(hand_bce), 10, nnx.sigmoid, LABELS, "sigmoid-exclusive-classes"),
    "linen logits + optax sigmoid BCE, 10 classes": (linen_step, sigmoid_bce, 10, "identity", ONE_HOT, "sigmoid-exclusive-classes"),
    "plain sigmoid + MSE, 10 classes": (plain_step, mse, 10, G, ONE_HOT, "sigmoid-exclusive-classes"),
    "nnx relu output, standardized regression": (nnx_step, mse, 1, nnx.relu, STANDARDIZED, "relu-regression-output"),
    "plain sigmoid output, regression": (plain_step, mse, 1, G, COUNTS, "sigmoid-regression-output"),
    "nnx identity output, unscaled regression": (nnx_step, mse, 1, IDENTITY, COUNTS, "unscaled-regression-targets"),
    "linen hand BCE on logits": (linen_step, hand_bce, 4, "identity", MULTI_HOT, "log-of-unbounded"),
    "nnx sigmoid -> optax softmax CE": (nnx_step, onehot_ce, 10, nnx.sigmoid, ONE_HOT, "sigmoid-into-softmax-loss"),
    "plain softmax -> optax sigmoid BCE, 2 classes": (plain_step, sigmoid_bce, 2, S, np.eye(2, dtype=np.float32)[np.asarray(BINARY[:, 0], int)], "softmax-into-sigmoid-loss"),
    # correct code
    "nnx logits -> optax integer-label CE": (nnx_step, int_ce, 10, IDENTITY, LABELS, None),
    "linen logits -> optax one-hot CE": (linen_step, onehot_ce, 10, "identity", ONE_HOT, None),
    "plain logits -> hand log_softmax CE": (plain_step, hand_ce, 10, IDENTITY, ONE_HOT, None),
    "plain logits -> hand logsumexp CE": (plain_step, lse_ce, 10, IDENTITY, LABELS, None),
    "nnx hand log(softmax) CE": (nnx_step, hand_ce_of_log_softmax_probs, 10, nnx.softmax, ONE_HOT, None),
    "linen sigmoid + hand BCE on multi-hot": (linen_step, hand_bce, 4, "sigmoid", MULTI_HOT, None),
    "nnx logits + optax sigmoid BCE on multi-hot": (nnx_step, sigmoid_bce, 4, IDENTITY, MULTI_HOT, None),
    "plain sigmoid + clipped BCE, one probability": (plain_step, hand_bce_clipped, 1, G, BINARY, None),
    "linen logits + hand BCE-with-logits, one probability": (linen_step, hand_bce_with_logits, 1, "identity", BINARY, None),
    "nnx logits -> CE on one_hot(labels), 2 classes": (nnx_step, one_hot_inside(onehot_ce), 2, IDENTITY, LABELS % 2, None),
    "plain logits -> CE with smoothed labels": (plain_step, lambda z, y: onehot_ce(z, optax.smooth_labels(y, 0.1)), 10, IDENTITY, ONE_HOT, None),
    "nnx identity output, standardized regression": (nnx_step, mse, 1, IDENTITY, STANDARDIZED, None),
    "linen identity output, standardized inside the loss": (linen_step, standardized_inside, 1, "identity", COUNTS, None),
    "plain jaxact.losses.cross_entropy on logits": (plain_step, lambda z, y: losses.cross_entropy(z, y).mean(), 10, IDENTITY, ONE_HOT, None),
}


def _findings(name):
    builder, loss, outputs, final, targets, _ = CORPUS[name]
    step, state = builder(loss, outputs, final)
    return jaxact.check(step, *state, X, targets)


@pytest.mark.parametrize("name", [n for n, case in CORPUS.items() if case[-1]])
def test_every_misuse_is_found_with_its_rule(name):
    rule = CORPUS[name][-1]
    findings = _findings(name)
    assert rule in [f.rule for f in findings], findings
    found = next(f for f in findings if f.rule == rule)
    assert found.severity == rules.RULES[rule].severity and found.fix and found.evidence
    assert "test_check.py" in found.where, found.where  # points at the user's line, not optax's


@pytest.mark.parametrize("name", [n for n, case in CORPUS.items() if not case[-1]])
def test_correct_code_gets_no_error(name):
    findings = _findings(name)
    assert not [f for f in findings if f.severity == "error"], findings
    if "log(softmax)" in name:  # the same loss, numerically weaker: a warning that says so
        assert [f.rule for f in findings] == ["log-of-softmax"]
    else:
        assert findings == [], findings


def test_corpus_size():
    misuses = sum(1 for case in CORPUS.values() if case[-1])
    assert misuses >= 20 and len(CORPUS) - misuses >= 12
    assert {case[0] for case in CORPUS.values()} == {nnx_step, linen_step, plain_step}


def test_documents_cnn_train_step_is_checked_in_under_a_second(caplog):
    """The first check of each step traces it (a second check of the same jitted step hits jit's
    trace cache and takes ~10 ms): measured 0.25 s for the documents' CNN on a 2-core CPU."""
    caplog.set_level(logging.WARNING, logger="jax")
    for on_logits, expected in ((False, ["double-softmax"]), (True, [])):
        step, state, images, targets = documents_cnn_step(on_logits)
        with jax.log_compiles(True):
            start = time.perf_counter()
            findings = jaxact.check(step, *state, images, targets)
            seconds = time.perf_counter() - start
        assert [f.rule for f in findings] == expected
        assert seconds < 1.0
    assert not [r for r in caplog.records if "Compiling" in r.getMessage()], "checking compiled something"


def test_checked_raises_on_an_error_or_warns_if_asked():
    step, state = plain_step(mse, 10, G)
    with pytest.raises(jaxact.MisuseError, match="sigmoid-exclusive-classes"):
        jaxact.checked(step)(*state, X, ONE_HOT)
    with pytest.warns(jaxact.MisuseWarning, match="sigmoid-exclusive-classes"):
        jaxact.checked(step, on_error="warn")(*state, X, ONE_HOT)
    with pytest.raises(ValueError, match="on_error must be"):
        jaxact.checked(step, on_error="ignore")


def test_checked_runs_once_then_is_the_plain_step():
    step, state = plain_step(hand_ce, 10, IDENTITY)
    counted = []

    def counting(*args):
        counted.append(1)
        return step(*args)

    guarded = jaxact.checked(counting)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            state = (guarded(*state, X, ONE_HOT)[0],)
    assert len(counted) == 4  # traced once by the check (make_jaxpr calls it), then 3 real calls


def test_checked_under_jit_checks_at_trace_time():
    step, state = nnx_step(int_ce, 10, nnx.softmax)
    inner = jaxact.checked(lambda model, optimizer, x, y: step(model, optimizer, x, y))
    with pytest.warns(jaxact.MisuseWarning, match="double-softmax"):
        nnx.jit(inner)(*state, X, LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nnx.jit(inner)(*state, X, LABELS)  # traced again by a new jit, but the check ran already


def test_classify_targets():
    assert checker.classify_targets(ONE_HOT).kind == "exclusive"
    assert checker.classify_targets(-ONE_HOT).kind == "exclusive"
    assert checker.classify_targets(np.array([[1, 1, 0, 0], [0, 1, 0, 0]], np.float32)).kind == "multilabel"
    assert checker.classify_targets(BINARY).kind == "binary"
    assert checker.classify_targets(COUNTS).kind == "regression"
    assert checker.classify_targets(optax.smooth_labels(ONE_HOT, 0.1)).kind == "exclusive"  # still one class per row
    assert checker.classify_targets(optax.smooth_labels(MULTI_HOT, 0.1)).kind == "multilabel"
    assert checker.classify_targets(np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])).kind == "soft"
    assert checker.classify_targets(np.array([0, 2, 1, 2, 0])).kind == "indices"
    assert checker.classify_targets(np.array([[[1, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 1, 0]]])).kind == "exclusive"
    padded = np.eye(5)[[0, 3, 4, 1, 2, 0]]
    padded[-2:] = 0  # padding tokens: rows of zeros, smoothed to rows of 0.1 / 5
    assert checker.classify_targets(optax.smooth_labels(padded, 0.1)).kind == "exclusive"


def test_non_array_leaves_are_static():
    """Functions, strings, flags, string arrays among the arguments and a returned model with
    functions: traced as Equinox's filter_jit traces them, no crash."""

    def step(params, x, y, activation, name, flags, labels_text):
        out = activation(x @ params["w"])
        loss = optax.softmax_cross_entropy(out, y).mean() if flags["softmax_ce"] else mse(out, y)
        return {"params": params, "activation": activation, "name": name}, loss

    findings = jaxact.check(step, {"w": jnp.ones((8, 10))}, X, ONE_HOT, jax.nn.softmax, "run-1", {"softmax_ce": True},
                            np.array(["a digit"] * BATCH))
    assert [f.rule for f in findings] == ["double-softmax"]
    with pytest.raises(TypeError, match="fn must be the train step"):
        jaxact.check(step(*({"w": jnp.ones((8, 10))}, X, ONE_HOT, jax.nn.softmax, "", {"softmax_ce": True}, None)))
