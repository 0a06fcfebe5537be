"""An assignment's lifecycle at the store: the state machine, picking by scan and its stock effects.

Every step takes the assignment and the stock items of its SKUs, checks the step is legal,
changes both, and returns the stock movements it made. The caller (the services layer)
loads, calls one step, saves and writes the outgoing event in one transaction.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from shared.errors import IllegalTransition, InvalidInput, Refused
from shared.wire import AssignmentKind

from . import stock
from .stock import Movement, StockItem


class Status(StrEnum):
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PICKING = "picking"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class RejectReason(StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    DAMAGED = "damaged"
    NO_CAPACITY = "no_capacity"
    OTHER = "other"


SHIPPING_KINDS = frozenset({AssignmentKind.SHIP_FROM_STORE, AssignmentKind.TRANSFER_OUT})

# Which step may follow which; kind-specific steps are checked in the step itself.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.ASSIGNED: frozenset({Status.ACCEPTED, Status.REJECTED, Status.CANCELLED}),
    Status.ACCEPTED: frozenset({Status.PICKING, Status.PICKED, Status.REJECTED, Status.CANCELLED}),
    Status.PICKING: frozenset({Status.PICKED, Status.REJECTED, Status.CANCELLED}),
    Status.PICKED: frozenset({Status.PACKED, Status.READY_FOR_PICKUP, Status.CANCELLED}),
    Status.PACKED: frozenset({Status.SHIPPED, Status.CANCELLED}),
    Status.READY_FOR_PICKUP: frozenset({Status.COLLECTED, Status.EXPIRED, Status.CANCELLED}),
    Status.SHIPPED: frozenset(),
    Status.COLLECTED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.REJECTED: frozenset(),
    Status.CANCELLED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# States in which the assignment holds reserved stock.
HOLDING = frozenset({Status.ACCEPTED, Status.PICKING, Status.PICKED, Status.PACKED, Status.READY_FOR_PICKUP})
# The physical fact wins: what has left the store cannot be cancelled.
LEFT_THE_STORE = frozenset({Status.SHIPPED, Status.COLLECTED})


@dataclass
class Line:
    line_id: str
    sku: str
    qty: int
    rejected: int = 0
    picked: int = 0

    @property
    def to_fill(self) -> int:
        """What the store still owes on this line (ordered less rejected)."""
        return self.qty - self.rejected

    @property
    def left_to_pick(self) -> int:
        return self.to_fill - self.picked


@dataclass
class Parcel:
    weight_grams: int
    carrier: str
    tracking_number: str


@dataclass
class Assignment:
    assignment_id: str
    order_id: str
    kind: AssignmentKind
    lines: list[Line]
    deadline: datetime
    status: Status = Status.ASSIGNED
    customer_name: str = ""
    requires_id_check: bool = False
    destination_store_id: str | None = None
    ship_to: dict | None = None
    pickup_code: str | None = None
    ready_at: datetime | None = None
    parcels: list[Parcel] = field(default_factory=list)
    reject_reason: str | None = None

    @property
    def skus(self) -> set[str]:
        return {line.sku for line in self.lines}

    def line(self, line_id: str) -> Line:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise InvalidInput("line_id", f"no line {line_id!r} in assignment {self.assignment_id}")


@dataclass(frozen=True)
class Rejection:
    """Quantities handed back to the hub for re-routing."""

    reason: str
    lines: tuple[tuple[str, str, int], ...]  # (line_id, sku, qty)
    whole: bool


def _move(assignment: Assignment, target: Status) -> None:
    if target not in TRANSITIONS[assignment.status]:
        raise IllegalTransition(
            f"assignment {assignment.assignment_id} is {assignment.status}: it cannot become {target}"
        )
    assignment.status = target


def _held(assignment: Assignment) -> dict[str, int]:
    held: dict[str, int] = {}
    for line in assignment.lines:
        held[line.sku] = held.get(line.sku, 0) + line.to_fill
    return held


def accept(
    assignment: Assignment,
    items: Mapping[str, StockItem],
    rejected: Mapping[str, int] | None = None,
    reason: RejectReason = RejectReason.OUT_OF_STOCK,
) -> tuple[list[Movement], Rejection | None]:
    """Accept the assignment, possibly rejecting some quantities, and reserve the rest.

    Refused, with every short line named at once, when available stock cannot cover what
    is accepted: staff then accept partly.
    """
    if assignment.status is not Status.ASSIGNED:
        _move(assignment, Status.ACCEPTED)  # raises the uniform message
    rejected = dict(rejected or {})
    problems = []
    for line_id, qty in rejected.items():
        line = assignment.line(line_id)
        if not 0 <= qty <= line.qty:
            problems.append(f"line {line_id}: can reject 0 to {line.qty}, got {qty}")
    if problems:
        raise InvalidInput("rejections", "; ".join(problems))
    wanted: dict[str, int] = {}
    for line in assignment.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.qty - rejected.get(line.line_id, 0)
    short = [
        f"{sku}: available {items[sku].available}, needs {qty}"
        for sku, qty in sorted(wanted.items())
        if qty > 0 and items[sku].available < qty
    ]
    if short:
        raise Refused([f"not enough stock to accept: {s}" for s in short])
    for line in assignment.lines:
        line.rejected = rejected.get(line.line_id, 0)
    rejection = _rejection(assignment, {k: v for k, v in rejected.items() if v}, str(reason))
    if rejection and rejection.whole:
        _move(assignment, Status.REJECTED)
        assignment.reject_reason = str(reason)
        return [], rejection
    _move(assignment, Status.ACCEPTED)
    moves = [stock.reserve(items[sku], qty) for sku, qty in _held(assignment).items() if qty]
    return moves, rejection


def reject(
    assignment: Assignment, items: Mapping[str, StockItem], reason: RejectReason
) -> tuple[list[Movement], Rejection]:
    """Refuse what the store still owes on the assignment; the hub routes it elsewhere.

    Before accepting nothing is held. After accepting (the goods turned out damaged, say)
    the reservation is released, and only what was not already handed back is rejected.
    """
    held = assignment.status in HOLDING
    _move(assignment, Status.REJECTED)
    moves = _release(assignment, items) if held else []
    owed = {ln.line_id: ln.to_fill for ln in assignment.lines if ln.to_fill}
    assignment.reject_reason = str(reason)
    for line in assignment.lines:
        line.rejected = line.qty
    return moves, _rejection(assignment, owed, str(reason))


def _rejection(assignment: Assignment, qty_by_line: Mapping[str, int], reason: str) -> Rejection | None:
    if not qty_by_line:
        return None
    lines = tuple(
        (ln.line_id, ln.sku, qty_by_line[ln.line_id]) for ln in assignment.lines if ln.line_id in qty_by_line
    )
    whole = all(ln.to_fill == 0 for ln in assignment.lines)
    return Rejection(reason, lines, whole)


def _start_picking(assignment: Assignment) -> None:
    if assignment.status is Status.ACCEPTED:
        _move(assignment, Status.PICKING)
    elif assignment.status is not Status.PICKING:
        raise IllegalTransition(
            f"assignment {assignment.assignment_id} is {assignment.status}: it cannot be picked"
        )


def pick(assignment: Assignment, sku: str, qty: int = 1) -> Line:
    """Confirm ``qty`` units of ``sku`` picked (a scan is qty 1); a wrong item names what was expected."""
    _start_picking(assignment)
    if qty <= 0:
        raise InvalidInput("qty", f"must be a positive whole number, got {qty}")
    lines = [ln for ln in assignment.lines if ln.sku == sku]
    if not lines:
        expected = sorted({ln.sku for ln in assignment.lines if ln.left_to_pick > 0})
        raise Refused(f"wrong item: scanned {sku}, expected {', '.join(expected) or 'nothing more'}")
    left = sum(ln.left_to_pick for ln in lines)
    if qty > left:
        raise Refused(f"too many {sku}: {left} left to pick, got {qty}")
    remaining = qty
    for line in lines:
        step = min(remaining, line.left_to_pick)
        line.picked += step
        remaining -= step
    return lines[0]


def complete_pick(
    assignment: Assignment, items: Mapping[str, StockItem], short_reason: str | None = None
) -> tuple[list[Movement], Rejection | None]:
    """Close the pick; what was not found is rejected back to the hub and its reservation freed."""
    if assignment.status is Status.ACCEPTED:
        _move(assignment, Status.PICKING)
    if assignment.status is not Status.PICKING:
        raise IllegalTransition(
            f"assignment {assignment.assignment_id} is {assignment.status}: there is no pick to complete"
        )
    shorts = {ln.line_id: ln.left_to_pick for ln in assignment.lines if ln.left_to_pick > 0}
    if shorts and not short_reason:
        missing = ", ".join(f"{ln.sku} x{ln.left_to_pick}" for ln in assignment.lines if ln.left_to_pick)
        raise Refused(f"short pick needs a reason: still to pick {missing}")
    moves = []
    for line in assignment.lines:
        short = line.left_to_pick
        if short:
            line.rejected += short
            moves.append(stock.release(items[line.sku], short))
    rejection = _rejection(assignment, shorts, "short_pick") if shorts else None
    if rejection and rejection.whole:
        _move(assignment, Status.REJECTED)
        assignment.reject_reason = f"short_pick: {short_reason}"
    else:
        _move(assignment, Status.PICKED)
    return moves, rejection


def pack(assignment: Assignment, parcels: list[Parcel]) -> None:
    if assignment.kind not in SHIPPING_KINDS:
        raise IllegalTransition(
            f"assignment {assignment.assignment_id} is {assignment.kind}: it is staged for pickup, not packed"
        )
    if not parcels:
        raise InvalidInput("parcels", "at least one parcel")
    _move(assignment, Status.PACKED)
    assignment.parcels = list(parcels)


def ship(assignment: Assignment, items: Mapping[str, StockItem]) -> list[Movement]:
    _move(assignment, Status.SHIPPED)
    return _dispatch(assignment, items)


def _dispatch(assignment: Assignment, items: Mapping[str, StockItem]) -> list[Movement]:
    return [stock.dispatch(items[sku], qty) for sku, qty in _held(assignment).items() if qty]


def make_ready(assignment: Assignment, pickup_code: str, now: datetime) -> None:
    """Stage a click-and-collect order; the code is what the customer will present."""
    if assignment.kind is not AssignmentKind.CLICK_AND_COLLECT:
        raise IllegalTransition(
            f"assignment {assignment.assignment_id} is {assignment.kind}: only click-and-collect is staged for pickup"
        )
    _move(assignment, Status.READY_FOR_PICKUP)
    assignment.pickup_code = pickup_code
    assignment.ready_at = now


def collect(
    assignment: Assignment, items: Mapping[str, StockItem], code: str, id_checked: bool
) -> list[Movement]:
    """Hand over against the pickup code (and an ID check where the order asks for one)."""
    if assignment.status is not Status.READY_FOR_PICKUP:
        _move(assignment, Status.COLLECTED)
    problems = []
    if code.strip().upper() != (assignment.pickup_code or "").upper():
        problems.append("pickup code does not match")
    if assignment.requires_id_check and not id_checked:
        problems.append("this order needs an ID check before hand-over")
    if problems:
        raise Refused(problems)
    _move(assignment, Status.COLLECTED)
    return _dispatch(assignment, items)


def is_expired(assignment: Assignment, now: datetime, expiry_days: int) -> bool:
    return (
        assignment.status is Status.READY_FOR_PICKUP
        and assignment.ready_at is not None
        and now >= assignment.ready_at + timedelta(days=expiry_days)
    )


def expire(assignment: Assignment, items: Mapping[str, StockItem]) -> list[Movement]:
    """Not collected in time: the items go back to available stock."""
    _move(assignment, Status.EXPIRED)
    return _release(assignment, items)


def _release(assignment: Assignment, items: Mapping[str, StockItem]) -> list[Movement]:
    return [stock.release(items[sku], qty) for sku, qty in _held(assignment).items() if qty]


def cancel(assignment: Assignment, items: Mapping[str, StockItem]) -> tuple[bool, list[Movement]]:
    """Apply the hub's cancellation; returns (applied, movements).

    Refused (applied False) when the goods have already left the store: the physical fact
    wins and the order goes to the returns flow. Already finished assignments stay as
    they are, so a re-delivered cancellation changes nothing.
    """
    if assignment.status in LEFT_THE_STORE:
        return False, []
    if assignment.status in TERMINAL:
        return True, []
    held = assignment.status in HOLDING
    _move(assignment, Status.CANCELLED)
    return True, (_release(assignment, items) if held else [])


def at_risk(assignment: Assignment, items: Mapping[str, StockItem]) -> bool:
    """Holding stock the store no longer has (a till sale took it): staff should look."""
    if assignment.status not in HOLDING or assignment.status is Status.READY_FOR_PICKUP:
        return False
    return any(items[ln.sku].short for ln in assignment.lines if ln.left_to_pick > 0 and ln.sku in items)


def deadline_passed(assignment: Assignment, now: datetime) -> bool:
    return assignment.status is Status.ASSIGNED and now > assignment.deadline
