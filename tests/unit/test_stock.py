"""Stock arithmetic of one SKU: every movement's effect on on hand and reserved, and its refusals."""

import pytest

from shared.errors import InvalidInput
from store_node.domain import stock
from store_node.domain.stock import AdjustmentReason, Movement, MovementKind, StockItem


def test_available_and_short():
    item = StockItem("S", on_hand=5, reserved=2)
    assert item.available == 3
    assert not item.short
    item.reserved = 6
    assert item.available == -1
    assert item.short


def test_receive_adds_on_hand_only():
    item = StockItem("S", on_hand=2, reserved=1)
    move = stock.receive(item, 4)
    assert (item.on_hand, item.reserved) == (6, 1)
    assert move == Movement("S", MovementKind.RECEIPT, on_hand_delta=4)


@pytest.mark.parametrize("step", [stock.receive, stock.sell])
@pytest.mark.parametrize("qty", [0, -3])
def test_quantities_must_be_positive(step, qty):
    item = StockItem("S", on_hand=2)
    with pytest.raises(InvalidInput) as err:
        step(item, qty)
    assert err.value.fields[0][0] == "qty"
    assert item.on_hand == 2


def test_sale_is_never_refused_for_lack_of_stock():
    item = StockItem("S", on_hand=1, reserved=1)
    move = stock.sell(item, 3)
    assert (item.on_hand, item.reserved) == (-2, 1)
    assert move == Movement("S", MovementKind.SALE, on_hand_delta=-3)
    assert item.short


def test_sellable_return_goes_back_on_hand():
    item = StockItem("S", on_hand=0)
    move = stock.take_return(item, 2, sellable=True)
    assert item.on_hand == 2
    assert move == Movement("S", MovementKind.RETURN_SELLABLE, on_hand_delta=2)


def test_damaged_return_is_recorded_but_not_sellable():
    item = StockItem("S", on_hand=3)
    move = stock.take_return(item, 2, sellable=False)
    assert item.on_hand == 3
    assert move == Movement("S", MovementKind.RETURN_DAMAGED, reason="damaged")


def test_return_quantity_must_be_positive():
    with pytest.raises(InvalidInput):
        stock.take_return(StockItem("S"), 0, sellable=True)


@pytest.mark.parametrize(("before", "counted", "variance"), [(5, 3, -2), (3, 5, 2), (-2, 0, 2), (4, 4, 0)])
def test_count_sets_on_hand_and_records_the_variance(before, counted, variance):
    item = StockItem("S", on_hand=before, reserved=1)
    move = stock.count(item, counted)
    assert (item.on_hand, item.reserved) == (counted, 1)
    assert move == Movement("S", MovementKind.COUNT, on_hand_delta=variance)


def test_count_cannot_be_negative():
    item = StockItem("S", on_hand=4)
    with pytest.raises(InvalidInput) as err:
        stock.count(item, -1)
    assert err.value.fields[0][0] == "counted"
    assert item.on_hand == 4


@pytest.mark.parametrize(
    ("delta", "reason"),
    [
        (-2, AdjustmentReason.DAMAGE),
        (-1, AdjustmentReason.THEFT),
        (3, AdjustmentReason.FOUND),
        (-4, AdjustmentReason.OTHER),
        (4, AdjustmentReason.OTHER),
    ],
)
def test_adjustment_moves_on_hand_with_its_reason(delta, reason):
    item = StockItem("S", on_hand=10, reserved=2)
    move = stock.adjust(item, delta, reason)
    assert (item.on_hand, item.reserved) == (10 + delta, 2)
    assert move == Movement("S", MovementKind.ADJUSTMENT, on_hand_delta=delta, reason=str(reason))


@pytest.mark.parametrize(
    ("delta", "reason", "message"),
    [
        (0, AdjustmentReason.OTHER, "must not be zero"),
        (2, AdjustmentReason.DAMAGE, "a damage adjustment removes stock"),
        (1, AdjustmentReason.THEFT, "a theft adjustment removes stock"),
        (-1, AdjustmentReason.FOUND, "a found adjustment adds stock"),
    ],
)
def test_adjustment_sign_must_fit_the_reason(delta, reason, message):
    item = StockItem("S", on_hand=10)
    with pytest.raises(InvalidInput) as err:
        stock.adjust(item, delta, reason)
    assert err.value.fields[0][0] == "delta"
    assert message in err.value.fields[0][1]
    assert item.on_hand == 10


def test_reserve_and_release():
    item = StockItem("S", on_hand=5)
    assert stock.reserve(item, 3) == Movement("S", MovementKind.RESERVE, reserved_delta=3)
    assert (item.on_hand, item.reserved, item.available) == (5, 3, 2)
    assert stock.release(item, 2) == Movement("S", MovementKind.RELEASE, reserved_delta=-2)
    assert (item.on_hand, item.reserved) == (5, 1)


def test_release_never_takes_reserved_below_zero():
    item = StockItem("S", on_hand=5, reserved=1)
    move = stock.release(item, 4)
    assert item.reserved == 0
    assert move.reserved_delta == -1


def test_dispatch_drops_on_hand_and_reserved():
    item = StockItem("S", on_hand=5, reserved=3)
    move = stock.dispatch(item, 2)
    assert (item.on_hand, item.reserved) == (3, 1)
    assert move == Movement("S", MovementKind.DISPATCH, on_hand_delta=-2, reserved_delta=-2)


def test_dispatch_beyond_reserved_keeps_reserved_at_zero_and_movements_exact():
    item = StockItem("S", on_hand=1, reserved=1)
    move = stock.dispatch(item, 3)
    assert (item.on_hand, item.reserved) == (-2, 0)
    assert (move.on_hand_delta, move.reserved_delta) == (-3, -1)
