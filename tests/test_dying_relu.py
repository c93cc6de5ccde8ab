"""The dying ReLU head: the output-bias option (default unchanged), the probe that tells a dead
head, and the report's counts and intervals on constructed records."""

import dataclasses

import jax
import numpy as np
import pytest
import scipy.stats
from flax import nnx

from jaxact import data, models, tasks, train
from jaxact.studies import runner
from jaxact.studies.dying_relu import report
from jaxact.studies.dying_relu import study as dying


def _params(config):
    return nnx.state(models.CNN(config, nnx.Rngs(params=jax.random.key(3))), nnx.Param)


def test_the_output_bias_option_changes_only_the_output_bias():
    default = jax.tree.leaves_with_path(_params(models.CNNConfig(num_outputs=1, final_activation="relu")))
    biased = dict(jax.tree.leaves_with_path(_params(models.CNNConfig(num_outputs=1, final_activation="relu",
                                                                     output_bias=1.0))))
    assert len(default) == len(biased)
    changed = [jax.tree_util.keystr(path) for path, leaf in default
               if not np.array_equal(np.asarray(leaf), np.asarray(biased[path]))]
    assert len(changed) == 1 and "out" in changed[0] and "bias" in changed[0]  # the draws of the rest are unchanged
    (out_bias,) = [leaf for path, leaf in biased.items() if jax.tree_util.keystr(path) == changed[0]]
    assert np.asarray(out_bias).tolist() == [1.0]
    assert train.EngineConfig("regression").model.output_bias is None  # the default: the initializer's bias


@pytest.mark.data
def test_a_positive_output_bias_starts_every_train_row_alive(mnist_dir):
    """The probe at init: z > 0 on every train row with bias +3 (PyTorch's init alone gives one sign
    to almost all rows: the FC sigmoid outputs are ~0.5 everywhere)."""
    config = dying.DyingReluConfig(**dying.SMOKE)
    pool = data.train_pool()
    task = tasks.get_task("regression")
    rows = data.sample("misuse", 0, config.sizes())
    dataset = train.Dataset(pool.images, task.targets(pool.digits))
    sample = train.Sample(rows["train"], rows["valid"])
    engine = dying.engine_config(dataclasses.replace(config, max_epochs=1), dying.BY_NAME["output_bias_3"])
    result = train.Program(engine).fit(
        [train.Model(dying.HEAD, s) for s in (0, 1)], dataset, [sample] * 2)
    positive = result.probes["positive_outputs"]  # models x (init, best) x (fraction z > 0, mean z)
    assert positive.shape == (2, 2, 2)
    assert np.all(positive[:, 0, 0] == 1.0) and np.all(positive[:, 0, 1] > 2.0)


def _record(variant, seed, test, init, best, chance=1.78):
    return runner.UnitRecord(unit={"variant": variant, "seed": seed}, value=test, best_valid=test, best_epoch=0,
                             epochs=11, diverged=False, train_loss=[1.0], valid_curve=[test], evaluations={"test": test},
                             seconds=1.0, compile_seconds=0.0, program={"id": "constructed", "units": 1},
                             extra={"positive_outputs": {"init": init, "best": best},
                                    "mean_z": {"init": 0.0, "best": 0.0}, "chance": chance})


def test_the_summary_counts_deaths_at_init_and_in_training_with_exact_intervals():
    records = ([_record("pytorch_init", s, 1.78, 0.0, 0.0) for s in range(6)]        # born dead, stay dead
               + [_record("pytorch_init", s, 1.78, 1.0, 0.0) for s in range(6, 9)]   # die while training
               + [_record("pytorch_init", 9, 0.61, 0.0, 0.4)]                        # dead at init, revived
               + [_record("pytorch_init", s, 0.7 + 0.01 * s, 1.0, 0.5) for s in range(10, 20)])
    summary = report.variant_summary(records)
    assert summary["n"] == 20
    assert summary["dead"]["k"] == 9 and summary["dead_at_init"]["k"] == 7
    assert summary["died_during_training"]["k"] == 3 and summary["revived"] == 1
    assert summary["at_chance"]["k"] == 9  # the dead ones; 0.61-0.89 are far below 95 % of 1.78
    exact = scipy.stats.binomtest(9, 20).proportion_ci(0.95, method="exact")
    assert summary["dead"]["ci95"] == pytest.approx([exact.low, exact.high])
    assert summary["at_most_documented"]["k"] == 1  # 0.61 <= 0.6272
    assert summary["documented_within_range"]
    assert summary["test_alive"]["n"] == 11 and summary["test_alive"]["max"] == pytest.approx(0.89)
    alive_constant = report.variant_summary([_record("output_bias_3", 0, 1.7837, 1.0, 1.0),
                                             _record("output_bias_3", 1, 0.7, 1.0, 0.5)])
    assert alive_constant["dead"]["k"] == 0 and alive_constant["at_chance"]["k"] == 1  # z > 0, yet a constant
    all_dead = report.variant_summary([_record("pytorch_init", s, 1.78, 0.0, 0.0) for s in range(5)])
    assert not all_dead["documented_within_range"] and all_dead["dead"]["ci95"][0] > 0.47


def test_bad_variant_names_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="--variants: unknown bias_9; valid: pytorch_init"):
        runner.run(dying.STUDY, dying.DyingReluConfig(variants=("bias_9",), out_dir=str(tmp_path / "x")), print)
    assert not (tmp_path / "x").exists()
