"""Output-activation misuse (document 000), every variant x seed of a task in one compiled program.

    python -m experiments.misuse --task=regression     # also probability, binary, multiclass, multilabel, all
"""

from absl import app

from experiments import _misuse_main

_misuse_main.define_flags("activation_misuse", default_task="regression")

if __name__ == "__main__":
    app.run(lambda argv: _misuse_main.main("activation_misuse"))
