"""The one runner: a toy study added the way README "Extending jaxact" says (a source of units, a
trainer, a report) runs, resumes and reports through the same code as the real studies."""

import dataclasses
import json
import math
import pathlib

import pytest

from jaxact.config import option
from jaxact.studies import runner


@dataclasses.dataclass(frozen=True)
class ToyConfig(runner.RunConfig):
    points: int = option(6, "Units of the toy grid.")


class ToyTrainer:
    """'Trains' a unit in closed form: the value is a function of its point, the curve its powers."""

    def train(self, units):
        return [runner.UnitRecord(unit=u, value=math.sin(u["x"]), best_valid=math.cos(u["x"]), best_epoch=1, epochs=3,
                                  diverged=False, train_loss=[3.0, 2.0, 1.0], valid_curve=[0.1, 0.3, 0.2],
                                  evaluations={"test": math.sin(u["x"])}, seconds=0.01, compile_seconds=0.0,
                                  program={"id": "toy", "units": len(units)}) for u in units]


class ToyStudy(runner.Study):
    name = "toy"

    def source(self, config):
        return runner.Grid([{"x": i} for i in range(config.points)])

    def trainer(self, config):
        return ToyTrainer()

    def title(self, config):
        return f"toy: {config.points} points"

    def label(self, unit):
        return f"x={unit['x']}"

    def result_text(self, record):
        return f"value {record.value:.3f}"

    def report(self, out_dir, config, queue):
        records = runner.records(queue)
        document = {"values": {r.unit["x"]: r.value for r in records}, "seconds": queue.seconds()}
        (out_dir / "toy.json").write_text(json.dumps(document))
        return {"document": document, "files": ["toy.json"], "units": len(records)}


class FileSink:
    """A picklable sink: the workers' progress lines, appended to a file."""

    def __init__(self, path):
        self.path = str(path)

    def __call__(self, line):
        with open(self.path, "a") as f:
            f.write(line + "\n")


def test_a_toy_study_runs_on_two_workers_and_a_rerun_trains_nothing(tmp_path):
    config = ToyConfig(out_dir=str(tmp_path / "out"), workers=2)
    sink = FileSink(tmp_path / "lines")
    document = runner.run(ToyStudy(), config, sink)
    assert document["values"] == {i: pytest.approx(math.sin(i)) for i in range(6)}
    lines = pathlib.Path(sink.path).read_text().splitlines()
    assert lines[0] == f"toy: 6 points = 6 units; 0 of 6 already done, 2 worker(s) on cpu -> {tmp_path / 'out'}"
    assert sorted(line.split("]")[0] for line in lines[1:-1]) == sorted(f"[{i}/6" for i in range(1, 7))
    assert lines[-1].startswith("done in") and lines[-1].endswith(f"{tmp_path / 'out'}/toy.json")
    assert (tmp_path / "out" / "study.journal").exists() and (tmp_path / "out" / "worker-1.log").exists()
    (invocation,) = document["seconds"]["invocations"]
    assert 0 <= invocation["idle_at_end"] <= 2 * invocation["wall"]
    again = runner.run(ToyStudy(), config, sink)
    assert again["seconds"] == document["seconds"]  # nothing trained, no invocation recorded
    assert pathlib.Path(sink.path).read_text().splitlines()[-2].endswith("6 of 6 already done, 2 worker(s) on cpu -> "
                                                                         f"{tmp_path / 'out'}")


def test_every_record_field_round_trips_through_the_storage(tmp_path):
    queue = ToyStudy().open(ToyConfig(out_dir=str(tmp_path)))
    ToyStudy().source(ToyConfig()).prepare(queue)
    (claimed,) = queue.claim(1)
    (record,) = ToyTrainer().train([claimed.user_attrs["unit"]])
    queue.finish(claimed, record.value, record.attrs(), record.valid_curve)
    (read,) = runner.records(queue)
    assert read == record


def test_bad_common_input_fails_before_anything_is_written(tmp_path):
    for config, message in [
        (ToyConfig(out_dir=str(tmp_path / "a"), max_epochs=0), "--max_epochs must be at least 1, got 0"),
        (ToyConfig(out_dir=str(tmp_path / "a"), test_size=10_001), "--test_size must be at most 10,000"),
        (ToyConfig(out_dir=str(tmp_path / "a"), dataset="cifar"), "unknown dataset 'cifar'"),
        (ToyConfig(out_dir=str(tmp_path / "a"), matmul_dtype="fp8"), "--matmul_dtype: unknown matmul_dtype 'fp8'"),
    ]:
        with pytest.raises(ValueError, match=message):
            runner.run(ToyStudy(), config, print)
    assert not (tmp_path / "a").exists()


def test_idle_at_end_sums_each_workers_wait_for_the_last_unit():
    import datetime

    import optuna

    from jaxact.studies import queue as queue_module

    def unit(owner, finished_at):
        trial = optuna.trial.create_trial(value=0.0, user_attrs={"owner": owner})
        trial.datetime_start = datetime.datetime.fromtimestamp(finished_at - 5)
        trial.datetime_complete = datetime.datetime.fromtimestamp(finished_at)
        return trial

    trials = [unit("vm:1", 1_000_050), unit("vm:1", 1_000_100), unit("vm:2", 1_000_090),
              unit("other:7", 1_000_000), unit("vm:3", 1_000_200)]  # another machine; after the invocation
    invocation = {"started": 1_000_000.0, "wall": 105.0, "workers": 2, "host": "vm"}
    assert queue_module.idle_at_end(invocation, trials) == pytest.approx(10.0)
    # a third worker that finished nothing waited from the start
    assert queue_module.idle_at_end({**invocation, "workers": 3}, trials) == pytest.approx(110.0)
    assert queue_module.idle_at_end({"started": 0.0, "wall": 1.0, "workers": 2}, trials) is None  # an old record
