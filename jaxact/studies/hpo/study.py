"""Document 001's Optuna search over conv activation, FC activation and learning rate, on the
runner: each trial is a unit; workers ask TPE for trials, train a batch of them in one compiled
program, and store their records.

Search space (as the document): conv_activation and fc_activation each from
{sigmoid, relu, leaky_relu_0.01, leaky_relu_0.1, prelu, elu, tanh, silu}; learning_rate
log-uniform in [5e-4, 1e-2]. Final activation softmax, loss nn.CrossEntropyLoss on it (the
document's code: a double softmax; `loss_on_logits=True` runs the corrected form). Splits
3,000 train / 2,000 per-epoch valid (early stopping, patience 5) / 5,000 HPO-valid (the
objective: accuracy of the best epoch's params) / 10,000 test (every trial's best params are
evaluated on it inside the same program, so the best trial's test accuracy is kept, not retrained).

A trial's result depends only on its parameters and its seed (`seed + trial.number`, kept by the
copy that replaces a trial a dead worker left), never on which batch or worker ran it; batching
changes only what the TPE sampler knew when it proposed it (constant_liar: running trials count
as bad so a batch spreads out).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import optuna

from jaxact import activations, data, tasks, train
from jaxact.combinations import Combination
from jaxact.config import check_at_least, option
from jaxact.studies import queue as queue_module
from jaxact.studies import runner

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
class HPOConfig(runner.RunConfig):
    """Defaults reproduce document 001: 120 trials, TPE, the splits above, patience 5."""

    trials: int = option(120, "Complete trials to reach.")
    patience: int = option(5, "Early-stopping patience.")
    hpo_valid_size: int | None = option(None, "HPO-valid images, the objective (default 5,000).")
    loss_on_logits: bool = option(False, "Cross-entropy on logits instead of the documents' double softmax.")

    plan = "hpo"

    def settings(self) -> dict:
        """What a trial's result depends on besides its parameters and seed: fixed for a study's life."""
        return super().settings() | {"seed": self.seed, "loss_on_logits": self.loss_on_logits}

    def combination(self) -> Combination:
        return Combination("multiclass", "softmax", "cce", self.loss_on_logits)


SMOKE = dict(trials=6, units_per_program=3, train_size=200, valid_size=100, hpo_valid_size=200, test_size=300,
             max_epochs=2)


def sampler(config: HPOConfig, trial_number: int) -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=config.seed + trial_number, constant_liar=True)


def ask(queue: queue_module.UnitQueue, config: HPOConfig) -> runner.Claimed:
    """A new trial, owned by this process, and its unit (parameters and seed), sampled by TPE seeded
    with `seed + trial.number`: a resumed run does not replay the first random proposals, and two
    workers starting together do not propose the same trials."""
    trial = queue.optuna.ask()  # TPE samples independently at `suggest_*`, so the sampler set now is the one used
    queue.own(trial)
    queue.optuna.sampler = sampler(config, trial.number)
    unit = {**suggest(trial), "seed": config.seed + trial.number}
    trial.set_user_attr(queue_module.SEED, unit["seed"])
    trial.set_user_attr(queue_module.UNIT, unit)
    return runner.Claimed(trial, unit)


class Search:
    """The HPO's source of units: copies of trials a dead worker left first (their own parameters
    and seed), then new trials asked from TPE until `config.trials` are complete or in flight."""

    def __init__(self, config: HPOConfig):
        self.config = config

    def prepare(self, queue) -> None:
        pass

    def total(self, queue) -> int:
        return self.config.trials

    def claim(self, queue: queue_module.UnitQueue, n: int) -> list[runner.Claimed]:
        claimed = queue.claim(n)
        if claimed:
            trials = [optuna.trial.Trial(queue.optuna, queue.trial_id(t)) for t in claimed]
            for trial in trials:
                suggest(trial)  # the copy's fixed parameters, recorded as its own distributions
            return [runner.Claimed(t, c.user_attrs[queue_module.UNIT]) for t, c in zip(trials, claimed)]
        counts = queue.counts()
        wanted = min(n, self.config.trials - counts["done"] - counts["running"])
        if wanted <= 0:
            return []
        asked = [ask(queue, self.config) for _ in range(wanted)]
        # Workers asking at once may overshoot `trials`: the ones numbered beyond it are dropped
        # (every worker sees the trials numbered before its own, so all agree which).
        return [c for c in asked if not queue.surplus(c.trial, self.config.trials)]


class Trainer:
    """Trains batches of trials in one program over every HPO activation; keeps the data."""

    def __init__(self, config: HPOConfig):
        self.config = config
        task = tasks.get_task("multiclass")
        pool = data.train_pool(config.dataset)
        rows = data.sample("hpo", config.seed, config.sizes(), config.dataset)
        test = data.test_split(config.dataset, config.test_size)
        self.pool = train.Dataset(pool.pixels, task.targets(pool.digits))
        self.sample = train.Sample(rows["train"], rows["valid"])
        self.evaluation_sets = {"hpo_valid": train.Dataset(pool.pixels[rows["hpo_valid"]],
                                                           task.targets(pool.digits[rows["hpo_valid"]])),
                                "test": train.Dataset(test.pixels, task.targets(test.digits))}
        self.program = train.Program(engine_config(config))

    def train(self, units: list[dict]) -> list[runner.UnitRecord]:
        models = [train.Model(self.config.combination(), u["seed"], u["conv_activation"], u["fc_activation"],
                              u["learning_rate"]) for u in units]
        start = time.perf_counter()
        fit = self.program.fit(models, self.pool, [self.sample] * len(units), self.evaluation_sets)
        return runner.records_of(fit, units, lambda i: fit.evaluations["hpo_valid"][i], time.perf_counter() - start)


def engine_config(config: HPOConfig) -> train.EngineConfig:
    """Every trial's choices are options of one program: all HPO activations at conv and FC."""
    combination = config.combination()
    options = train.Options(activations.HPO_NAMES, activations.HPO_NAMES, ("softmax",),
                            (train.Objective(combination.loss, combination.on_logits),), ("none",))
    return train.EngineConfig("multiclass", options, matmul_dtype=config.matmul_dtype, max_epochs=config.max_epochs,
                              patience=config.patience, models_in_parallel=config.models_in_parallel)


class HPOStudy(runner.Study):
    name = "activation_hpo"
    unit_noun = "trial"

    def validate(self, config: HPOConfig) -> None:
        check_at_least(config, 1, "trials")
        config.validate()

    def queue_options(self, config: HPOConfig) -> dict:
        return {"direction": "maximize", "sampler": sampler(config, 0)}

    def source(self, config: HPOConfig) -> Search:
        return Search(config)

    def trainer(self, config: HPOConfig) -> Trainer:
        return Trainer(config)

    def title(self, config: HPOConfig) -> str:
        return f"activation HPO: TPE over conv x FC activation x learning rate, batches of {config.resolved_units_per_program()}"

    def label(self, unit: dict) -> str:
        return f"{unit['conv_activation']} / {unit['fc_activation']} / lr {unit['learning_rate']:.5f} (seed {unit['seed']})"

    def result_text(self, record: runner.UnitRecord) -> str:
        return f"HPO-valid {100 * record.value:.2f} %"

    def report(self, out_dir: pathlib.Path, config: HPOConfig, queue) -> dict:
        from jaxact.studies.hpo import report

        return report.write(out_dir, config, queue)


STUDY = HPOStudy()
