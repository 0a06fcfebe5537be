"""Replenishment alerts: when a SKU's available stock crosses below its reorder point, ask for more, once.

A reorder point is set for one store and SKU, or network-wide (``store_id == "*"``) for a SKU.
The two are separate rules, not a default and its override (unlike safety stock, where "*"
means "every store"): a store's point watches that store's shelf, the network point watches
the SKU summed over every store (what the supplier or the warehouse has to top up).

*Available* is on hand − reserved as the stores report it (absolute levels, see the sync
protocol), per store or summed over the network. Goods in transit between stores and
requests already sent are not counted: the once-per-crossing rule below is what keeps a
request from being sent again while the first one is being filled.

A rule is in one of two states, *armed* (available at or above the point) or *below*. Going
from armed to below raises exactly one request; staying below raises nothing however many
times the level is re-sent or re-evaluated; only coming back to or above the point re-arms
the rule. So the decision depends on (previous state, new available) alone and evaluating
the same levels twice is harmless.

Suggested quantity: enough to bring available back to the *order-up-to level*, which is the
reorder point + the rule's ``order_qty`` (an (s, S) policy with S = s + order_qty). When
available fell below zero (more reserved than on hand), the deficit is ordered too.

Delivery of a request to the ERP / supplier endpoint is retried with exponential back-off:
5 s, 10 s, 20 s ... capped at 30 minutes, and given up ("failed", shown in the console, where
head office can send it again) after :data:`MAX_ATTEMPTS` attempts.
"""

from collections.abc import Iterable
from dataclasses import dataclass

NETWORK = "*"
#: delivery back-off: first retry after BACKOFF_BASE seconds, doubling, never more than BACKOFF_CAP
BACKOFF_BASE = 5
BACKOFF_CAP = 30 * 60
MAX_ATTEMPTS = 10

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)


@dataclass(frozen=True)
class ReorderRule:
    store_id: str  # a store, or NETWORK for the SKU summed over every store
    sku: str
    reorder_point: int  # a request goes out when available falls strictly below this
    order_qty: int  # order-up-to level = reorder_point + order_qty

    @property
    def network_wide(self) -> bool:
        return self.store_id == NETWORK

    @property
    def order_up_to(self) -> int:
        return self.reorder_point + self.order_qty


@dataclass(frozen=True)
class Verdict:
    """What one evaluation decides: the rule's new state and whether a request goes out now."""

    below: bool  # the rule's state after this evaluation
    request: bool  # True exactly when this evaluation crossed from armed to below
    qty: int  # suggested order quantity (0 when no request)


def available(on_hand: int, reserved: int) -> int:
    """What a store could still sell of a SKU: its on hand less what is reserved for orders."""
    return on_hand - reserved


def network_available(levels: Iterable[tuple[int, int]]) -> int:
    """Available summed over the network, from each store's ``(on_hand, reserved)``."""
    return sum(available(on_hand, reserved) for on_hand, reserved in levels)


def suggested_qty(rule: ReorderRule, now_available: int) -> int:
    """Units to order to bring ``now_available`` back to the rule's order-up-to level (at least 1)."""
    return max(1, rule.order_up_to - now_available)


def assess(rule: ReorderRule, was_below: bool, now_available: int) -> Verdict:
    """The rule's new state for ``now_available``; a request only on the downward crossing."""
    below = now_available < rule.reorder_point
    crossing = below and not was_below
    return Verdict(below=below, request=crossing, qty=suggested_qty(rule, now_available) if crossing else 0)


def backoff_seconds(attempts: int) -> int:
    """Seconds to wait before the next attempt after ``attempts`` failed ones (5, 10, 20, ... capped)."""
    if attempts < 1:
        return 0
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempts - 1, 30))


def after_failure(attempts: int, max_attempts: int = MAX_ATTEMPTS) -> tuple[str, int]:
    """A delivery failed for the ``attempts``-th time: (new status, seconds until the next attempt)."""
    if attempts >= max_attempts:
        return FAILED, 0
    return PENDING, backoff_seconds(attempts)
