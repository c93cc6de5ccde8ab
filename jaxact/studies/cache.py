"""Finished units shared between studies, keyed by what a unit's result depends on.

A unit's *identity* is everything its numbers depend on: the study supplies it (for the misuse
studies: the dataset and data sample, the combination, the seed, the training settings, the
engine's numerics version and the JAX/jaxlib versions and backend). Two studies that need a unit
of the same identity - the activation- and loss-misuse studies share 7 combinations per seed -
train it once: the second finds its record here and stores it as its own, marked as reused.

The cache is one JSON-lines file (`--unit_cache`), appended under an exclusive lock, so workers of
several studies and machines sharing a file system can use it at once; a torn last line (a
crash mid-append) is cut before the next append, as in a study's journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

from jaxact.studies import storage


def identity_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


class UnitCache:
    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, dict] = {}
        self._read_bytes = 0

    def _refresh(self) -> None:
        """Reads the lines appended since the last read (complete ones only)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self._read_bytes)
            for line in f:
                if not line.endswith(b"\n"):
                    break  # a torn tail, or an append in flight: not a record (yet)
                self._read_bytes += len(line)
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a damaged line costs only its unit, which is trained again
                self._records.setdefault(entry["key"], entry)

    def get(self, identity: dict) -> dict | None:
        """The cached entry ({"key", "identity", "study", "record"}) of this identity, or None."""
        self._refresh()
        return self._records.get(identity_key(identity))

    def put(self, identity: dict, study: str, record: dict) -> None:
        line = json.dumps({"key": identity_key(identity), "identity": identity, "study": study, "record": record},
                          separators=(",", ":")) + "\n"
        storage.append_durably(str(self.path), line.encode())
