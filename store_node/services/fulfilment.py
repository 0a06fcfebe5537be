"""Working an assignment: accept or reject, pick by scan, pack and ship, stage and hand over, expire."""

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput, NotFound
from shared.wire import EventKind

from ..domain import assignments as steps
from ..domain.assignments import Assignment, Parcel, Rejection, RejectReason
from ..domain.stock import Movement, StockItem
from ..store import StoreDatabase, Transaction
from .lookup import resolve_codes

# No 0/O or 1/I: the code is read aloud across a counter and typed by staff.
PICKUP_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
DEFAULT_PICKUP_EXPIRY_DAYS = 7


def new_pickup_code() -> str:
    return "".join(secrets.choice(PICKUP_ALPHABET) for _ in range(6))


Step = Callable[[Assignment, Mapping[str, StockItem]], "StepResult"]


class StepResult:
    """What a step changed, for the event: stock movements, a rejection, extra detail."""

    def __init__(
        self,
        moves: list[Movement] | None = None,
        rejection: Rejection | None = None,
        detail: dict | None = None,
        event: EventKind = EventKind.ASSIGNMENT_PROGRESSED,
    ):
        self.moves = moves or []
        self.rejection = rejection
        self.detail = detail or {}
        self.event = event


def _run(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    action: str,
    step: Step,
    now: datetime | None,
) -> dict:
    """Load the assignment and its stock, apply one domain step, save it and its events."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        assignment = _load(tx, assignment_id)
        items = tx.stock_items(assignment.skus)
        result = step(assignment, items)
        _save(tx, assignment, items, result, at, staff, action)
    return assignment_view(assignment, items)


def _load(tx: Transaction, assignment_id: str) -> Assignment:
    assignment = tx.assignment(assignment_id)
    if assignment is None:
        raise NotFound(f"no assignment {assignment_id!r}")
    return assignment


def _save(
    tx: Transaction,
    a: Assignment,
    items: Mapping[str, StockItem],
    result: StepResult,
    at: str,
    staff: str,
    action: str,
) -> None:
    tx.save_assignment(a, at)
    touched = {m.sku for m in result.moves}
    changed = [items[sku] for sku in sorted(touched)]
    if changed:
        tx.save_stock(changed)
        tx.record_movements(result.moves, at, staff, ref=a.assignment_id)
    whole = bool(result.rejection and result.rejection.whole)
    if result.rejection:
        r = result.rejection
        payload = {
            "assignment_id": a.assignment_id,
            "reason": r.reason,
            "whole": r.whole,
            "note": result.detail.get("note", ""),
            "lines": [{"line_id": lid, "sku": sku, "qty": q} for lid, sku, q in r.lines],
        }
        # levels travel once: with the rejection when it ends the assignment, else with the step
        tx.append_event(EventKind.ASSIGNMENT_REJECTED, at, payload, changed if whole else [], staff)
    if not whole:
        payload = {
            "assignment_id": a.assignment_id,
            "order_id": a.order_id,
            "status": str(a.status),
            "detail": result.detail,
        }
        tx.append_event(result.event, at, payload, changed, staff)
    tx.audit(at, staff, action, a.assignment_id, {"status": str(a.status), **result.detail})


def accept(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    rejected: Mapping[str, int] | None = None,
    reason: str = "out_of_stock",
    note: str = "",
    now: datetime | None = None,
) -> dict:
    """Accept (reserving stock), or accept partly, rejecting some quantities back to the hub."""
    why = _reject_reason(reason)

    def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
        moves, rejection = steps.accept(a, items, rejected, why)
        detail = {"note": note} if note else {}
        return StepResult(moves, rejection, detail, EventKind.ASSIGNMENT_ACCEPTED)

    return _run(db, staff, assignment_id, "assignment.accept", step, now)


def reject(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    reason: str,
    note: str = "",
    now: datetime | None = None,
) -> dict:
    why = _reject_reason(reason)

    def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
        moves, rejection = steps.reject(a, items, why)
        return StepResult(moves, rejection, {"note": note} if note else {})

    return _run(db, staff, assignment_id, "assignment.reject", step, now)


def _reject_reason(reason: str) -> RejectReason:
    try:
        return RejectReason(reason)
    except ValueError:
        raise InvalidInput("reason", f"one of {', '.join(RejectReason)}") from None


def pick(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    code: str,
    qty: int = 1,
    now: datetime | None = None,
) -> dict:
    """Confirm a pick by scanned barcode (qty 1) or typed quantity; a wrong item is refused."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        assignment = _load(tx, assignment_id)
        (sku,) = resolve_codes(tx, [("code", code)])
        line = steps.pick(assignment, sku, qty)
        items = tx.stock_items(assignment.skus)
        detail = {"sku": sku, "qty": qty, "line_id": line.line_id}
        # a scan is not a change of a store-owned fact the hub needs: only the audit keeps it
        tx.save_assignment(assignment, at)
        tx.audit(at, staff, "assignment.pick", assignment_id, detail)
    view = assignment_view(assignment, items)
    view["last_pick"] = detail
    return view


def complete_pick(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    short_reason: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Close the pick; a short pick hands the missing quantity back to the hub."""

    def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
        moves, rejection = steps.complete_pick(a, items, short_reason)
        picked = {ln.line_id: ln.picked for ln in a.lines}
        return StepResult(moves, rejection, {"picked": picked, "note": short_reason or ""})

    return _run(db, staff, assignment_id, "assignment.complete_pick", step, now)


def pack(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    parcels: list[Parcel],
    now: datetime | None = None,
) -> dict:
    def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
        steps.pack(a, parcels)
        return StepResult(detail={"parcels": [p.__dict__ for p in parcels]})

    return _run(db, staff, assignment_id, "assignment.pack", step, now)


def ship(db: StoreDatabase, staff: str, assignment_id: str, now: datetime | None = None) -> dict:
    def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
        moves = steps.ship(a, items)
        return StepResult(moves, detail={"parcels": [p.__dict__ for p in a.parcels]})

    return _run(db, staff, assignment_id, "assignment.ship", step, now)


def make_ready(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    now: datetime | None = None,
    pickup_code: Callable[[], str] = new_pickup_code,
) -> dict:
    """Stage for pickup: issues the pickup code; the hub notifies the customer from the event."""
    moment = now or utc_now()

    def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
        steps.make_ready(a, pickup_code(), moment)
        return StepResult(detail={"pickup_code": a.pickup_code, "notify_customer": True})

    return _run(db, staff, assignment_id, "assignment.ready", step, moment)


def collect(
    db: StoreDatabase,
    staff: str,
    assignment_id: str,
    code: str,
    id_checked: bool = False,
    now: datetime | None = None,
) -> dict:
    def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
        moves = steps.collect(a, items, code, id_checked)
        return StepResult(moves, detail={"id_checked": id_checked})

    return _run(db, staff, assignment_id, "assignment.collect", step, now)


def expire_due(db: StoreDatabase, staff: str = "system", now: datetime | None = None) -> list[str]:
    """Expire click-and-collect orders not collected within the configured number of days."""
    moment = now or utc_now()
    days = int(db.meta().get("setting:pickup_expiry_days", DEFAULT_PICKUP_EXPIRY_DAYS))
    expired = []
    for a in db.assignments([steps.Status.READY_FOR_PICKUP]):
        if steps.is_expired(a, moment, days):

            def step(a: Assignment, items: Mapping[str, StockItem]) -> StepResult:
                if not steps.is_expired(a, moment, days):  # re-checked inside the transaction
                    return StepResult()
                return StepResult(steps.expire(a, items), detail={"after_days": days})

            _run(db, staff, a.assignment_id, "assignment.expire", step, moment)
            expired.append(a.assignment_id)
    return expired


def assignment_view(a: Assignment, items: Mapping[str, StockItem]) -> dict:
    """The assignment as the API and screens show it, with its at-risk flag."""
    return {
        "assignment_id": a.assignment_id,
        "order_id": a.order_id,
        "kind": str(a.kind),
        "status": str(a.status),
        "deadline": to_iso(a.deadline),
        "customer_name": a.customer_name,
        "requires_id_check": a.requires_id_check,
        "destination_store_id": a.destination_store_id,
        "ship_to": a.ship_to,
        "pickup_code": a.pickup_code,
        "ready_at": to_iso(a.ready_at) if a.ready_at else None,
        "parcels": [p.__dict__ for p in a.parcels],
        "reject_reason": a.reject_reason,
        "at_risk": steps.at_risk(a, items),
        "lines": [
            {
                "line_id": ln.line_id,
                "sku": ln.sku,
                "qty": ln.qty,
                "rejected": ln.rejected,
                "picked": ln.picked,
                "to_fill": ln.to_fill,
                "left_to_pick": ln.left_to_pick,
            }
            for ln in a.lines
        ],
    }
