"""The console's transfers screen on a real SQLite file: request a transfer (bad input refused naming
the field, nothing created), it reaches the source's feed, the list shows it, and the change is audited."""

import re

import pytest
from test_planning_views import PASSWORD, USER, csrf_of, plain

from central_sync.entrypoints.app import create_app
from central_sync.services import catalogue, console_users, stores
from shared.barcodes import ean13
from shared.wire import CatalogueItem


@pytest.fixture
def hub_app(tmp_path):
    app = create_app(tmp_path / "hub.sqlite")
    app.config["TESTING"] = True
    db = app.extensions["hub_db"]
    console_users.add_user(db, USER, "Anne Martin", PASSWORD)
    for store_id, lat in (("PAR-01", 48.85), ("LIL-01", 50.63)):
        stores.register_store(db, store_id, store_id, lat, 2.35, secret="s" * 40)
    catalogue.import_catalogue(
        db, [CatalogueItem(sku="LAMP", name="Lampe", price_cents=2499, barcodes=[ean13("376123400001")])]
    )
    yield app
    db.close()


@pytest.fixture
def console(hub_app):
    client = hub_app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    answer = client.post("/console/login", data={"csrf_token": token, "username": USER, "password": PASSWORD})
    assert answer.status_code == 303
    return client


def test_head_office_requests_a_transfer_from_the_console(hub_app, console):
    db = hub_app.extensions["hub_db"]
    page = console.get("/console/transfers")
    assert page.status_code == 200
    token = csrf_of(page.get_data(as_text=True))
    form = {"csrf_token": token, "source_store_id": "PAR-01", "destination_store_id": "PAR-01", "lines": "LAMP 3"}

    refused = console.post("/console/transfers", data=form)
    assert refused.status_code == 400 and "a store cannot send a transfer to itself" in plain(refused)
    unreadable = console.post("/console/transfers", data={**form, "destination_store_id": "LIL-01", "lines": "LAMP x"})
    assert unreadable.status_code == 400 and "ligne 1 : une référence" in plain(unreadable)
    assert db.reader().transfers() == []

    done = console.post("/console/transfers", data={**form, "destination_store_id": "LIL-01", "reason": "salon"})
    assert done.status_code == 303
    [transfer] = db.reader().transfers()
    assert (transfer["store_id"], transfer["destination_store_id"], transfer["status"]) == (
        "PAR-01",
        "LIL-01",
        "pending",
    )
    kinds = [m["kind"] for m in db.reader().feed_after("PAR-01", 0, 50)]
    assert kinds[-1] == "assignment"
    listing = plain(console.get("/console/transfers"))
    assert re.search(r"PAR-01 LIL-01 .*LAMP × 3", listing)
    [entry] = [a for a in db.reader().audit_trail(10) if a["action"] == "transfer.requested"]
    assert entry["actor"] == USER
