"""Analytics on a hand-built history whose answers were worked out by hand.

Two stores (PAR-01, LYO-01). Orders are placed and routed through the services and every store
action arrives by sync exchange, with the store's clock (event ``at``) and the hub's (``now``) set
explicitly, so the timeline has exactly the shape production gives it. Times are minutes after T0.

- O1 ship, 2 tents, at 0: PAR accepts at 10, ships at 70.
- O2 ship, 1 lamp, at 60: PAR rejects it (out_of_stock) at 65; re-routed to LYO at 65, which
  accepts at 85 and ships at 165.
- O3 click and collect at LYO, 1 lamp, at 120: LYO accepts at 135 by its clock, but the hub only hears
  it at 165 (deadline 150: late); ready at 160; the customer says "I'm here" at 180; handed over at 186.
- O4 ship, 1 tent, at 180: PAR never answers; expired at 211 and re-routed to LYO, which accepts at 220
  and is still working on it.
- O5 ship, 3 tents, at 240: PAR accepts at 245, short-picks 1 at 260 (re-routed to LYO), ships 2 at 290;
  LYO rejects its 1 (damaged) at 270: backordered.
- O0, 6 days before T0, outside the 7-day period (and a count then): ignored.
- Counts: PAR variances 0, 0, -2; LYO 0, +3.
"""

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central_sync.entrypoints.app import create_app
from central_sync.services import analytics, catalogue, console_users, head_office, orders, routing, stores, sync
from central_sync.store import HubDatabase
from shared.clock import to_iso, utc_now
from shared.wire import CatalogueItem, EventKind, OutboxEvent, StockLevel, SyncRequest

T0 = (utc_now() - timedelta(days=2)).replace(second=0, microsecond=0)
NOW = T0 + timedelta(days=2)
PARIS = (48.85, 2.35)
USER, PASSWORD = "anne.martin", "correct horse battery"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str):
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    return client.post("/console/login", data={"csrf_token": token, "username": username, "password": password})


def set_language(client: FlaskClient, language: str, page: str) -> None:
    token = csrf_of(client.get(page).get_data(as_text=True))
    assert client.post("/language", data={"csrf_token": token, "language": language, "next": page}).status_code == 303


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class History:
    def __init__(self, db: HubDatabase):
        self.db = db
        self.seq = {"PAR-01": 0, "LYO-01": 0}
        stores.register_store(db, "PAR-01", "Comptoir Paris", 48.8566, 2.3522, secret="s-PAR")
        stores.register_store(db, "LYO-01", "Comptoir Lyon", 45.764, 4.8357, secret="s-LYO")
        catalogue.import_catalogue(db, [CatalogueItem(sku="TENT-2", name="Tente", price_cents=7999),
                                        CatalogueItem(sku="LAMP", name="Lampe", price_cents=2499)])  # fmt: skip
        # every store counts as fresh for routing whatever the test's clock
        head_office.change_setting(db, "test", "fresh_seconds", 1_000_000)
        console_users.add_user(db, USER, "Anne Martin", PASSWORD)
        start = T0 - timedelta(days=7)
        self.send("PAR-01", start, start, EventKind.STOCK_SNAPSHOT, levels={"TENT-2": 10, "LAMP": 5})
        self.send("LYO-01", start, start, EventKind.STOCK_SNAPSHOT, levels={"TENT-2": 10, "LAMP": 10})

    def send(self, store_id: str, store_at: datetime, hub_now: datetime, kind: EventKind, payload=None,
             levels: dict | None = None) -> None:  # fmt: skip
        self.seq[store_id] += 1
        event = OutboxEvent(
            seq=self.seq[store_id], kind=kind, at=to_iso(store_at), staff="M001", payload=payload or {},
            levels=[StockLevel(sku=sku, on_hand=qty, reserved=0) for sku, qty in (levels or {}).items()],
        )  # fmt: skip
        request = SyncRequest(store_id=store_id, epoch="epoch-" + store_id, feed_cursor=0, events=[event])
        sync.exchange(self.db, store_id, request, hub_now)

    def order(self, ref: str, when: datetime, lines: dict[str, int], pickup: str | None = None) -> str:
        new = orders.NewOrder(
            channel="web", channel_order_id=ref, kind="click_and_collect" if pickup else "ship_from_store",
            lines=list(lines.items()), customer={"name": "Léa"}, pickup_store_id=pickup,
            lat=None if pickup else PARIS[0], lon=None if pickup else PARIS[1],
        )  # fmt: skip
        order_id, _ = orders.place_order(self.db, new, when)
        routing.route_pending(self.db, now=when)
        return order_id

    def assignment(self, order_id: str, store_id: str) -> dict:
        found = [a for a in orders.order_view(self.db, order_id)["assignments"] if a["store_id"] == store_id]
        return found[-1]

    def progress(self, order_id: str, store_id: str, status: str, store_at: datetime, hub_now=None, **detail):
        a = self.assignment(order_id, store_id)
        kind = EventKind.ASSIGNMENT_ACCEPTED if status == "accepted" else EventKind.ASSIGNMENT_PROGRESSED
        payload = {"assignment_id": a["assignment_id"], "status": status, "detail": detail}
        self.send(store_id, store_at, hub_now or store_at, kind, payload)

    def reject(self, order_id: str, store_id: str, reason: str, when: datetime, qty: int | None = None) -> None:
        a = self.assignment(order_id, store_id)
        line = a["lines"][0]
        self.send(store_id, when, when, EventKind.ASSIGNMENT_REJECTED, {
            "assignment_id": a["assignment_id"], "reason": reason, "note": "",
            "lines": [{"line_id": line["line_id"], "sku": line["sku"], "qty": qty or line["qty"]}],
            "whole": qty is None,
        })  # fmt: skip
        routing.route_pending(self.db, now=when)

    def count(self, store_id: str, sku: str, variance: int, when: datetime) -> None:
        payload = {"sku": sku, "counted": 5 + variance, "recorded": 5, "variance": variance}
        self.send(store_id, when, when, EventKind.STOCK_COUNTED, payload, levels={sku: 5 + variance})


def build(db: HubDatabase) -> History:
    h = History(db)
    # outside the period: an order shipped six days before T0, and a count then
    o0 = h.order("O0", T0 - timedelta(days=6), {"TENT-2": 1})
    h.progress(o0, "PAR-01", "accepted", T0 - timedelta(days=6) + timedelta(minutes=1))
    h.progress(o0, "PAR-01", "shipped", T0 - timedelta(days=6) + timedelta(minutes=2))
    h.count("PAR-01", "LAMP", 5, T0 - timedelta(days=6))

    o1 = h.order("O1", at(0), {"TENT-2": 2})
    h.progress(o1, "PAR-01", "accepted", at(10))
    h.progress(o1, "PAR-01", "shipped", at(70))

    o2 = h.order("O2", at(60), {"LAMP": 1})
    h.reject(o2, "PAR-01", "out_of_stock", at(65))
    h.progress(o2, "LYO-01", "accepted", at(85))
    h.progress(o2, "LYO-01", "shipped", at(165))

    o3 = h.order("O3", at(120), {"LAMP": 1}, pickup="LYO-01")
    h.progress(o3, "LYO-01", "accepted", at(135), hub_now=at(165))  # offline: heard after the deadline
    h.progress(o3, "LYO-01", "ready_for_pickup", at(160), hub_now=at(165), pickup_code="482913")
    token = orders.order_view(db, o3)["public_token"]
    orders.announce_arrival(db, token, "voiture bleue", now=at(180))
    h.progress(o3, "LYO-01", "collected", at(186))

    o4 = h.order("O4", at(180), {"TENT-2": 1})
    assert routing.expire_unanswered(db, now=at(211))
    routing.route_pending(db, now=at(211))
    h.progress(o4, "LYO-01", "accepted", at(220))

    o5 = h.order("O5", at(240), {"TENT-2": 3})
    h.progress(o5, "PAR-01", "accepted", at(245))
    h.reject(o5, "PAR-01", "short_pick", at(260), qty=1)
    h.reject(o5, "LYO-01", "damaged", at(270))
    h.progress(o5, "PAR-01", "shipped", at(290))

    for variance in (0, 0, -2):
        h.count("PAR-01", "TENT-2", variance, at(300))
    for variance in (0, 3):
        h.count("LYO-01", "LAMP", variance, at(300))
    h.ids = {"O1": o1, "O2": o2, "O3": o3, "O4": o4, "O5": o5}
    return h


@pytest.fixture
def app(tmp_path) -> Iterator[Flask]:
    app = create_app(tmp_path / "hub.sqlite")
    app.config["TESTING"] = True
    yield app
    app.extensions["hub_db"].close()


@pytest.fixture
def history(app) -> History:
    return build(app.extensions["hub_db"])


def rows(result: dict, table: str) -> dict:
    return {r["store_id"]: r for r in result["tables"][table]}


def test_the_history_is_what_the_scenario_says(history):
    view = {ref: orders.order_view(history.db, oid) for ref, oid in history.ids.items()}
    assert [view[ref]["status"] for ref in ("O1", "O2", "O3", "O4", "O5")] == [
        "shipped", "shipped", "collected", "in_progress", "partially_shipped"]  # fmt: skip
    assert [(a["store_id"], a["status"]) for a in view["O4"]["assignments"]] == [
        ("PAR-01", "cancel_requested"), ("LYO-01", "accepted")]  # fmt: skip


def test_fill_rates_per_store_and_network(history):
    result = analytics.analytics(history.db, 7, now=NOW)
    fill = rows(result, "fill_rate")
    # PAR answered for O1 2 + O2 1 (rejected) + O4 1 (unanswered) + O5 3 (1 short) = 7, delivered 2 + 2
    assert (fill["PAR-01"]["units_answered"], fill["PAR-01"]["units_filled"], fill["PAR-01"]["fill_rate"]) == (
        7, 4, 0.5714)  # fmt: skip
    # LYO: O2 1 shipped, O3 1 collected, O5 1 rejected; O4 still in progress is left out
    assert (fill["LYO-01"]["units_answered"], fill["LYO-01"]["units_filled"], fill["LYO-01"]["fill_rate"]) == (
        3, 2, 0.6667)  # fmt: skip
    assert (fill["*"]["units_answered"], fill["*"]["units_filled"], fill["*"]["fill_rate"]) == (10, 6, 0.6)
    # orders no store works on: O1 2/2, O2 1/1, O3 1/1, O5 2/3 (O4 in progress, O0 outside the period)
    [order_fill] = result["tables"]["order_fill_rate"]
    assert order_fill == {"store_id": "*", "orders": 4, "units_ordered": 7, "units_filled": 6, "fill_rate": 0.8571}


def test_reroute_rates_and_reasons(history):
    result = analytics.analytics(history.db, 7, now=NOW)
    reroutes = rows(result, "reroutes")
    assert [(reroutes[s]["assignments"], reroutes[s]["rerouted"], reroutes[s]["reroute_rate"])
            for s in ("PAR-01", "LYO-01", "*")] == [(4, 3, 0.75), (4, 1, 0.25), (8, 4, 0.5)]  # fmt: skip
    reasons = {(r["store_id"], r["reason"]): r["count"] for r in result["tables"]["reroute_reasons"]}
    assert reasons == {
        ("PAR-01", "out_of_stock"): 1, ("PAR-01", "unanswered"): 1, ("PAR-01", "short_pick"): 1,
        ("LYO-01", "damaged"): 1,
        ("*", "out_of_stock"): 1, ("*", "unanswered"): 1, ("*", "short_pick"): 1, ("*", "damaged"): 1,
    }  # fmt: skip


def test_median_and_p90_lead_times(history):
    result = analytics.analytics(history.db, 7, now=NOW)
    lead = {(r["store_id"], r["step"]): (r["samples"], r["median_minutes"], r["p90_minutes"])
            for r in result["tables"]["lead_times"]}  # fmt: skip
    # accepted: PAR [10, 5]; LYO [25 (O2), 15 (O3, by the store's clock), 40 (O4)]
    assert lead[("PAR-01", "accepted")] == (2, 7.5, 9.5)
    assert lead[("LYO-01", "accepted")] == (3, 25.0, 37.0)
    assert lead[("*", "accepted")] == (5, 15.0, 34.0)
    # shipped: PAR [70, 50]; LYO [105]
    assert lead[("PAR-01", "shipped")] == (2, 60.0, 68.0)
    assert lead[("LYO-01", "shipped")] == (1, 105.0, 105.0)
    assert lead[("*", "shipped")] == (3, 70.0, 98.0)
    assert lead[("LYO-01", "ready_for_pickup")] == (1, 40.0, 40.0)
    assert lead[("PAR-01", "ready_for_pickup")] == (0, None, None)


def test_deadline_compliance(history):
    result = analytics.analytics(history.db, 7, now=NOW)
    c = rows(result, "deadline_compliance")
    # PAR: O1 in time, O2 rejected in time (not accepted), O4 unanswered, O5 in time
    assert (c["PAR-01"]["assignments"], c["PAR-01"]["accepted_on_time"], c["PAR-01"]["answered_on_time"],
            c["PAR-01"]["compliance"]) == (4, 2, 3, 0.5)  # fmt: skip
    # LYO: O2 in time, O3 heard late, O4 in time, O5 rejected in time
    assert (c["LYO-01"]["assignments"], c["LYO-01"]["accepted_on_time"], c["LYO-01"]["answered_on_time"],
            c["LYO-01"]["compliance"]) == (4, 2, 3, 0.5)  # fmt: skip
    assert (c["*"]["assignments"], c["*"]["accepted_on_time"], c["*"]["compliance"]) == (8, 4, 0.5)


def test_kerbside_wait_and_stock_accuracy(history):
    result = analytics.analytics(history.db, 7, now=NOW)
    wait = rows(result, "kerbside_wait")
    assert (wait["LYO-01"]["handovers"], wait["LYO-01"]["median_minutes"], wait["LYO-01"]["p90_minutes"]) == (
        1, 6.0, 6.0)  # fmt: skip
    assert wait["PAR-01"]["handovers"] == 0 and wait["PAR-01"]["median_minutes"] is None
    accuracy = rows(result, "stock_accuracy")
    got = [(accuracy[s]["counts"], accuracy[s]["exact"], accuracy[s]["accuracy"], accuracy[s]["mean_abs_variance"])
           for s in ("PAR-01", "LYO-01", "*")]  # fmt: skip
    assert got == [(3, 2, 0.6667, 0.67), (2, 1, 0.5, 1.5), (5, 3, 0.6, 1.0)]


def test_a_shorter_period_leaves_the_orders_out(history):
    result = analytics.analytics(history.db, 1, now=NOW)
    assert rows(result, "reroutes")["*"]["assignments"] == 0
    assert rows(result, "fill_rate")["*"]["fill_rate"] is None
    assert rows(result, "stock_accuracy")["*"]["counts"] == 0


def test_csv_export_one_table_per_metric(history, app):
    result = analytics.analytics(history.db, 7, now=NOW)
    data = list(csv.DictReader(io.StringIO(analytics.table_csv(result, "fill_rate"))))
    assert list(data[0]) == ["store_id", "units_answered", "units_filled", "fill_rate"]
    assert [(r["store_id"], r["units_filled"], r["fill_rate"]) for r in data] == [
        ("LYO-01", "2", "0.6667"), ("PAR-01", "4", "0.5714"), ("*", "6", "0.6")]  # fmt: skip
    lead = list(csv.DictReader(io.StringIO(analytics.table_csv(result, "lead_times"))))
    assert {"store_id": "*", "step": "shipped", "samples": "3", "median_minutes": "70.0", "p90_minutes": "98.0"} in lead
    empty = list(csv.DictReader(io.StringIO(analytics.table_csv(result, "kerbside_wait"))))
    assert empty[1] == {"store_id": "PAR-01", "handovers": "0", "median_minutes": "", "p90_minutes": ""}

    key = stores.add_api_key(history.db, "head office", "head_office")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    answer = client.get("/api/analytics/reroute_reasons.csv?days=7", headers=auth)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.get_data(as_text=True).splitlines()[0] == "store_id,reason,count"
    assert client.get("/api/analytics/nope.csv", headers=auth).status_code == 404
    body = client.get("/api/analytics?days=7", headers=auth).get_json()
    assert body["period"]["days"] == 7 and set(body["tables"]) == set(analytics.TABLES)
    assert {r["store_id"]: r["fill_rate"] for r in body["tables"]["fill_rate"]}["*"] == 0.6
    bad = client.get("/api/analytics?days=0", headers=auth)
    assert bad.status_code == 400 and bad.get_json()["fields"][0]["field"] == "days"


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", ["Analyses", "Taux de service", "Délais", "Respect des échéances", "Attente au parking",
                "Justesse du stock", "Réseau", "57,1\u00a0%", "Télécharger en CSV", "Rupture de stock"]),
        ("en", ["Analytics", "Fill rate", "Lead times", "Deadline compliance", "Kerbside wait", "Stock accuracy",
                "Network", "57.1%", "Download as CSV", "Out of stock"]),
    ],
)  # fmt: skip
def test_console_page_renders_in_french_and_english_with_svg_charts(history, app, language, words):
    client = app.test_client()
    assert sign_in(client, USER, PASSWORD).status_code == 303
    set_language(client, language, "/console/analytics")
    answer = client.get("/console/analytics?days=7")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert f'<html lang="{language}">' in html
    for word in words:
        assert word in html, word
    for chart in ("fill_rate", "reroutes", "lead_accepted", "lead_shipped", "deadline_compliance", "kerbside_wait",
                  "stock_accuracy"):  # fmt: skip
        assert f'data-testid="chart-{chart}"' in html
    # one bar per store and one for the network, drawn as SVG rectangles sized by the value
    chart = html.split('data-testid="chart-fill_rate"')[1].split("</svg>")[0]
    assert chart.count('<g class="bar') == 3 and chart.count("<rect ") == 3
    assert '<g class="bar network" data-store-id="*">' in chart
    widths = dict(
        (part.split('"')[0], float(part.split('width="')[1].split('"')[0]))
        for part in chart.split('data-store-id="')[1:]
    )
    assert widths["*"] == round(0.6 * 380, 1) and widths["PAR-01"] == round(0.5714 * 380, 1)
    assert "<script" not in html.split("</head>")[1]  # no chart library
    download = client.get("/console/analytics/stock_accuracy.csv?days=7")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.get_data(as_text=True).startswith("\ufeffstore_id,counts,exact,accuracy,mean_abs_variance")


def test_console_analytics_needs_sign_in_and_validates_the_period(history, app):
    client = app.test_client()
    assert client.get("/console/analytics").status_code == 302
    assert client.get("/console/replenishment").status_code == 302
    sign_in(client, USER, PASSWORD)
    assert client.get("/console/analytics?days=abc").status_code == 400
    assert client.get("/console/analytics/nope.csv").status_code == 404


def test_console_replenishment_page_sets_a_rule_and_shows_failed_requests(history, app):
    from central_sync.services import replenishment

    client = app.test_client()
    sign_in(client, USER, PASSWORD)
    page = client.get("/console/replenishment")
    assert page.status_code == 200 and "Réassort" in page.get_data(as_text=True)
    token = csrf_of(page.get_data(as_text=True))
    form = {"csrf_token": token, "store_id": "PAR-01", "sku": "TENT-2", "reorder_point": "20", "order_qty": "5"}
    assert client.post("/console/replenishment/reorder-points", data=form).status_code == 303
    [request] = replenishment.requests_list(history.db)
    assert (request["store_id"], request["available"], request["qty"]) == ("PAR-01", 3, 22)
    bad = client.post("/console/replenishment/reorder-points", data={**form, "sku": "NOPE", "reorder_point": "x"})
    assert bad.status_code == 400 and "Point de commande" in bad.get_data(as_text=True)
    without_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post("/console/replenishment/reorder-points", data=without_token).status_code == 400
    with history.db.transaction() as tx:
        tx.set_replenishment_request(request["id"], status="failed", attempts=10, last_error="HTTP 500: down")
    html = client.get("/console/replenishment").get_data(as_text=True)
    assert 'data-status="failed"' in html and "HTTP 500: down" in html and "Renvoyer" in html
    answer = client.post(f"/console/replenishment/requests/{request['id']}/retry", data={"csrf_token": token})
    assert answer.status_code == 303
    assert replenishment.requests_list(history.db)[0]["status"] == "pending"
    csv_text = client.get("/console/replenishment/requests.csv").get_data(as_text=True)
    assert csv_text.startswith("\ufeffrequest_id,store_id,sku")
