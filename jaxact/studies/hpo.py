"""Document 001's Optuna search over conv activation, FC activation and learning rate, with
batched trials: K trials are asked at once, trained in one compiled program, then told.

Search space (as the document): conv_activation and fc_activation each from
{sigmoid, relu, leaky_relu_0.01, leaky_relu_0.1, prelu, elu, tanh, silu}; learning_rate
log-uniform in [5e-4, 1e-2]. Final activation softmax, loss nn.CrossEntropyLoss on it (the
document's code: a double softmax; `loss_on_logits=True` runs the corrected form). Splits
3,000 train / 2,000 per-epoch valid (early stopping, patience 5) / 5,000 HPO-valid (the
objective: accuracy of the best epoch's params) / 10,000 test (every trial's best params are
evaluated on it inside the same program, so the best trial's test accuracy is kept, not retrained).

A trial's result depends only on its parameters and its seed (`seed + trial.number`), never on
which batch it ran in; batching changes only what the TPE sampler knew when it proposed it
(constant_liar: running trials count as bad so a batch spreads out).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
from typing import Callable, Iterator

import numpy as np
import optuna
import sqlalchemy

from jaxact import activations, data, models, tasks, train

SEARCH_SPACE = {
    "conv_activation": activations.HPO_NAMES,
    "fc_activation": activations.HPO_NAMES,
    "learning_rate": (5e-4, 1e-2),  # log-uniform
}
SETTINGS = "trial_settings"  # study user attribute: HPOConfig.trial_settings() of its first run
TRAIN_SECONDS = "train_seconds"  # study user attribute: seconds spent in batches, summed over invocations
OWNER = "owner"  # trial user attribute: "host:pid" of the process training the trial
HEARTBEAT = "heartbeat"  # trial user attribute: unix time, refreshed while the trial trains
HEARTBEAT_SECONDS = 60.0
STALE_SECONDS = 600.0
DOCUMENTED = {"conv_activation": "prelu", "fc_activation": "relu", "learning_rate": 0.001988,
              "hpo_valid": 0.9794, "test": 0.9802}


def suggest(trial: optuna.Trial) -> dict:
    return {
        "conv_activation": trial.suggest_categorical("conv_activation", SEARCH_SPACE["conv_activation"]),
        "fc_activation": trial.suggest_categorical("fc_activation", SEARCH_SPACE["fc_activation"]),
        "learning_rate": trial.suggest_float("learning_rate", *SEARCH_SPACE["learning_rate"], log=True),
    }


@dataclasses.dataclass(frozen=True)
class HPOConfig:
    trials: int = 120
    batch_trials: int | None = None
    storage: str = "sqlite:///runs/hpo/study.db"
    study_name: str = "activation_hpo"
    seed: int = 0
    max_epochs: int = 100
    patience: int = 5
    train_size: int = 3_000
    valid_size: int = 2_000
    hpo_valid_size: int = 5_000
    test_size: int | None = None
    loss_on_logits: bool = False
    models_in_parallel: int | None = None

    def __post_init__(self):
        for name in ("trials", "batch_trials", "max_epochs", "patience", "train_size", "valid_size", "hpo_valid_size",
                     "test_size", "models_in_parallel"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")

    def trial_settings(self) -> dict:
        """What a trial's result depends on besides its parameters: fixed for the life of a study."""
        return {name: getattr(self, name) for name in ("seed", "max_epochs", "patience", "train_size", "valid_size",
                                                         "hpo_valid_size", "test_size", "loss_on_logits")}

    def resolved_batch(self) -> int:
        import jax

        return self.batch_trials or (4 if jax.default_backend() == "cpu" else 16)


@dataclasses.dataclass(frozen=True)
class BatchProgress:
    batch: int
    complete: int
    total: int
    best_value: float | None
    best_params: dict | None
    elapsed: float


def engine_config(config: HPOConfig) -> train.EngineConfig:
    return train.EngineConfig(
        task="multiclass",
        model=models.CNNConfig(10, conv_activation=activations.HPO_NAMES, fc_activation=activations.HPO_NAMES,
                               final_activation="softmax"),
        objectives=(train.Objective("cce", on_logits=config.loss_on_logits),),
        max_epochs=config.max_epochs, patience=config.patience, models_in_parallel=config.models_in_parallel)


def sampler(config: HPOConfig, trial_number: int) -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=config.seed + trial_number, constant_liar=True)


def load_study(config: HPOConfig) -> optuna.Study:
    """Creates or loads the study (its sampler is replaced per trial by `ask`).

    The study keeps the settings its trials were trained with; loading it with other ones is an
    error, since its trials would no longer be comparable."""
    try:
        study = optuna.create_study(storage=config.storage, study_name=config.study_name, direction="maximize",
                                    sampler=sampler(config, 0), load_if_exists=True)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as error:
        raise ValueError(f"cannot open storage {config.storage!r} ({type(error).__name__}: {error}); give an "
                         "SQLAlchemy URL such as sqlite:///runs/hpo/study.db, with its driver installed") from None
    settings = config.trial_settings()
    stored = study.user_attrs.get(SETTINGS)
    if stored is None:
        if not study.get_trials(deepcopy=False):  # a study from before settings were kept: nothing to hold it to
            study.set_user_attr(SETTINGS, settings)
    elif stored != settings:
        changed = ", ".join(f"{k}={stored.get(k)} (now {v})" for k, v in settings.items() if stored.get(k) != v)
        raise ValueError(f"study {config.study_name!r} was trained with {changed}: rerun with those flags, or give "
                         "another --study_name")
    return study


def ask(study: optuna.Study, config: HPOConfig) -> tuple[optuna.Trial, dict]:
    """A new trial and its parameters, sampled by TPE seeded with `seed + trial.number`.

    Seeding by trial number rather than once per process: a resumed run would otherwise replay the
    first random (start-up) proposals, and two workers starting together would propose the same
    trials. Each trial's proposal depends only on the seed, its number and the trials before it.
    """
    trial = study.ask()  # TPE samples independently at `suggest_*`, so the sampler set now is the one used
    study.sampler = sampler(config, trial.number)
    return trial, suggest(trial)


def _datasets(config: HPOConfig):
    task = tasks.get_task("multiclass")
    splits = data.make_splits("hpo", seed=config.seed, test_size=config.test_size, sizes={
        "train": config.train_size, "valid": config.valid_size, "hpo_valid": config.hpo_valid_size})
    return train.Dataset.for_task(task, splits)


def train_trials(config: HPOConfig, numbers: list[int], params: list[dict], datasets) -> train.FitResult:
    """Trains the given trials' configurations in one program (trial seed = seed + number)."""
    names = list(activations.HPO_NAMES)
    rows = train.Models.build(
        seed=[config.seed + n for n in numbers],
        conv=[names.index(p["conv_activation"]) for p in params],
        fc=[names.index(p["fc_activation"]) for p in params],
        learning_rate=[p["learning_rate"] for p in params])
    return train.fit(engine_config(config), rows, datasets["train"], datasets["valid"],
                     {"hpo_valid": datasets["hpo_valid"], "test": datasets["test"]})


def _set_trial_attrs(study: optuna.Study, trial_number: int, attrs: dict) -> bool:
    """Sets user attributes of a trial by number; False (nothing set) if it has already finished,
    e.g. told by another worker that took it over."""
    storage = study._storage  # Optuna has no public setter for a trial known only by number
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, trial_number)
    if storage.get_trial(trial_id).state.is_finished():
        return False
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    return True


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_abandoned(trial: optuna.trial.FrozenTrial, now: float) -> bool:
    """Whether a RUNNING trial is nobody's: asked outside `run`, left by this process (a run that
    raised), left by a dead process on this host, or silent for STALE_SECONDS (a worker on
    another machine that died). Another live worker's trials are left to it."""
    owner = trial.user_attrs.get(OWNER)
    if owner is None or owner == _this_process():
        return True
    if now - trial.user_attrs.get(HEARTBEAT, 0.0) > STALE_SECONDS:
        return True
    host, pid = owner.rsplit(":", 1)
    return host == socket.gethostname() and not _process_alive(int(pid))


@contextlib.contextmanager
def _heartbeat(study: optuna.Study, numbers: list[int]) -> Iterator[None]:
    """Claims the trials for this process and refreshes their heartbeat while the body runs."""
    for number in numbers:
        _set_trial_attrs(study, number, {OWNER: _this_process(), HEARTBEAT: time.time()})
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_SECONDS):
            for number in numbers:
                _set_trial_attrs(study, number, {HEARTBEAT: time.time()})

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _tell(study: optuna.Study, trial_number: int, result: train.FitResult, i: int) -> None:
    attrs = {"valid_best": float(result.best_valid[i]), "best_epoch": int(result.best_epoch[i]) + 1,
             "epochs": int(result.epochs[i]), "test": float(result.evaluations["test"][i]),
             "diverged": bool(result.diverged[i])}
    if not _set_trial_attrs(study, trial_number, attrs):
        return
    value = float(result.evaluations["hpo_valid"][i])
    if np.isfinite(value):
        study.tell(trial_number, value, skip_if_finished=True)
    else:
        study.tell(trial_number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


def run(config: HPOConfig, on_batch: Callable[[BatchProgress], None] | None = None) -> optuna.Study:
    """Runs (or resumes) the study until `config.trials` trials are complete.

    Abandoned RUNNING trials (see `is_abandoned`: a killed run's) are trained again with their
    own parameters and told, so nothing finished is lost and nothing is repeated. Several workers
    may share one study: each asks only for trials that nobody else is training, and leaves when
    complete + others' running trials reach `config.trials`.
    """
    study = load_study(config)
    datasets = _datasets(config)
    batch_size = config.resolved_batch()
    start = time.perf_counter()
    batch = 0
    while True:
        trials = study.get_trials(deepcopy=False)
        complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        now = time.time()
        abandoned = [t for t in running if is_abandoned(t, now)]
        if abandoned:
            chosen = abandoned[:batch_size]
            numbers, params = [t.number for t in chosen], [dict(t.params) for t in chosen]
        else:
            wanted = min(batch_size, config.trials - complete - len(running))
            if wanted <= 0:
                break
            asked = [ask(study, config) for _ in range(wanted)]
            numbers, params = [t.number for t, _ in asked], [p for _, p in asked]
        batch_start = time.perf_counter()
        with _heartbeat(study, numbers):
            result = train_trials(config, numbers, params, datasets)
        for i, number in enumerate(numbers):
            _tell(study, number, result, i)
        # Kept in the study so that a resumed study's report can give the time of all its invocations.
        study.set_user_attr(TRAIN_SECONDS, study.user_attrs.get(TRAIN_SECONDS, 0.0) + time.perf_counter() - batch_start)
        batch += 1
        if on_batch is not None:
            done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
            best = max(done, key=lambda t: t.value, default=None)
            on_batch(BatchProgress(batch, len(done), config.trials, best.value if best else None,
                                   dict(best.params) if best else None, time.perf_counter() - start))
    return study
