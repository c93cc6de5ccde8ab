"""The UCI optical digits (scikit-learn's `load_digits`: 1,797 images, 8x8, 17 grey levels),
a second digit dataset for document 000's warning: "works here, fails on a new dataset".

It ships inside scikit-learn's wheel (offline). Like MNIST it goes through a tensorflow-datasets
builder without TensorFlow (array_record, raw uint8 tensors): each image is resized to 28x28
(bilinear, scipy.ndimage.zoom), its grey levels 0..16 mapped to 0..255, so that the studies'
MNIST scaling (x / 255 - 0.5) / 0.5 puts it into [-1, 1]. A seeded permutation fixes 597 test
images once; the other 1,200 are the train rows the studies sample from, with MNIST's misuse
ratio train:valid = 2:3 (480 / 720).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from jaxact.data.registry import Dataset, read_split, register

TEST_ROWS = 597
PERMUTATION_SEED = 0
SIZE = 28


def _images_and_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images as uint8 (1797, 28, 28, 1) in 0..255, and their digits."""
    import scipy.ndimage
    from sklearn.datasets import load_digits

    digits = load_digits()
    zoom = SIZE / digits.images.shape[1]
    resized = np.stack([scipy.ndimage.zoom(image, zoom, order=1) for image in digits.images])
    pixels = np.clip(np.round(resized * 255.0 / 16.0), 0, 255).astype(np.uint8)
    return pixels[..., None], digits.target.astype(np.int32)


def _rows(split: str) -> np.ndarray:
    order = np.random.default_rng(PERMUTATION_SEED).permutation(1_797)
    return np.sort(order[:TEST_ROWS] if split == "test" else order[TEST_ROWS:])


BUILDER_VERSION = "1.0.0"


@functools.lru_cache(maxsize=None)
def builder_class():
    """The tfds builder, defined on first use (see tfds_mnist.builder_class)."""
    import tensorflow_datasets as tfds

    class JaxactDigits(tfds.core.GeneratorBasedBuilder):
        """scikit-learn's UCI digits resized to 28x28, with their row in `load_digits`."""

        VERSION = tfds.core.Version(BUILDER_VERSION)
        RELEASE_NOTES = {"1.0.0": "load_digits resized to 28x28 (bilinear), 597 test rows by a seeded permutation."}

        def __init__(self, **kwargs):
            super().__init__(file_format="array_record", **kwargs)

        def _info(self) -> tfds.core.DatasetInfo:
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Tensor(shape=(SIZE, SIZE, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                    "index": tfds.features.Scalar(dtype=np.int64),
                }),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            del dl_manager  # shipped with scikit-learn: nothing to download
            images, digits = _images_and_digits()
            return {split: self._generate_examples(images, digits, split) for split in ("train", "test")}

        def _generate_examples(self, images, digits, split):
            for row in _rows(split):
                yield int(row), {"image": images[row], "label": int(digits[row]), "index": int(row)}

    return JaxactDigits


@functools.lru_cache(maxsize=4)
def load_split(split: str, data_dir: str | None = None):
    """(images (N, 28, 28, 1) uint8, digits (N,) int32) of `split`, in load_digits row order."""
    builder = builder_class()(data_dir=data_dir or os.environ.get("TFDS_DATA_DIR") or None)
    builder.download_and_prepare()
    images, labels, _ = read_split(builder, split)
    return images, labels


DIGITS = register(Dataset(
    name="digits", description="UCI optical digits from scikit-learn, 8x8 resized to 28x28",
    load=lambda split: load_split(split), sizes={"train": 1_797 - TEST_ROWS, "test": TEST_ROWS}, version=BUILDER_VERSION,
    plans={"misuse": {"train": 480, "valid": 720}},
))
