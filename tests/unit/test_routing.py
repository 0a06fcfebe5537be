"""Unit tests of the hub's rule-based router (central_sync.domain.routing)."""

from __future__ import annotations

import itertools
from types import MappingProxyType
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central_sync.domain import routing
from central_sync.domain.routing import (
    Allocation,
    NearestStoreRouter,
    OrderKind,
    OrderLine,
    OrderToRoute,
    RoutingDecision,
    StoreCandidate,
)
from shared.geo import great_circle_km

SFS = OrderKind.SHIP_FROM_STORE
CC = OrderKind.CLICK_AND_COLLECT
BOTH = frozenset({SFS, CC})

# Destination of most orders; stores sit due north of it, 0.1 degree of latitude is ~11.1 km.
DEST = (48.0, 2.0)


def store(
    store_id: str,
    km_north: float,
    *,
    kinds: frozenset[OrderKind] = BOTH,
    capacity: int = 10,
    fresh: bool = True,
    lon: float = DEST[1],
) -> StoreCandidate:
    return StoreCandidate(store_id, DEST[0] + km_north / 111.2, lon, kinds, capacity, fresh)


def order(
    order_id: str,
    *lines: tuple[str, str, int],
    kind: OrderKind = SFS,
    pickup: str | None = None,
    excluded: frozenset[tuple[str, str]] = frozenset(),
    at: tuple[float, float] = DEST,
) -> OrderToRoute:
    return OrderToRoute(
        order_id,
        kind,
        tuple(OrderLine(*line) for line in lines),
        at[0],
        at[1],
        pickup_store_id=pickup,
        excluded=excluded,
    )


def fulfil(store_id: str, line_id: str, sku: str, qty: int) -> Allocation:
    return Allocation(store_id, line_id, sku, qty, "fulfil")


def route_one(o: OrderToRoute, atp: dict[tuple[str, str], int], stores: list[StoreCandidate]) -> RoutingDecision:
    [decision] = NearestStoreRouter().route([o], atp, stores)
    return decision


def test_nearest_store_that_can_fill_the_whole_order_wins() -> None:
    stores = [store("FAR", 30), store("NEAR", 2), store("MID", 10)]
    atp = {(s, sku): 5 for s in ("FAR", "NEAR", "MID") for sku in ("A", "B")}
    d = route_one(order("o1", ("l1", "A", 2), ("l2", "B", 1)), atp, stores)
    assert d.allocations == (fulfil("NEAR", "l1", "A", 2), fulfil("NEAR", "l2", "B", 1))
    assert d.unfilled == ()
    assert d.reasons[0] == "NEAR fills the whole order, 2.0 km from destination"


def test_next_nearest_when_the_nearest_lacks_one_line() -> None:
    stores = [store("NEAR", 2), store("MID", 10), store("FAR", 30)]
    atp = {
        ("NEAR", "A"): 5,
        ("NEAR", "B"): 1,
        ("MID", "A"): 2,
        ("MID", "B"): 3,
        ("FAR", "A"): 9,
        ("FAR", "B"): 9,
    }
    d = route_one(order("o1", ("l1", "A", 2), ("l2", "B", 2)), atp, stores)
    assert d.allocations == (fulfil("MID", "l1", "A", 2), fulfil("MID", "l2", "B", 2))
    assert d.reasons == (
        "MID fills the whole order, 10.0 km from destination",
        "NEAR skipped: out of stock for B (has 1, needs 2)",
    )


def test_ties_on_distance_go_to_more_capacity_then_store_id() -> None:
    stores = [store("B-2", 5, capacity=3), store("A-1", 5, capacity=3), store("C-3", 5, capacity=7)]
    atp = {(s, "A"): 1 for s in ("A-1", "B-2", "C-3")}
    router = NearestStoreRouter()
    first, second, third = router.route(
        [order("o1", ("l1", "A", 1)), order("o2", ("l1", "A", 1)), order("o3", ("l1", "A", 1))], atp, stores
    )
    assert [a.store_id for a in first.allocations] == ["C-3"]
    assert [a.store_id for a in second.allocations] == ["A-1"]
    assert [a.store_id for a in third.allocations] == ["B-2"]


def test_split_over_two_stores_when_none_fills_alone() -> None:
    stores = [store("S1", 1), store("S2", 3), store("S3", 50)]
    atp = {("S1", "A"): 2, ("S2", "B"): 1, ("S3", "A"): 1}
    d = route_one(order("o1", ("l1", "A", 2), ("l2", "B", 1)), atp, stores)
    assert d.allocations == (fulfil("S1", "l1", "A", 2), fulfil("S2", "l2", "B", 1))
    assert d.unfilled == ()
    assert d.reasons[:3] == (
        "no single eligible store holds the whole order: split over 2 stores",
        "S1 ships A x2, 1.0 km from destination",
        "S2 ships B x1, 3.0 km from destination",
    )


def test_fewest_stores_beats_a_nearer_three_store_split() -> None:
    # Greedy "most units first" takes G (4 units) and then needs H and I: three parcels. H + I
    # cover everything with two, so they win although G is the nearest store.
    stores = [store("G", 1), store("H", 20), store("I", 25)]
    atp = {("G", s): 1 for s in "abcd"} | {("H", s): 1 for s in "abe"} | {("I", s): 1 for s in "cdf"}
    lines = [(f"l{sku}", sku, 1) for sku in "abcdef"]
    d = route_one(order("o1", *lines), atp, stores)
    assert {(a.store_id, a.sku) for a in d.allocations} == {
        ("H", "a"),
        ("H", "b"),
        ("H", "e"),
        ("I", "c"),
        ("I", "d"),
        ("I", "f"),
    }
    assert d.unfilled == ()
    assert "G skipped: out of stock for e (has 0, needs 1), f (has 0, needs 1)" in d.reasons


def test_among_equally_few_stores_the_nearer_pair_wins() -> None:
    stores = [store("A-far", 40), store("B-far", 45), store("A-near", 5), store("B-near", 8)]
    atp = {("A-far", "A"): 1, ("B-far", "B"): 1, ("A-near", "A"): 1, ("B-near", "B"): 1}
    d = route_one(order("o1", ("l1", "A", 1), ("l2", "B", 1)), atp, stores)
    assert d.allocations == (fulfil("A-near", "l1", "A", 1), fulfil("B-near", "l2", "B", 1))


def test_the_cheapest_pair_wins_not_the_first_pair_the_search_meets() -> None:
    # Pairing S2 (A) with far-away V (B, C) also covers the order; S1 + T is far cheaper.
    stores = [store("S1", 1), store("S2", 1.2), store("W", 1.5), store("T", 5), store("V", 30)]
    atp = {("S1", "A"): 1, ("S1", "C"): 1, ("S2", "A"): 1, ("W", "C"): 1, ("T", "B"): 1}
    atp |= {("V", "B"): 1, ("V", "C"): 1}
    d = route_one(order("o1", ("la", "A", 1), ("lb", "B", 1), ("lc", "C", 1)), atp, stores)
    assert d.allocations == (fulfil("S1", "la", "A", 1), fulfil("S1", "lc", "C", 1), fulfil("T", "lb", "B", 1))


def test_a_line_may_be_split_by_quantity() -> None:
    stores = [store("S1", 1), store("S2", 2)]
    atp = {("S1", "A"): 2, ("S2", "A"): 3}
    d = route_one(order("o1", ("l1", "A", 4)), atp, stores)
    assert d.allocations == (fulfil("S1", "l1", "A", 2), fulfil("S2", "l1", "A", 2))


def test_stale_store_is_never_chosen() -> None:
    stores = [store("STALE", 1, fresh=False), store("OK", 30)]
    atp = {("STALE", "A"): 100, ("OK", "A"): 1}
    d = route_one(order("o1", ("l1", "A", 1)), atp, stores)
    assert d.allocations == (fulfil("OK", "l1", "A", 1),)
    assert "STALE skipped: silent past the threshold" in d.reasons


def test_stale_store_with_the_only_stock_means_backorder() -> None:
    stores = [store("STALE", 1, fresh=False)]
    d = route_one(order("o1", ("l1", "A", 3)), {("STALE", "A"): 100}, stores)
    assert d.allocations == ()
    assert d.unfilled == (OrderLine("l1", "A", 3),)


def test_store_without_capacity_is_skipped() -> None:
    stores = [store("FULL", 1, capacity=0), store("OK", 30)]
    atp = {("FULL", "A"): 5, ("OK", "A"): 5}
    d = route_one(order("o1", ("l1", "A", 1)), atp, stores)
    assert d.allocations == (fulfil("OK", "l1", "A", 1),)
    assert "FULL skipped: no capacity left today" in d.reasons


def test_store_that_does_not_ship_is_skipped() -> None:
    stores = [store("CC-ONLY", 1, kinds=frozenset({CC})), store("OK", 30)]
    atp = {("CC-ONLY", "A"): 5, ("OK", "A"): 5}
    d = route_one(order("o1", ("l1", "A", 1)), atp, stores)
    assert d.allocations == (fulfil("OK", "l1", "A", 1),)
    assert "CC-ONLY skipped: does not do ship from store" in d.reasons


def test_store_that_rejected_a_line_is_not_chosen_for_it_again() -> None:
    stores = [store("REJ", 1), store("OK", 30)]
    atp = {("REJ", "A"): 5, ("REJ", "B"): 5, ("OK", "A"): 5}
    o = order("o1", ("l1", "A", 1), ("l2", "B", 1), excluded=frozenset({("REJ", "l1")}))
    d = route_one(o, atp, stores)
    # REJ may still send the line it did not reject.
    assert d.allocations == (fulfil("REJ", "l2", "B", 1), fulfil("OK", "l1", "A", 1))
    assert d.reasons == (
        "no single eligible store holds the whole order: split over 2 stores",
        "REJ ships B x1, 1.0 km from destination; it rejected line l1 (A) before",
        "OK ships A x1, 30.0 km from destination",
    )


def test_rejected_line_reason_names_the_line() -> None:
    stores = [store("REJ", 1), store("OK", 30)]
    atp = {("REJ", "A"): 5, ("OK", "A"): 5}
    d = route_one(order("o1", ("l1", "A", 1), excluded=frozenset({("REJ", "l1")})), atp, stores)
    assert d.allocations == (fulfil("OK", "l1", "A", 1),)
    assert "REJ skipped: rejected line l1 (A) before" in d.reasons


def test_two_orders_in_one_batch_do_not_spend_the_same_units() -> None:
    stores = [store("NEAR", 1), store("FAR", 30)]
    atp = {("NEAR", "A"): 1, ("FAR", "A"): 1}
    first, second, third = NearestStoreRouter().route(
        [order("o1", ("l1", "A", 1)), order("o2", ("l1", "A", 1)), order("o3", ("l1", "A", 1))], atp, stores
    )
    assert first.allocations == (fulfil("NEAR", "l1", "A", 1),)
    assert second.allocations == (fulfil("FAR", "l1", "A", 1),)
    assert third.allocations == ()
    assert third.unfilled == (OrderLine("l1", "A", 1),)
    assert "NEAR skipped: out of stock for A (has 0, needs 1)" in second.reasons


def test_capacity_is_consumed_once_per_order_across_a_batch() -> None:
    stores = [store("NEAR", 1, capacity=1), store("FAR", 30)]
    atp = {(s, sku): 10 for s in ("NEAR", "FAR") for sku in "ABC"}
    three_lines = (("l1", "A", 1), ("l2", "B", 1), ("l3", "C", 1))
    first, second = NearestStoreRouter().route([order("o1", *three_lines), order("o2", *three_lines)], atp, stores)
    # Three lines cost NEAR one unit of capacity, not three; then it is full.
    assert {a.store_id for a in first.allocations} == {"NEAR"}
    assert len(first.allocations) == 3
    assert {a.store_id for a in second.allocations} == {"FAR"}
    assert "NEAR skipped: no capacity left today" in second.reasons


def test_click_and_collect_filled_by_the_pickup_store() -> None:
    stores = [store("OTHER", 0.5), store("PICK", 20)]
    atp = {("PICK", "A"): 2, ("PICK", "B"): 1, ("OTHER", "A"): 9, ("OTHER", "B"): 9}
    o = order("o1", ("l1", "A", 2), ("l2", "B", 1), kind=CC, pickup="PICK")
    d = route_one(o, atp, stores)
    assert d.allocations == (fulfil("PICK", "l1", "A", 2), fulfil("PICK", "l2", "B", 1))
    assert d.unfilled == ()
    assert d.reasons == ("PICK (pickup store) fills the whole order from its own stock",)


def test_click_and_collect_sources_a_transfer_from_the_store_nearest_the_pickup_store() -> None:
    # Pickup store 100 km north; NEXT is 5 km from it, CUSTOMER-SIDE is next to the customer.
    stores = [
        store("PICK", 100),
        store("NEXT", 105),
        store("CUSTOMER-SIDE", 1),
        store("STALE-NEIGHBOUR", 101, fresh=False),
    ]
    atp = {
        ("PICK", "A"): 2,
        ("NEXT", "B"): 3,
        ("CUSTOMER-SIDE", "B"): 3,
        ("STALE-NEIGHBOUR", "B"): 3,
    }
    o = order("o1", ("l1", "A", 2), ("l2", "B", 2), kind=CC, pickup="PICK")
    d = route_one(o, atp, stores)
    assert d.allocations == (
        fulfil("PICK", "l1", "A", 2),
        fulfil("PICK", "l2", "B", 2),
        Allocation("NEXT", "l2", "B", 2, "transfer_to:PICK"),
    )
    assert d.unfilled == ()
    assert d.reasons == (
        "PICK (pickup store) fills A x2 from its own stock",
        "PICK (pickup store) short of B (has 0, needs 2): sourcing a transfer",
        "NEXT transfers B x2 to PICK, 5.0 km from pickup store PICK",
        "STALE-NEIGHBOUR skipped as transfer source: silent past the threshold",
    )


def test_click_and_collect_partial_own_stock_and_transfer_make_one_pickup_allocation() -> None:
    stores = [store("PICK", 0), store("NEXT", 3)]
    atp = {("PICK", "A"): 1, ("NEXT", "A"): 5}
    d = route_one(order("o1", ("l1", "A", 3), kind=CC, pickup="PICK"), atp, stores)
    assert d.allocations == (
        fulfil("PICK", "l1", "A", 3),
        Allocation("NEXT", "l1", "A", 2, "transfer_to:PICK"),
    )


def test_click_and_collect_with_a_stale_pickup_store_is_unfilled_with_the_reason() -> None:
    stores = [store("PICK", 0, fresh=False), store("NEXT", 3)]
    atp = {("PICK", "A"): 5, ("NEXT", "A"): 5}
    o = order("o1", ("l1", "A", 1), ("l2", "B", 2), kind=CC, pickup="PICK")
    d = route_one(o, atp, stores)
    assert d.allocations == ()
    assert d.unfilled == (OrderLine("l1", "A", 1), OrderLine("l2", "B", 2))
    assert d.reasons == ("pickup store PICK cannot take the order: silent past the threshold; whole order backordered",)


@pytest.mark.parametrize(
    ("pickup", "why"),
    [
        (store("PICK", 0, capacity=0), "no capacity left today"),
        (store("PICK", 0, kinds=frozenset({SFS})), "does not do click and collect"),
    ],
)
def test_click_and_collect_with_an_unable_pickup_store_is_unfilled(pickup: StoreCandidate, why: str) -> None:
    d = route_one(order("o1", ("l1", "A", 1), kind=CC, pickup="PICK"), {("PICK", "A"): 5}, [pickup])
    assert d.allocations == ()
    assert d.unfilled == (OrderLine("l1", "A", 1),)
    assert d.reasons == (f"pickup store PICK cannot take the order: {why}; whole order backordered",)


def test_click_and_collect_transfer_source_need_not_do_click_and_collect() -> None:
    stores = [store("PICK", 0), store("SHIP-ONLY", 3, kinds=frozenset({SFS}))]
    atp = {("SHIP-ONLY", "A"): 5}
    d = route_one(order("o1", ("l1", "A", 1), kind=CC, pickup="PICK"), atp, stores)
    assert d.allocations == (
        fulfil("PICK", "l1", "A", 1),
        Allocation("SHIP-ONLY", "l1", "A", 1, "transfer_to:PICK"),
    )


def test_backorder_when_no_store_has_the_sku() -> None:
    stores = [store("S1", 1), store("S2", 2)]
    atp = {("S1", "A"): 1, ("S2", "A"): 1}
    d = route_one(order("o1", ("l1", "A", 1), ("l2", "Z", 4)), atp, stores)
    assert d.allocations == (fulfil("S1", "l1", "A", 1),)
    assert d.unfilled == (OrderLine("l2", "Z", 4),)
    assert d.reasons[0] == "S1 fills all that can be filled now, 1.0 km from destination"
    assert "line l2 (Z): 4 of 4 backordered, no eligible store has it" in d.reasons


def test_partial_backorder_counts_what_the_network_holds() -> None:
    stores = [store("S1", 1), store("S2", 2)]
    atp = {("S1", "A"): 1, ("S2", "A"): 2}
    d = route_one(order("o1", ("l1", "A", 5)), atp, stores)
    assert d.allocations == (fulfil("S1", "l1", "A", 1), fulfil("S2", "l1", "A", 2))
    assert d.unfilled == (OrderLine("l1", "A", 2),)
    assert "line l1 (A): 2 of 5 backordered, eligible stores hold only 3" in d.reasons


def test_reasons_list_skipped_nearer_stores_nearest_first_and_stay_bounded() -> None:
    stale = [store(f"STALE-{k:02d}", k + 1, fresh=False) for k in range(14)]
    stores = [*stale, store("EMPTY", 15.5), store("OK", 20)]
    atp = {("OK", "A"): 1, ("EMPTY", "A"): 0}
    d = route_one(order("o1", ("l1", "A", 1)), atp, stores)
    assert d.allocations == (fulfil("OK", "l1", "A", 1),)
    assert d.reasons[0] == "OK fills the whole order, 20.0 km from destination"
    assert d.reasons[1:11] == tuple(f"STALE-{k:02d} skipped: silent past the threshold" for k in range(10))
    assert d.reasons[11:] == ("5 more nearer stores skipped",)


def test_a_far_store_is_found_past_the_nearest_ones_and_the_skipped_are_counted() -> None:
    # 120 stores 1 km apart; only the 101st holds both SKUs; the 11th holds one of them.
    stores = [store(f"S{k:03d}", k + 1) for k in range(120)]
    atp = {("S100", "A"): 1, ("S100", "B"): 1, ("S010", "A"): 5}
    d = route_one(order("o1", ("l1", "A", 1), ("l2", "B", 1)), atp, stores)
    assert d.allocations == (fulfil("S100", "l1", "A", 1), fulfil("S100", "l2", "B", 1))
    assert d.reasons[0] == "S100 fills the whole order, 101.0 km from destination"
    assert d.reasons[1] == "S000 skipped: out of stock for A (has 0, needs 1), B (has 0, needs 1)"
    assert d.reasons[-1] == "90 more nearer stores skipped"
    assert len(d.reasons) == 12


def test_input_atp_mapping_and_stores_are_not_mutated() -> None:
    stores = [store("S1", 1, capacity=1), store("S2", 2)]
    atp = {("S1", "A"): 1, ("S2", "A"): 3}
    before = dict(atp)
    decisions = NearestStoreRouter().route(
        [order(f"o{k}", ("l1", "A", 1)) for k in range(3)], MappingProxyType(atp), stores
    )
    assert atp == before
    assert stores[0].capacity_left == 1
    assert [d.allocations[0].store_id for d in decisions] == ["S1", "S2", "S2"]
    # A second call starts again from the caller's figures.
    again = NearestStoreRouter().route([order("o9", ("l1", "A", 1))], atp, stores)
    assert again[0].allocations == (fulfil("S1", "l1", "A", 1),)


def test_zero_quantity_line_is_refused() -> None:
    with pytest.raises(ValueError, match="qty"):
        OrderLine("l1", "A", 0)


def test_duplicate_store_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate store_id S1"):
        NearestStoreRouter().route([], {}, [store("S1", 1), store("S1", 2)])


# --- properties -------------------------------------------------------------------------------

SKUS = ("A", "B", "C")


@st.composite
def networks(
    draw: st.DrawFn, max_stores: int = 6
) -> tuple[list[StoreCandidate], dict[tuple[str, str], int], list[OrderToRoute]]:
    n = draw(st.integers(1, max_stores))
    kinds = st.sampled_from([BOTH, frozenset({SFS}), frozenset({CC}), frozenset()])
    stores = [
        StoreCandidate(
            f"S{k}",
            draw(st.floats(43, 50)),
            draw(st.floats(-4, 7.5)),
            draw(kinds),
            draw(st.integers(0, 3)),
            draw(st.booleans()),
        )
        for k in range(n)
    ]
    ids = [s.store_id for s in stores]
    atp = draw(st.dictionaries(st.tuples(st.sampled_from(ids), st.sampled_from(SKUS)), st.integers(-1, 4)))
    orders = []
    for o in range(draw(st.integers(1, 4))):
        count = draw(st.integers(1, 3))
        lines = tuple(OrderLine(f"l{k}", draw(st.sampled_from(SKUS)), draw(st.integers(1, 4))) for k in range(count))
        kind = draw(st.sampled_from([SFS, CC]))
        pickup = draw(st.sampled_from([*ids, "UNKNOWN"])) if kind is CC else None
        pairs = [(s, line.line_id) for s in ids for line in lines]
        excluded = frozenset(draw(st.lists(st.sampled_from(pairs), max_size=3)))
        orders.append(
            OrderToRoute(f"o{o}", kind, lines, draw(st.floats(43, 50)), draw(st.floats(-4, 7.5)), pickup, excluded)
        )
    return stores, atp, orders


@st.composite
def rare_line_networks(
    draw: st.DrawFn,
) -> tuple[list[StoreCandidate], dict[tuple[str, str], int], list[OrderToRoute]]:
    """Many stores, two SKUs nearly everywhere and one rare: fillers are few and far between."""
    n = draw(st.integers(6, 30))
    stores = [
        StoreCandidate(
            f"S{k:02d}",
            draw(st.floats(43, 50)),
            draw(st.floats(-4, 7.5)),
            BOTH if draw(st.integers(0, 9)) else frozenset({CC}),
            draw(st.integers(0, 4)),
            draw(st.integers(0, 9)) > 0,
        )
        for k in range(n)
    ]
    atp = {}
    for s in stores:
        for sku, chance, most in (("P", 9, 5), ("Q", 8, 5), ("R", 2, 2)):
            if draw(st.integers(0, 9)) < chance:
                atp[(s.store_id, sku)] = draw(st.integers(0, most))
    orders = []
    for o in range(draw(st.integers(1, 3))):
        skus = draw(st.lists(st.sampled_from("PQR"), min_size=1, max_size=3, unique=True))
        lines = tuple(OrderLine(f"l{sku}", sku, draw(st.integers(1, 3))) for sku in skus)
        pairs = [(s.store_id, line.line_id) for s in stores for line in lines]
        excluded = frozenset(draw(st.lists(st.sampled_from(pairs), max_size=2)))
        at = (draw(st.floats(43, 50)), draw(st.floats(-4, 7.5)))
        orders.append(OrderToRoute(f"o{o}", SFS, lines, at[0], at[1], excluded=excluded))
    return stores, atp, orders


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(networks(), rare_line_networks()))
def test_routing_never_loses_units_over_promises_or_uses_a_stale_store(
    net: tuple[list[StoreCandidate], dict[tuple[str, str], int], list[OrderToRoute]],
) -> None:
    stores, atp, orders = net
    before = dict(atp)
    decisions = NearestStoreRouter().route(orders, atp, stores)
    assert atp == before
    by_id = {s.store_id: s for s in stores}
    consumed: dict[tuple[str, str], int] = {}
    orders_at: dict[str, set[str]] = {}
    for o, d in zip(orders, decisions, strict=True):
        assert d.order_id == o.order_id
        fulfilled = {line.line_id: 0 for line in o.lines}
        transferred = {line.line_id: 0 for line in o.lines}
        for a in d.allocations:
            s = by_id[a.store_id]
            assert s.fresh, f"allocation to stale store {a.store_id}"
            assert (a.store_id, a.line_id) not in o.excluded
            assert a.qty > 0
            orders_at.setdefault(a.store_id, set()).add(o.order_id)
            if a.purpose == "fulfil":
                fulfilled[a.line_id] += a.qty
                assert o.kind in s.kinds
                if o.kind is CC:
                    assert a.store_id == o.pickup_store_id
                consumed[(a.store_id, a.sku)] = consumed.get((a.store_id, a.sku), 0) + a.qty
            else:
                assert o.kind is CC and a.purpose == f"transfer_to:{o.pickup_store_id}"
                assert SFS in s.kinds and a.store_id != o.pickup_store_id
                transferred[a.line_id] += a.qty
                consumed[(a.store_id, a.sku)] = consumed.get((a.store_id, a.sku), 0) + a.qty
                # Transferred units reach the pickup store's fulfil line; they are not its own stock.
                key = (str(o.pickup_store_id), a.sku)
                consumed[key] = consumed.get(key, 0) - a.qty
        unfilled = {line.line_id: line.qty for line in d.unfilled}
        for line in o.lines:
            assert fulfilled[line.line_id] + unfilled.get(line.line_id, 0) == line.qty
            assert transferred[line.line_id] <= fulfilled[line.line_id]
        assert d.reasons
    for key, qty in consumed.items():
        assert qty <= max(atp.get(key, 0), 0), f"{key} promised {qty}, ATP {atp.get(key, 0)}"
    for store_id, order_ids in orders_at.items():
        assert len(order_ids) <= by_id[store_id].capacity_left


@st.composite
def single_orders(draw: st.DrawFn) -> tuple[list[StoreCandidate], dict[tuple[str, str], int], OrderToRoute]:
    skus = "ABCDE"
    n = draw(st.integers(1, 7))
    stores = [
        StoreCandidate(f"S{k}", draw(st.floats(43, 50)), draw(st.floats(-4, 7.5)), BOTH, 5, True) for k in range(n)
    ]
    atp = {(s.store_id, sku): draw(st.integers(0, 3)) for s in stores for sku in skus}
    chosen = draw(st.lists(st.sampled_from(skus), min_size=1, max_size=5, unique=True))
    lines = tuple(OrderLine(f"l{sku}", sku, draw(st.integers(1, 4))) for sku in chosen)
    return stores, atp, OrderToRoute("o", SFS, lines, draw(st.floats(43, 50)), draw(st.floats(-4, 7.5)))


@settings(max_examples=200, deadline=None)
@given(single_orders())
def test_split_uses_the_fewest_stores_then_the_shortest_total_distance(
    case: tuple[list[StoreCandidate], dict[tuple[str, str], int], OrderToRoute],
) -> None:
    stores, atp, o = case
    [d] = NearestStoreRouter().route([o], atp, stores)
    need = {line.sku: line.qty for line in o.lines}
    reach = {sku: min(q, sum(atp[(s.store_id, sku)] for s in stores)) for sku, q in need.items()}
    km = {s.store_id: great_circle_km(o.lat, o.lon, s.lat, s.lon) for s in stores}

    def covers(group: tuple[StoreCandidate, ...]) -> bool:
        return all(sum(atp[(s.store_id, sku)] for s in group) >= r for sku, r in reach.items())

    best: tuple[int, float] | None = None
    for size in range(0, len(stores) + 1):
        costs = [sum(km[s.store_id] for s in g) for g in itertools.combinations(stores, size) if covers(g)]
        if costs:
            best = (size, min(costs))
            break
    assert best is not None
    used = {a.store_id for a in d.allocations}
    assert len(used) == best[0]
    assert sum(km[s] for s in used) == pytest.approx(best[1], abs=1e-6)
    assert sum(line.qty for line in d.unfilled) == sum(need.values()) - sum(reach.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(networks(max_stores=16), rare_line_networks()))
def test_whole_column_scans_give_the_same_decisions_as_probing_store_by_store(
    net: tuple[list[StoreCandidate], dict[tuple[str, str], int], list[OrderToRoute]],
) -> None:
    # Looking for a single filler, the router probes the nearest stores one look-up at a time and
    # then filters the rest by whole SKU columns; wherever the switch happens (here after every
    # store, or never), the answers must be the same.
    stores, atp, orders = net
    with mock.patch.object(routing, "_ONE_BY_ONE", 10**6):
        expected = NearestStoreRouter().route(orders, atp, stores)
    with mock.patch.object(routing, "_ONE_BY_ONE", 1):
        assert NearestStoreRouter().route(orders, atp, stores) == expected
