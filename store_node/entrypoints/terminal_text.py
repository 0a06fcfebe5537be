"""Words and formats of the store terminal: labels of codes, refusals said in the staff member's language,
dates, times, relative times and euro amounts for the locale (money is integer cents, shown through Decimal).
"""

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared.clock import from_iso, utc_now
from shared.errors import DomainError, InvalidInput, NotFound
from shared.screens import colon, label
from shared.screens import when as shared_when

# ------------------------------------------------------------------ words shown for codes
STATUS = {
    "assigned": _l("To accept"),
    "accepted": _l("Accepted"),
    "picking": _l("Picking"),
    "picked": _l("Picked"),
    "packed": _l("Packed"),
    "shipped": _l("Shipped"),
    "ready_for_pickup": _l("Ready for pickup"),
    "collected": _l("Collected"),
    "rejected": _l("Rejected"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
}
KINDS = {
    "ship_from_store": _l("Ship from store"),
    "click_and_collect": _l("Click and collect"),
    "transfer_out": _l("Transfer to a store"),
}
REJECT_REASONS = {
    "out_of_stock": _l("Out of stock"),
    "damaged": _l("Damaged"),
    "no_capacity": _l("No capacity"),
    "other": _l("Other"),
}
SHORT_REASONS = {
    "not_found": _l("Not found on the shelf"),
    "damaged": _l("Damaged"),
    "other": _l("Other"),
}
FIELDS = {
    "staff_code": _l("Staff code"),
    "pin": _l("PIN"),
    "code": _l("Barcode or SKU"),
    "qty": _l("Quantity"),
    "reason": _l("Reason"),
    "short_reason": _l("Reason for the short pick"),
    "note": _l("Note"),
    "rejections": _l("Quantities to reject"),
    "parcels": _l("Parcels"),
    "weight_grams": _l("Weight (g)"),
    "carrier": _l("Carrier"),
    "tracking_number": _l("Tracking number"),
    "pickup_code": _l("Pickup code"),
    "id_checked": _l("ID check"),
    "counted": _l("Counted quantity"),
    "reference": _l("Delivery reference"),
    "lines": _l("Lines"),
    "language": _l("Language"),
    "receipt_id": _l("Receipt"),
    "q": _l("Search"),
}
MOVEMENTS = {
    "receipt": _l("Goods receipt"),
    "sale": _l("Sale"),
    "return_sellable": _l("Return (sellable)"),
    "return_damaged": _l("Return (damaged)"),
    "count": _l("Count"),
    "adjustment": _l("Adjustment"),
    "reserve": _l("Reserved for an order"),
    "release": _l("Released"),
    "dispatch": _l("Left the store"),
}


def field_label(field: str) -> str:
    """``lines[2].code`` reads as "Barcode or SKU (line 3)"."""
    match = re.fullmatch(r"(\w+)\[(\d+)\]\.(\w+)", field)
    if match:
        return _("%(field)s (line %(n)s)", field=label(FIELDS, match[3]), n=int(match[2]) + 1)
    return label(FIELDS, field)


# ------------------------------------------------------------------ refusals, in the staff member's language
# The services explain a refusal in English; the known ones are said again in the screen's language.
_SAID: list[tuple[re.Pattern, Any]] = [
    (
        re.compile(r"wrong item: scanned (?P<scanned>\S+), expected (?P<expected>.+)"),
        _l("Wrong item: you scanned %(scanned)s, expected %(expected)s."),
    ),
    (
        re.compile(r"too many (?P<sku>\S+): (?P<left>\d+) left to pick, got (?P<qty>\d+)"),
        _l("Too many %(sku)s: %(left)s left to pick, not %(qty)s."),
    ),
    (
        re.compile(r"short pick needs a reason: still to pick (?P<missing>.+)"),
        _l("Give a reason for the short pick: still to pick %(missing)s."),
    ),
    (
        re.compile(r"not enough stock to accept: (?P<sku>\S+): available (?P<available>-?\d+), needs (?P<needs>\d+)"),
        _l("Not enough stock of %(sku)s: %(available)s available, %(needs)s needed. Accept partly or reject."),
    ),
    (re.compile(r"pickup code does not match"), _l("The pickup code does not match this order.")),
    (
        re.compile(r"say why the count differs from what was shipped"),
        _l("Say why the count differs from what was shipped."),
    ),
    (re.compile(r"transfer \S+ is received: it was received already"), _l("This transfer was received already.")),
    (
        re.compile(r"this order needs an ID check before hand-over"),
        _l("This order needs an ID check: tick the box once you have seen the customer's ID."),
    ),
    (re.compile(r"unknown barcode or SKU '(?P<code>.*)'"), _l("unknown barcode or SKU: %(code)s")),
    (
        re.compile(r"assignment \S+ is (?P<status>\w+): it cannot become (?P<target>\w+)"),
        _l("This order is already at step “%(status)s”: it cannot become “%(target)s”."),
    ),
    (
        re.compile(r"assignment \S+ is (?P<status>\w+): (it cannot be picked|there is no pick to complete)"),
        _l("This order is at step “%(status)s”: there is nothing to pick."),
    ),
    (
        re.compile(r"assignment \S+ is \w+: it is staged for pickup, not packed"),
        _l("A click-and-collect order is staged for pickup, not packed."),
    ),
    (
        re.compile(r"assignment \S+ is \w+: only click-and-collect is staged for pickup"),
        _l("Only click-and-collect orders are staged for pickup."),
    ),
    (re.compile(r"no assignment '(?P<id>.*)'"), _l("There is no order %(id)s at this store.")),
    (re.compile(r"no kerbside arrival waiting .*"), _l("This arrival has already been seen to.")),
    (
        re.compile(r"line (?P<line>\S+): can reject 0 to (?P<max>\d+), got (?P<qty>-?\d+)"),
        _l("line %(line)s: reject between 0 and %(max)s, not %(qty)s"),
    ),
    (re.compile(r"must be a positive whole number, got .*"), _l("must be a whole number of 1 or more")),
    (re.compile(r"cannot be negative, got .*"), _l("cannot be negative")),
    (re.compile(r"at least one parcel"), _l("add at least one parcel")),
]
_STATUS_WORDS = ("status", "target")


def say(problem: str) -> str:
    """One problem reported by a service, in the screen's language when it is a known one."""
    for pattern, words in _SAID:
        match = pattern.fullmatch(problem.strip())
        if match:
            values = {k: (label(STATUS, v) if k in _STATUS_WORDS else v) for k, v in match.groupdict().items()}
            return str(words) % values
    return problem


def refusal(exc: DomainError) -> dict:
    """What the page shows for a refusal: each problem, and for bad input the field it is about."""
    if isinstance(exc, InvalidInput):
        fields = {field: say(message) for field, message in exc.fields}
        problems = [f"{field_label(field)}{colon()} {message}" for field, message in fields.items()]
        return {"problems": problems, "fields": fields}
    return {"problems": [say(p) for p in exc.problems], "fields": {}}


def status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidInput):
        return 400
    return 409  # IllegalTransition, Refused


# ------------------------------------------------------------------ formatting (template filters)
def when(iso: str | None, style: str = "short") -> str:
    """Terminals show times without seconds."""
    return shared_when(iso, style)


def countdown(iso: str | None) -> str:
    """Time left before a deadline as H:MM:SS (terminal.js keeps it ticking); "overdue" once past."""
    if not iso:
        return ""
    seconds = int((from_iso(iso) - utc_now()).total_seconds())
    if seconds <= 0:
        return _("Overdue")
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


