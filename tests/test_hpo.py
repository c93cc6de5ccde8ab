"""The activation HPO: search space, batched resumable runs, per-model activation selection."""

import dataclasses
import json
import os
import socket
import subprocess
import time

import numpy as np
import optuna
import pytest

from jaxact import data, tasks, train
from jaxact.studies import queue as scheduler
from jaxact.studies import runner
from jaxact.studies.hpo import report
from jaxact.studies.hpo import study as hpo

TINY = hpo.SMOKE


def test_search_space_matches_document_001():
    study = optuna.create_study()
    trial = study.ask()
    hpo.suggest(trial)
    assert trial.distributions == {
        "conv_activation": optuna.distributions.CategoricalDistribution(
            ["sigmoid", "relu", "leaky_relu_0.01", "leaky_relu_0.1", "prelu", "elu", "tanh", "silu"]),
        "fc_activation": optuna.distributions.CategoricalDistribution(
            ["sigmoid", "relu", "leaky_relu_0.01", "leaky_relu_0.1", "prelu", "elu", "tanh", "silu"]),
        "learning_rate": optuna.distributions.FloatDistribution(5e-4, 1e-2, log=True),
    }
    assert hpo.DOCUMENTED == {"conv_activation": "prelu", "fc_activation": "relu", "learning_rate": 0.001988,
                              "hpo_valid": 0.9794, "test": 0.9802}


class _Killed(Exception):
    pass


def _complete(storage, name):
    study = optuna.load_study(study_name=name, storage=storage)
    return [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]


def test_run_killed_after_its_first_trial_resumes_without_repeats(tmp_path, mnist_dir):
    storage = f"sqlite:///{tmp_path}/study.db"
    config = hpo.HPOConfig(storage=storage, study_name="killed", out_dir=str(tmp_path), **TINY)

    def kill_after_first(record, counts):
        raise _Killed

    with pytest.raises(_Killed):
        runner.work(hpo.STUDY, config, kill_after_first)
    assert len(_complete(storage, "killed")) == 1  # the other two of its batch were in flight
    first_seconds = hpo.STUDY.open(config).seconds()["train"]
    runner.work(hpo.STUDY, config)
    db = hpo.STUDY.open(config)
    assert db.seconds()["train"] > first_seconds > 0
    trials = {t.number: t for t in db.trials()}
    assert [trials[n].state.name for n in (1, 2)] == ["FAIL", "FAIL"] and trials[1].user_attrs[scheduler.ABANDONED]
    assert [trials[n].state.name for n in range(3, 8)] == ["COMPLETE"] * 5  # copies of the two in flight, then three new
    assert [trials[n].params for n in (3, 4)] == [trials[n].params for n in (1, 2)]
    assert [trials[n].user_attrs[scheduler.SEED] for n in (3, 4)] == [1, 2]  # trained with the lost trials' seeds
    complete = _complete(storage, "killed")
    assert sorted(t.number for t in complete) == [0, 3, 4, 5, 6, 7]
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 6
    assert all(0 <= t.value <= 1 and 0 <= t.user_attrs["evaluations"]["test"] <= 1 for t in complete)
    assert all(len(t.intermediate_values) == t.user_attrs["epochs"] for t in complete)

    out = tmp_path / "out"
    db.record(scheduler.Invocation("host", 1, time.time() - 60.0, workers=1))
    document = report.write(out, config, db)["document"]
    for name in ("report.md", "results.json", "trials.csv", "optimization_history.png", "best_per_activation.png",
                 "lr_vs_accuracy_conv.png", "lr_vs_accuracy_fc.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "optimization_history.png").read_bytes().startswith(b"\x89PNG")
    assert len(json.loads((out / "results.json").read_text())["trials"]) == 8  # with the two lost ones
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 9
    markdown = (out / "report.md").read_text()
    assert "| documents | prelu | relu | 0.001988 | 97.94 % | 98.02 % |" in markdown
    assert "Wall time 1.0 min over 1 invocation(s) with 1 worker(s)" in markdown and "min of trial training" in markdown
    assert "6 complete trials (2 other: 2 abandoned by a killed worker, each trained again as a copy)" in markdown
    assert document["best"]["value"] == max(t.value for t in complete)
    import matplotlib

    assert matplotlib.rcParams["axes.prop_cycle"] == matplotlib.rcParamsDefault["axes.prop_cycle"]  # no ggplot left


def test_trials_left_running_by_a_killed_run_are_finished_not_repeated(tmp_path, mnist_dir, dead_owner):
    storage = f"sqlite:///{tmp_path}/study.db"
    config = hpo.HPOConfig(storage=storage, study_name="orphans", **{**TINY, "trials": 4, "units_per_program": 2})
    db = hpo.STUDY.open(config)
    orphans = [hpo.ask(db, config) for _ in range(2)]  # asked by a worker that then died
    for trial, _ in orphans:
        trial.set_user_attr(scheduler.OWNER, dead_owner())
    runner.work(hpo.STUDY, config)
    complete = sorted(_complete(storage, "orphans"), key=lambda t: t.number)
    assert [t.number for t in complete] == [2, 3, 4, 5]  # the copies of 0 and 1, then two new
    assert [t.params for t in complete[:2]] == [{k: u[k] for k in hpo.SEARCH_SPACE} for _, u in orphans]
    assert [t.user_attrs[scheduler.SEED] for t in complete[:2]] == [0, 1]
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 4


def test_another_live_workers_trial_is_left_to_it_and_taken_over_when_it_dies(tmp_path, mnist_dir):
    storage = f"sqlite:///{tmp_path}/study.db"
    config = hpo.HPOConfig(storage=storage, study_name="shared", **{**TINY, "trials": 3, "units_per_program": 2})
    theirs, their_unit = hpo.ask(hpo.STUDY.open(config), config)
    worker = subprocess.Popen(["sleep", "600"])
    try:
        theirs.set_user_attr(scheduler.OWNER, f"{socket.gethostname()}:{worker.pid}")
        theirs.set_user_attr(scheduler.HEARTBEAT, time.time())
        runner.work(hpo.STUDY, config)
        states = [t.state.name for t in optuna.load_study(study_name="shared", storage=storage).get_trials()]
        assert states == ["RUNNING", "COMPLETE", "COMPLETE"]  # 3 wanted, 1 in flight elsewhere: asked 2
    finally:
        worker.kill()
        worker.wait()
    runner.work(hpo.STUDY, config)
    complete = sorted(_complete(storage, "shared"), key=lambda t: t.number)
    assert [t.number for t in complete] == [1, 2, 3]  # 0 died with its worker; 3 is its copy
    assert complete[-1].params == {k: their_unit[k] for k in hpo.SEARCH_SPACE} and complete[-1].user_attrs[scheduler.SEED] == 0
    assert complete[-1].user_attrs[scheduler.OWNER] == f"{socket.gethostname()}:{os.getpid()}"


def test_two_workers_starting_together_propose_different_trials(tmp_path):
    config = hpo.HPOConfig(storage=f"sqlite:///{tmp_path}/study.db", study_name="workers")
    first, second = hpo.STUDY.open(config), hpo.STUDY.open(config)  # both see 0 trials
    proposals = [hpo.ask(study, config).unit for study in (first, second, first, second)]
    assert len({tuple(sorted(p.items())) for p in proposals}) == 4


def test_a_study_refuses_to_resume_with_other_trial_settings(tmp_path):
    config = hpo.HPOConfig(storage=f"sqlite:///{tmp_path}/study.db", study_name="fixed", **TINY)
    hpo.STUDY.open(config)
    hpo.STUDY.open(dataclasses.replace(config, trials=12, units_per_program=4, workers=2))  # not trial settings: fine
    with pytest.raises(ValueError, match=r"study 'fixed' was trained with max_epochs=2 \(now 3\), "
                                         r"train=200 \(now 300\): rerun with those flags"):
        hpo.STUDY.open(dataclasses.replace(config, train_size=300, max_epochs=3))


def test_a_trials_result_does_not_depend_on_the_batch_size(tmp_path, mnist_dir):
    """The first trials are the sampler's random start-up, so K = 1 and K = 3 propose the same ones."""
    by_batch = {}
    for k in (1, 3):
        config = hpo.HPOConfig(storage=f"sqlite:///{tmp_path}/k{k}.db", study_name=f"k{k}", **{**TINY, "trials": 3,
                                                                                             "units_per_program": k})
        runner.work(hpo.STUDY, config)
        by_batch[k] = [(t.number, t.params, t.value, t.user_attrs["evaluations"]["test"], t.user_attrs["epochs"])
                       for t in sorted(_complete(config.storage, f"k{k}"), key=lambda t: t.number)]
    assert by_batch[1] == by_batch[3]


def test_activation_selected_by_index_equals_the_fixed_configuration(mnist_dir):
    task = tasks.get_task("multiclass")
    splits = data.make_splits("hpo", seed=0, sizes={"train": 200, "valid": 100, "hpo_valid": 100}, test_size=100)
    ds = train.Dataset.for_task(task, splits)
    head = hpo.HPOConfig().combination()
    chosen = [train.Model(head, 3, "elu", "tanh", 2e-3), train.Model(head, 4, "prelu", "sigmoid", 1e-3)]
    config = dataclasses.replace(hpo.engine_config(hpo.HPOConfig(max_epochs=2)), models_in_parallel=2)
    switched = train.fit(config, chosen, ds["train"], ds["valid"], {"hpo_valid": ds["hpo_valid"]})
    for i, model in enumerate(chosen):
        alone = train.fit(train.EngineConfig("multiclass", train.Options.covering([model]), max_epochs=2, patience=5),
                          [model], ds["train"], ds["valid"], {"hpo_valid": ds["hpo_valid"]})
        np.testing.assert_allclose(switched.train_loss[i], alone.train_loss[0], rtol=2e-4)
        assert abs(switched.evaluations["hpo_valid"][i] - alone.evaluations["hpo_valid"][0]) <= 0.02


def _trial(number, conv, fc, lr, value):
    return {"number": number, "state": "COMPLETE", "value": value,
            "params": {"conv_activation": conv, "fc_activation": fc, "learning_rate": lr}}


def test_observations_share_ranks_on_ties_and_give_gaps_in_images():
    document = {"settings": {"hpo_valid": 5000}, "trials": [
        _trial(0, "leaky_relu_0.01", "tanh", 1e-3, 0.9762), _trial(1, "leaky_relu_0.1", "sigmoid", 1e-3, 0.9762),
        _trial(2, "prelu", "sigmoid", 2e-3, 0.9756), _trial(3, "relu", "relu", 5e-3, 0.90),
        _trial(4, "elu", "elu", 8e-3, 0.95), _trial(5, "prelu", "relu", 6e-4, 0.9700)]}
    lr, fc, conv = report.observations(document)
    assert lr[2] is True and "lr >= 0.004: 2 trials, median 92.50 %" in lr[1]
    assert fc == ("FC tanh and sigmoid rank high (top 3 of 8 by best accuracy)", "tanh ranks 1 of 4, sigmoid ranks 1 of 4",
                  True)
    assert conv[2] is False
    assert conv[1] == ("prelu ranks 3 of 5 (97.56 %); best leaky_relu_0.01 and leaky_relu_0.1 (97.62 %): 3 of 5000 "
                       "images ahead, one standard error is 0.22 points (11 images)")
    document["trials"].append(_trial(6, "prelu", "tanh", 1e-3, 0.9762))
    assert report.observations(document)[2][2] is True
    markdown = report.markdown({**document, "study_name": "s", "versions": {"jax": "0.12.0.1", "backend": "cpu"},
                                "seconds": {"train": 50.0, "invocations": [{"wall": 60.0, "workers": 2}]},
                                "best": {**document["trials"][0], "evaluations": {"test": 0.98}},
                                "config": dataclasses.asdict(hpo.HPOConfig()), "units_per_program": 1,
                                "settings": hpo.HPOConfig().settings()})
    assert "| 1 | prelu | 97.62 % | 3 |" in markdown and "| 1 | leaky_relu_0.01 | 97.62 % | 1 |" in markdown
    assert "Wall time 1.0 min over 1 invocation(s) with 2 worker(s); 0.8 min of trial training, on cpu (jax 0.12.0.1)." in markdown
