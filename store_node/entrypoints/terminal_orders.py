"""Terminal screens of the order queue: accept or reject, pick by scan, pack and ship, print slips and labels.

Transfers to another store (``transfer_out``) go through the same screens, in their own tab.
"""

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from pydantic import ValidationError

from shared.errors import DomainError, InvalidInput, NotFound
from shared.screens import colon

from ..domain.assignments import SHIPPING_KINDS, Parcel, Status
from ..services import fulfilment
from ..services.fulfilment import assignment_view
from . import schemas
from .terminal import db, field_label, is_fragment, me, refusal, render, status_of, terminal

ACTIVE = [
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.PICKING,
    Status.PICKED,
    Status.PACKED,
    Status.READY_FOR_PICKUP,
]
TABS = {
    "orders": frozenset({"ship_from_store", "click_and_collect"}),
    "transfers": frozenset({"transfer_out"}),
}
CARRIERS = ("Colissimo", "Chronopost", "DPD", "GLS", "UPS", "Coursier")
MAX_PARCELS = 20


def _view(assignment_id: str) -> dict:
    """The assignment as shown, with each line's product (name, location, barcodes, stock)."""
    found = db().assignment(assignment_id)
    if found is None:
        raise NotFound(f"no assignment {assignment_id!r}")
    return _with_products(assignment_view(found, db().stock_items(found.skus)))


def _with_products(view: dict) -> dict:
    products = db().products(ln["sku"] for ln in view["lines"])
    for line in view["lines"]:
        row = products.get(line["sku"])
        line["name"] = row["name"] if row else line["sku"]
        line["location"] = (row["location"] if row else "") or ""
        line["barcode"] = ((row["barcodes"] or "").split() or [""])[0] if row else ""
        line["available"] = (row["on_hand"] - row["reserved"]) if row else 0
        line["price_cents"] = row["price_cents"] if row else None
    view["units"] = sum(ln["to_fill"] for ln in view["lines"])
    view["shipping"] = view["kind"] in SHIPPING_KINDS
    return view


def next_step(view: dict) -> tuple[str, str]:
    """What staff do next with an assignment: (button text, address)."""
    aid, status = view["assignment_id"], view["status"]
    if status == "assigned":
        return _("Accept or reject"), url_for("terminal.assignment", assignment_id=aid)
    if status in ("accepted", "picking"):
        return _("Pick"), url_for("terminal.pick", assignment_id=aid)
    if status == "picked" and view["kind"] in SHIPPING_KINDS:
        return _("Pack"), url_for("terminal.pack", assignment_id=aid)
    if status == "picked":
        return _("Stage for pickup"), url_for("terminal.assignment", assignment_id=aid)
    if status == "packed":
        return _("Ship"), url_for("terminal.assignment", assignment_id=aid)
    if status == "ready_for_pickup":
        return _("Hand over"), url_for("terminal.counter_order", assignment_id=aid)
    return _("Open"), url_for("terminal.assignment", assignment_id=aid)


# ------------------------------------------------------------------ queue
@terminal.get("/queue")
def queue() -> str:
    """Assignments still to work, soonest deadline first; orders and transfers in their own tabs."""
    tab = request.args.get("tab", "orders")
    tab = tab if tab in TABS else "orders"
    found = db().assignments(ACTIVE)
    items = db().stock_items({sku for a in found for sku in a.skus})
    views = [assignment_view(a, items) for a in found]
    counts = {name: sum(1 for v in views if v["kind"] in kinds) for name, kinds in TABS.items()}
    rows = [_with_products(v) for v in views if v["kind"] in TABS[tab]]
    for row in rows:
        row["next"] = next_step(row)
    template = "terminal/_queue.html" if is_fragment() else "terminal/queue.html"
    return render_template(template, tab=tab, rows=rows, counts=counts)


# ------------------------------------------------------------------ one assignment: accept, reject, stage, ship
def _assignment_page(assignment_id: str, refused: dict | None = None, status: int = 200, **extra: Any):
    view = _view(assignment_id)
    return render("terminal/assignment.html", status, a=view, refused=refused, form=request.form, **extra)


@terminal.get("/assignments/<assignment_id>")
def assignment(assignment_id: str) -> tuple[str, int]:
    """One assignment: its lines with stock and location, and the next step."""
    return _assignment_page(assignment_id)


@terminal.post("/assignments/<assignment_id>/accept")
def accept(assignment_id: str) -> Response | tuple[str, int]:
    """Accept; with quantities to reject per line, accept partly (the rest goes back to head office)."""
    rejected, bad = {}, []
    for key, value in request.form.items():
        if key.startswith("reject-") and value.strip():
            line_id = key.removeprefix("reject-")
            if value.strip().isdigit():
                rejected[line_id] = int(value)
            else:
                bad.append(_("line %(line)s: a whole number, not “%(value)s”", line=line_id, value=value))
    try:
        if bad:
            raise InvalidInput("rejections", "; ".join(bad))
        result = fulfilment.accept(
            db(),
            me(),
            assignment_id,
            {k: v for k, v in rejected.items() if v},
            request.form.get("reason", "out_of_stock"),
            request.form.get("note", "").strip()[:200],
        )
    except DomainError as exc:
        return _assignment_page(assignment_id, refusal(exc), status_of(exc))
    handed_back = sum(ln["rejected"] for ln in result["lines"])
    if result["status"] == "rejected":
        flash(_("Nothing accepted: the order goes back to head office."), "info")
        return redirect(url_for("terminal.queue"), 303)
    if handed_back:
        flash(
            ngettext(
                "Accepted partly: %(num)s item goes back to head office.",
                "Accepted partly: %(num)s items go back to head office.",
                handed_back,
            ),
            "success",
        )
    else:
        flash(_("Accepted: the stock is reserved. You can pick it now."), "success")
    return redirect(url_for("terminal.pick", assignment_id=assignment_id), 303)


@terminal.post("/assignments/<assignment_id>/reject")
def reject(assignment_id: str) -> Response | tuple[str, int]:
    """Reject with a reason: head office routes the order to another store."""
    try:
        fulfilment.reject(
            db(), me(), assignment_id, request.form.get("reason", ""), request.form.get("note", "").strip()[:200]
        )
    except DomainError as exc:
        return _assignment_page(assignment_id, refusal(exc), status_of(exc))
    flash(_("Rejected: head office will route the order to another store."), "info")
    return redirect(url_for("terminal.queue"), 303)


@terminal.post("/assignments/<assignment_id>/ready")
def make_ready(assignment_id: str) -> Response | tuple[str, int]:
    """Stage a click-and-collect order for pickup: the customer gets the pickup code."""
    try:
        result = fulfilment.make_ready(db(), me(), assignment_id)
    except DomainError as exc:
        return _assignment_page(assignment_id, refusal(exc), status_of(exc))
    flash(_("Ready for pickup. Label the bag with the code %(code)s.", code=result["pickup_code"]), "success")
    return redirect(url_for("terminal.assignment", assignment_id=assignment_id), 303)


@terminal.post("/assignments/<assignment_id>/ship")
def ship(assignment_id: str) -> Response | tuple[str, int]:
    """The carrier took the parcels: the goods leave the store's stock."""
    try:
        fulfilment.ship(db(), me(), assignment_id)
    except DomainError as exc:
        return _assignment_page(assignment_id, refusal(exc), status_of(exc))
    flash(_("Shipped."), "success")
    return redirect(url_for("terminal.assignment", assignment_id=assignment_id), 303)


# ------------------------------------------------------------------ pick
def _pick_groups(view: dict) -> list[tuple[str, list[dict]]]:
    """Lines to pick grouped by shelf location, in walking order."""
    groups: dict[str, list[dict]] = {}
    for line in view["lines"]:
        if line["to_fill"]:
            groups.setdefault(line["location"] or "—", []).append(line)
    return sorted(groups.items())


def _pick_page(view: dict, feedback: dict | None, status: int = 200) -> tuple[str, int]:
    done = view["status"] in ("accepted", "picking") and all(ln["left_to_pick"] == 0 for ln in view["lines"])
    context = {"a": view, "groups": _pick_groups(view), "feedback": feedback, "done": done}
    return render("terminal/_pick.html" if is_fragment() else "terminal/pick.html", status, **context)


@terminal.get("/assignments/<assignment_id>/pick")
def pick(assignment_id: str) -> tuple[str, int]:
    """The pick list by location, with the scan field."""
    return _pick_page(_view(assignment_id), None)


@terminal.post("/assignments/<assignment_id>/pick")
def pick_scan(assignment_id: str) -> tuple[str, int]:
    """A scan (one unit) or a typed quantity; a wrong item is refused with what was expected."""
    code = request.form.get("code", "").strip()
    qty_text = request.form.get("qty", "").strip() or "1"
    try:
        if not code:
            raise InvalidInput("code", _("scan a barcode or type a SKU"))
        if not qty_text.isdigit():
            raise InvalidInput("qty", _("must be a whole number of 1 or more"))
        result = fulfilment.pick(db(), me(), assignment_id, code, int(qty_text))
    except DomainError as exc:
        view = _view(assignment_id)
        feedback = {"kind": "wrong", "problems": refusal(exc)["problems"], "code": code}
        return _pick_page(view, feedback, status_of(exc))
    view = _with_products(result)
    sku = result["last_pick"]["sku"]
    line = next(ln for ln in view["lines"] if ln["sku"] == sku)
    if all(ln["left_to_pick"] == 0 for ln in view["lines"]):
        feedback = {"kind": "done", "problems": [_("Everything is picked. Complete the pick.")], "sku": sku}
    else:
        text = _(
            "%(name)s (%(sku)s): %(picked)s of %(qty)s picked.",
            name=line["name"],
            sku=sku,
            picked=line["picked"],
            qty=line["to_fill"],
        )
        feedback = {"kind": "ok", "problems": [text], "sku": sku}
    return _pick_page(view, feedback)


@terminal.post("/assignments/<assignment_id>/complete-pick")
def complete_pick(assignment_id: str) -> Response | tuple[str, int]:
    """Close the pick; what is missing needs a reason and goes back to head office."""
    reason = request.form.get("short_reason", "").strip()
    try:
        result = fulfilment.complete_pick(db(), me(), assignment_id, reason or None)
    except DomainError as exc:
        view = _view(assignment_id)
        return _pick_page(view, {"kind": "wrong", "problems": refusal(exc)["problems"]}, status_of(exc))
    if result["status"] == "rejected":
        flash(_("Nothing could be picked: the order goes back to head office."), "info")
        return redirect(url_for("terminal.queue"), 303)
    flash(_("Pick complete."), "success")
    target = "terminal.pack" if result["kind"] in SHIPPING_KINDS else "terminal.assignment"
    response = redirect(url_for(target, assignment_id=assignment_id), 303)
    if is_fragment():  # the scan queue follows redirects itself; htmx needs to be told
        response.headers["HX-Redirect"] = response.location
    return response


# ------------------------------------------------------------------ pack
def _parcels_from_form(form) -> tuple[list[dict], dict[str, str]]:
    """The parcel rows typed (blank rows skipped) and every bad field, named ``<field>-<row>``."""
    rows = min(max(int(form.get("rows", "1")) if form.get("rows", "1").isdigit() else 1, 1), MAX_PARCELS)
    typed, errors = [], {}
    for n in range(rows):
        row = {k: form.get(f"{k}-{n}", "").strip() for k in ("weight_grams", "carrier", "tracking_number")}
        typed.append(row)
        if not any(row.values()):
            continue
        try:
            schemas.ParcelIn.model_validate(row)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                errors[f"{error['loc'][0]}-{n}"] = _parcel_message(error)
    return typed, errors


def _parcel_message(error: dict) -> str:
    ctx = error.get("ctx") or {}
    match error["type"]:
        case "missing" | "string_too_short" if error["loc"][0] == "tracking_number":
            return _("at least 3 characters")
        case "missing" | "string_too_short":
            return _("is required")
        case "int_parsing" | "int_type" | "int_from_float":
            return _("must be a whole number of grams")
        case "greater_than_equal":
            return _("must be %(min)s or more", min=ctx.get("ge"))
        case "less_than_equal":
            return _("must be %(max)s or less", max=ctx.get("le"))
        case "string_too_long":
            return _("must be %(max)s characters or fewer", max=ctx.get("max_length"))
    return error["msg"]


@terminal.route("/assignments/<assignment_id>/pack", methods=["GET", "POST"])
def pack(assignment_id: str) -> Response | tuple[str, int]:
    """Parcels (weight, carrier, tracking number; add as many as needed), then pack."""
    view = _view(assignment_id)
    if request.method == "GET":
        return render("terminal/pack.html", a=view, parcels=[{}], errors={}, refused=None, carriers=CARRIERS)
    typed, errors = _parcels_from_form(request.form)
    if request.form.get("action") == "add":
        typed = [*typed, {}][:MAX_PARCELS]
        return render("terminal/pack.html", a=view, parcels=typed, errors={}, refused=None, carriers=CARRIERS)
    filled = [row for row in typed if any(row.values())]
    try:
        if errors:
            raise InvalidInput(*next(iter(errors.items())))
        parcels = [Parcel(int(r["weight_grams"]), r["carrier"], r["tracking_number"]) for r in filled]
        fulfilment.pack(db(), me(), assignment_id, parcels)
    except DomainError as exc:
        refused = refusal(exc)
        if errors:
            refused = {
                "problems": [f"{_field(k)} {v}" for k, v in errors.items()],
                "fields": errors,
            }
        page = render(
            "terminal/pack.html",
            status_of(exc),
            a=view,
            parcels=typed,
            errors=errors,
            refused=refused,
            carriers=CARRIERS,
        )
        return page
    flash(
        ngettext(
            "Packed in %(num)s parcel. Print the label, then ship.",
            "Packed in %(num)s parcels. Print the labels, then ship.",
            len(parcels),
        ),
        "success",
    )
    return redirect(url_for("terminal.assignment", assignment_id=assignment_id), 303)


def _field(key: str) -> str:
    """``tracking_number-1`` reads as "Tracking number (parcel 2):"."""
    name, _sep, n = key.rpartition("-")
    return _("%(field)s (parcel %(n)s)", field=field_label(name), n=int(n) + 1) + colon()


# ------------------------------------------------------------------ print
@terminal.get("/assignments/<assignment_id>/slip")
def packing_slip(assignment_id: str) -> str:
    """The packing slip, to print and put in the parcel."""
    return render_template("terminal/slip.html", a=_view(assignment_id), store_id=db().store_id)


@terminal.get("/assignments/<assignment_id>/label")
def parcel_label(assignment_id: str) -> str:
    """One A6 (4x6 in) label per parcel, with the tracking number as text and as a QR code."""
    view = _view(assignment_id)
    codes = {p["tracking_number"]: _qr(p["tracking_number"]) for p in view["parcels"]}
    return render_template("terminal/label.html", a=view, store_id=db().store_id, codes=codes)


def _qr(text: str) -> str:
    try:
        import segno
    except ImportError:  # the code is a convenience: the number is printed large anyway
        return ""
    return segno.make(text, micro=False, error="m").svg_inline(scale=4, border=2, title=text)
