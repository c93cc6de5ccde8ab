"""The compiled training engine: one program trains any mix of models of a task to early stop.

A model (`Model`) is a combination (final activation, loss on the output or the logits, label
transform), a seed, conv and FC activations and a learning rate, trained on its own sample of
the data: its train and valid rows in a `Pool` of the task's images shared by the program (the
test set, and any other evaluation set, is shared too). What models of one program may differ
in is listed by its `Options`: per axis the candidates, which a model picks by index through one
mechanism (`models.choose`). A `Program` compiles, once per `EngineConfig` and data shapes, a
program that for every model:

  init params from its seed -> while not done and epoch < max_epochs:
      one epoch = ONE `lax.scan` over its shuffled train rows (reshuffled per epoch; the last
      partial batch kept, its padding weighted 0 so the loss is PyTorch's mean over it);
      valid metric on its valid rows; early-stopping bookkeeping (first epoch counts as an
      improvement, later ones only if strictly better; stop `patience` epochs after the best;
      NaN/inf -> diverged, stop)
  -> metrics of the best epoch's params on every evaluation set (test, HPO-valid, ...).

Models run through `lax.map(..., batch_size=models_in_parallel)`: 1 runs them one after another
inside the program (on CPU the fastest: results/bench_cpu_*.json; a diverged or early-stopped
model costs nothing more), `n` vmaps them (GPU/TPU: that is where the speed comes from;
finished models stop changing while the others train, so a vmapped group runs until its slowest
model stops).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Callable, Iterable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxact import activations, backend, losses, models, tasks
from jaxact.combinations import Combination
from jaxact.data.splits import PIXEL_VALUES

Array = jax.Array

# The engine's numerics: changed whenever a change to the engine changes its numbers (a unit's
# identity includes it, so a cached unit is never reused across such a change).
NUMERICS = "2026-12-02 float32 weight gradients as (g^T a)^T"


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
class Model:
    """One model of a program: what it learns and how its output is read (`combination`), its seed
    (initialization, shuffling, RReLU noise), hidden activations and learning rate."""

    combination: Combination
    seed: int
    conv_activation: str = "relu"
    fc_activation: str = "sigmoid"
    learning_rate: float = 1e-3


def _axis_values(model: Model) -> dict:
    c = model.combination
    return {"conv_activation": model.conv_activation, "fc_activation": model.fc_activation,
            "final_activation": c.final_activation, "objective": Objective(c.loss, c.on_logits),
            "label_transform": c.label_transform}


AXES = ("conv_activation", "fc_activation", "final_activation", "objective", "label_transform")


@dataclasses.dataclass(frozen=True)
class Options:
    """What the models of one program may differ in: per axis, the candidates a model picks by
    index. Part of the compiled program (a model outside them needs another program)."""

    conv_activation: tuple[str, ...] = ("relu",)
    fc_activation: tuple[str, ...] = ("sigmoid",)
    final_activation: tuple[str, ...] = ("softmax",)
    objective: tuple[Objective, ...] = (Objective("cce"),)
    label_transform: tuple[str, ...] = ("none",)

    @classmethod
    def covering(cls, models_: Iterable[Model]) -> "Options":
        """Each axis' distinct values among `models_`, in the order first seen."""
        values = [_axis_values(m) for m in models_]
        return cls(**{axis: tuple(dict.fromkeys(v[axis] for v in values)) for axis in AXES})

    def indices(self, model: Model) -> dict[str, int]:
        """The model's candidate index on every axis; ValueError for a value the program lacks."""
        out = {}
        for axis, value in _axis_values(model).items():
            candidates = getattr(self, axis)
            if value not in candidates:
                raise ValueError(f"{axis} {value!r} is not among this program's options {candidates}")
            out[axis] = candidates.index(value)
        return out


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """Everything that shapes the compiled program (hashable; it keys the compilation)."""

    task: str
    options: Options = Options()
    initializer: str = "pytorch"
    output_bias: float | None = None  # the output layer's initial bias (None: the initializer's; models.CNNConfig)
    matmul_dtype: str = "float32"
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 10
    weight_decay: float = 0.01
    conv_impl: str | None = None
    eval_conv_impl: str | None = None
    eval_batch_size: int = 250  # measured on 2-core CPU, lax.conv forward: 0.14 s per 3,000 images vs 0.22 s at 1,000
    models_in_parallel: int | None = None  # None: the backend's (1 on CPU; every model of the program elsewhere)
    probes: tuple[str, ...] = ()  # of PROBES: measured per model into FitResult.probes (see `_fit_one`)

    @property
    def model(self) -> models.CNNConfig:
        o = self.options
        return models.CNNConfig(tasks.get_task(self.task).num_outputs, o.conv_activation, o.fc_activation,
                                o.final_activation, self.initializer, self.matmul_dtype, self.output_bias)

    def resolved(self) -> "EngineConfig":
        """Fills backend-dependent defaults and validates names."""
        tasks.get_task(self.task)
        for objective in self.options.objective:
            losses.get(objective.loss)
        for name in self.options.label_transform:
            tasks.get_label_transform(name)
        models.check_matmul_dtype(self.matmul_dtype)
        defaults = backend.defaults()
        parallel = self.models_in_parallel or defaults.models_in_parallel
        conv_impl = self.conv_impl or defaults.conv_impl
        eval_impl = self.eval_conv_impl or backend.eval_conv_impl(defaults.name, parallel or 64)
        for impl in (conv_impl, eval_impl):
            if impl not in models.CONV_IMPLS:
                raise ValueError(f"unknown conv_impl {impl!r}; valid: {', '.join(models.CONV_IMPLS)}")
        for probe in self.probes:
            if probe not in PROBES:
                raise ValueError(f"unknown probe {probe!r}; valid: {', '.join(PROBES)}")
        return dataclasses.replace(self, conv_impl=conv_impl, eval_conv_impl=eval_impl, models_in_parallel=parallel)


class Dataset(NamedTuple):
    """Images Float[Array, "n 28 28 1"], or their uint8 pixels (scaled where the program reads
    them: `images_of`), and targets Float[Array, "n outputs"] (original scale)."""

    images: Array
    targets: Array

    @classmethod
    def for_task(cls, task: tasks.Task, splits: dict) -> dict[str, "Dataset"]:
        """One Dataset per split (anything with `.images` and `.digits`), targets from `task`'s label map."""
        return {name: cls(split.images, task.targets(split.digits)) for name, split in splits.items()}


class Sample(NamedTuple):
    """One model's data: its train and valid rows of the program's pool, Int[ndarray, "n_train"] and
    Int[ndarray, "n_valid"], in the order the model sees them (label statistics sum in this order)."""

    train: np.ndarray
    valid: np.ndarray


def pool_of(train: Dataset, valid: Dataset) -> tuple[Dataset, Sample]:
    """A pool holding one train and one valid set, and the sample that is exactly them."""
    pool = Dataset(np.concatenate([train.images, valid.images]), np.concatenate([train.targets, valid.targets]))
    n = len(train.targets)
    return pool, Sample(np.arange(n), np.arange(n, n + len(valid.targets)))


class Rows(NamedTuple):
    """Per-model columns of a program, each with a leading models axis: the seed, an index per
    `Options` axis, the learning rate, the model's train / valid rows of the pool, and whether it
    is a model at all (`active`: rows that pad a program to its devices are not)."""

    seed: Array
    conv_activation: Array
    fc_activation: Array
    final_activation: Array
    objective: Array
    label_transform: Array
    learning_rate: Array
    train: Array
    valid: Array
    active: Array

    @classmethod
    def of(cls, options: Options, models_: Sequence[Model], samples: Sequence[Sample]) -> "Rows":
        if len(models_) != len(samples):
            raise ValueError(f"{len(models_)} models but {len(samples)} samples")
        if len({len(s.train) for s in samples}) > 1 or len({len(s.valid) for s in samples}) > 1:
            raise ValueError("the models of one program need train and valid samples of equal sizes")
        indices = [options.indices(m) for m in models_]
        return cls(seed=np.asarray([m.seed for m in models_], np.int32),
                   **{axis: np.asarray([i[axis] for i in indices], np.int32) for axis in AXES},
                   learning_rate=np.asarray([m.learning_rate for m in models_], np.float32),
                   train=np.stack([np.asarray(s.train, np.int32) for s in samples]),
                   valid=np.stack([np.asarray(s.valid, np.int32) for s in samples]),
                   active=np.ones(len(models_), bool))

    def dealt(self, devices: int) -> tuple["Rows", np.ndarray]:
        """The rows dealt round-robin into `devices` equal contiguous blocks (one per device),
        padded with inactive copies of the last row; and each model's position in them."""
        per_device = -(-self.size // devices)
        positions = np.arange(self.size) % devices * per_device + np.arange(self.size) // devices
        source = np.full(per_device * devices, self.size - 1)
        source[positions] = np.arange(self.size)
        active = np.zeros(per_device * devices, bool)
        active[positions] = True
        return Rows(*(np.asarray(c)[source] for c in self[:-1]), active), positions

    def choice(self) -> models.Choice:
        return models.Choice(self.conv_activation, self.fc_activation, self.final_activation)

    @property
    def size(self) -> int:
        return len(self.seed)


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """What the program reports after each epoch of each model (see `Program.fit(on_epoch=...)`)."""

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
    each evaluation set (NaN if the model diverged before its first finite epoch); `probes[name]`
    what each requested probe measured: "sparsity" Float["models 4 2"] at the best params on the
    "test" evaluation set, "positive_outputs" Float["models 2 2"] (at initialization, at the best
    params) over the model's train rows.
    """

    best_epoch: np.ndarray
    epochs: np.ndarray
    best_valid: np.ndarray
    diverged: np.ndarray
    train_loss: np.ndarray
    valid_metric: np.ndarray
    evaluations: dict[str, np.ndarray]
    params: nnx.State
    seconds: float
    compile_seconds: float
    device: np.ndarray  # Int[ndarray, "models"]: which of the program's devices trained each model
    probes: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@functools.lru_cache(maxsize=None)
def graphdef(model_config: models.CNNConfig):
    """The static structure of the CNN (shared by every model of a config)."""
    return nnx.split(models.CNN(model_config, nnx.Rngs(0)))[0]


def init(config: EngineConfig, key: Array) -> nnx.State:
    """The trainable `nnx.Param`s of one model (every site's candidates: a PReLU slope per site)."""
    return nnx.split(models.CNN(config.model, nnx.Rngs(params=key)), nnx.Param)[1]


def optimizer(config: EngineConfig) -> optax.GradientTransformation:
    """AdamW with PyTorch's defaults (betas 0.9/0.999, eps 1e-8, weight decay 0.01 on every
    parameter). The learning rate is injected state: `_fit_one` sets each model's own (its row's
    `learning_rate`) in the optimizer state, so the 1e-3 here is only a placeholder."""
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=config.weight_decay)


def _objective_loss(objective: Objective, logits, outputs, targets):
    return losses.get(objective.loss)(logits if objective.on_logits else outputs, targets)


def per_example_loss(config: EngineConfig, row: Rows, logits, outputs, targets) -> Array:
    """The row's objective on (z, final_activation(z)) and transformed targets: Float[Array, "batch"]."""
    branches = [functools.partial(_objective_loss, o) for o in config.options.objective]
    return models.choose(row.objective, branches, logits, outputs, targets)


def _transform(config: EngineConfig, row: Rows, direction: str, values, stats):
    branches = [getattr(tasks.get_label_transform(n), direction) for n in config.options.label_transform]
    return models.choose(row.label_transform, branches, values, stats)


def _uses_random_activations(config: EngineConfig) -> bool:
    o = config.options
    return any(activations.spec(n).random for n in o.conv_activation + o.fc_activation + o.final_activation)


def images_of(rows: Array) -> Array:
    """Rows of a `Dataset.images` as float32 images: uint8 pixels through `PIXEL_VALUES` (the same
    bits as `data.scale`), float images as they are."""
    # The barrier keeps the lookup out of the first convolution's fusion: fused, it ran per patch
    # element and the float32 train epoch took ~5-8 % longer (one pinned thread, interleaved).
    return jax.lax.optimization_barrier(jnp.asarray(PIXEL_VALUES)[rows]) if rows.dtype == jnp.uint8 else rows


def device_images(images) -> Array:
    """`Dataset.images` on the device: uint8 pixels stay uint8 (a quarter of the bytes), anything
    else becomes float32."""
    return jnp.asarray(images) if np.asarray(images).dtype == np.uint8 else jnp.asarray(images, jnp.float32)


def train_epoch(config, row: Rows, params, opt_state, key, images, train_targets):
    """One epoch as one `lax.scan` over the row's shuffled train rows of `images` (the pool's);
    returns (params, opt_state, mean loss).

    `train_targets` are the row's transformed train targets, Float[Array, "n_train outputs"]. The
    epoch's loss is the mean over all training examples (equal to averaging PyTorch's per-batch
    means weighted by batch size).
    """
    n, batch = row.train.shape[0], config.batch_size
    steps = math.ceil(n / batch)
    shuffle_key, step_key = jax.random.split(key)
    order = jnp.concatenate([jax.random.permutation(shuffle_key, n), jnp.zeros(steps * batch - n, jnp.int32)])
    weights = (jnp.arange(steps * batch) < n).astype(jnp.float32)
    step_keys = jax.random.split(step_key, steps)
    tx = optimizer(config)
    gdef = graphdef(config.model)
    random_activations = _uses_random_activations(config)
    choice = row.choice()

    def step(carry, batch_inputs):
        params, opt_state = carry
        index, weight, activation_key = batch_inputs
        batch_images, targets = images_of(images[row.train[index]]), train_targets[index]

        def loss_fn(params):
            model = nnx.merge(gdef, params)
            logits = model.logits(batch_images, config.conv_impl, activation_key if random_activations else None, choice)
            per_example = per_example_loss(config, row, logits, model.final_activation(logits, choice.final), targets)
            return jnp.sum(per_example * weight) / jnp.sum(weight)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss * jnp.sum(weight)

    (params, opt_state), batch_losses = jax.lax.scan(
        step, (params, opt_state),
        (order.reshape(steps, batch), weights.reshape(steps, batch), step_keys))
    return params, opt_state, jnp.sum(batch_losses) / n


def _chunked_sum(config, data: Dataset, rows: Array | None, fn):
    """Sum over `data` (its `rows`, or all) of `fn(images, targets, weights)`, a pytree of sums,
    in chunks of `eval_batch_size`; padding rows have weight 0."""
    rows = jnp.arange(data.targets.shape[0], dtype=jnp.int32) if rows is None else rows
    n = rows.shape[0]
    chunk = min(config.eval_batch_size, n)
    chunks = math.ceil(n / chunk)
    positions = jnp.pad(rows, (0, chunks * chunk - n)).reshape(chunks, chunk)
    weights = (jnp.arange(chunks * chunk) < n).astype(jnp.float32).reshape(chunks, chunk)
    sums = jax.lax.map(lambda inputs: fn(images_of(data.images[inputs[0]]), data.targets[inputs[0]], inputs[1]),
                       (positions, weights))
    return jax.tree.map(lambda x: jnp.sum(x, axis=0), sums), n


def evaluate(config, row: Rows, params, data: Dataset, stats, rows: Array | None = None) -> Array:
    """The task metric of one model on `data` (its `rows` of it, or all), predictions mapped back
    to the original scale. Evaluated in chunks of `eval_batch_size` (padding weighted 0) with the
    forward-only conv."""
    task = tasks.get_task(config.task)
    gdef = graphdef(config.model)
    choice = row.choice()

    def chunk_metric(images, targets, weights):
        outputs = nnx.merge(gdef, params)(images, config.eval_conv_impl, None, choice)
        predictions = _transform(config, row, "inverse", outputs, stats)
        # where() rather than multiply, so a padded row's NaN cannot leak into the sum
        return jnp.sum(jnp.where(weights > 0, task.per_example_metric(predictions, targets), 0.0))

    total, n = _chunked_sum(config, data, rows, chunk_metric)
    return total / n


NEAR_ZERO = 0.01  # |activation| below this counts as near 0 (activations are O(1): inputs in [-1, 1], PyTorch init)


def sparsity(config, row: Rows, params, data: Dataset) -> Array:
    """Per hidden site (`models.SITES`) the fraction of activations on `data` that are exactly 0 and
    that are near 0 (|a| < NEAR_ZERO): Float[Array, "4 2"]."""
    gdef = graphdef(config.model)

    def counts(images, targets, weights):
        _, sites = nnx.merge(gdef, params).features(images, config.eval_conv_impl, None, row.choice())
        out = []
        for name in models.SITES:
            a = sites[name].reshape(images.shape[0], -1)
            w = weights[:, None] / a.shape[1]
            out.append(jnp.stack([jnp.sum(w * (a == 0)), jnp.sum(w * (jnp.abs(a) < NEAR_ZERO))]))
        return jnp.stack(out)

    total, n = _chunked_sum(config, data, None, counts)
    return total / n


def positive_outputs(config, row: Rows, params, pool: Dataset) -> Array:
    """Over the model's train rows: the fraction whose first output's pre-activation z is > 0, and
    the mean z: Float[Array, "2"]. A ReLU output with no positive z is dead: no gradient reaches it."""
    gdef = graphdef(config.model)

    def sums(images, targets, weights):
        z = nnx.merge(gdef, params).logits(images, config.eval_conv_impl, None, row.choice())[:, 0]
        return jnp.stack([jnp.sum(weights * (z > 0)), jnp.sum(weights * z)])

    total, n = _chunked_sum(config, pool, row.train, sums)
    return total / n


PROBES = ("sparsity", "positive_outputs")


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


def _fit_one(config: EngineConfig, emit: Callable | None, pool: Dataset, evaluation_sets, inputs):
    model_index, row = inputs
    task = tasks.get_task(config.task)
    sign = 1.0 if task.higher_is_better else -1.0
    init_key, train_key = jax.random.split(jax.random.key(row.seed))
    params = init(config, init_key)
    initial_positive = positive_outputs(config, row, params, pool) if "positive_outputs" in config.probes else None
    opt_state = optimizer(config).init(params)
    opt_state.hyperparams["learning_rate"] = row.learning_rate
    train_targets = pool.targets[row.train]
    stats = tasks.label_stats(train_targets)
    train_targets = _transform(config, row, "forward", train_targets, stats)
    nan_history = jnp.full((config.max_epochs,), jnp.nan, jnp.float32)

    def keep_training(carry: _Carry):
        return row.active & ~carry.stopping.done & (carry.epoch < config.max_epochs)

    def epoch_body(carry: _Carry) -> _Carry:
        params, opt_state, loss = train_epoch(
            config, row, carry.params, carry.opt_state, jax.random.fold_in(train_key, carry.epoch),
            pool.images, train_targets)
        metric = evaluate(config, row, params, pool, stats, row.valid)
        stopping = carry.stopping.update(carry.epoch, params, loss, sign * metric, config.patience)
        epoch = carry.epoch + 1
        if emit is not None:
            jax.debug.callback(emit, model_index, carry.epoch, loss, metric, sign * stopping.best_score,
                               stopping.best_epoch, stopping.done | (epoch >= config.max_epochs), ~carry.stopping.done)
        return _Carry(epoch, params, opt_state, stopping,
                      carry.train_loss.at[carry.epoch].set(loss), carry.valid_metric.at[carry.epoch].set(metric))

    start = _Carry(jnp.int32(0), params, opt_state, EarlyStopping.start(params), nan_history, nan_history)
    final = jax.lax.while_loop(keep_training, epoch_body, start)
    best = final.stopping
    evaluations = {name: jnp.where(best.best_epoch >= 0, evaluate(config, row, best.best_params, data, stats), jnp.nan)
                   for name, data in evaluation_sets.items()}
    probes = {}
    if "sparsity" in config.probes:
        probes["sparsity"] = sparsity(config, row, best.best_params, evaluation_sets["test"])
    if "positive_outputs" in config.probes:
        probes["positive_outputs"] = jnp.stack([initial_positive, positive_outputs(config, row, best.best_params, pool)])
    return dict(best_epoch=best.best_epoch, epochs=final.epoch, best_valid=sign * best.best_score,
                diverged=best.diverged, train_loss=final.train_loss, valid_metric=final.valid_metric,
                evaluations=evaluations, probes=probes, params=best.best_params)


class Program:
    """The engine compiled for one `EngineConfig`: `fit` trains any models its options cover, on any
    pool and samples of the same shapes, without compiling again. Keep one per config (a study's
    trainer does); `traces` counts how often it was traced.

    With several `devices` (default: every local device) the models axis is sharded over them
    (`jax.shard_map`): each device trains its share of the models - one after another, or
    vmapped - in its own loop, so a device stops when its own slowest model does; the call returns
    when every device is done. A program is padded with inactive models to a multiple of them."""

    def __init__(self, config: EngineConfig, devices: Sequence | None = None):
        self.config = config.resolved()
        self.devices = list(devices) if devices is not None else jax.local_devices()
        self.traces = 0
        self._listener: Callable[[EpochReport], None] | None = None
        self._model_at = np.zeros(0, int)  # a position in the dealt rows -> the caller's model index
        # Without a listener the program has no host callback, so JAX's persistent compilation cache
        # keeps it (`backend.cache_compiled_programs`): later runs load it instead of compiling.
        self._fit_all = {report: jax.jit(functools.partial(self._trace, report)) for report in (False, True)}

    def _fit_rows(self, report: bool, pool: Dataset, evaluation_sets, rows: Rows, first_index):
        fit_one = functools.partial(_fit_one, self.config, self._emit if report else None, pool, evaluation_sets)
        indices = first_index + jnp.arange(rows.size, dtype=jnp.int32)
        parallel = min(self.config.models_in_parallel or rows.size, rows.size)
        return jax.lax.map(fit_one, (indices, rows), batch_size=parallel if parallel > 1 else None)

    def _trace(self, report: bool, pool: Dataset, evaluation_sets, rows: Rows):
        self.traces += 1
        if len(self.devices) == 1:
            return self._fit_rows(report, pool, evaluation_sets, rows, 0)
        per_device = rows.size // len(self.devices)

        def shard(pool, evaluation_sets, rows):
            return self._fit_rows(report, pool, evaluation_sets, rows, jax.lax.axis_index("models") * per_device)

        mesh = jax.sharding.Mesh(np.asarray(self.devices), ("models",))
        spec = jax.sharding.PartitionSpec
        return jax.shard_map(shard, mesh=mesh, in_specs=(spec(), spec(), spec("models")), out_specs=spec("models"),
                             check_vma=False)(pool, evaluation_sets, rows)

    def _emit(self, model, epoch, train_loss, metric, best_metric, best_epoch, done, was_active):
        if self._listener is None:
            return
        # Under vmap the callback may receive whole batches; finished models still run (masked).
        for values in zip(*(np.atleast_1d(np.asarray(v)) for v in
                            (model, epoch, train_loss, metric, best_metric, best_epoch, done, was_active))):
            m, e, loss, metric_value, best, best_e, is_done, active = values
            if active:
                self._listener(EpochReport(int(self._model_at[int(m)]), int(e), float(loss), float(metric_value), float(best), int(best_e),
                                           bool(is_done)))

    def fit(self, models_: Sequence[Model], pool: Dataset, samples: Sequence[Sample],
            evaluation_sets: dict[str, Dataset] | None = None,
            on_epoch: Callable[[EpochReport], None] | None = None) -> FitResult:
        """Trains every model to early stop on its sample of `pool`; see the module doc.

        `on_epoch` receives an `EpochReport` after each epoch of each model, while the program runs
        (a program with such a host callback is compiled apart, and never cached across processes).
        """
        rows, positions = Rows.of(self.config.options, models_, samples).dealt(len(self.devices))
        rows = Rows(*(jnp.asarray(c) for c in rows))
        as_dataset = lambda d: Dataset(device_images(d.images), jnp.asarray(d.targets, jnp.float32))  # noqa: E731
        pool = as_dataset(pool)
        evaluation_sets = {name: as_dataset(d) for name, d in (evaluation_sets or {}).items()}
        start = time.perf_counter()
        compiled = self._fit_all[on_epoch is not None].lower(pool, evaluation_sets, rows).compile()
        compiled_at = time.perf_counter()
        self._listener = on_epoch
        self._model_at = np.full(rows.size, -1)
        self._model_at[positions] = np.arange(len(models_))
        try:
            out = jax.block_until_ready(compiled(pool, evaluation_sets, rows))
        finally:
            self._listener = None
        done = time.perf_counter()
        host = jax.tree.map(lambda a: np.asarray(a)[positions], {k: v for k, v in out.items() if k != "params"})
        return FitResult(params=jax.tree.map(lambda a: a[positions], out["params"]), seconds=done - start,
                         compile_seconds=compiled_at - start, device=positions // (rows.size // len(self.devices)), **host)


def fit(config: EngineConfig, models_: Sequence[Model], train: Dataset, valid: Dataset,
        evaluation_sets: dict[str, Dataset] | None = None,
        on_epoch: Callable[[EpochReport], None] | None = None) -> FitResult:
    """One-off: every model trained on the same `train` / `valid` sets (a new `Program` each call:
    keep a `Program` to train again without compiling)."""
    pool, sample = pool_of(train, valid)
    return Program(config).fit(models_, pool, [sample] * len(models_), evaluation_sets, on_epoch)
