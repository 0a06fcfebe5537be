"""The customer's order page at ``/o/<token>``: no sign-in, the unguessable link is the key.

It shows the order's progress in the customer's words; for click and collect the pickup store
(address, opening hours) and, once ready, the pickup code large and as a QR code; and an
"I'm here" button for a kerbside handover, which tells the store through its feed.
"""

from typing import Annotated

import segno
from flask import Blueprint, Response, current_app, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import Field

from shared.errors import NotFound, Refused

from ..services import customer as customer_service
from ..services import orders
from ..store import HubDatabase
from .console import Form, parse_form

customer = Blueprint("customer", __name__, url_prefix="/o", template_folder="templates")
POLL_SECONDS = 5
MAX_QR_CODE = 64
#: statuses after which the page has nothing more to wait for
SETTLED = frozenset({"ready_for_pickup", "collected", "shipped", "cancelled"})

# the order's steps, in the customer's words
SAYS = {
    "received": _l("We have received your order."),
    "routed": _l("A store is preparing your order."),
    "in_progress": _l("Your order is being prepared."),
    "rerouting": _l("Your order is being prepared."),
    "awaiting_transfer": _l("Some items are on their way to your pickup store."),
    "backordered": _l("We are waiting for stock; we will keep you informed."),
    "partially_shipped": _l("Part of your order has been shipped."),
    "shipped": _l("Your order has been shipped."),
    "ready_for_pickup": _l("Your order is ready: come and collect it."),
    "collected": _l("You have collected your order. Thank you!"),
    "cancelled": _l("Your order has been cancelled."),
    "customer_arrived": _l("You told the store you were here."),
}
HEADLINES = {
    "received": _l("Order received"),
    "routed": _l("Being prepared"),
    "in_progress": _l("Being prepared"),
    "rerouting": _l("Being prepared"),
    "awaiting_transfer": _l("Being prepared"),
    "backordered": _l("Waiting for stock"),
    "partially_shipped": _l("Partly shipped"),
    "shipped": _l("Shipped"),
    "ready_for_pickup": _l("Ready for pickup"),
    "collected": _l("Collected"),
    "cancelled": _l("Cancelled"),
}
STEPS = {
    "click_and_collect": [
        ("received", _l("Received")),
        ("preparing", _l("Being prepared")),
        ("ready", _l("Ready for pickup")),
        ("done", _l("Collected")),
    ],
    "ship_from_store": [
        ("received", _l("Received")),
        ("preparing", _l("Being prepared")),
        ("done", _l("Shipped")),
    ],
}
STEP_OF = {
    "received": "received",
    "routed": "preparing",
    "in_progress": "preparing",
    "rerouting": "preparing",
    "awaiting_transfer": "preparing",
    "backordered": "preparing",
    "partially_shipped": "preparing",
    "ready_for_pickup": "ready",
    "shipped": "done",
    "collected": "done",
}


class ArrivalForm(Form):
    note: Annotated[str, Field(max_length=200)] = ""


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]


def qr_svg(code: str) -> str:
    """The pickup code as an inline SVG QR code (what the store's scanner reads into the code field)."""
    qr = segno.make(code, micro=False, error="m")
    return qr.svg_inline(scale=6, border=4, dark="#000", light="#fff", title=_("Pickup code %(code)s", code=code))


def _render(token: str, errors: dict | None = None, status: int = 200, partial: bool = False) -> Response:
    try:
        view = customer_service.order_for_customer(db(), token)
    except NotFound:
        return make_response(render_template("customer/not_found.html"), 404)
    steps = STEPS.get(view["kind"], STEPS["ship_from_store"])
    current = STEP_OF.get(view["status"])
    reached = [key for key, _word in steps].index(current) if current else -1
    context = {
        "o": view,
        "token": token,
        "steps": steps,
        "reached": reached,
        "says": SAYS,
        "headline": HEADLINES.get(view["status"], view["status"]),
        # a pickup code is a few characters; anything longer is not drawn (a QR code holds ~3 kB at most)
        "qr": {code: qr_svg(code) for code in view["pickup_codes"] if len(code) <= MAX_QR_CODE},
        "poll": POLL_SECONDS if view["status"] not in SETTLED else None,
        "errors": errors or {},
    }
    template = "customer/_status.html" if partial else "customer/order.html"
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"  # a pickup code must not sit in a shared cache
    response.headers["Referrer-Policy"] = "no-referrer"  # nor the link leak to other sites
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@customer.get("/<token>")
def order_page(token: str) -> Response:
    """The customer's order page."""
    return _render(token)


@customer.get("/<token>/status")
def order_status(token: str) -> Response:
    """The page's status part alone, for htmx polling until the order is ready."""
    return _render(token, partial=True)


@customer.post("/<token>/here")
def here(token: str) -> Response:
    """'I'm here': the store holding the order gets a kerbside message in its feed."""
    form, errors = parse_form(ArrivalForm)
    if form is None:
        return _render(token, errors, 400)
    try:
        orders.announce_arrival(db(), token, form.note)
    except NotFound:
        return _render(token)
    except Refused:
        return _render(token, {"here": _("Your order is not ready for pickup yet.")}, 409)
    return redirect(url_for("customer.order_page", token=token) + "#pickup", 303)
