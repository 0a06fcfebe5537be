"""Head-office analytics: fulfilment and stock metrics per store and for the network, from plain facts.

Pure functions over what the hub already records (orders, assignments, the order timeline,
the stores' count events); the service loads the facts, this module does the arithmetic.

The population of a period is **the customer orders received in it** (transfers between
stores are not customer orders), followed to their current state, even past the period's
end; stock counts are those recorded in the period. Only ship-from-store and
click-and-collect assignments count for a store: a store's transfer-out to another store is
not a delivery to a customer. The definitions (also in docs/analytics.md):

- **fill rate (units)**, per store: units the store shipped or handed over ÷ units it answered
  for, over its assignments that reached an end (none in progress). Units it answered for =
  units shipped or handed over + units it rejected or short-picked + units it let expire
  unanswered. An assignment cancelled by the customer or customer service leaves the count
  (except what the store had already rejected). Network: the stores' sums.
- **order fill rate (units)**, network: units shipped or handed over ÷ units ordered, over the
  orders no store is working on any more (no assignment in progress). Backordered and
  cancelled orders count as they stand: the hub cannot tell a change of mind from a customer
  giving up on a late order.
- **re-route rate**, per store: assignments handed back (rejected, short-picked, or unanswered
  by their deadline) ÷ assignments the store was sent. Reasons: one count per hand-back event,
  by its reason (the store's rejection reason, ``short_pick``, or ``unanswered``).
- **lead times**: minutes from the order's receipt at the hub to the store *accepting* it (the
  first of accepted, picking ... shipped, collected: any progress implies acceptance), to
  *ready for pickup* and to *shipped*; one sample per assignment, timed by the store's own
  clock (``store_at``) so that an offline store's work is not stretched by its sync delay.
  Median and p90, interpolated linearly between closest ranks.
- **deadline compliance**, per store: assignments accepted before their deadline ÷ assignments
  decided (accepted, handed back, or whose deadline has passed), timed by the hub's clock:
  the hub re-routes on what it has *heard* before the deadline. ``answered_on_time`` also
  counts a rejection before the deadline (a prompt "no" re-routes as fast as a "yes").
- **kerbside wait**: minutes from the customer's "I'm here" to the handover (collected).
- **stock accuracy**: share of counts with zero variance, and the mean absolute variance (units).
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .orders import OPEN, UNANSWERED

NETWORK = "*"
CUSTOMER_KINDS = frozenset({"ship_from_store", "click_and_collect"})
DONE = frozenset({"shipped", "collected"})
#: timeline kinds that show the store took the assignment on
ACCEPTING = frozenset({"accepted", "picking", "picked", "packed", "ready_for_pickup", "shipped", "collected"})
HAND_BACK = frozenset({"rejected", "short_picked"})
UNANSWERED_REASON = "unanswered"
STEPS = ("accepted", "ready_for_pickup", "shipped")
#: the timeline kinds the metrics read
TIMELINE_KINDS = tuple(sorted(ACCEPTING | HAND_BACK | {"cancellation_sent", "customer_arrived"}))
#: the metric tables, in the order they are shown and exported
TABLES = (
    "fill_rate",
    "order_fill_rate",
    "reroutes",
    "reroute_reasons",
    "lead_times",
    "deadline_compliance",
    "kerbside_wait",
    "stock_accuracy",
)
COLUMNS = {
    "fill_rate": ("store_id", "units_answered", "units_filled", "fill_rate"),
    "order_fill_rate": ("store_id", "orders", "units_ordered", "units_filled", "fill_rate"),
    "reroutes": ("store_id", "assignments", "rerouted", "reroute_rate"),
    "reroute_reasons": ("store_id", "reason", "count"),
    "lead_times": ("store_id", "step", "samples", "median_minutes", "p90_minutes"),
    "deadline_compliance": ("store_id", "assignments", "accepted_on_time", "answered_on_time", "compliance"),
    "kerbside_wait": ("store_id", "handovers", "median_minutes", "p90_minutes"),
    "stock_accuracy": ("store_id", "counts", "exact", "accuracy", "mean_abs_variance"),
}


@dataclass(frozen=True)
class OrderFact:
    order_id: str
    kind: str
    status: str
    received_at: datetime
    units: int


@dataclass(frozen=True)
class AssignmentFact:
    assignment_id: str
    order_id: str
    store_id: str
    kind: str
    status: str
    deadline: datetime
    qty: int
    rejected: int


@dataclass(frozen=True)
class TimelineFact:
    order_id: str
    kind: str
    at: datetime  # when the hub recorded it
    store_id: str | None = None
    assignment_id: str | None = None
    store_at: datetime | None = None  # when the store did it, by its clock
    reason: str | None = None

    @property
    def happened_at(self) -> datetime:
        return self.store_at or self.at


@dataclass(frozen=True)
class CountFact:
    store_id: str
    variance: int


# ------------------------------------------------------------------ arithmetic
def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0..1), linear between closest ranks (numpy's default); None without values."""
    xs = sorted(values)
    if not xs:
        return None
    position = (len(xs) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (xs[high] - xs[low]) * (position - low)


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` to 4 decimals; None when there is nothing to divide."""
    return round(part / whole, 4) if whole else None


def minutes(start: datetime, end: datetime) -> float:
    """Minutes from ``start`` to ``end``; never negative (clocks of stores and hub drift a little)."""
    return max(0.0, (end - start).total_seconds() / 60)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _summary(samples: Sequence[float]) -> dict:
    return {
        "median_minutes": _rounded(percentile(samples, 0.5)),
        "p90_minutes": _rounded(percentile(samples, 0.9)),
    }


# ------------------------------------------------------------------ the report
@dataclass
class _Facts:
    orders: dict[str, OrderFact]
    assignments: list[AssignmentFact]  # customer assignments only
    by_assignment: dict[str, list[TimelineFact]]
    by_order: dict[str, list[TimelineFact]]


def _index(
    orders: Iterable[OrderFact], assignments: Iterable[AssignmentFact], events: Iterable[TimelineFact]
) -> _Facts:
    by_assignment: dict[str, list[TimelineFact]] = defaultdict(list)
    by_order: dict[str, list[TimelineFact]] = defaultdict(list)
    for event in events:
        if event.assignment_id:
            by_assignment[event.assignment_id].append(event)
        by_order[event.order_id].append(event)
    return _Facts(
        orders={o.order_id: o for o in orders},
        assignments=[a for a in assignments if a.kind in CUSTOMER_KINDS],
        by_assignment=by_assignment,
        by_order=by_order,
    )


def _expired(events: list[TimelineFact]) -> bool:
    return any(e.kind == "cancellation_sent" and e.reason == UNANSWERED_REASON for e in events)


def _first(events: list[TimelineFact], kinds: frozenset[str], store_clock: bool = False) -> datetime | None:
    """When the first of ``kinds`` happened: by the hub's clock, or the store's when it gave one."""
    times = [e.happened_at if store_clock else e.at for e in events if e.kind in kinds]
    return min(times) if times else None


def report(
    store_ids: Iterable[str],
    orders: Iterable[OrderFact],
    assignments: Iterable[AssignmentFact],
    events: Iterable[TimelineFact],
    counts: Iterable[CountFact],
    now: datetime,
) -> dict[str, list[dict]]:
    """Every metric table: a row per store (every store of ``store_ids``, with or without data), then
    the network's row (``store_id == "*"``); ``order_fill_rate`` has the network's row only."""
    facts = _index(orders, assignments, events)
    counts = list(counts)
    stores = sorted(
        set(store_ids) | {a.store_id for a in facts.assignments} | {c.store_id for c in counts}
    )
    return {
        "fill_rate": _fill_rate(facts, stores),
        "order_fill_rate": [_order_fill_rate(facts)],
        "reroutes": _reroutes(facts, stores),
        "reroute_reasons": _reroute_reasons(facts, stores),
        "lead_times": _lead_times(facts, stores),
        "deadline_compliance": _deadline_compliance(facts, stores, now),
        "kerbside_wait": _kerbside_wait(facts, stores),
        "stock_accuracy": _stock_accuracy(counts, stores),
    }


def _per_store(stores: list[str], totals: dict[str, list[int]], width: int) -> list[tuple[str, list[int]]]:
    """Each store's integer totals, then the network's sums."""
    rows = [(s, totals.get(s, [0] * width)) for s in stores]
    network = [sum(values[i] for _, values in rows) for i in range(width)]
    return [*rows, (NETWORK, network)]


def _fill_rate(facts: _Facts, stores: list[str]) -> list[dict]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # answered, filled
    for a in facts.assignments:
        if a.status in OPEN:
            continue  # still in progress
        filled = a.qty - a.rejected if a.status in DONE else 0
        refused = a.rejected
        if a.status not in DONE and _expired(facts.by_assignment.get(a.assignment_id, [])):
            refused += a.qty - a.rejected
        totals[a.store_id][0] += filled + refused
        totals[a.store_id][1] += filled
    return [
        {"store_id": s, "units_answered": answered, "units_filled": filled, "fill_rate": ratio(filled, answered)}
        for s, (answered, filled) in _per_store(stores, totals, 2)
    ]


def _order_fill_rate(facts: _Facts) -> dict:
    by_order: dict[str, list[AssignmentFact]] = defaultdict(list)
    for a in facts.assignments:
        by_order[a.order_id].append(a)
    in_progress = {a.order_id for a in facts.assignments if a.status in OPEN}
    orders = ordered = filled = 0
    for order in facts.orders.values():
        if order.kind not in CUSTOMER_KINDS or order.order_id in in_progress:
            continue
        if order.status in ("received", "rerouting"):
            continue  # not routed yet, or being routed again right now
        shipped = sum(a.qty - a.rejected for a in by_order[order.order_id] if a.status in DONE)
        orders += 1
        ordered += order.units
        filled += min(shipped, order.units)
    return {
        "store_id": NETWORK,
        "orders": orders,
        "units_ordered": ordered,
        "units_filled": filled,
        "fill_rate": ratio(filled, ordered),
    }


def _hand_backs(facts: _Facts, a: AssignmentFact) -> list[str]:
    """The reason of each time this assignment was handed back for re-routing."""
    reasons = []
    for e in facts.by_assignment.get(a.assignment_id, []):
        if e.kind == "short_picked":
            reasons.append(e.reason or "short_pick")
        elif e.kind == "rejected":
            reasons.append(e.reason or "other")
        elif e.kind == "cancellation_sent" and e.reason == UNANSWERED_REASON:
            reasons.append(UNANSWERED_REASON)
    return reasons


def _reroutes(facts: _Facts, stores: list[str]) -> list[dict]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # assignments, rerouted
    for a in facts.assignments:
        totals[a.store_id][0] += 1
        totals[a.store_id][1] += 1 if _hand_backs(facts, a) else 0
    return [
        {"store_id": s, "assignments": n, "rerouted": rerouted, "reroute_rate": ratio(rerouted, n)}
        for s, (n, rerouted) in _per_store(stores, totals, 2)
    ]


def _reroute_reasons(facts: _Facts, stores: list[str]) -> list[dict]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for a in facts.assignments:
        for reason in _hand_backs(facts, a):
            counts[(a.store_id, reason)] += 1
            counts[(NETWORK, reason)] += 1
    order = {s: i for i, s in enumerate([*stores, NETWORK])}
    return [
        {"store_id": s, "reason": reason, "count": n}
        for (s, reason), n in sorted(counts.items(), key=lambda kv: (order.get(kv[0][0], -1), -kv[1], kv[0][1]))
    ]


def _lead_times(facts: _Facts, stores: list[str]) -> list[dict]:
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    step_kinds = {"accepted": ACCEPTING, "ready_for_pickup": frozenset({"ready_for_pickup"}),
                  "shipped": frozenset({"shipped"})}  # fmt: skip
    for a in facts.assignments:
        order = facts.orders.get(a.order_id)
        if order is None:
            continue
        events = facts.by_assignment.get(a.assignment_id, [])
        for step in STEPS:
            reached = _first(events, step_kinds[step], store_clock=True)
            if reached is not None:
                value = minutes(order.received_at, reached)
                samples[(a.store_id, step)].append(value)
                samples[(NETWORK, step)].append(value)
    return [
        {"store_id": s, "step": step, "samples": len(samples.get((s, step), [])),
         **_summary(samples.get((s, step), []))}
        for s in [*stores, NETWORK]
        for step in STEPS
    ]  # fmt: skip


def _deadline_compliance(facts: _Facts, stores: list[str], now: datetime) -> list[dict]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # decided, accepted on time, answered on time
    for a in facts.assignments:
        if a.status == "awaiting_transfer":
            continue  # not sent to the store yet: its clock has not started
        events = facts.by_assignment.get(a.assignment_id, [])
        accepted_at = _first(events, ACCEPTING)
        handed_back_at = _first(events, HAND_BACK)
        answers = [t for t in (accepted_at, handed_back_at) if t is not None]
        answered_at = min(answers) if answers else None
        overdue = a.status in UNANSWERED and a.deadline <= now
        if answered_at is None and not _expired(events) and not overdue:
            continue  # still has time, or cancelled by the customer before any answer
        row = totals[a.store_id]
        row[0] += 1
        row[1] += 1 if accepted_at is not None and accepted_at <= a.deadline else 0
        row[2] += 1 if answered_at is not None and answered_at <= a.deadline else 0
    return [
        {"store_id": s, "assignments": n, "accepted_on_time": on_time, "answered_on_time": answered,
         "compliance": ratio(on_time, n)}
        for s, (n, on_time, answered) in _per_store(stores, totals, 3)
    ]  # fmt: skip


def _kerbside_wait(facts: _Facts, stores: list[str]) -> list[dict]:
    samples: dict[str, list[float]] = defaultdict(list)
    for events in facts.by_order.values():
        arrivals = [e for e in events if e.kind == "customer_arrived"]
        if not arrivals:
            continue
        arrival = min(arrivals, key=lambda e: e.at)
        handed = [e for e in events if e.kind == "collected" and e.at >= arrival.at]
        if not handed:
            continue
        collected = min(handed, key=lambda e: e.at)
        store = arrival.store_id or collected.store_id or ""
        wait = minutes(arrival.at, collected.happened_at)
        samples[store].append(wait)
        samples[NETWORK].append(wait)
    return [
        {"store_id": s, "handovers": len(samples.get(s, [])), **_summary(samples.get(s, []))}
        for s in [*stores, NETWORK]
    ]


def _stock_accuracy(counts: list[CountFact], stores: list[str]) -> list[dict]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # counts, exact, sum of |variance|
    for c in counts:
        row = totals[c.store_id]
        row[0] += 1
        row[1] += 1 if c.variance == 0 else 0
        row[2] += abs(c.variance)
    return [
        {"store_id": s, "counts": n, "exact": exact, "accuracy": ratio(exact, n),
         "mean_abs_variance": round(absolute / n, 2) if n else None}
        for s, (n, exact, absolute) in _per_store(stores, totals, 3)
    ]  # fmt: skip
