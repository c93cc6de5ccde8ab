"""Strict JAX promotion: a (B,) target broadcast against a (B, 1) prediction must fail, not
silently become a (B, B) loss."""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile

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


PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")


class Postgres:
    """A real PostgreSQL 15 server on 127.0.0.1 in a temp dir, which a test may stop and start."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="jaxact-pg-"))
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._pg("initdb", "-D", str(self.dir / "db"), "-A", "trust", "-U", "postgres")
        self.start()

    def _pg(self, program, *args):
        subprocess.run([*self.as_postgres, str(PG_BIN / program), *args], check=True, capture_output=True, timeout=120)

    def start(self):
        self._pg("pg_ctl", "-D", str(self.dir / "db"), "-l", str(self.dir / "log"), "-o",
                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "-w", "start")

    def stop(self, mode="fast"):
        self._pg("pg_ctl", "-D", str(self.dir / "db"), "-m", mode, "-w", "stop")

    def remove(self):
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """The server, shared by the session's tests. Skipped where its programs are absent; .ci/run sets
    JAXACT_REQUIRE_POSTGRES=1 to make that a failure."""
    if not (PG_BIN / "initdb").exists():
        reason = f"PostgreSQL server programs not found in {PG_BIN} (Debian's postgresql-15)"
        if os.environ.get("JAXACT_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("psycopg")
    server = Postgres()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres):
    return postgres.url
