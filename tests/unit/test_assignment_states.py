"""The assignment state machine: every step from every state, legal or not, and the stock it moves."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import IllegalTransition, InvalidInput, Refused
from shared.wire import AssignmentKind
from store_node.domain import assignments as steps
from store_node.domain.assignments import Assignment, Line, Parcel, RejectReason, Status
from store_node.domain.stock import MovementKind, StockItem

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SHIP, CNC, TRANSFER = (
    AssignmentKind.SHIP_FROM_STORE,
    AssignmentKind.CLICK_AND_COLLECT,
    AssignmentKind.TRANSFER_OUT,
)
ON_HAND = 10
HOLDING = {Status.ACCEPTED, Status.PICKING, Status.PICKED, Status.PACKED, Status.READY_FOR_PICKUP}
PICKED_IN_FULL = {
    Status.PICKED,
    Status.PACKED,
    Status.SHIPPED,
    Status.READY_FOR_PICKUP,
    Status.COLLECTED,
    Status.EXPIRED,
}
# the states each kind can reach: a click-and-collect order is never packed, a parcel never collected
REACHABLE = {
    SHIP: set(Status) - {Status.READY_FOR_PICKUP, Status.COLLECTED, Status.EXPIRED},
    TRANSFER: set(Status) - {Status.READY_FOR_PICKUP, Status.COLLECTED, Status.EXPIRED},
    CNC: set(Status) - {Status.PACKED, Status.SHIPPED},
}


def make(status: Status = Status.ASSIGNED, kind: AssignmentKind = SHIP, requires_id_check: bool = False):
    """An assignment of 2 x A and 1 x B in ``status``, with stock consistent with that state."""
    lines = [Line("1", "A", 2), Line("2", "B", 1)]
    if status is Status.PICKING:
        lines[0].picked = 1
    if status in PICKED_IN_FULL:
        for line in lines:
            line.picked = line.qty
    if status is Status.REJECTED:
        for line in lines:
            line.rejected = line.qty
    a = Assignment(
        "AS-1",
        "O-1",
        kind,
        lines,
        deadline=NOW + timedelta(hours=2),
        status=status,
        requires_id_check=requires_id_check,
    )
    if status in (Status.READY_FOR_PICKUP, Status.COLLECTED, Status.EXPIRED):
        a.pickup_code, a.ready_at = "ABC234", NOW
    items = {}
    for sku, (on_hand, reserved) in _expected_stock(a).items():
        items[sku] = StockItem(sku, on_hand, reserved)
    return a, items


def _cancel(a, items):
    applied, _ = steps.cancel(a, items)
    if not applied:
        raise Refused("cancellation refused")


ACTIONS = {
    "accept": lambda a, items: steps.accept(a, items),
    "reject": lambda a, items: steps.reject(a, items, RejectReason.DAMAGED),
    "pick": lambda a, items: steps.pick(a, "A", 1),
    "complete_pick": lambda a, items: steps.complete_pick(a, items, short_reason="not on the shelf"),
    "pack": lambda a, items: steps.pack(a, [Parcel(900, "colissimo", "6A123")]),
    "ship": lambda a, items: steps.ship(a, items),
    "make_ready": lambda a, items: steps.make_ready(a, "XYZ789", NOW),
    "collect": lambda a, items: steps.collect(a, items, "ABC234", id_checked=True),
    "expire": lambda a, items: steps.expire(a, items),
    "cancel": _cancel,
}

NOT_FINISHED = {Status.ASSIGNED, *HOLDING}
# action -> {(kind or None for any kind, from status): resulting status}; anything else is illegal
LEGAL: dict[str, dict[tuple[AssignmentKind | None, Status], Status]] = {
    "accept": {(None, Status.ASSIGNED): Status.ACCEPTED},
    "reject": {(None, s): Status.REJECTED for s in (Status.ASSIGNED, Status.ACCEPTED, Status.PICKING)},
    "pick": {(None, Status.ACCEPTED): Status.PICKING, (None, Status.PICKING): Status.PICKING},
    # nothing picked yet: everything is short and the whole assignment goes back to the hub
    "complete_pick": {(None, Status.ACCEPTED): Status.REJECTED, (None, Status.PICKING): Status.PICKED},
    "pack": {(SHIP, Status.PICKED): Status.PACKED, (TRANSFER, Status.PICKED): Status.PACKED},
    "ship": {(SHIP, Status.PACKED): Status.SHIPPED, (TRANSFER, Status.PACKED): Status.SHIPPED},
    "make_ready": {(CNC, Status.PICKED): Status.READY_FOR_PICKUP},
    "collect": {(CNC, Status.READY_FOR_PICKUP): Status.COLLECTED},
    "expire": {(CNC, Status.READY_FOR_PICKUP): Status.EXPIRED},
    "cancel": {
        **{(None, s): Status.CANCELLED for s in NOT_FINISHED},
        # finished elsewhere: the cancellation is a no-op, so a re-delivery changes nothing
        **{(None, s): s for s in (Status.REJECTED, Status.EXPIRED, Status.CANCELLED)},
    },
}
# the physical fact wins: a cancellation of what left the store is refused, the state stays
REFUSED = {("cancel", Status.SHIPPED), ("cancel", Status.COLLECTED)}


def _expected(action: str, kind: AssignmentKind, status: Status) -> Status | None:
    table = LEGAL[action]
    return table.get((kind, status), table.get((None, status)))


CASES = [
    (action, kind, status)
    for action in ACTIONS
    for kind in AssignmentKind
    for status in Status
    if status in REACHABLE[kind]
]


def _expected_stock(a: Assignment) -> dict[str, tuple[int, int]]:
    """On hand and reserved that must follow from the assignment's state alone."""
    result = {}
    for sku in ("A", "B"):
        owed = sum(ln.to_fill for ln in a.lines if ln.sku == sku)
        gone = owed if a.status in (Status.SHIPPED, Status.COLLECTED) else 0
        result[sku] = (ON_HAND - gone, owed if a.status in HOLDING else 0)
    return result


@pytest.mark.parametrize(("action", "kind", "status"), CASES, ids=[f"{a}-{k}-{s}" for a, k, s in CASES])
def test_every_step_from_every_state(action, kind, status):
    a, items = make(status, kind)
    target = _expected(action, kind, status)
    if (action, status) in REFUSED:
        with pytest.raises(Refused):
            ACTIONS[action](a, items)
        assert a.status is status
    elif target is None:
        with pytest.raises(IllegalTransition) as err:
            ACTIONS[action](a, items)
        wrong_kind = (action == "pack" and kind is CNC) or (action == "make_ready" and kind is not CNC)
        assert f"AS-1 is {kind if wrong_kind else status}" in str(err.value)
        assert a.status is status
    else:
        ACTIONS[action](a, items)
        assert a.status is target
    # legal or not, the stock is what the assignment's state says: an illegal step moved nothing
    assert {s: (i.on_hand, i.reserved) for s, i in items.items()} == _expected_stock(a)


def test_a_finished_assignment_allows_nothing_but_a_harmless_cancel():
    for status in (Status.SHIPPED, Status.COLLECTED, Status.REJECTED, Status.EXPIRED, Status.CANCELLED):
        for action in set(ACTIONS) - {"cancel"}:
            for kind in AssignmentKind:
                assert _expected(action, kind, status) is None


# ------------------------------------------------------------------ accept


def test_accept_reserves_what_is_accepted():
    a, items = make()
    moves, rejection = steps.accept(a, items)
    assert rejection is None
    assert a.status is Status.ACCEPTED
    assert [(m.sku, m.kind, m.reserved_delta) for m in moves] == [
        ("A", MovementKind.RESERVE, 2),
        ("B", MovementKind.RESERVE, 1),
    ]
    assert (items["A"].reserved, items["B"].reserved) == (2, 1)


def test_accept_sums_lines_of_the_same_sku():
    a = Assignment("AS-2", "O", SHIP, [Line("1", "A", 2), Line("2", "A", 3)], NOW)
    items = {"A": StockItem("A", 4)}
    with pytest.raises(Refused) as err:
        steps.accept(a, items)
    assert err.value.problems == ["not enough stock to accept: A: available 4, needs 5"]
    items["A"].on_hand = 5
    steps.accept(a, items)
    assert items["A"].reserved == 5


def test_accept_refusal_names_every_short_sku_and_changes_nothing():
    a, items = make()
    items["A"].on_hand, items["B"].reserved = 1, ON_HAND
    with pytest.raises(Refused) as err:
        steps.accept(a, items)
    assert err.value.problems == [
        "not enough stock to accept: A: available 1, needs 2",
        "not enough stock to accept: B: available 0, needs 1",
    ]
    assert a.status is Status.ASSIGNED
    assert [ln.rejected for ln in a.lines] == [0, 0]
    assert (items["A"].reserved, items["B"].reserved) == (0, ON_HAND)


def test_partial_accept_rejects_some_quantities_and_reserves_the_rest():
    a, items = make()
    items["A"].on_hand = 1
    moves, rejection = steps.accept(a, items, {"1": 1, "2": 0}, RejectReason.OUT_OF_STOCK)
    assert a.status is Status.ACCEPTED
    assert rejection == steps.Rejection("out_of_stock", (("1", "A", 1),), whole=False)
    assert [(ln.rejected, ln.to_fill) for ln in a.lines] == [(1, 1), (0, 1)]
    assert [(m.sku, m.reserved_delta) for m in moves] == [("A", 1), ("B", 1)]


def test_accept_rejecting_everything_is_a_whole_rejection_without_reserving():
    a, items = make()
    moves, rejection = steps.accept(a, items, {"1": 2, "2": 1}, RejectReason.NO_CAPACITY)
    assert moves == []
    assert rejection == steps.Rejection("no_capacity", (("1", "A", 2), ("2", "B", 1)), whole=True)
    assert a.status is Status.REJECTED
    assert a.reject_reason == "no_capacity"
    assert (items["A"].reserved, items["B"].reserved) == (0, 0)


def test_accept_checks_every_rejected_quantity_at_once():
    a, items = make()
    with pytest.raises(InvalidInput) as err:
        steps.accept(a, items, {"1": 3, "2": -1})
    assert err.value.fields == [
        ("rejections", "line 1: can reject 0 to 2, got 3; line 2: can reject 0 to 1, got -1")
    ]
    assert a.status is Status.ASSIGNED


def test_accept_rejecting_an_unknown_line_names_it():
    a, items = make()
    with pytest.raises(InvalidInput) as err:
        steps.accept(a, items, {"9": 1})
    assert err.value.fields[0][0] == "line_id"
    assert "'9'" in err.value.fields[0][1]


# ------------------------------------------------------------------ reject


def test_reject_before_accepting_hands_every_line_back():
    a, items = make()
    moves, rejection = steps.reject(a, items, RejectReason.NO_CAPACITY)
    assert moves == []
    assert rejection == steps.Rejection("no_capacity", (("1", "A", 2), ("2", "B", 1)), whole=True)
    assert a.reject_reason == "no_capacity"
    assert [ln.to_fill for ln in a.lines] == [0, 0]


def test_reject_after_a_partial_accept_releases_the_reservation_and_hands_back_only_what_is_owed():
    a, items = make()
    steps.accept(a, items, {"1": 1})
    assert items["A"].reserved == 1
    moves, rejection = steps.reject(a, items, RejectReason.DAMAGED)
    assert a.status is Status.REJECTED
    # line 1 already gave one unit back at accept: only the one still owed goes back now
    assert rejection == steps.Rejection("damaged", (("1", "A", 1), ("2", "B", 1)), whole=True)
    assert [(m.sku, m.kind, m.reserved_delta) for m in moves] == [
        ("A", MovementKind.RELEASE, -1),
        ("B", MovementKind.RELEASE, -1),
    ]
    assert (items["A"].reserved, items["B"].reserved) == (0, 0)


# ------------------------------------------------------------------ pick


def test_scans_pick_one_unit_at_a_time_and_start_picking():
    a, items = make(Status.ACCEPTED)
    line = steps.pick(a, "A")
    assert a.status is Status.PICKING
    assert (line.line_id, line.picked, line.left_to_pick) == ("1", 1, 1)
    steps.pick(a, "A")
    with pytest.raises(Refused) as err:
        steps.pick(a, "A")
    assert str(err.value) == "too many A: 0 left to pick, got 1"


def test_a_wrong_item_names_what_is_expected():
    a, items = make(Status.ACCEPTED)
    steps.pick(a, "B")
    with pytest.raises(Refused) as err:
        steps.pick(a, "Z")
    assert str(err.value) == "wrong item: scanned Z, expected A"
    assert [ln.picked for ln in a.lines] == [0, 1]


def test_pick_spreads_a_quantity_over_lines_of_the_same_sku():
    a = Assignment("AS-3", "O", SHIP, [Line("1", "A", 2), Line("2", "A", 3)], NOW, status=Status.ACCEPTED)
    steps.pick(a, "A", 4)
    assert [ln.picked for ln in a.lines] == [2, 2]
    with pytest.raises(Refused):
        steps.pick(a, "A", 2)


@pytest.mark.parametrize("qty", [0, -1])
def test_pick_quantity_must_be_positive(qty):
    a, items = make(Status.ACCEPTED)
    with pytest.raises(InvalidInput) as err:
        steps.pick(a, "A", qty)
    assert err.value.fields[0][0] == "qty"


def test_a_rejected_quantity_is_not_picked():
    a, items = make()
    steps.accept(a, items, {"1": 2})
    with pytest.raises(Refused) as err:
        steps.pick(a, "A")
    assert str(err.value) == "too many A: 0 left to pick, got 1"


def test_complete_pick_in_full_keeps_the_reservation():
    a, items = make(Status.ACCEPTED)
    steps.pick(a, "A", 2)
    steps.pick(a, "B")
    moves, rejection = steps.complete_pick(a, items)
    assert (moves, rejection) == ([], None)
    assert a.status is Status.PICKED
    assert (items["A"].reserved, items["B"].reserved) == (2, 1)


def test_a_short_pick_needs_a_reason_naming_what_is_missing():
    a, items = make(Status.ACCEPTED)
    steps.pick(a, "A")
    with pytest.raises(Refused) as err:
        steps.complete_pick(a, items)
    assert str(err.value) == "short pick needs a reason: still to pick A x1, B x1"
    assert a.status is Status.PICKING
    assert (items["A"].reserved, items["B"].reserved) == (2, 1)


def test_a_short_pick_rejects_the_missing_quantity_and_releases_it():
    a, items = make(Status.ACCEPTED)
    steps.pick(a, "A")
    steps.pick(a, "B")
    moves, rejection = steps.complete_pick(a, items, "shelf empty")
    assert a.status is Status.PICKED
    assert rejection == steps.Rejection("short_pick", (("1", "A", 1),), whole=False)
    assert [(m.sku, m.kind, m.reserved_delta) for m in moves] == [("A", MovementKind.RELEASE, -1)]
    assert (items["A"].reserved, items["B"].reserved) == (1, 1)
    assert [ln.to_fill for ln in a.lines] == [1, 1]


def test_nothing_found_rejects_the_whole_assignment():
    a, items = make(Status.ACCEPTED)
    moves, rejection = steps.complete_pick(a, items, "not in store")
    assert a.status is Status.REJECTED
    assert a.reject_reason == "short_pick: not in store"
    assert rejection.whole
    assert (items["A"].reserved, items["B"].reserved) == (0, 0)


# ------------------------------------------------------------------ pack, ship


def test_pack_needs_a_parcel():
    a, items = make(Status.PICKED)
    with pytest.raises(InvalidInput) as err:
        steps.pack(a, [])
    assert err.value.fields[0][0] == "parcels"
    assert a.status is Status.PICKED


def test_ship_dispatches_what_was_filled():
    a, items = make()
    steps.accept(a, items)
    steps.pick(a, "A")
    steps.pick(a, "B")
    steps.complete_pick(a, items, "one missing")
    steps.pack(a, [Parcel(500, "dpd", "XYZ1")])
    moves = steps.ship(a, items)
    assert a.status is Status.SHIPPED
    assert a.parcels == [Parcel(500, "dpd", "XYZ1")]
    assert [(m.sku, m.kind, m.on_hand_delta, m.reserved_delta) for m in moves] == [
        ("A", MovementKind.DISPATCH, -1, -1),
        ("B", MovementKind.DISPATCH, -1, -1),
    ]
    assert {s: (i.on_hand, i.reserved) for s, i in items.items()} == {"A": (9, 0), "B": (9, 0)}


# ------------------------------------------------------------------ click and collect


def test_make_ready_issues_the_code_and_stamps_the_time():
    a, items = make(Status.PICKED, CNC)
    steps.make_ready(a, "K7P2QX", NOW)
    assert (a.status, a.pickup_code, a.ready_at) == (Status.READY_FOR_PICKUP, "K7P2QX", NOW)


@pytest.mark.parametrize("code", ["ABC234", " abc234 ", "abc234"])
def test_collect_accepts_the_code_as_typed(code):
    a, items = make(Status.READY_FOR_PICKUP, CNC)
    moves = steps.collect(a, items, code, id_checked=False)
    assert a.status is Status.COLLECTED
    assert [(m.sku, m.on_hand_delta, m.reserved_delta) for m in moves] == [("A", -2, -2), ("B", -1, -1)]


def test_collect_with_a_wrong_code_is_refused():
    a, items = make(Status.READY_FOR_PICKUP, CNC)
    with pytest.raises(Refused) as err:
        steps.collect(a, items, "ABC235", id_checked=True)
    assert err.value.problems == ["pickup code does not match"]
    assert a.status is Status.READY_FOR_PICKUP
    assert (items["A"].on_hand, items["A"].reserved) == (ON_HAND, 2)


def test_collect_without_the_required_id_check_is_refused():
    a, items = make(Status.READY_FOR_PICKUP, CNC, requires_id_check=True)
    with pytest.raises(Refused) as err:
        steps.collect(a, items, "ABC234", id_checked=False)
    assert err.value.problems == ["this order needs an ID check before hand-over"]
    steps.collect(a, items, "ABC234", id_checked=True)
    assert a.status is Status.COLLECTED


def test_collect_reports_every_problem_at_once():
    a, items = make(Status.READY_FOR_PICKUP, CNC, requires_id_check=True)
    with pytest.raises(Refused) as err:
        steps.collect(a, items, "WRONG1", id_checked=False)
    assert err.value.problems == [
        "pickup code does not match",
        "this order needs an ID check before hand-over",
    ]


def test_expiry_is_due_after_the_configured_days():
    a, _ = make(Status.READY_FOR_PICKUP, CNC)
    assert not steps.is_expired(a, NOW + timedelta(days=3) - timedelta(seconds=1), 3)
    assert steps.is_expired(a, NOW + timedelta(days=3), 3)
    a.status = Status.COLLECTED
    assert not steps.is_expired(a, NOW + timedelta(days=30), 3)


def test_expire_returns_the_items_to_available():
    a, items = make(Status.READY_FOR_PICKUP, CNC)
    moves = steps.expire(a, items)
    assert [(m.sku, m.kind, m.reserved_delta) for m in moves] == [
        ("A", MovementKind.RELEASE, -2),
        ("B", MovementKind.RELEASE, -1),
    ]
    assert (items["A"].available, items["B"].available) == (ON_HAND, ON_HAND)


# ------------------------------------------------------------------ cancel, at risk, deadline


def test_cancel_before_accepting_moves_no_stock():
    a, items = make()
    assert steps.cancel(a, items) == (True, [])
    assert a.status is Status.CANCELLED


def test_cancel_while_holding_releases_the_reservation():
    a, items = make(Status.PACKED)
    applied, moves = steps.cancel(a, items)
    assert applied
    assert [(m.sku, m.reserved_delta) for m in moves] == [("A", -2), ("B", -1)]
    assert (items["A"].on_hand, items["A"].reserved) == (ON_HAND, 0)


@pytest.mark.parametrize(("status", "kind"), [(Status.SHIPPED, SHIP), (Status.COLLECTED, CNC)])
def test_cancel_after_the_goods_left_is_refused(status, kind):
    a, items = make(status, kind)
    assert steps.cancel(a, items) == (False, [])
    assert a.status is status


def test_at_risk_when_a_sale_took_stock_an_accepted_assignment_holds():
    a, items = make()
    items["A"].on_hand = 2
    steps.accept(a, items)
    assert not steps.at_risk(a, items)
    items["A"].on_hand -= 1  # a till sale
    assert steps.at_risk(a, items)
    steps.pick(a, "A", 2)  # found both after all: nothing of A left to pick
    assert not steps.at_risk(a, items)


def test_an_assignment_not_holding_stock_is_never_at_risk():
    a, items = make()
    items["A"].on_hand = -5
    assert not steps.at_risk(a, items)


def test_deadline_passes_only_for_an_unanswered_assignment():
    a, items = make()
    assert not steps.deadline_passed(a, a.deadline)
    assert steps.deadline_passed(a, a.deadline + timedelta(seconds=1))
    steps.accept(a, items)
    assert not steps.deadline_passed(a, a.deadline + timedelta(days=1))
