"""The dying ReLU head (document 000's regression, ReLU output on standardized labels) over many seeds.

    python -m experiments.dying_relu --out_dir=results/dying_relu     # 7 variants x 20 seeds, ~40 min on 2 cores
    python -m experiments.dying_relu --seeds=3 --train_size=300 --valid_size=200 --test_size=500 --max_epochs=3 \\
        --out_dir=/tmp/dying   # smoke run

Killed? Run the same command again: the study resumes from its journal.
"""

from experiments import _startup  # noqa: F401  (first: a signal while importing ends in one line)

from absl import app

from experiments import _study_main
from jaxact.studies.dying_relu import study

_study_main.define_flags(study.DyingReluConfig)

if __name__ == "__main__":
    app.run(lambda argv: _study_main.main(study.STUDY, study.DyingReluConfig))
