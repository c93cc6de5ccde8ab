"""A held-out corpus for jaxact.check, written blind: by a tester who read only the README's
"Is my output layer right?" section, never the checker or its tests (2026-12-04). 86 cases: 44
misuses (24 after public bug reports, each citing its source; 2 marked out of the README's scope)
and 42 correct steps, in flax.nnx, Linen + TrainState, Equinox and plain JAX.

Each case is a function returning (fn, args). CASES is a list of dicts:
  id, source (URL / question id, or "own" for cases not based on a report), kind ("misuse"/"correct"),
  expected (set of acceptable rule ids; empty for correct cases), severity (the tester's guess for
  misuses, before running: the checker's severity follows the measured evidence instead),
  out_of_scope (bool), note (what the code does), build (callable -> (fn, args)).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import equinox as eqx
import flax.linen as nn
from flax import nnx
from flax.training.train_state import TrainState

B = 16
D = 8
EPS = 1e-7


def _x(b=B, d=D, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(b, d)), jnp.float32)


def _int_labels(n, k, seed=1, shape=None):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, k, size=shape if shape is not None else (n,))
    # make sure every class appears
    flat = lab.reshape(-1)
    flat[:k] = np.arange(k)
    return jnp.asarray(flat.reshape(lab.shape), jnp.int32)


def _onehot(n, k, seed=1):
    return jax.nn.one_hot(_int_labels(n, k, seed), k)


def _multihot(n, k, seed=2):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.4).astype(np.float32)
    y[0] = 0.0
    y[1] = 1.0
    y[2, :2] = 1.0
    return jnp.asarray(y)


# ----------------------------------------------------------------------------------------------
# style helpers
# ----------------------------------------------------------------------------------------------
class LinenMLP(nn.Module):
    out: int
    head: str = "none"  # static string: 'none' | 'softmax' | 'sigmoid' | 'relu' | 'tanh'

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(16)(x))
        z = nn.Dense(self.out)(h)
        if self.head == "softmax":
            return nn.softmax(z, axis=-1)
        if self.head == "sigmoid":
            return nn.sigmoid(z)
        if self.head == "relu":
            return nn.relu(z)
        if self.head == "tanh":
            return jnp.tanh(z)
        return z


def linen_state(out, head, d=D):
    m = LinenMLP(out=out, head=head)
    params = m.init(jax.random.PRNGKey(0), jnp.zeros((1, d)))["params"]
    return TrainState.create(apply_fn=m.apply, params=params, tx=optax.adam(1e-3))


class NNXNet(nnx.Module):
    def __init__(self, d, out, head, rngs):
        self.hidden = nnx.Linear(d, 16, rngs=rngs)
        self.out = nnx.Linear(16, out, rngs=rngs)
        self.head = head

    def __call__(self, x):
        z = self.out(nnx.relu(self.hidden(x)))
        return self.head(z)


def nnx_model_opt(out, head, d=D):
    model = NNXNet(d, out, head, nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    return model, opt


class EqxNet(eqx.Module):
    l1: eqx.nn.Linear
    l2: eqx.nn.Linear

    def __init__(self, d, out, key):
        k1, k2 = jax.random.split(key)
        self.l1 = eqx.nn.Linear(d, 16, key=k1)
        self.l2 = eqx.nn.Linear(16, out, key=k2)

    def __call__(self, x):  # single example
        return self.l2(jax.nn.relu(self.l1(x)))


def plain_params(d, out, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return {
        "w1": jax.random.normal(k1, (d, 16)) * 0.3, "b1": jnp.zeros(16),
        "w2": jax.random.normal(k2, (16, out)) * 0.3, "b2": jnp.zeros(out),
    }


def plain_forward(p, x):
    return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def keras_cce(y_true, y_pred):
    """Keras categorical_crossentropy(from_logits=False): renormalize, clip, -sum y log p."""
    y_pred = y_pred / jnp.sum(y_pred, axis=-1, keepdims=True)
    y_pred = jnp.clip(y_pred, EPS, 1 - EPS)
    return -jnp.sum(y_true * jnp.log(y_pred), axis=-1)


def keras_bce(y_true, y_pred):
    """Keras binary_crossentropy(from_logits=False) on probabilities."""
    p = jnp.clip(y_pred, EPS, 1 - EPS)
    return -jnp.mean(y_true * jnp.log(p) + (1 - y_true) * jnp.log(1 - p), axis=-1)


# ==============================================================================================
# MISUSE CASES
# ==============================================================================================

def m01_softmax_single_output():
    # stats.stackexchange 481881: Dense(1, activation='softmax') + categorical_crossentropy, binary y (N,1)
    state = linen_state(1, "softmax")
    x = _x()
    y = jnp.asarray(np.random.default_rng(3).integers(0, 2, (B, 1)), jnp.float32)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            p = state.apply_fn({"params": params}, x)
            return keras_cce(y, p).mean()
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss
    return train_step, (state, x, y)


def m02_sigmoid1_categorical_ce():
    # stats.stackexchange 565956: Dense(1,'sigmoid') + categorical_crossentropy, y (N,1) in {0,1}
    p = plain_params(D, 1)
    x = _x()
    y = jnp.asarray(np.random.default_rng(4).integers(0, 2, (B, 1)), jnp.float32)

    def loss(p, x, y):
        prob = jax.nn.sigmoid(plain_forward(p, x))
        return keras_cce(y, prob).mean()
    return jax.value_and_grad(loss), (p, x, y)


def m03_sigmoid1_three_class_indices():
    # newbedev "CNN with keras, accuracy not improving" (SO): 3 classes, Dense(1) sigmoid + binary_crossentropy,
    # labels 0/1/2 from the generator. Equinox.
    model = EqxNet(D, 1, jax.random.PRNGKey(0))
    opt = optax.rmsprop(1e-3)
    opt_state = opt.init(eqx.filter(model, eqx.is_array))
    x = _x()
    y = jnp.asarray(_int_labels(B, 3), jnp.float32)[:, None]

    def loss_fn(model, x, y):
        prob = jax.nn.sigmoid(jax.vmap(model)(x))
        return keras_bce(y, prob).mean()

    @eqx.filter_jit
    def train_step(model, opt_state, x, y):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss
    return train_step, (model, opt_state, x, y)


def m04_sigmoid_bce_19_onehot():
    # intellipaat 17161 (SO "keras model.evaluate vs model.predict accuracy"): 19 classes one-hot,
    # Dense(19,'sigmoid') + binary_crossentropy. NNX with optax on logits.
    model, opt = nnx_model_opt(19, lambda z: z)
    x = _x(32)
    y = _onehot(32, 19)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return optax.sigmoid_binary_cross_entropy(model(x), y).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def m05_focal_sigmoid_twice():
    # github itakurah/focal-loss-pytorch PR #5: sigmoid applied, then binary_cross_entropy_with_logits
    p = plain_params(D, 4)
    x = _x()
    y = _multihot(B, 4)

    def focal(p, x, y, gamma=2.0):
        probs = jax.nn.sigmoid(plain_forward(p, x))
        bce = optax.sigmoid_binary_cross_entropy(probs, y)  # bug: probs given as logits
        pt = jnp.where(y == 1, probs, 1 - probs)
        return jnp.mean((1 - pt) ** gamma * bce)
    return jax.grad(focal), (p, x, y)


def m06_gluefactory_token_confidence():
    # github cvg/glue-factory #89: token head = Sequential(Linear(dim,1), Sigmoid()), loss BCEWithLogitsLoss.
    # Equinox, hand-written BCE-with-logits, per token (batch, tokens).
    model = EqxNet(D, 1, jax.random.PRNGKey(1))
    desc = jnp.asarray(np.random.default_rng(5).normal(size=(4, 10, D)), jnp.float32)
    correct = jnp.asarray(np.random.default_rng(6).integers(0, 2, (4, 10)), jnp.float32)

    def bce_with_logits(x, t):
        return jnp.maximum(x, 0) - x * t + jnp.log1p(jnp.exp(-jnp.abs(x)))

    @eqx.filter_value_and_grad
    def loss(model, desc, correct):
        conf = jax.nn.sigmoid(jax.vmap(jax.vmap(model))(desc))[..., 0]
        return bce_with_logits(conf, correct).mean()
    return loss, (model, desc, correct)


def m07_graylab_softmax_then_ce():
    # github Graylab/DL4Proteins-notebooks #13: F.softmax(logits) returned, then CrossEntropyLoss. Linen TrainState.
    state = linen_state(5, "softmax")
    x = _x()
    y = _int_labels(B, 5)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            out = state.apply_fn({"params": params}, x)
            return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)
    return train_step, (state, x, y)


def m08_dana_from_logits_on_softmax():
    # github mmalekzadeh/dana #1: Dense(out,'softmax') + SparseCategoricalCrossentropy(from_logits=True).
    p = plain_params(D, 6)
    x = _x()
    y = _int_labels(B, 6)

    def loss(p, x, y):
        probs = jax.nn.softmax(plain_forward(p, x))
        # from_logits=True: logsumexp(z) - z[y]
        lse = jax.scipy.special.logsumexp(probs, axis=-1)
        picked = jnp.take_along_axis(probs, y[:, None], axis=-1)[:, 0]
        return jnp.mean(lse - picked)
    return jax.jit(jax.value_and_grad(loss)), (p, x, y)


def m09_multilabel_softmax_cce():
    # stackoverflow 41589126: several outputs can be active ([0,1,0,1,0,1,0,0,0,1]) with softmax + categorical CE. NNX.
    model, opt = nnx_model_opt(10, lambda z: nnx.softmax(z, axis=-1))
    x = _x(24)
    y = _multihot(24, 10)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return keras_cce(y, model(x)).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def m10_multilabel_sigmoid_keras_cce():
    # stats.stackexchange 207794: multi-label, sigmoid outputs, asks about categorical_crossentropy (Keras CCE renormalizes).
    p = plain_params(D, 6)
    x = _x()
    y = _multihot(B, 6)

    def loss(p, x, y):
        return keras_cce(y, jax.nn.sigmoid(plain_forward(p, x))).mean()
    return jax.grad(loss), (p, x, y)


def m11_relu_output_regression():
    # math.techqa.club "Are ReLU a very bad choice as last layer for regression": o = ReLU(Wx+b), J=(t-o)^2, t>0. Equinox.
    model = EqxNet(D, 1, jax.random.PRNGKey(2))
    x = _x()
    t = jnp.asarray(np.random.default_rng(7).uniform(0.2, 2.0, (B, 1)), jnp.float32)

    @eqx.filter_jit
    def step(model, x, t):
        def loss_fn(m):
            o = jax.nn.relu(jax.vmap(m)(x))
            return jnp.mean((t - o) ** 2)
        loss, g = eqx.filter_value_and_grad(loss_fn)(model)
        return eqx.apply_updates(model, jax.tree_util.tree_map(lambda a: -0.01 * a, g)), loss
    return step, (model, x, t)


def m12_sigmoid_output_targets_0_100():
    # stackoverflow 14982358: sigmoid output node, targets 0..100, squared error.
    p = plain_params(D, 1)
    x = _x()
    t = jnp.asarray(np.random.default_rng(8).uniform(0, 100, (B, 1)), jnp.float32)

    def loss(p, x, t):
        out = jax.nn.sigmoid(plain_forward(p, x))
        return 0.5 * jnp.sum((out - t) ** 2) / x.shape[0]
    return jax.value_and_grad(loss), (p, x, t)


def m13_tanh_output_targets_1_to_4():
    # ansaurus 3644795 (SO "neural network python"): tanh output, targets 1,2,3,4. Linen TrainState.
    state = linen_state(1, "tanh")
    x = _x()
    t = jnp.asarray(np.random.default_rng(9).integers(1, 5, (B, 1)), jnp.float32)

    @jax.jit
    def train_step(state, x, t):
        def loss_fn(params):
            out = state.apply_fn({"params": params}, x)
            return optax.l2_loss(out, t).mean()
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss
    return train_step, (state, x, t)


def m14_unscaled_targets_scan_accum():
    # discuss.pytorch.org/t/scaling-target-variables/41046: linear output, targets around -2700, MSE.
    # NNX, gradient accumulation over micro-batches with lax.scan.
    model, opt = nnx_model_opt(1, lambda z: z)
    x = _x(32).reshape(4, 8, D)
    t = jnp.asarray(-2700 + 30 * np.random.default_rng(10).normal(size=(4, 8, 1)), jnp.float32)

    @nnx.jit
    def train_step(model, opt, x, t):
        graphdef, state = nnx.split(model)

        def micro(acc, batch):
            xb, tb = batch

            def loss_fn(st):
                m = nnx.merge(graphdef, st)
                return jnp.mean((m(xb) - tb) ** 2)
            l, g = jax.value_and_grad(loss_fn)(state)
            return jax.tree_util.tree_map(jnp.add, acc, g), l
        zeros = jax.tree_util.tree_map(jnp.zeros_like, state)
        grads, losses = jax.lax.scan(micro, zeros, (x, t))
        return losses.mean(), grads
    return train_step, (model, opt, x, t)


def m15_mse_linear_onehot_fori():
    # stats.stackexchange 243090: k joint linear regressions on one-hot labels, square loss. fori_loop accumulation.
    p = plain_params(D, 6)
    x = _x(32).reshape(4, 8, D)
    y = _onehot(32, 6).reshape(4, 8, 6)

    def loss(p, xb, yb):
        return jnp.mean(jnp.sum((plain_forward(p, xb) - yb) ** 2, axis=-1))

    @jax.jit
    def step(p, x, y):
        def body(i, acc):
            g = jax.grad(loss)(p, x[i], y[i])
            return jax.tree_util.tree_map(lambda a, b: a + b / 4, acc, g)
        g = jax.lax.fori_loop(0, 4, body, jax.tree_util.tree_map(jnp.zeros_like, p))
        return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g)
    return step, (p, x, y)


def m16_sigmoid_mse_onehot():
    # stats.stackexchange 568238: k>2 classes, one-hot labels, sigmoid on logits, squared error. Linen TrainState.
    state = linen_state(5, "sigmoid")
    x = _x()
    y = _onehot(B, 5)

    def train_step(state, x, y):
        def loss_fn(params):
            yhat = state.apply_fn({"params": params}, x)
            return jnp.sum((y - yhat) ** 2, axis=-1).mean()
        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)
    return train_step, (state, x, y)


def m17_bce_from_logits_on_sigmoid():
    # github lovedlim/tensorflow #2: Dense(1,'sigmoid') + BinaryCrossentropy(from_logits=True) (Keras warns). Linen.
    state = linen_state(1, "sigmoid")
    x = _x()
    y = jnp.asarray(np.random.default_rng(11).integers(0, 2, (B, 1)), jnp.float32)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            out = state.apply_fn({"params": params}, x)
            return optax.sigmoid_binary_cross_entropy(out, y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss
    return train_step, (state, x, y)


def m18_kitsch_softmax_then_ce_eqx():
    # github kitsch231/pytorch_fake_news_Classification_mml #7: logits = self.softmax(logits) then CrossEntropyLoss.
    model = EqxNet(D, 2, jax.random.PRNGKey(3))
    x = _x()
    y = _onehot(B, 2)
    opt = optax.adam(1e-3)
    opt_state = opt.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def train_step(model, opt_state, x, y):
        def loss_fn(m):
            logits = jax.nn.softmax(jax.vmap(m)(x), axis=-1)
            return optax.softmax_cross_entropy(logits, y).mean()
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, opt_state = opt.update(grads, opt_state)
        return eqx.apply_updates(model, updates), opt_state, loss
    return train_step, (model, opt_state, x, y)


def m19_ce_on_sigmoid_outputs():
    # github ceo21ckim/PyTorch-Tutorial: CE_loss(nn.Sigmoid()(inputs), label_target). NNX.
    model, opt = nnx_model_opt(5, nnx.sigmoid)
    x = _x()
    y = _int_labels(B, 5)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


# ---- own misuse cases (not from a report) ----

def m20_tagger_softmax_masked_ce():
    # own: per-token tagger (batch, time, classes), softmax output, masked softmax CE with integer labels. Linen.
    class Tagger(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.tanh(nn.Dense(16)(x))
            return nn.softmax(nn.Dense(7)(h))
    m = Tagger()
    x = jnp.asarray(np.random.default_rng(12).normal(size=(4, 12, D)), jnp.float32)
    params = m.init(jax.random.PRNGKey(0), x)["params"]
    state = TrainState.create(apply_fn=m.apply, params=params, tx=optax.sgd(0.1))
    y = _int_labels(48, 7, shape=(4, 12))
    mask = jnp.asarray(np.arange(12)[None, :] < np.array([12, 9, 6, 3])[:, None], jnp.float32)

    @jax.jit
    def train_step(state, x, y, mask):
        def loss_fn(params):
            probs = state.apply_fn({"params": params}, x)
            ce = optax.softmax_cross_entropy_with_integer_labels(probs, y)
            return jnp.sum(ce * mask) / jnp.sum(mask)
        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)
    return train_step, (state, x, y, mask)


def m21_bce_on_raw_logits_clipped():
    # own: hand-written BCE on raw (unactivated) outputs, clipped to (eps, 1-eps) so no NaN.
    p = plain_params(D, 3)
    x = _x()
    y = _multihot(B, 3)

    def loss(p, x, y):
        out = plain_forward(p, x)  # forgot the sigmoid
        return keras_bce(y, out).mean()
    return jax.grad(loss), (p, x, y)


def m22_softmax_bce_onehot():
    # own: softmax outputs of exclusive classes trained with (Keras-style) binary cross-entropy.
    model, opt = nnx_model_opt(4, lambda z: nnx.softmax(z))
    x = _x()
    y = _onehot(B, 4)

    def train_step(model, opt, x, y):
        def loss_fn(model):
            return keras_bce(y, model(x)).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def m23_two_sigmoids_exclusive():
    # own: binary task with two one-hot columns, one sigmoid per column + sigmoid BCE (instead of 1 sigmoid or softmax).
    p = plain_params(D, 2)
    x = _x()
    y = _onehot(B, 2)

    def loss(p, x, y):
        return optax.sigmoid_binary_cross_entropy(plain_forward(p, x), y).mean()
    return jax.value_and_grad(loss), (p, x, y)


def m24_smoothed_multilabel_softmax_ce():
    # own: multi-hot targets, label smoothing, softmax cross-entropy. Linen TrainState.
    state = linen_state(6, "none")
    x = _x()
    y = _multihot(B, 6)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            logits = state.apply_fn({"params": params}, x)
            return optax.softmax_cross_entropy(logits, optax.smooth_labels(y, 0.1)).mean()
        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)
    return train_step, (state, x, y)


def m25_softmax_ce_one_logit_scan():
    # own (same bug as stats.se 481881, other spelling): 1 logit, optax.softmax_cross_entropy over axis of size 1,
    # gradient accumulation with lax.scan.
    p = plain_params(D, 1)
    x = _x(32).reshape(4, 8, D)
    y = jnp.asarray(np.random.default_rng(13).integers(0, 2, (4, 8, 1)), jnp.float32)

    @jax.jit
    def step(p, x, y):
        def micro(acc, batch):
            xb, yb = batch
            g = jax.grad(lambda p: optax.softmax_cross_entropy(plain_forward(p, xb), yb).mean())(p)
            return jax.tree_util.tree_map(jnp.add, acc, g), None
        g, _ = jax.lax.scan(micro, jax.tree_util.tree_map(jnp.zeros_like, p), (x, y))
        return g
    return step, (p, x, y)


def m26_unclipped_log_softmax():
    # own: hand-written -sum(y * log(softmax(z))) without clipping (README: log-of-softmax, a warning).
    model = EqxNet(D, 5, jax.random.PRNGKey(4))
    x = _x()
    y = _onehot(B, 5)

    @eqx.filter_value_and_grad
    def loss(model, x, y):
        probs = jax.nn.softmax(jax.vmap(model)(x), axis=-1)
        return -jnp.mean(jnp.sum(y * jnp.log(probs), axis=-1))
    return loss, (model, x, y)


# ==============================================================================================
# CORRECT CASES
# ==============================================================================================

def c01_graylab_fix_logits_ce():
    # fix of Graylab #13: return logits, CrossEntropyLoss on them. Linen TrainState.
    state = linen_state(5, "none")
    x = _x()
    y = _int_labels(B, 5)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            return optax.softmax_cross_entropy_with_integer_labels(state.apply_fn({"params": params}, x), y).mean()
        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)
    return train_step, (state, x, y)


def c02_maskrcnn_logits_and_probs():
    # github matterport/Mask_RCNN #427 (resolved: logits go to the loss, softmax only gives mrcnn_prob).
    p = plain_params(D, 4)
    x = _x()
    y = _int_labels(B, 4)

    def loss(p, x, y):
        class_logits = plain_forward(p, x)
        class_probs = jax.nn.softmax(class_logits)
        ce = optax.softmax_cross_entropy_with_integer_labels(class_logits, y).mean()
        acc = jnp.mean(jnp.argmax(class_probs, -1) == y)
        return ce, (class_probs, acc)
    return jax.value_and_grad(loss, has_aux=True), (p, x, y)


def c03_coincheung_focal_correct():
    # github CoinCheung/pytorch-loss #10: probs = sigmoid(logits) only for the focal weight; BCE-with-logits on logits.
    model, opt = nnx_model_opt(4, lambda z: z)
    x = _x()
    y = _multihot(B, 4)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            logits = model(x)
            probs = jax.lax.stop_gradient(jax.nn.sigmoid(logits))
            alpha = jnp.where(y == 1, 0.25, 0.75)
            pt = jnp.where(y == 1, probs, 1 - probs)
            ce = optax.sigmoid_binary_cross_entropy(logits, y)
            return jnp.mean(alpha * (1 - pt) ** 2 * ce)
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def c04_fvcore_sigmoid_focal():
    # github facebookresearch/fvcore #126: p = sigmoid(inputs) for p_t; ce = BCE_with_logits(inputs). Equinox, per anchor.
    model = EqxNet(D, 3, jax.random.PRNGKey(5))
    x = _x()
    y = _multihot(B, 3, seed=9)

    @eqx.filter_grad
    def loss(model, x, y):
        inputs = jax.vmap(model)(x)
        p = jax.nn.sigmoid(inputs)
        ce = optax.sigmoid_binary_cross_entropy(inputs, y)
        p_t = p * y + (1 - p) * (1 - y)
        return jnp.mean(ce * (1 - p_t) ** 2)
    return loss, (model, x, y)


def c05_onsets_frames_sigmoid_bce_rank3():
    # github jongwook/onsets-and-frames #35 (resolved: sigmoid is inside the stack; BCE on probabilities is right).
    # Piano roll (batch, frames, keys), multi-hot.
    class Stack(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.sigmoid(nn.Dense(8)(nn.relu(nn.Dense(16)(x))))
    m = Stack()
    x = jnp.asarray(np.random.default_rng(14).normal(size=(2, 20, D)), jnp.float32)
    params = m.init(jax.random.PRNGKey(0), x)["params"]
    y = jnp.asarray((np.random.default_rng(15).random((2, 20, 8)) < 0.3), jnp.float32)

    def loss(params, x, y):
        pred = m.apply({"params": params}, x)
        pred = jnp.clip(pred, 1e-7, 1 - 1e-7)
        return -jnp.mean(y * jnp.log(pred) + (1 - y) * jnp.log(1 - pred))
    return jax.grad(loss), (params, x, y)


def c06_multilabel_sigmoid_bce_fix():
    # newbetuts 44164749 ("How does Keras handle multilabel classification?"): sigmoid + binary_crossentropy. NNX.
    model, opt = nnx_model_opt(10, lambda z: z)
    x = _x(24)
    y = _multihot(24, 10)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return optax.sigmoid_binary_cross_entropy(model(x), y).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def c07_single_sigmoid_binary_fix():
    # fix of stats.se 481881: Dense(1) + sigmoid BCE on the logit. Linen.
    state = linen_state(1, "none")
    x = _x()
    y = jnp.asarray(np.random.default_rng(3).integers(0, 2, (B, 1)), jnp.float32)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            return optax.sigmoid_binary_cross_entropy(state.apply_fn({"params": params}, x), y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss
    return train_step, (state, x, y)


def c08_standardized_regression_fix():
    # fix of SO 14982358 / pytorch forum 41046: linear output, standardized targets.
    p = plain_params(D, 1)
    x = _x()
    raw = np.random.default_rng(8).uniform(0, 100, (B, 1))
    t = jnp.asarray((raw - raw.mean()) / raw.std(), jnp.float32)

    def loss(p, x, t):
        return jnp.mean((plain_forward(p, x) - t) ** 2)
    return jax.value_and_grad(loss), (p, x, t)


def c09_macr_log_sigmoid_pairwise():
    # github weitianxin/MACR #1: -log(sigmoid(pos)+1e-10) - log(1 - sigmoid(neg) + 1e-10) on scores (correct, eps-guarded).
    k1, k2 = jax.random.split(jax.random.PRNGKey(7))
    U = jax.random.normal(k1, (10, 4)) * 0.1
    I = jax.random.normal(k2, (20, 4)) * 0.1
    users = jnp.asarray(np.arange(B) % 10)
    pos = jnp.asarray(np.arange(B) % 20)
    neg = jnp.asarray((np.arange(B) * 7 + 3) % 20)

    def loss(params, users, pos, neg):
        U, I = params
        pos_scores = jnp.sum(U[users] * I[pos], -1)
        neg_scores = jnp.sum(U[users] * I[neg], -1)
        return jnp.mean(-jnp.log(jax.nn.sigmoid(pos_scores) + 1e-10) - jnp.log(1 - jax.nn.sigmoid(neg_scores) + 1e-10))
    return jax.grad(loss), ((U, I), users, pos, neg)


def c10_distillation():
    # own: student logits vs stop_gradient(softmax(teacher/T)), plus hard-label CE. Equinox.
    student = EqxNet(D, 5, jax.random.PRNGKey(8))
    teacher = EqxNet(D, 5, jax.random.PRNGKey(9))
    x = _x()
    y = _int_labels(B, 5)

    @eqx.filter_value_and_grad
    def loss(student, teacher, x, y):
        s = jax.vmap(student)(x)
        t = jax.lax.stop_gradient(jax.nn.softmax(jax.vmap(teacher)(x) / 2.0))
        soft = optax.softmax_cross_entropy(s / 2.0, t).mean()
        hard = optax.softmax_cross_entropy_with_integer_labels(s, y).mean()
        return 0.5 * soft + 0.5 * hard
    return loss, (student, teacher, x, y)


def c11_label_smoothing_scan_accum():
    # own: one-hot + optax.smooth_labels + softmax CE on logits, micro-batches in lax.scan. Linen TrainState.
    state = linen_state(5, "none")
    x = _x(32).reshape(4, 8, D)
    y = _onehot(32, 5).reshape(4, 8, 5)

    @jax.jit
    def train_step(state, x, y):
        def micro(acc, b):
            xb, yb = b
            g = jax.grad(lambda prm: optax.softmax_cross_entropy(
                state.apply_fn({"params": prm}, xb), optax.smooth_labels(yb, 0.1)).mean())(state.params)
            return jax.tree_util.tree_map(jnp.add, acc, g), None
        g, _ = jax.lax.scan(micro, jax.tree_util.tree_map(jnp.zeros_like, state.params), (x, y))
        return state.apply_gradients(grads=jax.tree_util.tree_map(lambda a: a / 4, g))
    return train_step, (state, x, y)


def c12_tagger_masked_ce_fori():
    # own: per-token logits (batch, time, classes), masked CE, fori_loop over micro-batches. Equinox.
    model = EqxNet(D, 7, jax.random.PRNGKey(10))
    x = jnp.asarray(np.random.default_rng(16).normal(size=(2, 4, 12, D)), jnp.float32)
    y = _int_labels(96, 7, shape=(2, 4, 12))
    mask = jnp.asarray(np.random.default_rng(17).random((2, 4, 12)) < 0.8, jnp.float32)

    @eqx.filter_jit
    def step(model, x, y, mask):
        params, static = eqx.partition(model, eqx.is_array)

        def loss_fn(params, xb, yb, mb):
            m = eqx.combine(params, static)
            logits = jax.vmap(jax.vmap(m))(xb)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
            return jnp.sum(ce * mb) / jnp.maximum(jnp.sum(mb), 1.0)

        def body(i, acc):
            g = jax.grad(loss_fn)(params, x[i], y[i], mask[i])
            return jax.tree_util.tree_map(jnp.add, acc, g)
        g = jax.lax.fori_loop(0, 2, body, jax.tree_util.tree_map(jnp.zeros_like, params))
        return eqx.apply_updates(model, jax.tree_util.tree_map(lambda a: -0.05 * a, g))
    return step, (model, x, y, mask)


def c13_keras_cce_on_softmax_onehot():
    # own: Keras-style softmax + categorical_crossentropy(from_logits=False) with clipping on one-hot. NNX.
    model, opt = nnx_model_opt(5, lambda z: nnx.softmax(z, axis=-1))
    x = _x()
    y = _onehot(B, 5)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return keras_cce(y, model(x)).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def c14_tanh_scaled_targets_fix():
    # fix of ansaurus 3644795: targets scaled by 0.1 (0.1..0.4) with the tanh output. Linen.
    state = linen_state(1, "tanh")
    x = _x()
    t = 0.1 * jnp.asarray(np.random.default_rng(9).integers(1, 5, (B, 1)), jnp.float32)

    @jax.jit
    def train_step(state, x, t):
        def loss_fn(params):
            return optax.l2_loss(state.apply_fn({"params": params}, x), t).mean()
        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)
    return train_step, (state, x, t)


def c15_single_sigmoid_keras_bce_fix():
    # fix in stats.se 565956: 1 sigmoid output + binary_crossentropy on the probability (Keras from_logits=False).
    p = plain_params(D, 1)
    x = _x()
    y = jnp.asarray(np.random.default_rng(4).integers(0, 2, (B, 1)), jnp.float32)

    def loss(p, x, y):
        return keras_bce(y, jax.nn.sigmoid(plain_forward(p, x))).mean()
    return jax.value_and_grad(loss), (p, x, y)


def c16_relu_hidden_linear_output_fix():
    # fix of techqa ReLU-output: ReLU hidden, identity output, standardized positive targets. Equinox.
    model = EqxNet(D, 1, jax.random.PRNGKey(2))
    x = _x()
    raw = np.random.default_rng(7).uniform(0.2, 2.0, (B, 1))
    t = jnp.asarray((raw - raw.mean()) / raw.std(), jnp.float32)

    @eqx.filter_jit
    def step(model, x, t):
        def loss_fn(m):
            return jnp.mean((t - jax.vmap(m)(x)) ** 2)
        loss, g = eqx.filter_value_and_grad(loss_fn)(model)
        return eqx.apply_updates(model, jax.tree_util.tree_map(lambda a: -0.01 * a, g)), loss
    return step, (model, x, t)


def c17_ce_on_logits_nnx_fix():
    # fix of ceo21ckim tutorial: CE on the raw outputs. NNX.
    model, opt = nnx_model_opt(5, lambda z: z)
    x = _x()
    y = _int_labels(B, 5)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def c18_two_class_softmax_ce():
    # fix of kitsch231 #7 / boohere 80265: 2 logits, softmax CE on one-hot. Equinox.
    model = EqxNet(D, 2, jax.random.PRNGKey(3))
    x = _x()
    y = _onehot(B, 2)

    @eqx.filter_value_and_grad
    def loss(model, x, y):
        return optax.softmax_cross_entropy(jax.vmap(model)(x), y).mean()
    return loss, (model, x, y)



# ==============================================================================================
# SECOND BATCH (harder / more varied)
# ==============================================================================================

def m27_probs_into_cross_entropy_logsoftmax():
    # imathworks "pytorch cross entropy loss implementation counterintuitive" (stats.se): probabilities given to
    # CrossEntropyLoss; spelled here as -log_softmax(p)[y] with jnp.eye(C)[labels].
    p = plain_params(D, 3)
    x = _x()
    y = _int_labels(B, 3)

    def loss(p, x, y):
        probs = jax.nn.softmax(plain_forward(p, x), axis=-1)
        onehot = jnp.eye(3)[y]
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(probs, axis=-1), axis=-1))
    return jax.jit(jax.grad(loss)), (p, x, y)


def m28_cartpole_single_node_softmax_policy():
    # Nemotron-CC-Math copy of a 2017 course forum thread "Softmax Always Returns 1" (CartPole, one action node
    # with softmax). REINFORCE: -log pi(a|s) * G, with the 'probability of action 1' from a softmax over 1 node.
    p = plain_params(4, 1)
    obs = _x(B, 4)
    actions = jnp.asarray(np.random.default_rng(20).integers(0, 2, (B,)), jnp.float32)
    returns = jnp.asarray(np.random.default_rng(21).normal(size=(B,)), jnp.float32)

    def loss(p, obs, actions, returns):
        prob1 = jax.nn.softmax(plain_forward(p, obs), axis=-1)[:, 0]
        logp = actions * jnp.log(prob1 + 1e-8) + (1 - actions) * jnp.log(1 - prob1 + 1e-8)
        return -jnp.mean(logp * returns)
    return jax.grad(loss), (p, obs, actions, returns)


def m29_yolo_sigmoid_then_sigmoid_ce_rank4():
    # github hunglc007/tensorflow-yolov4-tflite #157: pred_conf = sigmoid(conv_raw_conf) later passed to
    # sigmoid_cross_entropy_with_logits. Grid output (batch, gy, gx, anchors*(1+C)). Linen conv head.
    class Head(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(3 * (1 + 4), (1, 1))(nn.relu(nn.Conv(8, (3, 3))(x)))
    m = Head()
    x = jnp.asarray(np.random.default_rng(22).normal(size=(2, 6, 6, 3)), jnp.float32)
    params = m.init(jax.random.PRNGKey(0), x)["params"]
    conf_t = jnp.asarray(np.random.default_rng(23).random((2, 6, 6, 3, 1)) < 0.2, jnp.float32)
    cls = _int_labels(2 * 6 * 6 * 3, 4, seed=24).reshape(2, 6, 6, 3)
    prob_t = jax.nn.one_hot(cls, 4)

    def loss(params, x, conf_t, prob_t):
        out = m.apply({"params": params}, x).reshape(2, 6, 6, 3, 5)
        pred_conf = jax.nn.sigmoid(out[..., :1])
        pred_prob = jax.nn.sigmoid(out[..., 1:])
        conf_loss = optax.sigmoid_binary_cross_entropy(pred_conf, conf_t)
        prob_loss = conf_t * optax.sigmoid_binary_cross_entropy(pred_prob, prob_t)
        return conf_loss.sum() / 2 + prob_loss.sum() / 2
    return jax.grad(loss), (params, x, conf_t, prob_t)


def m30_daisyrec_sigmoid_then_bcewithlogits_rank1():
    # github yudi-mars/daisyRec PR #15: score = sigmoid(dot(u, i)) then BCEWithLogitsLoss; rank-1 outputs (batch,).
    k1, k2 = jax.random.split(jax.random.PRNGKey(3))
    emb = (jax.random.normal(k1, (10, 4)) * 0.1, jax.random.normal(k2, (20, 4)) * 0.1)
    users = jnp.asarray(np.arange(32) % 10)
    items = jnp.asarray((np.arange(32) * 3) % 20)
    label = jnp.asarray(np.random.default_rng(25).integers(0, 2, (32,)), jnp.float32)

    def loss(emb, users, items, label):
        U, I = emb
        pred = jax.nn.sigmoid(jnp.sum(U[users] * I[items], axis=-1))
        return optax.sigmoid_binary_cross_entropy(pred, label).mean()
    return jax.value_and_grad(loss), (emb, users, items, label)


def m31_lm_softmax_eye_onehot_rank3():
    # own: tiny LM, per-token softmax output (batch, time, vocab), CE via jnp.eye(V)[labels] and log_softmax.
    V = 11
    model = EqxNet(D, V, jax.random.PRNGKey(11))
    x = jnp.asarray(np.random.default_rng(26).normal(size=(3, 9, D)), jnp.float32)
    y = _int_labels(27, V, shape=(3, 9))

    @eqx.filter_jit
    def loss(model, x, y):
        probs = jax.nn.softmax(jax.vmap(jax.vmap(model))(x), axis=-1)
        tgt = jnp.eye(V)[y]
        return -jnp.mean(jnp.sum(tgt * jax.nn.log_softmax(probs), axis=-1))
    return eqx.filter_grad(loss), (model, x, y)


def m32_channels_first_softmax_then_ce():
    # own: segmentation logits channels-first (B, C, H, W), softmax over axis 1, then transposed into softmax CE.
    k = jax.random.PRNGKey(12)
    w = jax.random.normal(k, (4, 3)) * 0.3
    img = jnp.asarray(np.random.default_rng(27).normal(size=(2, 3, 5, 5)), jnp.float32)
    seg = _int_labels(50, 4, shape=(2, 5, 5))

    def loss(w, img, seg):
        logits = jnp.einsum("kc,bchw->bkhw", w, img)
        probs = jax.nn.softmax(logits, axis=1)
        per_pix = jnp.transpose(probs, (0, 2, 3, 1))
        return optax.softmax_cross_entropy_with_integer_labels(per_pix, seg).mean()
    return jax.grad(loss), (w, img, seg)


def m33_log_of_relu_output():
    # own: categorical NLL written as -log(relu(z)[y] + eps) on a ReLU output (no softmax).
    model, opt = nnx_model_opt(4, nnx.relu)
    x = _x()
    y = _int_labels(B, 4)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            out = model(x)
            picked = jnp.take_along_axis(out, y[:, None], axis=-1)[:, 0]
            return -jnp.mean(jnp.log(picked + 1e-7))
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def m34_bce_on_tanh_output():
    # own: binary classifier with tanh output fed to clipped BCE (values in (-1,1), negative half clipped).
    state = linen_state(1, "tanh")
    x = _x()
    y = jnp.asarray(np.random.default_rng(28).integers(0, 2, (B, 1)), jnp.float32)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            return keras_bce(y, state.apply_fn({"params": params}, x)).mean()
        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)
    return train_step, (state, x, y)


def m35_softmax_into_sigmoid_bce():
    # own: softmax outputs given to optax.sigmoid_binary_cross_entropy against one-hot rows (README example).
    model = EqxNet(D, 5, jax.random.PRNGKey(13))
    x = _x()
    y = _onehot(B, 5)

    @eqx.filter_value_and_grad
    def loss(model, x, y):
        probs = jax.nn.softmax(jax.vmap(model)(x))
        return optax.sigmoid_binary_cross_entropy(probs, y).mean()
    return loss, (model, x, y)


def m36_smoothed_onehot_sigmoid_bce():
    # own: 5 exclusive classes, label-smoothed one-hot targets, independent sigmoids with BCE.
    p = plain_params(D, 5)
    x = _x()
    y = optax.smooth_labels(_onehot(B, 5), 0.1)

    def loss(p, x, y):
        return optax.sigmoid_binary_cross_entropy(plain_forward(p, x), y).mean()
    return jax.grad(loss), (p, x, y)


def m37_distill_student_softmax_double():
    # own: distillation where the student head already has a softmax and is fed to softmax CE against the
    # stop_gradient teacher distribution (the teacher part is fine, the student part is double softmax).
    student, opt = nnx_model_opt(5, lambda z: nnx.softmax(z))
    teacher_logits = jnp.asarray(np.random.default_rng(29).normal(size=(B, 5)), jnp.float32)
    x = _x()

    @nnx.jit
    def train_step(student, opt, x, teacher_logits):
        def loss_fn(student):
            t = jax.lax.stop_gradient(jax.nn.softmax(teacher_logits / 4.0))
            return optax.softmax_cross_entropy(student(x), t).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(student)
        opt.update(student, grads)
        return loss
    return train_step, (student, opt, x, teacher_logits)


def m38_class_index_regression_linear():
    # stats.se 639785 ("single scalar output with MSE loss for classification"): one linear output regressed on class
    # indices 0..4. README only names class indices into ONE SIGMOID output; this linear variant is out of scope.
    p = plain_params(D, 1)
    x = _x()
    y = jnp.asarray(_int_labels(B, 5), jnp.float32)[:, None]

    def loss(p, x, y):
        return jnp.mean((plain_forward(p, x) - y) ** 2)
    return jax.grad(loss), (p, x, y)


def m39_softmax_over_batch_axis():
    # Common PyTorch bug nn.Softmax(dim=0) (normalizing over the batch). README reads the class axis as last and
    # does not claim this; out of scope.
    p = plain_params(D, 4)
    x = _x()
    y = _onehot(B, 4)

    def loss(p, x, y):
        probs = jax.nn.softmax(plain_forward(p, x), axis=0)
        return -jnp.mean(jnp.sum(y * jnp.log(jnp.clip(probs, 1e-7, 1.0)), axis=-1))
    return jax.grad(loss), (p, x, y)


def m40_multilabel_softmax_ce_cond():
    # own: multi-hot targets, softmax CE on logits, the loss chosen inside lax.cond (train vs eval branch). Equinox.
    model = EqxNet(D, 6, jax.random.PRNGKey(14))
    x = _x()
    y = _multihot(B, 6, seed=30)
    training = jnp.asarray(True)

    @eqx.filter_jit
    def loss(model, x, y, training):
        logits = jax.vmap(model)(x)
        return jax.lax.cond(training,
                            lambda: optax.softmax_cross_entropy(logits, y).mean(),
                            lambda: jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(y, -1)).astype(jnp.float32))
    return eqx.filter_grad(loss), (model, x, y, training)


# ---- correct, second batch ----

def c19_linear_regression_unit_range_targets():
    # own: identity output, targets already in [0, 1] (not standardized but unit scale), MSE.
    p = plain_params(D, 1)
    x = _x()
    t = jnp.asarray(np.random.default_rng(31).uniform(0, 1, (B, 1)), jnp.float32)
    return jax.grad(lambda p, x, t: jnp.mean((plain_forward(p, x) - t) ** 2)), (p, x, t)


def c20_sigmoid_bce_scaled_bounded_targets():
    # stats.se 233499 accepted answer: scale bounded targets to [0,1], sigmoid output + BCE (e.g. pixel intensities).
    class Dec(nn.Module):
        @nn.compact
        def __call__(self, z):
            return nn.Dense(12)(nn.relu(nn.Dense(16)(z)))
    m = Dec()
    z = _x(B, 4)
    params = m.init(jax.random.PRNGKey(0), z)["params"]
    pix = jnp.asarray(np.random.default_rng(32).integers(0, 256, (B, 12)) / 255.0, jnp.float32)

    def loss(params, z, pix):
        return optax.sigmoid_binary_cross_entropy(m.apply({"params": params}, z), pix).sum(-1).mean()
    return jax.grad(loss), (params, z, pix)


def c21_tanh_waveform_targets_in_range():
    # dans.world/Bounded-output-networks (Wave-U-Net): tanh output, audio targets in [-1, 1], MSE.
    model = EqxNet(D, 6, jax.random.PRNGKey(15))
    x = _x()
    t = jnp.asarray(np.random.default_rng(33).uniform(-0.9, 0.9, (B, 6)), jnp.float32)

    @eqx.filter_grad
    def loss(model, x, t):
        return jnp.mean((jnp.tanh(jax.vmap(model)(x)) - t) ** 2)
    return loss, (model, x, t)


def c22_sigmoid_mse_targets_in_unit_interval():
    # stats.se 7698 answer: sigmoid outputs with targets in (0,1) and squared error (bounded regression).
    p = plain_params(D, 1)
    x = _x()
    t = jnp.asarray(np.random.default_rng(34).uniform(0.05, 0.95, (B, 1)), jnp.float32)
    return jax.grad(lambda p, x, t: jnp.mean((jax.nn.sigmoid(plain_forward(p, x)) - t) ** 2)), (p, x, t)


def c23_gaussian_nll_head():
    # own: heteroscedastic regression, mean + log-variance head, Gaussian NLL, standardized targets.
    p = plain_params(D, 2)
    x = _x()
    raw = np.random.default_rng(35).normal(3.0, 2.0, (B,))
    t = jnp.asarray((raw - raw.mean()) / raw.std(), jnp.float32)

    def loss(p, x, t):
        out = plain_forward(p, x)
        mu, logvar = out[:, 0], out[:, 1]
        return jnp.mean(0.5 * (logvar + (t - mu) ** 2 * jnp.exp(-logvar)))
    return jax.grad(loss), (p, x, t)


def c24_segmentation_channels_last_ce():
    # own: per-pixel logits (B, H, W, C) from a Linen conv, softmax CE with integer masks.
    class Seg(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(4, (1, 1))(nn.relu(nn.Conv(8, (3, 3))(x)))
    m = Seg()
    x = jnp.asarray(np.random.default_rng(36).normal(size=(2, 6, 6, 3)), jnp.float32)
    params = m.init(jax.random.PRNGKey(0), x)["params"]
    state = TrainState.create(apply_fn=m.apply, params=params, tx=optax.adam(1e-3))
    seg = _int_labels(72, 4, shape=(2, 6, 6))

    @jax.jit
    def train_step(state, x, seg):
        def loss_fn(params):
            return optax.softmax_cross_entropy_with_integer_labels(state.apply_fn({"params": params}, x), seg).mean()
        return state.apply_gradients(grads=jax.grad(loss_fn)(state.params))
    return train_step, (state, x, seg)


def c25_binary_segmentation_one_logit():
    # github milesial/Pytorch-UNet #176: n_classes == 1 -> BCEWithLogitsLoss on one logit per pixel (correct).
    w = jax.random.normal(jax.random.PRNGKey(16), (3,)) * 0.3
    img = jnp.asarray(np.random.default_rng(37).normal(size=(2, 8, 8, 3)), jnp.float32)
    mask = jnp.asarray(np.random.default_rng(38).random((2, 8, 8, 1)) < 0.2, jnp.float32)

    def loss(w, img, mask):
        logits = (img @ w)[..., None]
        return optax.sigmoid_binary_cross_entropy(logits, mask).mean()
    return jax.grad(loss), (w, img, mask)


def c26_attention_softmax_inside_then_logits_ce():
    # own: self-attention (softmax over keys inside the model), classifier logits into softmax CE. NNX.
    class Attn(nnx.Module):
        def __init__(self, rngs):
            self.q = nnx.Linear(D, 8, rngs=rngs)
            self.k = nnx.Linear(D, 8, rngs=rngs)
            self.v = nnx.Linear(D, 8, rngs=rngs)
            self.out = nnx.Linear(8, 3, rngs=rngs)

        def __call__(self, x):  # (B, T, D)
            a = nnx.softmax(self.q(x) @ jnp.swapaxes(self.k(x), -1, -2) / jnp.sqrt(8.0), axis=-1)
            h = (a @ self.v(x)).mean(axis=1)
            return self.out(h)
    model = Attn(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    x = jnp.asarray(np.random.default_rng(39).normal(size=(B, 5, D)), jnp.float32)
    y = _int_labels(B, 3)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


def c27_policy_gradient_log_softmax():
    # fix of the CartPole thread: 2 action logits, REINFORCE with log_softmax(logits)[a] * G.
    p = plain_params(4, 2)
    obs = _x(B, 4)
    actions = jnp.asarray(np.random.default_rng(20).integers(0, 2, (B,)), jnp.int32)
    returns = jnp.asarray(np.random.default_rng(21).normal(size=(B,)), jnp.float32)

    def loss(p, obs, actions, returns):
        logp = jax.nn.log_softmax(plain_forward(p, obs))
        return -jnp.mean(jnp.take_along_axis(logp, actions[:, None], -1)[:, 0] * returns)
    return jax.grad(loss), (p, obs, actions, returns)


def c28_clip_contrastive():
    # own: CLIP-style symmetric InfoNCE: logits = a @ b.T / tau, CE with arange labels both ways.
    k1, k2 = jax.random.split(jax.random.PRNGKey(17))
    params = (jax.random.normal(k1, (D, 4)) * 0.3, jax.random.normal(k2, (D, 4)) * 0.3)
    xa, xb = _x(seed=40), _x(seed=41)

    def loss(params, xa, xb):
        wa, wb = params
        a = xa @ wa
        b = xb @ wb
        a = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
        b = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
        logits = a @ b.T / 0.07
        labels = jnp.arange(xa.shape[0])
        return 0.5 * (optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
                      + optax.softmax_cross_entropy_with_integer_labels(logits.T, labels).mean())
    return jax.grad(loss), (params, xa, xb)


def c29_keras_sparse_cce_on_softmax_clipped():
    # own: Keras sparse_categorical_crossentropy(from_logits=False) on softmax outputs: -log(clip(p[y])).
    state = linen_state(4, "softmax")
    x = _x()
    y = _int_labels(B, 4)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            probs = state.apply_fn({"params": params}, x)
            picked = jnp.take_along_axis(jnp.clip(probs, 1e-7, 1 - 1e-7), y[:, None], -1)[:, 0]
            return -jnp.mean(jnp.log(picked))
        return state.apply_gradients(grads=jax.grad(loss_fn)(state.params))
    return train_step, (state, x, y)


def c30_weighted_ce_with_padding_rows():
    # own: class-weighted CE on logits, one-hot targets with padding rows of zeros (ignored examples).
    p = plain_params(D, 4)
    x = _x()
    y = np.array(_onehot(B, 4))
    y[-3:] = 0.0
    y = jnp.asarray(y)
    w = jnp.asarray([1.0, 2.0, 1.0, 0.5])

    def loss(p, x, y):
        ce = optax.softmax_cross_entropy(plain_forward(p, x), y)
        valid = y.sum(-1)
        weight = (y * w).sum(-1)
        return jnp.sum(ce * weight) / jnp.maximum(valid.sum(), 1.0)
    return jax.grad(loss), (p, x, y)


def c31_softplus_positive_regression_targets_standard_scale():
    # own: positive targets (counts, unit scale), softplus output + Poisson NLL.
    model = EqxNet(D, 1, jax.random.PRNGKey(18))
    x = _x()
    counts = jnp.asarray(np.random.default_rng(42).poisson(1.5, (B, 1)), jnp.float32)

    @eqx.filter_grad
    def loss(model, x, counts):
        rate = jax.nn.softplus(jax.vmap(model)(x)) + 1e-6
        return jnp.mean(rate - counts * jnp.log(rate))
    return loss, (model, x, counts)


def c32_binary_single_sigmoid_brier():
    # own: one sigmoid output, binary 0/1 targets, squared error (Brier) - acceptable for binary.
    p = plain_params(D, 1)
    x = _x()
    y = jnp.asarray(np.random.default_rng(43).integers(0, 2, (B, 1)), jnp.float32)
    return jax.grad(lambda p, x, y: jnp.mean((jax.nn.sigmoid(plain_forward(p, x)) - y) ** 2)), (p, x, y)



# ==============================================================================================
# THIRD BATCH
# ==============================================================================================

def m41_yolo_head_sigmoid_then_log_sigmoid_bce():
    # github argusswift/YOLOv4-pytorch #89: yolo_head applies sigmoid to conf and class, loss uses BCEWithLogitsLoss.
    # Here the logits-BCE is hand-written with jax.nn.log_sigmoid; objectness only (binary). Equinox.
    model = EqxNet(D, 1, jax.random.PRNGKey(19))
    x = _x(32)
    obj = jnp.asarray(np.random.default_rng(44).random((32, 1)) < 0.3, jnp.float32)

    @eqx.filter_value_and_grad
    def loss(model, x, obj):
        conf = jax.nn.sigmoid(jax.vmap(model)(x))
        return -jnp.mean(obj * jax.nn.log_sigmoid(conf) + (1 - obj) * jax.nn.log_sigmoid(-conf))
    return loss, (model, x, obj)


def m42_manual_softmax_then_ce():
    # own: softmax written by hand exp(z)/sum(exp(z)) in the model, then optax softmax CE.
    p = plain_params(D, 4)
    x = _x()
    y = _int_labels(B, 4)

    def loss(p, x, y):
        z = plain_forward(p, x)
        e = jnp.exp(z - z.max(-1, keepdims=True))
        probs = e / e.sum(-1, keepdims=True)
        return optax.softmax_cross_entropy_with_integer_labels(probs, y).mean()
    return jax.grad(loss), (p, x, y)


def m43_manual_sigmoid_then_sigmoid_bce():
    # own: sigmoid written by hand 1/(1+exp(-z)) in the model, then optax.sigmoid_binary_cross_entropy (multi-label).
    p = plain_params(D, 3)
    x = _x()
    y = _multihot(B, 3, seed=45)

    def loss(p, x, y):
        probs = 1.0 / (1.0 + jnp.exp(-plain_forward(p, x)))
        return optax.sigmoid_binary_cross_entropy(probs, y).mean()
    return jax.grad(loss), (p, x, y)


def m44_per_timestep_softmax_single():
    # own (stats.se 481881 bug, sequence form): per-timestep binary event, Dense(1) + softmax over last axis,
    # (batch, time, 1) outputs, Keras BCE on probabilities. Linen.
    class Seq(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.softmax(nn.Dense(1)(nn.tanh(nn.Dense(8)(x))), axis=-1)
    m = Seq()
    x = jnp.asarray(np.random.default_rng(46).normal(size=(3, 10, D)), jnp.float32)
    params = m.init(jax.random.PRNGKey(0), x)["params"]
    y = jnp.asarray(np.random.default_rng(47).integers(0, 2, (3, 10, 1)), jnp.float32)

    def loss(params, x, y):
        return keras_bce(y, m.apply({"params": params}, x)).mean()
    return jax.grad(loss), (params, x, y)


def c33_standardize_inside_step():
    # own: raw targets ~ -2700 are standardized inside the train step with mean/std passed as arguments.
    p = plain_params(D, 1)
    x = _x()
    raw = jnp.asarray(-2700 + 30 * np.random.default_rng(48).normal(size=(B, 1)), jnp.float32)
    mu, sd = raw.mean(), raw.std()

    def loss(p, x, raw, mu, sd):
        t = (raw - mu) / sd
        return jnp.mean((plain_forward(p, x) - t) ** 2)
    return jax.grad(loss), (p, x, raw, mu, sd)


def c34_denormalized_prediction_vs_raw_targets():
    # own: network predicts in standardized space; prediction is de-normalized (pred*sd+mu) and compared to raw targets.
    model, opt = nnx_model_opt(1, lambda z: z)
    x = _x()
    raw = jnp.asarray(-2700 + 30 * np.random.default_rng(49).normal(size=(B, 1)), jnp.float32)
    mu, sd = float(raw.mean()), float(raw.std())

    @nnx.jit
    def train_step(model, opt, x, raw):
        def loss_fn(model):
            pred = model(x) * sd + mu
            return jnp.mean(((pred - raw) / sd) ** 2)
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, raw)


def c35_vae_bernoulli_decoder():
    # own: VAE, Gaussian encoder (mean, logvar), Bernoulli decoder logits with sigmoid BCE on binarized pixels, KL.
    class VAE(nn.Module):
        @nn.compact
        def __call__(self, x, key):
            h = nn.relu(nn.Dense(16)(x))
            mean, logvar = nn.Dense(2)(h), nn.Dense(2)(h)
            z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
            logits = nn.Dense(x.shape[-1])(nn.relu(nn.Dense(16)(z)))
            return logits, mean, logvar
    m = VAE()
    x = jnp.asarray(np.random.default_rng(50).random((B, 12)) < 0.5, jnp.float32)
    key = jax.random.PRNGKey(1)
    params = m.init(jax.random.PRNGKey(0), x, key)["params"]

    def loss(params, x, key):
        logits, mean, logvar = m.apply({"params": params}, x, key)
        rec = optax.sigmoid_binary_cross_entropy(logits, x).sum(-1)
        kl = -0.5 * jnp.sum(1 + logvar - mean ** 2 - jnp.exp(logvar), axis=-1)
        return jnp.mean(rec + kl)
    return jax.grad(loss), (params, x, key)


def c36_mixture_density_network():
    # own: MDN: log_softmax mixture weights + Gaussian log-likelihoods, logsumexp over components (correct).
    p = plain_params(D, 3 * 3)
    x = _x()
    raw = np.random.default_rng(51).normal(size=(B,))
    t = jnp.asarray((raw - raw.mean()) / raw.std(), jnp.float32)

    def loss(p, x, t):
        out = plain_forward(p, x)
        pi_logits, mu, log_sigma = out[:, :3], out[:, 3:6], out[:, 6:]
        log_pi = jax.nn.log_softmax(pi_logits, axis=-1)
        log_n = -0.5 * ((t[:, None] - mu) / jnp.exp(log_sigma)) ** 2 - log_sigma - 0.5 * jnp.log(2 * jnp.pi)
        return -jnp.mean(jax.scipy.special.logsumexp(log_pi + log_n, axis=-1))
    return jax.grad(loss), (p, x, t)


def c37_mil_attention_pooling():
    # own: multiple-instance learning: softmax attention over instances, bag probability = sum a_i sigmoid(z_i),
    # clipped BCE against a binary bag label.
    k1, k2 = jax.random.split(jax.random.PRNGKey(20))
    params = (jax.random.normal(k1, (D,)) * 0.3, jax.random.normal(k2, (D,)) * 0.3)
    bags = jnp.asarray(np.random.default_rng(52).normal(size=(B, 6, D)), jnp.float32)
    y = jnp.asarray(np.random.default_rng(53).integers(0, 2, (B,)), jnp.float32)

    def loss(params, bags, y):
        wa, wc = params
        a = jax.nn.softmax(bags @ wa, axis=-1)          # attention over the 6 instances
        inst = jax.nn.sigmoid(bags @ wc)               # per-instance probability
        p = jnp.clip(jnp.sum(a * inst, axis=-1), 1e-7, 1 - 1e-7)
        return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
    return jax.grad(loss), (params, bags, y)


def c38_mixup_soft_targets():
    # own (mixup, Zhang et al. 2018): convex mixes of one-hot rows (two non-zero entries), softmax CE on logits.
    state = linen_state(5, "none")
    rng = np.random.default_rng(54)
    x1, x2 = _x(seed=55), _x(seed=56)
    y1, y2 = _onehot(B, 5, seed=57), _onehot(B, 5, seed=58)
    lam = jnp.asarray(rng.beta(0.4, 0.4, (B, 1)), jnp.float32)

    @jax.jit
    def train_step(state, x1, x2, y1, y2, lam):
        x = lam * x1 + (1 - lam) * x2
        y = lam * y1 + (1 - lam) * y2
        def loss_fn(params):
            return optax.softmax_cross_entropy(state.apply_fn({"params": params}, x), y).mean()
        return state.apply_gradients(grads=jax.grad(loss_fn)(state.params))
    return train_step, (state, x1, x2, y1, y2, lam)


def c39_precomputed_soft_labels():
    # own: distillation with teacher probabilities precomputed offline and passed in as the target array.
    model = EqxNet(D, 5, jax.random.PRNGKey(21))
    x = _x()
    soft = jax.nn.softmax(jnp.asarray(np.random.default_rng(59).normal(size=(B, 5)) * 2, jnp.float32))

    @eqx.filter_value_and_grad
    def loss(model, x, soft):
        return optax.softmax_cross_entropy(jax.vmap(model)(x), soft).mean()
    return loss, (model, x, soft)



def c40_linear_output_positive_unit_scale_targets():
    # own: identity output, positive targets ~U(0.2, 2.0) (same targets as m11), not standardized, MSE.
    model = EqxNet(D, 1, jax.random.PRNGKey(2))
    x = _x()
    t = jnp.asarray(np.random.default_rng(7).uniform(0.2, 2.0, (B, 1)), jnp.float32)

    @eqx.filter_grad
    def loss(m, x, t):
        return jnp.mean((t - jax.vmap(m)(x)) ** 2)
    return loss, (model, x, t)


def c41_log_softmax_output_into_softmax_ce():
    # own: model returns log-probabilities (PyTorch LogSoftmax habit) and they go to softmax CE. Since
    # log_softmax(log_softmax(z)) == log_softmax(z), loss and gradients are identical to CE on logits: correct.
    state = linen_state(5, "none")
    x = _x()
    y = _int_labels(B, 5)

    @jax.jit
    def train_step(state, x, y):
        def loss_fn(params):
            logp = nn.log_softmax(state.apply_fn({"params": params}, x))
            return optax.softmax_cross_entropy_with_integer_labels(logp, y).mean()
        return state.apply_gradients(grads=jax.grad(loss_fn)(state.params))
    return train_step, (state, x, y)


def c42_log_softmax_nll_masked_rank3():
    # own: LogSoftmax + NLLLoss style, per-token with ignore mask (labels -100 -> masked). NNX.
    model, opt = nnx_model_opt(6, lambda z: nnx.log_softmax(z, axis=-1))
    x = jnp.asarray(np.random.default_rng(60).normal(size=(3, 7, D)), jnp.float32)
    y = np.array(_int_labels(21, 6, shape=(3, 7)))
    y[:, 5:] = -100
    y = jnp.asarray(y)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            logp = model(x)
            valid = y != -100
            safe = jnp.where(valid, y, 0)
            nll = -jnp.take_along_axis(logp, safe[..., None], -1)[..., 0]
            return jnp.sum(nll * valid) / jnp.sum(valid)
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss
    return train_step, (model, opt, x, y)


# ==============================================================================================
def _c(id, source, kind, build, expected=(), severity=None, note="", out_of_scope=False):
    return dict(id=id, source=source, kind=kind, build=build, expected=set(expected), severity=severity,
                note=note, out_of_scope=out_of_scope)


CASES = [
    _c("m01", "https://stats.stackexchange.com/questions/481881", "misuse", m01_softmax_single_output,
       ["softmax-single-output"], "error", "Dense(1)+softmax, Keras CCE, binary y (N,1); Linen TrainState"),
    _c("m02", "https://stats.stackexchange.com/questions/565956", "misuse", m02_sigmoid1_categorical_ce,
       ["softmax-single-output", "sigmoid-into-softmax-loss"], "error",
       "1 sigmoid output, Keras CCE (p/p.sum over size-1 axis)"),
    _c("m03", "https://newbedev.com/cnn-with-keras-accuracy-not-improving", "misuse", m03_sigmoid1_three_class_indices,
       ["sigmoid-exclusive-classes"], "error", "3 classes as indices 0..2 into 1 sigmoid + BCE; Equinox"),
    _c("m04", "https://intellipaat.com/community/17161", "misuse", m04_sigmoid_bce_19_onehot,
       ["sigmoid-exclusive-classes"], "warning", "19 one-hot classes, sigmoid BCE on logits; NNX"),
    _c("m05", "https://github.com/itakurah/focal-loss-pytorch/pull/5", "misuse", m05_focal_sigmoid_twice,
       ["sigmoid-twice"], "warning", "sigmoid probs fed to optax.sigmoid_binary_cross_entropy in focal loss"),
    _c("m06", "https://github.com/cvg/glue-factory/issues/89", "misuse", m06_gluefactory_token_confidence,
       ["sigmoid-twice"], "warning", "sigmoid head + hand-written BCE-with-logits per token; Equinox"),
    _c("m07", "https://github.com/Graylab/DL4Proteins-notebooks/issues/13", "misuse", m07_graylab_softmax_then_ce,
       ["double-softmax"], "warning", "softmax output into softmax CE (int labels); Linen TrainState"),
    _c("m08", "https://github.com/mmalekzadeh/dana/issues/1", "misuse", m08_dana_from_logits_on_softmax,
       ["double-softmax"], "warning", "softmax output, from_logits CE spelled logsumexp(p)-p[y]"),
    _c("m09", "https://stackoverflow.com/questions/41589126", "misuse", m09_multilabel_softmax_cce,
       ["softmax-multilabel"], "error", "multi-hot targets, softmax + Keras CCE; NNX"),
    _c("m10", "https://stats.stackexchange.com/questions/207794", "misuse", m10_multilabel_sigmoid_keras_cce,
       ["sigmoid-into-softmax-loss", "softmax-multilabel"], "error",
       "multi-hot targets, sigmoid outputs renormalized by Keras CCE"),
    _c("m11", "https://math.techqa.club/are-relu-a-very-bad-choice-as-last-layer-for-regression-4483706", "misuse",
       m11_relu_output_regression, ["relu-regression-output"], "warning", "ReLU output, MSE, positive targets; Equinox"),
    _c("m12", "https://stackoverflow.com/questions/14982358", "misuse", m12_sigmoid_output_targets_0_100,
       ["sigmoid-regression-output", "unscaled-regression-targets"], "error", "sigmoid output, targets 0..100, SSE"),
    _c("m13", "http://ansaurus.com/question/3644795-neural-network-python", "misuse", m13_tanh_output_targets_1_to_4,
       ["bounded-regression-output"], "error", "tanh output, targets 1..4, l2; Linen"),
    _c("m14", "https://discuss.pytorch.org/t/scaling-target-variables/41046", "misuse", m14_unscaled_targets_scan_accum,
       ["unscaled-regression-targets"], "error", "identity output, targets ~-2700, MSE; NNX split/merge + lax.scan"),
    _c("m15", "https://stats.stackexchange.com/questions/243090", "misuse", m15_mse_linear_onehot_fori,
       ["regression-loss-on-classes"], "warning", "linear outputs, square loss vs one-hot (6 classes); fori_loop"),
    _c("m16", "https://stats.stackexchange.com/questions/568238", "misuse", m16_sigmoid_mse_onehot,
       ["sigmoid-exclusive-classes"], "warning", "sigmoid outputs, squared error vs one-hot of 5; Linen"),
    _c("m17", "https://github.com/lovedlim/tensorflow/issues/2", "misuse", m17_bce_from_logits_on_sigmoid,
       ["sigmoid-twice"], "warning", "Dense(1,sigmoid) + sigmoid BCE (from_logits=True); Linen"),
    _c("m18", "https://github.com/kitsch231/pytorch_fake_news_Classification_mml/issues/7", "misuse",
       m18_kitsch_softmax_then_ce_eqx, ["double-softmax"], "warning", "softmax then optax.softmax_cross_entropy, 2 classes; Equinox"),
    _c("m19", "https://github.com/ceo21ckim/PyTorch-Tutorial", "misuse", m19_ce_on_sigmoid_outputs,
       ["sigmoid-into-softmax-loss"], "warning", "sigmoid outputs into softmax CE int labels; NNX"),
    _c("m20", "own", "misuse", m20_tagger_softmax_masked_ce, ["double-softmax"], "warning",
       "rank-3 per-token softmax into masked softmax CE; Linen"),
    _c("m21", "own", "misuse", m21_bce_on_raw_logits_clipped, ["log-of-unbounded"], "error",
       "clipped BCE on raw linear outputs, multi-label"),
    _c("m22", "own", "misuse", m22_softmax_bce_onehot, ["probability-loss-mismatch"], "warning",
       "softmax outputs, Keras BCE vs one-hot of 4; NNX (no jit)"),
    _c("m23", "own", "misuse", m23_two_sigmoids_exclusive, ["sigmoid-two-exclusive-classes"], "warning",
       "2 one-hot columns, sigmoid BCE on 2 logits"),
    _c("m24", "own", "misuse", m24_smoothed_multilabel_softmax_ce, ["softmax-multilabel"], "error",
       "multi-hot smoothed with optax.smooth_labels, softmax CE on logits; Linen"),
    _c("m25", "own (same bug as stats.se 481881)", "misuse", m25_softmax_ce_one_logit_scan, ["softmax-single-output"],
       "error", "optax.softmax_cross_entropy over size-1 axis, lax.scan accumulation"),
    _c("m26", "own", "misuse", m26_unclipped_log_softmax, ["log-of-softmax"], "warning",
       "unclipped -sum y log softmax(z); Equinox"),

    _c("c01", "fix of github Graylab/DL4Proteins-notebooks#13", "correct", c01_graylab_fix_logits_ce),
    _c("c02", "https://github.com/matterport/Mask_RCNN/issues/427", "correct", c02_maskrcnn_logits_and_probs),
    _c("c03", "https://github.com/CoinCheung/pytorch-loss/issues/10", "correct", c03_coincheung_focal_correct),
    _c("c04", "https://github.com/facebookresearch/fvcore/issues/126", "correct", c04_fvcore_sigmoid_focal),
    _c("c05", "https://github.com/jongwook/onsets-and-frames/issues/35", "correct", c05_onsets_frames_sigmoid_bce_rank3),
    _c("c06", "https://newbetuts.com/44164749-how-does-keras-handle-multilabel-classification", "correct",
       c06_multilabel_sigmoid_bce_fix),
    _c("c07", "fix of stats.se 481881", "correct", c07_single_sigmoid_binary_fix),
    _c("c08", "fix of SO 14982358 / pytorch forum 41046", "correct", c08_standardized_regression_fix),
    _c("c09", "https://github.com/weitianxin/MACR/issues/1", "correct", c09_macr_log_sigmoid_pairwise),
    _c("c10", "own", "correct", c10_distillation),
    _c("c11", "own", "correct", c11_label_smoothing_scan_accum),
    _c("c12", "own", "correct", c12_tagger_masked_ce_fori),
    _c("c13", "own", "correct", c13_keras_cce_on_softmax_onehot),
    _c("c14", "fix of ansaurus 3644795", "correct", c14_tanh_scaled_targets_fix),
    _c("c15", "fix of stats.se 565956", "correct", c15_single_sigmoid_keras_bce_fix),
    _c("c16", "fix of techqa relu-output", "correct", c16_relu_hidden_linear_output_fix),
    _c("c17", "fix of ceo21ckim tutorial", "correct", c17_ce_on_logits_nnx_fix),
    _c("c18", "fix of kitsch231#7", "correct", c18_two_class_softmax_ce),
    _c("m27", "https://imathworks.com/cv/solved-pytorch-cross-entropy-loss-implementation-counterintuitive/", "misuse",
       m27_probs_into_cross_entropy_logsoftmax, ["double-softmax"], "warning",
       "softmax probs into -log_softmax with jnp.eye(C)[y]"),
    _c("m28", "https://huggingface.co/datasets/nvidia/Nemotron-CC-Math-v1 (forum thread 'Softmax Always Returns 1', CartPole)",
       "misuse", m28_cartpole_single_node_softmax_policy, ["softmax-single-output"], "error",
       "REINFORCE with softmax over 1 action node; no class targets, actions 0/1"),
    _c("m29", "https://github.com/hunglc007/tensorflow-yolov4-tflite/issues/157", "misuse",
       m29_yolo_sigmoid_then_sigmoid_ce_rank4, ["sigmoid-twice"], "warning",
       "rank-5 YOLO grid, sigmoid conf/prob into sigmoid BCE; Linen conv"),
    _c("m30", "https://github.com/yudi-mars/daisyRec/pull/15", "misuse", m30_daisyrec_sigmoid_then_bcewithlogits_rank1,
       ["sigmoid-twice"], "warning", "rank-1 scores sigmoid(dot) into sigmoid BCE"),
    _c("m31", "own", "misuse", m31_lm_softmax_eye_onehot_rank3, ["double-softmax"], "warning",
       "LM (B,T,V) softmax then log_softmax with eye(V)[y]; Equinox"),
    _c("m32", "own", "misuse", m32_channels_first_softmax_then_ce, ["double-softmax"], "warning",
       "channels-first softmax(axis=1), transposed into softmax CE"),
    _c("m33", "own", "misuse", m33_log_of_relu_output, ["log-of-unbounded"], "error",
       "-log(relu(z)[y]+eps); NNX"),
    _c("m34", "own", "misuse", m34_bce_on_tanh_output, ["log-of-unbounded"], "error",
       "clipped BCE on a tanh output; Linen"),
    _c("m35", "own", "misuse", m35_softmax_into_sigmoid_bce, ["softmax-into-sigmoid-loss", "probability-loss-mismatch"],
       "warning", "softmax probs into optax.sigmoid_binary_cross_entropy, one-hot of 5; Equinox"),
    _c("m36", "own", "misuse", m36_smoothed_onehot_sigmoid_bce, ["sigmoid-exclusive-classes"], "warning",
       "smoothed one-hot of 5 exclusive classes, sigmoid BCE"),
    _c("m37", "own", "misuse", m37_distill_student_softmax_double, ["double-softmax"], "warning",
       "student softmax output into softmax CE vs stop_gradient teacher probs; NNX"),
    _c("m38", "https://stats.stackexchange.com/questions/639785", "misuse", m38_class_index_regression_linear,
       ["regression-loss-on-classes", "sigmoid-exclusive-classes"], "warning",
       "one linear output MSE-regressed on class indices 0..4", out_of_scope=True),
    _c("m39", "common nn.Softmax(dim=0) bug (no specific report)", "misuse", m39_softmax_over_batch_axis,
       [], "error", "softmax over the batch axis, CCE", out_of_scope=True),
    _c("m40", "own", "misuse", m40_multilabel_softmax_ce_cond, ["softmax-multilabel"], "error",
       "multi-hot, softmax CE inside lax.cond branch; Equinox"),

    _c("c19", "own", "correct", c19_linear_regression_unit_range_targets),
    _c("c20", "https://stats.stackexchange.com/questions/233499 (answer)", "correct", c20_sigmoid_bce_scaled_bounded_targets),
    _c("c21", "http://dans.world/Bounded-output-networks/", "correct", c21_tanh_waveform_targets_in_range),
    _c("c22", "https://stats.stackexchange.com/questions/7698 (answer)", "correct", c22_sigmoid_mse_targets_in_unit_interval),
    _c("c23", "own", "correct", c23_gaussian_nll_head),
    _c("c24", "own", "correct", c24_segmentation_channels_last_ce),
    _c("c25", "https://github.com/milesial/Pytorch-UNet/issues/176", "correct", c25_binary_segmentation_one_logit),
    _c("c26", "own", "correct", c26_attention_softmax_inside_then_logits_ce),
    _c("c27", "fix of CartPole forum thread", "correct", c27_policy_gradient_log_softmax),
    _c("c28", "own", "correct", c28_clip_contrastive),
    _c("c29", "own", "correct", c29_keras_sparse_cce_on_softmax_clipped),
    _c("c30", "own", "correct", c30_weighted_ce_with_padding_rows),
    _c("c31", "own", "correct", c31_softplus_positive_regression_targets_standard_scale),
    _c("c32", "own", "correct", c32_binary_single_sigmoid_brier),
    _c("m41", "https://github.com/argusswift/YOLOv4-pytorch/issues/89", "misuse", m41_yolo_head_sigmoid_then_log_sigmoid_bce,
       ["sigmoid-twice"], "warning", "sigmoid conf into hand-written log_sigmoid BCE-with-logits; Equinox"),
    _c("m42", "own", "misuse", m42_manual_softmax_then_ce, ["double-softmax"], "warning",
       "hand-written exp/sum softmax into optax softmax CE"),
    _c("m43", "own", "misuse", m43_manual_sigmoid_then_sigmoid_bce, ["sigmoid-twice"], "warning",
       "hand-written 1/(1+exp(-z)) into optax sigmoid BCE"),
    _c("m44", "own (stats.se 481881 bug, per-timestep)", "misuse", m44_per_timestep_softmax_single,
       ["softmax-single-output"], "error", "(B,T,1) softmax over size-1 axis, Keras BCE; Linen"),
    _c("c33", "own", "correct", c33_standardize_inside_step),
    _c("c34", "own", "correct", c34_denormalized_prediction_vs_raw_targets),
    _c("c35", "own", "correct", c35_vae_bernoulli_decoder),
    _c("c36", "own", "correct", c36_mixture_density_network),
    _c("c37", "own", "correct", c37_mil_attention_pooling),
    _c("c38", "own (mixup)", "correct", c38_mixup_soft_targets),
    _c("c39", "own", "correct", c39_precomputed_soft_labels),
    _c("c40", "own (twin of m11)", "correct", c40_linear_output_positive_unit_scale_targets),
    _c("c41", "own", "correct", c41_log_softmax_output_into_softmax_ce),
    _c("c42", "own", "correct", c42_log_softmax_nll_masked_rank3),
]
