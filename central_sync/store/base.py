"""What every part of the hub's repository stands on: its connection and two query shorthands."""

import sqlite3
from collections.abc import Iterable


def placeholders(values: Iterable) -> str:
    """``?,?,?`` for an ``IN (...)`` of that many values."""
    return ",".join("?" * len(list(values)))


class Queries:
    """A connection (the unit of work's, or a reader's) and the count of feed messages appended."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.events_appended = 0

    def one(self, sql: str, params: Iterable = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, tuple(params)).fetchone()

    def all(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()
