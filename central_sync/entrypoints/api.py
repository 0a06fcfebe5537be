"""The hub's JSON API: sync for stores, intake for sales channels, views and settings for head office."""

from flask import Blueprint, Response, current_app, g, request

from shared.errors import NotFound
from shared.http_api import ApiError, documented, json_response, openapi_document, parse_body, parse_query
from shared.wire import CatalogueItem, SyncRequest

from ..services import (
    catalogue,
    forecasting,
    head_office,
    network,
    orders,
    rebalancing,
    replenishment,
    routing,
    stores,
    sync,
    transfers,
)
from ..store import HubDatabase
from . import schemas

api = Blueprint("api", __name__, url_prefix="/api")
PUBLIC = {"api.health", "api.openapi", "api.track", "api.kerbside_here"}


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <key>")
    return header[7:]


@api.before_request
def authenticate() -> None:
    """Stores use their sync secret (checked in the sync view); channels and head office an API key."""
    if request.endpoint in PUBLIC or request.endpoint == "api.sync_exchange":
        return
    client = stores.api_client(db(), _bearer())
    if client is None:
        raise ApiError(401, "unauthenticated", "unknown API key")
    g.client = client


def _actor() -> str:
    """Who acts through the API, as the audit trail names them: the API key's name (as elsewhere)."""
    return g.client["name"]


def _require(*roles: str) -> None:
    if g.client["role"] not in roles:
        raise ApiError(403, "forbidden", f"this needs a {' or '.join(roles)} key")


@api.get("/health")
def health() -> Response:
    """The hub is up; counts of stores and orders."""
    return json_response({"status": "ok", "stores": len(db().reader().store_ids())})


@api.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI description."""
    return json_response(openapi_document(current_app, "Comptoir hub", "1"))


# ------------------------------------------------------------------ sync
@api.post("/sync")
@documented(body=SyncRequest)
def sync_exchange() -> Response:
    """One sync exchange: a store posts its unsent events and feed cursor; gets the ack and its feed."""
    secret = _bearer()
    body = parse_body(SyncRequest)
    if not stores.authenticate_store(db(), body.store_id, secret):
        raise ApiError(401, "unauthenticated", f"wrong secret for store {body.store_id}")
    answer = sync.exchange(db(), body.store_id, body)
    if any(e.kind.startswith("assignment.") for e in body.events):
        routing.route_pending(db(), current_app.extensions["router"])
    replenishment.after_sync(db(), body.store_id, body.events)  # after the commit; never raises
    return json_response(answer.model_dump(mode="json"))


# ------------------------------------------------------------------ orders
@api.post("/orders")
@documented(body=schemas.OrderIn)
def place_order() -> Response:
    """Take an order from a sales channel; idempotent by (channel, channel_order_id)."""
    _require("channel", "head_office")
    body = parse_body(schemas.OrderIn)
    dest = body.destination
    new = orders.NewOrder(
        channel=body.channel,
        channel_order_id=body.channel_order_id,
        kind=body.kind,
        lines=[(ln.sku, ln.qty) for ln in body.lines],
        customer=body.customer.model_dump(exclude_none=True),
        lat=dest.lat if dest else None,
        lon=dest.lon if dest else None,
        postal_code=dest.postal_code if dest else None,
        pickup_store_id=body.pickup_store_id,
        requested_date=body.requested_date,
        requires_id_check=body.requires_id_check,
        ship_to=body.ship_to.model_dump() if body.ship_to else None,
    )
    order_id, created = orders.place_order(db(), new)
    if created:
        routing.route_pending(db(), current_app.extensions["router"])
    view = orders.order_view(db(), order_id)
    return json_response({**view, "created": created}, 201 if created else 200)


@api.get("/orders")
@documented(query=schemas.SearchQuery)
def search_orders() -> Response:
    """Search orders by order id, channel, channel order id or customer."""
    _require("head_office")
    query = parse_query(schemas.SearchQuery)
    rows = db().reader().search_orders(query.q, query.limit)
    return json_response(
        {
            "orders": [
                {
                    "order_id": r["order_id"],
                    "channel": r["channel"],
                    "channel_order_id": r["channel_order_id"],
                    "kind": r["kind"],
                    "status": r["status"],
                    "created_at": r["created_at"],
                }
                for r in rows
            ]
        }
    )


def _visible_order(order_id: str) -> dict:
    """Head office sees every order; a sales channel only its own (others look unknown to it)."""
    view = orders.order_view(db(), order_id)
    if g.client["role"] != "head_office" and view["channel"] != g.client["name"]:
        raise NotFound(f"no order {order_id!r}")
    return view


@api.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    """An order with its assignments, routing decisions with reasons, and full timeline."""
    return json_response(_visible_order(order_id))


@api.post("/orders/<order_id>/cancel")
@documented(body=schemas.CancelIn)
def cancel_order(order_id: str) -> Response:
    """Cancel an order: each store holding part of it gets a cancellation (refused once all has left)."""
    body = parse_body(schemas.CancelIn)
    _visible_order(order_id)
    head_office.cancel_order(db(), _actor(), order_id, body.reason)
    return json_response(orders.order_view(db(), order_id))


@api.get("/track/<token>")
def track(token: str) -> Response:
    """The customer's view of an order, reached by its unguessable link."""
    view = orders.order_view(db(), token=token)
    return json_response(
        {k: view[k] for k in ("order_id", "kind", "status", "pickup_store_id", "lines")}
        | {
            "timeline": [t for t in view["timeline"] if t["kind"] in CUSTOMER_EVENTS],
            "pickup_code": next((a["pickup_code"] for a in view["assignments"] if a["pickup_code"]), None),
        }
    )


CUSTOMER_EVENTS = {"received", "status", "shipped", "ready_for_pickup", "collected", "cancelled"}


@api.post("/track/<token>/here")
@documented(body=schemas.KerbsideIn)
def kerbside_here(token: str) -> Response:
    """The customer says "I'm here" for a kerbside handover; it pops up on the store's terminal."""
    body = parse_body(schemas.KerbsideIn)
    return json_response(orders.announce_arrival(db(), token, body.note))


@api.post("/routing/run")
def run_routing() -> Response:
    """Route every waiting order now, backorders included."""
    _require("head_office")
    decisions = routing.route_pending(db(), current_app.extensions["router"], include_backorders=True)
    return json_response({"routed": len(decisions)})


# ------------------------------------------------------------------ stock and stores
@api.get("/stock")
@documented(query=schemas.SearchQuery)
def stock() -> Response:
    """Network stock: per SKU (search by SKU, name or barcode), every store's figures and totals."""
    _require("head_office")
    query = parse_query(schemas.SearchQuery)
    return json_response({"items": network.stock_view(db(), query.q, limit=query.limit)})


@api.get("/stores")
def list_stores() -> Response:
    """Every store with its health: online, last sync, outbox backlog, feed lag, late assignments."""
    _require("head_office")
    return json_response({"stores": network.store_health(db())})


@api.post("/stores")
@documented(body=schemas.StoreIn)
def add_store() -> Response:
    """Register a store; answers its sync secret once."""
    _require("head_office")
    body = parse_body(schemas.StoreIn)
    fields = body.model_dump()
    secret = stores.register_store(
        db(), fields.pop("store_id"), fields.pop("name"), fields.pop("lat"), fields.pop("lon"), **fields
    )
    catalogue.send_full_catalogue(db(), body.store_id)
    return json_response({"store_id": body.store_id, "secret": secret}, 201)


@api.patch("/stores/<store_id>")
@documented(body=schemas.StoreSettingsIn)
def update_store(store_id: str) -> Response:
    """Change a store's capabilities, capacity or opening hours."""
    _require("head_office")
    body = parse_body(schemas.StoreSettingsIn)
    changes = {
        k: (int(v) if isinstance(v, bool) else v) for k, v in body.model_dump(exclude_none=True).items()
    }
    head_office.update_store(db(), _actor(), store_id, changes)
    return json_response(next(s for s in network.store_health(db()) if s["store_id"] == store_id))


@api.post("/safety-stock")
@documented(body=schemas.SafetyStockIn)
def set_safety_stock() -> Response:
    """Set safety stock for a store and SKU ('*' for all stores or all SKUs)."""
    _require("head_office")
    body = parse_body(schemas.SafetyStockIn)
    head_office.set_safety_stock(db(), _actor(), body.store_id, body.sku, body.qty)
    return json_response(body.model_dump())


@api.post("/settings")
@documented(body=schemas.SettingIn)
def change_setting() -> Response:
    """Change a routing setting (freshness threshold, acceptance deadline)."""
    _require("head_office")
    body = parse_body(schemas.SettingIn)
    head_office.change_setting(db(), _actor(), body.key, body.value)
    return json_response(body.model_dump())


@api.post("/catalogue")
@documented(body=CatalogueItem)
def upsert_product() -> Response:
    """Add or change one product; it reaches every store through its feed."""
    _require("head_office")
    item = parse_body(CatalogueItem)
    catalogue.import_catalogue(db(), [item])
    return json_response(item.model_dump(), 201)


@api.get("/catalogue/<sku>")
def get_product(sku: str) -> Response:
    """One product of the catalogue."""
    found = db().reader().products([sku])
    if not found:
        raise NotFound(f"no SKU {sku!r}")
    return json_response(found[0])


# ------------------------------------------------------------------ transfers
@api.post("/transfers")
@documented(body=schemas.TransferIn)
def request_transfer() -> Response:
    """Ask a store to send stock to another store; answers the transfer (an order of kind transfer)."""
    _require("head_office")
    body = parse_body(schemas.TransferIn)
    order_id = transfers.request_transfer(
        db(),
        body.source_store_id,
        body.destination_store_id,
        [(ln.sku, ln.qty) for ln in body.lines],
        body.reason,
        actor=_actor(),
    )
    return json_response(orders.order_view(db(), order_id), 201)


@api.get("/transfers")
@documented(query=schemas.TransferQuery)
def list_transfers() -> Response:
    """Transfer-out pick orders between stores, newest first (?status=shipped for what is in transit)."""
    _require("head_office")
    query = parse_query(schemas.TransferQuery)
    return json_response({"transfers": transfers.transfer_list(db(), query.status or None)})


# ------------------------------------------------------------------ rebalancing and demand forecast
@api.post("/rebalancing/runs")
@documented(body=schemas.RebalancingRunIn)
def create_rebalancing_run() -> Response:
    """Forecast demand and propose transfers between stores; answers the run with its proposals and reasons."""
    _require("head_office")
    body = parse_body(schemas.RebalancingRunIn)
    limits = body.model_dump(exclude_unset=True, exclude={"horizon_days", "lookback_days", "save_limits"})
    run = rebalancing.create_run(
        db(), _actor(), horizon_days=body.horizon_days, lookback_days=body.lookback_days, limits=limits,
        save_limits=body.save_limits,
    )  # fmt: skip
    return json_response(run, 201)


@api.get("/rebalancing/runs/<run_id>")
def get_rebalancing_run(run_id: str) -> Response:
    """A rebalancing run: limits, summary, shortfalls, each proposal with its status, the transfers made."""
    _require("head_office")
    return json_response(rebalancing.run_view(db(), run_id))


@api.post("/rebalancing/proposals/<int:proposal_id>")
@documented(body=schemas.ProposalEditIn)
def edit_rebalancing_proposal(proposal_id: int) -> Response:
    """Change the quantity of a proposal not yet approved or rejected."""
    _require("head_office")
    body = parse_body(schemas.ProposalEditIn)
    return json_response(rebalancing.edit_proposal(db(), _actor(), proposal_id, body.qty))


@api.post("/rebalancing/runs/<run_id>/approve")
@documented(body=schemas.ProposalDecisionIn)
def approve_rebalancing(run_id: str) -> Response:
    """Approve proposals: one transfer per source/destination pair (idempotent); answers the run and `created`."""
    _require("head_office")
    body = parse_body(schemas.ProposalDecisionIn)
    return json_response(rebalancing.approve(db(), _actor(), run_id, body.proposal_ids))


@api.post("/rebalancing/runs/<run_id>/reject")
@documented(body=schemas.ProposalDecisionIn)
def reject_rebalancing(run_id: str) -> Response:
    """Reject proposals not yet approved; answers the run."""
    _require("head_office")
    body = parse_body(schemas.ProposalDecisionIn)
    return json_response(rebalancing.reject(db(), _actor(), run_id, body.proposal_ids))


@api.get("/forecast")
@documented(query=schemas.ForecastQuery)
def forecast() -> Response:
    """Demand forecast per store and SKU over the horizon, with the error on held-back days next to the naive one."""
    _require("head_office")
    query = parse_query(schemas.ForecastQuery)
    return json_response(
        forecasting.report(
            db(), horizon_days=query.horizon_days, lookback_days=query.lookback_days,
            skus=[query.sku] if query.sku else None, store_ids=[query.store_id] if query.store_id else None,
        )
    )  # fmt: skip
