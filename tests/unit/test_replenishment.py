"""Replenishment crossings (pure domain): one request per downward crossing, re-armed at or above the
point, network-wide versus per store, the suggested quantity and the delivery back-off."""

from hypothesis import given
from hypothesis import strategies as st

from central_sync.domain.replenishment import (
    BACKOFF_CAP,
    FAILED,
    MAX_ATTEMPTS,
    NETWORK,
    PENDING,
    ReorderRule,
    after_failure,
    assess,
    available,
    backoff_seconds,
    network_available,
    suggested_qty,
)

STORE_RULE = ReorderRule("PAR-01", "TENT-2", reorder_point=5, order_qty=20)


def run(rule: ReorderRule, values: list[int], below: bool = False) -> list[int]:
    """Feed ``values`` one evaluation at a time; answers the suggested quantity of each request raised."""
    requests = []
    for value in values:
        verdict = assess(rule, below, value)
        below = verdict.below
        if verdict.request:
            requests.append(verdict.qty)
    return requests


def test_going_below_the_point_raises_one_request_with_the_quantity_up_to_the_level():
    verdict = assess(STORE_RULE, False, 3)
    assert (verdict.below, verdict.request, verdict.qty) == (True, True, 22)  # 5 + 20 - 3


def test_at_the_point_is_not_below():
    verdict = assess(STORE_RULE, False, 5)
    assert (verdict.below, verdict.request, verdict.qty) == (False, False, 0)


def test_staying_below_raises_nothing_more_however_often_the_level_is_sent():
    assert run(STORE_RULE, [4, 4, 4, 3, 0, 2, 1, 4]) == [21]  # only the first crossing


def test_re_evaluating_the_same_level_is_harmless():
    first = assess(STORE_RULE, False, 2)
    again = assess(STORE_RULE, first.below, 2)
    assert first.request and not again.request and again.below


def test_re_armed_only_back_at_or_above_the_point():
    # 4 (request) -> 4.. still below -> 5 at the point: re-armed -> 4 again: a second request
    assert run(STORE_RULE, [6, 4, 4, 5, 4]) == [21, 21]
    # rising but never back to the point: still one request
    assert run(STORE_RULE, [4, 1, 3, 4, 2]) == [21]


def test_a_rule_already_below_when_it_is_set_raises_at_once():
    assert run(STORE_RULE, [0]) == [25]


def test_a_state_already_below_is_kept():
    assert run(STORE_RULE, [3, 2], below=True) == []


def test_suggested_quantity_includes_an_oversold_deficit_and_is_never_zero():
    assert suggested_qty(STORE_RULE, -2) == 27  # 25 - (-2): what is promised and missing too
    zero_lot = ReorderRule("PAR-01", "X", reorder_point=5, order_qty=0)
    assert suggested_qty(zero_lot, 4) == 1
    assert run(zero_lot, [4]) == [1]


def test_point_zero_never_fires_for_stock_at_zero_but_fires_when_oversold():
    rule = ReorderRule("PAR-01", "X", reorder_point=0, order_qty=10)
    assert run(rule, [3, 0, 0]) == []
    assert run(rule, [0, -1]) == [11]


def test_available_is_on_hand_less_reserved_and_the_network_sums_the_stores():
    assert available(7, 2) == 5
    assert network_available([(7, 2), (3, 3), (1, 0)]) == 6
    assert network_available([]) == 0


def test_network_wide_and_per_store_rules_cross_independently():
    network = ReorderRule(NETWORK, "TENT-2", reorder_point=10, order_qty=30)
    assert network.network_wide and not STORE_RULE.network_wide
    levels = {"PAR-01": (4, 0), "LYO-01": (9, 0)}  # Paris is below its own point; the network has 13
    paris = assess(STORE_RULE, False, available(*levels["PAR-01"]))
    whole = assess(network, False, network_available(levels.values()))
    assert paris.request and paris.qty == 21
    assert not whole.request and not whole.below
    levels["LYO-01"] = (5, 1)  # the network falls to 8: its own request, Paris stays below without a new one
    assert not assess(STORE_RULE, paris.below, available(*levels["PAR-01"])).request
    whole = assess(network, whole.below, network_available(levels.values()))
    assert whole.request and whole.qty == 32  # 10 + 30 - 8


def test_backoff_doubles_from_five_seconds_and_is_capped():
    assert [backoff_seconds(n) for n in range(1, 6)] == [5, 10, 20, 40, 80]
    assert backoff_seconds(0) == 0
    assert backoff_seconds(40) == BACKOFF_CAP


def test_the_last_attempt_fails_the_request():
    assert after_failure(1) == (PENDING, 5)
    assert after_failure(MAX_ATTEMPTS - 1)[0] == PENDING
    assert after_failure(MAX_ATTEMPTS) == (FAILED, 0)
    assert after_failure(2, max_attempts=2) == (FAILED, 0)


def _downward_crossings(point: int, values: list[int]) -> int:
    """Counted independently of the domain: a value below the point right after one at or above it
    (or first, since a new rule starts armed)."""
    previous_at_or_above = True
    crossings = 0
    for value in values:
        if value < point and previous_at_or_above:
            crossings += 1
        previous_at_or_above = value >= point
    return crossings


@given(
    point=st.integers(min_value=0, max_value=50),
    order_qty=st.integers(min_value=0, max_value=100),
    values=st.lists(st.integers(min_value=-20, max_value=80), max_size=60),
)
def test_property_one_request_per_downward_crossing(point, order_qty, values):
    rule = ReorderRule("PAR-01", "SKU", point, order_qty)
    raised = run(rule, values)
    assert len(raised) == _downward_crossings(point, values)
    assert all(qty >= 1 and qty >= rule.order_up_to - point + 1 for qty in raised)


@given(values=st.lists(st.integers(min_value=-5, max_value=20), min_size=1, max_size=40))
def test_property_evaluating_each_level_twice_changes_nothing(values):
    rule = ReorderRule("PAR-01", "SKU", 6, 10)
    doubled = [v for value in values for v in (value, value)]
    assert run(rule, doubled) == run(rule, values)
