"""Optuna search over conv activation, FC activation and learning rate (document 001).

    python -m experiments.activation_hpo                  # 120 trials, sqlite:///runs/hpo/study.db
    python -m experiments.activation_hpo --trials=6 --batch_trials=3 --train_size=300 ...   # smoke run

Killed? Run the same command again: the study resumes from its storage.
"""

import pathlib
import sys
import time

from absl import app, flags

from jaxact import report
from jaxact.studies import hpo

_TRIALS = flags.DEFINE_integer("trials", 120, "Complete trials to reach.")
_BATCH = flags.DEFINE_integer("batch_trials", None, "Trials asked at once and trained in one program (default: 4 on CPU, 16 on GPU).")
_STORAGE = flags.DEFINE_string("storage", "sqlite:///runs/hpo/study.db", "Optuna storage URL (any SQLAlchemy URL).")
_NAME = flags.DEFINE_string("study_name", "activation_hpo", "Optuna study name.")
_OUT = flags.DEFINE_string("out_dir", None, "Output directory (default runs/activation_hpo/<study_name>/).")
_SEED = flags.DEFINE_integer("seed", 0, "Sampler seed, data split seed, and base of the trial seeds.")
_MAX_EPOCHS = flags.DEFINE_integer("max_epochs", 100, "Epoch cap per trial.")
_PATIENCE = flags.DEFINE_integer("patience", 5, "Early-stopping patience.")
_TRAIN = flags.DEFINE_integer("train_size", 3_000, "Training images.")
_VALID = flags.DEFINE_integer("valid_size", 2_000, "Per-epoch validation images.")
_HPO_VALID = flags.DEFINE_integer("hpo_valid_size", 5_000, "HPO-valid images (the objective).")
_TEST = flags.DEFINE_integer("test_size", None, "Test images (default all 10,000).")
_PARALLEL = flags.DEFINE_integer("models_in_parallel", None, "Trials of a batch vmapped together (default: 1 on CPU, "
                                 "i.e. one after another in the same program; the whole batch on GPU).")
_ON_LOGITS = flags.DEFINE_bool("loss_on_logits", False, "Cross-entropy on logits instead of the documents' double softmax.")


def main(argv):
    del argv
    try:
        config = hpo.HPOConfig(
            trials=_TRIALS.value, batch_trials=_BATCH.value, storage=_STORAGE.value, study_name=_NAME.value,
            seed=_SEED.value, max_epochs=_MAX_EPOCHS.value, patience=_PATIENCE.value, train_size=_TRAIN.value,
            valid_size=_VALID.value, hpo_valid_size=_HPO_VALID.value, test_size=_TEST.value,
            loss_on_logits=_ON_LOGITS.value, models_in_parallel=_PARALLEL.value)
    except ValueError as error:
        sys.exit(f"error: {error}")
    if config.storage.startswith("sqlite:///"):
        pathlib.Path(config.storage[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    out_dir = pathlib.Path(_OUT.value or f"runs/activation_hpo/{config.study_name}")
    print(f"activation HPO: {config.trials} trials in batches of {config.resolved_batch()}, storage {config.storage}, "
          f"study {config.study_name} -> {out_dir}", flush=True)
    start = time.perf_counter()
    try:
        study = hpo.run(config, lambda p: print(report.format_hpo_progress(p), flush=True))
    except ValueError as error:
        sys.exit(f"error: {error}")
    seconds = time.perf_counter() - start
    document = report.write_hpo(out_dir, study, config, seconds)
    best = document["best"]
    print(f"done in {seconds / 60:.1f} min; best trial {best['number']}: {best['params']}, HPO-valid "
          f"{100 * best['value']:.2f} %, test {100 * best['test']:.2f} % -> {out_dir}/report.md", flush=True)


if __name__ == "__main__":
    app.run(main)
