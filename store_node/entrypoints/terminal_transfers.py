"""Terminal screens of transfers from other stores: what is on its way, and counting it in by scan."""

from flask import Response, flash, redirect, request, session, url_for
from flask_babel import gettext as _

from shared.errors import DomainError, InvalidInput, NotFound

from ..domain.transfers import Counted
from ..services import transfers
from .terminal import db, me, refusal, render, status_of, terminal


def _counts_key(transfer_id: str) -> str:
    return f"transfer-count:{transfer_id}"


def _transfer(transfer_id: str) -> dict:
    found = db().reader().incoming_transfer(transfer_id)
    if found is None:
        raise NotFound(f"no transfer {transfer_id!r} on its way to this store")
    products = db().products(ln["sku"] for ln in found["lines"])
    scanned = session.get(_counts_key(transfer_id), {})
    for line in found["lines"]:
        row = products.get(line["sku"])
        line["name"] = row["name"] if row else line["sku"]
        line["barcode"] = ((row["barcodes"] or "").split() or [""])[0] if row else ""
        line["scanned"] = scanned.get(line["line_id"], 0)
    return found


def _page(transfer_id: str, refused: dict | None = None, status: int = 200, feedback: str | None = None):
    return render("terminal/transfer.html", status, transfer=_transfer(transfer_id), refused=refused, feedback=feedback)


@terminal.get("/transfers")
def transfers_in() -> tuple[str, int]:
    """Transfers other stores have shipped here: to count in, and the last ones counted."""
    reader = db().reader()
    return render(
        "terminal/transfers.html",
        incoming=reader.incoming_transfers("in_transit"),
        received=reader.incoming_transfers("received", limit=10),
    )


@terminal.get("/transfers/<transfer_id>")
def transfer_in(transfer_id: str) -> tuple[str, int]:
    """One transfer: scan what arrived, or type the counts, then receive it."""
    return _page(transfer_id)


@terminal.post("/transfers/<transfer_id>/scan")
def transfer_scan(transfer_id: str) -> tuple[str, int]:
    """One scanned unit counts as received on the line of its SKU."""
    transfer = _transfer(transfer_id)
    code = request.form.get("code", "").strip()
    sku = db().resolve(code) if code else None
    line = next((ln for ln in transfer["lines"] if ln["sku"] == sku), None)
    if line is None:
        expected = ", ".join(ln["sku"] for ln in transfer["lines"])
        message = _("%(code)s is not in this transfer (expected %(expected)s).", code=code or "—", expected=expected)
        return _page(transfer_id, {"problems": [message], "fields": {"code": message}}, 409)
    counts = session.get(_counts_key(transfer_id), {})
    counts[line["line_id"]] = counts.get(line["line_id"], 0) + 1
    session[_counts_key(transfer_id)] = counts
    return _page(transfer_id, feedback=_("%(name)s: %(n)s counted", name=line["name"], n=counts[line["line_id"]]))


@terminal.post("/transfers/<transfer_id>/receive")
def transfer_receive(transfer_id: str) -> Response | tuple[str, int]:
    """Receive the transfer as counted; damaged, missing or extra units need a reason."""
    transfer = _transfer(transfer_id)
    counted, bad = {}, []
    for line in transfer["lines"]:
        values = []
        for what in ("received", "damaged"):
            raw = request.form.get(f"{what}-{line['line_id']}", "0").strip() or "0"
            if not raw.isdigit():
                bad.append((f"{what}-{line['line_id']}", _("must be a whole number, 0 or more")))
                raw = "0"
            values.append(int(raw))
        counted[line["line_id"]] = Counted(*values)
    try:
        if bad:
            raise InvalidInput(*bad[0], *bad[1:])
        transfers.receive_transfer(db(), me(), transfer_id, counted, request.form.get("reason", "").strip())
    except DomainError as exc:
        return _page(transfer_id, refusal(exc), status_of(exc))
    session.pop(_counts_key(transfer_id), None)
    flash(_("Transfer received: the stock is on hand."), "success")
    return redirect(url_for("terminal.transfers_in"), 303)
