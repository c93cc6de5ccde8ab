"""The activation HPO's report (document 001), built from the study's storage: the best trial
beside the documents', best accuracy per activation, the document's three observations checked,
Optuna's plots and ours, every trial in trials.csv and results.json."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import pathlib
import warnings

import numpy as np
import optuna

from jaxact import reporting
from jaxact.studies import queue as queue_module
from jaxact.studies.hpo.study import DOCUMENTED, HPOConfig


def write_trials_csv(study, path: pathlib.Path) -> None:
    """The columns of Optuna's `trials_dataframe()` (without needing pandas)."""
    trials = study.trials()
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


_BOOKKEEPING = (queue_module.OWNER, queue_module.HEARTBEAT)


def _complete(document: dict) -> list[dict]:
    return [t for t in document["trials"] if t["state"] == "COMPLETE"]


def collect(config: HPOConfig, study: queue_module.UnitQueue) -> dict:
    """The study document (results.json): every trial, the best, the seconds of all invocations."""
    trials = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
               **{k: v for k, v in t.user_attrs.items() if k not in _BOOKKEEPING}} for t in study.trials()]
    best = max((t for t in trials if t["state"] == "COMPLETE"), key=lambda t: t["value"], default=None)
    return {"study": "activation_hpo", "study_name": config.resolved_study_name("activation_hpo"), "config": dataclasses.asdict(config),
            "created": datetime.datetime.now().isoformat(timespec="seconds"), "versions": reporting.versions(),
            "settings": study.settings, "units_per_program": config.resolved_units_per_program(),
            "seconds": study.seconds(),
            "best": best, "trials": trials}


def _best_by(complete: list[dict], param: str) -> dict[str, float]:
    best: dict[str, float] = {}
    for t in complete:
        key = t["params"][param]
        best[key] = max(best.get(key, -np.inf), t["value"])
    return dict(sorted(best.items(), key=lambda kv: -kv[1]))


def _ranks(best_by: dict[str, float]) -> dict[str, int]:
    """Competition ranking: 1 + the number of activations strictly better, so ties share a rank."""
    return {k: 1 + sum(other > v for other in best_by.values()) for k, v in best_by.items()}


def observations(document: dict) -> list[tuple[str, str, bool | None]]:
    """The document's three observations, each checked against this run: (claim, evidence, holds).

    Accuracies differ by whole images, so gaps are also given in images of the HPO-valid set
    beside one binomial standard error, sqrt(p (1 - p) / n), of the best accuracy.
    """
    complete = _complete(document)
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
        n = document["settings"]["hpo_valid"]
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


def _others_text(document: dict) -> str:
    """What the trials that are not COMPLETE are."""
    others = [t for t in document["trials"] if t["state"] != "COMPLETE"]
    abandoned = sum(bool(t.get(queue_module.ABANDONED)) for t in others)
    parts = ([f"{abandoned} abandoned by a killed worker, each trained again as a copy"] if abandoned else []) \
        + ([f"{len(others) - abandoned} diverged or in flight"] if len(others) > abandoned else [])
    return f"{len(others)} other: {'; '.join(parts)}" if others else "0 other"


def markdown(document: dict) -> str:
    complete = _complete(document)
    best = document["best"]
    cfg = document["config"]
    settings = document["settings"]
    lines = ["# activation HPO (document 001)", "",
             f"{len(complete)} complete trials ({_others_text(document)}) of study "
             f"`{document['study_name']}`, TPE (seed {cfg['seed']}, constant liar), batches of "
             f"{document['units_per_program']}; train {settings['train']} / valid {settings['valid']} / "
             f"HPO-valid {settings['hpo_valid']} / test {settings['test_size'] or 10_000}, patience {settings['patience']}"
             f"{', bfloat16 matmuls' if settings['matmul_dtype'] == 'bfloat16' else ''}. "
             + reporting.time_text(document["seconds"], document["versions"], "trial"), ""]
    if best:
        lines += ["| | conv_activation | fc_activation | learning_rate | HPO-valid | test |", "|---|---|---|---|---|---|",
                  f"| jaxact (trial {best['number']}) | {best['params']['conv_activation']} | {best['params']['fc_activation']} | "
                  f"{best['params']['learning_rate']:.6f} | {100 * best['value']:.2f} % | {100 * best['evaluations']['test']:.2f} % |",
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
    for claim, evidence, holds in observations(document):
        lines.append(f"| {claim} | {evidence} | {'yes' if holds else 'no' if holds is not None else '—'} |")
    lines += ["", "Plots: optimization_history.png, best_per_activation.png, lr_vs_accuracy_conv.png, "
              "lr_vs_accuracy_fc.png, param_importances.png. Every trial: trials.csv, results.json.", ""]
    return "\n".join(lines)


@contextlib.contextmanager
def _optuna_plot(out_dir: pathlib.Path, name: str, size: tuple[float, float], written: list[str]):
    """Runs one of optuna.visualization.matplotlib's plots (pyplot, ggplot style) inside an
    rc_context, so that its style does not outlive it; saves and closes its figure."""
    import matplotlib
    import matplotlib.pyplot as plt

    holder = []
    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield holder
        if holder:
            fig = holder[0].figure
            fig.set_size_inches(*size)
            fig.tight_layout()
            fig.savefig(out_dir / name, dpi=110)
            plt.close(fig)
            written.append(name)


def plot(study: queue_module.UnitQueue, document: dict, out_dir: pathlib.Path) -> list[str]:
    """The document's figures; returns the names written."""
    written = []
    complete = _complete(document)
    with _optuna_plot(out_dir, "optimization_history.png", (9, 5), written) as holder:
        holder.append(optuna.visualization.matplotlib.plot_optimization_history(study.optuna))

    fig, axes = reporting.figure(12, 4.5, ncols=2)
    for ax, param in zip(axes, ("conv_activation", "fc_activation")):
        best_by = _best_by(complete, param)
        ax.bar(list(best_by), [100 * v for v in best_by.values()], color="C0" if param.startswith("conv") else "C1")
        if best_by:
            ax.set_ylim(max(0.0, 100 * min(best_by.values()) - 2), 100)
        ax.set_title(f"best HPO-valid accuracy per {param}")
        ax.tick_params(axis="x", rotation=45)
        ax.set_ylabel("accuracy (%)")
    reporting.save(fig, out_dir / "best_per_activation.png")
    written.append("best_per_activation.png")

    for param, name in (("conv_activation", "lr_vs_accuracy_conv.png"), ("fc_activation", "lr_vs_accuracy_fc.png")):
        fig, ax = reporting.figure(9, 5)
        for i, activation in enumerate(sorted({t["params"][param] for t in complete})):
            points = [(t["params"]["learning_rate"], 100 * t["value"]) for t in complete if t["params"][param] == activation]
            ax.scatter(*zip(*points), label=activation, color=f"C{i}", alpha=0.8)
        ax.axvline(0.004, color="grey", linestyle=":", label="lr = 0.004")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("HPO-valid accuracy (%)")
        ax.set_title(f"accuracy vs learning rate, by {param}")
        ax.legend(fontsize=8)
        reporting.save(fig, out_dir / name)
        written.append(name)

    try:
        with _optuna_plot(out_dir, "param_importances.png", (8, 4), written) as holder:
            holder.append(optuna.visualization.matplotlib.plot_param_importances(study.optuna))
    except (ValueError, RuntimeError, ZeroDivisionError):  # too few or too uniform trials to rank
        pass
    return written


def write(out_dir: pathlib.Path, config: HPOConfig, study: queue_module.UnitQueue) -> dict:
    """Writes results.json, trials.csv, the plots and report.md from the storage; returns {"document",
    "files", "units"}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = collect(config, study)
    reporting.write_json(out_dir / "results.json", document)
    write_trials_csv(study, out_dir / "trials.csv")
    document["plots"] = plot(study, document, out_dir)
    (out_dir / "report.md").write_text(markdown(document))
    return {"document": document, "units": len(_complete(document)),
            "files": ["report.md", "results.json", "trials.csv"] + document["plots"]}

