"""optuna-dashboard (the `dashboard` extra) opens a finished study's journal as it is: started on a
free local port, its API lists the study and serves every unit with its record."""

import json
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from jaxact.studies import runner

pytest.importorskip("optuna_dashboard", reason="the dashboard extra: pip install '.[dashboard]'")


class ClosedFormTrainer:
    """Each unit's record in closed form: the value is x squared (nothing to train)."""

    def train(self, units):
        return [runner.UnitRecord(unit=u, value=float(u["x"] ** 2), best_valid=0.5, best_epoch=0, epochs=2,
                                  diverged=False, train_loss=[2.0, 1.0], valid_curve=[0.5, 0.4],
                                  evaluations={"test": float(u["x"] ** 2)}, seconds=0.01, compile_seconds=0.0,
                                  program={"id": "closed-form", "units": len(units)}) for u in units]


class SquaresStudy(runner.Study):
    name = "squares"

    def source(self, config):
        return runner.Grid([{"x": x} for x in range(5)])

    def trainer(self, config):
        return ClosedFormTrainer()

    def title(self, config):
        return "squares"

    def label(self, unit):
        return f"x={unit['x']}"

    def result_text(self, record):
        return f"{record.value:g}"

    def report(self, out_dir, config, queue):
        return {"document": {}, "files": ["study.journal"], "units": len(runner.records(queue))}


def _discard(line: str) -> None:
    """A picklable sink (the workers receive it): progress lines are not what this test checks."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, deadline: float):
    """The body of `url` once the server answers (it needs a moment to start)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_the_dashboard_serves_a_finished_studys_units(tmp_path):
    out = tmp_path / "squares"
    runner.run(SquaresStudy(), runner.RunConfig(out_dir=str(out), workers=1), _discard)
    journal = out / "study.journal"
    executable = pathlib.Path(sys.executable).parent / "optuna-dashboard"
    command = str(executable) if executable.exists() else shutil.which("optuna-dashboard")
    assert command, "optuna-dashboard is not installed beside this Python"
    port = _free_port()
    server = subprocess.Popen([command, str(journal), "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        base = f"http://127.0.0.1:{port}"
        studies = json.loads(_get(f"{base}/api/studies", deadline))["study_summaries"]
        assert [s["study_name"] for s in studies] == ["squares"]
        detail = json.loads(_get(f"{base}/api/studies/{studies[0]['study_id']}", deadline))
        complete = [t for t in detail["trials"] if t["state"] == "Complete"]
        units = sorted(json.loads(next(a["value"] for a in t["user_attrs"] if a["key"] == "unit"))["x"] for t in complete)
        assert units == [0, 1, 2, 3, 4]
        assert sorted(float(t["values"][0]) for t in complete) == [0.0, 1.0, 4.0, 9.0, 16.0]
        assert "<html" in _get(f"{base}/dashboard", deadline).lower()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
