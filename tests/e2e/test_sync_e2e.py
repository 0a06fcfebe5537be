"""Sync over real HTTP: a store working through a hub outage, batches delivered more than once, epochs."""

import contextlib
import shutil
import sqlite3
import subprocess
import sys

import pytest

from shared.wire import EventKind, OutboxEvent, StockLevel, SyncRequest

from .conftest import DESTINATION, NEAR, NetworkFactory
from .network import Network, StoreSpec, call, wait_until

pytestmark = pytest.mark.e2e


def test_store_keeps_working_while_the_hub_is_down_and_converges_when_it_returns(
    make_network: NetworkFactory,
) -> None:
    net = make_network(stores=(StoreSpec(NEAR, 48.1, 2.0),))
    net.receive(NEAR, {"SKU-001": 5, "SKU-002": 3})
    order_id = net.place_order("S-OUTAGE", {"SKU-001": 2}, DESTINATION, expect=201).json()["order_id"]
    assignment_id = net.wait_assignment(NEAR, order_id)["assignment_id"]
    net.wait_synced()
    head_before = net.store_health(NEAR)["outbox"]["head_seq"]
    barcode = net.store_get(NEAR, "/api/stock/SKU-001")["barcodes"][0]

    net.stop_hub()
    # the till, the fulfilment and the goods-in all keep answering (checked call by call)
    net.store_post(NEAR, "/api/sales", {"receipt_id": "TILL-OUT-1", "lines": [{"code": "SKU-002", "qty": 1}]})
    path = f"/api/assignments/{assignment_id}"
    net.store_post(NEAR, f"{path}/accept", {})
    net.store_post(NEAR, f"{path}/scan", {"code": barcode})
    net.store_post(NEAR, f"{path}/pick", {"code": "SKU-001", "qty": 1})
    net.store_post(NEAR, f"{path}/complete-pick", {})
    parcel = {"weight_grams": 800, "carrier": "colissimo", "tracking_number": "6A000000001"}
    net.store_post(NEAR, f"{path}/pack", {"parcels": [parcel]})
    assert net.store_post(NEAR, f"{path}/ship", {})["status"] == "shipped"
    net.receive(NEAR, {"SKU-003": 4}, reference="delivery during the outage")

    def offline_with_backlog() -> dict:
        health = net.store_health(NEAR)
        return health if health["sync"]["online"] is False and health["outbox"]["depth"] else {}

    health = wait_until(offline_with_backlog, message=f"{NEAR} health to show sync offline with events waiting")
    offline_events = health["outbox"]["head_seq"] - head_before
    assert offline_events > 0
    assert health["outbox"]["depth"] == offline_events
    assert health["outbox"]["oldest_unsent_at"] is not None
    assert health["sync"]["last_error"]
    own = net.store_levels(NEAR)
    assert (own["SKU-001"], own["SKU-002"], own["SKU-003"]) == ((3, 0), (2, 0), (4, 0))

    net.start_hub()  # same database, same port
    # bounded: the store backs off while the hub is unreachable (1, 2, 4, 8 s...), so allow for one long pause
    net.wait_synced(timeout=45)

    head = net.store_health(NEAR)["outbox"]["head_seq"]
    seen = net.hub_stores()[NEAR]
    assert seen["acked_seq"] == head
    assert seen["events_total"] == head, "every event counted exactly once"
    assert seen["outbox_depth"] == 0
    assert net.store_health(NEAR)["sync"]["online"] is True
    assert net.hub_levels() == {
        (NEAR, "SKU-001"): (3, 0),
        (NEAR, "SKU-002"): (2, 0),
        (NEAR, "SKU-003"): (4, 0),
    }
    order = net.order(order_id)
    assert order["status"] == "shipped"
    assert [(a["store_id"], a["status"]) for a in order["assignments"]] == [(NEAR, "shipped")]


# ---------------------------------------------------------------------------- batches by hand

FAKE = "FAKE-01"


def event(seq: int, kind: EventKind, levels: dict[str, int]) -> OutboxEvent:
    return OutboxEvent(
        seq=seq,
        kind=kind,
        at=f"2026-01-05T10:00:{seq:02d}.000Z",
        staff="M001",
        payload={"note": f"event {seq}"},
        levels=[StockLevel(sku=sku, on_hand=qty, reserved=0) for sku, qty in levels.items()],
    )


# what the fake store did: received 10 + 4, sold three SKU-001 one by one, received 2 SKU-002
EVENTS = {
    1: event(1, EventKind.STOCK_RECEIVED, {"SKU-001": 10}),
    2: event(2, EventKind.STOCK_RECEIVED, {"SKU-002": 4}),
    3: event(3, EventKind.SALE_RECORDED, {"SKU-001": 9}),
    4: event(4, EventKind.SALE_RECORDED, {"SKU-001": 8}),
    5: event(5, EventKind.SALE_RECORDED, {"SKU-001": 7}),
    6: event(6, EventKind.STOCK_RECEIVED, {"SKU-002": 6}),
    7: event(7, EventKind.SALE_RECORDED, {"SKU-002": 5}),
    8: event(8, EventKind.STOCK_COUNTED, {"SKU-001": 6}),
}


@pytest.fixture
def hub_only(make_network: NetworkFactory) -> Network:
    """A running hub where FAKE-01 is registered (with its secret) but no store process runs."""
    net = make_network(stores=(StoreSpec(FAKE, 47.0, 2.0),), start=False)
    net.start_hub()
    return net


def post_batch(net: Network, seqs: list[int], secret: str | None = None, feed_cursor: int = 0) -> dict:
    body = SyncRequest(store_id=FAKE, epoch="e2e-epoch-1", feed_cursor=feed_cursor, events=[EVENTS[s] for s in seqs])
    headers = {"Authorization": f"Bearer {secret or net.stores[FAKE].secret}"}
    response = call("POST", f"{net.hub_url}/api/sync", json=body.model_dump(mode="json"), headers=headers)
    return {"status": response.status_code, **response.json()}


def hub_state(net: Network) -> tuple[int, int, dict]:
    """(acked_seq, events_total, {sku: (on_hand, reserved)}) for the fake store, as the hub shows them."""
    seen = net.hub_stores()[FAKE]
    levels = {sku: level for (store_id, sku), level in net.hub_levels().items() if store_id == FAKE}
    return seen["acked_seq"], seen["events_total"], levels


def test_batches_delivered_twice_or_overlapping_count_once(hub_only: Network) -> None:
    net = hub_only
    # a wrong secret is refused and changes nothing
    refused = post_batch(net, [1, 2], secret="not-the-secret")
    assert (refused["status"], refused["error"]) == (401, "unauthenticated")
    assert hub_state(net) == (0, 0, {})

    first = post_batch(net, [1, 2, 3, 4])
    assert (first["status"], first["acked_seq"]) == (200, 4)
    assert [m["kind"] for m in first["messages"]] == ["catalogue"]
    assert hub_state(net) == (4, 4, {"SKU-001": (8, 0), "SKU-002": (4, 0)})

    # the same batch again (the store never saw the answer): acknowledged again, applied never twice
    again = post_batch(net, [1, 2, 3, 4])
    assert (again["status"], again["acked_seq"]) == (200, 4)
    assert hub_state(net) == (4, 4, {"SKU-001": (8, 0), "SKU-002": (4, 0)})

    # an overlapping batch: 3 and 4 are held already, 5 and 6 are new
    overlap = post_batch(net, [3, 4, 5, 6])
    assert overlap["acked_seq"] == 6
    assert hub_state(net) == (6, 6, {"SKU-001": (7, 0), "SKU-002": (6, 0)})

    # a sale replayed alone: levels are absolute and the highest seq wins, so nothing moves
    replay = post_batch(net, [3])
    assert replay["acked_seq"] == 6
    assert hub_state(net) == (6, 6, {"SKU-001": (7, 0), "SKU-002": (6, 0)})

    # a batch with a gap (8 without 7) is not applied: the store resends from 7
    gap = post_batch(net, [8])
    assert gap["acked_seq"] == 6
    assert hub_state(net) == (6, 6, {"SKU-001": (7, 0), "SKU-002": (6, 0)})
    assert post_batch(net, [7, 8])["acked_seq"] == 8
    assert hub_state(net) == (8, 8, {"SKU-001": (6, 0), "SKU-002": (5, 0)})
    stock = {item["sku"]: item["stores"] for item in net.hub_get("/api/stock", q="SKU-00")["items"]}
    assert [(s["store_id"], s["as_of_seq"]) for s in stock["SKU-001"]] == [(FAKE, 8)]
    assert [(s["store_id"], s["as_of_seq"]) for s in stock["SKU-002"]] == [(FAKE, 7)]


def test_a_store_restored_from_a_backup_starts_a_new_epoch_and_the_hub_follows_it(
    make_network: NetworkFactory,
) -> None:
    net = make_network(stores=(StoreSpec(NEAR, 48.1, 2.0),))
    node = net.stores[NEAR]
    net.receive(NEAR, {"SKU-001": 5, "SKU-002": 3})
    net.wait_synced()
    backup = node.db_path.with_name("backup.sqlite")
    with contextlib.closing(sqlite3.connect(node.db_path)) as live, contextlib.closing(sqlite3.connect(backup)) as copy:
        live.backup(copy)
    net.store_post(NEAR, "/api/sales", {"receipt_id": "TILL-LOST-1", "lines": [{"code": "SKU-001", "qty": 2}]})
    net.wait_synced()
    old = net.hub_stores()[NEAR]
    assert (old["acked_seq"], old["events_total"]) == (2, 2)

    # the disk dies: the backup (which misses the sale) is restored and a new epoch begun
    net.stop_store(NEAR)
    for leftover in node.db_path.parent.glob(f"{node.db_path.name}*"):
        leftover.unlink()
    shutil.copy(backup, node.db_path)
    subprocess.run(
        [sys.executable, "-m", "shared.cli", "store", "new-epoch", "--db", str(node.db_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    net.start_store(NEAR)
    net.wait_synced()

    seen = net.hub_stores()[NEAR]
    assert seen["epoch"] == net.store_health(NEAR)["epoch"] != old["epoch"]
    assert (seen["acked_seq"], seen["events_total"]) == (1, 3), "the snapshot counted once, the old cursor ignored"
    assert net.hub_levels() == {(NEAR, "SKU-001"): (5, 0), (NEAR, "SKU-002"): (3, 0)}

    # seq 2 of the new epoch is new, although the hub held a seq 2 of the old one
    net.store_post(NEAR, "/api/sales", {"receipt_id": "TILL-NEW-1", "lines": [{"code": "SKU-002", "qty": 1}]})
    net.wait_synced()
    seen = net.hub_stores()[NEAR]
    assert (seen["acked_seq"], seen["events_total"]) == (2, 4)
    assert net.hub_levels() == {(NEAR, "SKU-001"): (5, 0), (NEAR, "SKU-002"): (2, 0)}
