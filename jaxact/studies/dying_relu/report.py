"""The dying ReLU head's report from its storage: results.json, report.md, mse.png (each seed's
test MSE per variant, dead heads marked) and forest.png (each claim's interval against its region).

Per variant: how many heads die (no train row with z > 0 at the best epoch's params) with a 95 %
Clopper-Pearson interval; of those, how many were dead at initialization and how many died while
training; the test MSE over seeds; and whether document 000's one-seed 0.6272 test MSE lies within
the range single seeds give (and how often a seed does at least as well, with its interval).
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib

import numpy as np
import scipy.stats

from jaxact import reporting
from jaxact.combinations import documented
from jaxact.studies import runner
from jaxact.studies.misuse import table
from jaxact.studies.dying_relu.study import HEAD, BY_NAME, DyingReluConfig

DOCUMENTED_TEST = documented(HEAD, "000")[0].test  # 0.6272: the documents' one seed
CHANCE_MSE_SHARE = table.CHANCE_MSE_SHARE  # at chance: an MSE of at least 95 % of predicting the train mean


def rate(successes: int, trials: int) -> dict:
    """A proportion with its 95 % Clopper-Pearson (exact binomial) interval."""
    if trials == 0:
        return {"k": 0, "n": 0, "rate": None, "ci95": None}
    interval = scipy.stats.binomtest(successes, trials).proportion_ci(reporting.CONFIDENCE, method="exact")
    return {"k": successes, "n": trials, "rate": successes / trials, "ci95": [float(interval.low), float(interval.high)]}


def variant_summary(records: list[runner.UnitRecord]) -> dict:
    """Death counts (dead = z <= 0 on every train row at the best params; at init likewise) and MSEs."""
    seeds = []
    for r in sorted(records, key=lambda r: r.unit["seed"]):
        positive = r.extra["positive_outputs"]
        seeds.append({"seed": r.unit["seed"], "test": r.value, "best_valid": r.best_valid, "epochs": r.epochs,
                      "best_epoch": r.best_epoch, "diverged": r.diverged, "chance": r.extra["chance"],
                      "positive_init": positive["init"], "positive_best": positive["best"],
                      "mean_z": r.extra["mean_z"], "dead_at_init": positive["init"] == 0.0,
                      "dead": positive["best"] == 0.0})
    n = len(seeds)
    dead = [s for s in seeds if s["dead"]]
    tests = np.array([s["test"] for s in seeds], np.float64)
    alive_tests = np.array([s["test"] for s in seeds if not s["dead"]], np.float64)
    finite = reporting.finite(tests)
    return {
        "seeds": seeds, "n": n,
        "dead": rate(len(dead), n),
        "dead_at_init": rate(sum(s["dead_at_init"] for s in seeds), n),
        "dead_at_init_and_end": sum(s["dead_at_init"] and s["dead"] for s in seeds),
        "died_during_training": rate(sum(s["dead"] and not s["dead_at_init"] for s in seeds), n),
        "revived": sum(s["dead_at_init"] and not s["dead"] for s in seeds),
        # the misuse studies' "does not learn" rule, whatever the head's sign: an alive head can learn a constant
        "at_chance": rate(sum(not np.isfinite(s["test"]) or s["test"] >= CHANCE_MSE_SHARE * s["chance"] for s in seeds), n),
        "test": reporting.summarize(tests), "test_alive": reporting.summarize(alive_tests),
        "at_most_documented": rate(int(np.sum(finite <= DOCUMENTED_TEST)), int(finite.size)),
        "documented_within_range": bool(finite.size and finite.min() <= DOCUMENTED_TEST <= finite.max()),
        "chance": float(np.mean([s["chance"] for s in seeds])) if seeds else None,
    }


def collect(config: DyingReluConfig, queue) -> dict:
    records = runner.records(queue)
    variants = {}
    for v in config.variant_list():
        members = [r for r in records if r.unit["variant"] == v.name and r.unit["seed"] in config.seed_list()]
        if members:
            variants[v.name] = {"description": v.description, "initializer": v.initializer,
                                "output_bias": v.output_bias, **variant_summary(members)}
    return {"study": "dying_relu", "study_name": config.resolved_study_name("dying_relu"), "dataset": config.dataset,
            "config": dataclasses.asdict(config), "settings": queue.settings,
            "created": datetime.datetime.now().isoformat(timespec="seconds"), "versions": reporting.versions(),
            "seconds": queue.seconds(), "units_done": len(records),
            "units_total": len(config.variant_list()) * config.seeds, "documented_test": DOCUMENTED_TEST,
            "variants": variants}


def _rate_text(r: dict) -> str:
    if r["rate"] is None:
        return "—"
    return f"{r['k']}/{r['n']} = {100 * r['rate']:.0f} % [{100 * r['ci95'][0]:.0f}, {100 * r['ci95'][1]:.0f}]"


def _mse(summary: dict) -> str:
    if summary["mean"] is None:
        return "—"
    ci = summary["ci95"]
    return (f"{summary['mean']:.4f} {f'[{ci[0]:.4f}, {ci[1]:.4f}]' if ci else ''} (min {summary['min']:.4f}, "
            f"max {summary['max']:.4f}, n {summary['n']})")


def markdown(document: dict) -> str:
    s = document["settings"]
    lines = [f"# The dying ReLU head: regression, ReLU output, standardized labels ({s['dataset']})", "",
             f"Train {s['train']} / valid {s['valid']} / test {s['test_size'] or 10000}, patience {s['patience']}, max "
             f"{s['max_epochs']} epochs, each seed its own train/valid sample (the misuse studies' settings). A head is "
             "**dead** when its pre-activation z is <= 0 on every train image at the best epoch's params (its output "
             "is then the train mean: chance MSE); **dead at init** when so before the first step. Intervals of rates: "
             f"95 % Clopper-Pearson. **{document['units_done']} of {document['units_total']} units done.** "
             + reporting.time_text(document["seconds"], document["versions"], "unit"), "",
             "| variant | dead | dead at init | died while training | revived (dead at init, alive at end) | "
             "at chance (MSE >= 95 % of chance) | test MSE, all seeds | test MSE, live heads | chance MSE |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, v in document["variants"].items():
        lines.append(f"| `{name}`: {v['description']} | {_rate_text(v['dead'])} | {_rate_text(v['dead_at_init'])} | "
                     f"{_rate_text(v['died_during_training'])} | {v['revived']} | {_rate_text(v['at_chance'])} | "
                     f"{_mse(v['test'])} | "
                     f"{_mse(v['test_alive'])} | {v['chance']:.4f} |")
    documented_test = document["documented_test"]
    lines += ["", f"## Is the documents' {documented_test} within what one seed gives?", ""]
    for name, v in document["variants"].items():
        at_most = v["at_most_documented"]
        lines.append(f"- `{name}`: {'yes' if v['documented_within_range'] else 'no'}: seeds range "
                     f"{v['test']['min']:.4f} to {v['test']['max']:.4f}; a seed reaches <= {documented_test} in "
                     f"{_rate_text(at_most)}." if v["test"]["mean"] is not None else f"- `{name}`: no finite MSE")
    lines += ["", "![test MSE per seed](mse.png)", "", "![claims](forest.png)", ""]
    return "\n".join(lines)


def plot_mse(document: dict, path: pathlib.Path) -> None:
    fig, ax = reporting.figure(9, 5)
    names = list(document["variants"])
    for k, name in enumerate(names):
        seeds = document["variants"][name]["seeds"]
        jitter = np.linspace(-0.25, 0.25, max(len(seeds), 1))
        for x, s in zip(jitter, seeds):
            ax.plot(k + x, s["test"], "x" if s["dead"] else "o", color="tab:red" if s["dead"] else f"C{k}",
                    markersize=6)
    ax.axhline(document["documented_test"], color="black", ls="--", lw=1, label=f"documents: {document['documented_test']}")
    chances = [v["chance"] for v in document["variants"].values() if v["chance"] is not None]
    if chances:
        ax.axhline(np.mean(chances), color="tab:red", ls=":", lw=1, label="chance (train mean)")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("test MSE (original scale)")
    ax.set_title("one point per seed; red x: dead head (z <= 0 on every train image)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    reporting.save(fig, path)


def forest_panels(document: dict) -> list[dict]:
    """Death rates against "the head stays alive" (at most 5 % die) and the documents' number
    against each variant's per-seed range."""
    rows = []
    for name, v in document["variants"].items():
        r = v["dead"]
        status = reporting.against(r["ci95"], 0.0, 0.05)
        rows.append({"label": f"{name}: death rate", "estimate": r["rate"], "interval": r["ci95"],
                     "region": [0.0, 0.05], "status": status})
    return [{"title": f"{document['dataset']}: the head stays alive (death rate <= 5 %)", "xlabel": "fraction of seeds dead",
             "rows": rows}]


def write(out_dir: pathlib.Path, config: DyingReluConfig, queue) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    document = collect(config, queue)
    for name, v in document["variants"].items():
        v["stays_alive"] = reporting.against(v["dead"]["ci95"], 0.0, 0.05)
    reporting.write_json(out_dir / "results.json", document)
    (out_dir / "report.md").write_text(markdown(document))
    plot_mse(document, out_dir / "mse.png")
    reporting.forest_plot(forest_panels(document), out_dir / "forest.png", "dying ReLU head")
    return {"document": document, "units": document["units_done"],
            "files": ["report.md", "results.json", "mse.png", "forest.png"]}
