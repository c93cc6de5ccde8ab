"""Document 001's Optuna search over conv activation, FC activation and learning rate, on the
scheduler: each trial is a unit; workers ask TPE for trials, train a batch of them in one
compiled program, and store the results.

Search space (as the document): conv_activation and fc_activation each from
{sigmoid, relu, leaky_relu_0.01, leaky_relu_0.1, prelu, elu, tanh, silu}; learning_rate
log-uniform in [5e-4, 1e-2]. Final activation softmax, loss nn.CrossEntropyLoss on it (the
document's code: a double softmax; `loss_on_logits=True` runs the corrected form). Splits
3,000 train / 2,000 per-epoch valid (early stopping, patience 5) / 5,000 HPO-valid (the
objective: accuracy of the best epoch's params) / 10,000 test (every trial's best params are
evaluated on it inside the same program, so the best trial's test accuracy is kept, not retrained).

A trial's result depends only on its parameters and its seed (`seed + trial.number`, kept by the
copy that replaces a trial a dead worker left), never on which batch or worker ran it; batching changes only what the TPE sampler knew when it proposed
it (constant_liar: running trials count as bad so a batch spreads out).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Callable

import optuna

from jaxact import activations, data, models, scheduler, tasks, train
from jaxact.config import check_at_least, option

SEARCH_SPACE = {
    "conv_activation": activations.HPO_NAMES,
    "fc_activation": activations.HPO_NAMES,
    "learning_rate": (5e-4, 1e-2),  # log-uniform
}
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
    """Defaults reproduce document 001: 120 trials, TPE, the splits above, patience 5."""

    trials: int = option(120, "Complete trials to reach.")
    batch_trials: int | None = option(None, "Trials a worker asks at once and trains in one program (default: 4 on "
                                            "CPU, one after another; 16 vmapped on GPU).")
    seed: int = option(0, "Sampler seed, data split seed, and base of the trial seeds.")
    matmul_dtype: str = option("float32", "float32, or bfloat16: matmul inputs in bfloat16 with float32 "
                                          "accumulation (activations and losses stay float32).")
    max_epochs: int = option(100, "Epoch cap per trial.")
    patience: int = option(5, "Early-stopping patience.")
    train_size: int = option(3_000, "Training images.")
    valid_size: int = option(2_000, "Per-epoch validation images.")
    hpo_valid_size: int = option(5_000, "HPO-valid images (the objective).")
    test_size: int | None = option(None, "Test images (default all 10,000).")
    loss_on_logits: bool = option(False, "Cross-entropy on logits instead of the documents' double softmax.")
    models_in_parallel: int | None = option(None, "Trials of a batch vmapped together (default: 1 on CPU, i.e. one "
                                                  "after another in the same program; the whole batch on GPU).")
    workers: int | None = option(None, "Worker processes (default: one per CPU core, pinned; one per accelerator).")
    out_dir: str = option("runs/activation_hpo", "Output directory: the study's journal file and its report.")
    storage: str | None = option(None, "Optuna storage: default a journal file in out_dir; an SQLAlchemy URL "
                                       "(postgresql://...) to share the study between machines.")
    study_name: str = option("activation_hpo", "Optuna study name.")

    def validate(self) -> None:
        check_at_least(self, 1, "trials", "batch_trials", "max_epochs", "patience", "train_size", "valid_size",
                       "hpo_valid_size", "test_size", "models_in_parallel", "workers")
        if self.matmul_dtype not in models.MATMUL_DTYPES:
            raise ValueError(f"--matmul_dtype must be one of {', '.join(models.MATMUL_DTYPES)}, got {self.matmul_dtype!r}")
        for name in ("train_size", "valid_size", "hpo_valid_size"):
            limit = data.plan("mnist", "hpo")[name.removesuffix("_size")]
            if getattr(self, name) > limit:
                raise ValueError(f"--{name} must be at most {limit:,} (the HPO split), got {getattr(self, name):,}")
        if self.test_size is not None and self.test_size > 10_000:
            raise ValueError(f"--test_size must be at most 10,000 (the MNIST test set), got {self.test_size:,}")
        out_dir = pathlib.Path(self.out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out_dir {self.out_dir!r} is a file: give a directory")

    def settings(self) -> dict:
        """What a trial's result depends on besides its parameters: fixed for the life of a study."""
        return {name: getattr(self, name) for name in ("seed", "matmul_dtype", "max_epochs", "patience", "train_size",
                                                         "valid_size", "hpo_valid_size", "test_size", "loss_on_logits")}

    def resolved_storage(self) -> str:
        return self.storage or scheduler.storage_url(self.out_dir)

    def resolved_batch(self) -> int:
        import jax

        return self.batch_trials or (4 if jax.default_backend() == "cpu" else 16)


SMOKE = dict(trials=6, batch_trials=3, train_size=200, valid_size=100, hpo_valid_size=200, test_size=300, max_epochs=2)


def engine_config(config: HPOConfig) -> train.EngineConfig:
    return train.EngineConfig(
        task="multiclass",
        model=models.CNNConfig(10, conv_activation=activations.HPO_NAMES, fc_activation=activations.HPO_NAMES,
                               final_activation="softmax", matmul_dtype=config.matmul_dtype),
        objectives=(train.Objective("cce", on_logits=config.loss_on_logits),),
        max_epochs=config.max_epochs, patience=config.patience, models_in_parallel=config.models_in_parallel)


def sampler(config: HPOConfig, trial_number: int) -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=config.seed + trial_number, constant_liar=True)


def open_study(config: HPOConfig) -> scheduler.Study:
    return scheduler.Study(config.resolved_storage(), config.study_name, config.settings(), "maximize",
                           sampler(config, 0))


def ask(study: scheduler.Study, config: HPOConfig) -> tuple[optuna.Trial, dict]:
    """A new trial, owned by this process, and its parameters, sampled by TPE seeded with
    `seed + trial.number`: a resumed run does not replay the first random proposals, and two
    workers starting together do not propose the same trials."""
    trial = study.optuna.ask()  # TPE samples independently at `suggest_*`, so the sampler set now is the one used
    study.own(trial)
    trial.set_user_attr(scheduler.SEED, config.seed + trial.number)
    study.optuna.sampler = sampler(config, trial.number)
    return trial, suggest(trial)


def _datasets(config: HPOConfig):
    task = tasks.get_task("multiclass")
    splits = data.make_splits("hpo", seed=config.seed, test_size=config.test_size, sizes={
        "train": config.train_size, "valid": config.valid_size, "hpo_valid": config.hpo_valid_size})
    return train.Dataset.for_task(task, splits)


def train_trials(config: HPOConfig, seeds: list[int], params: list[dict], datasets) -> train.FitResult:
    """Trains the given trials' configurations in one program."""
    names = list(activations.HPO_NAMES)
    rows = train.ModelSettings.build(
        seed=seeds,
        conv=[names.index(p["conv_activation"]) for p in params],
        fc=[names.index(p["fc_activation"]) for p in params],
        learning_rate=[p["learning_rate"] for p in params])
    return train.fit(engine_config(config), rows, datasets["train"], datasets["valid"],
                     {"hpo_valid": datasets["hpo_valid"], "test": datasets["test"]})


@dataclasses.dataclass(frozen=True)
class TrialResult:
    number: int
    params: dict
    value: float  # HPO-valid accuracy
    attrs: dict


def work(config: HPOConfig, on_trial: Callable[[TrialResult, dict], None] | None = None,
         invocation: scheduler.Invocation | None = None) -> int:
    """One worker: trains trials until `config.trials` are complete (or in flight elsewhere).

    Abandoned trials (a killed worker's) are trained again with their own parameters first, so
    nothing finished is lost and nothing is repeated. Returns how many trials it finished.
    `on_trial(result, counts)` after each; the `invocation` it belongs to is recorded after each batch."""
    study = open_study(config)
    datasets = _datasets(config)
    batch = config.resolved_batch()
    finished = 0
    while True:
        claimed = study.claim(batch)  # copies of trials a dead worker left: their parameters and seed
        if claimed:
            trials = [optuna.trial.Trial(study.optuna, study.trial_id(t)) for t in claimed]
            params = [suggest(t) for t in trials]  # the copy's fixed parameters, recorded as its own
        else:
            counts = study.counts()
            wanted = min(batch, config.trials - counts["done"] - counts["running"])
            if wanted <= 0:
                break
            asked = [ask(study, config) for _ in range(wanted)]
            # Workers asking at once may overshoot `trials`: the ones numbered beyond it are dropped
            # (every worker sees the trials numbered before its own, so all agree which).
            kept = [(t, p) for t, p in asked if not study.surplus(t, config.trials)]
            if not kept:
                break
            trials, params = [t for t, _ in kept], [p for _, p in kept]
        numbers = [t.number for t in trials]
        seeds = [study.storage.get_trial(study.trial_id(t)).user_attrs[scheduler.SEED] for t in trials]
        start = time.perf_counter()
        with study.heartbeat(trials):
            result = train_trials(config, seeds, params, datasets)
        seconds = time.perf_counter() - start
        study.add_seconds(seconds, invocation)
        for i, (trial, number) in enumerate(zip(trials, numbers)):
            epochs = int(result.epochs[i])
            attrs = {"valid_best": float(result.best_valid[i]), "best_epoch": int(result.best_epoch[i]) + 1,
                     "epochs": epochs, "test": float(result.evaluations["test"][i]),
                     "diverged": bool(result.diverged[i]), "seconds": seconds / len(trials)}
            value = float(result.evaluations["hpo_valid"][i])
            if study.finish(trial, value, attrs, [float(x) for x in result.valid_metric[i][:epochs]]):
                finished += 1
                if on_trial is not None:
                    on_trial(TrialResult(number, params[i], value, attrs), study.counts())
    return finished
