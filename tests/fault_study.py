"""A toy study for the fault suite, run as a command the way a user runs a real one:

    PYTHONPATH=tests:. python -m fault_study --out_dir=DIR --points=8 --seconds=1 --payload=2000

Each unit sleeps `--seconds` ("training") and stores `--payload` numbers (to fill a small disk).
It goes through the same runner, queue, storage and workers as the real studies."""

from experiments import _startup  # noqa: F401  (first: a signal while importing ends in one line)

import dataclasses
import json
import time

from jaxact.config import option
from jaxact.studies import runner


@dataclasses.dataclass(frozen=True)
class Config(runner.RunConfig):
    points: int = option(8, "Units.")
    seconds: float = option(0.5, "Seconds each unit 'trains'.")
    payload: int = option(10, "Numbers stored with each unit.")


class Trainer:
    def __init__(self, config: Config):
        self.config = config

    def train(self, units):
        out = []
        for unit in units:
            time.sleep(self.config.seconds)
            out.append(runner.UnitRecord(
                unit=unit, value=float(unit["x"]), best_valid=0.5, best_epoch=0, epochs=1, diverged=False,
                train_loss=[float(i) for i in range(self.config.payload)], valid_curve=[0.5],
                evaluations={"test": float(unit["x"])}, seconds=self.config.seconds, compile_seconds=0.0,
                program={"id": "toy", "units": len(units)}))
        return out


class FaultStudy(runner.Study):
    name = "faults"

    def source(self, config: Config):
        return runner.Grid([{"x": i} for i in range(config.points)])

    def trainer(self, config: Config):
        return Trainer(config)

    def title(self, config: Config):
        return f"faults: {config.points} points"

    def label(self, unit):
        return f"x={unit['x']}"

    def result_text(self, record):
        return f"value {record.value:.0f}"

    def report(self, out_dir, config, queue):
        records = runner.records(queue)
        document = {"study_name": config.resolved_study_name(self.name), "units": sorted(r.unit["x"] for r in records),
                    "seconds": queue.seconds()}
        (out_dir / "results.json").write_text(json.dumps(document))
        return {"document": document, "files": ["results.json"], "units": len(records)}


STUDY = FaultStudy()

if __name__ == "__main__":
    from absl import app

    from experiments import _study_main
    import fault_study  # the classes by their importable name, so that spawned workers unpickle them

    _study_main.define_flags(fault_study.Config)
    app.run(lambda argv: _study_main.main(fault_study.STUDY, fault_study.Config))
