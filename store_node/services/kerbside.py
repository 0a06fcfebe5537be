"""Kerbside handovers: a customer said "I'm here" (a hub feed message); a staff member acknowledges it."""

from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.errors import NotFound
from shared.wire import EventKind

from ..store import StoreDatabase


def acknowledge(db: StoreDatabase, staff: str, assignment_id: str, now: datetime | None = None) -> dict:
    """Someone is going out to the customer: the arrival stops popping up on every terminal.

    The hub hears of it (an event), so head office and customer service can see the customer
    was seen to. Acknowledging an arrival already acknowledged (a second terminal, a double
    click) is refused and changes nothing.
    """
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        arrival = tx.acknowledge_kerbside(assignment_id, staff, at)
        if arrival is None:
            raise NotFound(f"no kerbside arrival waiting for assignment {assignment_id!r}")
        payload = {"assignment_id": assignment_id, "order_id": arrival["order_id"], "arrived_at": arrival["arrived_at"]}
        tx.append_event(EventKind.KERBSIDE_ACKNOWLEDGED, at, payload, staff=staff)
        tx.audit(at, staff, "kerbside.acknowledge", assignment_id, payload)
    return payload
