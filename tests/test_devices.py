"""Many units in one program, on several devices: each unit gets the result it gets trained alone.

Several devices are forced on the CPU (`--xla_force_host_platform_device_count`), which must be
set before JAX starts: each test runs its check in a fresh process. Equality, as the engine states
it: one after another on a device (the CPU default) every unit's losses, valid metrics, epochs and
test metric are bit for bit its alone-in-a-program values; vmapped they are within float32
reassociation (losses 1e-4 relative, metrics 2 examples), with the same epochs."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _with_devices(count: int, code: str) -> str:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


ENGINE_CHECK = """
    import jax, numpy as np
    from jaxact import train, tasks
    from jaxact.combinations import Combination

    task = tasks.get_task("multiclass")
    rng = np.random.default_rng(0)
    pool = train.Dataset(rng.uniform(-1, 1, (1000, 28, 28, 1)).astype(np.float32), task.targets(rng.integers(0, 10, 1000)))
    # seven models: different combinations, seeds, learning rates and data samples
    heads = [("softmax", "cce", True), ("sigmoid", "cce", False), ("softmax", "cce", False), ("sigmoid", "bce", False),
             ("softmax", "mse", False), ("softmax", "cce", True), ("sigmoid", "cce", True)]
    models = [train.Model(Combination("multiclass", *h), seed, learning_rate=1e-3 * (1 + seed % 3))
              for seed, h in enumerate(heads)]
    samples = [train.Sample(np.arange(i * 140, i * 140 + 100), np.arange(i * 140 + 100, i * 140 + 140)) for i in range(7)]
    options = train.Options.covering(models)
    reports = []
    print(len(jax.local_devices()))
    for parallel in (1, None):
        config = train.EngineConfig("multiclass", options, max_epochs=3, patience=10, models_in_parallel=parallel)
        shared = train.Program(config).fit(models, pool, samples, {"test": pool}, on_epoch=reports.append)
        alone = train.Program(config, devices=jax.local_devices()[:1])
        worst = {"loss": 0.0, "metric": 0.0, "identical": True, "epochs": True}
        for i in range(len(models)):
            a = alone.fit(models[i:i + 1], pool, samples[i:i + 1], {"test": pool})
            worst["identical"] &= bool(np.array_equal(a.train_loss[0], shared.train_loss[i])
                                       and np.array_equal(a.valid_metric[0], shared.valid_metric[i])
                                       and a.evaluations["test"][0] == shared.evaluations["test"][i])
            worst["epochs"] &= bool(a.epochs[0] == shared.epochs[i])
            worst["loss"] = max(worst["loss"], float(np.max(np.abs(a.train_loss[0] - shared.train_loss[i]) / a.train_loss[0])))
            worst["metric"] = max(worst["metric"], float(np.max(np.abs(a.valid_metric[0] - shared.valid_metric[i]))))
        print(parallel, sorted(shared.device.tolist()), worst)
    # every model reported 3 epochs under its own index
    print(sorted((r.model, r.epoch) for r in reports[:21]) == [(m, e) for m in range(7) for e in range(3)])
"""


@pytest.mark.parametrize("devices", [2, 4])
def test_a_program_over_several_devices_gives_each_model_its_result_alone(devices):
    lines = _with_devices(devices, ENGINE_CHECK).strip().splitlines()
    assert int(lines[0]) == devices
    for line, parallel in zip(lines[1:3], ("1", "None")):
        kind, placed, worst = line.split(" ", 1)[0], eval(line.split(" ", 1)[1].split("] ")[0] + "]"), eval(line.split("] ")[1])
        assert kind == parallel
        assert sorted(set(placed)) == list(range(devices))  # every device trained models
        assert worst["epochs"]
        if parallel == "1":
            assert worst["identical"], worst  # one after another: bit for bit
        else:
            assert worst["loss"] <= 1e-4 and worst["metric"] <= 2 / 40, worst
    assert lines[3] == "True"


def test_the_misuse_study_shares_programs_across_seeds_on_every_device(tmp_path, mnist_dir):
    """The issue's command: units of different seeds in shared programs on all 4 devices, each
    unit's numbers equal to its one-unit-per-program run's in the same 4-device configuration
    (forcing host devices changes XLA's CPU setup: a pinned 1-device process sums some reductions
    in another order, so its regression numbers differ from these in the last bits)."""
    smoke = ["--task=regression", "--seeds=3", "--train_size=300", "--valid_size=200", "--test_size=500",
             "--max_epochs=2", "--workers=1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    for out, per_program in ((shared, 18), (alone, 1)):
        subprocess.run([sys.executable, "-m", "experiments.misuse", *smoke, f"--units_per_program={per_program}",
                        f"--out_dir={out}"], cwd=REPO, env=env, check=True, capture_output=True, timeout=900)

    def units(out):
        document = json.loads((out / "results.json").read_text())
        return {(v["name"], s["seed"]): s for v in document["variants"] for s in v["seeds"]}

    together, one_by_one = units(shared), units(alone)
    assert len(together) == 18
    programs = {s["program"]["id"] for s in together.values()}
    assert len(programs) == 1 and {s["program"]["units"] for s in together.values()} == {18}
    assert {s["program"]["devices"] for s in together.values()} == {4}
    assert {s["program"]["device"] for s in together.values()} == {0, 1, 2, 3}
    assert {s["seed"] for s in together.values()} == {0, 1, 2}
    assert {s["program"]["units"] for s in one_by_one.values()} == {1}
    for key, s in together.items():
        a = one_by_one[key]
        assert (s["test"], s["best_valid"], s["epochs"], s["train_loss"]) == (a["test"], a["best_valid"], a["epochs"],
                                                                            a["train_loss"]), key


def test_the_device_benchmark_runs_tiny_on_forced_devices(tmp_path, mnist_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO), "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    subprocess.run([sys.executable, "-m", "experiments.bench_device", "--tiny", f"--out={tmp_path}"], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=600)
    document = json.loads((tmp_path / "bench.json").read_text())
    assert document["devices"]["count"] == 2 and [r["models"] for r in document["throughput"]] == [1, 2]
    assert all(r["model_epochs_per_second"] > 0 for r in document["throughput"])
    table = document["table"]
    assert table["units"] == 12 and 0 <= table["early_stopping_cost"] < 1 and len(table["test"]) == 6
    assert "| 2 |" in (tmp_path / "bench.md").read_text()
