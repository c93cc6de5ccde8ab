"""Document 000's "ReLU, normalized" regression row, over many seeds, with the sign of the head.

The head: dense 64 -> 1, ReLU, MSE on labels standardized with the train labels' mean and
population std. A ReLU output whose pre-activation z is <= 0 on every training image is *dead*: its
output is 0 (the train mean, mapped back) and no gradient reaches anything before it, so the MSE
sits at chance (1.78 on MNIST). The engine's "positive_outputs" probe measures the fraction of the
unit's train rows with z > 0 at initialization and at the best epoch's params: dead at init (0 at
init) and dead at the end (0 at the best params) tell "born dead" from "died while training".

Variants (a declarative table, one program each: the initializer is part of the compiled program):
- `pytorch_init`: the documents' setting (PyTorch's default U(+-1/sqrt(fan_in)) everywhere);
- `output_bias_1`, `output_bias_3`: the same, but the output bias starts at +1 / +3 (z > 0 on every
  input at init; +3 is above most standardized labels, so the head starts above its targets and
  has longer before z reaches 0);
- `he_init`: He-normal kernels, zero biases (document 004's ReLU pairing);
- `fc_relu`: the documents' init, but ReLU instead of sigmoid at the FC layer feeding the head.
  Why it might help where init cannot: sigmoid FC outputs sit near 0.5 for every image, so z is
  nearly the same on all of them and Adam moves it as one block past 0; ReLU FC outputs differ
  between images, so z has a spread when its mean reaches the labels' mean (0, by standardization).
- `lr_1e-4`: the documents' init at a 10x smaller learning rate (smaller steps of that block);
- `lr_1e-4_bias_1`: both changes that measured as helping: alive at init, small steps after.
Sizes, patience and the per-seed data samples are the misuse studies' (2,000 / 3,000 / 10,000,
patience 10), so `pytorch_init` is the misuse studies' `relu+norm` row on more seeds.

    runner.run(STUDY, DyingReluConfig(), print)      # 7 variants x 20 seeds -> runs/dying_relu
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Callable, NamedTuple

from jaxact import data, tasks, train
from jaxact.combinations import Combination
from jaxact.config import check_at_least, option
from jaxact.studies import runner

HEAD = Combination("regression", "relu", "mse", label_transform="standardize")


class Variant(NamedTuple):
    name: str
    initializer: str
    output_bias: float | None
    description: str
    fc_activation: str = "sigmoid"  # the documents' misuse CNN
    learning_rate: float = 1e-3  # the misuse studies' AdamW learning rate


VARIANTS = (
    Variant("pytorch_init", "pytorch", None, "the documents' setting: PyTorch's default init"),
    Variant("output_bias_1", "pytorch", 1.0, "PyTorch's init, output bias starting at +1"),
    Variant("output_bias_3", "pytorch", 3.0, "PyTorch's init, output bias starting at +3 (above most standardized labels)"),
    Variant("he_init", "he", None, "He-normal kernels, zero biases"),
    Variant("fc_relu", "pytorch", None, "the documents' init, ReLU instead of sigmoid before the head", "relu"),
    Variant("lr_1e-4", "pytorch", None, "the documents' init, learning rate 1e-4 instead of 1e-3 (a smaller "
            "first move of the whole block of outputs toward the labels' mean, ReLU's kink)", learning_rate=1e-4),
    Variant("lr_1e-4_bias_1", "pytorch", 1.0, "learning rate 1e-4 and output bias starting at +1: every head starts "
            "alive (the bias) and moves toward the kink in small steps (the learning rate)", learning_rate=1e-4),
)
BY_NAME = {v.name: v for v in VARIANTS}


@dataclasses.dataclass(frozen=True)
class DyingReluConfig(runner.RunConfig):
    """Defaults: the misuse studies' sizes and patience, 20 seeds per variant (a death rate's
    Clopper-Pearson interval at most about +-23 points wide)."""

    seeds: int = option(20, "Seeds per variant (init, shuffling and each its own train/valid sample).")
    variants: tuple[str, ...] | None = option(None, f"Only these variants (default all: {', '.join(BY_NAME)}).")

    def name_suffix(self) -> str:
        return "" if self.dataset == "mnist" else self.dataset

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def variant_list(self) -> list[Variant]:
        return [BY_NAME[n] for n in self.variants] if self.variants else list(VARIANTS)


SMOKE = dict(seeds=3, train_size=300, valid_size=200, test_size=500, max_epochs=3)


def units(config: DyingReluConfig) -> list[dict]:
    """One unit per seed x variant, seed-major."""
    return [{"variant": v.name, "seed": s} for s in config.seed_list() for v in config.variant_list()]


def seed_major(queue) -> Callable[[dict], int]:
    """Claim by seed, whatever the enqueue order: a variant added to the table after a run catches
    up on the seeds the others have before any variant gets more (an interrupted study holds every
    variant on as many seeds as possible)."""
    return lambda unit: unit["seed"]


def model(variant: Variant, seed: int) -> train.Model:
    return train.Model(HEAD, seed, fc_activation=variant.fc_activation, learning_rate=variant.learning_rate)


def engine_config(config: DyingReluConfig, variant: Variant) -> train.EngineConfig:
    options = train.Options.covering([model(variant, 0)])
    return train.EngineConfig("regression", options, initializer=variant.initializer, output_bias=variant.output_bias,
                              matmul_dtype=config.matmul_dtype, max_epochs=config.max_epochs, patience=config.patience,
                              models_in_parallel=config.models_in_parallel, probes=("positive_outputs",))


class Trainer:
    """Trains batches of units, one program per variant; keeps the pool, test set and samples."""

    def __init__(self, config: DyingReluConfig):
        self.config = config
        self.task = tasks.get_task("regression")
        pool = data.train_pool(config.dataset)
        test = data.test_split(config.dataset, config.test_size)
        self.pool_digits, self.test_digits = pool.digits, test.digits
        self.pool = train.Dataset(pool.pixels, self.task.targets(pool.digits))
        self.test = train.Dataset(test.pixels, self.task.targets(test.digits))
        self.samples: dict[int, dict] = {}
        self.programs: dict[str, train.Program] = {}

    def sample(self, seed: int) -> dict:
        if seed not in self.samples:
            self.samples[seed] = data.sample("misuse", seed, self.config.sizes(), self.config.dataset)
        return self.samples[seed]

    def program(self, variant: Variant) -> train.Program:
        if variant.name not in self.programs:
            self.programs[variant.name] = train.Program(engine_config(self.config, variant))
        return self.programs[variant.name]

    def extra(self, fit, i: int, seed: int) -> dict:
        (init_positive, init_mean), (best_positive, best_mean) = fit.probes["positive_outputs"][i]
        rows = self.sample(seed)
        return {"positive_outputs": {"init": float(init_positive), "best": float(best_positive)},
                "mean_z": {"init": float(init_mean), "best": float(best_mean)},
                "chance": self.task.constant_baseline(self.pool_digits[rows["train"]], self.test_digits)}

    def train(self, batch: list[dict]) -> list[runner.UnitRecord]:
        records: dict[int, runner.UnitRecord] = {}
        by_variant: dict[str, list[int]] = {}
        for i, unit in enumerate(batch):
            by_variant.setdefault(unit["variant"], []).append(i)
        for name, members in by_variant.items():
            group = [batch[i] for i in members]
            samples = [train.Sample(self.sample(u["seed"])["train"], self.sample(u["seed"])["valid"]) for u in group]
            start = time.perf_counter()
            fit = self.program(BY_NAME[name]).fit([model(BY_NAME[name], u["seed"]) for u in group], self.pool, samples,
                                                  {"test": self.test})
            for i, record in zip(members, runner.records_of(
                    fit, group, lambda j: fit.evaluations["test"][j], time.perf_counter() - start,
                    lambda j: self.extra(fit, j, group[j]["seed"]))):
                records[i] = record
        return [records[i] for i in range(len(batch))]


class DyingReluStudy(runner.Study):
    name = "dying_relu"

    def validate(self, config: DyingReluConfig) -> None:
        check_at_least(config, 1, "seeds")
        unknown = [n for n in config.variants or () if n not in BY_NAME]
        if unknown:
            raise ValueError(f"--variants: unknown {', '.join(unknown)}; valid: {', '.join(BY_NAME)}")
        config.validate()

    def queue_options(self, config: DyingReluConfig) -> dict:
        return {"direction": "minimize"}

    def source(self, config: DyingReluConfig) -> runner.Grid:
        return runner.Grid(units(config), seed_major)

    def trainer(self, config: DyingReluConfig) -> Trainer:
        return Trainer(config)

    def title(self, config: DyingReluConfig) -> str:
        return f"dying ReLU head: {len(config.variant_list())} variants x {config.seeds} seeds"

    def label(self, unit: dict) -> str:
        return f"{unit['variant']} seed {unit['seed']}"

    def result_text(self, record: runner.UnitRecord) -> str:
        alive = record.extra["positive_outputs"]
        return (f"test MSE {record.value:.4f}, z > 0 on {100 * alive['init']:.0f} % of train rows at init, "
                f"{100 * alive['best']:.0f} % at best")

    def report(self, out_dir: pathlib.Path, config: DyingReluConfig, queue) -> dict:
        from jaxact.studies.dying_relu import report

        return report.write(out_dir, config, queue)


STUDY = DyingReluStudy()
