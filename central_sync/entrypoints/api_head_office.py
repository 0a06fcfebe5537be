"""The hub's JSON API for head office's analytics and replenishment (head-office API key).

Same conventions as ``api.py`` (whose authentication it reuses): bodies validated by pydantic,
errors naming every bad field, every route in the OpenAPI description.
"""

from typing import Annotated, Literal

from flask import Blueprint, Response, current_app, g
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import NotFound
from shared.http_api import documented, json_response, parse_body, parse_query

from ..domain.analytics import TABLES
from ..services import analytics as analytics_service
from ..services import replenishment
from ..store import HubDatabase
from .api import _require, authenticate

head_office_api = Blueprint("head_office_api", __name__, url_prefix="/api")
head_office_api.before_request(authenticate)


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyticsQuery(Body):
    days: Annotated[int, Field(ge=1, le=analytics_service.MAX_DAYS)] = analytics_service.DEFAULT_DAYS


class ReorderPointIn(Body):
    store_id: Annotated[str, Field(min_length=1, max_length=32)] = "*"
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    reorder_point: Annotated[int, Field(ge=0, le=replenishment.MAX_QTY)]
    order_qty: Annotated[int, Field(ge=0, le=replenishment.MAX_QTY)]


class RequestsQuery(Body):
    status: Literal["", "pending", "delivered", "failed"] = ""
    limit: Annotated[int, Field(ge=1, le=10_000)] = 200


class WebhookIn(Body):
    url: Annotated[str, Field(min_length=1, max_length=500)]
    secret: Annotated[str, Field(min_length=replenishment.MIN_SECRET, max_length=500)] | None = None


def _actor() -> str:
    return f"api:{g.client['name']}"


# ------------------------------------------------------------------ analytics
@head_office_api.get("/analytics")
@documented(query=AnalyticsQuery)
def get_analytics() -> Response:
    """Fulfilment and stock metrics per store and for the network ('*') over the last ?days= days (7)."""
    _require("head_office")
    query = parse_query(AnalyticsQuery)
    return json_response(analytics_service.analytics(db(), query.days))


@head_office_api.get("/analytics/<table>.csv")
@documented(query=AnalyticsQuery)
def get_analytics_csv(table: str) -> Response:
    """One metric table as CSV: fill_rate, order_fill_rate, reroutes, reroute_reasons, lead_times, ..."""
    _require("head_office")
    if table not in TABLES:
        raise NotFound(f"no analytics table {table!r}: one of {', '.join(TABLES)}")
    query = parse_query(AnalyticsQuery)
    body = analytics_service.table_csv(analytics_service.analytics(db(), query.days), table)
    return _csv(body, f"comptoir-{table}-{query.days}d.csv")


def _csv(body: str, filename: str) -> Response:
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ------------------------------------------------------------------ replenishment
@head_office_api.get("/reorder-points")
def list_reorder_points() -> Response:
    """Every reorder point, its state (below or not) and the available stock it watches."""
    _require("head_office")
    return json_response({"reorder_points": replenishment.reorder_points(db())})


@head_office_api.route("/reorder-points", methods=["PUT", "POST"])
@documented(body=ReorderPointIn)
def set_reorder_point() -> Response:
    """Set a reorder point for a store and SKU, or network-wide (store_id '*'); evaluated at once."""
    _require("head_office")
    body = parse_body(ReorderPointIn)
    rule = replenishment.set_reorder_point(
        db(), _actor(), body.store_id, body.sku, body.reorder_point, body.order_qty
    )
    return json_response(rule)


@head_office_api.delete("/reorder-points/<store_id>/<sku>")
def delete_reorder_point(store_id: str, sku: str) -> Response:
    """Remove a reorder point ('*' as store_id for a network-wide one)."""
    _require("head_office")
    replenishment.delete_reorder_point(db(), _actor(), store_id, sku)
    return json_response({"store_id": store_id, "sku": sku, "deleted": True})


@head_office_api.get("/replenishment/requests")
@documented(query=RequestsQuery)
def list_requests() -> Response:
    """Replenishment requests, newest first, with their delivery status (?status=failed)."""
    _require("head_office")
    query = parse_query(RequestsQuery)
    return json_response({"requests": replenishment.requests_list(db(), query.status or None, query.limit)})


@head_office_api.get("/replenishment/requests.csv")
@documented(query=RequestsQuery)
def requests_csv() -> Response:
    """Replenishment requests as CSV."""
    _require("head_office")
    query = parse_query(RequestsQuery)
    return _csv(replenishment.requests_csv(db(), query.status or None, query.limit), "replenishment-requests.csv")


@head_office_api.post("/replenishment/requests/<int:request_id>/retry")
def retry_request(request_id: int) -> Response:
    """Send a failed request again (from the jobs' next run), with a fresh count of attempts."""
    _require("head_office")
    return json_response(replenishment.retry(db(), _actor(), request_id))


@head_office_api.put("/replenishment/webhook")
@documented(body=WebhookIn)
def configure_webhook() -> Response:
    """Set the ERP / supplier endpoint requests are POSTed to, and its HMAC signing secret."""
    _require("head_office")
    body = parse_body(WebhookIn)
    replenishment.configure_webhook(db(), _actor(), body.url, body.secret)
    return json_response({"url": body.url, "secret_set": True})
