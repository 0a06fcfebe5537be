"""The head-office console: server-rendered screens (Jinja2), htmx for live refresh, no build step.

Screens: network dashboard (store health and a map of France), network stock, orders (search,
timeline, routing reasons, cancel), stores and routing settings, audit trail. Views stay thin:
they parse the form (pydantic), call one service and render. Every POST carries a per-session
CSRF token; every change goes through ``services.head_office``, which audits it.

``init_web`` also sets up what the console shares with the customer page: Flask-Babel (French by
default, English; per user, else per cookie), the CSRF check, template filters for dates, relative
times and euro amounts, and the language switcher.
"""

from datetime import datetime
from typing import Annotated

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import (
    format_decimal,
    format_time,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.clock import utc_now
from shared.errors import InvalidInput, NotFound, Refused
from shared.screens import (
    CSRF_FIELD,
    CSRF_HEADER,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    csrf_ok,
    install,
    safe_next,
)

from ..services import console_users, head_office
from ..store import HubDatabase

LANG_COOKIE = "comptoir_lang"
WEB_BLUEPRINTS = {"console", "customer", "web", "analytics", "planning", "transfers"}  # user loading, CSRF check
POLL_SECONDS = 5

console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
# what the console and the customer page share: static files and the language switcher
web = Blueprint("web", __name__, static_folder="static", static_url_path="/assets", template_folder="templates")


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]


# ------------------------------------------------------------------ words shown for codes
ORDER_STATUS = {
    "received": _l("Received"),
    "routed": _l("Routed"),
    "rerouting": _l("Being routed again"),
    "in_progress": _l("In progress"),
    "awaiting_transfer": _l("Awaiting transfer"),
    "backordered": _l("Backordered"),
    "partially_shipped": _l("Partially shipped"),
    "shipped": _l("Shipped"),
    "ready_for_pickup": _l("Ready for pickup"),
    "collected": _l("Collected"),
    "cancelled": _l("Cancelled"),
    # transfers between stores, which head office follows as orders of kind "transfer"
    "requested": _l("Requested"),
    "in_transit": _l("In transit"),
    "rejected": _l("Rejected"),
}
ASSIGNMENT_STATUS = {
    "pending": _l("Sent, not yet received"),
    "awaiting_transfer": _l("Waiting for a transfer"),
    "assigned": _l("Received by the store"),
    "accepted": _l("Accepted"),
    "picking": _l("Picking"),
    "picked": _l("Picked"),
    "packed": _l("Packed"),
    "ready_for_pickup": _l("Ready for pickup"),
    "shipped": _l("Shipped"),
    "collected": _l("Collected"),
    "rejected": _l("Rejected"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
    "cancel_requested": _l("Cancellation sent"),
    "received": _l("Received at the destination"),
}
KINDS = {
    "ship_from_store": _l("Ship from store"),
    "click_and_collect": _l("Click and collect"),
    "transfer_out": _l("Transfer to another store"),
    "transfer": _l("Transfer between stores"),
}
EVENTS = {
    "received": _l("Order received"),
    "routed": _l("Routed"),
    "backordered": _l("Backordered: no stock"),
    "assigned": _l("Assigned to a store"),
    "received_by_store": _l("Received by the store"),
    "status": _l("Order status"),
    "accepted": _l("Accepted by the store"),
    "picking": _l("Picking started"),
    "picked": _l("Picked"),
    "packed": _l("Packed"),
    "shipped": _l("Shipped"),
    "ready_for_pickup": _l("Ready for pickup"),
    "collected": _l("Collected"),
    "rejected": _l("Rejected by the store"),
    "short_picked": _l("Short pick"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
    "cancellation_sent": _l("Cancellation sent to the store"),
    "cancelled_at_store": _l("Cancelled at the store"),
    "cancellation_refused": _l("Cancellation refused: goods already left"),
    "customer_arrived": _l("Customer is here (kerbside)"),
    "transfer_requested": _l("Transfer requested"),
    "transfer_rejected": _l("Transfer refused by the source store"),
    "transfer_received": _l("Transfer counted in at the destination"),
}
AUDIT_ACTIONS = {
    "store.settings": _l("Store settings changed"),
    "safety_stock.set": _l("Safety stock set"),
    "setting.changed": _l("Routing setting changed"),
    "order.cancelled": _l("Order cancelled"),
    "console_user.saved": _l("Console user saved"),
    "transfer.requested": _l("Transfer requested"),
    "rebalancing.run": _l("Rebalancing run"),
    "rebalancing.limits": _l("Rebalancing limits changed"),
    "rebalancing.edited": _l("Rebalancing quantity changed"),
    "rebalancing.approved": _l("Rebalancing transfers approved"),
    "rebalancing.rejected": _l("Rebalancing proposals rejected"),
}
FIELDS = {
    "username": _l("User name"),
    "password": _l("Password"),
    "ship_from_store": _l("Ship from store"),
    "click_and_collect": _l("Click and collect"),
    "daily_capacity": _l("Daily capacity"),
    "opening_hours": _l("Opening hours"),
    "fresh_seconds": _l("Store counted offline after (seconds)"),
    "accept_minutes": _l("Time for a store to accept (minutes)"),
    "transfer_accept_hours": _l("Time for a store to accept a transfer (hours)"),
    "store_id": _l("Store"),
    "sku": _l("SKU"),
    "qty": _l("Quantity"),
    "reason": _l("Reason"),
    "source_store_id": _l("From store"),
    "destination_store_id": _l("To store"),
    "lines": _l("Lines"),
    "q": _l("Search"),
    "note": _l("Note"),
}


# ------------------------------------------------------------------ formatting (template filters)
def clock(moment: datetime) -> str:
    return format_time(moment, "medium")


YES_NO_FIELDS = ("ship_from_store", "click_and_collect")


def shown(value: object, key: str = "") -> str:
    """A value of the audit trail as read: yes/no for capabilities, a dash for nothing."""
    if value is None or value == "":
        return "—"
    if key in YES_NO_FIELDS:
        return _("yes") if value else _("no")
    return format_decimal(value) if isinstance(value, int) else str(value)


# ------------------------------------------------------------------ the map of France
LON_MIN, LON_MAX, LAT_MIN, LAT_MAX = -5.0, 9.7, 41.3, 51.2
MAP_HEIGHT = 500.0
# equirectangular with its standard parallel at the middle latitude, so that France keeps its shape
MAP_WIDTH = round(MAP_HEIGHT * (LON_MAX - LON_MIN) * 0.6915 / (LAT_MAX - LAT_MIN), 1)
MAINLAND = [  # (lon, lat), clockwise from Dunkirk
    (2.37, 51.05), (2.9, 50.7), (3.25, 50.6), (3.7, 50.35), (4.2, 50.25), (4.85, 50.15), (4.8, 49.8),
    (5.4, 49.6), (5.8, 49.5), (6.4, 49.47), (6.7, 49.2), (7.5, 49.15), (8.2, 48.97), (7.8, 48.6),
    (7.58, 48.1), (7.58, 47.58), (6.95, 47.5), (6.45, 47.05), (6.1, 46.6), (6.1, 46.2), (6.8, 46.4),
    (6.85, 45.85), (7.0, 45.5), (6.65, 45.1), (7.0, 44.8), (6.9, 44.4), (7.5, 44.1), (7.5, 43.78),
    (7.27, 43.7), (7.0, 43.55), (6.65, 43.25), (5.93, 43.1), (5.37, 43.3), (4.6, 43.35), (3.9, 43.5),
    (3.2, 43.1), (3.05, 42.6), (3.17, 42.44), (2.5, 42.35), (1.75, 42.45), (1.4, 42.6), (0.7, 42.85),
    (0.0, 42.7), (-0.75, 42.95), (-1.45, 43.1), (-1.78, 43.37), (-1.55, 43.48), (-1.25, 44.1),
    (-1.25, 44.65), (-1.15, 45.5), (-1.15, 46.15), (-1.78, 46.5), (-2.15, 46.9), (-2.2, 47.27),
    (-2.8, 47.5), (-3.1, 47.5), (-3.4, 47.7), (-4.37, 47.8), (-4.75, 48.35), (-4.65, 48.6), (-4.0, 48.7),
    (-3.0, 48.83), (-2.0, 48.65), (-1.5, 48.63), (-1.6, 49.2), (-1.85, 49.7), (-1.25, 49.7), (-1.1, 49.35),
    (-0.2, 49.3), (0.1, 49.5), (0.2, 49.7), (1.1, 49.93), (1.5, 50.2), (1.6, 50.73), (1.85, 50.96),
]  # fmt: skip
CORSICA = [
    (9.4, 43.0), (9.45, 42.7), (9.55, 42.1), (9.15, 41.38), (8.75, 41.92), (8.6, 42.3), (8.75, 42.57),
    (9.3, 42.68),
]  # fmt: skip


def project(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) to the map's (x, y), clamped to its frame."""
    lon, lat = min(max(lon, LON_MIN), LON_MAX), min(max(lat, LAT_MIN), LAT_MAX)
    x = (lon - LON_MIN) / (LON_MAX - LON_MIN) * MAP_WIDTH
    y = (LAT_MAX - lat) / (LAT_MAX - LAT_MIN) * MAP_HEIGHT
    return round(x, 1), round(y, 1)


def _points(outline: list[tuple[float, float]]) -> str:
    return " ".join("{},{}".format(*project(lat, lon)) for lon, lat in outline)


MAP = {"width": MAP_WIDTH, "height": MAP_HEIGHT, "outlines": [_points(MAINLAND), _points(CORSICA)]}


# ------------------------------------------------------------------ language, CSRF, users
def select_locale() -> str:
    user = g.get("console_user")
    if user and user["language"] in LANGUAGES:
        return user["language"]
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def _check_csrf() -> Response | None:
    """Every POST to a screen carries the session's token, in the form or in a header (htmx)."""
    if request.method != "POST" or request.blueprint not in WEB_BLUEPRINTS:
        return None
    if not csrf_ok(request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")):
        return make_response(render_template("web/expired.html"), 400)
    return None


def _load_user() -> None:
    g.console_user = None
    if request.blueprint in WEB_BLUEPRINTS and "user_id" in session:
        user = console_users.user(db(), session["user_id"])
        if user is None or user["role"] not in console_users.ROLES:
            session.pop("user_id", None)
        else:
            g.console_user = user


def init_web(app: Flask) -> None:
    """Flask-Babel, the CSRF check, template helpers, the shared blueprint (static files, language)."""
    app.config.setdefault("SESSION_COOKIE_NAME", "comptoir_hub_session")
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", 12 * 3600)
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    install(
        app,
        select_locale,
        {"clock": clock},
        {
            "shown": shown,
            "ORDER_STATUS": ORDER_STATUS,
            "ASSIGNMENT_STATUS": ASSIGNMENT_STATUS,
            "KINDS": KINDS,
            "EVENTS": EVENTS,
            "AUDIT_ACTIONS": AUDIT_ACTIONS,
            "FIELDS": FIELDS,
        },
    )
    app.register_blueprint(web)
    app.add_url_rule("/", "home", lambda: redirect(url_for("console.dashboard")))


@web.post("/language")
def set_language() -> Response:
    """The language switcher: a cookie for everyone, and the signed-in user's own setting."""
    language = request.form.get("language", "")
    back = safe_next(request.form.get("next"), url_for("console.dashboard"))
    if language not in LANGUAGES:
        abort(400)
    if g.console_user:
        console_users.set_language(db(), g.console_user["user_id"], language)
    response = redirect(back, 303)
    response.set_cookie(LANG_COOKIE, language, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


# ------------------------------------------------------------------ forms
class Form(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class SignInForm(Form):
    username: Annotated[str, Field(min_length=1, max_length=32)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class StoreSettingsForm(Form):
    ship_from_store: bool = False
    click_and_collect: bool = False
    daily_capacity: Annotated[int, Field(ge=0, le=100_000)]
    opening_hours: Annotated[str, Field(max_length=200)] = ""


class RoutingSettingsForm(Form):
    fresh_seconds: Annotated[int, Field(ge=5, le=86_400)]
    accept_minutes: Annotated[int, Field(ge=1, le=10_080)]
    transfer_accept_hours: Annotated[int, Field(ge=1, le=720)]


class SafetyStockForm(Form):
    store_id: Annotated[str, Field(min_length=1, max_length=32)]
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    qty: Annotated[int, Field(ge=0, le=1_000_000)]


class CancelForm(Form):
    reason: Annotated[str, Field(max_length=200)] = ""


class SearchForm(Form):
    q: Annotated[str, Field(max_length=100)] = ""


def _message(error: dict) -> str:
    """pydantic's error, said in the user's language."""
    ctx = error.get("ctx") or {}
    match error["type"]:
        case "missing" | "string_too_short":
            return _("is required")
        case "int_parsing" | "int_type" | "int_from_float":
            return _("must be a whole number")
        case "greater_than_equal":
            return _("must be %(min)s or more", min=format_decimal(ctx.get("ge")))
        case "less_than_equal":
            return _("must be %(max)s or less", max=format_decimal(ctx.get("le")))
        case "string_too_long":
            return _("must be %(max)s characters or fewer", max=ctx.get("max_length"))
        case "bool_parsing":
            return _("must be ticked or not")
    return error["msg"]


def parse_form(model: type[Form], data: dict | None = None) -> tuple[Form | None, dict[str, str]]:
    """The validated form, or None and ``{field: message}`` for every bad field."""
    raw = data if data is not None else {k: v for k, v in request.form.items() if k != CSRF_FIELD}
    try:
        return model.model_validate(raw), {}
    except ValidationError as exc:
        return None, {str(e["loc"][0]) if e["loc"] else "form": _message(e) for e in exc.errors()}


def _refusal_errors(exc: InvalidInput) -> dict[str, str]:
    """A service's refusal, field by field (the services speak English; known cases are translated)."""
    known = {"store_id": _("no such store"), "sku": _("no such SKU")}
    return {field: known.get(field, message) for field, message in exc.fields}


# ------------------------------------------------------------------ sign-in
@console.before_request
def require_user() -> Response | None:
    if request.endpoint in ("console.sign_in",):
        return None
    if g.console_user is None:
        if request.headers.get("HX-Request"):
            response = make_response("", 401)
            response.headers["HX-Redirect"] = url_for("console.sign_in", next=request.full_path)
            return response
        return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
    return None


@console.errorhandler(NotFound)
def not_found(exc: NotFound) -> tuple[str, int]:
    return render_template("console/error.html", message=_("Nothing found: %(what)s", what=str(exc))), 404


@console.route("/login", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int] | str:
    """Sign in with a console user name and password."""
    next_url = safe_next(request.values.get("next"), url_for("console.dashboard"))
    if request.method == "GET":
        return render_template("console/login.html", next_url=next_url, errors={}, values={}, failure=None)
    form, errors = parse_form(SignInForm)
    user = console_users.authenticate(db(), form.username, form.password) if form else None
    if user is None:
        failure = None if errors else _("Wrong user name or password.")
        values = {"username": request.form.get("username", "")}
        page = render_template("console/login.html", next_url=next_url, errors=errors, values=values, failure=failure)
        return page, 400 if errors else 401
    session.clear()  # a fresh session (and CSRF token) at each sign-in
    session.permanent = True
    session["user_id"] = user["user_id"]
    return redirect(next_url, 303)


@console.post("/logout")
def sign_out() -> Response:
    session.clear()
    return redirect(url_for("console.sign_in"), 303)


# ------------------------------------------------------------------ dashboard
@console.get("/")
def index() -> Response:
    return redirect(url_for("console.dashboard"))


@console.get("/dashboard")
def dashboard() -> str:
    """Network health: every store's sync state, a map, totals; refreshes itself."""
    return render_template(
        "console/dashboard.html",
        net=head_office.dashboard(db()),
        map=MAP,
        project=project,
        poll=POLL_SECONDS,
        now=utc_now(),
    )


@console.get("/dashboard/live")
def dashboard_live() -> str:
    """The dashboard's live part alone, for htmx polling."""
    return render_template(
        "console/_network.html",
        net=head_office.dashboard(db()),
        map=MAP,
        project=project,
        poll=POLL_SECONDS,
        now=utc_now(),
    )


# ------------------------------------------------------------------ stock
@console.get("/stock")
def stock() -> tuple[str, int] | str:
    """Network stock of a SKU found by SKU, name or barcode."""
    form, errors = parse_form(SearchForm, request.args.to_dict())
    q = form.q if form else ""
    items = head_office.stock(db(), q) if q else []
    return render_template("console/stock.html", q=request.args.get("q", ""), items=items, errors=errors), (
        400 if errors else 200
    )


# ------------------------------------------------------------------ orders
@console.get("/orders")
def orders() -> tuple[str, int]:
    """Orders by order id, channel order id, channel or customer; the latest without a search."""
    form, errors = parse_form(SearchForm, request.args.to_dict())
    found = head_office.search_orders(db(), form.q if form else "")
    return render_template("console/orders.html", q=request.args.get("q", ""), orders=found, errors=errors), (
        400 if errors else 200
    )


@console.get("/orders/<order_id>")
def order(order_id: str) -> str:
    """One order: lines, assignments, routing decisions with their reasons, full timeline."""
    return _order_page(order_id, {}, {})[0]


def _order_page(order_id: str, errors: dict, values: dict, status: int = 200) -> tuple[str, int]:
    view = head_office.order(db(), order_id)
    customer_url = url_for("customer.order_page", token=view["public_token"], _external=True)
    html = render_template("console/order.html", o=view, customer_url=customer_url, errors=errors, values=values)
    return html, status


@console.post("/orders/<order_id>/cancel")
def cancel_order(order_id: str) -> Response | tuple[str, int]:
    """Cancel the order: each store holding part of it gets a cancellation (audited)."""
    form, errors = parse_form(CancelForm)
    if form is None:
        return _order_page(order_id, errors, request.form, 400)
    try:
        head_office.cancel_order(db(), g.console_user["username"], order_id, form.reason)
    except Refused as exc:
        return _order_page(order_id, {"reason": str(exc)}, request.form, 409)
    flash(_("Order %(id)s cancelled.", id=order_id), "success")
    return redirect(url_for("console.order", order_id=order_id), 303)


# ------------------------------------------------------------------ stores and settings
@console.get("/stores")
def stores() -> str:
    """Each store's capabilities, capacity and opening hours; routing settings; safety stock."""
    return _stores_page()[0]


def _stores_page(
    errors: dict | None = None, values: dict | None = None, form_id: str = "", status: int = 200
) -> tuple[str, int]:
    page = head_office.stores_and_settings(db())
    html = render_template("console/stores.html", page=page, errors=errors or {}, values=values or {}, form_id=form_id)
    return html, status


@console.post("/stores/<store_id>")
def update_store(store_id: str) -> Response | tuple[str, int]:
    form, errors = parse_form(StoreSettingsForm)
    if form is None:
        return _stores_page(errors, request.form, f"store-{store_id}", 400)
    changed = head_office.update_store(db(), g.console_user["username"], store_id, form.model_dump())
    if changed:
        flash(_("Settings of %(store)s saved.", store=store_id), "success")
    else:
        flash(_("Nothing changed for %(store)s.", store=store_id), "info")
    return redirect(url_for("console.stores") + f"#store-{store_id}", 303)


@console.post("/settings")
def routing_settings() -> Response | tuple[str, int]:
    form, errors = parse_form(RoutingSettingsForm)
    if form is None:
        return _stores_page(errors, request.form, "routing", 400)
    changed = [
        key
        for key, value in form.model_dump().items()
        if head_office.change_setting(db(), g.console_user["username"], key, value)
    ]
    if changed:
        flash(_("Routing settings saved."), "success")
    else:
        flash(_("Nothing changed in the routing settings."), "info")
    return redirect(url_for("console.stores") + "#routing", 303)


@console.post("/safety-stock")
def safety_stock() -> Response | tuple[str, int]:
    form, errors = parse_form(SafetyStockForm)
    if form is None:
        return _stores_page(errors, request.form, "safety", 400)
    try:
        head_office.set_safety_stock(db(), g.console_user["username"], form.store_id, form.sku, form.qty)
    except InvalidInput as exc:
        return _stores_page(_refusal_errors(exc), request.form, "safety", 400)
    flash(_("Safety stock saved."), "success")
    return redirect(url_for("console.stores") + "#safety", 303)


# ------------------------------------------------------------------ audit trail
@console.get("/audit")
def audit() -> str:
    """Who changed what through the console, newest first."""
    return render_template("console/audit.html", entries=head_office.audit_trail(db()))
