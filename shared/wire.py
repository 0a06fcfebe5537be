"""The sync protocol between a store node and the hub: every message that crosses the wire.

Store -> hub: a :class:`SyncRequest` carrying outbox events in seq order and the store's
feed cursor. Hub -> store: a :class:`SyncResponse` with the highest contiguous seq the hub
holds and the next messages of the store's feed. Stock travels as absolute levels
(:class:`StockLevel`) stamped by the seq of the event that carries them.
"""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Sku = Annotated[str, Field(min_length=1, max_length=64)]
Qty = Annotated[int, Field(ge=0, le=1_000_000)]
PositiveQty = Annotated[int, Field(ge=1, le=1_000_000)]
Cents = Annotated[int, Field(ge=0, le=10**11)]
Timestamp = Annotated[str, Field(min_length=20, max_length=32, pattern=r"Z$|[+-]\d\d:\d\d$")]

MAX_EVENTS_PER_EXCHANGE = 2000
MAX_MESSAGES_PER_EXCHANGE = 500


class Wire(BaseModel):
    """Strict base: unknown fields are refused so that a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AssignmentKind(StrEnum):
    SHIP_FROM_STORE = "ship_from_store"
    CLICK_AND_COLLECT = "click_and_collect"
    TRANSFER_OUT = "transfer_out"


class StockLevel(Wire):
    """Absolute stock of one SKU at one store, as of the event that carries it."""

    sku: Sku
    on_hand: int
    reserved: Qty


# ---------------------------------------------------------------- store -> hub events


class EventKind(StrEnum):
    STOCK_SNAPSHOT = "stock.snapshot"  # first event of an epoch: every level
    STOCK_RECEIVED = "stock.received"
    STOCK_COUNTED = "stock.counted"
    STOCK_ADJUSTED = "stock.adjusted"
    SALE_RECORDED = "sale.recorded"
    RETURN_RECORDED = "return.recorded"
    ASSIGNMENT_RECEIVED = "assignment.received"  # the store holds the hub's assignment
    ASSIGNMENT_ACCEPTED = "assignment.accepted"
    ASSIGNMENT_REJECTED = "assignment.rejected"  # whole, partial or short pick: hub re-routes
    ASSIGNMENT_PROGRESSED = "assignment.progressed"
    ASSIGNMENT_CANCELLED = "assignment.cancelled"
    CANCELLATION_REFUSED = "assignment.cancellation_refused"
    KERBSIDE_ACKNOWLEDGED = "kerbside.acknowledged"
    TRANSFER_RECEIVED = "transfer.received"        # the destination counted what arrived


class OutboxEvent(Wire):
    """One change of a store-owned fact, numbered within the store's epoch with no gaps."""

    seq: Annotated[int, Field(ge=1)]
    kind: EventKind
    at: Timestamp
    staff: str | None = None
    payload: dict = Field(default_factory=dict)
    levels: list[StockLevel] = Field(default_factory=list)


class LineQty(Wire):
    line_id: str
    sku: Sku
    qty: Qty


class AssignmentRejectedPayload(Wire):
    """Quantities the store will not fill; the hub routes them again, elsewhere."""

    assignment_id: str
    reason: Literal["out_of_stock", "damaged", "no_capacity", "short_pick", "expired", "other"]
    note: str = ""
    lines: list[LineQty]
    whole: bool  # True when nothing of the assignment remains at this store


class AssignmentProgressPayload(Wire):
    assignment_id: str
    status: str
    detail: dict = Field(default_factory=dict)


class SyncRequest(Wire):
    """What a store posts in one exchange."""

    store_id: Annotated[str, Field(min_length=1, max_length=32)]
    epoch: Annotated[str, Field(min_length=4, max_length=64)]
    feed_cursor: Annotated[int, Field(ge=0)]
    events: Annotated[list[OutboxEvent], Field(max_length=MAX_EVENTS_PER_EXCHANGE)]
    outbox_depth: Annotated[int, Field(ge=0)] = 0
    oldest_unsent_at: Timestamp | None = None


# ---------------------------------------------------------------- hub -> store feed


class MessageKind(StrEnum):
    ASSIGNMENT = "assignment"
    CANCELLATION = "cancellation"
    CATALOGUE = "catalogue"
    SETTING = "setting"
    KERBSIDE_ARRIVAL = "kerbside_arrival"
    TRANSFER_INCOMING = "transfer_incoming"   # a transfer to this store has been shipped


class AssignmentLine(Wire):
    line_id: Annotated[str, Field(min_length=1, max_length=64)]
    sku: Sku
    qty: PositiveQty


class AssignmentPayload(Wire):
    """An order's lines the hub asks this store to fulfil."""

    assignment_id: Annotated[str, Field(min_length=1, max_length=80)]
    order_id: Annotated[str, Field(min_length=1, max_length=80)]
    kind: AssignmentKind
    lines: Annotated[list[AssignmentLine], Field(min_length=1, max_length=200)]
    deadline: Timestamp
    customer_name: str = ""
    requires_id_check: bool = False
    destination_store_id: str | None = None  # transfer_out: the store that receives
    ship_to: dict | None = None  # ship_from_store: name, address, postal code, city


class CancellationPayload(Wire):
    assignment_id: str
    reason: str = ""


class CatalogueItem(Wire):
    sku: Sku
    name: Annotated[str, Field(min_length=1, max_length=200)]
    price_cents: Cents
    barcodes: list[Annotated[str, Field(min_length=8, max_length=14)]] = Field(default_factory=list)
    location: str = ""  # aisle / shelf, for pick lists grouped by location


class CataloguePayload(Wire):
    items: list[CatalogueItem]


class SettingPayload(Wire):
    key: Annotated[str, Field(min_length=1, max_length=64)]
    value: str | int | bool


class KerbsideArrivalPayload(Wire):
    assignment_id: str
    order_id: str
    note: str = ""


class TransferIncomingPayload(Wire):
    """Goods another store has shipped to this one: what to expect and count on arrival."""

    transfer_id: str                 # the source's transfer-out assignment id
    order_id: str
    source_store_id: str
    lines: Annotated[list[AssignmentLine], Field(min_length=1, max_length=200)]
    shipped_at: Timestamp
    parcels: list[dict] = Field(default_factory=list)


class TransferLineReceived(Wire):
    """One line of a transfer as counted at the destination, with any discrepancy's reason."""

    line_id: str
    sku: Sku
    shipped: Qty
    received: Qty      # sellable units put on hand
    damaged: Qty       # arrived, not sellable
    missing: Qty       # shipped but not there
    extra: Qty         # there but not shipped
    reason: str = ""


class FeedMessage(Wire):
    seq: Annotated[int, Field(ge=1)]
    kind: MessageKind
    at: Timestamp
    payload: dict


FEED_PAYLOADS: dict[MessageKind, type[Wire]] = {
    MessageKind.ASSIGNMENT: AssignmentPayload,
    MessageKind.CANCELLATION: CancellationPayload,
    MessageKind.CATALOGUE: CataloguePayload,
    MessageKind.SETTING: SettingPayload,
    MessageKind.KERBSIDE_ARRIVAL: KerbsideArrivalPayload,
    MessageKind.TRANSFER_INCOMING: TransferIncomingPayload,
}


class SyncResponse(Wire):
    """What the hub answers: its acknowledgement and the next feed messages."""

    epoch: str
    acked_seq: Annotated[int, Field(ge=0)]
    messages: list[FeedMessage]
    feed_head: Annotated[int, Field(ge=0)]  # the store is behind while its cursor < feed_head
