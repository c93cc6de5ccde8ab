"""jaxact-advise --task=multilabel --final_activation=softmax --loss=softmax_cross_entropy

Prints the findings; exits 0 (ok), 1 (warning) or 2 (error)."""

import sys

from absl import app, flags

from jaxact import tasks
from jaxact.advisor import advise, exit_code
from jaxact.advisor.rules import LOSS_NAMES

# A string, not an enum: absl exits 1 on a bad enum, which would read as "warning".
_TASK = flags.DEFINE_string("task", None, f"The task: {', '.join(tasks.TASKS)}.", required=True)
_FINAL = flags.DEFINE_string("final_activation", "identity", "Output activation (identity / none, sigmoid, softmax, relu, ...).")
_LOSS = flags.DEFINE_string("loss", "mse", f"jaxact, optax or PyTorch loss name: {', '.join(LOSS_NAMES)}.")
_ON_LOGITS = flags.DEFINE_bool("loss_on_logits", False, "The loss is computed on the logits, not the activated output.")
_RESULTS = flags.DEFINE_string("results", None, "A misuse-study results.json or a directory of them "
                               "(default: runs/, then the measurements packaged with jaxact).")


def main(argv):
    del argv
    try:
        findings = advise(_TASK.value, _FINAL.value, _LOSS.value, loss_on_logits=_ON_LOGITS.value, results=_RESULTS.value)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{_TASK.value}: {_FINAL.value} + {_LOSS.value}{' (on logits)' if _ON_LOGITS.value else ''}")
    for f in findings:
        print(f"{f.severity:8s} [{f.rule}] {f.reason}")
        print(f"{'':8s} fix: {f.fix}")
    print(f"evidence: {findings[0].evidence}")
    return exit_code(findings)


def run():
    """Console script `jaxact-advise`. Its --help lists this module's flags and exits 0 (absl's lists
    the flags of the script's own module, none here, and exits 1: this CLI's "warning")."""
    if {"-h", "--help", "--helpshort"} & set(sys.argv[1:]):
        print(__doc__)
        print(flags.FLAGS.module_help(__name__))
        sys.exit(0)
    app.run(main)


if __name__ == "__main__":
    run()
