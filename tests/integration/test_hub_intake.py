"""The hub on a real SQLite file: CSV imports (all rows or none, errors by line), postal-code
destinations, and backorders routed once stock appears."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from central_sync.entrypoints.cli import hub as hub_cli
from central_sync.services import catalogue, orders, routing, stores, sync
from central_sync.store import HubDatabase
from shared.barcodes import ean13
from shared.clock import to_iso, utc_now
from shared.wire import CatalogueItem, SyncRequest

GOOD = ean13("376123400001"), ean13("376123400002"), ean13("376123400003")


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "hub.sqlite"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_catalogue_with_errors_is_refused_whole_naming_each_line(db_path, tmp_path):
    csv = write(
        tmp_path / "cat.csv",
        (
            "sku,name,price,barcodes\n"
            f"TENT-2,Tente 2 places,79.99,{GOOD[0]}\n"
            "LAMP,Lampe frontale,24.999,1234567890123\n"
            f"SOCKS,,8.99,{GOOD[0]}\n"
        ),
    )
    result = CliRunner().invoke(hub_cli, ["import-catalogue", str(csv), "--db", str(db_path)])
    assert result.exit_code == 1
    assert "line 3: price: at most two decimals: '24.999'" in result.output
    assert "line 3: barcodes: '1234567890123' is not a valid EAN-13/UPC-A" in result.output
    assert f"line 4: barcodes: {GOOD[0]} already on line 2" in result.output
    assert "line 4: name:" in result.output
    assert HubDatabase(db_path).reader().products() == []  # nothing half-imported


def test_a_good_catalogue_is_imported_and_queued_to_every_store(db_path, tmp_path):
    db = HubDatabase(db_path)
    stores.register_store(db, "PAR-01", "Paris", 48.85, 2.35, secret="s" * 40)
    csv = write(
        tmp_path / "cat.csv",
        (
            "sku,name,price,barcodes,location\n"
            f"TENT-2,Tente 2 places,79.99,{GOOD[0]} {GOOD[1]},E1\n"
            f"LAMP,Lampe frontale,24.99,{GOOD[2]},D4\n"
        ),
    )
    result = CliRunner().invoke(hub_cli, ["import-catalogue", str(csv), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "2 products imported" in result.output
    products = {p["sku"]: p for p in db.reader().products()}
    assert products["TENT-2"]["price_cents"] == 7999 and products["TENT-2"]["barcodes"] == sorted(GOOD[:2])
    feed = db.reader().feed_after("PAR-01", 0, 10)
    assert [m["kind"] for m in feed] == ["catalogue"]
    assert {i["sku"] for i in feed[0]["payload"]["items"]} == {"TENT-2", "LAMP"}


def test_postal_codes_import_and_place_a_ship_from_store_order(db_path, tmp_path):
    bad = write(tmp_path / "bad.csv", "code,latitude,longitude,city\n75001,48.86,2.34,Paris\n69001,north,4.83,Lyon\n")
    result = CliRunner().invoke(hub_cli, ["import-postal-codes", str(bad), "--db", str(db_path)])
    assert result.exit_code == 1 and "line 3: latitude/longitude: not valid coordinates" in result.output
    db = HubDatabase(db_path)
    assert db.reader().postal_code("75001") is None  # nothing half-imported
    good = write(tmp_path / "good.csv", "code,latitude,longitude,city\n75001,48.86,2.34,Paris\n")
    assert CliRunner().invoke(hub_cli, ["import-postal-codes", str(good), "--db", str(db_path)]).exit_code == 0
    _catalogue(db)
    order_id, created = orders.place_order(
        db,
        orders.NewOrder(
            channel="web",
            channel_order_id="PC-1",
            kind="ship_from_store",
            lines=[("LAMP", 1)],
            customer={"name": "Léa"},
            postal_code="75001",
        ),
    )
    row = db.reader().order(order_id)
    assert created and (row["lat"], row["lon"]) == (48.86, 2.34)


def _catalogue(db: HubDatabase) -> None:
    catalogue.import_catalogue(db, [CatalogueItem(sku="LAMP", name="Lampe", price_cents=2499, barcodes=[GOOD[2]])])


def _levels(db: HubDatabase, store_id: str, epoch: str, seq: int, on_hand: int) -> None:
    event = {
        "seq": seq,
        "kind": "stock.received",
        "at": to_iso(utc_now()),
        "payload": {},
        "levels": [{"sku": "LAMP", "on_hand": on_hand, "reserved": 0}],
    }
    sync.exchange(
        db,
        store_id,
        SyncRequest.model_validate({"store_id": store_id, "epoch": epoch, "feed_cursor": 0, "events": [event]}),
    )


def test_a_backorder_waits_then_is_routed_when_stock_appears(db_path):
    db = HubDatabase(db_path)
    stores.register_store(db, "PAR-01", "Paris", 48.85, 2.35, secret="s" * 40)
    _catalogue(db)
    _levels(db, "PAR-01", "epoch-1", 1, 0)  # heard from, no stock
    order_id, _ = orders.place_order(
        db,
        orders.NewOrder(
            channel="web",
            channel_order_id="BO-1",
            kind="ship_from_store",
            lines=[("LAMP", 2)],
            customer={"name": "Hugo"},
            lat=48.8,
            lon=2.3,
        ),
    )
    routing.route_pending(db)
    assert db.reader().order(order_id)["status"] == "backordered"
    routing.route_pending(db, include_backorders=True)  # the jobs retry: still nothing to give
    assert db.reader().order(order_id)["status"] == "backordered"
    assert db.reader().order_assignments(order_id) == []

    _levels(db, "PAR-01", "epoch-1", 2, 5)  # a delivery arrives at the store
    routing.route_pending(db, include_backorders=True)
    [assignment] = db.reader().order_assignments(order_id)
    assert assignment["store_id"] == "PAR-01" and db.reader().order(order_id)["status"] == "routed"
    decisions = orders.order_view(db, order_id)["decisions"]
    assert len(decisions) == 2 and decisions[0]["allocations"] == [] and decisions[1]["allocations"]
