"""Results as files a person can read: results.json, report.md, curves_<task>.png.

Every number in report.md is computed from the per-seed values written to results.json.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import platform
import warnings

import numpy as np

from jaxact import tasks

CLAIM_RULES = {
    "fails": "holds in a seed when the test accuracy is at most 5 points above chance, the best constant "
             "prediction (regression: an MSE no better than 95 % of predicting the train mean); a diverged "
             "seed counts as not learning",
    "parity": "holds in a seed when the test metric is within 2 sd of the reference variant's mean",
    "worse": "holds in a seed when the test metric is more than 2 sd worse than the reference's mean",
}


def versions() -> dict[str, str]:
    import flax
    import jax
    import optax

    return {"python": platform.python_version(), "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "numpy": np.__version__, "backend": jax.default_backend()}


def _finite(values) -> np.ndarray:
    values = np.asarray(values, np.float64)
    return values[np.isfinite(values)]


def summarize(values) -> dict[str, float | int | None]:
    """mean, sample sd, min, max over the finite values, and how many were not finite."""
    values = np.asarray(values, np.float64)
    finite = _finite(values)
    if finite.size == 0:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0, "not_finite": int(values.size)}
    return {"mean": float(finite.mean()), "sd": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
            "min": float(finite.min()), "max": float(finite.max()), "n": int(finite.size),
            "not_finite": int(values.size - finite.size)}


def _claim_holds(claim: str, test: float, diverged: bool, task: tasks.Task, chance: float,
                 reference: dict | None) -> bool | None:
    learned = not diverged and np.isfinite(test)
    if claim == "fails":
        if not learned:
            return True
        return test >= 0.95 * chance if not task.higher_is_better else test <= chance + 0.05
    if reference is None or reference["mean"] is None:
        return None
    mean, sd = reference["mean"], reference["sd"]
    if claim == "parity":
        return learned and abs(test - mean) <= 2 * sd
    if claim == "worse":
        if not learned:
            return True
        return test < mean - 2 * sd if task.higher_is_better else test > mean + 2 * sd
    return None


def format_metric(value: float | None, task: tasks.Task) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.4f}" if not task.higher_is_better else f"{100 * value:.2f} %"


def _format_summary(summary: dict, task: tasks.Task) -> str:
    if summary["mean"] is None:
        return f"diverged ({summary['not_finite']})"
    scale = 1.0 if not task.higher_is_better else 100.0
    digits = 4 if not task.higher_is_better else 2
    text = (f"{scale * summary['mean']:.{digits}f} ± {scale * summary['sd']:.{digits}f} "
            f"({scale * summary['min']:.{digits}f}–{scale * summary['max']:.{digits}f})")
    if summary["not_finite"]:
        text += f", {summary['not_finite']} diverged"
    return text


def task_json(result) -> dict:
    """One task's variants with per-seed metrics, summaries and claim verdicts."""
    task = tasks.get_task(result.task)
    fit = result.fit
    reference = None
    entries = []
    for i, v in enumerate(result.variants):
        rows = result.rows(i)
        seeds = [{
            "seed": int(seed),
            "best_valid": float(fit.best_valid[r]),
            "test": float(fit.evaluations["test"][r]),
            "best_epoch": int(fit.best_epoch[r]),
            "epochs": int(fit.epochs[r]),
            "diverged": bool(fit.diverged[r]),
            "train_loss": [float(x) for x in fit.train_loss[r][: fit.epochs[r]]],
            "valid_metric": [float(x) for x in fit.valid_metric[r][: fit.epochs[r]]],
        } for seed, r in zip(result.seeds, range(rows.start, rows.stop))]
        entry = {
            "name": v.name, "task": v.task, "description": v.description,
            "final_activation": v.final_activation, "loss": v.loss, "loss_on_logits": v.on_logits,
            "label_transform": v.label_transform, "recommended": v.recommended, "ours": v.ours,
            "claim": v.claim,
            "documented": {"valid": v.documented[0], "test": v.documented[1]} if v.documented else None,
            "seeds": seeds,
            "summary": {"best_valid": summarize([s["best_valid"] for s in seeds]),
                        "test": summarize([s["test"] for s in seeds]),
                        "epochs": summarize([s["epochs"] for s in seeds])},
        }
        if v.claim == "reference":
            reference = entry["summary"]["test"]
        entries.append(entry)
    for entry in entries:
        claim = entry["claim"]
        if claim in CLAIM_RULES:
            holds = [_claim_holds(claim, s["test"], s["diverged"], task, result.chance["test"], reference)
                     for s in entry["seeds"]]
            entry["verdict"] = {"holds_in": int(sum(bool(h) for h in holds)), "seeds": len(holds),
                                "rule": CLAIM_RULES[claim]}
        else:
            entry["verdict"] = None
    return {"task": result.task, "metric": task.metric_name, "higher_is_better": task.higher_is_better,
            "chance": result.chance, "seconds": fit.seconds, "compile_seconds": fit.compile_seconds,
            "variants": entries}


def study_json(config, results, seconds: float) -> dict:
    per_task = [task_json(r) for r in results]
    return {
        "study": config.study,
        "task": config.task,
        "config": dataclasses.asdict(config),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": versions(),
        "seconds": seconds,
        "tasks": [{k: v for k, v in t.items() if k != "variants"} for t in per_task],
        "variants": [v for t in per_task for v in t["variants"]],
    }


def _verdict_text(entry: dict, task: tasks.Task) -> str:
    verdict = entry["verdict"]
    if entry["claim"] == "reference":
        return "reference"
    if verdict is None:
        return "—"
    claim = {"fails": "does not learn", "parity": "as good as the reference", "worse": "worse than the reference"}[entry["claim"]]
    held, n = verdict["holds_in"], verdict["seeds"]
    if held == n:
        return f"{claim}: holds in {held}/{n} seeds"
    test = _format_summary(entry["summary"]["test"], task).split(" (")[0]
    if held == 0:
        return f"{claim}: does not hold (0/{n}): {test}"
    return f"{claim}: holds in {held}/{n} seeds ({test})"


def markdown(study: dict) -> str:
    lines = [f"# {study['study'].replace('_', ' ')}: {study['task']}", "",
             f"{study['config']['seeds']} seeds (model init and shuffling; data split seed "
             f"{study['config']['base_seed']}), train {study['config']['train_size']} / valid "
             f"{study['config']['valid_size']} / test {study['config']['test_size'] or 10_000}, patience "
             f"{study['config']['patience']}, max {study['config']['max_epochs']} epochs. "
             f"Total wall time {study['seconds'] / 60:.1f} min on {study['versions']['backend']}.", ""]
    for task_info in study["tasks"]:
        task = tasks.get_task(task_info["task"])
        rows = [v for v in study["variants"] if v["task"] == task.name]
        unit = "MSE (lower is better)" if not task.higher_is_better else "accuracy"
        lines += [f"## {task.name} ({unit})", "",
                  f"Chance (best constant prediction): valid {format_metric(task_info['chance']['valid'], task)}, "
                  f"test {format_metric(task_info['chance']['test'], task)}. "
                  f"{len(rows)} variants × {study['config']['seeds']} seeds in {task_info['seconds']:.0f} s "
                  f"(compile {task_info['compile_seconds']:.0f} s).", "",
                  "| variant | documents | valid best: mean ± sd (min–max) | test: mean ± sd (min–max) | epochs | documents valid / test | claim |",
                  "|---|---|---|---|---|---|---|"]
        for v in rows:
            mark = ("✅" if v["recommended"] else "❌") + (" (ours)" if v["ours"] else "")
            documented = (f"{format_metric(v['documented']['valid'], task)} / {format_metric(v['documented']['test'], task)}"
                          if v["documented"] else "not run" if not v["loss_on_logits"] else "— (corrected twin)")
            epochs = v["summary"]["epochs"]
            lines.append(f"| `{v['name']}` | {mark} | {_format_summary(v['summary']['best_valid'], task)} | "
                         f"{_format_summary(v['summary']['test'], task)} | {epochs['mean']:.1f} | {documented} | "
                         f"{_verdict_text(v, task)} |")
        lines.append("")
    lines += ["Rules: " + "; ".join(f"**{k}** {v}" for k, v in CLAIM_RULES.items()) + ".",
              "`[logits]`: the same loss computed on the logits (ours), to show what applying it to "
              "activated outputs (the documents' PyTorch code) cost.", ""]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use("default")  # optuna's plots switch the global style; ours should not depend on it
    return plt


def plot_curves(study: dict, task_name: str, path: pathlib.Path) -> None:
    """Valid metric per epoch, one line per variant (mean over seeds, band = sd); dots mark each
    variant's mean best epoch, crosses where its last seed stopped."""
    plt = _pyplot()
    task = tasks.get_task(task_name)
    rows = [v for v in study["variants"] if v["task"] == task_name]
    fig, ax = plt.subplots(figsize=(10, 6))
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
        style = "--" if v["ours"] else "-"
        (line,) = ax.plot(epochs, mean, style, label=f"{v['name']} {'✓' if v['recommended'] else '✗'}", color=f"C{i % 10}")
        ax.fill_between(epochs, mean - sd, mean + sd, alpha=0.15, color=line.get_color())
        best = int(round(np.mean([s["best_epoch"] for s in v["seeds"] if s["best_epoch"] >= 0] or [0])))
        if 0 <= best < length and np.isfinite(mean[best]):
            ax.plot(best + 1, mean[best], "o", color=line.get_color())
        if np.isfinite(mean[-1]):
            ax.plot(length, mean[-1], "x", color=line.get_color(), markersize=9)
    if not task.higher_is_better:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"valid {'accuracy (%)' if task.higher_is_better else 'MSE (original scale)'}")
    ax.set_title(f"{study['study'].replace('_', ' ')} — {task_name} (mean ± sd over seeds; o best epoch, x early stop)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_study(out_dir: pathlib.Path, config, results, seconds: float) -> dict:
    """Writes results.json, report.md and curves_<task>.png; returns the JSON document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    study = study_json(config, results, seconds)
    (out_dir / "results.json").write_text(json.dumps(study, indent=1, allow_nan=True))
    (out_dir / "report.md").write_text(markdown(study))
    for task_info in study["tasks"]:
        plot_curves(study, task_info["task"], out_dir / f"curves_{task_info['task']}.png")
    return study


def format_progress(progress) -> str:
    """One line per epoch of a model: where it is, its metric, the best so far, models left."""
    task = tasks.get_task(progress.task)
    r = progress.report
    left = progress.models - progress.model - (1 if r.done else 0)
    status = f"stopped, best epoch {r.best_epoch + 1}" if r.done else f"best {format_metric(r.best_metric, task)} @ {r.best_epoch + 1}"
    return (f"[{progress.task}] model {progress.model + 1}/{progress.models} {progress.variant} seed {progress.seed} "
            f"| epoch {r.epoch + 1} loss {r.train_loss:.4f} valid {format_metric(r.valid_metric, task)} | {status} "
            f"| {left} models still training | {progress.elapsed / 60:.1f} min")


# --- activation HPO (document 001) ---------------------------------------------------------


def _complete_trials(study) -> list:
    import optuna

    return [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]


def write_trials_csv(study, path: pathlib.Path) -> None:
    """The columns of Optuna's `trials_dataframe()` (without needing pandas)."""
    import csv

    trials = study.get_trials(deepcopy=False)
    param_names = sorted({p for t in trials for p in t.params})
    attr_names = sorted({a for t in trials for a in t.user_attrs})
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "value", "datetime_start", "datetime_complete", "duration"]
                        + [f"params_{p}" for p in param_names] + [f"user_attrs_{a}" for a in attr_names] + ["state"])
        for t in trials:
            duration = (t.datetime_complete - t.datetime_start) if t.datetime_complete and t.datetime_start else ""
            writer.writerow([t.number, t.value, t.datetime_start, t.datetime_complete, duration]
                            + [t.params.get(p, "") for p in param_names] + [t.user_attrs.get(a, "") for a in attr_names]
                            + [t.state.name])


def hpo_json(study, config, seconds: float) -> dict:
    from jaxact.studies.hpo import TRAIN_SECONDS

    trials = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params, **t.user_attrs}
              for t in study.get_trials(deepcopy=False)]
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    best = max(complete, key=lambda t: t["value"], default=None)
    return {"study": "activation_hpo", "study_name": config.study_name, "config": dataclasses.asdict(config),
            "created": datetime.datetime.now().isoformat(timespec="seconds"), "versions": versions(),
            "batch_trials": config.resolved_batch(), "seconds": seconds,
            "study_train_seconds": study.user_attrs.get(TRAIN_SECONDS), "best": best, "trials": trials}


def _best_by(complete: list[dict], param: str) -> dict[str, float]:
    best: dict[str, float] = {}
    for t in complete:
        key = t["params"][param]
        best[key] = max(best.get(key, -np.inf), t["value"])
    return dict(sorted(best.items(), key=lambda kv: -kv[1]))


def _ranks(best_by: dict[str, float]) -> dict[str, int]:
    """Competition ranking: 1 + the number of activations strictly better, so ties share a rank."""
    return {k: 1 + sum(other > v for other in best_by.values()) for k, v in best_by.items()}


def hpo_observations(document: dict) -> list[tuple[str, str, bool | None]]:
    """The document's three observations, each checked against this run: (claim, evidence, holds).

    Accuracies differ by whole images, so gaps are also given in images of the HPO-valid set
    beside one binomial standard error, sqrt(p (1 - p) / n), of the best accuracy.
    """
    complete = [t for t in document["trials"] if t["state"] == "COMPLETE"]
    high = [t["value"] for t in complete if t["params"]["learning_rate"] >= 0.004]
    low = [t["value"] for t in complete if t["params"]["learning_rate"] < 0.004]
    out = []
    if high and low:
        holds = float(np.median(high)) < float(np.median(low)) and max(high) < max(low)
        out.append(("learning rate >= 0.004 degrades accuracy",
                    f"lr >= 0.004: {len(high)} trials, median {100 * np.median(high):.2f} %, best {100 * max(high):.2f} %; "
                    f"lr < 0.004: {len(low)} trials, median {100 * np.median(low):.2f} %, best {100 * max(low):.2f} %", holds))
    else:
        out.append(("learning rate >= 0.004 degrades accuracy", "no trials on one side of 0.004", None))
    fc_ranks = _ranks(_best_by(complete, "fc_activation"))
    ranks = {name: fc_ranks[name] for name in ("tanh", "sigmoid") if name in fc_ranks}
    out.append(("FC tanh and sigmoid rank high (top 3 of 8 by best accuracy)",
                ", ".join(f"{k} ranks {v} of {len(fc_ranks)}" for k, v in ranks.items()) or "not sampled",
                bool(ranks) and all(r <= 3 for r in ranks.values()) and len(ranks) == 2))
    conv = _best_by(complete, "conv_activation")
    conv_ranks = _ranks(conv)
    if "prelu" in conv:
        top = max(conv.values())
        leaders = [k for k, r in conv_ranks.items() if r == 1]
        n = document["config"]["hpo_valid_size"]
        gap_images = round((top - conv["prelu"]) * n)
        standard_error = float(np.sqrt(top * (1 - top) / n))
        evidence = (f"prelu ranks {conv_ranks['prelu']} of {len(conv)} ({100 * conv['prelu']:.2f} %); best "
                    f"{' and '.join(leaders)} ({100 * top:.2f} %)")
        if gap_images:
            evidence += (f": {gap_images} of {n} images ahead, one standard error is {100 * standard_error:.2f} "
                         f"points ({round(standard_error * n)} images)")
        out.append(("conv PReLU is best", evidence, conv_ranks["prelu"] == 1))
    else:
        out.append(("conv PReLU is best", "prelu not sampled", None))
    return out


def hpo_markdown(document: dict) -> str:
    from jaxact.studies.hpo import DOCUMENTED

    complete = [t for t in document["trials"] if t["state"] == "COMPLETE"]
    best = document["best"]
    cfg = document["config"]
    lines = ["# activation HPO (document 001)", "",
             f"{len(complete)} complete trials ({len(document['trials']) - len(complete)} other) of study "
             f"`{document['study_name']}`, TPE (seed {cfg['seed']}, constant liar), batches of "
             f"{document.get('batch_trials') or cfg['batch_trials'] or 'backend default'}; "
             f"train {cfg['train_size']} / valid {cfg['valid_size']} / "
             f"HPO-valid {cfg['hpo_valid_size']} / test {cfg['test_size'] or 10_000}, patience {cfg['patience']}. "
             f"Wall time {document['seconds'] / 60:.1f} min on {document['versions']['backend']} (this invocation)"
             + (f"; {document['study_train_seconds'] / 60:.1f} min of training over all invocations of this study."
                if document.get("study_train_seconds") else "."), ""]
    if best:
        lines += ["| | conv_activation | fc_activation | learning_rate | HPO-valid | test |", "|---|---|---|---|---|---|",
                  f"| jaxact (trial {best['number']}) | {best['params']['conv_activation']} | {best['params']['fc_activation']} | "
                  f"{best['params']['learning_rate']:.6f} | {100 * best['value']:.2f} % | {100 * best['test']:.2f} % |",
                  f"| documents | {DOCUMENTED['conv_activation']} | {DOCUMENTED['fc_activation']} | "
                  f"{DOCUMENTED['learning_rate']:.6f} | {100 * DOCUMENTED['hpo_valid']:.2f} % | {100 * DOCUMENTED['test']:.2f} % |", ""]
    for param in ("conv_activation", "fc_activation"):
        best_by = _best_by(complete, param)
        ranks = _ranks(best_by)
        counts = {k: sum(t["params"][param] == k for t in complete) for k in best_by}
        lines += [f"Best HPO-valid accuracy per {param}:", "", "| rank | activation | best | trials |", "|---|---|---|---|"]
        lines += [f"| {ranks[k]} | {k} | {100 * v:.2f} % | {counts[k]} |" for k, v in best_by.items()]
        lines.append("")
    lines += ["The documents' observations, checked:", "", "| observation | this run | holds |", "|---|---|---|"]
    for claim, evidence, holds in hpo_observations(document):
        lines.append(f"| {claim} | {evidence} | {'yes' if holds else 'no' if holds is not None else '—'} |")
    lines += ["", "Plots: optimization_history.png, best_per_activation.png, lr_vs_accuracy_conv.png, "
              "lr_vs_accuracy_fc.png, param_importances.png. Every trial: trials.csv, results.json.", ""]
    return "\n".join(lines)


def plot_hpo(study, document: dict, out_dir: pathlib.Path) -> list[str]:
    """The document's figures; returns the names written."""
    import optuna

    plt = _pyplot()

    def save_optuna_axes(ax, name: str, size: tuple[float, float]) -> None:
        ax.figure.set_size_inches(*size)
        ax.figure.tight_layout()
        ax.figure.savefig(out_dir / name, dpi=110)
        plt.close(ax.figure)
        plt.style.use("default")  # optuna's plot switched the global style to ggplot (7 colours)
        written.append(name)

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    written = []
    complete = [t for t in document["trials"] if t["state"] == "COMPLETE"]

    save_optuna_axes(optuna.visualization.matplotlib.plot_optimization_history(study), "optimization_history.png", (9, 5))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, param in zip(axes, ("conv_activation", "fc_activation")):
        best_by = _best_by(complete, param)
        ax.bar(list(best_by), [100 * v for v in best_by.values()], color="C0" if param.startswith("conv") else "C1")
        if best_by:
            ax.set_ylim(max(0.0, 100 * min(best_by.values()) - 2), 100)
        ax.set_title(f"best HPO-valid accuracy per {param}")
        ax.tick_params(axis="x", rotation=45)
        ax.set_ylabel("accuracy (%)")
    fig.tight_layout()
    fig.savefig(out_dir / "best_per_activation.png", dpi=110)
    plt.close(fig)
    written.append("best_per_activation.png")

    for param, name in (("conv_activation", "lr_vs_accuracy_conv.png"), ("fc_activation", "lr_vs_accuracy_fc.png")):
        fig, ax = plt.subplots(figsize=(9, 5))
        for i, activation in enumerate(sorted({t["params"][param] for t in complete})):
            points = [(t["params"]["learning_rate"], 100 * t["value"]) for t in complete if t["params"][param] == activation]
            ax.scatter(*zip(*points), label=activation, color=f"C{i}", alpha=0.8)
        ax.axvline(0.004, color="grey", linestyle=":", label="lr = 0.004")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("HPO-valid accuracy (%)")
        ax.set_title(f"accuracy vs learning rate, by {param}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        written.append(name)

    try:
        save_optuna_axes(optuna.visualization.matplotlib.plot_param_importances(study), "param_importances.png", (8, 4))
    except (ValueError, RuntimeError, ZeroDivisionError):  # too few or too uniform trials to rank
        pass
    return written


def write_hpo(out_dir: pathlib.Path, study, config, seconds: float) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    document = hpo_json(study, config, seconds)
    (out_dir / "results.json").write_text(json.dumps(document, indent=1, default=str))
    write_trials_csv(study, out_dir / "trials.csv")
    document["plots"] = plot_hpo(study, document, out_dir)
    (out_dir / "report.md").write_text(hpo_markdown(document))
    return document


def format_hpo_progress(progress) -> str:
    best = (f"best {100 * progress.best_value:.2f} % ({progress.best_params['conv_activation']} / "
            f"{progress.best_params['fc_activation']} / lr {progress.best_params['learning_rate']:.5f})"
            if progress.best_params else "no complete trial yet")
    return f"batch {progress.batch}: {progress.complete}/{progress.total} trials complete, {best}, {progress.elapsed / 60:.1f} min"


# --- activation gallery (documents 001, 003, 004) -----------------------------------------


def plot_activation(name: str, x, y, dy, shown: str, value_range, points, path: pathlib.Path) -> None:
    """One activation: f and f' (jax.grad), its range and the notable points annotated."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, y, label=shown, color="C0", linewidth=2)
    ax.plot(x, dy, "--", label="derivative (jax.grad)", color="C1")
    for px, py, text in points:
        ax.plot(px, py, "o", color="C3")
        ax.annotate(text, (px, py), textcoords="offset points", xytext=(8, -14), fontsize=8)
    lo, hi = value_range
    ax.set_title(f"{name}   range {_range_text(lo)} ~ {_range_text(hi)}")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _range_text(value) -> str:
    return "-inf" if value == -np.inf else "+inf" if value == np.inf else f"{value:g}"


def plot_overview(curves: dict, path: pathlib.Path) -> None:
    """All activations in one figure (document 001's comparison figure)."""
    plt = _pyplot()
    names = list(curves)
    cols = 5
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows))
    for ax, name in zip(axes.flat, names):
        x, y, dy, _ = curves[name]
        ax.plot(x, y, color="C0")
        ax.plot(x, dy, "--", color="C1", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        finite = np.asarray(y)[np.isfinite(y)]
        if finite.size:
            ax.set_ylim(max(finite.min(), -7) - 0.5, min(finite.max(), 7) + 0.5)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("activations (solid) and their derivatives (dashed), x in [-6, 6]")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_pair(x, series: list[tuple[str, np.ndarray]], title: str, path: pathlib.Path, xlabel: str = "x") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, values) in enumerate(series):
        ax.plot(x if not isinstance(x, dict) else x[label], values, label=label, color=f"C{i}")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_init_spread(spreads: dict[tuple[str, str], np.ndarray], path: pathlib.Path) -> None:
    """Activation std per layer, one line per (activation, initializer)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, ((activation, initializer), values) in enumerate(spreads.items()):
        ax.plot(np.arange(1, len(values) + 1), values, "-o" if initializer == "he" else "--s",
                label=f"{activation}, {initializer}", color=f"C{i // 2}", markersize=4)
    ax.set_yscale("log")
    ax.set_xlabel("dense layer")
    ax.set_ylabel("std of activations")
    ax.set_title("document 004: sigmoid/tanh pair with Glorot, ReLU with He")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
