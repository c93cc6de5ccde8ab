"""Document 001's activation choices as a full factorial on the runner: conv activation x FC
activation (its 8 x 8 candidates) x seeds, at ONE learning rate.

Why one learning rate, 0.002: the document's best trial used 0.001988 and it observed that
lr >= 0.004 degrades; our HPO agrees (results/activation_hpo). Fixing it at the documents' best
region removes the learning rate as a confounder, so that every difference between cells is the
activations' (TPE's uneven sampling over activation x lr is what left the HPO unable to rank them).

Each unit is (conv_activation, fc_activation, learning_rate, seed); the seed draws the unit's own
train/valid sample of the HPO plan (3,000 / 2,000; patience 5) and its initialization and
shuffling, so a cell's spread over seeds holds data variance too. Objective: accuracy of the best
epoch's params on all 10,000 test images (a larger, shared set: every cell is compared on the same
images). The engine's "sparsity" probe measures, at the best params on the test images, the
fraction of each hidden site's activations that are exactly 0 and near 0 (|a| < train.NEAR_ZERO).

    runner.run(STUDY, FactorialConfig(), print)            # 64 cells x 2 seeds, results/activation_factorial
    FactorialConfig(**SMOKE)                               # seconds: tests, smoke runs
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

from jaxact import activations, data, tasks, train
from jaxact.combinations import Combination
from jaxact.config import check_at_least, option
from jaxact.studies import runner

# The documents' best region (document 001: best trial lr 0.001988; lr >= 0.004 degrades).
LEARNING_RATE = 0.002


@dataclasses.dataclass(frozen=True)
class FactorialConfig(runner.RunConfig):
    """Defaults: the HPO's sizes and patience, 64 cells x 2 seeds (~43 min on 2 CPU cores)."""

    seeds: int = option(2, "Seeds per cell (init, shuffling and each its own train/valid sample).")
    learning_rate: float = option(LEARNING_RATE, "The one learning rate of every cell (the documents' best region).")
    patience: int = option(5, "Early-stopping patience (the HPO's).")
    conv_activations: tuple[str, ...] | None = option(None, "Only these conv activations (default the HPO's 8).")
    fc_activations: tuple[str, ...] | None = option(None, "Only these FC activations (default the HPO's 8).")
    loss_on_logits: bool = option(False, "Cross-entropy on logits instead of the documents' double softmax.")

    plan = "hpo"

    def name_suffix(self) -> str:
        return "" if self.dataset == "mnist" else self.dataset

    def settings(self) -> dict:
        return super().settings() | {"learning_rate": self.learning_rate, "loss_on_logits": self.loss_on_logits}

    def conv_list(self) -> tuple[str, ...]:
        return tuple(self.conv_activations or activations.HPO_NAMES)

    def fc_list(self) -> tuple[str, ...]:
        return tuple(self.fc_activations or activations.HPO_NAMES)

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def combination(self) -> Combination:
        return Combination("multiclass", "softmax", "cce", self.loss_on_logits)


SMOKE = dict(seeds=2, conv_activations=("relu", "tanh"), fc_activations=("sigmoid", "relu"), train_size=300,
             valid_size=200, test_size=500, max_epochs=2)  # big_vision's runlocal


def units(config: FactorialConfig) -> list[dict]:
    """The declarative table: one unit per seed x conv x FC activation, seed-major (an interrupted
    study holds whole seeds of the grid)."""
    return [{"conv_activation": conv, "fc_activation": fc, "learning_rate": config.learning_rate, "seed": seed}
            for seed in config.seed_list() for conv in config.conv_list() for fc in config.fc_list()]


def engine_config(config: FactorialConfig) -> train.EngineConfig:
    """One program for every cell: all the study's activations are options at conv and FC."""
    combination = config.combination()
    options = train.Options(config.conv_list(), config.fc_list(), ("softmax",),
                            (train.Objective(combination.loss, combination.on_logits),), ("none",))
    return train.EngineConfig("multiclass", options, matmul_dtype=config.matmul_dtype, max_epochs=config.max_epochs,
                              patience=config.patience, models_in_parallel=config.models_in_parallel,
                              probes=("sparsity",))


def sparsity_of(probe) -> dict[str, dict[str, float]]:
    """The sparsity probe's Float["4 2"] as {site: {"zero": fraction exactly 0, "near": fraction |a| < NEAR_ZERO}}."""
    from jaxact import models

    return {site: {"zero": float(probe[i][0]), "near": float(probe[i][1])} for i, site in enumerate(models.SITES)}


class Trainer:
    """Trains batches of cells; keeps the pool, the test set, each seed's sample and the program."""

    def __init__(self, config: FactorialConfig):
        self.config = config
        task = tasks.get_task("multiclass")
        pool = data.train_pool(config.dataset)
        test = data.test_split(config.dataset, config.test_size)
        self.pool = train.Dataset(pool.pixels, task.targets(pool.digits))
        self.test = train.Dataset(test.pixels, task.targets(test.digits))
        self.samples: dict[int, train.Sample] = {}
        self.program = train.Program(engine_config(config))

    def sample(self, seed: int) -> train.Sample:
        if seed not in self.samples:
            rows = data.sample("hpo", seed, self.config.sizes(), self.config.dataset)
            self.samples[seed] = train.Sample(rows["train"], rows["valid"])
        return self.samples[seed]

    def train(self, batch: list[dict]) -> list[runner.UnitRecord]:
        models = [train.Model(self.config.combination(), u["seed"], u["conv_activation"], u["fc_activation"],
                              u["learning_rate"]) for u in batch]
        start = time.perf_counter()
        fit = self.program.fit(models, self.pool, [self.sample(u["seed"]) for u in batch], {"test": self.test})
        return runner.records_of(fit, batch, lambda i: fit.evaluations["test"][i], time.perf_counter() - start,
                                 lambda i: {"sparsity": sparsity_of(fit.probes["sparsity"][i])})


class FactorialStudy(runner.Study):
    name = "activation_factorial"
    unit_noun = "unit"

    def validate(self, config: FactorialConfig) -> None:
        check_at_least(config, 1, "seeds")
        for field, chosen in (("conv_activations", config.conv_activations), ("fc_activations", config.fc_activations)):
            unknown = [n for n in chosen or () if n not in activations.HPO_NAMES]
            if unknown:
                raise ValueError(f"--{field}: unknown {', '.join(unknown)}; pick from {', '.join(activations.HPO_NAMES)}")
        if not config.learning_rate > 0:
            raise ValueError(f"--learning_rate must be positive, got {config.learning_rate}")
        config.validate()

    def queue_options(self, config: FactorialConfig) -> dict:
        return {"direction": "maximize"}

    def source(self, config: FactorialConfig) -> runner.Grid:
        return runner.Grid(units(config))

    def trainer(self, config: FactorialConfig) -> Trainer:
        return Trainer(config)

    def title(self, config: FactorialConfig) -> str:
        return (f"activation factorial: {len(config.conv_list())} conv x {len(config.fc_list())} FC activations x "
                f"{config.seeds} seeds at lr {config.learning_rate:g}")

    def label(self, unit: dict) -> str:
        return f"conv {unit['conv_activation']} / fc {unit['fc_activation']} (seed {unit['seed']})"

    def result_text(self, record: runner.UnitRecord) -> str:
        return f"test {100 * record.value:.2f} %"

    def report(self, out_dir: pathlib.Path, config: FactorialConfig, queue) -> dict:
        from jaxact.studies.factorial import report

        return report.write(out_dir, config, queue)


STUDY = FactorialStudy()
