"""UTC timestamps as stored and sent: ISO 8601 strings ending in Z, to the millisecond."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time in UTC (services read the clock here, the domain never does)."""
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """A UTC datetime as ``2026-11-25T16:09:04.123Z`` (sortable as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_iso(text: str) -> datetime:
    """Parse what :func:`to_iso` wrote (or any ISO 8601 string with an offset) into UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)
