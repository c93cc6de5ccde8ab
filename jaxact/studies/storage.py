"""Where a study's units are kept: an Optuna storage opened from a path or a URL, made to survive
what real machines do.

- A journal file (the default, under the study's output directory): Optuna's `JournalFileBackend`
  (for several processes on one machine), its appends made by `append_durably`: under the
  kernel's lock on the journal itself (`flock`: a writer killed while holding it - SIGKILL, a
  worker leaving by `os._exit` while its heartbeat thread appends - releases it by dying, where
  Optuna's symlink lock would stall every other writer for its 30 s grace period), so that a torn
  last record - an append cut short by a full disk or a crash - is an append that never
  happened: before each append, under the same lock, an unterminated tail is cut off (its bytes
  kept beside the journal in `<journal>.torn-<time>`). An append that fails (ENOSPC, EIO) is cut
  back at once. A record damaged anywhere else is an error naming the file, the byte offset and
  what to do (`JournalCorrupt`).
- An SQLAlchemy URL (PostgreSQL, several machines): connections are pre-pinged (a restarted
  server costs nothing), and every storage call that loses its connection is retried with
  backoff for up to `DB_RETRY_SECONDS`; a database that stays away raises `DatabaseUnavailable`.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import pathlib
import time

import optuna
import sqlalchemy
from optuna.storages.journal import JournalFileBackend

DB_RETRY_SECONDS = float(os.environ.get("JAXACT_DB_RETRY_SECONDS", 120))


def storage_url(out_dir: str | os.PathLike) -> str:
    """The default storage of a study: a journal file in its output directory."""
    return str(pathlib.Path(out_dir) / "study.journal")


class StorageError(ValueError):
    """The storage cannot be opened or read."""


class JournalCorrupt(StorageError):
    """A journal record before the last is not valid JSON."""


class DatabaseUnavailable(StorageError):
    """The database stayed unreachable for DB_RETRY_SECONDS."""


def _first_bad_record(path: str) -> tuple[int, int] | None:
    """(byte offset, line number) of the first complete line that is not a JSON record."""
    offset = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if line.endswith(b"\n"):
                try:
                    json.loads(line)
                except ValueError:
                    return offset, number
            offset += len(line)
    return None


class RecoveringJournalBackend(JournalFileBackend):
    """`JournalFileBackend` that appends through `append_durably` and names a damaged record."""

    def read_logs(self, log_number_from: int):
        try:
            yield from super().read_logs(log_number_from)
        except ValueError:  # json.JSONDecodeError, or Optuna's "Invalid log format." for an unterminated line
            bad = _first_bad_record(self._file_path)
            if bad is None:  # an unterminated line followed by others: its end is where the damage is
                raise JournalCorrupt(f"journal {self._file_path} is damaged (an unterminated record before the last): "
                                     f"restore it from a copy") from None
            offset, line = bad
            raise JournalCorrupt(
                f"journal {self._file_path} is damaged at byte {offset:,} (line {line} is not a JSON record): the "
                f"{offset:,} bytes before it hold every unit recorded until then; keep them with `cp {self._file_path} "
                f"{self._file_path}.bak && truncate -s {offset} {self._file_path}`, then rerun to train the rest") from None

    def append_logs(self, logs: list[dict]) -> None:
        append_durably(self._file_path, "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode())


def append_durably(path: str, data: bytes) -> None:
    """Appends `data` (whole lines) to the append-only file `path`, fsynced, under an exclusive
    `flock` on the file itself: each call opens its own file, so writers exclude each other across
    processes and threads, and the kernel releases the lock of a writer that dies. First cuts a
    torn tail (`cut_torn_tail`); an append that fails (ENOSPC, EIO) is cut back at once."""
    # Unbuffered: a buffered file would write what a failed flush left over again when it closes,
    # after the cut-back below.
    with open(path, "ab", buffering=0) as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when `f` closes, or its process dies
        cut_torn_tail(path)
        size = os.fstat(f.fileno()).st_size
        try:
            rest = memoryview(data)
            while rest:  # a raw write may be short (a disk filling up)
                rest = rest[f.write(rest):]
            os.fsync(f.fileno())
        except OSError:
            try:  # the append never happened: cut what part of it reached the disk
                os.truncate(path, size)
            except OSError:
                pass  # the next append cuts it
            raise


def cut_torn_tail(path: str) -> None:
    """Cuts an unterminated last line of an append-only file, keeping its bytes in
    `<path>.torn-<time>-<pid>`. Callers hold the file's lock (`append_durably`), so the tail
    cannot be another writer's append in flight."""
    size = os.path.getsize(path) if os.path.exists(path) else 0
    if size == 0:
        return
    with open(path, "rb") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        block = min(size, 1 << 20)
        while True:
            f.seek(size - block)
            tail = f.read(block)
            newline = tail.rfind(b"\n")
            if newline >= 0 or block == size:
                break
            block = min(size, block * 2)
        keep = size - block + newline + 1 if newline >= 0 else 0
        f.seek(keep)
        torn = f.read()
    pathlib.Path(f"{path}.torn-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}").write_bytes(torn)
    os.truncate(path, keep)


def is_connection_error(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a lost or refused database connection; Optuna wraps
    those in StorageInternalError with a message about invalid data."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                              sqlalchemy.exc.DisconnectionError)):
            return True
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
    return False


def _retrying(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        deadline, wait = time.monotonic() + DB_RETRY_SECONDS, 0.5
        while True:
            try:
                return method(self, *args, **kwargs)
            except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
                if not is_connection_error(error):
                    raise
                if time.monotonic() + wait > deadline:
                    raise DatabaseUnavailable(
                        f"the database of {self.url_for_messages} stayed unreachable for {DB_RETRY_SECONDS:.0f} s "
                        f"({type(error.__cause__ or error).__name__})") from None
                time.sleep(wait)
                wait = min(wait * 2, 10.0)
    return call


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """RDBStorage whose every storage call survives a lost connection (see the module doc)."""

    def __init__(self, url: str, **kwargs):
        self.url_for_messages = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
        super().__init__(url, **kwargs)


for _name in dir(optuna.storages.BaseStorage):
    if not _name.startswith("_") and callable(getattr(optuna.storages.RDBStorage, _name, None)):
        setattr(RetryingRDBStorage, _name, _retrying(getattr(optuna.storages.RDBStorage, _name)))


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """A journal file path (no "://") or an SQLAlchemy URL -> an Optuna storage.

    SQLite waits up to 60 s for a lock rather than failing at once when several workers write.
    """
    try:
        if "://" not in url:
            pathlib.Path(url).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(RecoveringJournalBackend(url))
        if not url.startswith("sqlite"):
            return _rdb_storage(url)
        if url.startswith("sqlite:///"):
            pathlib.Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        _serialize_sqlite(storage.engine)
        return storage
    except StorageError:
        raise
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, OSError) as error:
        raise StorageError(f"cannot open storage {url!r} ({type(error).__name__}: {error}); give a journal file path "
                           "or an SQLAlchemy URL such as sqlite:///runs/study.db or postgresql://user@host/db, with "
                           "its driver installed (pip install 'jaxact[postgres]')") from None


def _rdb_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """RetryingRDBStorage, its creation retried: workers on several machines starting on an empty
    database race to create Optuna's tables, and the losers get an IntegrityError (seen on PostgreSQL 15)."""
    for attempt in range(attempts):
        try:
            return RetryingRDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _serialize_sqlite(engine) -> None:
    """Every SQLite transaction takes the write lock at its start (BEGIN IMMEDIATE). Python's
    sqlite3 otherwise begins a transaction only at its first write, so two workers could both read
    a unit as WAITING and both claim it (measured: 71 claims of 70 units with 3 workers)."""

    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, record):
        dbapi_connection.isolation_level = None

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
