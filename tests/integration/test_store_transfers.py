"""Receiving a transfer from another store: announced by the feed, counted in, discrepancies explained."""

from conftest import OPENING, state

from shared.clock import to_iso, utc_now
from shared.wire import MessageKind


def announce(hub, transfer_id: str = "SRC-01-TR-1", lines=(("LAMP", 4), ("SOCKS", 2))) -> str:
    outcome = hub.send(MessageKind.TRANSFER_INCOMING, {
        "transfer_id": transfer_id, "order_id": "TR-1", "source_store_id": "SRC-01", "shipped_at": to_iso(utc_now()),
        "lines": [{"line_id": str(n), "sku": sku, "qty": qty} for n, (sku, qty) in enumerate(lines, 1)],
    })
    assert outcome == "transfer_announced"
    return transfer_id


def test_a_transfer_is_counted_in_with_its_discrepancies_and_audited(associate, hub, db):
    tid = announce(hub)
    [listed] = associate.ok("GET", "/api/transfers/incoming", {"status": "in_transit"})["transfers"]
    assert listed["transfer_id"] == tid and [ln["qty"] for ln in listed["lines"]] == [4, 2]

    received = associate.ok("POST", f"/api/transfers/incoming/{tid}/receive", {
        "lines": [{"line_id": "1", "received": 3, "damaged": 1}], "reason": "crushed box, socks missing",
    })
    outcome = {ln["sku"]: ln for ln in received["outcome"]}
    assert (outcome["LAMP"]["received"], outcome["LAMP"]["damaged"], outcome["LAMP"]["missing"]) == (3, 1, 0)
    assert (outcome["SOCKS"]["received"], outcome["SOCKS"]["missing"]) == (0, 2)
    assert associate.stock("LAMP") == (OPENING["LAMP"] + 3, 0)
    assert associate.stock("SOCKS") == (OPENING["SOCKS"], 0)

    event = associate.events()[-1]
    assert event["kind"] == "transfer.received" and event["payload"]["transfer_id"] == tid
    assert event["levels"] == [{"sku": "LAMP", "on_hand": OPENING["LAMP"] + 3, "reserved": 0}]
    trail = associate.ok("GET", "/api/audit", {"staff": associate.code, "limit": 1})["entries"]
    assert trail[0]["action"] == "transfer.receive" and trail[0]["target"] == tid


def test_a_discrepancy_without_a_reason_is_refused_and_changes_nothing(associate, hub, db):
    tid = announce(hub)
    before = state(db)
    resp = associate.post(f"/api/transfers/incoming/{tid}/receive", {"lines": [{"line_id": "1", "received": 4}]})
    assert resp.status_code == 400 and resp.get_json()["fields"] == [
        {"field": "reason", "message": "say why the count differs from what was shipped"}
    ]
    assert state(db) == before


def test_a_transfer_is_received_once_and_announced_once(associate, hub):
    tid = announce(hub, lines=(("LAMP", 1),))
    body = {"lines": [{"line_id": "1", "received": 1}]}
    associate.ok("POST", f"/api/transfers/incoming/{tid}/receive", body)
    assert associate.post(f"/api/transfers/incoming/{tid}/receive", body).status_code == 409
    assert hub.deliver(hub.sent[-1])["skipped"] == [hub.sent[-1].seq]
    assert associate.post("/api/transfers/incoming/NOPE/receive", body).status_code == 404
