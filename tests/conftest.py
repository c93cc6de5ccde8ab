"""Strict JAX promotion: a (B,) target broadcast against a (B, 1) prediction must fail, not
silently become a (B, B) loss."""

import os
import socket
import subprocess

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
# Strict *dtype* promotion is left at "standard": optax's adamw mixes its int32 step count with
# float32 inside its bias correction, which strict mode rejects.


@pytest.fixture(scope="session")
def mnist_dir():
    from jaxact import data

    return data.provision()


@pytest.fixture(scope="session")
def misuse_splits(mnist_dir):
    from jaxact import data

    return data.make_splits("misuse", seed=0)


@pytest.fixture
def dead_owner():
    """A unit owner ("host:pid") whose process has exited and been reaped."""

    def make() -> str:
        finished = subprocess.Popen(["true"])
        finished.wait()
        return f"{socket.gethostname()}:{finished.pid}"

    return make


def pytest_collection_modifyitems(items):
    """Two tiers: tests that need the real datasets (the `mnist_dir` fixture, directly or through
    another) are marked `data`; the rest run on synthetic data in seconds (`make test-fast`)."""
    for item in items:
        if "mnist_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)
