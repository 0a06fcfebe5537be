"""Head office through the console: the read models of its screens and its changes, each one audited.

Every change made here writes its audit-trail row in the same transaction as the change itself,
so the trail cannot miss a change nor record one that did not happen. Checks that only the
database can make (a known store, a known SKU) name the form field they concern.
"""

from datetime import datetime

import orjson

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput, NotFound, Refused
from shared.wire import MessageKind

from ..domain.orders import OPEN
from ..store import HubDatabase
from . import network, orders, routing

ROUTING_SETTINGS = ("fresh_seconds", "accept_minutes", "transfer_accept_hours")
STORE_SETTINGS = ("ship_from_store", "click_and_collect", "daily_capacity", "opening_hours")
#: an order in one of these has nothing left that a cancellation could stop
NOT_CANCELLABLE = frozenset({"cancelled", "shipped", "collected"})


# ------------------------------------------------------------------ read models
def dashboard(db: HubDatabase, now: datetime | None = None) -> dict:
    """Every store's health and the network's totals."""
    stores = network.store_health(db, now)
    return {
        "stores": stores,
        "online": sum(1 for s in stores if s["online"]),
        "backlog": sum(s["outbox_depth"] for s in stores),
        "feed_lag": sum(s["feed_lag"] for s in stores),
        "late": sum(s["late_assignments"] for s in stores),
    }


def stock(db: HubDatabase, q: str, now: datetime | None = None, limit: int = 20) -> list[dict]:
    """Network stock of the SKUs matching ``q``, with a row for every store (none reported: no row data)."""
    items = network.stock_view(db, q, now, limit)
    r = db.reader()
    stores = {s["store_id"]: s for s in r.stores()}
    products = {p["sku"]: p for p in r.products([i["sku"] for i in items])} if items else {}
    for item in items:
        held = {row["store_id"] for row in item["stores"]}
        for row in item["stores"]:
            row["store_name"] = stores[row["store_id"]]["name"] if row["store_id"] in stores else row["store_id"]
            row["reported"] = True
        for store_id in sorted(set(stores) - held):
            item["stores"].append(
                {
                    "store_id": store_id,
                    "store_name": stores[store_id]["name"],
                    "reported": False,
                    "on_hand": 0,
                    "reserved": 0,
                    "available_to_promise": 0,
                    "updated_at": None,
                    "fresh": False,
                }
            )
        item["stores"].sort(key=lambda row: row["store_id"])
        item["barcodes"] = products.get(item["sku"], {}).get("barcodes", [])
    return items


def search_orders(db: HubDatabase, q: str, limit: int = 50) -> list[dict]:
    """Orders whose id, channel, channel order id or customer contains ``q``; newest first."""
    return [
        {
            "order_id": r["order_id"],
            "channel": r["channel"],
            "channel_order_id": r["channel_order_id"],
            "kind": r["kind"],
            "status": r["status"],
            "customer": orjson.loads(r["customer"]),
            "pickup_store_id": r["pickup_store_id"],
            "created_at": r["created_at"],
        }
        for r in db.reader().search_orders(q.strip(), limit)
    ]


def order(db: HubDatabase, order_id: str) -> dict:
    """The order with everything customer service needs: products and stores by name, what can be done."""
    view = orders.order_view(db, order_id)
    r = db.reader()
    skus = {ln["sku"] for ln in view["lines"]}
    view["products"] = {p["sku"]: p for p in r.products(skus)}
    view["store_names"] = {s["store_id"]: s["name"] for s in r.stores()}
    view["cancellable"] = view["kind"] != "transfer" and view["status"] not in NOT_CANCELLABLE
    view["audit"] = r.audit_trail(50, target=order_id)
    return view


def stores_and_settings(db: HubDatabase) -> dict:
    r = db.reader()
    return {
        "stores": network.store_health(db),
        "settings": {key: routing.setting(r, key) for key in ROUTING_SETTINGS},
        "safety_stock": [dict(row) for row in r.safety_stock_rules()],
    }


def audit_trail(db: HubDatabase, limit: int = 200) -> list[dict]:
    return db.reader().audit_trail(limit)


# ------------------------------------------------------------------ changes, audited
def update_store(db: HubDatabase, actor: str, store_id: str, changes: dict, now: datetime | None = None) -> dict:
    """Change a store's capabilities, capacity or opening hours; the store gets them through its feed.

    Answers the fields that actually changed (nothing changed: nothing written, nothing audited).
    """
    unknown = sorted(set(changes) - set(STORE_SETTINGS))
    if unknown:
        raise InvalidInput(unknown[0], "not a store setting")
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        row = tx.store(store_id)
        if row is None:
            raise NotFound(f"no store {store_id!r}")
        values = {k: int(v) if isinstance(v, bool) else v for k, v in changes.items()}
        changed = {k: v for k, v in values.items() if row[k] != v}
        if not changed:
            return {}
        tx.upsert_store({**dict(row), **changed})
        for key, value in changed.items():
            tx.append_feed(store_id, MessageKind.SETTING, at, {"key": key, "value": value})
        tx.add_audit(
            at,
            actor,
            "store.settings",
            store_id,
            {"before": {k: row[k] for k in changed}, "after": changed},
        )
    return changed


def set_safety_stock(
    db: HubDatabase, actor: str, store_id: str, sku: str, qty: int, now: datetime | None = None
) -> None:
    """Units kept back from promises: for a store (or '*': every store) and a SKU (or '*': every SKU)."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        problems = []
        if store_id != "*" and tx.store(store_id) is None:
            problems.append(("store_id", f"unknown store {store_id!r}"))
        if sku != "*" and not tx.known_skus([sku]):
            problems.append(("sku", f"unknown SKU {sku!r}"))
        if problems:
            raise InvalidInput(*problems[0], *problems[1:])
        before = tx.safety_stock().get((store_id, sku))
        tx.set_safety_stock(store_id, sku, qty)
        detail = {"store_id": store_id, "sku": sku, "before": before, "after": qty}
        tx.add_audit(at, actor, "safety_stock.set", f"{store_id}/{sku}", detail)


def change_setting(db: HubDatabase, actor: str, key: str, value: int, now: datetime | None = None) -> bool:
    """Change a routing setting; answers whether it changed."""
    if key not in ROUTING_SETTINGS:
        raise InvalidInput("key", f"one of {', '.join(ROUTING_SETTINGS)}")
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        before = routing.setting(tx, key)
        if before == value:
            return False
        tx.set_setting(key, str(value))
        tx.add_audit(at, actor, "setting.changed", key, {"before": before, "after": value})
    return True


def cancel_order(db: HubDatabase, actor: str, order_id: str, reason: str, now: datetime | None = None) -> None:
    """Cancel an order for customer service: each store holding part of it gets a cancellation.

    The audit row is written in the same transaction; an order whose goods have all left
    (shipped, collected) or that is already cancelled is refused.
    """
    at = to_iso(now or utc_now())
    reason = reason.strip() or "cancelled by customer service"
    with db.transaction() as tx:
        row = tx.order(order_id)
        if row is None:
            raise NotFound(f"no order {order_id!r}")
        if row["kind"] == "transfer":
            raise Refused("a transfer between stores is not cancelled as a customer order")
        if row["status"] in NOT_CANCELLABLE:
            raise Refused(f"the order is {row['status']}: there is nothing left to cancel")
        for a in tx.order_assignments(order_id):
            if a["status"] in OPEN:
                routing.cancel_assignment(tx, a, reason, at, reroute=False)
        for line in tx.order_lines(order_id):
            tx.add_unallocated(order_id, line["line_id"], -line["unallocated"])
        tx.set_order(order_id, at, status="cancelled", needs_routing=0)
        tx.timeline(order_id, at, "cancelled", None, {"reason": reason, "by": actor})
        tx.add_audit(at, actor, "order.cancelled", order_id, {"reason": reason, "status_before": row["status"]})
