"""Document 003's logistic regression on a generated binary.csv, compiled: 10,000 epochs as one
lax.scan, the cost printed every 1,000 epochs as the document does; then the same model with
standardized inputs and Adam.

    python -m experiments.logistic --out_dir=runs/logistic
"""

import json
import pathlib
import time

from absl import app, flags

from jaxact.studies import logistic

_OUT = flags.DEFINE_string("out_dir", "runs/logistic", "Where binary.csv, report.md and results.json go.")
_ROWS = flags.DEFINE_integer("rows", 1_000, "Generated rows.")
_EPOCHS = flags.DEFINE_integer("epochs", 10_000, "Epochs per recipe.")
_SEED = flags.DEFINE_integer("seed", 0, "Data generation and initialization seed.")


def main(argv):
    del argv
    out = pathlib.Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    features, labels = logistic.generate(_ROWS.value, _SEED.value)
    logistic.write_csv(out / "binary.csv", features, labels)
    features, labels = logistic.read_csv(out / "binary.csv")
    train_set, valid_set, test_set = logistic.split(features, labels)
    print(f"binary.csv: {len(labels)} rows (x, y, z ~ U(0, 100); pass rate {labels.mean():.1%}); "
          f"train {len(train_set[1])} / valid {len(valid_set[1])} / test {len(test_set[1])}")
    results = []
    for recipe in (logistic.DOCUMENT, logistic.FIXED):
        print(recipe.name)
        start = time.perf_counter()
        params, costs, stats = logistic.train(recipe, train_set, epochs=_EPOCHS.value, seed=_SEED.value,
                                              on_report=lambda e, c: print(f"Epoch : {int(e):5d}, Cost : {float(c):.3f}", flush=True))
        seconds = time.perf_counter() - start
        results.append({"recipe": recipe.name, "seconds": seconds, "first_cost": float(costs[0]),
                        "final_cost": float(costs[-1]), "valid_accuracy": logistic.accuracy(recipe, params, stats, valid_set),
                        "test_accuracy": logistic.accuracy(recipe, params, stats, test_set),
                        "cost_every_1000": [float(c) for c in costs[999::1000]]})
        print(f"  test accuracy {100 * results[-1]['test_accuracy']:.1f} % ({seconds:.1f} s for {_EPOCHS.value} epochs)")
    (out / "report.md").write_text(logistic.markdown(results, len(labels), float(labels.mean()), _EPOCHS.value))
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {out}/report.md")


if __name__ == "__main__":
    app.run(main)
