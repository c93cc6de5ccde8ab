"""Document 003's logistic regression: one dense layer 3 -> 1, sigmoid, BCE, SGD lr 1e-4.

The book's `binary.csv` is not public, so the data are generated with its documented rule:
x, y, z ~ U(0, 100) (seeded), label = 1 iff x, y, z are all >= 40 and their mean is >= 60.
Split 80/10/10 (seeded permutation); batches of 64 with the last partial batch dropped (the
document's DataLoader); 10,000 epochs compiled as ONE `lax.scan` over epochs (each a scan over
batches). Then the same model with standardized inputs and Adam: what a reader should do.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxact import losses

LOW, HIGH = 0.0, 100.0


def rule(features: np.ndarray) -> np.ndarray:
    """1.0 where x, y, z are all >= 40 and their mean is >= 60 (document 003)."""
    return ((features >= 40).all(axis=1) & (features.mean(axis=1) >= 60)).astype(np.float32)


def generate(rows: int = 1_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    features = np.random.default_rng(seed).uniform(LOW, HIGH, size=(rows, 3)).astype(np.float32)
    return features, rule(features)


def write_csv(path: pathlib.Path, features: np.ndarray, labels: np.ndarray) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y", "z", "pass"])
        for (x, y, z), label in zip(features, labels):
            writer.writerow([f"{x:.4f}", f"{y:.4f}", f"{z:.4f}", int(label)])


def read_csv(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    return table[:, :3], table[:, 3]


def split(features, labels, seed: int = 4):
    """80 / 10 / 10, as the document's random_split (seeded permutation)."""
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_valid = int(n * 0.8), int(n * 0.1)
    parts = np.split(order, [n_train, n_train + n_valid])
    return [(features[p], labels[p]) for p in parts]


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    optimizer: str  # "sgd" or "adam"
    learning_rate: float
    standardize: bool


DOCUMENT = Recipe("document 003: raw inputs, SGD lr 1e-4", "sgd", 1e-4, False)
FIXED = Recipe("standardized inputs, Adam lr 1e-2", "adam", 1e-2, True)


def init(key) -> dict:
    """PyTorch's nn.Linear(3, 1) default: weight and bias ~ U(-1/sqrt(3), 1/sqrt(3))."""
    w_key, b_key = jax.random.split(key)
    bound = 1 / math.sqrt(3)
    return {"w": jax.random.uniform(w_key, (3, 1), minval=-bound, maxval=bound),
            "b": jax.random.uniform(b_key, (1,), minval=-bound, maxval=bound)}


def predict(params, features):
    return jax.nn.sigmoid(features @ params["w"] + params["b"].reshape(1, 1))


def train(recipe: Recipe, train_set, epochs: int = 10_000, batch_size: int = 64, seed: int = 0,
          report_every: int = 1_000, on_report: Callable[[int, float], None] | None = None):
    """The whole run compiled: returns (params, per-epoch mean cost, standardization stats)."""
    features, labels = (jnp.asarray(a) for a in train_set)
    mean, std = features.mean(0, keepdims=True), features.std(0, keepdims=True)
    if recipe.standardize:
        features = (features - mean) / std
    labels = labels.reshape(-1, 1)
    steps = len(labels) // batch_size  # drop_last=True
    tx = optax.sgd(recipe.learning_rate) if recipe.optimizer == "sgd" else optax.adam(recipe.learning_rate)
    init_key, shuffle_key = jax.random.split(jax.random.key(seed))
    params = init(init_key)

    def loss_fn(params, x, y):
        return jnp.mean(losses.bce(predict(params, x), y))

    def epoch(carry, epoch_index):
        params, opt_state = carry
        order = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch_index), len(labels))[: steps * batch_size]

        def step(carry, index):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, features[index], labels[index])
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), batch_losses = jax.lax.scan(step, (params, opt_state), order.reshape(steps, batch_size))
        cost = jnp.mean(batch_losses)  # the document's cost: mean of the batch losses
        if on_report is not None:
            jax.lax.cond((epoch_index + 1) % report_every == 0,
                         lambda: jax.debug.callback(on_report, epoch_index + 1, cost), lambda: None)
        return (params, opt_state), cost

    run = jax.jit(lambda params: jax.lax.scan(epoch, (params, tx.init(params)), jnp.arange(epochs)))
    (params, _), costs = run(params)
    return params, np.asarray(costs), (mean, std)


def accuracy(recipe: Recipe, params, stats, data) -> float:
    features, labels = data
    features = jnp.asarray(features)
    if recipe.standardize:
        features = (features - stats[0]) / stats[1]
    predicted = np.asarray(predict(params, features))[:, 0] >= 0.5
    return float(np.mean(predicted == (np.asarray(labels) >= 0.5)))


def markdown(results: list[dict], rows: int, pass_rate: float, epochs: int) -> str:
    """The report of both recipes (entries as experiments.logistic writes them to results.json)."""
    lines = ["# Document 003: logistic regression on binary.csv (generated with the documented rule)", "",
             f"{rows} rows, x, y, z ~ U(0, 100), label = all >= 40 and mean >= 60 (pass rate {pass_rate:.1%}); "
             f"split 80/10/10; batch 64 (last partial dropped); {epochs} epochs compiled as one lax.scan.", "",
             "| recipe | cost epoch 1 | final cost | valid accuracy | test accuracy (held-out 10 %) | wall time |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['recipe']} | {r['first_cost']:.3f} | {r['final_cost']:.3f} | {100 * r['valid_accuracy']:.1f} % | "
                     f"{100 * r['test_accuracy']:.1f} % | {r['seconds']:.1f} s |")
    lines += ["", "The document's run (raw inputs, SGD 1e-4) printed costs 0.680 -> 0.576 over 10,000 epochs: with inputs "
              "in the tens, the sigmoid saturates and a tiny learning rate crawls. Standardized inputs and Adam fix both.", ""]
    return "\n".join(lines)
