"""The store node's JSON API: thin views that parse, call one service and answer."""

from flask import Blueprint, Response, current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.errors import InvalidInput, NotFound, Refused
from shared.http_api import ApiError, documented, json_response, openapi_document, parse_body, parse_query

from ..domain.assignments import Parcel, Status
from ..domain.transfers import Counted
from ..services import feed, fulfilment, staff, till, transfers
from ..services.fulfilment import assignment_view
from ..services.till import TillLine
from ..store import StoreDatabase
from . import schemas

api = Blueprint("api", __name__, url_prefix="/api")
OPEN_ENDPOINTS = {"api.sign_in", "api.health", "api.openapi"}
TOKEN_MAX_AGE_S = 12 * 3600  # one shift


def db() -> StoreDatabase:
    return current_app.extensions["store_db"]


def _tokens() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="staff-token")


def issue_token(member: dict) -> str:
    return _tokens().dumps({"code": member["code"], "role": member["role"]})


@api.before_request
def authenticate() -> None:
    """Every call but sign-in, health and the API description acts under a staff member."""
    if request.endpoint in OPEN_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "unauthenticated", "sign in first: Authorization: Bearer <token>")
    try:
        claims = _tokens().loads(header[7:], max_age=TOKEN_MAX_AGE_S)
    except SignatureExpired:
        raise ApiError(401, "unauthenticated", "session expired: sign in again") from None
    except BadSignature:
        raise ApiError(401, "unauthenticated", "invalid token") from None
    g.staff, g.role = claims["code"], claims["role"]


def _manager_only() -> None:
    if g.role != "manager":
        raise ApiError(403, "forbidden", "a manager must do this")


# ------------------------------------------------------------------ session and health
@api.post("/session")
@documented(body=schemas.SignIn)
def sign_in() -> Response:
    """Sign in with staff code and PIN; answers a bearer token for the shift."""
    body = parse_body(schemas.SignIn)
    try:
        member = staff.sign_in(db(), body.staff_code, body.pin)
    except Refused as exc:
        raise ApiError(401, "unauthenticated", str(exc)) from None
    return json_response({"token": issue_token(member), "staff": member})


@api.get("/health")
def health() -> Response:
    """Store id, epoch, outbox depth and age of the oldest unsent event, sync status."""
    return json_response(current_app.extensions["store_status"]())


@api.get("/openapi.json")
def openapi() -> Response:
    """This API's OpenAPI description."""
    return json_response(openapi_document(current_app, "Comptoir store node", "1"))


@api.post("/staff")
@documented(body=schemas.StaffIn)
def add_staff() -> Response:
    """Add or update a staff member (manager only)."""
    _manager_only()
    body = parse_body(schemas.StaffIn)
    staff.add_staff(db(), body.code, body.name, body.pin, body.role, body.language, by=g.staff)
    return json_response({"code": body.code}, 201)


# ------------------------------------------------------------------ stock and till
@api.get("/stock")
@documented(query=schemas.StockQuery)
def stock_list() -> Response:
    """Stock by SKU, name or barcode: on hand, reserved, available."""
    query = parse_query(schemas.StockQuery)
    return json_response({"items": [_stock_row(r) for r in db().stock_rows(query.q, query.limit)]})


@api.get("/stock/<code>")
def stock_item(code: str) -> Response:
    """One SKU (by SKU or barcode), with its last movements."""
    sku = db().resolve(code)
    if sku is None:
        raise NotFound(f"no SKU or barcode {code!r}")
    row = db().stock_row(sku)
    moves = [dict(m) for m in db().movements(sku)]
    return json_response({**_stock_row(row), "movements": moves})


def _stock_row(row) -> dict:
    return {
        "sku": row["sku"],
        "name": row["name"],
        "price_cents": row["price_cents"],
        "location": row["location"],
        "on_hand": row["on_hand"],
        "reserved": row["reserved"],
        "available": row["on_hand"] - row["reserved"],
        "barcodes": (row["barcodes"] or "").split(),
    }


@api.post("/sales")
@documented(body=schemas.Sale)
def record_sale() -> Response:
    """Record a till sale (never refused for lack of recorded stock); idempotent by receipt_id."""
    body = parse_body(schemas.Sale)
    lines = [TillLine(ln.code, ln.qty) for ln in body.lines]
    result = till.record_sale(db(), g.staff, lines, body.receipt_id)
    return json_response(result, 200 if result["duplicate"] else 201)


@api.post("/returns")
@documented(body=schemas.Return)
def record_return() -> Response:
    """Record a customer return; damaged items do not go back to sellable stock."""
    body = parse_body(schemas.Return)
    lines = [TillLine(ln.code, ln.qty, ln.condition == "sellable") for ln in body.lines]
    result = till.record_return(db(), g.staff, lines, body.receipt_id)
    return json_response(result, 200 if result["duplicate"] else 201)


@api.post("/receipts")
@documented(body=schemas.Receipt)
def receive_goods() -> Response:
    """Record a goods receipt."""
    body = parse_body(schemas.Receipt)
    lines = [TillLine(ln.code, ln.qty) for ln in body.lines]
    return json_response(till.receive_goods(db(), g.staff, lines, body.reference), 201)


@api.post("/counts")
@documented(body=schemas.Count)
def count_stock() -> Response:
    """Record a stock count of one SKU: sets on hand and records the variance."""
    body = parse_body(schemas.Count)
    return json_response(till.count_stock(db(), g.staff, body.code, body.counted), 201)


@api.post("/adjustments")
@documented(body=schemas.Adjustment)
def adjust_stock() -> Response:
    """Adjust stock for damage, theft or found items."""
    body = parse_body(schemas.Adjustment)
    result = till.adjust_stock(db(), g.staff, body.code, body.delta, body.reason, body.note)
    return json_response(result, 201)


# ------------------------------------------------------------------ assignments
@api.get("/assignments")
@documented(query=schemas.AssignmentQuery)
def list_assignments() -> Response:
    """Assignments, soonest deadline first, with their at-risk flag; filter by status."""
    query = parse_query(schemas.AssignmentQuery)
    statuses = [s for s in query.status.split(",") if s]
    unknown = [s for s in statuses if s not in Status.__members__.values()]
    if unknown:
        raise InvalidInput("status", f"unknown status {', '.join(unknown)}")
    found = db().assignments(statuses)
    items = db().stock_items({sku for a in found for sku in a.skus})
    return json_response({"assignments": [assignment_view(a, items) for a in found]})


@api.get("/assignments/<assignment_id>")
def get_assignment(assignment_id: str) -> Response:
    """One assignment with its lines and progress."""
    found = db().assignment(assignment_id)
    if found is None:
        raise NotFound(f"no assignment {assignment_id!r}")
    return json_response(assignment_view(found, db().stock_items(found.skus)))


@api.post("/assignments/<assignment_id>/accept")
@documented(body=schemas.Accept)
def accept(assignment_id: str) -> Response:
    """Accept, reserving stock; list rejections to accept partly."""
    body = parse_body(schemas.Accept)
    rejected = {r.line_id: r.qty for r in body.rejections}
    return json_response(fulfilment.accept(db(), g.staff, assignment_id, rejected, body.reason, body.note))


@api.post("/assignments/<assignment_id>/reject")
@documented(body=schemas.Reject)
def reject(assignment_id: str) -> Response:
    """Reject the whole assignment with a reason; the hub routes it elsewhere."""
    body = parse_body(schemas.Reject)
    return json_response(fulfilment.reject(db(), g.staff, assignment_id, body.reason, body.note))


@api.post("/assignments/<assignment_id>/scan")
@documented(body=schemas.Scan)
def scan(assignment_id: str) -> Response:
    """Pick one unit by its scanned barcode; a wrong item is refused with what was expected."""
    body = parse_body(schemas.Scan)
    return json_response(fulfilment.pick(db(), g.staff, assignment_id, body.code, 1))


@api.post("/assignments/<assignment_id>/pick")
@documented(body=schemas.Pick)
def pick(assignment_id: str) -> Response:
    """Pick a typed quantity of a SKU or barcode."""
    body = parse_body(schemas.Pick)
    return json_response(fulfilment.pick(db(), g.staff, assignment_id, body.code, body.qty))


@api.post("/assignments/<assignment_id>/complete-pick")
@documented(body=schemas.CompletePick)
def complete_pick(assignment_id: str) -> Response:
    """Close the pick; a short pick needs a reason and hands the missing quantity back."""
    body = parse_body(schemas.CompletePick)
    return json_response(fulfilment.complete_pick(db(), g.staff, assignment_id, body.short_reason))


@api.post("/assignments/<assignment_id>/pack")
@documented(body=schemas.Pack)
def pack(assignment_id: str) -> Response:
    """Pack into parcels with weight, carrier and tracking number."""
    body = parse_body(schemas.Pack)
    parcels = [Parcel(p.weight_grams, p.carrier, p.tracking_number) for p in body.parcels]
    return json_response(fulfilment.pack(db(), g.staff, assignment_id, parcels))


@api.post("/assignments/<assignment_id>/ship")
def ship(assignment_id: str) -> Response:
    """Hand the parcels to the carrier: on hand and reserved drop."""
    return json_response(fulfilment.ship(db(), g.staff, assignment_id))


@api.post("/assignments/<assignment_id>/ready")
def make_ready(assignment_id: str) -> Response:
    """Stage a click-and-collect order for pickup and issue its pickup code."""
    return json_response(fulfilment.make_ready(db(), g.staff, assignment_id))


@api.post("/assignments/<assignment_id>/collect")
@documented(body=schemas.Collect)
def collect(assignment_id: str) -> Response:
    """Hand over against the pickup code (and the ID check where required)."""
    body = parse_body(schemas.Collect)
    return json_response(fulfilment.collect(db(), g.staff, assignment_id, body.pickup_code, body.id_checked))


@api.post("/assignments/expire-due")
def expire_due() -> Response:
    """Expire click-and-collect orders left uncollected past the configured days."""
    return json_response({"expired": fulfilment.expire_due(db(), g.staff)})


# ------------------------------------------------------------------ outbox, feed, audit
@api.get("/outbox")
@documented(query=schemas.OutboxQuery)
def outbox() -> Response:
    """Outbox events of the current epoch after a seq, sent or not."""
    query = parse_query(schemas.OutboxQuery)
    meta = db().meta()
    return json_response(
        {"epoch": meta["epoch"], "events": db().outbox(query.after, query.limit), **db().outbox_health()}
    )


@api.post("/outbox/ack")
@documented(body=schemas.Acknowledge)
def acknowledge() -> Response:
    """Mark events up to a seq as held by the hub (manager only; the sync worker does this)."""
    _manager_only()
    body = parse_body(schemas.Acknowledge)
    return json_response({"acknowledged": feed.acknowledge(db(), body.epoch, body.up_to_seq, staff=g.staff)})


@api.post("/feed")
@documented(body=schemas.FeedIn)
def apply_feed() -> Response:
    """Apply hub feed messages by hand, exactly once each (manager only; for a store without a hub)."""
    _manager_only()
    body = parse_body(schemas.FeedIn)
    return json_response(feed.apply_feed(db(), body.messages, staff=g.staff))


@api.get("/audit")
@documented(query=schemas.AuditQuery)
def audit() -> Response:
    """The audit trail: who did what, newest first (?staff= to filter)."""
    query = parse_query(schemas.AuditQuery)
    rows = db().audit_trail(query.limit, query.staff or None)
    return json_response({"entries": [dict(r) for r in rows]})


# ------------------------------------------------------------------ transfers from other stores
@api.get("/transfers/incoming")
@documented(query=schemas.TransferQuery)
def incoming_transfers() -> Response:
    """Transfers shipped to this store by other stores (?status=in_transit|received)."""
    query = parse_query(schemas.TransferQuery)
    return json_response({"transfers": db().reader().incoming_transfers(query.status or None)})


@api.get("/transfers/incoming/<transfer_id>")
def incoming_transfer(transfer_id: str) -> Response:
    """One incoming transfer with its lines and, once received, what was counted."""
    found = db().reader().incoming_transfer(transfer_id)
    if found is None:
        raise NotFound(f"no transfer {transfer_id!r} on its way to this store")
    return json_response(found)


@api.post("/transfers/incoming/<transfer_id>/receive")
@documented(body=schemas.ReceiveTransfer)
def receive_transfer(transfer_id: str) -> Response:
    """Receive a transfer by count; damaged, missing or extra units need a reason."""
    body = parse_body(schemas.ReceiveTransfer)
    counted = {ln.line_id: Counted(ln.received, ln.damaged) for ln in body.lines}
    return json_response(transfers.receive_transfer(db(), g.staff, transfer_id, counted, body.reason))
