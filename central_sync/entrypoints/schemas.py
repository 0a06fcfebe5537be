"""Request bodies of the hub's JSON API: what sales channels and head office may send."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Sku = Annotated[str, Field(min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderLineIn(Body):
    sku: Sku
    qty: Annotated[int, Field(ge=1, le=10_000)]


class Destination(Body):
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    postal_code: Annotated[str, Field(min_length=2, max_length=12)] | None = None

    @model_validator(mode="after")
    def coordinates_or_postal_code(self) -> "Destination":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or a postal_code")
        if self.lat is None and self.postal_code is None:
            raise ValueError("give coordinates (lat, lon) or a postal_code")
        return self


class Customer(Body):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    email: Annotated[str, Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class ShipTo(Body):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    address: Annotated[str, Field(min_length=1, max_length=300)]
    postal_code: Annotated[str, Field(min_length=2, max_length=12)]
    city: Annotated[str, Field(min_length=1, max_length=120)]


class OrderIn(Body):
    channel: Annotated[str, Field(min_length=1, max_length=32)] = "web"
    channel_order_id: Annotated[str, Field(min_length=1, max_length=80)]
    kind: Literal["ship_from_store", "click_and_collect"]
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=100)]
    customer: Customer
    destination: Destination | None = None
    pickup_store_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    ship_to: ShipTo | None = None
    requested_date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    requires_id_check: bool = False

    @model_validator(mode="after")
    def kind_needs(self) -> "OrderIn":
        if self.kind == "click_and_collect" and not self.pickup_store_id:
            raise ValueError("pickup_store_id is required for click_and_collect")
        if self.kind == "ship_from_store" and self.destination is None:
            raise ValueError("destination is required for ship_from_store")
        return self


class CancelIn(Body):
    reason: Annotated[str, Field(max_length=200)] = ""


class StoreIn(Body):
    store_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    address: Annotated[str, Field(max_length=300)] = ""
    city: Annotated[str, Field(max_length=120)] = ""
    postal_code: Annotated[str, Field(max_length=12)] = ""
    ship_from_store: bool = True
    click_and_collect: bool = True
    daily_capacity: Annotated[int, Field(ge=0, le=100_000)] = 200
    opening_hours: Annotated[str, Field(max_length=200)] = ""
    base_url: Annotated[str, Field(max_length=200)] = ""


class StoreSettingsIn(Body):
    ship_from_store: bool | None = None
    click_and_collect: bool | None = None
    daily_capacity: Annotated[int, Field(ge=0, le=100_000)] | None = None
    opening_hours: Annotated[str, Field(max_length=200)] | None = None


class SafetyStockIn(Body):
    store_id: Annotated[str, Field(min_length=1, max_length=32)] = "*"
    sku: Annotated[str, Field(min_length=1, max_length=64)] = "*"
    qty: Annotated[int, Field(ge=0, le=1_000_000)]


class SettingIn(Body):
    key: Literal["fresh_seconds", "accept_minutes", "transfer_accept_hours"]
    value: Annotated[int, Field(ge=1, le=10_000_000)]


class SearchQuery(Body):
    q: Annotated[str, Field(max_length=100)] = ""
    limit: Annotated[int, Field(ge=1, le=500)] = 50


class KerbsideIn(Body):
    note: Annotated[str, Field(max_length=200)] = ""


class TransferIn(Body):
    source_store_id: Annotated[str, Field(min_length=1, max_length=32)]
    destination_store_id: Annotated[str, Field(min_length=1, max_length=32)]
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(max_length=200)] = ""


class TransferQuery(Body):
    status: Literal["", "pending", "assigned", "accepted", "picking", "picked", "packed", "shipped", "received",
                    "rejected", "cancelled", "cancel_requested"] = ""


# ------------------------------------------------------------------ rebalancing and forecast (head office)
StoreId = Annotated[str, Field(min_length=1, max_length=32)]
ProposalId = Annotated[int, Field(ge=1)]


class RebalancingRunIn(Body):
    """A run: the limits given override head office's saved ones for this run (and replace them with save_limits)."""

    horizon_days: Annotated[int, Field(ge=1, le=28)] = 7
    lookback_days: Annotated[int, Field(ge=14, le=366)] = 56
    min_transfer_qty: Annotated[int, Field(ge=1, le=100_000)] | None = None
    max_transfers_per_store_per_day: Annotated[int, Field(ge=1, le=1_000)] | None = None
    excluded_skus: Annotated[list[Sku], Field(max_length=10_000)] | None = None
    excluded_stores: Annotated[list[StoreId], Field(max_length=1_000)] | None = None
    max_distance_km: Annotated[float, Field(gt=0, le=20_000)] | None = None
    save_limits: bool = False


class ProposalEditIn(Body):
    qty: Annotated[int, Field(ge=1, le=1_000_000)]


class ProposalDecisionIn(Body):
    proposal_ids: Annotated[list[ProposalId], Field(min_length=1, max_length=10_000)]


class ForecastQuery(Body):
    sku: Annotated[str, Field(max_length=64)] = ""
    store_id: Annotated[str, Field(max_length=32)] = ""
    horizon_days: Annotated[int, Field(ge=1, le=28)] = 7
    lookback_days: Annotated[int, Field(ge=14, le=366)] = 56
