"""Optuna search over conv activation, FC activation and learning rate (document 001).

    python -m experiments.activation_hpo                  # 120 trials, one worker per core, runs/activation_hpo/
    python -m experiments.activation_hpo --trials=6 --train_size=200 --valid_size=100 \\
        --hpo_valid_size=200 --test_size=300 --max_epochs=2 --out_dir=/tmp/hpo   # smoke run
    python -m experiments.activation_hpo --storage=postgresql://user@dbhost/optuna   # on every machine sharing it

Killed? Run the same command again: the study resumes from its storage.
"""

from experiments import _startup  # noqa: F401  (first: a signal while importing ends in one line)

from absl import app

from experiments import _study_main
from jaxact.studies.hpo import study

_study_main.define_flags(study.HPOConfig)

if __name__ == "__main__":
    app.run(lambda argv: _study_main.main(study.STUDY, study.HPOConfig))
