"""Stock of one SKU at the store: on hand, reserved, available, and the movements that change them."""

from dataclasses import dataclass
from enum import StrEnum

from shared.errors import InvalidInput


class MovementKind(StrEnum):
    RECEIPT = "receipt"
    SALE = "sale"
    RETURN_SELLABLE = "return_sellable"
    RETURN_DAMAGED = "return_damaged"
    COUNT = "count"
    ADJUSTMENT = "adjustment"
    RESERVE = "reserve"
    RELEASE = "release"
    DISPATCH = "dispatch"


class AdjustmentReason(StrEnum):
    DAMAGE = "damage"
    THEFT = "theft"
    FOUND = "found"
    OTHER = "other"


@dataclass
class StockItem:
    """On hand is what is physically in the store; reserved is held for accepted assignments.

    On hand may fall below reserved (a till sale is never refused: the customer holds the
    item), and even below zero when the records were wrong; reserved never goes negative.
    """

    sku: str
    on_hand: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def short(self) -> bool:
        """More is promised to assignments than the store holds."""
        return self.on_hand < self.reserved


@dataclass(frozen=True)
class Movement:
    """One change of on hand or reserved, with why it happened."""

    sku: str
    kind: MovementKind
    on_hand_delta: int = 0
    reserved_delta: int = 0
    reason: str = ""


def _positive(qty: int, field: str) -> None:
    if qty <= 0:
        raise InvalidInput(field, f"must be a positive whole number, got {qty}")


def receive(item: StockItem, qty: int) -> Movement:
    _positive(qty, "qty")
    item.on_hand += qty
    return Movement(item.sku, MovementKind.RECEIPT, on_hand_delta=qty)


def sell(item: StockItem, qty: int) -> Movement:
    """Never refused for lack of recorded stock: the customer is holding the item."""
    _positive(qty, "qty")
    item.on_hand -= qty
    return Movement(item.sku, MovementKind.SALE, on_hand_delta=-qty)


def take_return(item: StockItem, qty: int, sellable: bool) -> Movement:
    """A sellable return goes back on the shelf; a damaged one is recorded but not sellable."""
    _positive(qty, "qty")
    if sellable:
        item.on_hand += qty
        return Movement(item.sku, MovementKind.RETURN_SELLABLE, on_hand_delta=qty)
    return Movement(item.sku, MovementKind.RETURN_DAMAGED, reason="damaged")


def count(item: StockItem, counted: int) -> Movement:
    """A count sets on hand; the movement records the variance against the records."""
    if counted < 0:
        raise InvalidInput("counted", f"cannot be negative, got {counted}")
    variance = counted - item.on_hand
    item.on_hand = counted
    return Movement(item.sku, MovementKind.COUNT, on_hand_delta=variance)


def adjust(item: StockItem, delta: int, reason: AdjustmentReason) -> Movement:
    """Damage and theft take stock away, found stock adds it; the sign must fit the reason."""
    if delta == 0:
        raise InvalidInput("delta", "must not be zero")
    if reason in (AdjustmentReason.DAMAGE, AdjustmentReason.THEFT) and delta > 0:
        raise InvalidInput("delta", f"a {reason} adjustment removes stock: use a negative delta")
    if reason is AdjustmentReason.FOUND and delta < 0:
        raise InvalidInput("delta", "a found adjustment adds stock: use a positive delta")
    item.on_hand += delta
    return Movement(item.sku, MovementKind.ADJUSTMENT, on_hand_delta=delta, reason=str(reason))


def reserve(item: StockItem, qty: int) -> Movement:
    item.reserved += qty
    return Movement(item.sku, MovementKind.RESERVE, reserved_delta=qty)


def release(item: StockItem, qty: int) -> Movement:
    # min() guards the invariant if records were already inconsistent; never below zero
    qty = min(qty, item.reserved)
    item.reserved -= qty
    return Movement(item.sku, MovementKind.RELEASE, reserved_delta=-qty)


def dispatch(item: StockItem, qty: int) -> Movement:
    """Reserved units leave the store (shipped or handed over): both figures drop."""
    released = min(qty, item.reserved)
    item.reserved -= released
    item.on_hand -= qty
    return Movement(item.sku, MovementKind.DISPATCH, on_hand_delta=-qty, reserved_delta=-released)
