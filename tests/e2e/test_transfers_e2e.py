"""Store-to-store transfers end to end: requested by head office, picked and shipped by the source,
in transit at the hub, counted in by the destination with a discrepancy, with either store offline
for part of the journey."""

import pytest

from .conftest import FAR, MID, NEAR
from .network import Network, small_catalogue, wait_until

pytestmark = pytest.mark.e2e
SKUS = [item.sku for item in small_catalogue()]
BARCODES = {item.sku: item.barcodes[0] for item in small_catalogue()}


def _transfer(net: Network, order_id: str) -> dict:
    found = [t for t in net.hub_get("/api/transfers")["transfers"] if t["order_id"] == order_id]
    assert len(found) == 1, found
    return found[0]


def _in_transit(net: Network, store_id: str, sku: str) -> int:
    item = next(i for i in net.hub_get("/api/stock", q=sku)["items"] if i["sku"] == sku)
    return next((row["in_transit"] for row in item["stores"] if row["store_id"] == store_id), 0)


def test_transfer_with_destination_offline_and_a_damaged_unit(network: Network) -> None:
    a, b = SKUS[0], SKUS[1]
    network.receive(NEAR, {a: 10, b: 4})
    network.receive(FAR, {a: 1})
    network.wait_synced()

    created = network.hub_post(
        "/api/transfers",
        {
            "source_store_id": NEAR,
            "destination_store_id": FAR,
            "reason": "rebalance before the weekend",
            "lines": [{"sku": a, "qty": 6}, {"sku": b, "qty": 2}],
        },
    )
    order_id = created["order_id"]
    assert created["kind"] == "transfer" and created["status"] == "requested"

    # the source picks it with the same flow as an order, by scanning barcodes
    assignment = network.wait_assignment(NEAR, order_id)
    assert assignment["kind"] == "transfer_out" and assignment["destination_store_id"] == FAR
    tid = assignment["assignment_id"]
    network.store_post(NEAR, f"/api/assignments/{tid}/accept", {})
    network.store_post(NEAR, f"/api/assignments/{tid}/pick", {"code": BARCODES[a], "qty": 6})
    network.store_post(NEAR, f"/api/assignments/{tid}/scan", {"code": BARCODES[b]})
    network.store_post(NEAR, f"/api/assignments/{tid}/scan", {"code": BARCODES[b]})
    network.store_post(NEAR, f"/api/assignments/{tid}/complete-pick", {})
    network.store_post(
        NEAR,
        f"/api/assignments/{tid}/pack",
        {"parcels": [{"weight_grams": 2400, "carrier": "Colissimo", "tracking_number": "6A123"}]},
    )

    # the destination goes offline before the source ships
    network.stop_store(FAR)
    network.store_post(NEAR, f"/api/assignments/{tid}/ship", {})
    wait_until(
        lambda: _transfer(network, order_id)["status"] == "shipped", network.timeout, "the hub to see it shipped"
    )
    assert network.order(order_id)["status"] == "in_transit"
    assert _in_transit(network, FAR, a) == 6 and _in_transit(network, FAR, b) == 2
    assert network.hub_levels()[(NEAR, a)] == (4, 0)  # left the source: on hand and reserved dropped

    # the destination comes back, learns of the transfer from its feed, and counts it in
    network.start_store(FAR)
    incoming = wait_until(
        lambda: network.store_get(FAR, "/api/transfers/incoming", status="in_transit")["transfers"],
        network.timeout,
        "FAR to hear of the transfer",
    )
    assert incoming[0]["transfer_id"] == tid and incoming[0]["source_store_id"] == NEAR
    lines = {ln["sku"]: ln["line_id"] for ln in incoming[0]["lines"]}

    # a discrepancy without a reason is refused and changes nothing
    refused = network.store_call(
        FAR,
        "POST",
        f"/api/transfers/incoming/{tid}/receive",
        json={
            "lines": [{"line_id": lines[a], "received": 5, "damaged": 1}, {"line_id": lines[b], "received": 2}],
        },
    )
    assert refused.status_code == 400 and refused.json()["fields"][0]["field"] == "reason"
    assert network.store_levels(FAR)[a] == (1, 0)

    received = network.store_post(
        FAR,
        f"/api/transfers/incoming/{tid}/receive",
        {
            "lines": [{"line_id": lines[a], "received": 5, "damaged": 1}, {"line_id": lines[b], "received": 2}],
            "reason": "one box crushed",
        },
    )
    outcome = {ln["sku"]: ln for ln in received["outcome"]}
    assert (outcome[a]["received"], outcome[a]["damaged"], outcome[a]["missing"]) == (5, 1, 0)
    assert network.store_levels(FAR)[a] == (6, 0) and network.store_levels(FAR)[b] == (2, 0)

    network.wait_synced()
    transfer = _transfer(network, order_id)
    assert transfer["status"] == "received"
    by_sku = {ln["sku"]: ln for ln in transfer["lines"]}
    assert (by_sku[a]["received"], by_sku[a]["damaged"], by_sku[a]["reason"]) == (5, 1, "one box crushed")
    assert _in_transit(network, FAR, a) == 0
    assert network.order(order_id)["status"] == "received"
    kinds = [t["kind"] for t in network.order(order_id)["timeline"]]
    assert kinds.index("transfer_requested") < kinds.index("shipped") < kinds.index("transfer_received")

    # a second receipt of the same transfer is refused
    again = network.store_call(FAR, "POST", f"/api/transfers/incoming/{tid}/receive", json={"lines": []})
    assert again.status_code == 409


def test_click_and_collect_waits_for_its_transfer_to_be_received(network: Network) -> None:
    a = SKUS[2]
    network.receive(MID, {a: 3})
    network.wait_synced()
    order = network.place_order("CC-TRANSFER-1", {a: 2}, kind="click_and_collect", pickup_store_id=FAR).json()
    assert order["status"] == "awaiting_transfer"
    transfer = network.wait_assignment(MID, order["order_id"])
    assert transfer["kind"] == "transfer_out" and transfer["destination_store_id"] == FAR
    tid = transfer["assignment_id"]
    network.store_post(MID, f"/api/assignments/{tid}/accept", {})
    network.store_post(MID, f"/api/assignments/{tid}/pick", {"code": a, "qty": 2})
    network.store_post(MID, f"/api/assignments/{tid}/complete-pick", {})
    network.store_post(
        MID,
        f"/api/assignments/{tid}/pack",
        {"parcels": [{"weight_grams": 800, "carrier": "navette", "tracking_number": "NAV-1"}]},
    )
    network.store_post(MID, f"/api/assignments/{tid}/ship", {})
    incoming = wait_until(
        lambda: network.store_get(FAR, "/api/transfers/incoming", status="in_transit")["transfers"],
        network.timeout,
        "FAR to hear of the transfer",
    )
    assert not network.assignments(FAR, order["order_id"])  # nothing to pick before the goods arrive
    line_id = incoming[0]["lines"][0]["line_id"]
    network.store_post(FAR, f"/api/transfers/incoming/{tid}/receive", {"lines": [{"line_id": line_id, "received": 2}]})
    held = network.wait_assignment(FAR, order["order_id"])
    assert held["kind"] == "click_and_collect" and [ln["qty"] for ln in held["lines"]] == [2]
    accepted = network.store_post(FAR, f"/api/assignments/{held['assignment_id']}/accept", {})
    assert accepted["status"] == "accepted"
