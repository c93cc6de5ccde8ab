"""Activation reference: one PNG per activation (f and jax.grad f on [-6, 6]), an overview, the
sigmoid-vs-tanh derivatives, the logit/sigmoid inverse pair, the initializer-pairing experiment,
and activation_properties.md (document 001's table, computed and timed).

    python -m experiments.gallery --out_dir=runs/gallery
"""

import pathlib

import jax.numpy as jnp
import numpy as np
from absl import app, flags

from jaxact import activations
from jaxact.studies import gallery

_OUT = flags.DEFINE_string("out_dir", "runs/gallery", "Where the PNGs and the table go.")
_POINTS = flags.DEFINE_integer("points", 1201, "Grid points on [-6, 6].")
_ELEMENTS = flags.DEFINE_integer("cost_elements", 10_000_000, "Values per timing of each activation.")
_INIT = flags.DEFINE_bool("init_experiment", True, "Also run the 10-layer initializer-pairing experiment.")


def main(argv):
    del argv
    out = pathlib.Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(-6, 6, _POINTS.value)
    curves = {}
    for name in activations.REGISTRY:
        curves[name] = gallery.curve(name, grid)
        x, y, dy, shown = curves[name]
        gallery.plot_activation(name, x, y, dy, shown, activations.metadata(name).range,
                               gallery.notable_points(name), out / f"activation_{name}.png")
    gallery.plot_overview(curves, out / "overview.png")
    gallery.plot_pair(grid, [("sigmoid'(x)", curves["sigmoid"][2]), ("tanh'(x)", curves["tanh"][2])],
                     "derivatives: sigmoid' <= 0.25, tanh' <= 1 (document 004)", out / "sigmoid_vs_tanh_derivative.png")
    p = np.linspace(0.001, 0.999, _POINTS.value)
    gallery.plot_pair({"sigmoid(x)": grid, "logit(p)": p},
                     [("sigmoid(x)", np.asarray(activations.sigmoid(jnp.asarray(grid)))),
                      ("logit(p)", np.asarray(activations.logit(jnp.asarray(p))))],
                     "sigmoid and logit are inverses (document 004)", out / "logit_sigmoid_inverse.png", "x or p")
    if _INIT.value:
        spreads = {(a, i): gallery.activation_spread(a, i) for a in ("sigmoid", "tanh", "relu") for i in ("glorot", "he")}
        gallery.plot_init_spread(spreads, out / "init_pairing.png")
        for (a, i), values in spreads.items():
            print(f"{a:8s} {i:7s} std after layers 1/5/10: {values[0]:.3f} / {values[4]:.3f} / {values[-1]:.3f}")
    rows = gallery.property_rows(_ELEMENTS.value)
    (out / "activation_properties.md").write_text(gallery.property_markdown(rows, _ELEMENTS.value))
    print(f"wrote {len(list(out.glob('*.png')))} PNGs and activation_properties.md to {out}")


if __name__ == "__main__":
    app.run(main)
