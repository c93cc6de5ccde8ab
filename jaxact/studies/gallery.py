"""Activation reference data: curves and derivatives, the measured property table, and the
initializer-pairing experiment of document 004 (activation spread through 10 dense layers), and
their plots."""

from __future__ import annotations

import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxact import activations, reporting


def curve(name: str, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(x, f(x), f'(x) by jax.grad, what is plotted). Vector activations are shown as the first
    output of f([x, 0]) (softmax([x, 0])_0 = sigmoid(x)); logit on (0, 1)."""
    module = activations.get(name)
    if activations.spec(name).elementwise:
        lo, hi = activations.spec(name).domain
        x = np.linspace(lo + 0.001, hi - 0.001, len(grid)) if np.isfinite(lo) and np.isfinite(hi) else grid
        fn = lambda v: module(v)  # noqa: E731
        shown = f"{name}(x)"
    else:
        x = grid
        fn = lambda v: module(jnp.stack([v, jnp.zeros_like(v)]))[0]  # noqa: E731
        shown = f"{name}([x, 0])[0]"
    xs = jnp.asarray(x, jnp.float32)
    return x, np.asarray(jax.vmap(fn)(xs)), np.asarray(jax.vmap(jax.grad(fn))(xs)), shown


def notable_points(name: str) -> list[tuple[float, float, str]]:
    """Points the documents point at, computed: SiLU's minimum, sigmoid' max, ELU's asymptote."""
    if name in ("silu", "swish"):
        x = jnp.linspace(-4.0, 0.0, 400_001)
        i = int(jnp.argmin(activations.silu(x)))
        return [(float(x[i]), float(activations.silu(x[i])), f"min {float(activations.silu(x[i])):.3f} at x = {float(x[i]):.3f}")]
    if name == "sigmoid":
        return [(0.0, 0.5, "f'(0) = 0.25, the largest slope")]
    if name == "elu":
        return [(-6.0, float(activations.elu(jnp.float32(-6.0))), "-> -alpha = -1 as x -> -inf")]
    return []


def measure_cost(name: str, elements: int = 10_000_000, repeats: int = 5) -> float:
    """Median seconds per call of the jitted activation on `elements` float32 values."""
    module = activations.get(name)
    fn = jax.jit(lambda v: module(v.reshape(-1, 8)) if not activations.spec(name).elementwise else module(v))
    lo, hi = activations.spec(name).domain
    x = jax.random.uniform(jax.random.key(0), (elements,), minval=lo + 0.01, maxval=hi - 0.01) if np.isfinite(lo) \
        else jax.random.normal(jax.random.key(0), (elements,))
    jax.block_until_ready(fn(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(x))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def property_rows(elements: int = 10_000_000) -> list[dict]:
    """Document 001's table, measured: one row per activation of the registry."""
    relu = measure_cost("relu", elements)
    rows = []
    for name in activations.REGISTRY:
        meta = activations.metadata(name)
        rows.append({"name": name, "range": meta.range, "zero_centered": meta.zero_centered,
                     "mean_on_symmetric_input": meta.mean_on_symmetric_input,
                     "trainable_parameters": meta.trainable_parameters, "monotonic": meta.monotonic,
                     "smooth": meta.smooth, "cost_vs_relu": measure_cost(name, elements) / relu,
                     "initializer": meta.initializer})
    return rows


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✅" if value else "❌"
    return "−∞" if value == -np.inf else "+∞" if value == np.inf else f"{value:g}"


def property_markdown(rows: list[dict], elements: int) -> str:
    lines = ["# Activation properties (computed by jaxact.activations.metadata, cost measured)", "",
             f"Range: min/max over a wide grid (±∞ past ±1e3). Zero-centered: |E[f(x)]| < "
             f"{activations.ZERO_CENTERED_TOLERANCE} for x ~ N(0, 1). Smooth: f and f' continuous on a 1e-3 grid. "
             f"Cost: median time of the jitted function on {elements:,} float32 values, relative to ReLU, "
             f"on {jax.default_backend()}.", "",
             "| activation | range | zero-centered (mean) | trainable params | monotonic | smooth | cost vs ReLU | initializer |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["range"]
        lines.append(f"| {r['name']} | {_fmt(lo)} ~ {_fmt(hi)} | {_fmt(r['zero_centered'])} ({r['mean_on_symmetric_input']:.3f}) | "
                     f"{r['trainable_parameters']} | {_fmt(r['monotonic'])} | {_fmt(r['smooth'])} | "
                     f"{r['cost_vs_relu']:.2f}x | {r['initializer'] or '—'} |")
    return "\n".join(lines) + "\n"


def activation_spread(activation: str, initializer: str, layers: int = 10, width: int = 256,
                      batch: int = 1024, seed: int = 0) -> np.ndarray:
    """Std of the activations after each of `layers` dense layers (no bias) from N(0, 1) inputs.

    Glorot: W ~ N(0, 2 / (fan_in + fan_out)); He: W ~ N(0, 2 / fan_in) (document 004's pairing:
    sigmoid/tanh -> Glorot, ReLU -> He).
    """
    fn = activations.function(activation)
    keys = jax.random.split(jax.random.key(seed), layers + 1)
    x = jax.random.normal(keys[0], (batch, width))
    scale = np.sqrt(2.0 / (width + width)) if initializer == "glorot" else np.sqrt(2.0 / width)
    spreads = []
    for key in keys[1:]:
        x = fn(x @ (jax.random.normal(key, (width, width)) * scale))
        spreads.append(float(jnp.std(x)))
    return np.asarray(spreads)


# --- plots ---------------------------------------------------------------------------------------

def plot_activation(name: str, x, y, dy, shown: str, value_range, points, path: pathlib.Path) -> None:
    """One activation: f and f' (jax.grad), its range and the notable points annotated."""
    fig, ax = reporting.figure(6, 4)
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
    reporting.save(fig, path, dpi=100)


def _range_text(value) -> str:
    return "-inf" if value == -np.inf else "+inf" if value == np.inf else f"{value:g}"


def plot_overview(curves: dict, path: pathlib.Path) -> None:
    """All activations in one figure (document 001's comparison figure)."""
    names = list(curves)
    cols = 5
    rows = -(-len(names) // cols)
    fig, axes = reporting.figure(3.2 * cols, 2.6 * rows, ncols=cols, nrows=rows)
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
    reporting.save(fig, path, dpi=90)


def plot_pair(x, series: list[tuple[str, np.ndarray]], title: str, path: pathlib.Path, xlabel: str = "x") -> None:
    fig, ax = reporting.figure(6, 4)
    for i, (label, values) in enumerate(series):
        ax.plot(x if not isinstance(x, dict) else x[label], values, label=label, color=f"C{i}")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    reporting.save(fig, path, dpi=100)


def plot_init_spread(spreads: dict[tuple[str, str], np.ndarray], path: pathlib.Path) -> None:
    """Activation std per layer, one line per (activation, initializer)."""
    fig, ax = reporting.figure(7, 4.5)
    for i, ((activation, initializer), values) in enumerate(spreads.items()):
        ax.plot(np.arange(1, len(values) + 1), values, "-o" if initializer == "he" else "--s",
                label=f"{activation}, {initializer}", color=f"C{i // 2}", markersize=4)
    ax.set_yscale("log")
    ax.set_xlabel("dense layer")
    ax.set_ylabel("std of activations")
    ax.set_title("document 004: sigmoid/tanh pair with Glorot, ReLU with He")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    reporting.save(fig, path, dpi=100)
