"""Head-office screen of transfers between stores: request one, and follow each to its receipt.

``/console/transfers``: a form (source, destination, lines as "SKU quantity" one per line,
reason) that calls the audited ``services.transfers.request_transfer``, and the list of transfers
with their status (requested, picking, in transit, received) and what the destination counted.
Same rules as the rest of the console: signed-in users only, CSRF on every POST.
"""

from typing import Annotated

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import Field

from shared.errors import InvalidInput, NotFound

from ..services import transfers
from ..store import HubDatabase
from .console import Form, not_found, parse_form, require_user

console_transfers = Blueprint("transfers", __name__, url_prefix="/console", template_folder="templates")
console_transfers.before_request(require_user)
console_transfers.errorhandler(NotFound)(not_found)


class TransferForm(Form):
    source_store_id: Annotated[str, Field(min_length=1, max_length=32)]
    destination_store_id: Annotated[str, Field(min_length=1, max_length=32)]
    lines: Annotated[str, Field(min_length=1, max_length=5000)]
    reason: Annotated[str, Field(max_length=200)] = ""


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]


def _lines(text: str) -> tuple[list[tuple[str, int]], str | None]:
    """``SKU-00001 3`` one per line; answers the lines, or why they cannot be read."""
    lines = []
    for n, raw in enumerate(text.splitlines(), 1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            return [], _("line %(n)s: write a SKU, a space and a quantity", n=n)
        lines.append((parts[0], int(parts[1])))
    return lines, None if lines else _("at least one line")


def _page(form: dict | None = None, errors: dict | None = None, status: int = 200) -> tuple[str, int]:
    reader = db().reader()
    page = render_template(
        "console/transfers.html",
        transfers=transfers.transfer_list(db()),
        stores=reader.store_ids(),
        form=form or {},
        errors=errors or {},
    )
    return page, status


@console_transfers.get("/transfers")
def transfers_page() -> tuple[str, int]:
    """Every transfer between stores, newest first, and the form to request one."""
    return _page()


@console_transfers.post("/transfers")
def request_transfer() -> Response | tuple[str, int]:
    """Ask a store to send stock to another; the source gets a transfer-out pick order."""
    form, errors = parse_form(TransferForm)
    if form is None:
        return _page(request.form.to_dict(), errors, 400)
    lines, problem = _lines(form.lines)
    if problem:
        return _page(request.form.to_dict(), {"lines": problem}, 400)
    try:
        order_id = transfers.request_transfer(
            db(),
            form.source_store_id,
            form.destination_store_id,
            lines,
            form.reason,
            actor=g.console_user["username"],
        )
    except InvalidInput as exc:
        fields = {field.split("[")[0].split(".")[0]: message for field, message in exc.fields}
        return _page(request.form.to_dict(), fields, 400)
    flash(_("Transfer requested: the source store has it in its queue."), "success")
    return redirect(url_for("console.order", order_id=order_id), 303)
