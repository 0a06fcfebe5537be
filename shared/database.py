"""The SQLite discipline both apps follow: one locked write connection, BEGIN IMMEDIATE, WAL readers.

Each app's persistence module subclasses :class:`Database` and keeps all of its SQL; this
module only owns how connections are opened and how a unit of work begins and ends.
"""

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

import orjson
from sqlite_utils import Database as SqliteUtilsDatabase
from sqlite_utils import Migrations

T = TypeVar("T")


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """A connection in WAL mode with explicit transactions (``isolation_level=None``)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class Database(Generic[T]):
    """A SQLite file: migrations at open, one write connection under a lock, per-thread readers.

    ``transaction()`` yields the app's unit-of-work object (built by ``make_tx`` around the
    write connection) inside ``BEGIN IMMEDIATE``; it commits at the end of the block or
    rolls everything back on any exception. Listeners in ``after_commit`` run after a
    commit that wrote outgoing events (``tx.events_appended``).
    """

    def __init__(
        self,
        path: str | Path,
        migrations: Migrations,
        make_tx: Callable[[sqlite3.Connection], T],
        synchronous: str = "FULL",
    ):
        self.path = str(path)
        self._synchronous = synchronous
        self._make_tx = make_tx
        self._write = connect(self.path, synchronous)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.after_commit: list[Callable[[], None]] = []
        migrations.apply(SqliteUtilsDatabase(self._write))

    @contextmanager
    def transaction(self) -> Iterator[T]:
        """One unit of work: everything inside commits together or not at all."""
        with self._lock:
            self._write.execute("BEGIN IMMEDIATE")
            tx = self._make_tx(self._write)
            try:
                yield tx
                self._write.execute("COMMIT")
            except BaseException:
                # also when COMMIT itself fails: the connection must not stay inside a transaction
                if self._write.in_transaction:
                    self._write.execute("ROLLBACK")
                raise
        if getattr(tx, "events_appended", 0):
            for listener in self.after_commit:
                listener()

    def reader(self) -> T:
        """The same repository object over this thread's read connection."""
        return self._make_tx(self._read_connection())

    def _read_connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self._synchronous)
            self._local.conn = conn
        return conn

    def query(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        return self._read_connection().execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        self._write.close()
