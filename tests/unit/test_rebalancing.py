"""Unit tests of the hub's stock rebalancing proposals (central_sync.domain.rebalancing)."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from central_sync.domain import rebalancing
from central_sync.domain.rebalancing import (
    Proposal,
    RebalancingLimits,
    Shortfall,
    StockPosition,
    Store,
    propose_transfers,
)
from shared.errors import InvalidInput
from shared.geo import EARTH_RADIUS_KM, great_circle_km

# Stores sit on one meridian, where the great-circle distance is exactly the difference in km.
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180


def store(store_id: str, km_north: float) -> Store:
    return Store(store_id, 45.0 + km_north / KM_PER_DEGREE, 5.0)


def position(store_id: str, sku: str, *, surplus: int = 0, need: int = 0) -> StockPosition:
    """A store expecting 8 sales with 2 of safety stock, holding `surplus` more or `need` fewer than 10."""
    return StockPosition(store_id, sku, available=10 + surplus - need, safety_stock=2, forecast=8.0)


# The hand-checked network, km along the meridian:
#
#   A(0) ---- X(60) -- B(100) -- Y(150) ------------------- C(400)
#
#        | X     Y        S1: surplus A 5, B 5, C 10; need X 5, Y 7 (12 of 20: all need can be met)
#   A    | 60   150       S2: surplus A 6, C 6; need Y 3
#   B    | 40    50
#   C    | 340  250
#
# S1 by hand. B is nearest to both X and Y, and it has only 5. Giving B to X saves 60 - 40 = 20 per
# unit on X (else A serves it) but costs Y 250 - 50 = 200 per unit (else C serves it, A being taken
# by X); so B serves Y: B->Y 5, A->X 5, and Y's last 2 come from C (A is used up):
#   5*50 + 5*60 + 2*250 = 250 + 300 + 500 = 1050.
# Optimality check with duals (cost = u[dest] + v[source], v = 0 for C which has units left):
# u_Y = 250, v_B = 50 - 250 = -200, v_A = -150 picked so that u_X = 60 + 150 = 210; the unused arcs
# then have reduced costs B-X 40 - 210 + 200 = 30, A-Y 150 - 250 + 150 = 50, C-X 340 - 210 = 130,
# all > 0: this optimum is the unique one.
# The greedy nearest-first plan takes the shortest arc first, B->X 5 (40), then A->Y 5, C->Y 2:
#   200 + 750 + 500 = 1450, 38 % more.
# S2 by hand: Y takes its 3 from A (150 km) rather than C (250 km): 450.
STORES = [store("A", 0), store("X", 60), store("B", 100), store("Y", 150), store("C", 400)]
POSITIONS = [
    position("A", "S1", surplus=5),
    position("B", "S1", surplus=5),
    position("C", "S1", surplus=10),
    position("X", "S1", need=5),
    position("Y", "S1", need=7),
    position("A", "S2", surplus=6),
    position("C", "S2", surplus=6),
    position("Y", "S2", need=3),
]


def flows(plan) -> dict[tuple[str, str, str], int]:
    return {(p.source_store, p.destination_store, p.sku): p.qty for p in plan.proposals}


def test_hand_checked_optimum():
    plan = propose_transfers(POSITIONS, STORES)
    assert flows(plan) == {
        ("A", "X", "S1"): 5,
        ("A", "Y", "S2"): 3,
        ("B", "Y", "S1"): 5,
        ("C", "Y", "S1"): 2,
    }
    assert plan.unit_km == pytest.approx(1050 + 450)
    assert plan.shortfalls == ()
    assert [p.distance_km for p in plan.proposals] == pytest.approx([60, 150, 50, 250])
    # Sorted by source, destination, SKU: one transfer's lines sit together.
    assert [(p.source_store, p.destination_store) for p in plan.proposals] == [
        ("A", "X"),
        ("A", "Y"),
        ("B", "Y"),
        ("C", "Y"),
    ]
    s1 = [p for p in POSITIONS if p.sku == "S1"]
    assert greedy_unit_km(s1, STORES) == pytest.approx(1450)


def test_reasons_name_the_numbers_and_why_not_nearer():
    by_arc = {(p.source_store, p.destination_store, p.sku): p for p in propose_transfers(POSITIONS, STORES).proposals}
    assert by_arc[("B", "Y", "S1")].reason == (
        "B holds 5 above its 7-day forecast (8) + safety stock (2); Y needs 7 for its 7-day forecast (8)"
        " + safety stock (2) with 3 available; this covers 5 of the 7; nearest source with surplus, 50 km"
    )
    assert by_arc[("A", "X", "S1")].reason.endswith(
        "2nd nearest source with surplus, 60 km (B (40 km) sends all its 5 spare to other stores)"
    )
    assert by_arc[("C", "Y", "S1")].reason.endswith(
        "3rd nearest source with surplus, 250 km"
        " (B (50 km) sends 5 too; A (150 km) sends all its 5 spare to other stores)"
    )


def test_transfer_cap_per_source():
    # Cap 1: A ships to X (S1, 5 units) and Y (S2, 3 units); it keeps X, the larger, and is barred from Y.
    # S2 is re-solved: Y takes its 3 from C (250 km), which already ships S1 to Y: still one transfer.
    # S1 did not use A->Y, so it keeps its optimum. Total 1050 + 3*250 = 1800.
    plan = propose_transfers(POSITIONS, STORES, RebalancingLimits(max_transfers_per_store_per_day=1))
    assert flows(plan) == {
        ("A", "X", "S1"): 5,
        ("B", "Y", "S1"): 5,
        ("C", "Y", "S1"): 2,
        ("C", "Y", "S2"): 3,
    }
    assert plan.unit_km == pytest.approx(1800)
    reason = next(p.reason for p in plan.proposals if p.sku == "S2")
    assert "A (150 km) already has its 1 transfer for the day" in reason


def test_min_transfer_qty_raises_or_bars_small_flows(monkeypatch):
    # Minimum 3. S1 is small (6 arcs), so besides rounding, small flows are decided one at a time.
    # S1's LP optimum above has C->Y 2: decide it.
    #   raised to 3: Y takes C 3 + B 4; X takes A 4 + B 1 (40 + 240 + 200 + 750 = 1230), all 12 covered;
    #   barred:      C->X 2 covers X with A 3, Y takes B 5 + A 2 (680 + 180 + 250 + 300 = 1410): raise.
    # Now B->X 1 is small: decide it.
    #   raised to 3: X B 3 + A 2, Y C 3 + B 2 + A 2 (120 + 120 + 750 + 100 + 300 = 1390);
    #   barred:      X A 5, Y C 3 + B 4 (300 + 750 + 200 = 1250): bar.
    # Result A->X 5, B->Y 4, C->Y 3, 1250 km, all 12 units: the exact optimum here (moving 12 needs C to
    # send 3 or more, and C->X costs 340 a unit). S2's A->Y 3 was never small.
    plan = propose_transfers(POSITIONS, STORES, RebalancingLimits(min_transfer_qty=3))
    assert flows(plan) == {("A", "X", "S1"): 5, ("A", "Y", "S2"): 3, ("B", "Y", "S1"): 4, ("C", "Y", "S1"): 3}
    assert plan.unit_km == pytest.approx(1250 + 450)
    assert plan.shortfalls == ()
    by_arc = {(p.source_store, p.destination_store, p.sku): p.reason for p in plan.proposals}
    assert by_arc[("C", "Y", "S1")].endswith(
        "this covers 3 of the 7; rounded up to the minimum transfer of 3; 3rd nearest source with surplus, 250 km"
        " (B (50 km) sends 4 too; A (150 km) sends all its 5 spare to other stores)"
    )
    assert by_arc[("A", "X", "S1")].endswith("(B (40 km) would send only 1, below the minimum transfer of 3)")

    # The all-at-once rounding alone (all that SKUs too big for the search get) raises C->Y, then B->X,
    # then in one round bars B->Y 2 (B cannot afford 3 + 3 out of 5) and A->X 2 (X cannot take 3 + 3),
    # raises A->Y; it ends at A->Y 4, B->X 5, C->Y 3: all 12 units too, but 600 + 200 + 750 = 1550 km.
    monkeypatch.setattr(rebalancing, "_DIVE_MAX_ARCS", 0)
    plan = propose_transfers(POSITIONS, STORES, RebalancingLimits(min_transfer_qty=3, excluded_skus={"S2"}))
    assert flows(plan) == {("A", "Y", "S1"): 4, ("B", "X", "S1"): 5, ("C", "Y", "S1"): 3}
    assert plan.unit_km == pytest.approx(1550)


def test_min_transfer_qty_can_leave_need_short():
    # Minimum 4, C excluded: A and B hold 5 each for X 5 and Y 7. The LP (B->Y 5, A->X 5) has no small
    # flow; Y's last 2 cannot come from anywhere, and Y's need of 3 for S2 is below the minimum.
    limits = RebalancingLimits(min_transfer_qty=4, excluded_stores={"C"})
    plan = propose_transfers(POSITIONS, STORES, limits)
    assert flows(plan) == {("A", "X", "S1"): 5, ("B", "Y", "S1"): 5}
    assert plan.shortfalls == (
        Shortfall("Y", "S1", 2, "all 10 units of S1 above forecast + safety in the network go to other stores"),
        Shortfall("Y", "S2", 3, "needs 3, below the minimum transfer of 4"),
    )


def test_min_transfer_qty_leaves_out_small_surplus_and_need():
    positions = [position("A", "S1", surplus=6), position("B", "S1", surplus=2), position("X", "S1", need=2)]
    positions += [position("Y", "S1", need=4)]
    plan = propose_transfers(positions, STORES, RebalancingLimits(min_transfer_qty=3))
    assert flows(plan) == {("A", "Y", "S1"): 4}
    assert plan.shortfalls == (Shortfall("X", "S1", 2, "needs 2, below the minimum transfer of 3"),)
    reason = plan.proposals[0].reason
    assert reason.endswith(
        "2nd nearest source with surplus, 150 km (B (50 km) has only 2 spare, below the minimum transfer of 3)"
    )


def test_excluded_store_neither_gives_nor_receives():
    plan = propose_transfers(POSITIONS, STORES, RebalancingLimits(excluded_stores={"C"}))
    # S1 without C: 10 units for 12 of need, B->Y 5 and A->X 5 (550) as above, Y 2 short.
    assert flows(plan) == {("A", "X", "S1"): 5, ("A", "Y", "S2"): 3, ("B", "Y", "S1"): 5}
    assert [(s.store_id, s.sku, s.qty) for s in plan.shortfalls] == [("Y", "S1", 2)]
    assert "go to other stores" in plan.shortfalls[0].reason
    plan = propose_transfers(POSITIONS, STORES, RebalancingLimits(excluded_stores=frozenset({"Y"})))
    assert flows(plan) == {("B", "X", "S1"): 5}
    assert plan.shortfalls == ()


def test_excluded_sku_is_left_alone():
    plan = propose_transfers(POSITIONS, STORES, RebalancingLimits(excluded_skus={"S2"}))
    assert {sku for _, _, sku in flows(plan)} == {"S1"}
    assert plan.unit_km == pytest.approx(1050)


def test_max_distance_bars_far_pairs():
    # Within 200 km C reaches nobody: S1 as with C excluded, S2 from A (150 km).
    plan = propose_transfers(POSITIONS, STORES, RebalancingLimits(max_distance_km=200))
    assert flows(plan) == {("A", "X", "S1"): 5, ("A", "Y", "S2"): 3, ("B", "Y", "S1"): 5}
    assert "C (250 km) is beyond the 200 km limit" in plan.shortfalls[0].reason


def test_only_surplus_above_forecast_and_safety_moves():
    # N sits next door to X but holds exactly forecast (ceil 5.2 = 6) + safety (2): nothing to give.
    # F holds 9 available against 6 + 2: 1 spare, so X (need 3) gets 1 and stays 2 short.
    stores = [store("X", 0), store("N", 1), store("F", 500)]
    positions = [
        StockPosition("X", "S", available=5, safety_stock=2, forecast=5.2),
        StockPosition("N", "S", available=8, safety_stock=2, forecast=5.2),
        StockPosition("F", "S", available=9, safety_stock=2, forecast=5.2),
    ]
    assert [p.surplus for p in positions] == [0, 0, 1]
    assert [p.need for p in positions] == [3, 0, 0]
    plan = propose_transfers(positions, stores, horizon_days=14)
    assert flows(plan) == {("F", "X", "S"): 1}
    assert plan.proposals[0].reason.startswith("F holds 1 above its 14-day forecast (6) + safety stock (2)")
    assert [(s.store_id, s.qty) for s in plan.shortfalls] == [("X", 2)]
    # A forecast of 6 plus float noise is still 6 units, not 7.
    assert StockPosition("X", "S", available=6, safety_stock=0, forecast=6.000000000001).need == 0


def test_nothing_to_do():
    assert propose_transfers([], []).proposals == ()
    plan = propose_transfers([position("X", "S", need=4)], STORES)
    assert plan.proposals == ()
    assert plan.shortfalls == (Shortfall("X", "S", 4, "no store holds S above its forecast + safety stock"),)


def test_bad_input_names_the_fields():
    with pytest.raises(InvalidInput) as err:
        StockPosition("X", "S", available=1.5, safety_stock=-1, forecast=float("nan"))
    assert [f for f, _ in err.value.fields] == ["available", "safety_stock", "forecast"]
    with pytest.raises(InvalidInput) as err:
        RebalancingLimits(min_transfer_qty=0, max_transfers_per_store_per_day=0, max_distance_km=-5)
    assert [f for f, _ in err.value.fields] == [
        "min_transfer_qty",
        "max_transfers_per_store_per_day",
        "max_distance_km",
    ]
    with pytest.raises(InvalidInput):
        RebalancingLimits(excluded_stores="C")
    with pytest.raises(InvalidInput) as err:
        propose_transfers([position("Z", "S", need=1), position("Z", "S", need=1)], STORES)
    assert [f for f, _ in err.value.fields] == ["positions[0].store_id", "positions[1]", "positions[1].store_id"]
    with pytest.raises(InvalidInput):
        propose_transfers(POSITIONS, STORES, horizon_days=0)


# --- properties on random small networks ---------------------------------------------------------


def greedy_unit_km(positions: list[StockPosition], stores: list[Store]) -> float:
    """The baseline: per SKU, fill arcs shortest first with as much as both ends allow."""
    where = {s.store_id: s for s in stores}
    total = 0.0
    for sku in {p.sku for p in positions}:
        spare = {p.store_id: p.surplus for p in positions if p.sku == sku and p.surplus}
        need = {p.store_id: p.need for p in positions if p.sku == sku and p.need}
        arcs = sorted(
            (great_circle_km(where[s].lat, where[s].lon, where[d].lat, where[d].lon), s, d) for s in spare for d in need
        )
        for km, s, d in arcs:
            q = min(spare[s], need[d])
            spare[s] -= q
            need[d] -= q
            total += q * km
    return total


@st.composite
def networks(draw):
    n = draw(st.integers(2, 7))
    stores = [Store(f"S{i}", draw(st.floats(43.0, 50.0)), draw(st.floats(-1.0, 7.0))) for i in range(n)]
    positions = []
    for sku in ("K1", "K2", "K3")[: draw(st.integers(1, 3))]:
        for s in stores:
            if draw(st.integers(0, 3)):  # a store may not stock every SKU
                positions.append(
                    StockPosition(
                        s.store_id,
                        sku,
                        available=draw(st.integers(-2, 25)),
                        safety_stock=draw(st.integers(0, 3)),
                        forecast=draw(st.floats(0.0, 15.0)),
                    )
                )
    return stores, positions


limit_sets = st.builds(
    RebalancingLimits,
    min_transfer_qty=st.integers(1, 4),
    max_transfers_per_store_per_day=st.none() | st.integers(1, 3),
    excluded_skus=st.frozensets(st.sampled_from(["K1", "K2", "K3"]), max_size=1),
    excluded_stores=st.frozensets(st.sampled_from([f"S{i}" for i in range(7)]), max_size=2),
    max_distance_km=st.none() | st.floats(50.0, 800.0),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), limit_sets)
def test_proposals_respect_stock_and_limits(network, limits):
    stores, positions = network
    assert_plan_valid(propose_transfers(positions, stores, limits), positions, limits)


def test_large_network_respects_the_limits():
    # 60 stores, one SKU, 30 x 30 arcs: above the size where flows below the minimum are searched one by
    # one, so only the all-at-once rounding runs.
    rng = random.Random(5)
    stores = [Store(f"S{i}", rng.uniform(43.0, 50.0), rng.uniform(-1.0, 7.0)) for i in range(60)]
    positions = [
        StockPosition(
            s.store_id,
            "K",
            available=(6 + rng.randint(0, 12) if i % 2 else rng.randint(0, 4)),
            safety_stock=1,
            forecast=rng.uniform(3.0, 6.0),
        )
        for i, s in enumerate(stores)
    ]
    assert sum(1 for p in positions if p.surplus) * sum(1 for p in positions if p.need) > rebalancing._DIVE_MAX_ARCS
    for limits in (
        RebalancingLimits(min_transfer_qty=3),
        RebalancingLimits(min_transfer_qty=4, max_transfers_per_store_per_day=1),
    ):
        plan = propose_transfers(positions, stores, limits)
        assert_plan_valid(plan, positions, limits)
        assert plan.units_moved > 0


def assert_plan_valid(plan, positions: list[StockPosition], limits: RebalancingLimits) -> None:
    by_key = {(p.store_id, p.sku): p for p in positions}
    sent: dict[tuple[str, str], int] = defaultdict(int)
    received: dict[tuple[str, str], int] = defaultdict(int)
    destinations: dict[str, set[str]] = defaultdict(set)
    for p in plan.proposals:
        assert isinstance(p, Proposal) and isinstance(p.qty, int)
        assert p.qty >= limits.min_transfer_qty
        assert p.sku not in limits.excluded_skus
        assert {p.source_store, p.destination_store}.isdisjoint(limits.excluded_stores)
        assert p.source_store != p.destination_store
        if limits.max_distance_km is not None:
            assert p.distance_km <= limits.max_distance_km
        sent[(p.source_store, p.sku)] += p.qty
        received[(p.destination_store, p.sku)] += p.qty
        destinations[p.source_store].add(p.destination_store)
    for key, qty in sent.items():
        assert qty <= by_key[key].surplus  # never more than the source holds above forecast + safety
    for key, qty in received.items():
        assert qty <= by_key[key].need
    if limits.max_transfers_per_store_per_day is not None:
        assert all(len(d) <= limits.max_transfers_per_store_per_day for d in destinations.values())
    in_scope = [p for p in positions if p.sku not in limits.excluded_skus and p.store_id not in limits.excluded_stores]
    assert plan.units_moved <= sum(p.surplus for p in in_scope)
    assert plan.units_moved <= sum(p.need for p in in_scope)
    # Every need is either received or reported short.
    short = {(s.store_id, s.sku): s.qty for s in plan.shortfalls}
    for p in in_scope:
        if p.need:
            assert received[(p.store_id, p.sku)] + short.get((p.store_id, p.sku), 0) == p.need


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_without_limits_the_lp_covers_all_it_can_and_beats_greedy(network):
    stores, positions = network
    plan = propose_transfers(positions, stores)
    for sku in {p.sku for p in positions}:
        moved = sum(p.qty for p in plan.proposals if p.sku == sku)
        of_sku = [p for p in positions if p.sku == sku]
        assert moved == min(sum(p.surplus for p in of_sku), sum(p.need for p in of_sku))
    assert plan.unit_km <= greedy_unit_km(positions, stores) + 1e-6


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.floats(0.0, 900.0), st.integers(0, 4)), min_size=1, max_size=6),
    st.integers(0, 40),
    st.booleans(),
)
def test_single_store_shortcut_matches_the_lp(spokes, hub, hub_is_source):
    # One source (or one destination) facing several stores is solved by filling the cheapest arcs first;
    # its objective must equal HiGHS's on the same LP, lower bounds included.
    caps = [cap for cap, _, _ in spokes]
    cost = [km for _, km, _ in spokes]
    lower = [min(lo, cap) for cap, _, lo in spokes]
    supply, demand = ([hub], caps) if hub_is_source else (caps, [hub])
    arcs = [(0, k) if hub_is_source else (k, 0) for k in range(len(spokes))]
    penalty = (1 + max(cost)) * 2
    star = rebalancing._star(supply, demand, arcs, cost, lower, penalty)
    a_ub = np.vstack([np.ones(len(spokes)), np.eye(len(spokes))])
    res = linprog(
        np.asarray(cost) - penalty,
        A_ub=a_ub,
        b_ub=[hub, *caps],
        bounds=[(lo, None) for lo in lower],
        method="highs",
    )
    if res.status == 2:
        assert star is None
    else:
        flows, objective = star
        assert objective == pytest.approx(res.fun, rel=1e-9, abs=1e-6)
        assert all(lo <= q <= cap for q, lo, cap in zip(flows, lower, caps, strict=True))
        assert sum(flows) <= hub
