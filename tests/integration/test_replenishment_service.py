"""Replenishment on a real hub database: crossings evaluated from levels that arrive by sync, one request
per crossing however often levels are re-sent or evaluated again, delivery to a real local HTTP server
that checks the HMAC signature, retries with back-off driven by the ``now`` passed in, CSV export."""

import csv
import hashlib
import hmac
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from central_sync.domain.replenishment import MAX_ATTEMPTS
from central_sync.entrypoints.app import create_app
from central_sync.services import catalogue, replenishment, stores, sync
from central_sync.store import HubDatabase
from shared.clock import to_iso
from shared.errors import InvalidInput, Refused
from shared.wire import CatalogueItem, EventKind, OutboxEvent, StockLevel, SyncRequest

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SECRET = "a-shared-secret-of-32-characters"
HEAD_OFFICE_KEY = "ho-key-for-tests"
STORES = {"PAR-01": (48.8566, 2.3522), "LYO-01": (45.764, 4.8357)}


class Hub:
    """A hub database with two stores and two products; stock arrives through sync exchanges."""

    def __init__(self, db: HubDatabase):
        self.db = db
        self.seq = dict.fromkeys(STORES, 0)
        for store_id, (lat, lon) in STORES.items():
            stores.register_store(db, store_id, f"Comptoir {store_id}", lat, lon, secret="s3cret-" + store_id)
        catalogue.import_catalogue(
            db,
            [CatalogueItem(sku="TENT-2", name="Tente 2 places", price_cents=7999),
             CatalogueItem(sku="LAMP", name="Lampe frontale", price_cents=2499)],
        )  # fmt: skip

    def request(self, store_id: str, levels: dict[str, tuple[int, int]], kind=EventKind.STOCK_COUNTED) -> SyncRequest:
        self.seq[store_id] += 1
        event = OutboxEvent(
            seq=self.seq[store_id],
            kind=kind,
            at=to_iso(T0),
            staff="M001",
            payload={},
            levels=[StockLevel(sku=sku, on_hand=on_hand, reserved=reserved)
                    for sku, (on_hand, reserved) in levels.items()],
        )  # fmt: skip
        return SyncRequest(store_id=store_id, epoch="epoch-" + store_id, feed_cursor=0, events=[event])

    def sync(self, store_id: str, levels: dict[str, tuple[int, int]], now: datetime = T0, request=None) -> list:
        """One exchange, then the evaluation the sync endpoint runs after it commits."""
        request = request or self.request(store_id, levels)
        sync.exchange(self.db, store_id, request, now)
        return replenishment.after_sync(self.db, store_id, request.events, now)

    def requests(self) -> list[dict]:
        return list(reversed(replenishment.requests_list(self.db)))


@pytest.fixture
def hub(tmp_path) -> Iterator[Hub]:
    db = HubDatabase(tmp_path / "hub.sqlite")
    yield Hub(db)
    db.close()


# ------------------------------------------------------------------ a real webhook receiver
class Receiver:
    """An ERP stand-in on 127.0.0.1: checks every signature, answers the statuses it is given in turn."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's interface
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                sent = self.headers.get("X-Comptoir-Signature", "")
                if not hmac.compare_digest(sent, expected):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"ERP is down")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/replenishment"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver_factory() -> Iterator:
    started: list[Receiver] = []

    def start(statuses: list[int] = ()) -> Receiver:
        receiver = Receiver(list(statuses))
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


# ------------------------------------------------------------------ crossings from synced levels
def test_a_store_rule_raises_one_request_when_its_levels_cross_below_the_point(hub):
    hub.sync("PAR-01", {"TENT-2": (12, 0), "LAMP": (3, 0)})
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "TENT-2", 5, 20, now=T0)
    assert hub.requests() == []  # 12 available: above the point
    hub.sync("PAR-01", {"TENT-2": (6, 2)})  # 4 available: below
    [request] = hub.requests()
    assert (request["store_id"], request["sku"], request["available"], request["reorder_point"]) == (
        "PAR-01", "TENT-2", 4, 5)  # fmt: skip
    assert (request["order_up_to"], request["qty"], request["status"]) == (25, 21, "pending")
    assert request["product_name"] == "Tente 2 places"
    # another store's levels do not touch a Paris rule
    hub.sync("LYO-01", {"TENT-2": (0, 0)})
    assert len(hub.requests()) == 1


def test_the_same_levels_re_sent_or_evaluated_again_raise_nothing_more(hub):
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "LAMP", 5, 10, now=T0)
    request = hub.request("PAR-01", {"LAMP": (2, 0)})
    sync.exchange(hub.db, "PAR-01", request, T0)
    assert len(replenishment.after_sync(hub.db, "PAR-01", request.events, T0)) == 1
    # the store resends the same batch (its answer was lost): acknowledged, ignored, evaluated again
    sync.exchange(hub.db, "PAR-01", request, T0)
    assert replenishment.after_sync(hub.db, "PAR-01", request.events, T0) == []
    assert replenishment.evaluate(hub.db, "PAR-01", ["LAMP"], T0) == []
    assert replenishment.evaluate_all(hub.db, T0) == []
    # a later level still below: no new request
    hub.sync("PAR-01", {"LAMP": (4, 1)})
    assert len(hub.requests()) == 1
    # back at the point re-arms; below again is a new crossing
    hub.sync("PAR-01", {"LAMP": (5, 0)})
    assert len(hub.requests()) == 1
    rule = next(r for r in replenishment.reorder_points(hub.db) if r["sku"] == "LAMP")
    assert (rule["below"], rule["available"]) == (False, 5)
    hub.sync("PAR-01", {"LAMP": (1, 0)})
    assert [r["available"] for r in hub.requests()] == [2, 1]


def test_a_batch_is_evaluated_on_the_levels_it_leaves_not_on_those_in_between(hub):
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "LAMP", 5, 10, now=T0)

    def batch(*values: int) -> SyncRequest:
        events = [hub.request("PAR-01", {"LAMP": (v, 0)}).events[0] for v in values]
        return SyncRequest(store_id="PAR-01", epoch="epoch-PAR-01", feed_cursor=0, events=events)

    dip = batch(2, 9)  # below, then restocked before the hub heard of it: nothing to ask for
    sync.exchange(hub.db, "PAR-01", dip, T0)
    assert replenishment.after_sync(hub.db, "PAR-01", dip.events, T0) == []
    fall = batch(9, 1)
    sync.exchange(hub.db, "PAR-01", fall, T0)
    [request] = replenishment.after_sync(hub.db, "PAR-01", fall.events, T0)
    assert request["available"] == 1


def test_a_network_wide_rule_watches_the_sum_over_stores(hub):
    replenishment.set_reorder_point(hub.db, "test", "*", "TENT-2", 10, 30, now=T0)
    hub.sync("PAR-01", {"TENT-2": (6, 0)})  # network: 6 -> below at once
    [first] = hub.requests()
    assert (first["store_id"], first["scope"], first["available"], first["qty"]) == ("*", "network", 6, 34)
    hub.sync("LYO-01", {"TENT-2": (8, 1)})  # network: 13 -> re-armed, no request
    assert len(hub.requests()) == 1
    hub.sync("PAR-01", {"TENT-2": (2, 0)})  # network: 9 -> a second crossing
    assert [(r["available"], r["qty"]) for r in hub.requests()] == [(6, 34), (9, 31)]


def test_a_rule_is_not_evaluated_before_any_store_reported_the_sku(hub):
    replenishment.set_reorder_point(hub.db, "test", "LYO-01", "LAMP", 5, 10, now=T0)
    replenishment.set_reorder_point(hub.db, "test", "*", "LAMP", 5, 10, now=T0)
    assert hub.requests() == []
    assert all(r["available"] is None for r in replenishment.reorder_points(hub.db))


def test_a_snapshot_re_evaluates_the_stores_rules_even_for_levels_it_drops(hub):
    hub.sync("PAR-01", {"LAMP": (9, 0), "TENT-2": (9, 0)})
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "LAMP", 5, 10, now=T0)
    snapshot = hub.request("PAR-01", {"TENT-2": (9, 0), "LAMP": (2, 0)}, kind=EventKind.STOCK_SNAPSHOT)
    sync.exchange(hub.db, "PAR-01", snapshot, T0)
    assert [r["sku"] for r in replenishment.after_sync(hub.db, "PAR-01", snapshot.events, T0)] == ["LAMP"]


def test_setting_a_rule_refuses_unknown_store_and_sku_naming_both_and_is_audited(hub):
    with pytest.raises(InvalidInput) as refused:
        replenishment.set_reorder_point(hub.db, "test", "NOPE", "NOPE", -1, 5, now=T0)
    assert [f for f, _ in refused.value.fields] == ["store_id", "sku", "reorder_point"]
    assert replenishment.reorder_points(hub.db) == []
    replenishment.set_reorder_point(hub.db, "anne", "*", "LAMP", 3, 7, now=T0)
    [entry] = [a for a in hub.db.reader().audit_trail() if a["action"] == "reorder_point.set"]
    assert entry["actor"] == "anne" and entry["detail"]["after"] == {"reorder_point": 3, "order_qty": 7}


def test_sync_endpoint_evaluates_after_its_commit(tmp_path):
    app = create_app(tmp_path / "hub.sqlite")
    try:
        hub = Hub(app.extensions["hub_db"])
        stores.add_api_key(hub.db, "head office", "head_office", key=HEAD_OFFICE_KEY)
        client = app.test_client()
        auth = {"Authorization": f"Bearer {HEAD_OFFICE_KEY}"}
        answer = client.put("/api/reorder-points", json={"store_id": "PAR-01", "sku": "LAMP", "reorder_point": 4,
                                                          "order_qty": 6}, headers=auth)  # fmt: skip
        assert answer.status_code == 200 and answer.get_json()["order_up_to"] == 10
        body = hub.request("PAR-01", {"LAMP": (3, 1)}).model_dump_json()
        store_auth = {"Authorization": "Bearer s3cret-PAR-01", "Content-Type": "application/json"}
        for _ in range(2):  # the same batch twice
            assert client.post("/api/sync", data=body, headers=store_auth).status_code == 200
        [request] = client.get("/api/replenishment/requests", headers=auth).get_json()["requests"]
        assert (request["available"], request["qty"], request["status"]) == (2, 8, "pending")
        bad = client.post("/api/reorder-points", json={"sku": "LAMP", "reorder_point": -1}, headers=auth)
        assert bad.status_code == 400
        assert {f["field"] for f in bad.get_json()["fields"]} == {"reorder_point", "order_qty"}
        assert client.get("/api/reorder-points").status_code == 401
        assert "/api/reorder-points" in client.get("/api/openapi.json").get_json()["paths"]
    finally:
        app.extensions["hub_db"].close()


# ------------------------------------------------------------------ delivery
def _one_request(hub: Hub) -> dict:
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "TENT-2", 5, 20, now=T0)
    hub.sync("PAR-01", {"TENT-2": (3, 0)})
    [request] = hub.requests()
    return request


def test_delivery_posts_signed_json_to_the_webhook(hub, receiver_factory):
    receiver = receiver_factory()
    request = _one_request(hub)
    replenishment.configure_webhook(hub.db, "test", receiver.url, SECRET, now=T0)
    outcome = replenishment.deliver_due(hub.db, now=T0)
    assert outcome["delivered"] == 1 and receiver.bad_signatures == 0
    [body] = receiver.received
    assert body["request_id"] == request["request_id"] and body["type"] == "replenishment.requested"
    assert (body["scope"], body["store_id"], body["sku"], body["available"]) == ("store", "PAR-01", "TENT-2", 3)
    assert (body["reorder_point"], body["order_up_to"], body["suggested_qty"], body["attempt"]) == (5, 25, 22, 1)
    assert body["sent_at"] == to_iso(T0)
    headers = receiver.headers[0]
    assert headers["X-Comptoir-Timestamp"] == str(int(T0.timestamp()))
    assert headers["Idempotency-Key"] == request["request_id"]
    [after] = hub.requests()
    assert (after["status"], after["attempts"], after["delivered_at"], after["last_error"]) == (
        "delivered", 1, to_iso(T0), "")  # fmt: skip
    assert replenishment.deliver_due(hub.db, now=T0 + timedelta(hours=1))["delivered"] == 0  # sent once


def test_a_failing_endpoint_is_retried_with_backoff_then_succeeds(hub, receiver_factory):
    receiver = receiver_factory([500, 503])
    _one_request(hub)
    replenishment.configure_webhook(hub.db, "test", receiver.url, SECRET, now=T0)

    assert replenishment.deliver_due(hub.db, now=T0)["retrying"] == 1
    [r] = hub.requests()
    assert (r["status"], r["attempts"], r["next_attempt_at"]) == ("pending", 1, to_iso(T0 + timedelta(seconds=5)))
    assert r["last_error"].startswith("HTTP 500")

    assert replenishment.deliver_due(hub.db, now=T0 + timedelta(seconds=4))["retrying"] == 0  # not due yet
    assert len(receiver.received) == 1

    t2 = T0 + timedelta(seconds=5)
    assert replenishment.deliver_due(hub.db, now=t2)["retrying"] == 1
    [r] = hub.requests()
    assert (r["attempts"], r["next_attempt_at"]) == (2, to_iso(t2 + timedelta(seconds=10)))  # doubled

    t3 = t2 + timedelta(seconds=10)
    assert replenishment.deliver_due(hub.db, now=t3)["delivered"] == 1
    [r] = hub.requests()
    assert (r["status"], r["attempts"], r["delivered_at"], r["last_error"]) == ("delivered", 3, to_iso(t3), "")
    assert [b["attempt"] for b in receiver.received] == [1, 2, 3]
    assert len({b["request_id"] for b in receiver.received}) == 1  # one request, delivered at least once


def test_after_the_last_attempt_a_request_is_failed_until_sent_again(hub, receiver_factory):
    receiver = receiver_factory([500] * MAX_ATTEMPTS)
    _one_request(hub)
    replenishment.configure_webhook(hub.db, "test", receiver.url, SECRET, now=T0)
    moment = T0
    for _ in range(MAX_ATTEMPTS):
        replenishment.deliver_due(hub.db, now=moment)
        moment += timedelta(hours=1)  # past any back-off
    [r] = hub.requests()
    assert (r["status"], r["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert replenishment.deliver_due(hub.db, now=moment)["delivered"] == 0  # failed: left alone
    replenishment.retry(hub.db, "anne", r["id"], now=moment)
    with pytest.raises(Refused):
        replenishment.retry(hub.db, "anne", r["id"], now=moment)  # pending again, not failed
    assert replenishment.deliver_due(hub.db, now=moment)["delivered"] == 1
    assert hub.requests()[0]["status"] == "delivered"


def test_an_unreachable_endpoint_is_retried_and_the_rest_wait_without_using_attempts(hub, receiver_factory):
    receiver = receiver_factory()
    url = receiver.url
    receiver.stop()  # nothing listens there any more: connection refused
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "TENT-2", 5, 20, now=T0)
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "LAMP", 5, 20, now=T0)
    hub.sync("PAR-01", {"TENT-2": (3, 0), "LAMP": (1, 0)})
    replenishment.configure_webhook(hub.db, "test", url, SECRET, now=T0)
    outcome = replenishment.deliver_due(hub.db, now=T0, timeout=2)
    assert outcome["retrying"] == 1
    first, second = hub.requests()
    assert (first["attempts"], first["last_error"].split(":")[0]) == (1, "ConnectionError")
    assert (second["attempts"], second["next_attempt_at"]) == (0, to_iso(T0))  # lease released


def test_nothing_is_attempted_before_the_webhook_is_configured(hub):
    _one_request(hub)
    assert replenishment.deliver_due(hub.db, now=T0)["not_configured"] is True
    assert hub.requests()[0]["attempts"] == 0
    with pytest.raises(InvalidInput) as refused:
        replenishment.configure_webhook(hub.db, "test", "ftp://erp", "short", now=T0)
    assert [f for f, _ in refused.value.fields] == ["url", "secret"]


def test_a_wrong_secret_is_refused_by_the_receiver(hub, receiver_factory):
    receiver = receiver_factory()
    _one_request(hub)
    replenishment.configure_webhook(hub.db, "test", receiver.url, "not-the-shared-secret-at-all", now=T0)
    assert replenishment.deliver_due(hub.db, now=T0)["retrying"] == 1
    assert receiver.bad_signatures == 1 and hub.requests()[0]["last_error"].startswith("HTTP 401")


# ------------------------------------------------------------------ export
def test_csv_export_has_the_documented_columns_and_one_row_per_request(hub):
    _one_request(hub)
    replenishment.set_reorder_point(hub.db, "test", "*", "LAMP", 5, 5, now=T0)
    hub.sync("LYO-01", {"LAMP": (2, 0)})
    rows = list(csv.reader(io.StringIO(replenishment.requests_csv(hub.db))))
    assert tuple(rows[0]) == replenishment.REQUEST_COLUMNS
    assert rows[0][:8] == ["request_id", "store_id", "sku", "product_name", "available", "reorder_point",
                           "order_up_to", "qty"]  # fmt: skip
    data = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(d["store_id"], d["sku"], d["available"], d["qty"], d["status"]) for d in data] == [
        ("*", "LAMP", "2", "8", "pending"), ("PAR-01", "TENT-2", "3", "22", "pending")]  # fmt: skip


def test_csv_export_through_the_api_and_the_console(tmp_path):
    app = create_app(tmp_path / "hub.sqlite")
    try:
        hub = Hub(app.extensions["hub_db"])
        stores.add_api_key(hub.db, "head office", "head_office", key=HEAD_OFFICE_KEY)
        _one_request(hub)
        answer = app.test_client().get("/api/replenishment/requests.csv",
                                       headers={"Authorization": f"Bearer {HEAD_OFFICE_KEY}"})  # fmt: skip
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
        assert [(r["sku"], r["qty"]) for r in rows] == [("TENT-2", "22")]
    finally:
        app.extensions["hub_db"].close()


def test_the_jobs_step_catches_up_on_a_missed_evaluation_and_delivers(hub, receiver_factory):
    receiver = receiver_factory()
    replenishment.set_reorder_point(hub.db, "test", "PAR-01", "TENT-2", 5, 20, now=T0)
    replenishment.configure_webhook(hub.db, "test", receiver.url, SECRET, now=T0)
    # the hub crashed between the sync's commit and its evaluation: the levels are there, no request
    sync.exchange(hub.db, "PAR-01", hub.request("PAR-01", {"TENT-2": (2, 0)}), T0)
    assert hub.requests() == []
    assert replenishment.run(hub.db, now=T0) == {
        "created": 1, "delivered": 1, "retrying": 0, "failed": 0, "not_configured": False}  # fmt: skip
    assert replenishment.run(hub.db, now=T0 + timedelta(seconds=5))["created"] == 0
    assert [b["available"] for b in receiver.received] == [2]
