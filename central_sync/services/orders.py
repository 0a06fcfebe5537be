"""Orders from sales channels: intake (idempotent by the channel's id), status and timeline."""

import secrets
from dataclasses import dataclass
from datetime import datetime

import orjson

from shared.clock import to_iso, utc_now
from shared.database import dumps
from shared.errors import InvalidInput, NotFound, Refused
from shared.ids import prefixed_id
from shared.wire import MessageKind

from ..domain.orders import AssignmentState, order_status
from ..store import HubDatabase, HubTx


@dataclass(frozen=True)
class NewOrder:
    channel: str
    channel_order_id: str
    kind: str  # ship_from_store | click_and_collect
    lines: list[tuple[str, int]]  # (sku, qty)
    customer: dict
    lat: float | None = None
    lon: float | None = None
    postal_code: str | None = None
    pickup_store_id: str | None = None
    requested_date: str | None = None
    requires_id_check: bool = False
    ship_to: dict | None = None


def place_order(db: HubDatabase, new: NewOrder, now: datetime | None = None) -> tuple[str, bool]:
    """Record an order; returns (order_id, created). A retried post returns the first order."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        existing = tx.order_by_channel(new.channel, new.channel_order_id)
        if existing is not None:
            return existing["order_id"], False
        lat, lon = _destination(tx, new)
        order_id = prefixed_id(new.channel.upper()[:8])
        tx.insert_order(
            {
                "order_id": order_id,
                "channel": new.channel,
                "channel_order_id": new.channel_order_id,
                "kind": new.kind,
                "status": "received",
                "customer": dumps(new.customer),
                "lat": lat,
                "lon": lon,
                "pickup_store_id": new.pickup_store_id,
                "requested_date": new.requested_date,
                "requires_id_check": int(new.requires_id_check),
                "ship_to": dumps(new.ship_to) if new.ship_to else None,
                "public_token": secrets.token_urlsafe(24),
                "created_at": at,
            },
            [(str(n + 1), sku, qty) for n, (sku, qty) in enumerate(new.lines)],
        )
        tx.timeline(
            order_id, at, "received", None, {"channel": new.channel, "channel_order_id": new.channel_order_id}
        )
    return order_id, True


def _destination(tx: HubTx, new: NewOrder) -> tuple[float, float]:
    """Check what only the database can tell, reporting every problem at once."""
    problems: list[tuple[str, str]] = []
    unknown = sorted({sku for sku, _ in new.lines} - tx.known_skus(sku for sku, _ in new.lines))
    for sku in unknown:
        index = next(i for i, (s, _) in enumerate(new.lines) if s == sku)
        problems.append((f"lines[{index}].sku", f"unknown SKU {sku!r}"))
    lat, lon = new.lat, new.lon
    if new.kind == "click_and_collect":
        store = tx.store(new.pickup_store_id or "")
        if store is None:
            problems.append(("pickup_store_id", f"unknown store {new.pickup_store_id!r}"))
        elif not store["click_and_collect"]:
            problems.append(("pickup_store_id", f"store {store['store_id']} does not do click and collect"))
        else:
            lat, lon = store["lat"], store["lon"]
    elif lat is None or lon is None:
        row = tx.postal_code(new.postal_code or "") if new.postal_code else None
        if row is None:
            field = "destination.postal_code" if new.postal_code else "destination"
            problems.append(
                (
                    field,
                    f"unknown postal code {new.postal_code!r}"
                    if new.postal_code
                    else "give coordinates or a postal code",
                )
            )
        else:
            lat, lon = row["lat"], row["lon"]
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])
    return float(lat), float(lon)  # type: ignore[arg-type]


def refresh_order_status(tx: HubTx, order_id: str, at: str) -> str:
    order = tx.order(order_id)
    if order["status"] == "cancelled":
        return "cancelled"
    unallocated = sum(r["unallocated"] for r in tx.order_lines(order_id))
    states = [AssignmentState(a["kind"], a["status"]) for a in tx.order_assignments(order_id)]
    status = order_status(order["kind"], states, unallocated)
    if status == "backordered" and order["needs_routing"]:
        status = "rerouting"  # a store handed it back; routing runs right after this commit
    if status != order["status"]:
        tx.set_order(order_id, at, status=status)
        tx.timeline(order_id, at, "status", None, {"status": status})
    return status


def order_view(db: HubDatabase, order_id: str | None = None, token: str | None = None) -> dict:
    """An order with its lines, assignments, routing decisions and full timeline."""
    r = db.reader()
    order = r.order(order_id) if order_id else r.order_by_token(token or "")
    if order is None:
        raise NotFound(f"no order {order_id or 'for this link'}")
    oid = order["order_id"]
    assignments = []
    for a in r.order_assignments(oid):
        assignments.append(
            {
                "assignment_id": a["assignment_id"],
                "store_id": a["store_id"],
                "kind": a["kind"],
                "status": a["status"],
                "deadline": a["deadline"],
                "pickup_code": a["pickup_code"],
                "destination_store_id": a["destination_store_id"],
                "lines": [
                    {"line_id": ln["line_id"], "sku": ln["sku"], "qty": ln["qty"], "rejected": ln["rejected"]}
                    for ln in r.assignment_lines(a["assignment_id"])
                ],
            }
        )
    return {
        "order_id": oid,
        "channel": order["channel"],
        "channel_order_id": order["channel_order_id"],
        "kind": order["kind"],
        "status": order["status"],
        "customer": orjson.loads(order["customer"]),
        "destination": {"lat": order["lat"], "lon": order["lon"]},
        "pickup_store_id": order["pickup_store_id"],
        "requested_date": order["requested_date"],
        "public_token": order["public_token"],
        "created_at": order["created_at"],
        "lines": [
            {"line_id": ln["line_id"], "sku": ln["sku"], "qty": ln["qty"], "unallocated": ln["unallocated"]}
            for ln in r.order_lines(oid)
        ],
        "assignments": assignments,
        "decisions": r.decisions(oid),
        "timeline": r.order_timeline(oid),
    }


def announce_arrival(db: HubDatabase, token: str, note: str, now: datetime | None = None) -> dict:
    """The customer is outside: tell the store holding the order ready for pickup."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        order = tx.order_by_token(token)
        if order is None:
            raise NotFound("no order for this link")
        ready = [a for a in tx.order_assignments(order["order_id"]) if a["status"] == "ready_for_pickup"]
        if not ready:
            raise Refused("the order is not ready for pickup yet")
        for a in ready:
            tx.append_feed(
                a["store_id"],
                MessageKind.KERBSIDE_ARRIVAL,
                at,
                {"assignment_id": a["assignment_id"], "order_id": order["order_id"], "note": note},
            )
        tx.timeline(order["order_id"], at, "customer_arrived", ready[0]["store_id"], {"note": note})
    return {"order_id": order["order_id"], "announced_to": sorted({a["store_id"] for a in ready})}
