"""Receiving a transfer from another store: what was counted against what was shipped."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.errors import InvalidInput

from . import stock
from .stock import Movement, StockItem


@dataclass(frozen=True)
class ExpectedLine:
    line_id: str
    sku: str
    shipped: int


@dataclass(frozen=True)
class Counted:
    received: int = 0  # sellable units found
    damaged: int = 0  # found but not sellable


@dataclass(frozen=True)
class LineOutcome:
    line_id: str
    sku: str
    shipped: int
    received: int
    damaged: int
    missing: int
    extra: int

    @property
    def discrepancy(self) -> bool:
        return bool(self.damaged or self.missing or self.extra)


def reconcile(expected: Sequence[ExpectedLine], counted: Mapping[str, Counted]) -> list[LineOutcome]:
    """Compare what was counted per line with what was shipped; an uncounted line arrived empty."""
    unknown = sorted(set(counted) - {line.line_id for line in expected})
    if unknown:
        raise InvalidInput("lines", f"not lines of this transfer: {', '.join(unknown)}")
    outcomes = []
    for line in expected:
        c = counted.get(line.line_id, Counted())
        if c.received < 0 or c.damaged < 0:
            raise InvalidInput(f"lines[{line.line_id}]", "counts cannot be negative")
        found = c.received + c.damaged
        outcomes.append(
            LineOutcome(
                line.line_id,
                line.sku,
                line.shipped,
                c.received,
                c.damaged,
                missing=max(0, line.shipped - found),
                extra=max(0, found - line.shipped),
            )
        )
    return outcomes


def receive(outcomes: Sequence[LineOutcome], items: Mapping[str, StockItem], reason: str) -> list[Movement]:
    """Put the sellable units on hand; any discrepancy (damaged, missing, extra) needs a reason."""
    if any(o.discrepancy for o in outcomes) and not reason.strip():
        raise InvalidInput("reason", "say why the count differs from what was shipped")
    moves = []
    for o in outcomes:
        if o.received:
            moves.append(stock.receive(items[o.sku], o.received))
        if o.damaged:
            moves.append(Movement(o.sku, stock.MovementKind.RETURN_DAMAGED, reason="damaged in transit"))
    return moves
