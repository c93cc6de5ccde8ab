"""The compiled training engine: one program trains a whole table of models to early stop.

Pure functions over pytrees (`init`, `train_epoch`, `evaluate`, `fit`). A model is a row of
`ModelSettings`: its seed, which final activation / objective / label transform / conv and FC activation
it uses (indices into the config's tuples) and its learning rate. `fit` compiles, once per
`EngineConfig` and data shapes, a program that for every model:

  init params from its seed -> while not done and epoch < max_epochs:
      one epoch = ONE `lax.scan` over shuffled batches (reshuffled per epoch; the last partial
      batch kept, its padding weighted 0 so the loss is PyTorch's mean over it);
      valid metric; early-stopping bookkeeping (first epoch counts as an improvement, later ones
      only if strictly better; stop `patience` epochs after the best; NaN/inf -> diverged, stop)
  -> metrics of the best epoch's params on every evaluation set (test, HPO-valid, ...).

Models run through `lax.map(..., batch_size=models_in_parallel)`: 1 runs them one after another
inside the program (on CPU the fastest, see experiments/bench.py; a diverged or early-stopped
model costs nothing more), `n` vmaps all of them (GPU/TPU: that is where the speed comes from;
finished models stop changing while the others train). Choices by index use `lax.switch`, which
runs one branch per model when models run one at a time and selects among all under vmap.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxact import activations, losses, models, tasks

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Objective:
    """A loss and what it is applied to.

    on_logits=False is the documents' PyTorch semantics: the loss sees the *activated* output
    (nn.CrossEntropyLoss on softmax outputs = a double softmax; BCEWithLogits on softmax outputs =
    BCE of sigmoid(softmax(z))). on_logits=True is the corrected form on the pre-activation z.
    """

    loss: str
    on_logits: bool = False

    @property
    def name(self) -> str:
        return f"{self.loss}{'(logits)' if self.on_logits else ''}"


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """Everything that shapes the compiled program (hashable; it keys the compilation cache).

    The model config's activations may be tuples of names: each model then picks one by index.
    """

    task: str
    model: models.CNNConfig
    objectives: tuple[Objective, ...]
    label_transforms: tuple[str, ...] = ("none",)
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 10
    weight_decay: float = 0.01
    conv_impl: str | None = None
    eval_conv_impl: str | None = None
    eval_batch_size: int = 250  # measured on 2-core CPU, lax.conv forward: 0.14 s per 3,000 images vs 0.22 s at 1,000
    models_in_parallel: int | None = None

    def resolved(self) -> "EngineConfig":
        """Fills backend-dependent defaults and validates names."""
        tasks.get_task(self.task)
        for objective in self.objectives:
            losses.get(objective.loss)
        for name in self.label_transforms:
            tasks.get_label_transform(name)
        backend = jax.default_backend()
        conv_impl = self.conv_impl or models.default_conv_impl(backend)
        parallel = self.models_in_parallel or (1 if backend == "cpu" else 64)
        # Forward-only lax.conv is fast on CPU for one model; vmapped over models it is not.
        eval_impl = self.eval_conv_impl or ("lax" if backend != "cpu" or parallel == 1 else "patches")
        for impl in (conv_impl, eval_impl):
            if impl not in models.CONV_IMPLS:
                raise ValueError(f"unknown conv_impl {impl!r}; valid: {', '.join(models.CONV_IMPLS)}")
        return dataclasses.replace(self, conv_impl=conv_impl, eval_conv_impl=eval_impl, models_in_parallel=parallel)


class ModelSettings(NamedTuple):
    """One row per model; each field Int/Float[ndarray, "models"]."""

    seed: np.ndarray
    final: np.ndarray
    objective: np.ndarray
    label_transform: np.ndarray
    conv: np.ndarray
    fc: np.ndarray
    learning_rate: np.ndarray

    @classmethod
    def build(cls, seed, final=0, objective=0, label_transform=0, conv=0, fc=0, learning_rate=1e-3) -> "ModelSettings":
        """Broadcasts scalars and per-model sequences into aligned int32/float32 columns."""
        columns = np.broadcast_arrays(seed, final, objective, label_transform, conv, fc, learning_rate)
        return cls(*(np.asarray(c, np.float32 if name == "learning_rate" else np.int32).reshape(-1)
                     for name, c in zip(cls._fields, columns)))

    @property
    def size(self) -> int:
        return len(self.seed)


class Dataset(NamedTuple):
    """Images Float[Array, "n 28 28 1"] and targets Float[Array, "n outputs"] (original scale)."""

    images: Array
    targets: Array

    @classmethod
    def for_task(cls, task: tasks.Task, splits: dict) -> dict[str, "Dataset"]:
        """One Dataset per split (anything with `.images` and `.digits`), targets from `task`'s label map."""
        return {name: cls(split.images, task.targets(split.digits)) for name, split in splits.items()}


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """What the program reports after each epoch of each model (see `fit(on_epoch=...)`)."""

    model: int
    epoch: int
    train_loss: float
    valid_metric: float
    best_metric: float
    best_epoch: int
    done: bool


@dataclasses.dataclass
class FitResult:
    """Per-model results; arrays have a leading models axis.

    `best_valid` is the valid metric at `best_epoch` (0-based); `epochs` how many ran;
    histories are NaN after the last epoch; `evaluations[name]` the metric of the best params on
    each evaluation set (NaN if the model diverged before its first finite epoch).
    """

    best_epoch: np.ndarray
    epochs: np.ndarray
    best_valid: np.ndarray
    diverged: np.ndarray
    train_loss: np.ndarray
    valid_metric: np.ndarray
    evaluations: dict[str, np.ndarray]
    params: nnx.State
    rest: nnx.State
    seconds: float
    compile_seconds: float


@functools.lru_cache(maxsize=None)
def graphdef(model_config: models.CNNConfig):
    """The static structure of the CNN (shared by every model of a config)."""
    return nnx.split(models.CNN(model_config, nnx.Rngs(0)))[0]


def _choice_indices(config: EngineConfig, row: "ModelSettings") -> dict[str, Array]:
    return {site: getattr(row, site) for site, name in models.site_names(config.model).items() if isinstance(name, tuple)}


def init(config: EngineConfig, key: Array, row: ModelSettings) -> tuple[nnx.State, nnx.State]:
    """(params, rest) of one model: trainable `nnx.Param`s, and the rest (activation indices)."""
    model = models.CNN(config.model, nnx.Rngs(params=key))
    models.set_activation_indices(model, **_choice_indices(config, row))
    _, params, rest = nnx.split(model, nnx.Param, ...)
    return params, rest


def optimizer(config: EngineConfig) -> optax.GradientTransformation:
    """AdamW with PyTorch's defaults (betas 0.9/0.999, eps 1e-8, weight decay 0.01 on every
    parameter). The learning rate is injected state: `_fit_one` sets each model's own (its row's
    `learning_rate`, 1e-3 by default) in the optimizer state, so the 1e-3 here is only a placeholder."""
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=config.weight_decay)


def _switch(index: Array, branches: list[Callable], *args):
    return branches[0](*args) if len(branches) == 1 else jax.lax.switch(index, branches, *args)


def _objective_loss(objective: Objective, logits, outputs, targets):
    return losses.get(objective.loss)(logits if objective.on_logits else outputs, targets)


def per_example_loss(config: EngineConfig, row: ModelSettings, logits, outputs, targets) -> Array:
    """The row's objective on (z, final_activation(z)) and transformed targets: Float[Array, "batch"]."""
    branches = [functools.partial(_objective_loss, o) for o in config.objectives]
    return _switch(row.objective, branches, logits, outputs, targets)


def _transform(config: EngineConfig, row: ModelSettings, direction: str, values, stats):
    branches = [getattr(tasks.get_label_transform(n), direction) for n in config.label_transforms]
    return _switch(row.label_transform, branches, values, stats)


def _uses_random_activations(config: EngineConfig) -> bool:
    names = models.site_names(config.model).values()
    return any(activations.spec(n).random for name in names for n in (name if isinstance(name, tuple) else (name,)))


def train_epoch(config, row, params, rest, opt_state, key, train: Dataset, train_targets):
    """One epoch as one `lax.scan` over shuffled batches; returns (params, opt_state, mean loss).

    `train_targets` are the transformed targets (label transform applied). The epoch's loss is
    the mean over all training examples (equal to averaging PyTorch's per-batch means weighted by
    batch size).
    """
    n, batch = train.images.shape[0], config.batch_size
    steps = math.ceil(n / batch)
    shuffle_key, step_key = jax.random.split(key)
    order = jnp.concatenate([jax.random.permutation(shuffle_key, n), jnp.zeros(steps * batch - n, jnp.int32)])
    weights = (jnp.arange(steps * batch) < n).astype(jnp.float32)
    step_keys = jax.random.split(step_key, steps)
    tx = optimizer(config)
    gdef = graphdef(config.model)
    random_activations = _uses_random_activations(config)

    def step(carry, batch_inputs):
        params, opt_state = carry
        index, weight, activation_key = batch_inputs
        images, targets = train.images[index], train_targets[index]

        def loss_fn(params):
            model = nnx.merge(gdef, params, rest)
            logits = model.logits(images, config.conv_impl, activation_key if random_activations else None)
            per_example = per_example_loss(config, row, logits, model.final_activation(logits), targets)
            return jnp.sum(per_example * weight) / jnp.sum(weight)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss * jnp.sum(weight)

    (params, opt_state), batch_losses = jax.lax.scan(
        step, (params, opt_state),
        (order.reshape(steps, batch), weights.reshape(steps, batch), step_keys))
    return params, opt_state, jnp.sum(batch_losses) / n


def evaluate(config, row, params, rest, data: Dataset, stats) -> Array:
    """The task metric of one model on `data`, predictions mapped back to the original scale.

    Evaluated in chunks of `eval_batch_size` (padding weighted 0) with the forward-only conv.
    """
    task = tasks.get_task(config.task)
    n = data.images.shape[0]
    chunk = min(config.eval_batch_size, n)
    chunks = math.ceil(n / chunk)
    pad = chunks * chunk - n
    images = jnp.pad(data.images, ((0, pad), (0, 0), (0, 0), (0, 0))).reshape(chunks, chunk, *data.images.shape[1:])
    targets = jnp.pad(data.targets, ((0, pad), (0, 0))).reshape(chunks, chunk, -1)
    weights = (jnp.arange(chunks * chunk) < n).astype(jnp.float32).reshape(chunks, chunk)
    gdef = graphdef(config.model)

    def chunk_metric(inputs):
        images, targets, weights = inputs
        outputs = nnx.merge(gdef, params, rest)(images, config.eval_conv_impl)
        predictions = _transform(config, row, "inverse", outputs, stats)
        # where() rather than multiply, so a padded row's NaN cannot leak into the sum
        return jnp.sum(jnp.where(weights > 0, task.per_example_metric(predictions, targets), 0.0))

    return jnp.sum(jax.lax.map(chunk_metric, (images, targets, weights))) / n


class EarlyStopping(NamedTuple):
    """Per-model early-stopping state; `score` is the metric signed so that higher is better."""

    best_params: nnx.State
    best_score: Array
    best_epoch: Array
    bad_epochs: Array
    done: Array
    diverged: Array

    @classmethod
    def start(cls, params) -> "EarlyStopping":
        return cls(params, jnp.float32(-jnp.inf), jnp.int32(-1), jnp.int32(0), jnp.bool_(False), jnp.bool_(False))

    def update(self, epoch, params, loss, score, patience: int) -> "EarlyStopping":
        """After epoch `epoch` (0-based): the first epoch always improves, later ones only if
        strictly better; `patience` epochs without improvement, or a NaN/inf, end training."""
        finite = jnp.isfinite(loss) & jnp.isfinite(score)
        improved = finite & ((epoch == 0) | (score > self.best_score))
        bad_epochs = jnp.where(improved, 0, self.bad_epochs + 1)
        return EarlyStopping(
            best_params=jax.tree.map(lambda a, b: jnp.where(improved, a, b), params, self.best_params),
            best_score=jnp.where(improved, score, self.best_score),
            best_epoch=jnp.where(improved, epoch, self.best_epoch),
            bad_epochs=bad_epochs,
            done=~finite | (bad_epochs >= patience),
            diverged=~finite,
        )


class _Carry(NamedTuple):
    epoch: Array
    params: nnx.State
    opt_state: optax.OptState
    stopping: EarlyStopping
    train_loss: Array
    valid_metric: Array


_LISTENERS: list[Callable[[EpochReport], None]] = []


def _emit(model, epoch, train_loss, metric, best_metric, best_epoch, done, was_active):
    # Under vmap the callback may receive whole batches; finished models still run (masked).
    for values in zip(*(np.atleast_1d(np.asarray(v)) for v in
                        (model, epoch, train_loss, metric, best_metric, best_epoch, done, was_active))):
        m, e, loss, metric_value, best, best_e, is_done, active = values
        if active:
            report = EpochReport(int(m), int(e), float(loss), float(metric_value), float(best), int(best_e), bool(is_done))
            for listener in list(_LISTENERS):
                listener(report)


def _fit_one(config: EngineConfig, train: Dataset, valid: Dataset, evaluation_sets, inputs):
    model_index, row = inputs
    task = tasks.get_task(config.task)
    sign = 1.0 if task.higher_is_better else -1.0
    init_key, train_key = jax.random.split(jax.random.key(row.seed))
    params, rest = init(config, init_key, row)
    opt_state = optimizer(config).init(params)
    opt_state.hyperparams["learning_rate"] = row.learning_rate
    stats = tasks.label_stats(train.targets)
    train_targets = _transform(config, row, "forward", train.targets, stats)
    nan_history = jnp.full((config.max_epochs,), jnp.nan, jnp.float32)

    def keep_training(carry: _Carry):
        return ~carry.stopping.done & (carry.epoch < config.max_epochs)

    def epoch_body(carry: _Carry) -> _Carry:
        params, opt_state, loss = train_epoch(
            config, row, carry.params, rest, carry.opt_state,
            jax.random.fold_in(train_key, carry.epoch), train, train_targets)
        metric = evaluate(config, row, params, rest, valid, stats)
        stopping = carry.stopping.update(carry.epoch, params, loss, sign * metric, config.patience)
        epoch = carry.epoch + 1
        jax.debug.callback(_emit, model_index, carry.epoch, loss, metric, sign * stopping.best_score,
                           stopping.best_epoch, stopping.done | (epoch >= config.max_epochs), ~carry.stopping.done)
        return _Carry(epoch, params, opt_state, stopping,
                      carry.train_loss.at[carry.epoch].set(loss), carry.valid_metric.at[carry.epoch].set(metric))

    start = _Carry(jnp.int32(0), params, opt_state, EarlyStopping.start(params), nan_history, nan_history)
    final = jax.lax.while_loop(keep_training, epoch_body, start)
    best = final.stopping
    evaluations = {name: jnp.where(best.best_epoch >= 0, evaluate(config, row, best.best_params, rest, data, stats), jnp.nan)
                   for name, data in evaluation_sets.items()}
    return dict(best_epoch=best.best_epoch, epochs=final.epoch, best_valid=sign * best.best_score,
                diverged=best.diverged, train_loss=final.train_loss, valid_metric=final.valid_metric,
                evaluations=evaluations, params=best.best_params, rest=rest)


TRACE_COUNT = [0]  # incremented each time `_fit_all` is traced (tests assert caching)


@functools.partial(jax.jit, static_argnums=0)
def _fit_all(config: EngineConfig, train: Dataset, valid: Dataset, evaluation_sets, rows: ModelSettings):
    TRACE_COUNT[0] += 1
    fit_one = functools.partial(_fit_one, config, train, valid, evaluation_sets)
    indices = jnp.arange(rows.size, dtype=jnp.int32)
    parallel = min(config.models_in_parallel, rows.size)
    return jax.lax.map(fit_one, (indices, rows), batch_size=parallel if parallel > 1 else None)


def fit(config: EngineConfig, rows: ModelSettings, train: Dataset, valid: Dataset,
        evaluation_sets: dict[str, Dataset] | None = None,
        on_epoch: Callable[[EpochReport], None] | None = None) -> FitResult:
    """Trains every model of `rows` to early stop in one compiled program; see the module doc.

    `on_epoch` receives an `EpochReport` after each epoch of each model, while the program runs.
    """
    config = config.resolved()
    as_dataset = lambda d: Dataset(jnp.asarray(d.images, jnp.float32), jnp.asarray(d.targets, jnp.float32))  # noqa: E731
    train, valid = as_dataset(train), as_dataset(valid)
    evaluation_sets = {name: as_dataset(d) for name, d in (evaluation_sets or {}).items()}
    rows = ModelSettings(*(jnp.asarray(c) for c in rows))
    start = time.perf_counter()
    compiled = _fit_all.lower(config, train, valid, evaluation_sets, rows).compile()
    compiled_at = time.perf_counter()
    if on_epoch is not None:
        _LISTENERS.append(on_epoch)
    try:
        out = jax.block_until_ready(compiled(train, valid, evaluation_sets, rows))
    finally:
        if on_epoch is not None:
            _LISTENERS.remove(on_epoch)
    done = time.perf_counter()
    host = jax.tree.map(np.asarray, {k: v for k, v in out.items() if k not in ("params", "rest")})
    return FitResult(params=out["params"], rest=out["rest"], seconds=done - start,
                     compile_seconds=compiled_at - start, **host)
