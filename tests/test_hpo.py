"""The activation HPO: search space, batched resumable runs, per-model activation selection."""

import dataclasses
import json
import os
import socket
import subprocess
import time
import types

import numpy as np
import optuna
import pytest

from jaxact import activations, data, models, report, tasks, train
from jaxact.studies import hpo

TINY = dict(trials=6, batch_trials=3, train_size=200, valid_size=100, hpo_valid_size=200, test_size=300, max_epochs=2)


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


def test_batched_run_killed_after_first_batch_resumes_without_repeats(tmp_path, mnist_dir):
    storage = f"sqlite:///{tmp_path}/study.db"
    config = hpo.HPOConfig(storage=storage, study_name="killed", **TINY)

    def kill_after_first(progress):
        if progress.batch == 1:
            raise _Killed

    with pytest.raises(_Killed):
        hpo.run(config, kill_after_first)
    assert len(_complete(storage, "killed")) == 3
    first_seconds = optuna.load_study(study_name="killed", storage=storage).user_attrs[hpo.TRAIN_SECONDS]
    batches = []
    study = hpo.run(config, batches.append)
    assert study.user_attrs[hpo.TRAIN_SECONDS] > first_seconds > 0
    assert [b.complete for b in batches] == [6]
    complete = _complete(storage, "killed")
    assert sorted(t.number for t in complete) == list(range(6))
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 6
    assert all(0 <= t.value <= 1 and 0 <= t.user_attrs["test"] <= 1 for t in complete)

    out = tmp_path / "out"
    document = report.write_hpo(out, study, config, seconds=1.0)
    for name in ("report.md", "results.json", "trials.csv", "optimization_history.png", "best_per_activation.png",
                 "lr_vs_accuracy_conv.png", "lr_vs_accuracy_fc.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "optimization_history.png").read_bytes().startswith(b"\x89PNG")
    assert len(json.loads((out / "results.json").read_text())["trials"]) == 6
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 7
    markdown = (out / "report.md").read_text()
    assert "| documents | prelu | relu | 0.001988 | 97.94 % | 98.02 % |" in markdown
    assert "min of training over all invocations of this study" in markdown
    assert document["best"]["value"] == max(t.value for t in complete)


def test_trials_left_running_by_a_killed_run_are_finished_not_repeated(tmp_path, mnist_dir):
    storage = f"sqlite:///{tmp_path}/study.db"
    config = hpo.HPOConfig(storage=storage, study_name="orphans", **{**TINY, "trials": 4, "batch_trials": 2})
    study = hpo.load_study(config)
    orphans = [study.ask() for _ in range(2)]  # asked, then the process "died"
    orphan_params = [hpo.suggest(t) for t in orphans]
    hpo.run(config)
    complete = sorted(_complete(storage, "orphans"), key=lambda t: t.number)
    assert [t.number for t in complete] == [0, 1, 2, 3]
    assert [t.params for t in complete[:2]] == orphan_params
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 4


def test_another_live_workers_trial_is_left_to_it_and_taken_over_when_it_dies(tmp_path, mnist_dir):
    storage = f"sqlite:///{tmp_path}/study.db"
    config = hpo.HPOConfig(storage=storage, study_name="shared", **{**TINY, "trials": 3, "batch_trials": 2})
    theirs = hpo.load_study(config).ask()
    their_params = hpo.suggest(theirs)
    worker = subprocess.Popen(["sleep", "600"])
    try:
        theirs.set_user_attr(hpo.OWNER, f"{socket.gethostname()}:{worker.pid}")
        theirs.set_user_attr(hpo.HEARTBEAT, time.time())
        hpo.run(config)
        states = [t.state.name for t in optuna.load_study(study_name="shared", storage=storage).get_trials()]
        assert states == ["RUNNING", "COMPLETE", "COMPLETE"]  # 3 wanted, 1 in flight elsewhere: asked 2
    finally:
        worker.kill()
        worker.wait()
    hpo.run(config)
    complete = sorted(_complete(storage, "shared"), key=lambda t: t.number)
    assert [t.number for t in complete] == [0, 1, 2]
    assert complete[0].params == their_params
    assert complete[0].user_attrs[hpo.OWNER] == f"{socket.gethostname()}:{os.getpid()}"


def test_two_workers_starting_together_propose_different_trials(tmp_path):
    config = hpo.HPOConfig(storage=f"sqlite:///{tmp_path}/study.db", study_name="workers")
    first, second = hpo.load_study(config), hpo.load_study(config)  # both see 0 trials
    proposals = [hpo.ask(study, config)[1] for study in (first, second, first, second)]
    assert len({tuple(sorted(p.items())) for p in proposals}) == 4


def test_a_study_refuses_to_resume_with_other_trial_settings(tmp_path):
    config = hpo.HPOConfig(storage=f"sqlite:///{tmp_path}/study.db", study_name="fixed", **TINY)
    hpo.load_study(config)
    hpo.load_study(dataclasses.replace(config, trials=12, batch_trials=4))  # not trial settings: fine
    with pytest.raises(ValueError, match=r"study 'fixed' was trained with max_epochs=2 \(now 3\), "
                                         r"train_size=200 \(now 300\): rerun with those flags"):
        hpo.load_study(dataclasses.replace(config, train_size=300, max_epochs=3))
    legacy = optuna.create_study(storage=config.storage, study_name="legacy")  # trials, no settings kept
    legacy.enqueue_trial({"conv_activation": "relu"})
    legacy.ask()
    assert hpo.SETTINGS not in hpo.load_study(dataclasses.replace(config, study_name="legacy")).user_attrs


def test_which_running_trials_are_abandoned():
    now = time.time()
    here = socket.gethostname()
    trial = lambda **attrs: types.SimpleNamespace(user_attrs=attrs)  # noqa: E731
    assert hpo.is_abandoned(trial(), now)  # asked outside `run`
    assert hpo.is_abandoned(trial(owner=f"{here}:{os.getpid()}", heartbeat=now), now)  # this process's, from a run that raised
    assert not hpo.is_abandoned(trial(owner=f"elsewhere:{os.getpid()}", heartbeat=now - 60), now)
    assert hpo.is_abandoned(trial(owner=f"elsewhere:{os.getpid()}", heartbeat=now - hpo.STALE_SECONDS - 1), now)
    assert not hpo.is_abandoned(trial(owner=f"{here}:{os.getppid()}", heartbeat=now), now)  # a live process here
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert hpo.is_abandoned(trial(owner=f"{here}:{finished.pid}", heartbeat=now), now)  # its process is gone


def test_a_trials_result_does_not_depend_on_the_batch_size(tmp_path, mnist_dir):
    """The first trials are the sampler's random start-up, so K = 1 and K = 3 propose the same ones."""
    by_batch = {}
    for k in (1, 3):
        config = hpo.HPOConfig(storage=f"sqlite:///{tmp_path}/k{k}.db", study_name=f"k{k}", **{**TINY, "trials": 3,
                                                                                             "batch_trials": k})
        hpo.run(config)
        by_batch[k] = [(t.number, t.params, t.value, t.user_attrs["test"], t.user_attrs["epochs"])
                       for t in sorted(_complete(config.storage, f"k{k}"), key=lambda t: t.number)]
    assert by_batch[1] == by_batch[3]


def test_activation_selected_by_index_equals_the_fixed_configuration(mnist_dir):
    task = tasks.get_task("multiclass")
    splits = data.make_splits("hpo", seed=0, sizes={"train": 200, "valid": 100, "hpo_valid": 100}, test_size=100)
    ds = train.Dataset.for_task(task, splits)
    names = list(activations.HPO_NAMES)
    chosen = [("elu", "tanh", 2e-3), ("prelu", "sigmoid", 1e-3)]
    switched = train.fit(
        hpo.engine_config(hpo.HPOConfig(max_epochs=2, models_in_parallel=2)),
        train.Models.build(seed=[3, 4], conv=[names.index(c) for c, _, _ in chosen],
                           fc=[names.index(f) for _, f, _ in chosen], learning_rate=[lr for _, _, lr in chosen]),
        ds["train"], ds["valid"], {"hpo_valid": ds["hpo_valid"]})
    for i, (conv, fc, lr) in enumerate(chosen):
        alone = train.fit(
            train.EngineConfig("multiclass", models.CNNConfig(10, conv, fc, "softmax"), (train.Objective("cce"),),
                               max_epochs=2, patience=5),
            train.Models.build(seed=[3 + i], learning_rate=lr), ds["train"], ds["valid"], {"hpo_valid": ds["hpo_valid"]})
        np.testing.assert_allclose(switched.train_loss[i], alone.train_loss[0], rtol=2e-4)
        assert abs(switched.evaluations["hpo_valid"][i] - alone.evaluations["hpo_valid"][0]) <= 0.02


def _trial(number, conv, fc, lr, value):
    return {"number": number, "state": "COMPLETE", "value": value,
            "params": {"conv_activation": conv, "fc_activation": fc, "learning_rate": lr}}


def test_observations_share_ranks_on_ties_and_give_gaps_in_images():
    document = {"config": {"hpo_valid_size": 5000}, "trials": [
        _trial(0, "leaky_relu_0.01", "tanh", 1e-3, 0.9762), _trial(1, "leaky_relu_0.1", "sigmoid", 1e-3, 0.9762),
        _trial(2, "prelu", "sigmoid", 2e-3, 0.9756), _trial(3, "relu", "relu", 5e-3, 0.90),
        _trial(4, "elu", "elu", 8e-3, 0.95), _trial(5, "prelu", "relu", 6e-4, 0.9700)]}
    lr, fc, conv = report.hpo_observations(document)
    assert lr[2] is True and "lr >= 0.004: 2 trials, median 92.50 %" in lr[1]
    assert fc == ("FC tanh and sigmoid rank high (top 3 of 8 by best accuracy)", "tanh ranks 1 of 4, sigmoid ranks 1 of 4",
                  True)
    assert conv[2] is False
    assert conv[1] == ("prelu ranks 3 of 5 (97.56 %); best leaky_relu_0.01 and leaky_relu_0.1 (97.62 %): 3 of 5000 "
                       "images ahead, one standard error is 0.22 points (11 images)")
    document["trials"].append(_trial(6, "prelu", "tanh", 1e-3, 0.9762))
    assert report.hpo_observations(document)[2][2] is True
    markdown = report.hpo_markdown({**document, "study_name": "s", "seconds": 60.0, "versions": {"backend": "cpu"},
                                    "best": {**document["trials"][0], "test": 0.98},
                                    "config": dataclasses.asdict(hpo.HPOConfig())})
    assert "| 1 | prelu | 97.62 % | 3 |" in markdown and "| 1 | leaky_relu_0.01 | 97.62 % | 1 |" in markdown
    assert "Wall time 1.0 min on cpu (this invocation)." in markdown
