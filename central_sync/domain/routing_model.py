"""The router's interface: orders to route, store candidates, allocations and decisions (pure domain).

Any router (the rule-based one in ``routing.py``, an optimiser later) takes these and answers these,
so services and the API never depend on which one runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class OrderKind(StrEnum):
    """What the customer asked for; a StrEnum so it serialises as its value and equals it."""

    SHIP_FROM_STORE = "ship_from_store"
    CLICK_AND_COLLECT = "click_and_collect"


FULFIL = "fulfil"
TRANSFER_PREFIX = "transfer_to:"


@dataclass(frozen=True)
class OrderLine:
    line_id: str
    sku: str
    qty: int

    def __post_init__(self) -> None:
        # A zero or negative line would let allocated + unfilled != ordered go unnoticed downstream.
        if self.qty < 1:
            raise ValueError(f"qty: must be a positive integer, got {self.qty!r} (line {self.line_id})")


@dataclass(frozen=True)
class OrderToRoute:
    order_id: str
    kind: OrderKind
    lines: tuple[OrderLine, ...]
    lat: float
    lon: float
    pickup_store_id: str | None = None
    excluded: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class StoreCandidate:
    store_id: str
    lat: float
    lon: float
    kinds: frozenset[OrderKind]
    capacity_left: int
    fresh: bool


@dataclass(frozen=True)
class Allocation:
    store_id: str
    line_id: str
    sku: str
    qty: int
    purpose: str


@dataclass(frozen=True)
class RoutingDecision:
    order_id: str
    allocations: tuple[Allocation, ...]
    unfilled: tuple[OrderLine, ...]
    reasons: tuple[str, ...]


class Router(Protocol):
    def route(
        self,
        orders: Sequence[OrderToRoute],
        atp: Mapping[tuple[str, str], int],
        stores: Sequence[StoreCandidate],
    ) -> list[RoutingDecision]: ...


def transfer_purpose(pickup_store_id: str) -> str:
    """The `purpose` of an allocation that moves stock to a click-and-collect pickup store."""
    return f"{TRANSFER_PREFIX}{pickup_store_id}"
