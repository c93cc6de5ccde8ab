"""Output-activation misuse (document 000): every variant x seed of a task, trained by one worker per core.

    python -m experiments.misuse --task=regression     # also probability, binary, multiclass, multilabel, all
    python -m experiments.misuse --task=regression --seeds=2 --train_size=300 --valid_size=200 --test_size=500 --max_epochs=2   # smoke

Killed? Run the same command again: finished units are kept, the others are trained.
"""

from experiments import _startup  # noqa: F401  (first: a signal while importing ends in one line)

from absl import app

from experiments import _study_main
from jaxact.studies.misuse import study

_study_main.define_flags(study.StudyConfig, study.StudyConfig(task="regression"))

if __name__ == "__main__":
    app.run(lambda argv: _study_main.main(study.ACTIVATION_MISUSE, study.StudyConfig))
