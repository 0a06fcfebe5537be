"""Replenishment alerts: reorder points, their evaluation after each sync, and the webhook that delivers requests.

Evaluation runs *after* a sync exchange has committed (never inside it: the ingest stays one
short transaction) for the SKUs whose levels the exchange carried, and again for every rule
in the hub's jobs process (a sweep that catches up on an evaluation lost to a crash between
the two transactions). It is idempotent: a rule remembers whether it is below its point, so
levels sent twice, or the same levels evaluated twice, raise nothing more (see
``domain.replenishment``). A request is written to an outbox table in the same transaction
that flips the rule's state, so a crossing is never lost nor requested twice.

Delivery is at least once: the jobs process POSTs each due request to the configured ERP /
supplier endpoint as JSON signed with HMAC-SHA256 (``X-Comptoir-Signature: sha256=<hex>``
over the exact body bytes; the body carries ``sent_at``, also in ``X-Comptoir-Timestamp`` as
Unix seconds, so a receiver can refuse replays) and retries with exponential back-off. The
receiver deduplicates on ``request_id`` (also sent as ``Idempotency-Key``). The HTTP call is
made outside any database transaction; a request being delivered is leased for a minute so
that a second jobs process does not send it at the same time.
"""

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import orjson
import requests

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput, NotFound, Refused
from shared.ids import prefixed_id
from shared.wire import EventKind, OutboxEvent

from ..domain.replenishment import (
    DELIVERED,
    FAILED,
    NETWORK,
    PENDING,
    ReorderRule,
    after_failure,
    assess,
)
from ..store import HubDatabase, HubTx
from .analytics import to_csv

log = logging.getLogger("comptoir.hub.replenishment")

WEBHOOK_URL = "replenishment_webhook_url"
WEBHOOK_SECRET = "replenishment_webhook_secret"
SIGNATURE_HEADER = "X-Comptoir-Signature"
TIMESTAMP_HEADER = "X-Comptoir-Timestamp"
LEASE_SECONDS = 60
TIMEOUT_SECONDS = 5.0
MIN_SECRET = 16
MAX_QTY = 1_000_000
#: the CSV export's columns, in order
REQUEST_COLUMNS = (
    "request_id", "store_id", "sku", "product_name", "available", "reorder_point", "order_up_to", "qty",
    "created_at", "status", "attempts", "next_attempt_at", "delivered_at", "last_error",
)  # fmt: skip


# ------------------------------------------------------------------ reorder points
def set_reorder_point(
    db: HubDatabase,
    actor: str,
    store_id: str,
    sku: str,
    reorder_point: int,
    order_qty: int,
    now: datetime | None = None,
) -> dict:
    """Add or change a reorder point (``store_id`` '*': the SKU summed over the network); audited.

    The rule is evaluated at once: a point set above what is available now raises its request.
    """
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        problems = []
        if store_id != NETWORK and tx.store(store_id) is None:
            problems.append(("store_id", f"unknown store {store_id!r}"))
        if not tx.known_skus([sku]):
            problems.append(("sku", f"unknown SKU {sku!r}"))
        if not 0 <= reorder_point <= MAX_QTY:
            problems.append(("reorder_point", f"between 0 and {MAX_QTY}"))
        if not 0 <= order_qty <= MAX_QTY:
            problems.append(("order_qty", f"between 0 and {MAX_QTY}"))
        if problems:
            raise InvalidInput(*problems[0], *problems[1:])
        before = tx.reorder_point(store_id, sku)
        tx.set_reorder_point(store_id, sku, reorder_point, order_qty, at)
        tx.add_audit(
            at,
            actor,
            "reorder_point.set",
            f"{store_id}/{sku}",
            {
                "store_id": store_id,
                "sku": sku,
                "before": {"reorder_point": before["reorder_point"], "order_qty": before["order_qty"]}
                if before
                else None,
                "after": {"reorder_point": reorder_point, "order_qty": order_qty},
            },
        )
        _evaluate(tx, [tx.reorder_point(store_id, sku)], at)
        return _rule_view(tx.reorder_point(store_id, sku))


def delete_reorder_point(db: HubDatabase, actor: str, store_id: str, sku: str, now: datetime | None = None) -> None:
    """Stop watching a SKU (requests already made stay in the outbox); audited."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        before = tx.reorder_point(store_id, sku)
        if before is None:
            raise NotFound(f"no reorder point for {store_id}/{sku}")
        tx.delete_reorder_point(store_id, sku)
        detail = {"store_id": store_id, "sku": sku, "before": {"reorder_point": before["reorder_point"],
                                                               "order_qty": before["order_qty"]}}  # fmt: skip
        tx.add_audit(at, actor, "reorder_point.deleted", f"{store_id}/{sku}", detail)


def reorder_points(db: HubDatabase) -> list[dict]:
    """Every rule, its state and the available stock it watches now."""
    return [_rule_view(row) for row in db.reader().reorder_points()]


def _rule_view(row) -> dict:
    return {
        "store_id": row["store_id"],
        "sku": row["sku"],
        "reorder_point": row["reorder_point"],
        "order_qty": row["order_qty"],
        "order_up_to": row["reorder_point"] + row["order_qty"],
        "available": row["available"],
        "below": bool(row["below"]),
        "evaluated_at": row["evaluated_at"],
        "updated_at": row["updated_at"],
    }


# ------------------------------------------------------------------ evaluation
def evaluate(db: HubDatabase, store_id: str, skus: Iterable[str], now: datetime | None = None) -> list[dict]:
    """Evaluate the rules a change of ``store_id``'s levels of ``skus`` may cross; answers the new requests."""
    skus = set(skus)
    reader = db.reader()
    if not skus or not reader.has_reorder_points() or not reader.reorder_points_touched(store_id, skus):
        return []  # the common case costs two reads and no write transaction
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        return _evaluate(tx, tx.reorder_points_touched(store_id, skus), at)


def evaluate_all(db: HubDatabase, now: datetime | None = None) -> list[dict]:
    """Evaluate every rule (the jobs' sweep); answers the new requests."""
    if not db.reader().has_reorder_points():
        return []
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        return _evaluate(tx, tx.reorder_points(), at)


def after_sync(db: HubDatabase, store_id: str, events: Iterable[OutboxEvent], now: datetime | None = None) -> list:
    """Evaluate what a committed sync exchange may have crossed. Never raises: the store's sync must not
    fail on it, and the jobs' sweep evaluates every rule again shortly."""
    try:
        events = list(events)
        skus = {level.sku for event in events for level in event.levels}
        if any(event.kind is EventKind.STOCK_SNAPSHOT for event in events):
            # a snapshot also drops the levels it does not list: re-evaluate every rule of the store
            skus |= {row["sku"] for row in db.reader().reorder_points() if row["store_id"] in (store_id, NETWORK)}
        return evaluate(db, store_id, skus, now)
    except Exception:  # noqa: BLE001 - logged; the sweep catches up
        log.exception("replenishment evaluation after the sync of %s failed", store_id)
        return []


def _evaluate(tx: HubTx, rows: Iterable, at: str) -> list[dict]:
    created = []
    for row in rows:
        if row is None or row["available"] is None:
            continue  # no store reported the SKU yet: unknown, not zero
        rule = ReorderRule(row["store_id"], row["sku"], row["reorder_point"], row["order_qty"])
        was_below = bool(row["below"])
        verdict = assess(rule, was_below, row["available"])
        if verdict.below != was_below or row["last_available"] != row["available"]:
            tx.set_reorder_state(rule.store_id, rule.sku, verdict.below, row["available"], at)
        if verdict.request:
            request = {
                "request_id": prefixed_id("RPL"),
                "store_id": rule.store_id,
                "sku": rule.sku,
                "available": row["available"],
                "reorder_point": rule.reorder_point,
                "order_up_to": rule.order_up_to,
                "qty": verdict.qty,
                "created_at": at,
            }
            request["id"] = tx.insert_replenishment_request(request)
            created.append(request)
    return created


# ------------------------------------------------------------------ the outbox
def requests_list(db: HubDatabase, status: str | None = None, limit: int = 200) -> list[dict]:
    """Requests, newest first."""
    return [_request_view(row) for row in db.reader().replenishment_requests(status, limit)]


def requests_csv(db: HubDatabase, status: str | None = None, limit: int = 100_000) -> str:
    """Requests as CSV, newest first, columns :data:`REQUEST_COLUMNS`."""
    return to_csv(REQUEST_COLUMNS, requests_list(db, status, limit))


def _request_view(row) -> dict:
    return {
        "id": row["id"],
        "request_id": row["request_id"],
        "store_id": row["store_id"],
        "scope": "network" if row["store_id"] == NETWORK else "store",
        "sku": row["sku"],
        "product_name": row["product_name"] or "",
        "available": row["available"],
        "reorder_point": row["reorder_point"],
        "order_up_to": row["order_up_to"],
        "qty": row["qty"],
        "created_at": row["created_at"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == PENDING else None,
        "delivered_at": row["delivered_at"],
        "last_error": row["last_error"],
    }


def overview(db: HubDatabase) -> dict:
    """The console's replenishment page: rules, requests, counts by status, the webhook's state."""
    r = db.reader()
    url = r.setting(WEBHOOK_URL) or ""
    return {
        "rules": reorder_points(db),
        "requests": requests_list(db, limit=200),
        "counts": {status: r.replenishment_counts().get(status, 0) for status in (PENDING, DELIVERED, FAILED)},
        "webhook": {"url": url, "secret_set": bool(r.setting(WEBHOOK_SECRET))},
    }


def configure_webhook(db: HubDatabase, actor: str, url: str, secret: str | None, now: datetime | None = None) -> None:
    """Set the endpoint requests are POSTed to, and the HMAC secret (kept when ``secret`` is None); audited
    without the secret."""
    problems = []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(("url", "an http:// or https:// address"))
    if secret is not None and len(secret) < MIN_SECRET:
        problems.append(("secret", f"at least {MIN_SECRET} characters"))
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        if secret is None and not tx.setting(WEBHOOK_SECRET):
            problems.append(("secret", "required: no secret is set yet"))
        if problems:
            raise InvalidInput(*problems[0], *problems[1:])
        before = tx.setting(WEBHOOK_URL)
        tx.set_setting(WEBHOOK_URL, url)
        if secret is not None:
            tx.set_setting(WEBHOOK_SECRET, secret)
        detail = {"before": before, "after": url, "secret_changed": secret is not None}
        tx.add_audit(at, actor, "replenishment.webhook", WEBHOOK_URL, detail)


def retry(db: HubDatabase, actor: str, request_id: int, now: datetime | None = None) -> dict:
    """Send a failed request again from the next run of the jobs, with a fresh count of attempts; audited."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        row = tx.replenishment_request(request_id)
        if row is None:
            raise NotFound(f"no replenishment request {request_id}")
        if row["status"] != FAILED:
            raise Refused(f"the request is {row['status']}: only a failed request is sent again")
        tx.set_replenishment_request(request_id, status=PENDING, attempts=0, next_attempt_at=at)
        tx.add_audit(at, actor, "replenishment.retry", row["request_id"], {"attempts_before": row["attempts"]})
    return _request_view(db.reader().replenishment_request(request_id))


# ------------------------------------------------------------------ delivery
def payload(row, sent_at: datetime, attempt: int) -> dict:
    """The JSON a request is delivered as."""
    network = row["store_id"] == NETWORK
    return {
        "type": "replenishment.requested",
        "request_id": row["request_id"],
        "scope": "network" if network else "store",
        "store_id": None if network else row["store_id"],
        "sku": row["sku"],
        "product_name": row["product_name"] or "",
        "available": row["available"],
        "reorder_point": row["reorder_point"],
        "order_up_to": row["order_up_to"],
        "suggested_qty": row["qty"],
        "created_at": row["created_at"],
        "sent_at": to_iso(sent_at),
        "attempt": attempt,
    }


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of the body, in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_request(row, secret: str, sent_at: datetime, attempt: int) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(payload(row, sent_at, attempt), option=orjson.OPT_SORT_KEYS)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "comptoir-hub",
        SIGNATURE_HEADER: sign(secret, body),
        TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
        "Idempotency-Key": row["request_id"],
    }
    return body, headers


def deliver_due(
    db: HubDatabase,
    now: datetime | None = None,
    limit: int = 20,
    timeout: float = TIMEOUT_SECONDS,
) -> dict:
    """POST every request due now to the webhook; answers counts of what happened.

    A 2xx answer delivers the request; anything else (HTTP error, timeout, refused connection)
    schedules the next attempt with back-off, and after the last attempt marks it failed.
    When the endpoint cannot be reached at all, the rest wait for the next run.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utc_now
    moment = clock()
    at = to_iso(moment)
    reader = db.reader()
    url, secret = reader.setting(WEBHOOK_URL), reader.setting(WEBHOOK_SECRET)
    outcome = {"delivered": 0, "retrying": 0, "failed": 0, "not_configured": not (url and secret)}
    if not (url and secret):
        return outcome  # nothing is attempted, so nothing is used up: requests wait for the configuration
    with db.transaction() as tx:
        due = tx.due_replenishment_requests(at, limit)
        lease = to_iso(moment + timedelta(seconds=LEASE_SECONDS))
        for row in due:
            tx.set_replenishment_request(row["id"], next_attempt_at=lease)
    for index, row in enumerate(due):
        attempt = row["attempts"] + 1
        body, headers = signed_request(row, secret, clock(), attempt)
        error, unreachable = "", False
        try:
            answer = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}: {answer.text[:200]}".strip()
        except requests.RequestException as exc:
            error, unreachable = f"{type(exc).__name__}: {str(exc)[:200]}", True
        finished = clock()
        with db.transaction() as tx:
            if not error:
                tx.set_replenishment_request(
                    row["id"], status=DELIVERED, attempts=attempt, delivered_at=to_iso(finished), last_error=""
                )
                outcome["delivered"] += 1
            else:
                status, wait = after_failure(attempt)
                tx.set_replenishment_request(
                    row["id"],
                    status=status,
                    attempts=attempt,
                    last_error=error,
                    next_attempt_at=to_iso(finished + timedelta(seconds=wait)),
                )
                outcome["failed" if status == FAILED else "retrying"] += 1
                log.warning("replenishment request %s, attempt %d: %s", row["request_id"], attempt, error)
            if unreachable:
                for rest in due[index + 1 :]:  # release the leases: not attempted, nothing used up
                    tx.set_replenishment_request(rest["id"], next_attempt_at=rest["next_attempt_at"])
        if unreachable:
            break
    return outcome


def run(db: HubDatabase, now: datetime | None = None) -> dict:
    """The jobs' step: evaluate every rule (catch-up), then deliver what is due."""
    created = evaluate_all(db, now)
    outcome = deliver_due(db, now)
    return {"created": len(created), **outcome}
