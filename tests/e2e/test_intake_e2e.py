"""Order intake over real HTTP: a channel retrying a post gets the same order, and bad input changes nothing."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import DESTINATION, NEAR
from .network import Network, StoreSpec

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def one_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """A hub and one store holding 20 SKU-001, shared by the tests below (each uses its own order ids)."""
    # two hub workers, as in production: concurrent retries land in different processes
    net = Network(tmp_path_factory.mktemp("intake"), [StoreSpec(NEAR, 48.1, 2.0)], hub_workers=2)
    try:
        net.start()
        net.receive(NEAR, {"SKU-001": 20})
        net.wait_synced()
        yield net
    finally:
        net.stop()


def orders_found(net: Network, q: str) -> list[dict]:
    return net.hub_get("/api/orders", q=q)["orders"]


def test_order_retried_with_the_same_channel_id_creates_one_order(one_store: Network) -> None:
    net = one_store
    first = net.place_order("WEB-RETRY-1", {"SKU-001": 2}, DESTINATION)
    again = net.place_order("WEB-RETRY-1", {"SKU-001": 2}, DESTINATION)

    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (again.status_code, again.json()["created"]) == (200, False)
    order_id = first.json()["order_id"]
    assert again.json()["order_id"] == order_id
    assert [o["order_id"] for o in orders_found(net, "WEB-RETRY-1")] == [order_id]

    # routed once: one assignment at the hub and one at the store, whatever the retries
    net.wait_assignment(NEAR, order_id)
    net.wait_synced()
    assert len(net.order(order_id)["assignments"]) == 1
    assert [a["lines"][0]["qty"] for a in net.assignments(NEAR, order_id)] == [2]
    assert net.hub_stores()[NEAR]["feed_lag"] == 0


def test_concurrent_retries_of_one_order_create_it_once(one_store: Network) -> None:
    net = one_store
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: net.place_order("WEB-RACE-1", {"SKU-001": 1}, DESTINATION), range(6)))

    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 200, 201]
    assert len({a.json()["order_id"] for a in answers}) == 1
    assert [a.json()["created"] for a in answers].count(True) == 1
    assert len(orders_found(net, "WEB-RACE-1")) == 1


def test_the_same_channel_order_id_from_another_channel_is_another_order(one_store: Network) -> None:
    web = one_store.place_order("SHARED-7", {"SKU-001": 1}, DESTINATION, channel="web", expect=201).json()
    app = one_store.place_order("SHARED-7", {"SKU-001": 1}, DESTINATION, channel="app", expect=201).json()

    assert web["order_id"] != app["order_id"]
    assert sorted(o["channel"] for o in orders_found(one_store, "SHARED-7")) == ["app", "web"]


def test_an_invalid_order_is_refused_naming_every_field_and_creates_nothing(one_store: Network) -> None:
    answer = one_store.place_order("WEB-BAD-1", {"SKU-001": 1, "NO-SUCH-SKU": 2}, DESTINATION, expect=400).json()

    assert answer["error"] == "invalid_input"
    assert [f["field"] for f in answer["fields"]] == ["lines[1].sku"]
    assert orders_found(one_store, "WEB-BAD-1") == []
    no_destination = one_store.place_order("WEB-BAD-2", {"SKU-001": 1}, None, expect=400).json()
    assert no_destination["error"] == "invalid_input"
    assert orders_found(one_store, "WEB-BAD-2") == []
