"""The activation factorial's report, built from its storage alone: results.json (every unit, each
cell and main effect with a 95 % bootstrap interval, the claims with their verdicts), report.md,
heatmap.png (the conv x FC cells), sparsity.png (sparsity vs accuracy) and forest.png (every
claim's interval against its region). Every number in report.md is read from results.json.

The claims (document 001, section 3-3), each decided by `reporting.against` (the misuse studies'
rule: holds when the 95 % interval lies in the claim's region, does not hold when it lies
entirely outside, inconclusive when it straddles a boundary):

- ranking claims, in test accuracy: "conv PReLU is best", "FC tanh / FC sigmoid rank high". An
  activation's gain is its accuracy minus that of the best *other* activation of its layer (by main
  effect), paired by partner activation and seed; the claim holds when the gain's interval lies
  above -RANK_MARGIN (no other activation is more than the margin better), does not hold when it
  lies entirely below it;
- explanation claims, as Spearman rank correlations over the 8 activations of a layer between their
  mean sparsity (or density) and their main effect: "conv sparsity predicts accuracy", "FC density
  predicts accuracy"; holds when the interval of rho lies above 0, does not hold when entirely below.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import warnings

import numpy as np
import scipy.stats

from jaxact import models, reporting, train
from jaxact.studies import runner
from jaxact.studies.factorial.study import FactorialConfig

RANK_MARGIN = 0.002  # 0.2 accuracy points = 20 of the 10,000 test images, ~1.4 binomial SE of one unit at 98 %
CONV_SITES = ("conv1", "conv2", "conv3")
RANK_CLAIMS = (("conv", "prelu", "conv PReLU is the best conv activation"),
               ("fc", "tanh", "FC tanh ranks high"),
               ("fc", "sigmoid", "FC sigmoid ranks high"))


def grid(config: FactorialConfig, records: list[runner.UnitRecord]) -> dict:
    """Arrays over (conv activation, FC activation, seed), NaN where a unit is missing or diverged:
    "test" (accuracy), "conv_zero"/"conv_near" (mean over conv1-3 of the fraction exactly 0 / near
    0), "fc_zero"/"fc_near", and per site "<site>_zero"/"<site>_near"."""
    convs, fcs, seeds = config.conv_list(), config.fc_list(), config.seed_list()
    shape = (len(convs), len(fcs), len(seeds))
    names = (["test", "conv_zero", "conv_near"] + [f"{s}_{k}" for s in models.SITES for k in ("zero", "near")])
    out = {name: np.full(shape, np.nan) for name in names}
    for r in records:
        u = r.unit
        if u["conv_activation"] not in convs or u["fc_activation"] not in fcs or u["seed"] not in seeds:
            continue
        at = (convs.index(u["conv_activation"]), fcs.index(u["fc_activation"]), seeds.index(u["seed"]))
        if r.diverged or not np.isfinite(r.value):
            continue
        out["test"][at] = r.value
        for site, fractions in r.extra["sparsity"].items():
            for kind, value in fractions.items():
                out[f"{site}_{kind}"][at] = value
        for kind in ("zero", "near"):
            out[f"conv_{kind}"][at] = np.mean([r.extra["sparsity"][s][kind] for s in CONV_SITES])
    return out


def _by_layer(values: np.ndarray, layer: str) -> np.ndarray:
    """Float["groups columns"]: one row per activation of `layer`, its (partner, seed) pairs as columns."""
    moved = values if layer == "conv" else np.swapaxes(values, 0, 1)
    return moved.reshape(moved.shape[0], -1)


def main_effects(names: tuple[str, ...], by_layer: np.ndarray) -> dict[str, dict]:
    """Each activation's mean over its partners and seeds with a 95 % bootstrap interval (over the
    (partner, seed) values: how much the activation's accuracy depends on what it is paired with
    and on the seed), and its rank (1 = best mean)."""
    out = {name: reporting.summarize(row) for name, row in zip(names, by_layer)}
    means = {n: s["mean"] for n, s in out.items() if s["mean"] is not None}
    for name in out:
        out[name]["rank"] = 1 + sum(m > means[name] for m in means.values()) if name in means else None
    return out


def median_partner_ranks(test: np.ndarray, layer: str, names: tuple[str, ...]) -> dict[str, float | None]:
    """Each activation's median rank among its layer's activations within each partner (the cell
    means over seeds, rank 1 = best, ties share the best rank): robust to one failing cell, which
    drags a mean-based main effect down by itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cells = np.nanmean(test, axis=2)
    cells = cells if layer == "conv" else cells.T  # rows: the layer's activations, columns: partners
    ranks = np.full(cells.shape, np.nan)
    for j in range(cells.shape[1]):
        column = cells[:, j]
        kept = np.isfinite(column)
        if kept.all():
            ranks[:, j] = scipy.stats.rankdata(-column, method="min")
    return {n: (float(np.nanmedian(ranks[i])) if np.isfinite(ranks[i]).any() else None) for i, n in enumerate(names)}


def rank_claim(text: str, layer: str, activation: str, names: tuple[str, ...], by_layer: np.ndarray,
               effects: dict[str, dict]) -> dict:
    """The gain of `activation` over the best other activation of its layer, paired per column."""
    if activation not in names:
        return {"claim": text, "layer": layer, "activation": activation, "status": "inconclusive", "interval": None,
                "estimate": None, "region": [-RANK_MARGIN, np.inf], "note": "not in this run"}
    others = [n for n in names if n != activation and effects[n]["mean"] is not None]
    best_other = max(others, key=lambda n: effects[n]["mean"]) if others else None
    gains = (by_layer[names.index(activation)] - by_layer[names.index(best_other)]) if best_other else np.array([])
    kept = reporting.finite(gains)
    interval = reporting.bootstrap_ci(kept)
    return {"claim": text, "layer": layer, "activation": activation, "compared_with": best_other,
            "rank": effects[activation]["rank"], "of": len(names),
            "estimate": float(kept.mean()) if kept.size else None, "interval": interval, "pairs": int(kept.size),
            "region": [-RANK_MARGIN, np.inf], "status": reporting.against(interval, -RANK_MARGIN, np.inf)}


def correlation_claim(text: str, measure: str, x: np.ndarray, accuracy: np.ndarray, names: tuple[str, ...]) -> dict:
    """Spearman's rho over a layer's activations between a per-activation measure and accuracy."""
    rho, interval = reporting.spearman_ci(x, accuracy, x.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = {n: [float(v) for v in pair] for n, pair in zip(names, zip(np.nanmean(x, 1), np.nanmean(accuracy, 1)))}
    return {"claim": text, "measure": measure, "estimate": rho if np.isfinite(rho) else None, "interval": interval,
            "region": [0.0, 1.0], "status": reporting.against(interval, 0.0, 1.0), "activations": len(names),
            "per_activation": means}


def collect(config: FactorialConfig, queue) -> dict:
    records = runner.records(queue)
    convs, fcs, seeds = config.conv_list(), config.fc_list(), config.seed_list()
    arrays = grid(config, records)
    test = arrays["test"]
    conv_rows, fc_rows = _by_layer(test, "conv"), _by_layer(test, "fc")
    conv_effects, fc_effects = main_effects(convs, conv_rows), main_effects(fcs, fc_rows)
    for effects, layer, names in ((conv_effects, "conv", convs), (fc_effects, "fc", fcs)):
        for name, rank in median_partner_ranks(test, layer, names).items():
            effects[name]["median_rank_per_partner"] = rank
    cells = [{"conv_activation": c, "fc_activation": f, "test": reporting.summarize(test[i, j]),
              "seeds": [float(v) for v in test[i, j]]} for i, c in enumerate(convs) for j, f in enumerate(fcs)]
    rank_claims = [rank_claim(text, layer, activation, convs if layer == "conv" else fcs,
                              conv_rows if layer == "conv" else fc_rows, conv_effects if layer == "conv" else fc_effects)
                   for layer, activation, text in RANK_CLAIMS]
    fc_density = {kind: 1.0 - arrays[f"fc_{kind}"] for kind in ("zero", "near")}
    correlation_claims = [
        correlation_claim("conv sparsity (exactly 0) predicts accuracy across conv activations", "conv_zero",
                          _by_layer(arrays["conv_zero"], "conv"), conv_rows, convs),
        correlation_claim(f"conv sparsity (|a| < {train.NEAR_ZERO:g}) predicts accuracy across conv activations",
                          "conv_near", _by_layer(arrays["conv_near"], "conv"), conv_rows, convs),
        correlation_claim("FC density (not exactly 0) predicts accuracy across FC activations", "fc_density_zero",
                          _by_layer(fc_density["zero"], "fc"), fc_rows, fcs),
        correlation_claim(f"FC density (|a| >= {train.NEAR_ZERO:g}) predicts accuracy across FC activations",
                          "fc_density_near", _by_layer(fc_density["near"], "fc"), fc_rows, fcs),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sparsity = {
            "conv": {c: {f"{s}_{k}": float(np.nanmean(arrays[f"{s}_{k}"][i])) for s in CONV_SITES for k in ("zero", "near")}
                     for i, c in enumerate(convs)},
            "fc": {f: {f"fc_{k}": float(np.nanmean(arrays[f"fc_{k}"][:, j])) for k in ("zero", "near")}
                   for j, f in enumerate(fcs)}}
    unit_rows = [{**r.unit, "test": r.value, "best_valid": r.best_valid, "best_epoch": r.best_epoch, "epochs": r.epochs,
                  "diverged": r.diverged, "seconds": r.seconds, "sparsity": r.extra.get("sparsity")} for r in records]
    return {"study": "activation_factorial", "study_name": config.resolved_study_name("activation_factorial"),
            "dataset": config.dataset, "config": dataclasses.asdict(config), "settings": queue.settings,
            "created": datetime.datetime.now().isoformat(timespec="seconds"), "versions": reporting.versions(),
            "seconds": queue.seconds(), "units_done": len(records), "units_total": len(convs) * len(fcs) * len(seeds),
            "diverged": sum(r.diverged for r in records), "near_zero": train.NEAR_ZERO, "rank_margin": RANK_MARGIN,
            "conv_activations": list(convs), "fc_activations": list(fcs), "seeds": seeds,
            "main_effects": {"conv": conv_effects, "fc": fc_effects}, "cells": cells,
            "claims": rank_claims + correlation_claims, "sparsity": sparsity, "units": unit_rows}


def _pct(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{100 * value:.2f}"


def _ci(interval, scale: float = 100.0, digits: int = 2, signed: bool = False) -> str:
    if interval is None:
        return "—"
    sign = "+" if signed else ""
    return f"[{scale * interval[0]:{sign}.{digits}f}, {scale * interval[1]:{sign}.{digits}f}]"


def markdown(document: dict) -> str:
    settings, convs, fcs = document["settings"], document["conv_activations"], document["fc_activations"]
    lines = [f"# Activation factorial: conv x FC activation on {settings['dataset']}", "",
             f"{len(convs)} conv x {len(fcs)} FC activations x {len(document['seeds'])} seeds "
             f"({reporting.number_ranges(document['seeds'])}: init, shuffling and each its own train/valid sample) at "
             f"one learning rate, {settings['learning_rate']:g}: the documents' best region (document 001's best trial "
             f"used 0.001988 and saw lr >= 0.004 degrade), so that differences between cells are the activations'. "
             f"Train {settings['train']} / valid {settings['valid']} / test "
             f"{settings['test_size'] or 10000}, patience {settings['patience']}, max {settings['max_epochs']} epochs, "
             f"softmax output with the documents' cross-entropy on it. **{document['units_done']} of "
             f"{document['units_total']} units done**, {document['diverged']} diverged. "
             + reporting.time_text(document["seconds"], document["versions"], "unit"), "",
             "## The documents' claims", "",
             "| claim | measured | 95 % interval | region where it holds | verdict |", "|---|---|---|---|---|"]
    for c in document["claims"]:
        if "layer" in c:
            measured = (f"rank {c.get('rank')} of {c.get('of')}; gain over {c.get('compared_with')}: "
                        f"{_pct(c['estimate'])} pts" if c["estimate"] is not None else c.get("note", "—"))
            interval, region = _ci(c["interval"], signed=True) + " pts", f"gain >= {-100 * RANK_MARGIN:.1f} pts"
        else:
            measured = f"Spearman rho {c['estimate']:+.2f} over {c['activations']}" if c["estimate"] is not None else "—"
            interval, region = _ci(c["interval"], 1.0, 2, signed=True), "rho > 0"
        lines.append(f"| {c['claim']} | {measured} | {interval} | {region} | **{c['status']}** |")
    lines += ["", "Ranking claims: an activation's gain is its test accuracy minus that of the best other activation "
              "of its layer (by main effect), paired by partner activation and seed; it holds when the whole 95 % "
              f"bootstrap interval lies above -{100 * RANK_MARGIN:.1f} points (20 of 10,000 test images: no other "
              "activation is clearly better), does not hold when it lies entirely below. Explanation claims: Spearman's "
              "rank correlation over a layer's activations between their mean sparsity (density) and their main "
              "effect; interval: percentile bootstrap over the (partner, seed) columns, 2,000 resamples.", ""]
    for layer, names in (("conv", convs), ("fc", fcs)):
        effects = document["main_effects"][layer]
        order = sorted(names, key=lambda n: effects[n]["rank"] or 99)
        partner = "FC" if layer == "conv" else "conv"
        lines += [f"## Main effect of the {layer.upper() if layer == 'fc' else 'conv'} activation "
                  f"(test accuracy %, mean over {partner} activations and seeds)", "",
                  f"| rank | activation | mean | 95 % CI | sd | min | max | median rank within each {partner} activation |",
                  "|---|---|---|---|---|---|---|---|"]
        for n in order:
            e = effects[n]
            median = e.get("median_rank_per_partner")
            lines.append(f"| {e['rank']} | {n} | {_pct(e['mean'])} | {_ci(e['ci95'])} | {_pct(e['sd'])} | "
                         f"{_pct(e['min'])} | {_pct(e['max'])} | {'—' if median is None else f'{median:g}'} |")
        lines.append("")
    lines += ["## Every cell (test accuracy %, mean over seeds [95 % bootstrap interval; with 2 seeds the range of "
              "the seeds])", "", "| conv \\ FC | " + " | ".join(fcs) + " |", "|---|" + "---|" * len(fcs)]
    cells = {(c["conv_activation"], c["fc_activation"]): c["test"] for c in document["cells"]}
    for conv in convs:
        lines.append(f"| **{conv}** | " + " | ".join(
            f"{_pct(cells[conv, fc]['mean'])} {_ci(cells[conv, fc]['ci95'])}" for fc in fcs) + " |")
    near = document["near_zero"]
    lines += ["", f"## Sparsity at the best epoch, on the test images (exactly 0 / |a| < {near:g}, % of activations)", "",
              "| conv activation | conv1 | conv2 | conv3 | accuracy (main effect) |", "|---|---|---|---|---|"]
    for conv in convs:
        s = document["sparsity"]["conv"][conv]
        lines.append(f"| {conv} | " + " | ".join(f"{_pct(s[f'{site}_zero'])} / {_pct(s[f'{site}_near'])}"
                                                  for site in CONV_SITES)
                     + f" | {_pct(document['main_effects']['conv'][conv]['mean'])} |")
    lines += ["", "| FC activation | fc | accuracy (main effect) |", "|---|---|---|"]
    for fc in fcs:
        s = document["sparsity"]["fc"][fc]
        lines.append(f"| {fc} | {_pct(s['fc_zero'])} / {_pct(s['fc_near'])} | "
                     f"{_pct(document['main_effects']['fc'][fc]['mean'])} |")
    lines += ["", "![cells](heatmap.png)", "", "![sparsity vs accuracy](sparsity.png)", "", "![claims](forest.png)", ""]
    return "\n".join(lines)


def plot_heatmap(document: dict, path: pathlib.Path) -> None:
    convs, fcs = document["conv_activations"], document["fc_activations"]
    cells = {(c["conv_activation"], c["fc_activation"]): c["test"]["mean"] for c in document["cells"]}
    values = np.array([[100 * cells[c, f] if cells[c, f] is not None else np.nan for f in fcs] for c in convs])
    fig, ax = reporting.figure(1.1 * len(fcs) + 3, 0.8 * len(convs) + 2)
    finite = values[np.isfinite(values)]
    low = np.percentile(finite, 10) if finite.size else 0  # a few failing cells would wash out the rest
    image = ax.imshow(values, cmap="viridis", vmin=low, vmax=finite.max() if finite.size else 1)
    for i in range(len(convs)):
        for j in range(len(fcs)):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if values[i, j] < (low + values[np.isfinite(values)].max()) / 2 else "black")
    ax.set_xticks(range(len(fcs)))
    ax.set_xticklabels(fcs, rotation=40, ha="right")
    ax.set_yticks(range(len(convs)))
    ax.set_yticklabels(convs)
    ax.set_xlabel("FC activation")
    ax.set_ylabel("conv activation")
    ax.set_title(f"test accuracy %, mean of {len(document['seeds'])} seeds, lr {document['settings']['learning_rate']:g}")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    reporting.save(fig, path)


def plot_sparsity(document: dict, path: pathlib.Path) -> None:
    """Per unit: conv exact-zero fraction vs accuracy (colour: conv activation) and FC density vs
    accuracy (colour: FC activation)."""
    fig, axes = reporting.figure(13, 5, ncols=2)
    for ax, layer, x_of, xlabel in (
            (axes[0], "conv_activation", lambda s: np.mean([s[site]["zero"] for site in CONV_SITES]),
             "conv1-3 activations exactly 0 (fraction)"),
            (axes[1], "fc_activation", lambda s: 1.0 - s["fc"]["near"],
             f"FC density: activations with |a| >= {document['near_zero']:g} (fraction)")):
        names = document[f"{layer.split('_')[0]}_activations"]
        for k, name in enumerate(names):
            units = [u for u in document["units"] if u[layer] == name and u["sparsity"] and np.isfinite(u["test"])]
            ax.scatter([x_of(u["sparsity"]) for u in units], [100 * u["test"] for u in units], s=14, color=f"C{k % 10}",
                       label=name, alpha=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        scores = [100 * u["test"] for u in document["units"] if np.isfinite(u["test"])]
        if scores:
            ax.set_ylim(max(min(scores), np.percentile(scores, 5) - 1), max(scores) + 0.2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title=layer.replace("_", " "), title_fontsize=8)
    claims = {c["measure"]: c for c in document["claims"] if "measure" in c}
    for ax, key in ((axes[0], "conv_zero"), (axes[1], "fc_density_near")):
        c = claims[key]
        rho = f"{c['estimate']:+.2f}" if c["estimate"] is not None else "—"
        ax.set_title(f"rho over activations {rho} {_ci(c['interval'], 1.0, 2, True)}: {c['status']}", fontsize=9)
    reporting.save(fig, path)


def forest_panels(document: dict) -> list[dict]:
    def row(c, scale):
        region = [b * scale for b in c["region"]]
        return {"label": c["claim"], "estimate": None if c["estimate"] is None else scale * c["estimate"],
                "interval": None if c["interval"] is None else [scale * v for v in c["interval"]],
                "region": region, "status": c["status"]}

    dataset = document["dataset"]
    return [{"title": f"{dataset}: ranking claims", "xlabel": "gain over the best other activation (accuracy points)",
             "rows": [row(c, 100.0) for c in document["claims"] if "layer" in c]},
            {"title": f"{dataset}: explanation claims", "xlabel": "Spearman rho (sparsity or density vs accuracy)",
             "xlim": (-1.05, 1.05),
             "rows": [row(c, 1.0) for c in document["claims"] if "measure" in c]}]


def write(out_dir: pathlib.Path, config: FactorialConfig, queue) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    document = collect(config, queue)
    reporting.write_json(out_dir / "results.json", document)
    (out_dir / "report.md").write_text(markdown(document))
    plot_heatmap(document, out_dir / "heatmap.png")
    plot_sparsity(document, out_dir / "sparsity.png")
    reporting.forest_plot(forest_panels(document), out_dir / "forest.png", "activation factorial", shared_rows=False)
    return {"document": document, "units": document["units_done"],
            "files": ["report.md", "results.json", "heatmap.png", "sparsity.png", "forest.png"]}
