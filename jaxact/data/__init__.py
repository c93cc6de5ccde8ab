"""MNIST for jaxact: verified IDX files -> tfds (no TensorFlow) -> seeded study splits."""

from jaxact.data.tfds_mnist import JaxactMnist, load_split, prepared_builder
from jaxact.data.idx import DigestMismatchError
from jaxact.data.fetch import MnistUnavailableError, provision
from jaxact.data.splits import PLANS, Split, make_splits, sample_rows, scale

__all__ = [
    "DigestMismatchError", "JaxactMnist", "MnistUnavailableError", "PLANS", "Split",
    "load_split", "prepared_builder", "make_splits", "provision", "sample_rows", "scale",
]
