"""The installable package: a wheel built from the checkout carries every module, the packaged
evidence and the `jaxact-advise` script, and works outside the checkout; without extras it
requires only what the checker and the advisor import."""

import email
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel installed into a directory of its own (dependencies: this environment's)."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # a copy, so that setuptools' build/ and egg-info stay out of the checkout
    shutil.copytree(ROOT / "jaxact", source / "jaxact", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("jaxact-*.whl")
    site = out / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return site


def _run(site, *args):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=site.parent, timeout=300)


def test_installed_package_imports_and_checks(installed):
    done = _run(installed, sys.executable, "-c", "import jaxact; print(jaxact.__file__, jaxact.check, jaxact.checked)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(str(installed))  # not the checkout
    assert (installed / "jaxact" / "advisor" / "evidence.json").is_file()


CORE = {"jax", "jaxlib", "flax", "optax", "numpy", "absl-py"}
STUDIES = {"tensorflow-datasets", "array-record", "importlib-resources", "matplotlib", "scipy", "scikit-learn", "optuna",
           "sqlalchemy"}


def _requirements(site) -> list[str]:
    (metadata,) = site.glob("jaxact-*.dist-info/METADATA")
    return email.message_from_string(metadata.read_text()).get_all("Requires-Dist")


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower().replace("_", "-")


def test_no_extras_requires_only_what_the_checker_imports(installed):
    requirements = _requirements(installed)
    core = {_name(r) for r in requirements if "extra ==" not in r}
    assert core == CORE, core
    studies = {_name(r) for r in requirements if 'extra == "studies"' in r}
    assert studies == STUDIES, studies


def test_installed_package_checks_an_equinox_step(installed):
    code = """
import equinox as eqx, jax, optax, numpy as np
import jaxact
model = eqx.nn.MLP(8, 10, 16, 1, activation=jax.nn.relu, key=jax.random.key(0))
@eqx.filter_jit
def step(model, x, y):
    loss = lambda m: optax.softmax_cross_entropy(jax.nn.softmax(jax.vmap(m)(x)), y).mean()
    return eqx.apply_updates(model, jax.tree.map(lambda g: -0.1 * g, eqx.filter_grad(loss)(model)))
findings = jaxact.check(step, model, np.ones((4, 8), np.float32), np.eye(10, dtype=np.float32)[:4])
print(jaxact.__file__, [f.rule for f in findings])
"""
    done = _run(installed, sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(str(installed)) and "['double-softmax']" in done.stdout, done.stdout


def test_console_script(installed):
    script = installed / "bin" / "jaxact-advise"
    helped = _run(installed, str(script), "--help")
    assert helped.returncode == 0 and "--final_activation" in helped.stdout and "softmax_cross_entropy" in helped.stdout
    done = _run(installed, str(script), "--task=multiclass", "--final_activation=sigmoid",
                "--loss=sigmoid_binary_cross_entropy", "--loss_on_logits")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "[sigmoid-exclusive-classes]" in done.stdout
    assert "measured on multiclass" in done.stdout  # the packaged evidence, without results/ beside it


def test_readme_example_runs_and_finds_both_mistakes():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "check_train_step.py")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning [double-softmax] at check_train_step.py:25" in done.stdout
    assert "error [softmax-multilabel] at check_train_step.py:43" in done.stdout
    readme = (ROOT / "README.md").read_text()
    assert "warning [double-softmax] at check_train_step.py:25" in readme


def test_readme_equinox_example_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "check_equinox_step.py")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    line = "warning [sigmoid-into-softmax-loss] at check_equinox_step.py:38 (train_step.<locals>.loss_fn)"
    assert done.stdout.strip() == line
    assert line in (ROOT / "README.md").read_text()
