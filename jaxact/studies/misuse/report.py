"""A misuse study's report, built from its storage alone: results.json (every unit's numbers,
summaries with 95 % bootstrap intervals, one verdict per documented claim), report.md and
curves_<task>.png. Every number in report.md is read from results.json."""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import warnings

import numpy as np

from jaxact import data, reporting, tasks
from jaxact.combinations import Combination
from jaxact.studies import runner
from jaxact.studies.misuse import table
from jaxact.studies.misuse.study import StudyConfig


def margin(task: tasks.Task, reference_mean: float) -> float:
    """How far from the reference still counts as parity, in the metric's units."""
    return table.ACCURACY_MARGIN if task.higher_is_better else table.MSE_MARGIN * abs(reference_mean)


def verdict(claim: str, task: tasks.Task, values: dict[int, float], reference: dict[int, float] | None,
            chance: float) -> dict:
    """Decides a documented claim from per-seed test metrics (seed -> value; NaN = diverged).

    - fails: the interval of the mean lies within the chance band (see table.CLAIMS); a diverged
      seed counts as not learning (its value is the chance metric);
    - parity / worse: the interval of the *gain* over the reference, paired by seed (gain = the
      difference signed so that positive is better), against the margin: parity holds inside
      [-margin, margin], worse holds entirely below -margin. Pairs with a diverged side are dropped.

    Returns {"status", "interval", "band" or "margin", "holds_in", "seeds"}: status is one of
    reporting.VERDICTS; holds_in/seeds the per-seed tally of the same rule.
    """
    if claim == "fails":
        learned = np.array([v if np.isfinite(v) else chance for v in values.values()])
        interval = reporting.bootstrap_ci(learned)
        band = (-np.inf, chance + table.CHANCE_BAND) if task.higher_is_better else (table.CHANCE_MSE_SHARE * chance, np.inf)
        per_seed = [band[0] <= v <= band[1] for v in learned]
        return {"status": reporting.against(interval, *band), "interval": interval, "band": [float(b) for b in band],
                "holds_in": int(sum(per_seed)), "seeds": len(per_seed)}
    seeds = sorted(s for s in values if reference and s in reference
                   and np.isfinite(values[s]) and np.isfinite(reference[s]))
    sign = 1.0 if task.higher_is_better else -1.0
    gains = np.array([sign * (values[s] - reference[s]) for s in seeds])
    reference_mean = float(np.mean([reference[s] for s in seeds])) if seeds else 0.0
    m = margin(task, reference_mean)
    interval = reporting.bootstrap_ci(gains)
    if claim == "parity":
        status, per_seed = reporting.against(interval, -m, m), [abs(g) <= m for g in gains]
    elif claim == "worse":
        status, per_seed = reporting.against(interval, -np.inf, -m), [g < -m for g in gains]
        if status == "inconclusive" and interval is not None and interval[0] >= -m:
            status = "does not hold"
    else:
        raise ValueError(f"unknown claim {claim!r}; valid: {', '.join(table.CLAIMS)}")
    return {"status": status, "interval": interval, "margin": m, "holds_in": int(sum(per_seed)), "seeds": len(seeds)}


def _seed_record(record: runner.UnitRecord) -> dict:
    """One seed's numbers as results.json holds them (metric units; best_epoch 0-based)."""
    test = record.evaluations["test"]
    return {"seed": record.unit["seed"], "best_valid": record.best_valid,
            "test": test if test is not None else float("nan"), "best_epoch": record.best_epoch,
            "epochs": record.epochs, "diverged": record.diverged, "train_loss": record.train_loss,
            "valid_metric": record.valid_curve, "seconds": record.seconds, "program": record.program,
            "reused_from": record.extra.get("reused_from")}


def collect(study_name: str, config: StudyConfig, queue) -> dict:
    """The study document (results.json) from the finished units in the storage."""
    by_variant: dict[Combination, list[runner.UnitRecord]] = {}
    for record in runner.records(queue):
        by_variant.setdefault(Combination.from_dict(record.unit), []).append(record)
    selected = table.select(study_name, config.task, list(config.variants or ()) or None)
    entries, task_infos = [], []
    for task_name in dict.fromkeys(v.task for v in selected):
        task = tasks.get_task(task_name)
        rows = [v for v in selected if v.task == task_name]
        records = [r for v in rows for r in by_variant.get(v.combination, [])]
        if not records:
            continue
        chance = {name: float(np.mean([r.extra["chance"][name] for r in records])) for name in ("valid", "test")}
        reference = next((v for v in table.STUDIES[study_name] if v.task == task_name and v.claim == "reference"), None)
        reference_values = ({r.unit["seed"]: r.evaluations["test"] for r in by_variant.get(reference.combination, [])}
                            if reference else None)
        for v in rows:
            seeds = sorted((_seed_record(r) for r in by_variant.get(v.combination, [])), key=lambda r: r["seed"])
            if not seeds:
                continue
            entry = {
                "name": v.name, **v.combination.to_dict(), "description": v.description,
                "recommended": v.recommended, "ours": v.ours, "claim": v.claim,
                "documented": {"valid": v.documented[0], "test": v.documented[1]} if v.documented else None,
                "seeds": seeds,
                "summary": {"best_valid": reporting.summarize([r["best_valid"] for r in seeds]),
                            "test": reporting.summarize([r["test"] for r in seeds]),
                            "epochs": reporting.summarize([r["epochs"] for r in seeds])},
                "verdict": None,
            }
            if v.claim in ("fails", "parity", "worse"):
                entry["verdict"] = {**verdict(v.claim, task, {r["seed"]: r["test"] for r in seeds}, reference_values,
                                              chance["test"]), "rule": table.CLAIMS[v.claim]}
            entries.append(entry)
        task_entries = [e for e in entries if e["task"] == task_name]
        task_infos.append({"task": task_name, "metric": task.metric_name, "higher_is_better": task.higher_is_better,
                           "chance": chance, "units": len(records),
                           "reused": sorted(f"{Combination.from_dict(r.unit).name} seed {r.unit['seed']} from "
                                            f"{r.extra['reused_from']}" for r in records if r.extra.get("reused_from")),
                           "seconds": float(sum(r.seconds for r in records if not r.extra.get("reused_from"))),
                           "seeds": sorted({r.unit["seed"] for r in records}),
                           "interval_widths": interval_widths(task_entries)})
    return {"study": study_name, "study_name": config.resolved_study_name(study_name), "task": config.task,
            "dataset": config.dataset, "config": dataclasses.asdict(config), "settings": queue.settings,
            "created": datetime.datetime.now().isoformat(timespec="seconds"), "versions": reporting.versions(),
            "seconds": queue.seconds(), "tasks": task_infos, "variants": entries}


def interval_widths(entries: list[dict]) -> dict:
    """Median and largest width of the variants' test 95 % intervals and of the claims' intervals
    (metric units: accuracy as a fraction, MSE as is): how finely these seeds decide."""
    def spread(intervals):
        widths = [high - low for low, high in intervals]
        return {"median": float(np.median(widths)), "max": float(np.max(widths)), "n": len(widths)} if widths else None

    return {"test": spread([e["summary"]["test"]["ci95"] for e in entries if e["summary"]["test"]["ci95"]]),
            "claims": spread([e["verdict"]["interval"] for e in entries
                              if e["verdict"] is not None and e["verdict"]["interval"] is not None])}


def _widths_text(widths: dict, higher_is_better: bool) -> str:
    scale, unit = (100.0, " points") if higher_is_better else (1.0, " MSE")
    parts = [f"{name} {scale * w['median']:.2f} (largest {scale * w['max']:.2f}){unit} over {w['n']}"
             for name, w in (("test intervals", widths["test"]), ("claim intervals", widths["claims"])) if w]
    return "95 % interval widths reached, median: " + "; ".join(parts) + "." if parts else ""


def _reused_text(reused: list[str]) -> str:
    """Which units were not trained here: another study trained them under the same identity."""
    if not reused:
        return ""
    studies = sorted({r.rsplit(" from ", 1)[1] for r in reused})
    return f" ({len(reused)} reused from {', '.join(studies)}, trained once for both: see results.json tasks[].reused)"


def _verdict_text(entry: dict, higher_is_better: bool) -> str:
    if entry["claim"] == "reference":
        return "reference"
    verdict_ = entry["verdict"]
    if verdict_ is None:
        return "—"
    claim = {"fails": "does not learn", "parity": "as good as the reference", "worse": "worse than the reference"}
    interval = (reporting.format_interval(verdict_["interval"], higher_is_better) if entry["claim"] == "fails"
                else "gain " + reporting.format_interval(verdict_["interval"], higher_is_better, signed=True))
    return f"{claim[entry['claim']]}: **{verdict_['status']}** ({interval}; {verdict_['holds_in']}/{verdict_['seeds']} seeds)"


def _test_text(summary: dict, higher_is_better: bool) -> str:
    if summary["mean"] is None:
        return f"diverged ({summary['not_finite']})"
    text = (f"{reporting.format_metric(summary['mean'], higher_is_better)} "
            f"{reporting.format_interval(summary['ci95'], higher_is_better)}")
    return text + (f", {summary['not_finite']} diverged" if summary["not_finite"] else "")


def _sd_text(summary: dict, higher_is_better: bool) -> str:
    if summary["mean"] is None:
        return "—"
    scale, digits = (100.0, 2) if higher_is_better else (1.0, 4)
    return f"{scale * summary['mean']:.{digits}f} ± {scale * summary['sd']:.{digits}f}"


def markdown(document: dict) -> str:
    config = document["config"]
    settings = document["settings"]
    seeds = sorted({s for info in document["tasks"] for s in info["seeds"]})
    test_size = settings["test_size"] or data.get_dataset(settings["dataset"]).sizes["test"]
    lines = [f"# {document['study'].replace('_', ' ')}: {document['task']} on {settings['dataset']}", "",
             f"{len(seeds)} seeds ({reporting.number_ranges(seeds)}: model init, shuffling"
             f"{', and each its own train/valid sample' if settings['split'] == 'per_seed' else '; one data sample for all'}"
             f": --split={settings['split']}), train {settings['train']} / valid {settings['valid']} / test "
             f"{test_size}, patience {settings['patience']}, max {settings['max_epochs']} epochs"
             f"{', bfloat16 matmuls' if settings['matmul_dtype'] == 'bfloat16' else ''}. "
             + reporting.time_text(document["seconds"], document["versions"], "unit"), ""]
    for info in document["tasks"]:
        task = tasks.get_task(info["task"])
        hib = task.higher_is_better
        rows = [v for v in document["variants"] if v["task"] == task.name]
        unit = "accuracy" if hib else "MSE, lower is better"
        lines += [f"## {task.name} ({unit})", "",
                  f"Chance (best constant prediction): valid {reporting.format_metric(info['chance']['valid'], hib)}, "
                  f"test {reporting.format_metric(info['chance']['test'], hib)}. {info['units']} units"
                  f"{_reused_text(info['reused'])}, {info['seconds'] / 60:.1f} min of training. "
                  f"{_widths_text(info['interval_widths'], hib)}", "",
                  "| variant | documents | test: mean [95 % CI] | test: mean ± sd | valid best | epochs | documents valid / test | claim: verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for v in rows:
            mark = ("✅" if v["recommended"] else "❌") + (" (ours)" if v["ours"] else "")
            documented = (f"{reporting.format_metric(v['documented']['valid'], hib)} / "
                          f"{reporting.format_metric(v['documented']['test'], hib)}"
                          if v["documented"] else "not run" if not v["on_logits"] else "— (corrected twin)")
            lines.append(f"| `{v['name']}` | {mark} | {_test_text(v['summary']['test'], hib)} | "
                         f"{_sd_text(v['summary']['test'], hib)} | {_sd_text(v['summary']['best_valid'], hib)} | "
                         f"{v['summary']['epochs']['mean']:.1f} | {documented} | {_verdict_text(v, hib)} |")
        lines.append("")
    lines += ["Claims, each decided from 95 % bootstrap intervals over seeds (scipy.stats.bootstrap, BCa): "
              + "; ".join(f"**{k}** {text}" for k, text in table.CLAIMS.items() if k != "reference")
              + ". A verdict is *inconclusive* when the interval straddles the boundary. The gain is the paired "
              "difference from the reference, signed so that positive is better.",
              "`[logits]`: the same loss computed on the logits (ours), to show what applying it to activated outputs "
              "(the documents' PyTorch code) cost.", ""]
    return "\n".join(lines)


def plot_curves(document: dict, task_name: str, path: pathlib.Path) -> None:
    """Valid metric per epoch, one line per variant (mean over seeds, band = sd); dots mark each
    variant's mean best epoch, crosses where its last seed stopped."""
    task = tasks.get_task(task_name)
    rows = [v for v in document["variants"] if v["task"] == task_name]
    fig, ax = reporting.figure(10, 6)
    scale = 100.0 if task.higher_is_better else 1.0
    for i, v in enumerate(rows):
        length = max(len(s["valid_metric"]) for s in v["seeds"])
        history = np.full((len(v["seeds"]), length), np.nan)
        for j, s in enumerate(v["seeds"]):
            history[j, : len(s["valid_metric"])] = s["valid_metric"]
        history *= scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, sd = np.nanmean(history, 0), np.nanstd(history, 0)
        epochs = np.arange(1, length + 1)
        color = f"C{i % 10}"
        ax.plot(epochs, mean, "--" if v["ours"] else "-", color=color,
                label=f"{v['name']} {'✓' if v['recommended'] else '✗'}")
        ax.fill_between(epochs, mean - sd, mean + sd, alpha=0.15, color=color)
        best = int(round(np.mean([s["best_epoch"] for s in v["seeds"] if s["best_epoch"] >= 0] or [0])))
        if 0 <= best < length and np.isfinite(mean[best]):
            ax.plot(best + 1, mean[best], "o", color=color)
        if np.isfinite(mean[-1]):
            ax.plot(length, mean[-1], "x", color=color, markersize=9)
    if not task.higher_is_better:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"valid {'accuracy (%)' if task.higher_is_better else 'MSE (original scale)'}")
    ax.set_title(f"{document['study'].replace('_', ' ')} — {task_name} (mean ± sd over seeds; o best epoch, x early stop)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    reporting.save(fig, path)


def write(out_dir: pathlib.Path, study_name: str, config: StudyConfig, queue) -> dict:
    """Writes results.json, report.md and curves_<task>.png from the storage; returns {"document",
    "files", "units"}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = collect(study_name, config, queue)
    reporting.write_json(out_dir / "results.json", document)
    (out_dir / "report.md").write_text(markdown(document))
    for info in document["tasks"]:
        plot_curves(document, info["task"], out_dir / f"curves_{info['task']}.png")
    return {"document": document, "units": sum(t["units"] for t in document["tasks"]),
            "files": ["report.md", "results.json"] + [f"curves_{t['task']}.png" for t in document["tasks"]]}


def compare(documents: list[dict]) -> dict:
    """Document 000's warning put to the test: each documented claim's verdict on every dataset.

    `documents`: results.json documents of one study on different datasets. Returns {"study",
    "datasets", "rows": [{task, variant, claim, per dataset: {status, interval, test}}], "changed":
    the rows whose status differs between datasets}.
    """
    datasets = [d["dataset"] for d in documents]
    if len(set(datasets)) != len(datasets):
        raise ValueError(f"give results of different datasets, got {', '.join(datasets)}")
    studies = {d["study"] for d in documents}
    if len(studies) != 1:
        raise ValueError(f"give results of one study, got {', '.join(sorted(studies))}")
    by_dataset = {d["dataset"]: {(v["task"], v["name"]): v for v in d["variants"]} for d in documents}
    keys = list(dict.fromkeys(k for d in documents for k, v in by_dataset[d["dataset"]].items() if v["verdict"]))
    rows = []
    for task, name in keys:
        row = {"task": task, "variant": name, "claim": None, "datasets": {}}
        for dataset in datasets:
            v = by_dataset[dataset].get((task, name))
            if v is None or v["verdict"] is None:
                continue
            row["claim"] = v["claim"]
            row["datasets"][dataset] = {"status": v["verdict"]["status"], "interval": v["verdict"]["interval"],
                                        "test": v["summary"]["test"]["mean"], "ci95": v["summary"]["test"]["ci95"],
                                        "seeds": v["summary"]["test"]["n"]}
        rows.append(row)
    changed = [r for r in rows if len(r["datasets"]) == len(datasets)
               and len({cell["status"] for cell in r["datasets"].values()}) > 1]
    return {"study": studies.pop(), "datasets": datasets, "rows": rows, "changed": changed}


def compare_markdown(comparison: dict) -> str:
    datasets = comparison["datasets"]
    lines = [f"# {comparison['study'].replace('_', ' ')}: the documented claims on {' and '.join(datasets)}", "",
             "Document 000 warns that a logically wrong output activation \"may do well on the dataset at hand but "
             "clearly worse than the right one on a new dataset\". Each claim below is decided on each dataset from its "
             "own 95 % intervals (see the studies' report.md for the rules).", "",
             "| task | variant | claim | " + " | ".join(f"{d}: verdict (interval) | {d}: test [95 % CI]" for d in datasets) + " |",
             "|---|---|---|" + "---|---|" * len(datasets)]
    for row in comparison["rows"]:
        hib = tasks.get_task(row["task"]).higher_is_better
        cells = []
        for dataset in datasets:
            cell = row["datasets"].get(dataset)
            if cell is None:
                cells += ["not run", "—"]
                continue
            signed = row["claim"] != "fails"
            cells += [f"**{cell['status']}** ({reporting.format_interval(cell['interval'], hib, signed=signed)})",
                      f"{reporting.format_metric(cell['test'], hib)} {reporting.format_interval(cell['ci95'], hib)}"]
        lines.append(f"| {row['task']} | `{row['variant']}` | {row['claim']} | " + " | ".join(cells) + " |")
    lines.append("")
    if comparison["changed"]:
        lines.append("Verdicts that change between datasets (\"works here, fails there\"): " + "; ".join(
            f"{r['task']} `{r['variant']}` ({r['claim']}: " + ", ".join(
                f"{d} {r['datasets'][d]['status']}" for d in datasets) + ")" for r in comparison["changed"]) + ".")
    else:
        lines.append("No verdict changes between the datasets: every documented claim that holds on one holds on the "
                     "other, and likewise for those that do not hold or stay inconclusive.")
    return "\n".join(lines) + "\n"
