"""Terminal screen of the collection counter: find a click-and-collect order by its pickup code, hand it over."""

from flask import Response, flash, redirect, request, url_for
from flask_babel import gettext as _

from shared.errors import DomainError, NotFound

from ..domain.assignments import Status
from ..services import fulfilment
from ..services.fulfilment import assignment_view
from .terminal import db, me, refusal, render, status_of, terminal
from .terminal_orders import _with_products


def _ready_list() -> list[dict]:
    found = db().assignments([Status.READY_FOR_PICKUP])
    items = db().stock_items({sku for a in found for sku in a.skus})
    return [assignment_view(a, items) for a in found]


def _counter(order: dict | None = None, code: str = "", refused: dict | None = None, status: int = 200):
    return render("terminal/counter.html", status, order=order, code=code, refused=refused, ready=_ready_list())


@terminal.get("/counter")
def counter() -> tuple[str, int]:
    """Type or scan the customer's pickup code; without one, the orders waiting to be collected."""
    code = request.args.get("code", "").strip().upper()
    if not code:
        return _counter()
    found = db().ready_for_pickup_by_code(code)
    if found is None:
        message = _("No order is ready for pickup with the code %(code)s. Check the code with the customer.", code=code)
        return _counter(code=code, refused={"problems": [message], "fields": {"pickup_code": message}}, status=404)
    view = _with_products(assignment_view(found, db().stock_items(found.skus)))
    return _counter(view, code)


@terminal.get("/counter/<assignment_id>")
def counter_order(assignment_id: str) -> tuple[str, int]:
    """One order at the counter (from a kerbside pop-up or the list): the code is still asked for."""
    found = db().assignment(assignment_id)
    if found is None:
        raise NotFound(f"no assignment {assignment_id!r}")
    view = _with_products(assignment_view(found, db().stock_items(found.skus)))
    return _counter(view)


@terminal.post("/counter/<assignment_id>/collect")
def collect(assignment_id: str) -> Response | tuple[str, int]:
    """Hand over against the pickup code, with the ID check where the order needs one."""
    code = request.form.get("pickup_code", "").strip()
    id_checked = request.form.get("id_checked") == "yes"
    try:
        result = fulfilment.collect(db(), me(), assignment_id, code, id_checked)
    except DomainError as exc:
        found = db().assignment(assignment_id)
        if found is None:
            raise
        view = _with_products(assignment_view(found, db().stock_items(found.skus)))
        return _counter(view, "", refusal(exc), status_of(exc))
    flash(
        _("Handed over to %(name)s (order %(order)s).", name=result["customer_name"], order=result["order_id"]),
        "success",
    )
    return redirect(url_for("terminal.counter"), 303)
