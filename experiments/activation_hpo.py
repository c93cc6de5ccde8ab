"""Optuna search over conv activation, FC activation and learning rate (document 001).

    python -m experiments.activation_hpo                  # 120 trials, one worker per core, runs/activation_hpo/
    python -m experiments.activation_hpo --trials=6 --batch_trials=3 --train_size=200 --valid_size=100 \\
        --hpo_valid_size=200 --test_size=300 --max_epochs=2 --out_dir=/tmp/hpo   # smoke run
    python -m experiments.activation_hpo --storage=postgresql://user@dbhost/optuna   # on every machine sharing it

Killed? Run the same command again: the study resumes from its storage.
"""

import pathlib
import time

from absl import app

from experiments import _flags, _study_main
from jaxact import scheduler
from jaxact.studies.hpo import report, study

_flags.define(study.HPOConfig)


def _worker(index: int, config: study.HPOConfig, invocation: scheduler.Invocation, done_before: int) -> None:
    _study_main.quiet_logs()

    def on_trial(result, counts):
        p = result.params
        elapsed = time.time() - invocation.started
        remaining = max(config.trials - counts["done"], 0)
        print(f"[{counts['done']}/{config.trials}] trial {result.number} {p['conv_activation']} / {p['fc_activation']} / "
              f"lr {p['learning_rate']:.5f}: HPO-valid {100 * result.value:.2f} %, {result.attrs['epochs']} epochs | "
              f"worker {index} | elapsed {_study_main.minutes(elapsed)}, "
              f"{_study_main.eta(elapsed, counts['done'] - done_before, remaining)}", flush=True)

    study.work(config, on_trial, invocation)


def main(argv):
    del argv
    _study_main.quiet_logs()
    config = _flags.config_from_flags(study.HPOConfig)
    try:
        config.validate()
        per_device, placement = scheduler.default_workers()
        workers = config.workers or per_device
        db = study.open_study(config)
    except ValueError as error:
        _study_main.fail(error)
    done = db.counts()["done"]
    print(f"activation HPO: {done} of {config.trials} trials already done; batches of {config.resolved_batch()}, "
          f"{workers} worker(s) on {placement}, storage {config.resolved_storage()} -> {config.out_dir}", flush=True)
    wall, codes = _study_main.run_workers(db, _worker, config, done, config.trials - done, workers, placement)
    document = report.write(pathlib.Path(config.out_dir), config, db)
    best = document["best"]
    summary = (f"best trial {best['number']}: {best['params']}, HPO-valid {100 * best['value']:.2f} %, test "
               f"{100 * best['test']:.2f} %" if best else "no complete trial")
    print(f"done in {_study_main.minutes(wall)}{f' (worker exit codes {codes})' if any(codes) else ''}; {summary} -> "
          f"{config.out_dir}/report.md", flush=True)


if __name__ == "__main__":
    app.run(main)
