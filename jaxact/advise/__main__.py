"""python -m jaxact.advise --task=multilabel --final_activation=softmax --loss=cce

Prints the findings as a table; exits 0 (ok), 1 (warning) or 2 (error)."""

import sys

from absl import app, flags

from jaxact.advise import LOSSES, advise, exit_code

_TASK = flags.DEFINE_string("task", None, "regression, probability, binary, multiclass or multilabel.", required=True)
_FINAL = flags.DEFINE_string("final_activation", "identity", "Output activation (identity / none, sigmoid, softmax, relu, ...).")
_LOSS = flags.DEFINE_string("loss", "mse", f"One of {', '.join(LOSSES)}.")
_ON_LOGITS = flags.DEFINE_bool("loss_on_logits", False, "The loss is computed on the logits, not the activated output.")
_RESULTS = flags.DEFINE_string("results", None, "A misuse-study results.json or a directory of them (default runs/).")


def main(argv):
    del argv
    try:
        findings = advise(_TASK.value, _FINAL.value, _LOSS.value, loss_on_logits=_ON_LOGITS.value, results=_RESULTS.value)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{_TASK.value}: {_FINAL.value} + {_LOSS.value}{' (on logits)' if _ON_LOGITS.value else ''}")
    print(f"{'severity':8s}  reason")
    for f in findings:
        print(f"{f.severity:8s}  {f.reason}")
    print(f"recommended: {findings[0].recommended}")
    print(f"evidence:    {findings[0].evidence}")
    return exit_code(findings)


if __name__ == "__main__":
    app.run(main)
