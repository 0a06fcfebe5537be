"""Terminal screens of the till and the shop floor: sales and returns by scan, stock lookup and counts, goods receipts.

A basket (of a sale, a return or a goods receipt) is kept in the staff member's session while it
is scanned, so that looking up a product and coming back does not lose it; validating it is one
service call. A sale or return carries a receipt id made when its basket starts: validating twice
(a double tap, a retry) records it once.
"""

from flask import Response, abort, flash, redirect, request, session, url_for
from flask_babel import gettext as _

from shared.errors import DomainError, InvalidInput, NotFound
from shared.ids import prefixed_id
from shared.screens import colon, money

from ..services import till
from ..services.till import TillLine
from .terminal import db, is_fragment, me, refusal, render, status_of, terminal

KINDS = ("sale", "return", "receipt")
MAX_LINES = 60  # a basket lives in the session cookie: beyond this, validate and start another
MAX_QTY = 9999


# ------------------------------------------------------------------ the basket in the session
def _basket(kind: str) -> dict:
    if kind not in KINDS:
        abort(404)
    baskets = session.get("baskets", {})
    return baskets.get(kind) or {"id": None, "lines": []}


def _save(kind: str, basket: dict) -> None:
    baskets = dict(session.get("baskets", {}))
    baskets[kind] = basket
    session["baskets"] = baskets


def _shown(kind: str) -> dict:
    """The basket with each line's product, and its total."""
    basket = _basket(kind)
    products = db().products(line["sku"] for line in basket["lines"])
    lines, total = [], 0
    for line in basket["lines"]:
        row = products.get(line["sku"])
        price = row["price_cents"] if row else 0
        total += price * line["qty"]
        lines.append({**line, "name": row["name"] if row else line["sku"], "price_cents": price})
    return {"kind": kind, "lines": lines, "total_cents": total, "units": sum(ln["qty"] for ln in lines)}


def _page(kind: str, refused: dict | None = None, status: int = 200, feedback: str | None = None, **extra):
    context = {"basket": _shown(kind), "refused": refused, "feedback": feedback, **extra}
    if is_fragment():
        return render("terminal/_basket.html", status, **context)
    template = "terminal/receipt.html" if kind == "receipt" else "terminal/till.html"
    return render(template, status, **context)


def _back(kind: str) -> Response:
    if kind == "receipt":
        return redirect(url_for("terminal.goods_receipt"), 303)
    return redirect(url_for("terminal.till_page", mode=kind), 303)


# ------------------------------------------------------------------ till and goods receipt pages
@terminal.get("/till")
def till_page() -> tuple[str, int]:
    """The till: a sale or a return, scanned line by line, then validated."""
    mode = request.args.get("mode", "sale")
    return _page(mode if mode in ("sale", "return") else "sale")


@terminal.get("/receipt")
def goods_receipt() -> tuple[str, int]:
    """A goods receipt: scan what arrived, then validate."""
    return _page("receipt")


@terminal.post("/basket/<kind>/scan")
def basket_scan(kind: str) -> tuple[str, int]:
    """Add a scanned or typed product to the basket (the same product adds up)."""
    basket = _basket(kind)
    code = request.form.get("code", "").strip()
    qty_text = request.form.get("qty", "").strip() or "1"
    sellable = request.form.get("condition", "sellable") != "damaged"
    try:
        if not code:
            raise InvalidInput("code", _("scan a barcode or type a SKU"))
        if not qty_text.isdigit() or not 1 <= int(qty_text) <= MAX_QTY:
            raise InvalidInput("qty", _("must be a whole number from 1 to %(max)s", max=MAX_QTY))
        sku = db().resolve(code)
        if sku is None:
            raise InvalidInput("code", f"unknown barcode or SKU {code!r}")
    except DomainError as exc:
        return _page(kind, refusal(exc), status_of(exc), feedback="wrong")
    lines = [dict(line) for line in basket["lines"]]
    same = next((ln for ln in lines if ln["sku"] == sku and ln.get("sellable", True) == sellable), None)
    if same:
        same["qty"] = min(same["qty"] + int(qty_text), MAX_QTY)
    elif len(lines) >= MAX_LINES:
        full = {"problems": [_("The basket is full: validate it, then scan the rest.")], "fields": {}}
        return _page(kind, full, 409, feedback="wrong")
    else:
        lines.append({"sku": sku, "qty": int(qty_text), "sellable": sellable})
    _save(kind, {"id": basket["id"] or prefixed_id(db().store_id), "lines": lines})
    return _page(kind, feedback="ok")


@terminal.post("/basket/<kind>/lines/<int:n>")
def basket_line(kind: str, n: int) -> tuple[str, int]:
    """One more, one less, remove, or (returns) switch between sellable and damaged."""
    basket = _basket(kind)
    lines = [dict(line) for line in basket["lines"]]
    if not 0 <= n < len(lines):
        return _page(kind)  # an old page: show the basket as it is
    action = request.form.get("action", "")
    if action == "plus":
        lines[n]["qty"] = min(lines[n]["qty"] + 1, MAX_QTY)
    elif action == "minus" and lines[n]["qty"] > 1:
        lines[n]["qty"] -= 1
    elif action == "remove" or action == "minus":
        del lines[n]
    elif action == "condition":
        lines[n]["sellable"] = not lines[n].get("sellable", True)
    _save(kind, {**basket, "lines": lines})
    return _page(kind)


@terminal.post("/basket/<kind>/clear")
def basket_clear(kind: str) -> Response:
    _basket(kind)
    _save(kind, {"id": None, "lines": []})
    flash(_("Basket emptied."), "info")
    return _back(kind)


@terminal.post("/basket/<kind>/validate")
def basket_validate(kind: str) -> Response | tuple[str, int]:
    """Record the sale, the return or the goods receipt: one service call, one transaction."""
    basket = _basket(kind)
    if not basket["lines"]:
        empty = {"problems": [_("The basket is empty: scan a product first.")], "fields": {"lines": ""}}
        return _page(kind, empty, 400)
    lines = [TillLine(ln["sku"], ln["qty"], ln.get("sellable", True)) for ln in basket["lines"]]
    reference = request.form.get("reference", "").strip()[:80]
    try:
        if kind == "sale":
            result = till.record_sale(db(), me(), lines, basket["id"])
        elif kind == "return":
            result = till.record_return(db(), me(), lines, basket["id"])
        else:
            result = till.receive_goods(db(), me(), lines, reference)
    except DomainError as exc:
        return _page(kind, refusal(exc), status_of(exc), reference=reference)
    _save(kind, {"id": None, "lines": []})
    units = sum(ln.qty for ln in lines)
    if kind == "receipt":
        flash(_("Goods receipt recorded: %(units)s items in stock.", units=units), "success")
    elif result.get("duplicate"):
        flash(
            _("This receipt was already recorded (%(id)s): nothing was recorded twice.", id=result["receipt_id"]),
            "info",
        )
    else:
        words = _("Sale recorded") if kind == "sale" else _("Return recorded")
        flash(f"{words}{colon()} {money(result['total_cents'])} · {result['receipt_id']}", "success")
    return _back(kind)


# ------------------------------------------------------------------ stock lookup and count
@terminal.get("/stock")
def stock_lookup() -> Response | tuple[str, int]:
    """Find a product by scan, SKU or name; an exact barcode or SKU opens it at once."""
    q = request.args.get("q", "").strip()[:100]
    if q:
        sku = db().resolve(q)
        if sku is not None:
            return redirect(url_for("terminal.stock_item", sku=sku), 303)
    rows = db().stock_rows(q, 50) if q else []
    return render("terminal/stock.html", 404 if q and not rows else 200, q=q, rows=rows)


def _stock_item_page(sku: str, refused: dict | None = None, status: int = 200) -> tuple[str, int]:
    row = db().stock_row(sku)
    if row is None:
        raise NotFound(f"no SKU {sku!r}")
    return render("terminal/stock_item.html", status, item=row, moves=db().movements(sku, 20), refused=refused)


@terminal.get("/stock/<sku>")
def stock_item(sku: str) -> tuple[str, int]:
    """One product: stock on hand, reserved and available, its last movements, and a count."""
    return _stock_item_page(sku)


@terminal.post("/stock/<sku>/count")
def stock_count(sku: str) -> Response | tuple[str, int]:
    """Record what was counted on the shelf: on hand becomes it and the variance is kept."""
    counted = request.form.get("counted", "").strip()
    try:
        if not counted.isdigit():
            raise InvalidInput("counted", _("must be a whole number, 0 or more"))
        result = till.count_stock(db(), me(), sku, int(counted))
    except DomainError as exc:
        return _stock_item_page(sku, refusal(exc), status_of(exc))
    flash(
        _(
            "Count recorded: %(counted)s on hand (was %(recorded)s, difference %(variance)+d).",
            counted=result["counted"],
            recorded=result["recorded"],
            variance=result["variance"],
        ),
        "success",
    )
    return redirect(url_for("terminal.stock_item", sku=sku), 303)
