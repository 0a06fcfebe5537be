"""Routing across a real network: nearest able store, next nearest, splits, silent stores, rejections, deadlines.

Stores sit due north of the destination (NEAR ~11 km, MID ~56 km, FAR ~111 km). Stock is put
in through each store's API (goods receipts, till sales) and reaches the hub through sync
before any order is placed, so the hub routes on the levels the stores reported.
"""

from collections.abc import Iterator
from datetime import timedelta

import pytest

from central_sync.services import routing
from central_sync.store import HubDatabase
from shared.clock import from_iso

from .conftest import DESTINATION, FAR, MID, NEAR, THREE_STORES, NetworkFactory
from .network import Network, StoreSpec, small_catalogue, wait_until

pytestmark = pytest.mark.e2e

DEAD = {"rejected", "cancelled", "cancel_requested", "expired"}


def allocation(order: dict) -> dict[str, dict[str, int]]:
    """What each store holds of the order: ``{store_id: {sku: qty}}`` over its live assignments."""
    held: dict[str, dict[str, int]] = {}
    for a in order["assignments"]:
        if a["status"] in DEAD or a["kind"] == "transfer_out":
            continue
        for line in a["lines"]:
            qty = line["qty"] - line["rejected"]
            if qty:
                per_store = held.setdefault(a["store_id"], {})
                per_store[line["sku"]] = per_store.get(line["sku"], 0) + qty
    return held


def store_holds(net: Network, order_id: str) -> dict[str, dict[str, int]]:
    """The same from the stores' side: what each running store's own API lists for the order."""
    held: dict[str, dict[str, int]] = {}
    for store_id in net.running_stores():
        for a in net.assignments(store_id, order_id):
            if a["status"] in DEAD:
                continue
            for line in a["lines"]:
                per_store = held.setdefault(store_id, {})
                per_store[line["sku"]] = per_store.get(line["sku"], 0) + line["to_fill"]
    return held


def wait_stores_hold(net: Network, order_id: str, expected: dict[str, dict[str, int]]) -> None:
    """Wait until the stores' own assignment lists show exactly ``expected`` for the order."""
    wait_until(
        lambda: store_holds(net, order_id) == expected,
        message=f"stores to hold {expected} of {order_id} (they hold {store_holds(net, order_id)})",
    )


# ---------------------------------------------------------------------------- one shared network

# Stock per store, set up once for the tests that only place orders: each test uses its own SKUs.
STOCK = {
    NEAR: {"SKU-001": 5, "SKU-002": 3, "SKU-003": 2, "SKU-004": 4, "SKU-006": 5},
    MID: {"SKU-001": 5, "SKU-002": 3, "SKU-003": 2, "SKU-006": 5},
    FAR: {"SKU-001": 5, "SKU-002": 3, "SKU-003": 2, "SKU-005": 4, "SKU-006": 5},
}


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Three stores with STOCK received through their APIs; NEAR then sells all its SKU-002 at the till."""
    net = Network(tmp_path_factory.mktemp("routing"), THREE_STORES, small_catalogue(10))
    try:
        net.start()
        for store_id, quantities in STOCK.items():
            net.receive(store_id, quantities)
        net.store_post(NEAR, "/api/sales", {"receipt_id": "TILL-NEAR-1", "lines": [{"code": "SKU-002", "qty": 3}]})
        net.wait_synced()
        levels = net.hub_levels()
        assert levels[(NEAR, "SKU-002")] == (0, 0), "the till sale reached the hub"
        assert levels[(MID, "SKU-002")] == (3, 0)
        yield net
    finally:
        net.stop()


def test_order_goes_to_the_nearest_store_that_can_fill_it(stocked: Network) -> None:
    answer = stocked.place_order("R-NEAREST", {"SKU-001": 2}, DESTINATION, expect=201).json()

    assert answer["status"] == "routed"
    assert allocation(answer) == {NEAR: {"SKU-001": 2}}
    assert any(r.startswith(f"{NEAR} ") for r in answer["decisions"][-1]["reasons"]), answer["decisions"]
    wait_stores_hold(stocked, answer["order_id"], {NEAR: {"SKU-001": 2}})


def test_order_goes_to_the_next_nearest_when_the_nearest_is_out_of_stock(stocked: Network) -> None:
    # NEAR received 3 SKU-002 and sold them all at its till: 0 left at the hub's view
    answer = stocked.place_order("R-NEXT", {"SKU-002": 2}, DESTINATION, expect=201).json()

    assert allocation(answer) == {MID: {"SKU-002": 2}}
    reasons = answer["decisions"][-1]["reasons"]
    assert any(r.startswith(f"{NEAR} skipped") and "out of stock" in r for r in reasons), reasons
    wait_stores_hold(stocked, answer["order_id"], {MID: {"SKU-002": 2}})


def test_order_is_split_when_no_store_can_fill_it_alone(stocked: Network) -> None:
    # every store holds 2 SKU-003: 3 need two stores, the two nearest, nearest first
    answer = stocked.place_order("R-SPLIT-QTY", {"SKU-003": 3}, DESTINATION, expect=201).json()

    assert allocation(answer) == {NEAR: {"SKU-003": 2}, MID: {"SKU-003": 1}}
    wait_stores_hold(stocked, answer["order_id"], {NEAR: {"SKU-003": 2}, MID: {"SKU-003": 1}})

    # SKU-004 only at NEAR, SKU-005 only at FAR: one line each, MID gets nothing
    answer = stocked.place_order("R-SPLIT-SKU", {"SKU-004": 1, "SKU-005": 2}, DESTINATION, expect=201).json()

    assert allocation(answer) == {NEAR: {"SKU-004": 1}, FAR: {"SKU-005": 2}}
    assert answer["status"] == "routed"
    wait_stores_hold(stocked, answer["order_id"], {NEAR: {"SKU-004": 1}, FAR: {"SKU-005": 2}})


def test_rejected_assignment_is_rerouted_never_back_and_views_converge(stocked: Network) -> None:
    # every store holds 5 SKU-006
    order_id = stocked.place_order("R-REJECT", {"SKU-006": 2}, DESTINATION, expect=201).json()["order_id"]
    first = stocked.wait_assignment(NEAR, order_id)

    # NEAR says no although it holds 5 (say they are damaged): the hub must not route back to it
    stocked.store_post(NEAR, f"/api/assignments/{first['assignment_id']}/reject", {"reason": "damaged", "note": "box"})
    second = stocked.wait_assignment(MID, order_id)
    assert [(ln["sku"], ln["qty"]) for ln in second["lines"]] == [("SKU-006", 2)]
    stocked.store_post(MID, f"/api/assignments/{second['assignment_id']}/reject", {"reason": "out_of_stock"})
    third = stocked.wait_assignment(FAR, order_id)
    stocked.wait_synced()

    assert [a["status"] for a in stocked.assignments(NEAR, order_id)] == ["rejected"]
    assert [a["status"] for a in stocked.assignments(MID, order_id)] == ["rejected"]
    assert [a["assignment_id"] for a in stocked.assignments(FAR, order_id)] == [third["assignment_id"]]
    order = stocked.order(order_id)
    assert [(a["store_id"], a["status"]) for a in order["assignments"]] == [
        (NEAR, "rejected"),
        (MID, "rejected"),
        (FAR, "assigned"),
    ]
    assert allocation(order) == {FAR: {"SKU-006": 2}}
    assert order["status"] == "routed"
    # the timeline tells it: each routing decision and each rejection, in order
    story = [
        (t["kind"], t["store_id"] or ",".join(t["detail"]["stores"]))
        for t in order["timeline"]
        if t["kind"] in ("routed", "rejected")
    ]
    assert story == [("routed", NEAR), ("rejected", NEAR), ("routed", MID), ("rejected", MID), ("routed", FAR)]
    assert f"{NEAR} skipped: rejected line 1 (SKU-006) before" in order["decisions"][-1]["reasons"]
    rejected = [t["detail"] for t in order["timeline"] if t["kind"] == "rejected"]
    assert [(d["reason"], d["whole"], d["lines"][0]["qty"]) for d in rejected] == [
        ("damaged", True, 2),
        ("out_of_stock", True, 2),
    ]

    # FAR accepts: it reserves 2, and the hub's network view follows the store's own figures
    stocked.store_post(FAR, f"/api/assignments/{third['assignment_id']}/accept", {})
    stocked.wait_synced()
    assert stocked.hub_levels("SKU-006") == {
        (NEAR, "SKU-006"): (5, 0),
        (MID, "SKU-006"): (5, 0),
        (FAR, "SKU-006"): (5, 2),
    }
    assert stocked.order(order_id)["status"] == "in_progress"


# ---------------------------------------------------------------------------- networks of their own


def test_order_never_goes_to_a_store_silent_past_the_threshold(network: Network) -> None:
    for store_id in (NEAR, MID):
        network.receive(store_id, {"SKU-001": 5})
    network.wait_synced()
    network.stop_store(NEAR)
    network.set_setting("fresh_seconds", 5)
    wait_until(lambda: not network.hub_stores()[NEAR]["online"], message=f"the hub to show {NEAR} offline")
    assert network.hub_stores()[MID]["online"]

    answer = network.place_order("R-SILENT", {"SKU-001": 1}, DESTINATION, expect=201).json()

    assert allocation(answer) == {MID: {"SKU-001": 1}}
    reasons = answer["decisions"][-1]["reasons"]
    assert f"{NEAR} skipped: silent past the threshold" in reasons, reasons
    wait_stores_hold(network, answer["order_id"], {MID: {"SKU-001": 1}})

    # heard from again, NEAR is the nearest able store once more: silence was the only reason
    network.start_store(NEAR)
    wait_until(lambda: network.hub_stores()[NEAR]["online"], message=f"the hub to show {NEAR} online")
    answer = network.place_order("R-BACK", {"SKU-001": 1}, DESTINATION, expect=201).json()
    assert allocation(answer) == {NEAR: {"SKU-001": 1}}


def test_unanswered_assignment_past_its_deadline_is_cancelled_and_routed_elsewhere(
    make_network: NetworkFactory,
) -> None:
    net = make_network(stores=(StoreSpec(NEAR, 48.1, 2.0), StoreSpec(MID, 48.5, 2.0)))
    for store_id in net.stores:
        net.receive(store_id, {"SKU-001": 5})
    net.wait_synced()
    # NEAR goes dark but is still within the freshness threshold: the hub routes to it
    net.stop_store(NEAR)
    order_id = net.place_order("R-DEADLINE", {"SKU-001": 1}, DESTINATION, expect=201).json()["order_id"]
    (pending,) = net.order(order_id)["assignments"]
    assert (pending["store_id"], pending["status"]) == (NEAR, "pending")

    # The deadline is at least a minute away (accept_minutes >= 1), so the clock is moved instead:
    # the hub's own deadline job runs once against its database as of just after the deadline, and
    # the running hub's jobs process re-routes what it released.
    later = from_iso(pending["deadline"]) + timedelta(seconds=1)
    hub_db = HubDatabase(net.hub_db_path)
    try:
        assert routing.expire_unanswered(hub_db, now=later) == [pending["assignment_id"]]
    finally:
        hub_db.close()
    net.wait_assignment(MID, order_id)

    # back online, NEAR gets the assignment and its cancellation, in feed order, and applies both
    net.start_store(NEAR)
    net.wait_synced()
    assert [a["status"] for a in net.assignments(NEAR, order_id)] == ["cancelled"]
    order = net.order(order_id)
    assert [(a["store_id"], a["status"]) for a in order["assignments"]] == [(NEAR, "cancelled"), (MID, "assigned")]
    assert allocation(order) == {MID: {"SKU-001": 1}}
    story = [
        (t["kind"], t["store_id"] or ",".join(t["detail"]["stores"]))
        for t in order["timeline"]
        if t["kind"] in ("routed", "cancellation_sent", "cancelled_at_store")
    ]
    assert story == [("routed", NEAR), ("cancellation_sent", NEAR), ("routed", MID), ("cancelled_at_store", NEAR)]
    assert order["timeline"][[t["kind"] for t in order["timeline"]].index("cancellation_sent")]["detail"]["reason"] == (
        "unanswered"
    )
    assert net.hub_levels("SKU-001") == {(NEAR, "SKU-001"): (5, 0), (MID, "SKU-001"): (5, 0)}
