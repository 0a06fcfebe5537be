"""Rebalancing end to end: stock received at real store nodes reaches the hub by sync, head office runs a
rebalancing through the API and approves it, and the source store receives the transfer-out in its feed."""

import pytest

from .conftest import FAR, MID, NEAR
from .network import Network, small_catalogue, wait_until

pytestmark = pytest.mark.e2e
SKUS = [item.sku for item in small_catalogue()]


def test_an_approved_rebalancing_reaches_the_source_store_as_a_transfer_to_pick(network: Network) -> None:
    a, b = SKUS[0], SKUS[1]
    network.receive(NEAR, {a: 12, b: 3})
    network.receive(FAR, {a: 1})
    network.wait_synced()
    # no sales yet, so every forecast is zero: FAR is short only of the 5 units of safety stock it must keep
    network.hub_post("/api/safety-stock", {"store_id": FAR, "sku": a, "qty": 5})

    run = network.hub_call("POST", "/api/rebalancing/runs", json={"excluded_skus": [b]}, expect=201).json()
    # NEAR (12 spare) is the only store with units to give; FAR needs 5 - 1 = 4; MID holds and needs nothing
    lines = [(p["source_store_id"], p["destination_store_id"], p["sku"], p["qty"]) for p in run["proposals"]]
    assert lines == [(NEAR, FAR, a, 4)]
    assert "safety stock (5)" in run["proposals"][0]["reason"]
    assert MID not in {s["store_id"] for s in run["shortfalls"]}

    ids = [p["proposal_id"] for p in run["proposals"]]
    approved = network.hub_post(f"/api/rebalancing/runs/{run['run_id']}/approve", {"proposal_ids": ids})
    [order_id] = approved["created"]

    assignment = network.wait_assignment(NEAR, order_id)
    assert assignment["kind"] == "transfer_out" and assignment["destination_store_id"] == FAR
    assert [(ln["sku"], ln["qty"]) for ln in assignment["lines"]] == [(a, 4)]
    assert network.order(order_id)["channel"] == "rebalancing"

    # approving again creates nothing: the same transfer, still one
    again = network.hub_post(f"/api/rebalancing/runs/{run['run_id']}/approve", {"proposal_ids": ids})
    assert again["created"] == [] and [t["order_id"] for t in again["transfers"]] == [order_id]
    transfers = [t for t in network.hub_get("/api/transfers")["transfers"] if t["destination_store_id"] == FAR]
    assert [t["order_id"] for t in transfers] == [order_id]

    # once the source has it, a new run does not ask for those units again (they are on their way)
    wait_until(lambda: network.hub_stores()[NEAR]["feed_lag"] == 0, network.timeout, "NEAR to take its feed")
    rerun = network.hub_call("POST", "/api/rebalancing/runs", json={"excluded_skus": [b]}, expect=201).json()
    assert rerun["proposals"] == []
