"""The customer's view of an order, reached by its unguessable link: progress, pickup store, pickup code."""

from shared.errors import NotFound

from ..store import HubDatabase
from . import orders

#: timeline events a customer is shown: the order's own steps (which store did what is the network's business)
CUSTOMER_EVENTS = frozenset({"received", "status", "cancelled", "customer_arrived"})
#: order statuses in which the customer can say "I'm here"
KERBSIDE_STATUSES = frozenset({"ready_for_pickup"})


def order_for_customer(db: HubDatabase, token: str) -> dict:
    """What the customer page shows; raises NotFound for an unknown link."""
    view = orders.order_view(db, token=token)
    if view["kind"] == "transfer":
        raise NotFound("no order for this link")  # a transfer between stores has no customer
    r = db.reader()
    products = {p["sku"]: p for p in r.products({ln["sku"] for ln in view["lines"]})}
    store = r.store(view["pickup_store_id"]) if view["pickup_store_id"] else None
    ready = [
        a
        for a in view["assignments"]
        if a["kind"] == "click_and_collect" and a["status"] == "ready_for_pickup" and a["pickup_code"]
    ]
    timeline: list[dict] = []
    for event in view["timeline"]:
        if event["kind"] not in CUSTOMER_EVENTS:
            continue
        what = event["detail"].get("status") if event["kind"] == "status" else event["kind"]
        if timeline and timeline[-1]["what"] == what:
            continue  # the same news twice (the cancellation and its status): said once
        timeline.append({"at": event["at"], "what": what})
    arrived = [e for e in view["timeline"] if e["kind"] == "customer_arrived"]
    return {
        "order_id": view["order_id"],
        "channel_order_id": view["channel_order_id"],
        "kind": view["kind"],
        "status": view["status"],
        "customer_name": view["customer"].get("name", ""),
        "created_at": view["created_at"],
        "lines": [
            {**ln, "name": products[ln["sku"]]["name"] if ln["sku"] in products else ln["sku"]} for ln in view["lines"]
        ],
        "pickup_store": (
            {
                "store_id": store["store_id"],
                "name": store["name"],
                "address": store["address"],
                "postal_code": store["postal_code"],
                "city": store["city"],
                "opening_hours": store["opening_hours"],
            }
            if store
            else None
        ),
        "pickup_codes": sorted({a["pickup_code"] for a in ready}),
        "can_announce": view["kind"] == "click_and_collect" and view["status"] in KERBSIDE_STATUSES,
        "arrived_at": arrived[-1]["at"] if arrived else None,
        "timeline": timeline,
    }
