"""Helpers every study's report uses: versions, summaries with bootstrap intervals, metric
formatting, figures. No process-wide state: figures are `matplotlib.figure.Figure`s saved
directly (no pyplot, no backend switch, no global style)."""

from __future__ import annotations

import json
import pathlib
import platform
import warnings

import numpy as np
import scipy.stats
from matplotlib.figure import Figure

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 10_000


def versions() -> dict[str, str]:
    """The versions a result was made with (every report and benchmark records them)."""
    import flax
    import jax
    import jaxlib
    import optax

    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "backend": jax.default_backend()}


def finite(values) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return values[np.isfinite(values)]


def bootstrap_ci(values, seed: int = 0) -> list[float] | None:
    """95 % bootstrap interval of the mean (scipy.stats.bootstrap, BCa; percentile where BCa is
    undefined). Equal values give [v, v]; fewer than 2 finite values give None."""
    values = finite(values)
    if values.size < 2:
        return None
    if np.all(values == values[0]):
        return [float(values[0])] * 2
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = scipy.stats.bootstrap((values,), np.mean, confidence_level=CONFIDENCE, n_resamples=BOOTSTRAP_RESAMPLES,
                                           method=method, rng=np.random.default_rng(seed))
        low, high = result.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return [float(low), float(high)]
    return None


def summarize(values) -> dict:
    """mean, sample sd, min, max and the 95 % bootstrap interval of the mean over the finite
    values; `n` finite, `not_finite` the others."""
    values = np.asarray(values, np.float64)
    kept = finite(values)
    if kept.size == 0:
        return {"mean": None, "sd": None, "min": None, "max": None, "ci95": None, "n": 0, "not_finite": int(values.size)}
    return {"mean": float(kept.mean()), "sd": float(kept.std(ddof=1)) if kept.size > 1 else 0.0,
            "min": float(kept.min()), "max": float(kept.max()), "ci95": bootstrap_ci(kept), "n": int(kept.size),
            "not_finite": int(values.size - kept.size)}


def format_metric(value: float | None, higher_is_better: bool) -> str:
    """Accuracy as a percentage, MSE with 4 decimals."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{100 * value:.2f} %" if higher_is_better else f"{value:.4f}"


def format_interval(interval, higher_is_better: bool, signed: bool = False) -> str:
    if interval is None:
        return "—"
    scale, digits, unit = (100.0, 2, " pts" if signed else " %") if higher_is_better else (1.0, 4, "")
    sign = "+" if signed else ""
    return f"[{scale * interval[0]:{sign}.{digits}f}, {scale * interval[1]:{sign}.{digits}f}]{unit}"


def figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    """A figure and its axes, outside pyplot."""
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols)
    return fig, axes


def save(fig: Figure, path: pathlib.Path, dpi: int = 110) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


def wall_seconds(invocations: list[dict]) -> float:
    """Wall time of a study's invocations: the union of their intervals [started, started + wall]
    (two invocations at once on one study take the time of one), plus the walls of records that
    lack a start time (kept from before invocations had one)."""
    intervals = sorted((i["started"], i["started"] + i["wall"]) for i in invocations if "started" in i)
    total, end = 0.0, -np.inf
    for start, stop in intervals:
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total + sum(i["wall"] for i in invocations if "started" not in i)


def time_text(seconds: dict, backend: str, unit: str) -> str:
    """The sentence every report gives its cost: wall time over all invocations of the study (a
    resumed study has several; overlapping ones count once), the worker count of each, and the
    summed training seconds of its units (`unit`: "unit", "trial"); `seconds` is the study's
    {"train", "invocations": [{"started", "wall", "workers"}]}."""
    invocations = seconds.get("invocations", [])
    workers = ", ".join(str(i["workers"]) for i in invocations) or "—"
    return (f"Wall time {wall_seconds(invocations) / 60:.1f} min over {len(invocations)} invocation(s) with {workers} "
            f"worker(s); {seconds.get('train', 0.0) / 60:.1f} min of {unit} training, on {backend}.")


def number_ranges(numbers) -> str:
    """Sorted integers as runs: [0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"."""
    numbers = sorted(set(int(n) for n in numbers))
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def write_json(path: pathlib.Path, document) -> None:
    path.write_text(json.dumps(document, indent=1, allow_nan=True, default=str))
