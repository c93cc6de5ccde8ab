"""Rewrites jaxact/advisor/evidence.json (what an installed advisor cites) from the committed results.

    python -m experiments.package_evidence --results=results
"""

import pathlib

from absl import app, flags

from jaxact.advisor import rules

_RESULTS = flags.DEFINE_string("results", "results", "Directory whose <study>/results.json files are the evidence.")


def main(argv):
    del argv
    path = rules.write_packaged_evidence(pathlib.Path(_RESULTS.value))
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
