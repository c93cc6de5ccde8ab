"""Helpers every study's report uses: versions, summaries with bootstrap intervals, metric
formatting, figures. No process-wide state: figures are `matplotlib.figure.Figure`s saved
directly (no pyplot, no backend switch, no global style). SciPy and Matplotlib are imported where
used: a study worker formats its progress lines with this module and never needs them (~1.1 s)."""

from __future__ import annotations

import json
import pathlib
import platform
import warnings

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 10_000


def versions() -> dict[str, str]:
    """The versions a result was made with (every report and benchmark records them)."""
    import flax
    import jax
    import jaxlib
    import optax
    import scipy

    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "flax": flax.__version__, "optax": optax.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "backend": jax.default_backend()}


def import_dependencies() -> None:
    """Imports what the reports need and the rest of this module imports only where used."""
    import matplotlib.figure  # noqa: F401
    import scipy.stats  # noqa: F401


def finite(values) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return values[np.isfinite(values)]


def bootstrap_ci(values, seed: int = 0) -> list[float] | None:
    """95 % bootstrap interval of the mean (scipy.stats.bootstrap, BCa; percentile where BCa is
    undefined). Equal values give [v, v]; fewer than 2 finite values give None."""
    import scipy.stats

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
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols)
    return fig, axes


def save(fig: "matplotlib.figure.Figure", path: pathlib.Path, dpi: int = 110) -> None:
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


def time_text(seconds: dict, versions: dict, unit: str) -> str:
    """The sentences every report gives its cost and provenance: wall time over all invocations of
    the study (a resumed study has several; overlapping ones count once), the worker count of each,
    the summed training seconds of its units (`unit`: "unit", "trial"), the backend and `versions`
    (`versions()` of the command that wrote the report), and the cores' idle time at the end;
    `seconds` is the study's {"train", "invocations": [{"started", "wall", "workers", "idle_at_end"}]}."""
    invocations = seconds.get("invocations", [])
    workers = ", ".join(str(i["workers"]) for i in invocations) or "—"
    stack = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "backend")
    text = (f"Wall time {wall_seconds(invocations) / 60:.1f} min over {len(invocations)} invocation(s) with {workers} "
            f"worker(s); {seconds.get('train', 0.0) / 60:.1f} min of {unit} training, on {versions.get('backend')} "
            f"({stack}).")
    idle = [(i["idle_at_end"], i["workers"] * i["wall"]) for i in invocations if i.get("idle_at_end") is not None]
    if idle:
        spent = sum(s for _, s in idle)
        text += (f" Cores idle while the last {unit}s finished: {sum(s for s, _ in idle):.0f} core-s "
                 f"({100 * sum(s for s, _ in idle) / spent:.1f} % of the invocations' core time).")
    return text


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


VERDICTS = ("holds", "does not hold", "inconclusive")  # every study's three words


def against(interval, low: float, high: float) -> str:
    """A claim decided from its 95 % interval and its region [low, high] (the misuse studies' rule):
    holds when the interval lies inside the region, does not hold when it lies entirely outside,
    inconclusive when it straddles a boundary (or there is no interval)."""
    if interval is None:
        return "inconclusive"
    if low <= interval[0] and interval[1] <= high:
        return "holds"
    if interval[1] < low or interval[0] > high:
        return "does not hold"
    return "inconclusive"


def spearman_ci(x, y, columns: int, resamples: int = 2_000, seed: int = 0) -> tuple[float, list[float] | None]:
    r"""Spearman's rank correlation of per-group means and its 95 % percentile bootstrap interval.

    `x`, `y`: Float[ndarray, "groups columns"], one row per group (e.g. per conv activation), one
    column per paired observation (e.g. (FC activation, seed)); NaN cells are left out of a mean.
    The statistic is :math:`\rho(\bar x_g, \bar y_g)` over the groups; each resample draws
    `columns` columns with replacement and recomputes both means, so the interval holds the
    uncertainty of every group's mean. Returns (rho, [low, high]); resamples with a constant mean
    vector (rho undefined) are dropped."""
    import scipy.stats

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def rho(cols):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mx, my = np.nanmean(x[:, cols], axis=1), np.nanmean(y[:, cols], axis=1)
            kept = np.isfinite(mx) & np.isfinite(my)
            if kept.sum() < 3 or np.ptp(mx[kept]) == 0 or np.ptp(my[kept]) == 0:
                return np.nan
            return scipy.stats.spearmanr(mx[kept], my[kept]).statistic

    estimate = float(rho(np.arange(columns)))
    rng = np.random.default_rng(seed)
    draws = np.array([rho(rng.integers(0, columns, columns)) for _ in range(resamples)])
    draws = draws[np.isfinite(draws)]
    if draws.size < resamples // 2:
        return estimate, None
    low, high = np.percentile(draws, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return estimate, [float(low), float(high)]


def forest_plot(panels: list[dict], path: pathlib.Path, title: str, shared_rows: bool = True) -> None:
    """Every claim's interval against its region, one subplot per panel, side by side.

    panels: [{"title", "xlabel", "rows": [{"label", "estimate", "interval", "region": [low, high],
    "status"}], optional "xlim", optional "symlog": a symmetric-log x axis, linear within +-that}]; a row's region (where the claim holds) is shaded, its interval drawn in the colour
    of its verdict (holds green, does not hold red, inconclusive grey). With `shared_rows` rows with
    the same label line up across panels (MNIST and digits); else each panel lists its own rows
    (claims in different units)."""
    colors = {"holds": "tab:green", "does not hold": "tab:red", "inconclusive": "tab:gray"}
    every_label = list(dict.fromkeys(r["label"] for p in panels for r in p["rows"]))
    tallest = len(every_label) if shared_rows else max(len(p["rows"]) for p in panels)
    fig, axes = figure((5.2 if shared_rows else 7.5) * len(panels) + 2.5, 0.42 * tallest + 1.8, ncols=len(panels))
    axes = np.atleast_1d(axes)
    for ax, panel in zip(axes, panels):
        labels = every_label if shared_rows else [r["label"] for r in panel["rows"]]
        for row in panel["rows"]:
            y = len(labels) - 1 - labels.index(row["label"])
            low, high = row["region"]
            ax.barh(y, (high if np.isfinite(high) else 1e9) - (low if np.isfinite(low) else -1e9),
                    left=low if np.isfinite(low) else -1e9, height=0.8, color="tab:green", alpha=0.12)
            for bound in (low, high):
                if np.isfinite(bound):
                    ax.plot([bound, bound], [y - 0.4, y + 0.4], color="tab:green", lw=1)
            color = colors.get(row["status"], "black")
            if row["interval"] is not None:
                ax.plot(row["interval"], [y, y], color=color, lw=2.5)
            if row["estimate"] is not None and np.isfinite(row["estimate"]):
                ax.plot(row["estimate"], y, "o", color=color)
        finite_points = [v for r in panel["rows"] for v in ([*(r["interval"] or [])] + [r["estimate"]]
                                                            + [b for b in r["region"] if np.isfinite(b)])
                         if v is not None and np.isfinite(v)]
        if finite_points:
            span = max(finite_points) - min(finite_points) or 1.0
            ax.set_xlim(min(finite_points) - 0.08 * span, max(finite_points) + 0.08 * span)
        if panel.get("xlim"):
            ax.set_xlim(*panel["xlim"])
        if panel.get("symlog"):  # claims many margins away beside ones near their boundary
            ax.set_xscale("symlog", linthresh=panel["symlog"])
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels[::-1] if ax is axes[0] or not shared_rows else [""] * len(labels), fontsize=8)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel(panel["xlabel"])
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{title} (shaded: where the claim holds; line: 95 % interval; green holds, red does not, "
                 "grey inconclusive)", fontsize=9)
    save(fig, path)


def misuse_claim_rows(document: dict) -> list[dict]:
    """A misuse study's claims (results.json) as forest rows, each in units of its own boundary so
    that accuracy and MSE claims share an axis:

    - parity / worse: the gain over the reference / the margin (parity holds in [-1, 1], worse
      below -1);
    - fails: how far the test metric is from chance, in units of the chance band (accuracy:
      (metric - chance) / 0.05; MSE: (chance - MSE) / (0.05 chance)); it holds at or below 1.
    """
    rows = []
    for v in document["variants"]:
        verdict = v.get("verdict")
        if not verdict:
            continue
        interval = verdict["interval"]
        if v["claim"] == "fails":
            low, high = verdict["band"]
            if np.isfinite(high):  # accuracy: the band is (-inf, chance + width]
                width = 0.05
                chance = high - width
                scaled = None if interval is None else [(x - chance) / width for x in interval]
            else:  # MSE: the band is [share * chance, inf) with share 0.95
                chance = low / 0.95
                scaled = None if interval is None else sorted((chance - x) / (0.05 * chance) for x in interval)
            region = [-np.inf, 1.0]
        else:
            margin = verdict["margin"]
            scaled = None if interval is None else [x / margin for x in interval]
            region = [-1.0, 1.0] if v["claim"] == "parity" else [-np.inf, -1.0]
        estimate = None if scaled is None else float(np.mean(scaled))
        rows.append({"label": f"{v['task']} {v['name']}: {v['claim']}", "estimate": estimate, "interval": scaled,
                     "region": region, "status": verdict["status"]})
    return rows


def misuse_forest(documents: list[dict], path: pathlib.Path) -> None:
    """One forest plot of a misuse study's claims on every dataset, side by side."""
    panels = [{"title": d["dataset"], "xlabel": "interval in units of the claim's boundary", "symlog": 1.0,
               "rows": misuse_claim_rows(d)} for d in documents]
    forest_plot(panels, path, f"{documents[0]['study'].replace('_', ' ')}: every claim, MNIST and digits")
