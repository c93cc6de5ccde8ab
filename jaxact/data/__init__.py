"""The studies' data: verified MNIST IDX files and scikit-learn's UCI digits -> tfds (no
TensorFlow) -> seeded study splits. Datasets are picked by name from `DATASETS`."""

from jaxact.data.tfds_mnist import load_split, prepared_builder
from jaxact.data import tfds_digits  # noqa: F401  (registers "digits")
from jaxact.data.idx import DigestMismatchError
from jaxact.data.fetch import MnistUnavailableError, provision
from jaxact.data.registry import DATASETS, Dataset, get as get_dataset, plan
from jaxact.data.splits import PIXEL_VALUES, Split, make_splits, sample, sample_rows, scale, test_split, train_pool

__all__ = [
    "DATASETS", "Dataset", "PIXEL_VALUES", "DigestMismatchError", "MnistUnavailableError", "Split", "get_dataset",
    "load_split", "plan", "prepared_builder", "make_splits", "provision", "sample", "sample_rows", "scale", "test_split",
    "train_pool",
]
