"""Routing orders to stores, sending assignments through the feed, and re-routing what comes back.

The router itself is a pure function of the domain (``Router``); this module builds its
inputs from the database (available to promise, store candidates), persists each decision
with its reasons, and turns allocations into assignments in the stores' feeds, all in one
transaction. Swapping the rule-based router for an optimiser touches nothing here.
"""

from collections import defaultdict
from datetime import datetime, timedelta

import orjson

from shared.clock import from_iso, to_iso, utc_now
from shared.database import dumps
from shared.ids import prefixed_id
from shared.wire import MessageKind

from ..domain.orders import AWAITING_TRANSFER, CANCEL_REQUESTED, PENDING
from ..domain.routing import (
    FULFIL,
    TRANSFER_PREFIX,
    NearestStoreRouter,
    OrderKind,
    OrderLine,
    OrderToRoute,
    Router,
    RoutingDecision,
    StoreCandidate,
)
from ..store import HubDatabase, HubTx
from .orders import refresh_order_status

ROUTABLE = frozenset(kind.value for kind in OrderKind)  # transfers are placed by head office, not routed
DEFAULTS = {"fresh_seconds": "120", "accept_minutes": "30", "transfer_accept_hours": "48"}


def setting(tx: HubTx, key: str) -> int:
    return int(tx.setting(key, DEFAULTS[key]))


def available_to_promise(tx: HubTx, skus: set[str]) -> dict[tuple[str, str], int]:
    """On hand − reserved − safety stock − routed quantities the store has not yet answered."""
    if not skus:
        return {}
    safety = tx.safety_stock()
    unanswered = tx.unanswered_qty(skus)
    atp = {}
    for row in tx.levels(skus):
        store, sku = row["store_id"], row["sku"]
        keep = safety.get((store, sku), safety.get((store, "*"), safety.get(("*", sku), safety.get(("*", "*"), 0))))
        free = row["on_hand"] - row["reserved"] - keep - unanswered.get((store, sku), 0)
        if free > 0:
            atp[(store, sku)] = free
    return atp


def store_candidates(tx: HubTx, now: datetime) -> list[StoreCandidate]:
    fresh_after = to_iso(now - timedelta(seconds=setting(tx, "fresh_seconds")))
    used = tx.assignments_today(now.strftime("%Y-%m-%d"))
    candidates = []
    for s in tx.stores():
        kinds = set()
        if s["ship_from_store"]:
            kinds.add(OrderKind.SHIP_FROM_STORE)
        if s["click_and_collect"]:
            kinds.add(OrderKind.CLICK_AND_COLLECT)
        candidates.append(
            StoreCandidate(
                store_id=s["store_id"],
                lat=s["lat"],
                lon=s["lon"],
                kinds=frozenset(kinds),
                capacity_left=max(0, s["daily_capacity"] - used.get(s["store_id"], 0)),
                fresh=bool(s["last_seen_at"]) and s["last_seen_at"] >= fresh_after,
            )
        )
    return candidates


def route_pending(
    db: HubDatabase,
    router: Router | None = None,
    now: datetime | None = None,
    include_backorders: bool = False,
    limit: int = 500,
) -> list[RoutingDecision]:
    """Route every order waiting for it (new, re-routed, and backorders when asked)."""
    router = router or NearestStoreRouter()
    moment = now or utc_now()
    at = to_iso(moment)
    with db.transaction() as tx:
        orders = tx.orders_to_route(limit, include_backorders)
        if not orders:
            return []
        lines = {o["order_id"]: [ln for ln in tx.order_lines(o["order_id"]) if ln["unallocated"] > 0] for o in orders}
        excluded = defaultdict(set)
        for row in tx.exclusions(lines):
            excluded[row["order_id"]].add((row["store_id"], row["line_id"]))
        to_route = [
            OrderToRoute(
                order_id=o["order_id"],
                kind=OrderKind(o["kind"]),
                lines=tuple(OrderLine(ln["line_id"], ln["sku"], ln["unallocated"]) for ln in lines[o["order_id"]]),
                lat=o["lat"],
                lon=o["lon"],
                pickup_store_id=o["pickup_store_id"],
                excluded=frozenset(excluded[o["order_id"]]),
            )
            for o in orders
            if lines[o["order_id"]] and o["kind"] in ROUTABLE
        ]
        skus = {ln.sku for order in to_route for ln in order.lines}
        decisions = router.route(to_route, available_to_promise(tx, skus), store_candidates(tx, moment))
        by_id = {o["order_id"]: o for o in orders}
        for decision in decisions:
            _persist(tx, by_id[decision.order_id], decision, moment, at)
        for o in orders:
            tx.set_order(o["order_id"], at, needs_routing=0)
            refresh_order_status(tx, o["order_id"], at)
    return decisions


def _persist(tx: HubTx, order, decision: RoutingDecision, moment: datetime, at: str) -> None:
    first_time = order["needs_routing"] == 1
    if not decision.allocations and not first_time:
        return  # a backorder still waiting: nothing changed, nothing to record
    tx.record_decision(
        order["order_id"],
        at,
        [
            {"store_id": a.store_id, "line_id": a.line_id, "sku": a.sku, "qty": a.qty, "purpose": a.purpose}
            for a in decision.allocations
        ],
        [{"line_id": u.line_id, "sku": u.sku, "qty": u.qty} for u in decision.unfilled],
        list(decision.reasons),
    )
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for a in decision.allocations:
        groups[(a.store_id, a.purpose)].append(a)
        if a.purpose == FULFIL:
            tx.add_unallocated(order["order_id"], a.line_id, -a.qty)
    transfers = {}
    for (store_id, purpose), allocs in groups.items():
        if purpose.startswith(TRANSFER_PREFIX):
            transfers[store_id] = create_assignment(
                tx,
                order,
                store_id,
                "transfer_out",
                allocs,
                moment,
                at,
                destination=purpose[len(TRANSFER_PREFIX) :],
            )
    for (store_id, purpose), allocs in groups.items():
        if purpose == FULFIL:
            waiting_for = next(iter(transfers.values()), None)
            create_assignment(tx, order, store_id, order["kind"], allocs, moment, at, waiting_for=waiting_for)
    event = "routed" if decision.allocations else "backordered"
    tx.timeline(
        order["order_id"],
        at,
        event,
        None,
        {
            "reasons": list(decision.reasons),
            "stores": sorted({a.store_id for a in decision.allocations}),
            "unfilled": [{"sku": u.sku, "qty": u.qty} for u in decision.unfilled],
        },
    )


def create_assignment(
    tx: HubTx,
    order,
    store_id: str,
    kind: str,
    allocs: list,
    moment: datetime,
    at: str,
    destination: str | None = None,
    waiting_for: str | None = None,
) -> str:
    """Create one store's assignment for ``allocs``; sent at once unless it waits for a transfer."""
    assignment_id = prefixed_id(store_id)
    hours = setting(tx, "transfer_accept_hours") if kind == "transfer_out" else 0
    deadline = moment + timedelta(minutes=setting(tx, "accept_minutes"), hours=hours)
    tx.insert_assignment(
        {
            "assignment_id": assignment_id,
            "order_id": order["order_id"],
            "store_id": store_id,
            "kind": kind,
            "status": AWAITING_TRANSFER if waiting_for else PENDING,
            "deadline": to_iso(deadline),
            "destination_store_id": destination,
            "created_at": at,
            "day": moment.strftime("%Y-%m-%d"),
        },
        [(a.line_id, a.sku, a.qty) for a in allocs],
    )
    if waiting_for:
        tx.set_assignment(assignment_id, at, detail=dumps({"transfer_assignment_id": waiting_for}))
    else:
        send_assignment(tx, assignment_id, at)
    return assignment_id


def send_assignment(tx: HubTx, assignment_id: str, at: str) -> None:
    """Put the assignment in its store's feed (it then counts against that store's ATP)."""
    a = tx.assignment(assignment_id)
    order = tx.order(a["order_id"])
    deadline = a["deadline"]
    if a["status"] == AWAITING_TRANSFER:
        deadline = to_iso(from_iso(at) + timedelta(hours=setting(tx, "transfer_accept_hours")))
    customer = orjson.loads(order["customer"])
    payload = {
        "assignment_id": assignment_id,
        "order_id": a["order_id"],
        "kind": a["kind"],
        "deadline": deadline,
        "customer_name": customer.get("name", ""),
        "requires_id_check": bool(order["requires_id_check"]),
        "destination_store_id": a["destination_store_id"],
        "ship_to": orjson.loads(order["ship_to"]) if order["ship_to"] else None,
        "lines": [
            {"line_id": ln["line_id"], "sku": ln["sku"], "qty": ln["qty"]} for ln in tx.assignment_lines(assignment_id)
        ],
    }
    seq = tx.append_feed(a["store_id"], MessageKind.ASSIGNMENT, at, payload)
    tx.set_assignment(assignment_id, at, status=PENDING, feed_seq=seq, deadline=deadline)
    tx.timeline(
        a["order_id"],
        at,
        "assigned",
        a["store_id"],
        {"assignment_id": assignment_id, "kind": a["kind"], "deadline": deadline},
    )


def abandon_transfer(tx: HubTx, transfer, lines: list[dict], reason: str, at: str) -> None:
    """A source will not send (all or part of) a transfer.

    For click-and-collect, the pickup store's held assignment waited on it: it is dropped and
    its quantities routed again, never to this source for those lines. A transfer head office
    asked for is not re-routed: head office sees the rejection and decides.
    """
    order_id = transfer["order_id"]
    for line in lines:
        tx.add_rejected(transfer["assignment_id"], line["line_id"], line["qty"])
        tx.exclude(order_id, line["line_id"], transfer["store_id"], reason)
    for held in tx.assignments_awaiting(transfer["assignment_id"]):
        if held["status"] != AWAITING_TRANSFER:
            continue
        tx.set_assignment(held["assignment_id"], at, status="cancelled")
        for line in tx.assignment_lines(held["assignment_id"]):
            tx.add_unallocated(order_id, line["line_id"], line["qty"] - line["rejected"])
        tx.set_order(order_id, at, needs_routing=1)


def cancel_assignment(tx: HubTx, assignment, reason: str, at: str, reroute: bool) -> None:
    """Ask the store to cancel; with ``reroute`` its unfilled quantities go back to routing."""
    tx.set_assignment(assignment["assignment_id"], at, status=CANCEL_REQUESTED)
    tx.append_feed(
        assignment["store_id"],
        MessageKind.CANCELLATION,
        at,
        {"assignment_id": assignment["assignment_id"], "reason": reason},
    )
    if reroute:
        for line in tx.assignment_lines(assignment["assignment_id"]):
            left = line["qty"] - line["rejected"]
            if left > 0:
                tx.add_unallocated(assignment["order_id"], line["line_id"], left)
            tx.exclude(assignment["order_id"], line["line_id"], assignment["store_id"], reason)
        tx.set_order(assignment["order_id"], at, needs_routing=1)
    tx.timeline(
        assignment["order_id"],
        at,
        "cancellation_sent",
        assignment["store_id"],
        {"assignment_id": assignment["assignment_id"], "reason": reason},
    )


def expire_unanswered(db: HubDatabase, now: datetime | None = None) -> list[str]:
    """Assignments not accepted before their deadline: cancel at that store, route elsewhere."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        overdue = tx.overdue_assignments(at)
        for a in overdue:
            if a["kind"] == "transfer_out":
                cancel_assignment(tx, a, "unanswered", at, reroute=False)
                lines = [
                    {"line_id": ln["line_id"], "qty": ln["qty"] - ln["rejected"]}
                    for ln in tx.assignment_lines(a["assignment_id"])
                ]
                abandon_transfer(tx, a, lines, "unanswered", at)
            else:
                cancel_assignment(tx, a, "unanswered", at, reroute=True)
            refresh_order_status(tx, a["order_id"], at)
    return [a["assignment_id"] for a in overdue]

