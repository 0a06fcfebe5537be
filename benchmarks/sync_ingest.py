"""Sync ingest at the hub over loopback HTTP: a busy offline day (20,000 events) caught up.

Run: ``python -m benchmarks.sync_ingest``. It starts a real hub (gunicorn), registers a
store, and posts the same kind of events a store node sends, measuring:

* catch-up: 20,000 events in bounded exchanges of 2,000 (what a store back online does);
* baseline, in the same run: one event per exchange (a naive replicator's round trip per change).

It prints times, events per second and the ratio, with a bar chart.
"""

import random
import tempfile
import time
from pathlib import Path

import orjson
import requests

from central_sync.services import stores
from central_sync.store import HubDatabase
from shared.clock import to_iso, utc_now
from shared.wire import MAX_EVENTS_PER_EXCHANGE

from .harness import bar_chart, free_port, progress, start, stop

SECRET = "bench-secret-0123456789abcdef0123456789"


def make_events(count: int, skus: int = 2000, seed: int = 1) -> list[dict]:
    """Till sales as a store writes them: one event per sale with the absolute level it left."""
    rng = random.Random(seed)
    on_hand = {f"SKU-{n:05d}": 1000 for n in range(skus)}
    at = to_iso(utc_now())
    events = []
    for seq in range(1, count + 1):
        sku = f"SKU-{rng.randrange(skus):05d}"
        on_hand[sku] -= 1
        events.append(
            {
                "seq": seq,
                "kind": "sale.recorded",
                "at": at,
                "staff": "A001",
                "payload": {
                    "receipt_id": f"R{seq}",
                    "lines": [{"sku": sku, "qty": 1, "unit_price_cents": 1999}],
                    "total_cents": 1999,
                },
                "levels": [{"sku": sku, "on_hand": on_hand[sku], "reserved": 0}],
            }
        )
    return events


def post_all(url: str, store_id: str, epoch: str, events: list[dict], batch: int, label: str) -> float:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    started = time.perf_counter()
    for start_at in range(0, len(events), batch):
        chunk = events[start_at : start_at + batch]
        body = {
            "store_id": store_id,
            "epoch": epoch,
            "feed_cursor": 0,
            "events": chunk,
            "outbox_depth": len(events) - start_at,
        }
        answer = session.post(f"{url}/api/sync", data=orjson.dumps(body), headers=headers, timeout=60)
        answer.raise_for_status()
        if answer.json()["acked_seq"] != chunk[-1]["seq"]:
            raise RuntimeError(f"hub acknowledged {answer.json()['acked_seq']}, expected {chunk[-1]['seq']}")
        progress(start_at + len(chunk), len(events), label)
    return time.perf_counter() - started


def main(events_count: int = 20_000, baseline_count: int = 1_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "hub.sqlite"
        db = HubDatabase(db_path)
        for store_id in ("BENCH-A", "BENCH-B"):
            stores.register_store(db, store_id, store_id, 48.85, 2.35, secret=SECRET)
        db.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        hub = start(
            ["hub", "serve", "--db", str(db_path), "--port", str(port), "--no-jobs"], url, Path(tmp) / "hub.log"
        )
        try:
            events = make_events(events_count)
            catch_up = post_all(url, "BENCH-A", "epoch-a", events, MAX_EVENTS_PER_EXCHANGE, "catch-up")
            baseline = post_all(url, "BENCH-B", "epoch-b", events[:baseline_count], 1, "baseline, 1 per exchange")
        finally:
            stop(hub)
    rate, base_rate = events_count / catch_up, baseline_count / baseline
    print(
        f"\ncatch-up of {events_count:,} events in exchanges of {MAX_EVENTS_PER_EXCHANGE:,}: "
        f"{catch_up:.2f} s, {rate:,.0f} events/s (target: under 2 s)"
    )
    print(f"baseline, one event per exchange ({baseline_count:,} events): {baseline:.2f} s, {base_rate:,.0f} events/s")
    print(f"ratio: {rate / base_rate:.1f}x the baseline\n")
    print(bar_chart([("batched catch-up", rate), ("one per exchange", base_rate)], "events/s"))


if __name__ == "__main__":
    main()
