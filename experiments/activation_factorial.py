"""Conv activation x FC activation, every pair of document 001's 8 x 8, over seeds at one learning rate.

    python -m experiments.activation_factorial --out_dir=results/activation_factorial   # 64 cells x 2 seeds, 53 min on 2 cores
    python -m experiments.activation_factorial --conv_activations=relu,tanh --fc_activations=sigmoid,relu \\
        --train_size=300 --valid_size=200 --test_size=500 --max_epochs=2 --out_dir=/tmp/factorial   # smoke run

Killed? Run the same command again: the study resumes from its journal.
"""

from experiments import _startup  # noqa: F401  (first: a signal while importing ends in one line)

from absl import app

from experiments import _study_main
from jaxact.studies.factorial import study

_study_main.define_flags(study.FactorialConfig)

if __name__ == "__main__":
    app.run(lambda argv: _study_main.main(study.STUDY, study.FactorialConfig))
