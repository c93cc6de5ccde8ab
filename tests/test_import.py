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
