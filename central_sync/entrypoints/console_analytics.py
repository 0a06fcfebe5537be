"""Head-office screens for analytics and replenishment: charts drawn as inline SVG on the server, CSV exports.

``/console/analytics``: fill rate, re-routes and their reasons, lead times, deadline compliance,
kerbside wait and stock accuracy, per store and for the network, over the last N days; each
table downloadable as CSV. ``/console/replenishment``: reorder points, the requests they
raised and their delivery to the ERP webhook (failed ones sent again from here), CSV export.

Same rules as the rest of the console (``console.py``): signed-in users only, CSRF on every
POST, forms validated by pydantic, every change through an audited service.
"""

import math
from dataclasses import dataclass
from typing import Annotated

from babel.numbers import format_percent
from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import Field

from shared.errors import InvalidInput, NotFound, Refused

from ..domain.analytics import NETWORK, STEPS, TABLES
from ..services import analytics as analytics_service
from ..services import replenishment
from ..store import HubDatabase
from .console import Form, parse_form, require_user

analytics = Blueprint("analytics", __name__, url_prefix="/console", template_folder="templates")
analytics.before_request(require_user)

PERIODS = (1, 7, 30, 90)
REASONS = {
    "out_of_stock": _l("Out of stock"),
    "damaged": _l("Damaged"),
    "no_capacity": _l("No capacity"),
    "short_pick": _l("Short pick"),
    "expired": _l("Expired at the store"),
    "other": _l("Other reason"),
    "unanswered": _l("Unanswered before the deadline"),
}
STEP_LABELS = {
    "accepted": _l("Order received → accepted"),
    "ready_for_pickup": _l("Order received → ready for pickup"),
    "shipped": _l("Order received → shipped"),
}
REQUEST_STATUS = {"pending": _l("To send"), "delivered": _l("Delivered"), "failed": _l("Failed")}
FORM_FIELDS = {
    "store_id": _l("Store"),
    "sku": _l("SKU"),
    "reorder_point": _l("Reorder point"),
    "order_qty": _l("Quantity above the point"),
    "url": _l("Webhook address"),
    "secret": _l("Signing secret"),
    "days": _l("Period"),
}


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]


@analytics.errorhandler(NotFound)
def not_found(exc: NotFound) -> tuple[str, int]:
    return render_template("console/error.html", message=_("Nothing found: %(what)s", what=str(exc))), 404


# ------------------------------------------------------------------ charts (inline SVG, drawn here)
LABEL_WIDTH, PLOT_WIDTH, VALUE_WIDTH, WIDE_VALUE_WIDTH = 170, 380, 90, 190  # wide: "25 min (p90 37 min)"
ROW, BAR, TOP = 30, 18, 22


@dataclass(frozen=True)
class ChartBar:
    store_id: str
    label: str
    y: int
    width: float  # 0 when there is no value
    text: str  # the value as read, or "no data"
    has_value: bool
    network: bool
    marker: float | None = None  # x of a second value (p90) drawn as a tick

    @property
    def text_x(self) -> float:
        """Where the value's text starts: after the bar, and after the marker when there is one."""
        return round(max(LABEL_WIDTH + self.width, self.marker or 0) + 6, 1)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    x0: int
    plot: int
    bars: list[ChartBar]
    ticks: list[tuple[float, str]]  # (x, text)


def percent(value: float | None) -> str:
    """A share as a percentage to one decimal at most, spaced as the language wants ('57,1 %', '57.1%')."""
    if value is None:
        return "—"
    return format_percent(round(value, 3), locale=get_locale(), decimal_quantization=False)


def in_minutes(value: float | None) -> str:
    return "—" if value is None else _("%(n)s min", n=format_decimal(value, "#,##0.#"))


def store_label(store_id: str) -> str:
    return str(_("Network")) if store_id == NETWORK else store_id


def nice_axis(largest: float) -> float:
    """The axis' end: four equal steps of a round size (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) reaching ``largest``."""
    step = largest / 4
    magnitude = 10 ** math.floor(math.log10(step))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * magnitude >= step:
            return 4 * m * magnitude
    return 4 * 10 * magnitude


def bar_chart(rows: list[dict], key: str, rate: bool, marker_key: str | None = None) -> Chart:
    """Horizontal bars, one per store then the network's; rates on 0-100 %, minutes on 0 to the largest value."""
    plot = PLOT_WIDTH
    width = LABEL_WIDTH + PLOT_WIDTH + (WIDE_VALUE_WIDTH if marker_key else VALUE_WIDTH)
    values = [r[key] for r in rows if r[key] is not None] + [
        r[marker_key] for r in rows if marker_key and r.get(marker_key) is not None
    ]
    top = 1.0 if rate else nice_axis(max([*values, 1.0]))
    scale = plot / top
    fmt = percent if rate else in_minutes
    bars = []
    for index, row in enumerate(rows):
        value = row[key]
        marker = row.get(marker_key) if marker_key else None
        bars.append(
            ChartBar(
                store_id=row["store_id"],
                label=store_label(row["store_id"]),
                y=TOP + index * ROW,
                width=round(max(0.0, min(value, top)) * scale, 1) if value is not None else 0,
                text=_value_text(fmt, value, marker),
                has_value=value is not None,
                network=row["store_id"] == NETWORK,
                marker=round(LABEL_WIDTH + min(marker, top) * scale, 1) if marker is not None else None,
            )
        )
    ticks = [(round(LABEL_WIDTH + plot * f, 1), fmt(top * f)) for f in (0, 0.25, 0.5, 0.75, 1)]
    return Chart(width, TOP + len(rows) * ROW + 6, LABEL_WIDTH, plot, bars, ticks)


def _value_text(fmt, value: float | None, marker: float | None) -> str:
    if value is None:
        return str(_("no data"))
    if marker is None:
        return fmt(value)
    return _("%(median)s (p90 %(p90)s)", median=fmt(value), p90=fmt(marker))


def _charts(result: dict) -> dict[str, Chart]:
    t = result["tables"]
    charts = {
        "fill_rate": bar_chart(t["fill_rate"], "fill_rate", rate=True),
        "reroutes": bar_chart(t["reroutes"], "reroute_rate", rate=True),
        "deadline_compliance": bar_chart(t["deadline_compliance"], "compliance", rate=True),
        "kerbside_wait": bar_chart(t["kerbside_wait"], "median_minutes", rate=False, marker_key="p90_minutes"),
        "stock_accuracy": bar_chart(t["stock_accuracy"], "accuracy", rate=True),
    }
    for step in STEPS:
        rows = [r for r in t["lead_times"] if r["step"] == step]
        charts[f"lead_{step}"] = bar_chart(rows, "median_minutes", rate=False, marker_key="p90_minutes")
    return charts


# ------------------------------------------------------------------ analytics
class PeriodForm(Form):
    days: Annotated[int, Field(ge=1, le=analytics_service.MAX_DAYS)] = analytics_service.DEFAULT_DAYS


def _days() -> tuple[int, dict[str, str]]:
    form, errors = parse_form(PeriodForm, request.args.to_dict())
    return (form.days if form else analytics_service.DEFAULT_DAYS), errors


@analytics.get("/analytics")
def analytics_page() -> tuple[str, int]:
    """Fulfilment and stock metrics per store and for the network over the last N days, as charts and tables."""
    days, errors = _days()
    result = analytics_service.analytics(db(), days)
    network = {name: next((r for r in rows if r["store_id"] == NETWORK), {})
               for name, rows in result["tables"].items()}  # fmt: skip
    html = render_template(
        "analytics/analytics.html",
        r=result,
        t=result["tables"],
        network=network,
        charts=_charts(result),
        days=days,
        periods=PERIODS,
        errors=errors,
        REASONS=REASONS,
        STEPS=STEPS,
        STEP_LABELS=STEP_LABELS,
        percent=percent,
        in_minutes=in_minutes,
        store_label=store_label,
        FORM_FIELDS=FORM_FIELDS,
    )
    return html, 400 if errors else 200


@analytics.get("/analytics/<table>.csv")
def analytics_csv(table: str) -> Response:
    """One metric table as CSV."""
    if table not in TABLES:
        raise NotFound(f"no table {table!r}")
    days, _errors = _days()
    body = analytics_service.table_csv(analytics_service.analytics(db(), days), table)
    return csv_download(body, f"comptoir-{table}-{days}d.csv")


def csv_download(body: str, filename: str) -> Response:
    """CSV as UTF-8 with a byte-order mark, so that a spreadsheet opened by a double click reads accents."""
    response = Response("\ufeff" + body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------ replenishment
class ReorderPointForm(Form):
    store_id: Annotated[str, Field(min_length=1, max_length=32)]
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    reorder_point: Annotated[int, Field(ge=0, le=replenishment.MAX_QTY)]
    order_qty: Annotated[int, Field(ge=0, le=replenishment.MAX_QTY)]


class RuleForm(Form):
    store_id: Annotated[str, Field(min_length=1, max_length=32)]
    sku: Annotated[str, Field(min_length=1, max_length=64)]


class WebhookForm(Form):
    url: Annotated[str, Field(min_length=1, max_length=500)]
    secret: Annotated[str, Field(max_length=500)] = ""


def _replenishment_page(errors: dict | None = None, values: dict | None = None, form_id: str = "",
                        status: int = 200) -> tuple[str, int]:  # fmt: skip
    html = render_template(
        "analytics/replenishment.html",
        page=replenishment.overview(db()),
        stores=db().reader().stores(),
        errors=errors or {},
        values=values or {},
        form_id=form_id,
        REQUEST_STATUS=REQUEST_STATUS,
        FORM_FIELDS=FORM_FIELDS,
        NETWORK=NETWORK,
    )
    return html, status


def _service_errors(exc: InvalidInput) -> dict[str, str]:
    known = {"store_id": _("no such store"), "sku": _("no such SKU")}
    return {field: known.get(field, message) for field, message in exc.fields}


@analytics.get("/replenishment")
def replenishment_page() -> tuple[str, int]:
    """Reorder points, the replenishment requests they raised and their delivery to the ERP."""
    return _replenishment_page()


@analytics.post("/replenishment/reorder-points")
def set_reorder_point() -> Response | tuple[str, int]:
    form, errors = parse_form(ReorderPointForm)
    if form is None:
        return _replenishment_page(errors, request.form, "rule", 400)
    try:
        rule = replenishment.set_reorder_point(
            db(), g.console_user["username"], form.store_id, form.sku, form.reorder_point, form.order_qty
        )
    except InvalidInput as exc:
        return _replenishment_page(_service_errors(exc), request.form, "rule", 400)
    if rule["below"]:
        flash(_("Reorder point saved; %(sku)s is already below it: a request was raised.", sku=form.sku), "info")
    else:
        flash(_("Reorder point saved."), "success")
    return redirect(url_for("analytics.replenishment_page") + "#rules", 303)


@analytics.post("/replenishment/reorder-points/delete")
def delete_reorder_point() -> Response | tuple[str, int]:
    form, errors = parse_form(RuleForm)
    if form is None:
        return _replenishment_page(errors, {}, "rule", 400)
    replenishment.delete_reorder_point(db(), g.console_user["username"], form.store_id, form.sku)
    flash(_("Reorder point removed."), "success")
    return redirect(url_for("analytics.replenishment_page") + "#rules", 303)


@analytics.post("/replenishment/requests/<int:request_id>/retry")
def retry_request(request_id: int) -> Response | tuple[str, int]:
    try:
        replenishment.retry(db(), g.console_user["username"], request_id)
    except Refused as exc:
        return _replenishment_page({"request": str(exc)}, {}, "requests", 409)
    flash(_("The request will be sent again."), "success")
    return redirect(url_for("analytics.replenishment_page") + "#requests", 303)


@analytics.post("/replenishment/webhook")
def configure_webhook() -> Response | tuple[str, int]:
    form, errors = parse_form(WebhookForm)
    if form is None:
        return _replenishment_page(errors, request.form, "webhook", 400)
    try:
        replenishment.configure_webhook(db(), g.console_user["username"], form.url, form.secret or None)
    except InvalidInput as exc:
        known = {"url": _("must be an http:// or https:// address"), "secret": _("must be at least 16 characters")}
        errors = {field: known.get(field, message) for field, message in exc.fields}
        return _replenishment_page(errors, {"url": form.url}, "webhook", 400)
    flash(_("Webhook saved."), "success")
    return redirect(url_for("analytics.replenishment_page") + "#webhook", 303)


@analytics.get("/replenishment/requests.csv")
def replenishment_csv() -> Response:
    """Every replenishment request as CSV."""
    return csv_download(replenishment.requests_csv(db()), "comptoir-replenishment-requests.csv")
