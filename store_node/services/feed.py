"""Applying the hub's feed (assignments, cancellations, catalogue, settings) exactly once, and epochs."""

from datetime import datetime

from pydantic import ValidationError

from shared.clock import from_iso, to_iso, utc_now
from shared.ids import new_epoch
from shared.wire import (
    FEED_PAYLOADS,
    AssignmentPayload,
    CancellationPayload,
    CataloguePayload,
    EventKind,
    FeedMessage,
    KerbsideArrivalPayload,
    MessageKind,
    SettingPayload,
    TransferIncomingPayload,
)

from ..domain import assignments as steps
from ..domain.assignments import Assignment, Line
from ..store import StoreDatabase, Transaction

HUB = "hub"
# settings the store reads as a number of days (see services.fulfilment)
DAY_SETTINGS = frozenset({"pickup_expiry_days"})


def apply_feed(
    db: StoreDatabase, messages: list[FeedMessage], now: datetime | None = None, staff: str | None = None
) -> dict:
    """Apply messages in seq order, each with its cursor move in one transaction.

    A message at or below the cursor was applied before and is skipped, so re-delivery is
    harmless. A gap (a message missing before this one) stops the run: the hub sends it again.
    ``staff`` is who applied them by hand (the API), for the audit trail; what the sync
    worker applies is kept in the feed log.
    """
    at = to_iso(now or utc_now())
    applied, skipped = [], []
    for message in sorted(messages, key=lambda m: m.seq):
        with db.transaction() as tx:
            cursor = int(tx.meta("feed_cursor") or 0)
            if message.seq <= cursor:
                skipped.append(message.seq)
                continue
            if message.seq != cursor + 1:
                break
            outcome = _apply_one(tx, message, at)
            tx.log_feed(message.seq, str(message.kind), at, outcome)
            entry = {"seq": message.seq, "kind": str(message.kind), "outcome": outcome}
            if staff:
                tx.audit(at, staff, "feed.apply", str(message.seq), entry)
            applied.append(entry)
    return {"applied": applied, "skipped": skipped, "cursor": int(db.meta()["feed_cursor"])}


def _apply_one(tx: Transaction, message: FeedMessage, at: str) -> str:
    try:
        payload = FEED_PAYLOADS[message.kind].model_validate(message.payload)
    except ValidationError as exc:
        # the cursor still moves: a message this build cannot read must not block the feed;
        # the feed log and the audit keep why, for support
        tx.audit(at, HUB, "feed.invalid", str(message.seq), {"error": str(exc)[:500]})
        return "invalid"
    match message.kind:
        case MessageKind.ASSIGNMENT:
            return _receive_assignment(tx, payload, at)
        case MessageKind.CANCELLATION:
            return _cancel(tx, payload, at)
        case MessageKind.CATALOGUE:
            return _catalogue(tx, payload)
        case MessageKind.SETTING:
            return _setting(tx, payload, message.seq, at)
        case MessageKind.KERBSIDE_ARRIVAL:
            return _kerbside(tx, payload, at)
        case MessageKind.TRANSFER_INCOMING:
            return _transfer_incoming(tx, payload, at)
    return "ignored"


def _transfer_incoming(tx: Transaction, p: TransferIncomingPayload, at: str) -> str:
    announced = tx.announce_transfer(p.model_dump(), at)
    if announced:
        tx.audit(at, HUB, "transfer.announced", p.transfer_id, {"from": p.source_store_id})
    return "transfer_announced" if announced else "duplicate"


def _receive_assignment(tx: Transaction, p: AssignmentPayload, at: str) -> str:
    if tx.assignment(p.assignment_id) is not None:
        return "duplicate"
    unknown = [ln.sku for ln in p.lines if tx.product(ln.sku) is None]
    assignment = Assignment(
        assignment_id=p.assignment_id,
        order_id=p.order_id,
        kind=p.kind,
        lines=[Line(ln.line_id, ln.sku, ln.qty) for ln in p.lines],
        deadline=from_iso(p.deadline),
        customer_name=p.customer_name,
        requires_id_check=p.requires_id_check,
        destination_store_id=p.destination_store_id,
        ship_to=p.ship_to,
    )
    if unknown:
        # the catalogue did not reach this store yet: it cannot fill what it cannot name
        _, rejection = steps.reject(assignment, {}, steps.RejectReason.OTHER)
        tx.save_assignment(assignment, at)
        tx.append_event(
            EventKind.ASSIGNMENT_REJECTED,
            at,
            {
                "assignment_id": p.assignment_id,
                "reason": "other",
                "whole": True,
                "note": f"unknown SKU {', '.join(sorted(set(unknown)))}",
                "lines": [{"line_id": lid, "sku": s, "qty": q} for lid, s, q in rejection.lines],
            },
            staff=HUB,
        )
        return "rejected_unknown_sku"
    tx.save_assignment(assignment, at)
    tx.append_event(
        EventKind.ASSIGNMENT_RECEIVED,
        at,
        {"assignment_id": p.assignment_id, "order_id": p.order_id, "status": "assigned"},
        staff=HUB,
    )
    tx.audit(at, HUB, "assignment.received", p.assignment_id, {"order_id": p.order_id})
    return "received"


def _cancel(tx: Transaction, p: CancellationPayload, at: str) -> str:
    assignment = tx.assignment(p.assignment_id)
    if assignment is None:
        return "unknown_assignment"
    items = tx.stock_items(assignment.skus)
    was = assignment.status
    applied, moves = steps.cancel(assignment, items)
    payload = {"assignment_id": p.assignment_id, "order_id": assignment.order_id, "reason": p.reason}
    if not applied:
        tx.append_event(
            EventKind.CANCELLATION_REFUSED, at, {**payload, "status": str(assignment.status)}, staff=HUB
        )
        tx.audit(at, HUB, "assignment.cancellation_refused", p.assignment_id, payload)
        return "refused"
    if assignment.status is was:
        return "already_final"
    changed = [items[s] for s in sorted({m.sku for m in moves})]
    tx.save_assignment(assignment, at)
    tx.save_stock(changed)
    tx.record_movements(moves, at, HUB, ref=p.assignment_id)
    tx.append_event(EventKind.ASSIGNMENT_CANCELLED, at, {**payload, "status": "cancelled"}, changed, HUB)
    tx.audit(at, HUB, "assignment.cancelled", p.assignment_id, payload)
    return "cancelled"


def _catalogue(tx: Transaction, p: CataloguePayload) -> str:
    count = tx.upsert_products(item.model_dump() for item in p.items)
    return f"catalogue:{count}"


def _setting(tx: Transaction, p: SettingPayload, seq: int, at: str) -> str:
    value = str(p.value)
    if p.key in DAY_SETTINGS and not (value.isdigit() and int(value) >= 1):
        # stored, it would break every use of the setting: kept out, like an unreadable message
        error = f"{p.key} must be a whole number of days, got {p.value!r}"
        tx.audit(at, HUB, "feed.invalid", str(seq), {"error": error})
        return "invalid"
    tx.set_meta(f"setting:{p.key}", value)
    return f"setting:{p.key}"


def _kerbside(tx: Transaction, p: KerbsideArrivalPayload, at: str) -> str:
    tx.record_kerbside_arrival(p.assignment_id, p.order_id, p.note, at)
    return "kerbside"


def start_new_epoch(db: StoreDatabase, staff: str, now: datetime | None = None) -> str:
    """After a restore from backup: a new epoch whose first event is a full stock snapshot.

    The hub never trusts a cursor of a past epoch, so nothing the backup lost or replays
    is counted twice: the snapshot's absolute levels replace the hub's replica.
    """
    at = to_iso(now or utc_now())
    epoch = new_epoch()
    with db.transaction() as tx:
        old = tx.meta("epoch")
        tx.set_meta("epoch", epoch)
        levels = tx.stock_items([row["sku"] for row in tx.all_levels()])
        tx.append_event(EventKind.STOCK_SNAPSHOT, at, {"previous_epoch": old}, levels.values(), staff)
        tx.audit(at, staff, "epoch.new", epoch, {"previous_epoch": old})
    return epoch


def acknowledge(
    db: StoreDatabase, epoch: str, up_to_seq: int, staff: str | None = None, now: datetime | None = None
) -> int:
    """The hub holds every event up to ``up_to_seq``: mark them sent (they are never deleted).

    ``staff`` is who acknowledged by hand (the API), for the audit trail.
    """
    with db.transaction() as tx:
        count = tx.acknowledge(epoch, up_to_seq)
        if staff:
            detail = {"up_to_seq": up_to_seq, "acknowledged": count}
            tx.audit(to_iso(now or utc_now()), staff, "outbox.ack", epoch, detail)
    return count
