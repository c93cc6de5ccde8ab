"""Document 000's "new dataset" warning, tested: one misuse study's claims on several datasets.

    python -m experiments.misuse --task=all                       # MNIST
    python -m experiments.misuse --task=all --dataset=digits --seeds=10
    python -m experiments.compare_datasets --results=runs/activation_misuse/all,runs/activation_misuse/digits-all \\
        --out_dir=runs/activation_misuse/compare

Writes comparison.md, comparison.json and forest.png (every claim's interval against its boundary, per dataset).
"""

import json
import pathlib

from absl import app, flags

from experiments import _study_main
from jaxact import reporting
from jaxact.studies.misuse import report

_RESULTS = flags.DEFINE_list("results", None, "Directories (or files) of results.json of one study on different "
                             "datasets.", required=True)
_OUT = flags.DEFINE_string("out_dir", None, "Where comparison.md and comparison.json go.", required=True)


def main(argv):
    del argv
    documents = []
    try:
        for given in _RESULTS.value:
            path = pathlib.Path(given)
            path = path / "results.json" if path.is_dir() else path
            if not path.is_file():
                raise ValueError(f"no results.json at {str(path)!r}: run the study first")
            documents.append(json.loads(path.read_text()))
        comparison = report.compare(documents)
    except ValueError as error:
        _study_main.fail(error)
    out = pathlib.Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    reporting.write_json(out / "comparison.json", comparison)
    (out / "comparison.md").write_text(report.compare_markdown(comparison))
    reporting.misuse_forest(documents, out / "forest.png")
    print(f"{len(comparison['rows'])} claims on {', '.join(comparison['datasets'])}; "
          f"{len(comparison['changed'])} change verdict -> {out}/comparison.md, forest.png")


if __name__ == "__main__":
    app.run(main)
