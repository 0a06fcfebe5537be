"""Head-office analytics over a period: loads the period's facts and lets the domain compute the metrics.

The metric definitions are in ``domain.analytics`` (and docs/analytics.md). Read-only: it
runs on this thread's reader connection and never holds the write lock.
"""

import csv
import io
from datetime import datetime, timedelta

from shared.clock import from_iso, to_iso, utc_now
from shared.errors import InvalidInput

from ..domain.analytics import (
    COLUMNS,
    TABLES,
    TIMELINE_KINDS,
    AssignmentFact,
    CountFact,
    OrderFact,
    TimelineFact,
    report,
)
from ..store import HubDatabase

DEFAULT_DAYS = 7
MAX_DAYS = 366


def period(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``days`` days up to ``now``: [now - days, now)."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput("days", f"between 1 and {MAX_DAYS}")
    end = now or utc_now()
    return end - timedelta(days=days), end


def analytics(db: HubDatabase, days: int = DEFAULT_DAYS, now: datetime | None = None) -> dict:
    """Every metric table for the last ``days`` days, per store and for the network (``store_id`` '*')."""
    start, end = period(days, now)
    since, until = to_iso(start), to_iso(end)
    r = db.reader()
    stores = r.stores()
    orders = [
        OrderFact(row["order_id"], row["kind"], row["status"], from_iso(row["created_at"]), row["units"])
        for row in r.analytics_orders(since, until)
    ]
    assignments = [
        AssignmentFact(row["assignment_id"], row["order_id"], row["store_id"], row["kind"], row["status"],
                       from_iso(row["deadline"]), row["qty"], row["rejected"])
        for row in r.analytics_assignments(since, until)
    ]  # fmt: skip
    events = [
        TimelineFact(row["order_id"], row["kind"], from_iso(row["at"]), row["store_id"], row["assignment_id"],
                     _moment(row["store_at"]), row["reason"])
        for row in r.analytics_timeline(since, until, TIMELINE_KINDS)
    ]  # fmt: skip
    # store timestamps may carry an offset: compare as text a day wider each side, then exactly
    wide = r.analytics_counts(to_iso(start - timedelta(days=1)), to_iso(end + timedelta(days=1)))
    counts = [
        CountFact(row["store_id"], int(row["variance"]))
        for row in wide
        if row["variance"] is not None and start <= from_iso(row["at"]) < end
    ]
    tables = report([s["store_id"] for s in stores], orders, assignments, events, counts, end)
    return {
        "period": {"days": days, "from": since, "to": until},
        "store_names": {s["store_id"]: s["name"] for s in stores},
        "tables": tables,
    }


def _moment(text: str | None) -> datetime | None:
    try:
        return from_iso(text) if text else None
    except ValueError:
        return None  # a store's timestamp the hub cannot read: fall back on the hub's own


def table_csv(result: dict, table: str) -> str:
    """One metric table as CSV (a header row of column names, then a row per store; '*' is the network)."""
    if table not in TABLES:
        raise InvalidInput("table", f"one of {', '.join(TABLES)}")
    return to_csv(COLUMNS[table], result["tables"][table])


def to_csv(columns: tuple[str, ...] | list[str], rows: list[dict]) -> str:
    """Rows as CSV text; a text cell that a spreadsheet would run as a formula is quoted with a leading '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
