"""The misuse verdicts on constructed seed values: clear cases decided, a straddling interval
inconclusive; intervals from scipy's bootstrap. Synthetic numbers only: seconds."""

import numpy as np
import pytest

from jaxact import reporting, tasks
from jaxact.studies.misuse import report, table

MULTICLASS, REGRESSION = tasks.get_task("multiclass"), tasks.get_task("regression")
REFERENCE = {0: 0.9771, 1: 0.9768, 2: 0.9775, 3: 0.9762, 4: 0.9779}


def _shifted(delta, noise=0.0002):
    rng = np.random.default_rng(1)
    return {s: v + delta + noise * rng.standard_normal() for s, v in REFERENCE.items()}


def test_clear_parity_holds():
    verdict = report.verdict("parity", MULTICLASS, _shifted(-0.0005), REFERENCE, chance=0.1135)
    assert verdict["status"] == "holds" and verdict["holds_in"] == 5 and verdict["seeds"] == 5
    low, high = verdict["interval"]
    assert -table.ACCURACY_MARGIN <= low <= high <= table.ACCURACY_MARGIN


def test_clear_failure_to_learn_holds_and_a_learner_does_not_fail():
    stuck = {s: 0.1135 + 0.001 * s for s in range(5)}
    assert report.verdict("fails", MULTICLASS, stuck, REFERENCE, chance=0.1135)["status"] == "holds"
    assert report.verdict("fails", MULTICLASS, REFERENCE, REFERENCE, chance=0.1135)["status"] == "does not hold"


def test_a_diverged_seed_counts_as_not_learning():
    verdict = report.verdict("fails", MULTICLASS, {0: np.nan, 1: 0.11, 2: 0.12}, REFERENCE, chance=0.1135)
    assert verdict["status"] == "holds" and verdict["holds_in"] == 3


def test_a_straddling_interval_is_inconclusive():
    # differences around -0.5 points: the interval covers the margin's edge
    straddling = {s: v + d for (s, v), d in zip(REFERENCE.items(), (-0.002, -0.009, -0.003, -0.008, -0.004))}
    for claim in ("parity", "worse"):
        verdict = report.verdict(claim, MULTICLASS, straddling, REFERENCE, chance=0.1135)
        low, high = verdict["interval"]
        assert low < -table.ACCURACY_MARGIN < high, verdict
        assert verdict["status"] == "inconclusive", (claim, verdict)


def test_twenty_points_worse():
    worse = _shifted(-0.20)
    assert report.verdict("worse", MULTICLASS, worse, REFERENCE, chance=0.1135)["status"] == "holds"
    assert report.verdict("parity", MULTICLASS, worse, REFERENCE, chance=0.1135)["status"] == "does not hold"
    assert report.verdict("worse", MULTICLASS, _shifted(+0.001), REFERENCE, chance=0.1135)["status"] == "does not hold"


def test_regression_is_lower_is_better_with_a_relative_margin():
    reference = {s: 0.060 + 0.001 * s for s in range(5)}
    relu = {s: 0.6 + 0.1 * s for s in range(5)}  # MSE 10x the reference
    assert report.verdict("worse", REGRESSION, relu, reference, chance=1.78)["status"] == "holds"
    near = {s: v * 1.02 for s, v in reference.items()}  # 2 % more MSE: within the 10 % margin
    assert report.verdict("parity", REGRESSION, near, reference, chance=1.78)["status"] == "holds"
    mean_only = {s: 1.78 + 0.001 * s for s in range(5)}
    assert report.verdict("fails", REGRESSION, mean_only, reference, chance=1.7826)["status"] == "holds"
    assert report.verdict("fails", REGRESSION, reference, reference, chance=1.7826)["status"] == "does not hold"


def test_seeds_pair_only_where_both_sides_have_them():
    verdict = report.verdict("parity", MULTICLASS, {0: 0.977, 1: np.nan, 7: 0.5}, REFERENCE, chance=0.1)
    assert verdict["seeds"] == 1 and verdict["status"] == "inconclusive"  # one pair: no interval


def test_bootstrap_interval_brackets_the_mean():
    values = [0.971, 0.975, 0.969, 0.973, 0.977, 0.970, 0.974]
    low, high = reporting.bootstrap_ci(values)
    assert low < np.mean(values) < high and high - low < 0.01
    assert reporting.bootstrap_ci([0.4931] * 5) == [0.4931, 0.4931]
    assert reporting.bootstrap_ci([0.5]) is None


def test_unknown_claim_is_an_error():
    with pytest.raises(ValueError, match="unknown claim 'better'"):
        report.verdict("better", MULTICLASS, REFERENCE, REFERENCE, chance=0.1)
