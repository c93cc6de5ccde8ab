"""The peer benchmark's engine worker: pinned like a study's worker, it times real epochs."""

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_a_pinned_engine_worker_times_epochs_that_learn(mnist_dir):
    out = subprocess.run([sys.executable, "-m", "experiments.bench_peers", "--worker=engine", "--threads=1", "--core=0",
                          "--epochs=1"], cwd=REPO, capture_output=True, text=True, timeout=600, check=True).stdout
    (epoch,) = json.loads(out.strip().splitlines()[-1])  # the timed epoch after the warm-up one
    assert epoch["train"] > 0 and epoch["eval"] > 0
    assert epoch["valid_accuracy"] > 0.5  # two epochs on 2,000 images: far above 10 % chance
