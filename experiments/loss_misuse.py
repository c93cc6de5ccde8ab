"""Loss-function misuse (document 002), every variant x seed of a task in one compiled program.

    python -m experiments.loss_misuse --task=binary     # also multiclass, multilabel, all
"""

from absl import app

from experiments import _misuse_main

_misuse_main.define_flags("loss_misuse", default_task="binary")

if __name__ == "__main__":
    app.run(lambda argv: _misuse_main.main("loss_misuse"))
