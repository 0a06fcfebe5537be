"""Rebalancing and demand forecast at the hub on a real SQLite file: the demand history the hub builds,
the forecast, the run's proposals against an optimum worked by hand, head office's limits, editing,
approving (one transfer per pair, idempotent) and rejecting; and the API and CLI refusing bad input.

The network is tests/integration/rebalancing_network.py: its docstring works out each store's surplus
and need; the expected transfers below follow from them.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from rebalancing_network import LAMP, LATITUDES, TENT, A, B, C, HubNetwork

from central_sync.entrypoints.app import create_app
from central_sync.entrypoints.cli import hub as hub_cli
from central_sync.services import forecasting, orders, rebalancing, routing, stores, transfers
from central_sync.store import HubDatabase
from shared.errors import InvalidInput, NotFound, Refused
from shared.wire import EventKind

HEAD_OFFICE_KEY, CHANNEL_KEY = "test-head-office-key", "test-channel-key"

# Default limits. TENT: A-01 has 16 to spare, B-01 needs 6 (55.6 km away), C-01 needs 15 (111.2 km):
# 21 needed, 16 available, so all 16 move, the nearer need first: B-01 gets its 6, C-01 the other 10
# and stays 5 short. LAMP: A-01 has 13, B-01 needs 5 and C-01 6: both are covered.
EXPECTED = [(A, B, LAMP, 5), (A, B, TENT, 6), (A, C, LAMP, 6), (A, C, TENT, 10)]
EXPECTED_SHORT = [(C, TENT, 5)]

LIMIT_CASES = {
    # A-01 may ship to one store only: it keeps the destination taking the most units (C-01: 10 + 6 = 16
    # against B-01's 6 + 5 = 11); then, barred from B-01, it sends C-01 all 15 TENT it needs, and 6 LAMP.
    "one destination per store": (
        {"max_transfers_per_store_per_day": 1},
        [(A, C, LAMP, 6), (A, C, TENT, 15)],
        [(B, LAMP, 5), (B, TENT, 6)],
    ),
    # Lines under 7 are not worth it: only C-01's TENT need (15) reaches it; A-01's 16 cover it.
    "minimum transfer of 7": (
        {"min_transfer_qty": 7},
        [(A, C, TENT, 15)],
        [(B, LAMP, 5), (B, TENT, 6), (C, LAMP, 6)],
    ),
    # B-01 left out: C-01 alone takes A-01's TENT (15 of 16) and LAMP (6).
    "B-01 excluded": ({"excluded_stores": [B]}, [(A, C, LAMP, 6), (A, C, TENT, 15)], []),
    "TENT excluded": ({"excluded_skus": [TENT]}, [(A, B, LAMP, 5), (A, C, LAMP, 6)], []),
    # C-01 is 111 km from A-01, beyond 60 km: only B-01 is served.
    "60 km at most": ({"max_distance_km": 60}, [(A, B, LAMP, 5), (A, B, TENT, 6)], [(C, LAMP, 6), (C, TENT, 15)]),
}


@pytest.fixture
def db(tmp_path) -> Iterator[HubDatabase]:
    database = HubDatabase(tmp_path / "hub.sqlite")
    yield database
    database.close()


@pytest.fixture
def net(db) -> HubNetwork:
    return HubNetwork(db)


def lines_of(run: dict) -> list[tuple]:
    return [(p["source_store_id"], p["destination_store_id"], p["sku"], p["qty"]) for p in run["proposals"]]


def short_of(run: dict) -> list[tuple]:
    return [(s["store_id"], s["sku"], s["qty"]) for s in run["shortfalls"]]


def rebalancing_transfers(db: HubDatabase) -> list[dict]:
    return [t for t in transfers.transfer_list(db) if db.reader().order(t["order_id"])["channel"] == "rebalancing"]


# ------------------------------------------------------------------ demand history and forecast
def test_the_forecast_of_an_exact_weekly_pattern_is_that_pattern(db, net):
    report = forecasting.report(db, net.now)
    totals = {(i["store_id"], i["sku"]): i["total"] for i in report["items"]}
    assert totals == pytest.approx({(B, TENT): 14, (C, TENT): 20, (B, LAMP): 7, (C, LAMP): 14})
    by = {(i["store_id"], i["sku"]): i for i in report["items"]}
    saturday = (5 - net.today.weekday()) % 7
    assert by[(B, TENT)]["daily"][saturday] == pytest.approx(4)
    assert all(i["history_days"] == 56 and i["holdout"]["mae"] == pytest.approx(0) for i in report["items"])
    assert report["network"]["series"] == 4 and report["network"]["wape"] == pytest.approx(0)
    assert report["start"] == net.today.isoformat()
    only = forecasting.report(db, net.now, skus=[TENT], store_ids=[C])
    assert [(i["store_id"], i["sku"]) for i in only["items"]] == [(C, TENT)]


def test_a_noisy_series_is_forecast_close_to_its_pattern_and_its_holdout_error_is_reported(tmp_path):
    """Pattern 3 3 3 3 5 9 9 (35 a week) with a repeating noise of -1 / 0 / +1 on top."""
    pattern = (3, 3, 3, 3, 5, 9, 9)
    noise = (1, -1, 0, 1, 0, -1, -1, 1, 0, 0, 1, -1, 0)  # 13 long: not in step with the week
    db = HubDatabase(tmp_path / "noisy.sqlite")
    try:
        net = HubNetwork(db, sales={})
        events, days = [], range(56, 0, -1)
        for k, n in enumerate(days):
            day = net.today - timedelta(days=n)
            qty = pattern[day.weekday()] + noise[k % len(noise)]
            events.append(net.sale(B, datetime.combine(day, time(11), UTC), [{"sku": TENT, "qty": qty}]))
        net.send(B, events)
        report = forecasting.report(db, net.now, skus=[TENT])
        [item] = report["items"]
        assert item["total"] == pytest.approx(35, rel=0.1)
        for i, expected in enumerate(item["daily"]):
            assert expected == pytest.approx(pattern[(net.today.weekday() + i) % 7], abs=1.0)
        h = item["holdout"]
        # the noise alone is off by 0.6 a day on average; "same weekday last week" repeats last week's noise
        assert h["days"] == 7 and 0 < h["mae"] < 0.8 and h["wape"] < 0.2 and h["mae"] < h["naive_mae"]
        assert h["naive_mae"] is not None and h["naive_wape"] is not None
        held_back = sum(e.payload["lines"][0]["qty"] for e in events[-7:])
        network = report["network"]
        assert network["series"] == 1 and network["units"] == item["holdout_units"] == held_back
        assert network["wape"] == pytest.approx(h["mae"] * 7 / held_back)
        assert report["by_sku"][TENT]["accuracy"]["naive_wape"] == pytest.approx(h["naive_wape"])
    finally:
        db.close()


def test_demand_counts_till_sales_and_fulfilled_orders_on_their_utc_day_and_nothing_else(db, net):
    today, day = net.today, lambda n: net.today - timedelta(days=n)
    # a ship-from-store order routed to A-01 (nearest, holding TENT) and shipped three days ago
    order_id, _ = orders.place_order(db, orders.NewOrder(
        channel="web", channel_order_id="W-1", kind="ship_from_store", lines=[(TENT, 2)], customer={"name": "Léa"},
        lat=LATITUDES[A], lon=2.0,
    ))  # fmt: skip
    routing.route_pending(db, now=net.now)
    [assignment] = orders.order_view(db, order_id)["assignments"]
    assert assignment["store_id"] == A
    aid = assignment["assignment_id"]
    # a transfer A-01 ships the same day: stock moving, not demand
    transfer_id = transfers.request_transfer(db, A, C, [(LAMP, 3)], now=net.now)
    tid = next(a["assignment_id"] for a in orders.order_view(db, transfer_id)["assignments"])
    shipped_at = datetime.combine(day(3), time(15), UTC)
    net.send(A, [
        net.event(A, EventKind.ASSIGNMENT_ACCEPTED, shipped_at - timedelta(hours=2), {"assignment_id": aid}),
        net.event(A, EventKind.ASSIGNMENT_PROGRESSED, shipped_at, {"assignment_id": aid, "status": "shipped"}),
        net.event(A, EventKind.ASSIGNMENT_PROGRESSED, shipped_at, {"assignment_id": tid, "status": "shipped"}),
        # a return is not netted from demand
        net.event(A, EventKind.RETURN_RECORDED, shipped_at, {"lines": [{"sku": TENT, "qty": 1}]}),
        # lines the hub cannot trust are skipped, the good one counts
        net.sale(A, shipped_at, [{"sku": TENT, "qty": "2"}, "junk", {"qty": 3}, {"sku": TENT, "qty": -4},
                                 {"sku": TENT, "qty": 1}]),
        # 01:30 in Paris summer time is the day before in UTC
        net.sale(A, f"{day(1).isoformat()}T01:30:00.000+02:00", [{"sku": TENT, "qty": 4}]),
        # today is not over: not in the history
        net.sale(A, datetime.combine(today, time(0, 5), UTC), [{"sku": TENT, "qty": 9}]),
    ])  # fmt: skip
    history = forecasting.load_history(db, net.now, lookback_days=14, store_ids=[A])
    start, series = history.series[(A, TENT)]
    assert (start, len(series)) == (day(14), 14)
    assert {14 - n: q for n, q in enumerate(series) if q} == {3: 2 + 1, 2: 4}
    assert (A, LAMP) not in history.series
    # a store that joined five days ago: its series starts then, not with weeks of "no sales"
    net.register("D-01", 48.2, net.now - timedelta(days=5))
    net.send("D-01", [net.sale("D-01", datetime.combine(day(2), time(12), UTC), [{"sku": LAMP, "qty": 2}])])
    start, series = forecasting.load_history(db, net.now, store_ids=["D-01"]).series[("D-01", LAMP)]
    assert (start, series) == (day(5), (0, 0, 0, 2, 0))


# ------------------------------------------------------------------ proposals and limits
def test_the_run_proposes_the_optimum_worked_by_hand(db, net):
    run = rebalancing.create_run(db, "anne", now=net.now)
    assert lines_of(run) == EXPECTED
    assert short_of(run) == EXPECTED_SHORT
    assert all(p["status"] == "proposed" and p["approvable"] for p in run["proposals"])
    by = {(p["destination_store_id"], p["sku"]): p for p in run["proposals"]}
    assert by[(B, TENT)]["distance_km"] == pytest.approx(55.6, abs=0.1)
    assert by[(C, TENT)]["distance_km"] == pytest.approx(111.2, abs=0.1)
    assert "C-01 needs 15 for its 7-day forecast (20)" in by[(C, TENT)]["reason"]
    assert "this covers 10 of the 15" in by[(C, TENT)]["reason"]
    assert "safety stock (3)" in by[(B, LAMP)]["reason"]  # A-01's own rule beats (*, *)
    assert run["summary"]["units_moved"] == 27 and run["summary"]["series"] == 4
    assert run["limits"] == rebalancing.DEFAULT_LIMITS
    assert rebalancing.run_view(db, run["run_id"])["proposals"] == run["proposals"]
    [audit] = [a for a in db.reader().audit_trail() if a["action"] == "rebalancing.run"]
    assert audit["actor"] == "anne" and audit["target"] == run["run_id"]


@pytest.mark.parametrize("case", LIMIT_CASES)
def test_limits_are_honoured(db, net, case):
    limits, expected, short = LIMIT_CASES[case]
    run = rebalancing.create_run(db, "anne", now=net.now, limits=limits)
    assert lines_of(run) == expected
    assert short_of(run) == short
    assert {k: run["limits"][k] for k in limits} == limits


def test_saved_limits_apply_to_later_runs_and_changing_them_is_audited(db, net):
    rebalancing.create_run(db, "anne", now=net.now, limits={"min_transfer_qty": 7}, save_limits=True)
    assert rebalancing.saved_limits(db)["min_transfer_qty"] == 7
    assert lines_of(rebalancing.create_run(db, "anne", now=net.now)) == [(A, C, TENT, 15)]
    [entry] = [a for a in db.reader().audit_trail() if a["action"] == "rebalancing.limits"]
    assert entry["detail"] == {"before": {"min_transfer_qty": 1}, "after": {"min_transfer_qty": 7}}


def test_stock_already_on_its_way_is_not_proposed_again(db, net):
    run = rebalancing.create_run(db, "anne", now=net.now)
    rebalancing.approve(db, "anne", run["run_id"], [p["proposal_id"] for p in run["proposals"]], now=net.now)
    again = rebalancing.create_run(db, "anne", now=net.now)
    # B-01 has its 6 TENT and 5 LAMP coming, C-01 10 TENT and 6 LAMP; A-01's spare units are promised
    assert lines_of(again) == []
    assert short_of(again) == [(C, TENT, 5)]


def test_a_click_and_collect_waiting_for_its_transfer_is_neither_surplus_nor_double_counted(db, net):
    # B-01 can promise 9 - 1 (safety) = 8 TENT: a click-and-collect of 9 there takes those 8 and a transfer of
    # the 9th from A-01; the order waits at B-01 for it
    order_id, _ = orders.place_order(db, orders.NewOrder(
        channel="web", channel_order_id="CC-1", kind="click_and_collect", lines=[(TENT, 9)], customer={"name": "Léa"},
        pickup_store_id=B,
    ))  # fmt: skip
    routing.route_pending(db, now=net.now)
    held = {(a["store_id"], a["kind"], a["status"], a["lines"][0]["qty"])
            for a in orders.order_view(db, order_id)["assignments"]}  # fmt: skip
    assert held == {(A, "transfer_out", "pending", 1), (B, "click_and_collect", "awaiting_transfer", 9)}
    run = rebalancing.create_run(db, "anne", now=net.now)
    # 19 - 1 on its way out = 18, surplus 15. B-01: 9 + 1 coming - 9 promised to the customer = 1,
    # so it needs 14 + 1 - 1 = 14 (counting the 9 it holds as free would have made it a source).
    # TENT: 15 to give, 14 + 15 needed: B-01 (nearer) gets its 14, C-01 the 1 left and stays 14 short.
    assert lines_of(run) == [(A, B, LAMP, 5), (A, B, TENT, 14), (A, C, LAMP, 6), (A, C, TENT, 1)]
    assert short_of(run) == [(C, TENT, 14)]


def test_bad_limits_are_refused_naming_every_field_and_nothing_is_stored(db, net):
    with pytest.raises(InvalidInput) as refused:
        rebalancing.create_run(db, "anne", now=net.now, limits={
            "min_transfer_qty": 0, "excluded_skus": [TENT, "NOPE"], "excluded_stores": ["X-99"], "colour": "red",
        })  # fmt: skip
    fields = [f for f, _ in refused.value.fields]
    assert fields == ["colour", "excluded_skus[1]", "excluded_stores[0]", "min_transfer_qty"]
    with pytest.raises(InvalidInput) as refused:
        rebalancing.create_run(db, "anne", now=net.now, horizon_days=0, lookback_days=3)
    assert [f for f, _ in refused.value.fields] == ["horizon_days", "lookback_days"]
    assert rebalancing.latest_runs(db) == [] and db.reader().audit_trail() == [
        a for a in db.reader().audit_trail() if a["action"] == "safety_stock.set"
    ]


# ------------------------------------------------------------------ head office's decisions
def test_approving_makes_one_transfer_per_pair_with_its_lines_and_approving_again_makes_none(db, net):
    run = rebalancing.create_run(db, "anne", now=net.now)
    ids = [p["proposal_id"] for p in run["proposals"]]
    approved = rebalancing.approve(db, "anne", run["run_id"], ids, now=net.now)
    assert len(approved["created"]) == 2
    made = {(t["source_store_id"], t["destination_store_id"]): t for t in rebalancing_transfers(db)}
    assert set(made) == {(A, B), (A, C)}
    assert sorted((ln["sku"], ln["qty"]) for ln in made[(A, B)]["lines"]) == [(LAMP, 5), (TENT, 6)]
    assert sorted((ln["sku"], ln["qty"]) for ln in made[(A, C)]["lines"]) == [(LAMP, 6), (TENT, 10)]
    # each one is in A-01's feed as a transfer-out to pick
    feed = [m for m in db.reader().feed_after(A, 0, 100) if m["kind"] == "assignment"]
    assert sorted(m["payload"]["destination_store_id"] for m in feed) == [B, C]
    assert all(p["status"] == "approved" and p["transfer_order_id"] for p in approved["proposals"])
    assert {t["order_id"] for t in approved["transfers"]} == set(approved["created"])

    again = rebalancing.approve(db, "anne", run["run_id"], ids, now=net.now)
    assert again["created"] == [] and len(rebalancing_transfers(db)) == 2
    assert len([a for a in db.reader().audit_trail() if a["action"] == "rebalancing.approved"]) == 1


def test_edited_quantities_go_into_the_transfer_and_a_pair_is_one_transfer(db, net):
    run = rebalancing.create_run(db, "anne", now=net.now)
    ids = {(p["destination_store_id"], p["sku"]): p["proposal_id"] for p in run["proposals"]}
    [edited] = rebalancing.edit_quantities(db, "anne", {ids[(C, TENT)]: 8}, run["run_id"], now=net.now)
    assert (edited["qty"], edited["proposed_qty"], edited["status"]) == (8, 10, "edited")
    # approve the A-01 -> C-01 TENT line alone (with another edit made while approving)
    view = rebalancing.approve(db, "anne", run["run_id"], [ids[(C, TENT)]], {ids[(C, TENT)]: 9}, now=net.now)
    [transfer] = view["transfers"]
    assert transfer["lines"] == [{"sku": TENT, "qty": 9}]
    # the pair's other line cannot make a second transfer; it can be rejected
    with pytest.raises(Refused, match="a pair is one transfer"):
        rebalancing.approve(db, "anne", run["run_id"], [ids[(C, LAMP)]], now=net.now)
    assert not next(p for p in view["proposals"] if p["proposal_id"] == ids[(C, LAMP)])["approvable"]
    rejected = rebalancing.reject(db, "anne", run["run_id"], [ids[(C, LAMP)], ids[(B, LAMP)]], now=net.now)
    assert {p["sku"] + p["destination_store_id"]: p["status"] for p in rejected["proposals"]} == {
        TENT + C: "approved", LAMP + C: "rejected", LAMP + B: "rejected", TENT + B: "proposed"}  # fmt: skip
    with pytest.raises(Refused, match="is approved"):
        rebalancing.reject(db, "anne", run["run_id"], [ids[(C, TENT)]], now=net.now)
    with pytest.raises(Refused, match="was rejected"):
        rebalancing.approve(db, "anne", run["run_id"], [ids[(B, LAMP)]], now=net.now)
    with pytest.raises(Refused, match="can no longer change"):
        rebalancing.edit_quantities(db, "anne", {ids[(C, TENT)]: 3}, now=net.now)
    audit = [(a["action"], a["target"]) for a in db.reader().audit_trail()]
    assert ("rebalancing.edited", f"{run['run_id']}/{ids[(C, TENT)]}") in audit
    assert ("rebalancing.rejected", run["run_id"]) in audit


def test_a_crash_between_approval_and_transfer_is_completed_by_the_next_approval(db, net, monkeypatch):
    run = rebalancing.create_run(db, "anne", now=net.now)
    ids = [p["proposal_id"] for p in run["proposals"]]

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    with monkeypatch.context() as m:
        m.setattr(transfers, "request_transfer", crash)
        with pytest.raises(RuntimeError):
            rebalancing.approve(db, "anne", run["run_id"], ids[:2], now=net.now)
    assert rebalancing_transfers(db) == []
    assert [p["status"] for p in rebalancing.run_view(db, run["run_id"])["proposals"]][:2] == ["approved"] * 2
    view = rebalancing.approve(db, "anne", run["run_id"], ids[:2], now=net.now)
    assert len(view["created"]) == 1 and len(rebalancing_transfers(db)) == 1


def test_a_stale_run_cannot_be_approved_and_bad_ids_are_named(db, net):
    run = rebalancing.create_run(db, "anne", now=net.now)
    first = run["proposals"][0]["proposal_id"]
    with pytest.raises(Refused, match="older than 24 hours"):
        rebalancing.approve(db, "anne", run["run_id"], [first], now=net.now + timedelta(hours=25))
    with pytest.raises(InvalidInput) as refused:
        rebalancing.approve(db, "anne", run["run_id"], [first, 9999, 0], now=net.now)
    assert [f for f, _ in refused.value.fields] == ["proposal_ids[2]"]
    with pytest.raises(InvalidInput) as refused:
        rebalancing.approve(db, "anne", run["run_id"], [first, 9999], {first: 0}, now=net.now)
    assert [f for f, _ in refused.value.fields] == ["proposal_ids[1]", f"qty-{first}"]
    with pytest.raises(NotFound):
        rebalancing.approve(db, "anne", "RB-NOPE", [first], now=net.now)
    assert rebalancing_transfers(db) == []
    assert all(p["status"] == "proposed" for p in rebalancing.run_view(db, run["run_id"])["proposals"])


# ------------------------------------------------------------------ the JSON API
@pytest.fixture
def api(tmp_path) -> Iterator[tuple[Flask, HubNetwork]]:
    app = create_app(tmp_path / "api.sqlite")
    db = app.extensions["hub_db"]
    stores.add_api_key(db, "siège", "head_office", HEAD_OFFICE_KEY)
    stores.add_api_key(db, "web", "channel", CHANNEL_KEY)
    yield app, HubNetwork(db)
    db.close()


def call(app: Flask, method: str, path: str, body=None, key: str = HEAD_OFFICE_KEY, **query):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    return client.open(path, method=method, json=body, headers=headers, query_string=query)


def test_api_run_edit_approve_and_read(api):
    app, _ = api
    answer = call(app, "POST", "/api/rebalancing/runs", {"max_transfers_per_store_per_day": 1})
    assert answer.status_code == 201, answer.get_json()
    run = answer.get_json()
    assert lines_of(run) == [(A, C, LAMP, 6), (A, C, TENT, 15)]
    tent = next(p for p in run["proposals"] if p["sku"] == TENT)
    edited = call(app, "POST", f"/api/rebalancing/proposals/{tent['proposal_id']}", {"qty": 12}).get_json()
    assert (edited["qty"], edited["status"]) == (12, "edited")
    ids = [p["proposal_id"] for p in run["proposals"]]
    approved = call(app, "POST", f"/api/rebalancing/runs/{run['run_id']}/approve", {"proposal_ids": ids})
    assert approved.status_code == 200
    [transfer] = approved.get_json()["transfers"]
    assert transfer["lines"] == [{"sku": LAMP, "qty": 6}, {"sku": TENT, "qty": 12}]
    again = call(app, "POST", f"/api/rebalancing/runs/{run['run_id']}/approve", {"proposal_ids": ids}).get_json()
    assert again["created"] == [] and again["transfers"] == approved.get_json()["transfers"]
    read = call(app, "GET", f"/api/rebalancing/runs/{run['run_id']}").get_json()
    assert [p["status"] for p in read["proposals"]] == ["approved", "approved"]
    order = call(app, "GET", f"/api/orders/{transfer['order_id']}").get_json()
    assert order["kind"] == "transfer" and order["channel"] == "rebalancing"
    assert any(a["actor"] == "siège" and a["action"] == "rebalancing.approved"
               for a in app.extensions["hub_db"].reader().audit_trail())  # fmt: skip
    forecast = call(app, "GET", "/api/forecast", sku=TENT, store_id=C).get_json()
    assert [(i["store_id"], i["sku"]) for i in forecast["items"]] == [(C, TENT)]
    assert forecast["items"][0]["total"] == pytest.approx(20) and forecast["network"]["series"] == 1
    assert forecast["items"][0]["holdout"]["naive_mae"] == pytest.approx(0)


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "fields"),
    [
        ("POST", "/api/rebalancing/runs", {"min_transfer_qty": 0, "horizon_days": 99, "colour": "red"}, {},
         ["colour", "horizon_days", "min_transfer_qty"]),
        ("POST", "/api/rebalancing/runs", {"excluded_skus": ["NOPE"], "excluded_stores": [B, "X-99"]}, {},
         ["excluded_skus[0]", "excluded_stores[1]"]),
        ("POST", "/api/rebalancing/runs", {"max_distance_km": -5, "excluded_skus": "TENT"}, {},
         ["excluded_skus", "max_distance_km"]),
        ("POST", "/api/rebalancing/proposals/{first}", {"qty": 0}, {}, ["qty"]),
        ("POST", "/api/rebalancing/runs/{run}/approve", {"proposal_ids": []}, {}, ["proposal_ids"]),
        ("POST", "/api/rebalancing/runs/{run}/approve", {"proposal_ids": ["x"]}, {}, ["proposal_ids[0]"]),
        ("POST", "/api/rebalancing/runs/{run}/approve", {"proposal_ids": [9999]}, {}, ["proposal_ids[0]"]),
        ("POST", "/api/rebalancing/runs/{run}/reject", {"proposal_ids": [9999]}, {}, ["proposal_ids[0]"]),
        ("GET", "/api/forecast", None, {"sku": "NOPE", "store_id": "X-99"}, ["sku", "store_id"]),
        ("GET", "/api/forecast", None, {"horizon_days": "0"}, ["horizon_days"]),
    ],
)  # fmt: skip
def test_api_refuses_bad_input_naming_the_fields_and_changes_nothing(api, method, path, body, query, fields):
    app, net = api
    run = rebalancing.create_run(app.extensions["hub_db"], "anne", now=net.now)
    before = (rebalancing.latest_runs(app.extensions["hub_db"]), rebalancing.run_view(app.extensions["hub_db"],
              run["run_id"])["proposals"])  # fmt: skip
    answer = call(app, method, path.format(run=run["run_id"], first=run["proposals"][0]["proposal_id"]), body, **query)
    assert answer.status_code == 400, answer.get_json()
    assert sorted(f["field"] for f in answer.get_json()["fields"]) == fields
    after = (rebalancing.latest_runs(app.extensions["hub_db"]), rebalancing.run_view(app.extensions["hub_db"],
             run["run_id"])["proposals"])  # fmt: skip
    assert after == before


def test_api_needs_a_head_office_key_and_knows_its_runs(api):
    app, _ = api
    assert call(app, "POST", "/api/rebalancing/runs", {}, key=CHANNEL_KEY).status_code == 403
    assert call(app, "GET", "/api/forecast", key=CHANNEL_KEY).status_code == 403
    assert call(app, "GET", "/api/rebalancing/runs/RB-NOPE").status_code == 404
    assert call(app, "POST", "/api/rebalancing/runs/RB-NOPE/approve", {"proposal_ids": [1]}).status_code == 404
    assert call(app, "POST", "/api/rebalancing/proposals/9999", {"qty": 3}).status_code == 404
    doc = call(app, "GET", "/api/openapi.json").get_json()
    for path in ("/api/rebalancing/runs", "/api/rebalancing/runs/{run_id}", "/api/rebalancing/runs/{run_id}/approve",
                 "/api/rebalancing/proposals/{proposal_id}", "/api/forecast"):  # fmt: skip
        assert path in doc["paths"], path


# ------------------------------------------------------------------ the CLI
def test_cli_rebalance_prints_the_proposals_with_reasons_and_approves_all(db, net):
    result = CliRunner().invoke(hub_cli, ["rebalance", "--db", db.path, "--approve-all"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "A-01 -> C-01  TENT  x10  (111.2 km)" in out and "this covers 10 of the 15" in out
    assert "C-01  TENT  5:" in out  # the shortfall
    assert out.count("Transfer TR-") == 2 and "A-01 -> B-01: LAMP x5, TENT x6" in out
    assert len(rebalancing_transfers(db)) == 2


def test_cli_forecast_prints_each_series_and_the_network_error(db, net):
    result = CliRunner().invoke(hub_cli, ["forecast", "--db", db.path, "--sku", TENT])
    assert result.exit_code == 0, result.output
    assert "C-01" in result.output and "20.0" in result.output and "Network: 2 series" in result.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["rebalance", "--min-qty", "0"], "--min-qty"),
        (["rebalance", "--exclude-sku", "NOPE", "--exclude-store", "X-99"], "--exclude-sku: unknown SKU 'NOPE'"),
        (["rebalance", "--exclude-store", "X-99"], "--exclude-store: unknown store 'X-99'"),
        (["rebalance", "--horizon", "99"], "--horizon"),
        (["forecast", "--sku", "NOPE"], "--sku: unknown SKU 'NOPE'"),
        (["forecast", "--store", "X-99"], "--store: unknown store 'X-99'"),
    ],
)
def test_cli_refuses_bad_input_naming_the_option(db, net, args, named):
    result = CliRunner().invoke(hub_cli, [*args, "--db", db.path])
    assert result.exit_code == 2
    assert named in result.output
    assert rebalancing.latest_runs(db) == []


@pytest.mark.parametrize("command", ["rebalance", "forecast"])
def test_cli_commands_have_help_text(command):
    result = CliRunner().invoke(hub_cli, [command, "--help"])
    assert result.exit_code == 0
    assert " ".join(hub_cli.commands[command].help.split()) in " ".join(result.output.split())
    assert all(p.help for p in hub_cli.commands[command].params)
