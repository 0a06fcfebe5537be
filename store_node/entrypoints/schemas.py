"""Request bodies of the store node's JSON API: what a terminal or a till system may send."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.wire import MAX_MESSAGES_PER_EXCHANGE, FeedMessage

Code = Annotated[str, Field(min_length=1, max_length=64, description="a barcode or a SKU")]
Qty = Annotated[int, Field(ge=1, le=100_000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(Body):
    staff_code: Annotated[str, Field(min_length=1, max_length=32)]
    pin: Annotated[str, Field(min_length=4, max_length=8, pattern=r"^\d+$")]


class TillLineIn(Body):
    code: Code
    qty: Qty = 1


class ReturnLineIn(TillLineIn):
    condition: Literal["sellable", "damaged"] = "sellable"


class Sale(Body):
    receipt_id: Annotated[str, Field(min_length=1, max_length=80)] | None = Field(
        None, description="the till's own id: a retried post with the same id records nothing new"
    )
    lines: Annotated[list[TillLineIn], Field(min_length=1, max_length=500)]


class Return(Body):
    receipt_id: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=500)]


class Receipt(Body):
    reference: Annotated[str, Field(max_length=80)] = ""
    lines: Annotated[list[TillLineIn], Field(min_length=1, max_length=2000)]


class Count(Body):
    code: Code
    counted: Annotated[int, Field(ge=0, le=1_000_000)]


class Adjustment(Body):
    code: Code
    delta: Annotated[int, Field(ge=-100_000, le=100_000)]
    reason: Literal["damage", "theft", "found", "other"]
    note: Annotated[str, Field(max_length=200)] = ""


class LineRejection(Body):
    line_id: Annotated[str, Field(min_length=1, max_length=64)]
    qty: Annotated[int, Field(ge=0, le=1_000_000)]


RejectReasonIn = Literal["out_of_stock", "damaged", "no_capacity", "other"]


class Accept(Body):
    rejections: Annotated[list[LineRejection], Field(max_length=200)] = []
    reason: RejectReasonIn = "out_of_stock"
    note: Annotated[str, Field(max_length=200)] = ""


class Reject(Body):
    reason: RejectReasonIn
    note: Annotated[str, Field(max_length=200)] = ""


class Scan(Body):
    code: Code


class Pick(Body):
    code: Code
    qty: Qty = 1


class CompletePick(Body):
    short_reason: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class ParcelIn(Body):
    weight_grams: Annotated[int, Field(ge=1, le=100_000)]
    carrier: Annotated[str, Field(min_length=1, max_length=40)]
    tracking_number: Annotated[str, Field(min_length=3, max_length=60)]


class Pack(Body):
    parcels: Annotated[list[ParcelIn], Field(min_length=1, max_length=50)]


class Collect(Body):
    pickup_code: Annotated[str, Field(min_length=4, max_length=12)]
    id_checked: bool = False


class Acknowledge(Body):
    epoch: Annotated[str, Field(min_length=4, max_length=64)]
    up_to_seq: Annotated[int, Field(ge=0)]


class StaffIn(Body):
    code: Annotated[str, Field(min_length=1, max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    pin: Annotated[str, Field(min_length=4, max_length=8, pattern=r"^\d+$")]
    role: Literal["associate", "manager"] = "associate"
    language: Literal["fr", "en"] = "fr"


class AssignmentQuery(Body):
    status: Annotated[str, Field(max_length=200, description="comma-separated statuses")] = ""


class StockQuery(Body):
    q: Annotated[str, Field(max_length=100, description="SKU, name or barcode")] = ""
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class OutboxQuery(Body):
    after: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=5000)] = 100


class FeedIn(Body):
    """Hub feed messages applied by hand: for a store run without a hub (tests, a bench, a demo)."""

    messages: Annotated[list[FeedMessage], Field(min_length=1, max_length=MAX_MESSAGES_PER_EXCHANGE)]


class AuditQuery(Body):
    staff: Annotated[str, Field(max_length=32)] = ""
    limit: Annotated[int, Field(ge=1, le=5000)] = 100


class TransferLineCount(Body):
    line_id: Annotated[str, Field(min_length=1, max_length=64)]
    received: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    damaged: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class ReceiveTransfer(Body):
    """What arrived, per line of the transfer; a line left out arrived empty."""

    lines: Annotated[list[TransferLineCount], Field(max_length=200)]
    reason: Annotated[str, Field(max_length=200)] = ""


class TransferQuery(Body):
    status: Literal["", "in_transit", "received"] = ""
