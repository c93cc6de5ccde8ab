"""`import jaxact` (and the advisor) loads what `check` and `advise` need, not the studies' stack:
`pip install jaxact` without extras must be enough for them."""

import json
import subprocess
import sys

HEAVY = ("tensorflow_datasets", "optuna", "matplotlib", "sqlalchemy", "scipy", "sklearn", "jaxact.studies",
         "jaxact.data", "jaxact.reporting", "equinox")


def test_import_jaxact_loads_no_study_dependency():
    code = ("import json, sys; import jaxact; import jaxact.advisor; "
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = json.loads(done.stdout)
    loaded = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == [], loaded
    assert "jaxact.advisor.checker" in modules and "jax" in modules


def test_a_study_worker_loads_neither_scipy_nor_matplotlib():
    """A worker formats its progress lines with jaxact.reporting; the report's dependencies (~1.5 s
    to import) load only in the command that writes the report."""
    code = ("import json, sys; from jaxact.studies.misuse import study; from jaxact.studies import runner; "
            "record = runner.UnitRecord({'task': 'multiclass', 'final_activation': 'softmax', 'loss': 'cce', "
            "'on_logits': False, 'label_transform': 'none', 'seed': 0}, 0.9, 0.9, 1, 2, False, [1.0], [0.9], "
            "{'test': 0.9}, 1.0, 0.0, {}); "
            "print(study.ACTIVATION_MISUSE.result_text(record)); print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    text, modules = done.stdout.splitlines()[-2], json.loads(done.stdout.splitlines()[-1])
    assert text == "test 90.00 %"
    assert [m for m in modules if m.split(".")[0] in ("scipy", "matplotlib")] == []
