"""Read models for head office: the network stock view and the health of every store."""

from datetime import datetime, timedelta

from shared.clock import from_iso, to_iso, utc_now

from ..store import HubDatabase
from .routing import available_to_promise, setting


def stock_view(db: HubDatabase, q: str, now: datetime | None = None, limit: int = 20) -> list[dict]:
    """Per SKU matching ``q`` (SKU, name or barcode): each store's figures and network totals."""
    moment = now or utc_now()
    r = db.reader()
    products = r.search_products(q, limit)
    skus = {p["sku"] for p in products}
    if not skus:
        return []
    atp = available_to_promise(r, skus)
    in_transit = r.in_transit(skus)
    stale_before = moment - timedelta(seconds=setting(r, "fresh_seconds"))
    by_sku: dict[str, list[dict]] = {sku: [] for sku in skus}
    for row in r.levels(skus):
        seen = from_iso(row["last_seen_at"]) if row["last_seen_at"] else None
        by_sku[row["sku"]].append(
            {
                "store_id": row["store_id"],
                "on_hand": row["on_hand"],
                "reserved": row["reserved"],
                "available_to_promise": atp.get((row["store_id"], row["sku"]), 0),
                "in_transit": in_transit.get((row["store_id"], row["sku"]), 0),
                "as_of_seq": row["seq"],
                "updated_at": row["updated_at"],
                "store_last_seen_at": row["last_seen_at"],
                "fresh": bool(seen and seen >= stale_before),
            }
        )
    seen_at = {s["store_id"]: s["last_seen_at"] for s in r.stores()}
    for (store_id, sku), qty in sorted(in_transit.items()):
        if not any(row["store_id"] == store_id for row in by_sku[sku]):
            # nothing recorded at the destination yet: the goods on their way still show
            last = seen_at.get(store_id)
            by_sku[sku].append({
                "store_id": store_id, "on_hand": 0, "reserved": 0, "available_to_promise": 0, "in_transit": qty,
                "as_of_seq": None, "updated_at": None, "store_last_seen_at": last,
                "fresh": bool(last and from_iso(last) >= stale_before),
            })
    return [
        {
            "sku": p["sku"],
            "name": p["name"],
            "price_cents": p["price_cents"],
            "stores": by_sku[p["sku"]],
            "totals": {
                "on_hand": sum(s["on_hand"] for s in by_sku[p["sku"]]),
                "reserved": sum(s["reserved"] for s in by_sku[p["sku"]]),
                "available_to_promise": sum(s["available_to_promise"] for s in by_sku[p["sku"]]),
                "in_transit": sum(s["in_transit"] for s in by_sku[p["sku"]]),
            },
        }
        for p in products
    ]


def store_health(db: HubDatabase, now: datetime | None = None) -> list[dict]:
    """Each store: online or not, last sync, its outbox backlog and how far behind its feed is."""
    moment = now or utc_now()
    r = db.reader()
    fresh_after = to_iso(moment - timedelta(seconds=setting(r, "fresh_seconds")))
    late = r.late_assignments(to_iso(moment))
    return [
        {
            "store_id": s["store_id"],
            "name": s["name"],
            "city": s["city"],
            "address": s["address"],
            "lat": s["lat"],
            "lon": s["lon"],
            "opening_hours": s["opening_hours"],
            "ship_from_store": bool(s["ship_from_store"]),
            "click_and_collect": bool(s["click_and_collect"]),
            "daily_capacity": s["daily_capacity"],
            "base_url": s["base_url"],
            "online": bool(s["last_seen_at"]) and s["last_seen_at"] >= fresh_after,
            "last_seen_at": s["last_seen_at"],
            "epoch": s["epoch"],
            "acked_seq": s["acked_seq"],
            "events_total": s["events_total"],
            "outbox_depth": s["outbox_depth"],
            "oldest_unsent_at": s["oldest_unsent_at"],
            "feed_head": s["feed_head"],
            "feed_cursor": s["feed_cursor"],
            "feed_lag": s["feed_head"] - s["feed_cursor"],
            "late_assignments": late.get(s["store_id"], 0),
        }
        for s in r.stores()
    ]
