"""An order's status, derived from its assignments and what is still unallocated."""

from collections.abc import Iterable
from dataclasses import dataclass

# Hub-side assignment statuses: the store's own lifecycle plus what only the hub knows.
PENDING = "pending"  # in the store's feed, not yet confirmed received
AWAITING_TRANSFER = "awaiting_transfer"  # click-and-collect held until its transfer ships
CANCEL_REQUESTED = "cancel_requested"  # the hub cancelled; the store has not confirmed yet
OPEN = frozenset(
    {PENDING, "assigned", "accepted", "picking", "picked", "packed", "ready_for_pickup", AWAITING_TRANSFER}
)
UNANSWERED = frozenset({PENDING, "assigned"})  # the store has not accepted or rejected yet
DEAD = frozenset({"rejected", "cancelled", CANCEL_REQUESTED, "expired"})
WORKING = frozenset({"accepted", "picking", "picked", "packed"})

# Store events may not move an assignment backwards (a late "accepted" after it shipped).
RANK = {
    PENDING: 0,
    AWAITING_TRANSFER: 0,
    "assigned": 1,
    "accepted": 2,
    "picking": 3,
    "picked": 4,
    "packed": 5,
    "ready_for_pickup": 5,
    "shipped": 6,
    "collected": 6,
    "expired": 6,
    "rejected": 6,
    "cancelled": 7,
    CANCEL_REQUESTED: 6,
    "received": 7,
}
# A head-office transfer's status, in words for the console, from its transfer-out's status.
TRANSFER_STATUS = {
    PENDING: "requested", "assigned": "requested", "accepted": "in_progress", "picking": "in_progress",
    "picked": "in_progress", "packed": "in_progress", "shipped": "in_transit", "received": "received",
    "rejected": "rejected", "cancelled": "cancelled", CANCEL_REQUESTED: "cancelled",
}


@dataclass(frozen=True)
class AssignmentState:
    kind: str  # ship_from_store, click_and_collect, transfer_out
    status: str


def next_status(current: str, reported: str) -> str:
    """The status after a store reports ``reported``; the physical facts win over a cancel request."""
    if current == CANCEL_REQUESTED and reported not in ("shipped", "collected", "cancelled"):
        return current
    if current == "cancelled" and reported not in ("shipped", "collected"):
        return current
    return reported if RANK.get(reported, 0) >= RANK.get(current, 0) else current


def order_status(kind: str, assignments: Iterable[AssignmentState], unallocated: int) -> str:
    """One word for the customer and customer service, from the order's assignments.

    ``unallocated`` is the quantity no store holds an assignment for (waiting for stock).
    """
    assignments = list(assignments)
    if kind == "transfer":  # head office moving stock: the order is its one transfer-out
        moving = [a.status for a in assignments if a.kind == "transfer_out"]
        return TRANSFER_STATUS.get(moving[0], moving[0]) if moving else "requested"
    fulfil = [a.status for a in assignments if a.kind != "transfer_out"]
    live = [s for s in fulfil if s not in DEAD]
    done = {"shipped", "collected"}
    if not live:
        return "backordered" if unallocated else ("cancelled" if fulfil else "received")
    if all(s in done for s in live):
        if unallocated:
            return "partially_shipped"
        return "collected" if kind == "click_and_collect" else "shipped"
    if kind == "click_and_collect":
        if all(s in ("ready_for_pickup", "collected") for s in live) and not unallocated:
            return "ready_for_pickup"
        if any(s == AWAITING_TRANSFER for s in live):
            return "awaiting_transfer"
    elif any(s in done for s in live):
        return "partially_shipped"
    if any(s in WORKING or s == "ready_for_pickup" for s in live):
        return "in_progress"
    return "routed"
