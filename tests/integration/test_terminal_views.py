"""The store terminal's screens through Flask's test client, on a real SQLite file seeded with the sample data.

Sign-in, pages in French and English, the sync banner, scans right and wrong, the till, the counter,
kerbside arrivals, and refusals that change nothing (a wrong item, a wrong code, a missing CSRF token).
Fixture names carry a ``term_`` prefix: this directory's conftest.py serves another seed of the app.
"""

import html as html_lib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.clock import to_iso, utc_now
from shared.wire import FeedMessage, MessageKind
from store_node.entrypoints.app import create_app
from store_node.entrypoints.sample import seed_sample
from store_node.services import feed
from store_node.store import StoreDatabase

STORE_ID = "TRM-01"
MANAGER = ("M001", "1234")
ASSOCIATE = ("A001", "1111")
PAGES = [
    "/terminal/queue",
    "/terminal/queue?tab=transfers",
    "/terminal/counter",
    "/terminal/till",
    "/terminal/till?mode=return",
    "/terminal/receipt",
    "/terminal/stock",
    "/terminal/stock?q=Tente",
    "/terminal/stock/SKU-00001",
    "/terminal/transfers",
]
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def term_template(tmp_path_factory) -> Path:
    """The sample store (catalogue, opening stock, staff, five assignments) made once per module."""
    path = tmp_path_factory.mktemp("terminal") / "store.db"
    app = create_app(path, STORE_ID)
    assert seed_sample(app.extensions["store_db"])
    app.extensions["store_db"].close()
    return path


@pytest.fixture
def term_app(term_template, tmp_path) -> Iterator[Flask]:
    path = tmp_path / "store.db"
    with closing(sqlite3.connect(term_template)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)
    app = create_app(path, STORE_ID)
    yield app
    app.extensions["store_db"].close()


@pytest.fixture
def term_db(term_app) -> StoreDatabase:
    return term_app.extensions["store_db"]


class Screen:
    """A browser on the terminal: the session cookie, the CSRF token of the last page, its text."""

    def __init__(self, client: FlaskClient):
        self.client = client
        self.token = ""
        self.last = None

    def get(self, path: str, **kw):
        response = self.client.get(path, **kw)
        self._keep(response)
        return response

    def post(self, path: str, data: dict | None = None, csrf: bool = True, fragment: bool = False):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        headers = {"HX-Request": "true"} if fragment else {}
        response = self.client.post(path, data=data, headers=headers)
        self._keep(response)
        return response

    def _keep(self, response) -> None:
        found = TOKEN.search(response.get_data(as_text=True))
        if found:
            self.token = found[1]
        self.last = response

    def sign_in(self, code: str, pin: str) -> "Screen":
        self.get("/terminal/signin")
        response = self.post("/terminal/signin", {"staff_code": code, "pin": pin})
        assert response.status_code == 303, text(response)
        self.get(response.location)
        return self


def text(response) -> str:
    """The page as read: tags dropped, entities decoded, spaces squeezed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", body))).replace("\u202f", " ").strip()


@pytest.fixture
def term_screen(term_app) -> Screen:
    return Screen(term_app.test_client())


@pytest.fixture
def associate(term_screen) -> Screen:
    return term_screen.sign_in(*ASSOCIATE)


def snapshot(db: StoreDatabase) -> dict:
    """Everything a refused action must leave as it was."""
    return {
        "outbox": db.outbox_health(),
        "stock": [tuple(r) for r in db.query("SELECT * FROM stock ORDER BY sku")],
        "movements": db.query("SELECT count(*) AS n FROM movements")[0]["n"],
        "lines": [tuple(r) for r in db.query("SELECT * FROM assignment_lines ORDER BY 1, 2")],
        "assignments": [tuple(r) for r in db.query("SELECT assignment_id, status FROM assignments ORDER BY 1")],
        "receipts": db.query("SELECT count(*) AS n FROM till_receipts")[0]["n"],
        "audit": db.query("SELECT count(*) AS n FROM audit")[0]["n"],
    }


def sample(db: StoreDatabase, kind: str):
    return next(a for a in db.assignments(["assigned"]) if str(a.kind) == kind)


def barcode(db: StoreDatabase, sku: str) -> str:
    return db.products([sku])[sku]["barcodes"].split()[0]


def on_hand(db: StoreDatabase, sku: str) -> int:
    return db.stock_row(sku)["on_hand"]


# ------------------------------------------------------------------ sign-in
def test_every_screen_asks_to_sign_in_first(term_screen):
    for path in PAGES:
        response = term_screen.get(path)
        assert response.status_code == 302, path
        assert response.location.startswith("/terminal/signin?next=/terminal/")
    polled = term_screen.client.get("/terminal/banner", headers={"HX-Request": "true"})
    assert polled.status_code == 401 and polled.headers["HX-Redirect"].startswith("/terminal/signin")
    assert term_screen.get("/").location == "/terminal/queue"


def test_wrong_pin_is_refused_and_signs_nobody_in(term_screen, term_db):
    term_screen.get("/terminal/signin?next=/terminal/till")
    before = snapshot(term_db)
    response = term_screen.post("/terminal/signin", {"staff_code": "A001", "pin": "9999", "next": "/terminal/till"})
    assert response.status_code == 401
    assert "Code vendeur inconnu ou code PIN erroné." in text(response)
    assert 'value="A001"' in response.get_data(as_text=True)  # the code stays, only the PIN is typed again
    assert term_screen.get("/terminal/till").status_code == 302
    assert snapshot(term_db) == before
    # the right PIN goes back to the page asked for, under the staff member's name
    response = term_screen.post("/terminal/signin", {"staff_code": "A001", "pin": "1111", "next": "/terminal/till"})
    assert response.status_code == 303 and response.location == "/terminal/till"
    assert "Lucas Bernard" in text(term_screen.get("/terminal/till"))
    # an outside address is never followed
    term_screen.post("/terminal/signout")
    term_screen.get("/terminal/signin")
    response = term_screen.post(
        "/terminal/signin", {"staff_code": "A001", "pin": "1111", "next": "https://evil.example/"}
    )
    assert response.location == "/terminal/queue"


def test_sign_out_ends_the_session(associate):
    assert associate.post("/terminal/signout").status_code == 303
    assert associate.get("/terminal/queue").status_code == 302


# ------------------------------------------------------------------ languages
@pytest.mark.parametrize(
    ("language", "heading", "price", "state"),
    [("fr", "Commandes à traiter", "89,99 €", "Autonome"), ("en", "Orders to work", "€89.99", "Standalone")],
)
def test_pages_render_in_french_and_in_english(associate, term_db, language, heading, price, state):
    response = associate.post("/terminal/language", {"language": language, "next": "/terminal/queue"})
    assert response.status_code == 303
    assert term_db.staff_member("A001")["language"] == language  # kept for the next sign-in
    for path in PAGES:
        response = associate.get(path)
        assert response.status_code == 200, path
        assert f'<html lang="{language}">' in response.get_data(as_text=True), path
    page = text(associate.get("/terminal/queue"))
    assert heading in page and state in page
    assert price in text(associate.get("/terminal/stock/SKU-00001"))  # euros in the locale, from integer cents
    assignment = term_db.assignments(["assigned"])[0]
    for suffix in ("", "/pick", "/pack", "/slip", "/label"):
        assert associate.get(f"/terminal/assignments/{assignment.assignment_id}{suffix}").status_code == 200


def test_the_staff_members_language_comes_back_at_the_next_sign_in(term_app, term_db):
    first = Screen(term_app.test_client()).sign_in(*MANAGER)
    first.post("/terminal/language", {"language": "en", "next": "/terminal/queue"})
    second = Screen(term_app.test_client()).sign_in(*MANAGER)
    assert '<html lang="en">' in second.get("/terminal/queue").get_data(as_text=True)
    other = Screen(term_app.test_client()).sign_in(*ASSOCIATE)
    assert '<html lang="fr">' in other.get("/terminal/queue").get_data(as_text=True)  # French by default


# ------------------------------------------------------------------ the banner
def test_banner_shows_the_sync_state_and_the_events_waiting(associate, term_db, term_app):
    depth = term_db.outbox_health()["depth"]
    assert depth > 0  # the sample's receipt and assignments were never sent: no hub
    banner = associate.get("/terminal/banner")
    assert f'data-depth="{depth}"' in banner.get_data(as_text=True)
    assert f"{depth} événements en attente d'envoi" in text(banner)
    assert 'data-state="standalone"' in banner.get_data(as_text=True)
    # with a sync worker: online or offline, and when it last synced
    term_app.extensions["sync_status"] = lambda: {
        "online": False,
        "hub": "http://127.0.0.1:9",
        "last_sync_at": to_iso(utc_now() - timedelta(minutes=3)),
        "last_error": "connection refused",
    }
    page = associate.get("/terminal/queue")
    assert 'data-state="offline"' in page.get_data(as_text=True)
    assert "Hors ligne" in text(page) and "il y a 3 minutes" in text(page)
    assert associate.get("/terminal/banner", headers={"HX-Request": "true"}).status_code == 200


# ------------------------------------------------------------------ queue, accept, pick
def test_queue_lists_assignments_with_kind_customer_lines_and_countdown(associate, term_db):
    page = associate.get("/terminal/queue")
    body = page.get_data(as_text=True)
    for a in term_db.assignments(["assigned"]):
        assert f'data-assignment-id="{a.assignment_id}"' in body
        assert a.order_id in text(page) and a.customer_name in text(page)
    assert re.search(r'data-deadline="[^"]+Z"', body)
    assert re.search(r">1:5\d:\d\d<", body)  # two hours to accept, counting down
    assert "Retrait en magasin" in text(page) and "Expédition depuis le magasin" in text(page)
    fragment = associate.get("/terminal/queue", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="queue"')  # the polled part alone


def test_a_wrong_scan_names_the_expected_sku_and_changes_nothing(associate, term_db):
    a = sample(term_db, "ship_from_store")
    path = f"/terminal/assignments/{a.assignment_id}"
    assert associate.post(f"{path}/accept").status_code == 303
    expected = sorted(line.sku for line in a.lines)
    wrong = next(r["sku"] for r in term_db.stock_rows("", 50) if r["sku"] not in expected and r["barcodes"])
    before = snapshot(term_db)
    response = associate.post(f"{path}/pick", {"code": barcode(term_db, wrong)}, fragment=True)
    assert response.status_code == 409
    page = text(response)
    assert f"Mauvais article : vous avez scanné {wrong}, attendu {', '.join(expected)}." in page
    assert 'data-feedback="wrong"' in response.get_data(as_text=True)
    assert snapshot(term_db) == before
    # an unknown code is refused too, naming the field
    response = associate.post(f"{path}/pick", {"code": "0000000000000"}, fragment=True)
    assert response.status_code == 400
    assert "code-barres ou référence inconnu : 0000000000000" in text(response)
    assert snapshot(term_db) == before
    # the right item: green, then done
    for n, sku in enumerate(expected):
        response = associate.post(f"{path}/pick", {"code": barcode(term_db, sku)}, fragment=True)
        assert response.status_code == 200
        kind = "done" if n == len(expected) - 1 else "ok"
        assert f'data-feedback="{kind}"' in response.get_data(as_text=True)
    assert "Tout est prélevé" in text(response)
    assert term_db.audit_trail(5, staff="A001")[0]["action"] == "assignment.pick"


def test_accept_partly_then_short_pick_then_pack_and_ship_with_a_label(associate, term_db):
    a = sample(term_db, "ship_from_store")
    path = f"/terminal/assignments/{a.assignment_id}"
    first, second = a.lines
    response = associate.post(f"{path}/accept", {f"reject-{first.line_id}": "1", "reason": "damaged"})
    assert response.status_code == 303
    assert [ln.rejected for ln in term_db.assignment(a.assignment_id).lines] == [1, 0]
    # finishing short needs a reason
    response = associate.post(f"{path}/complete-pick")
    assert response.status_code == 409 and "Donnez le motif" in text(response)
    associate.post(f"{path}/pick", {"code": second.sku, "qty": "1"}, fragment=True)
    assert associate.post(f"{path}/complete-pick").status_code == 303
    # a bad parcel row names the field; nothing is packed
    before = snapshot(term_db)
    response = associate.post(
        f"{path}/pack", {"rows": "1", "weight_grams-0": "heavy", "carrier-0": "Colissimo", "tracking_number-0": "X"}
    )
    assert response.status_code == 400
    page = text(response)
    assert "Poids (g) (colis 1) : doit être un nombre entier de grammes" in page
    assert "Numéro de suivi (colis 1) : au moins 3 caractères" in page
    assert snapshot(term_db) == before
    # add a second parcel, then pack both
    response = associate.post(f"{path}/pack", {"rows": "1", "action": "add", "weight_grams-0": "900"})
    assert 'name="tracking_number-1"' in response.get_data(as_text=True) and 'value="900"' in response.get_data(
        as_text=True
    )
    parcels = {
        "rows": "2",
        "action": "pack",
        "weight_grams-0": "900",
        "carrier-0": "Colissimo",
        "tracking_number-0": "6A12345678901",
        "weight_grams-1": "450",
        "carrier-1": "Colissimo",
        "tracking_number-1": "6A12345678902",
    }
    assert associate.post(f"{path}/pack", parcels).status_code == 303
    label = associate.get(f"{path}/label")
    body = label.get_data(as_text=True)
    assert re.findall(r'data-testid="tracking-number">([^<]+)<', body) == ["6A12345678901", "6A12345678902"]
    assert "colis 2 sur 2" in text(label) and body.count("<svg") == 2  # and a code to scan on each
    slip = text(associate.get(f"{path}/slip"))
    assert "Bon de livraison" in slip and second.sku in slip
    stock_before = on_hand(term_db, second.sku)
    assert associate.post(f"{path}/ship").status_code == 303
    assert str(term_db.assignment(a.assignment_id).status) == "shipped"
    assert on_hand(term_db, second.sku) == stock_before - 1
    assert term_db.audit_trail(1, staff="A001")[0]["action"] == "assignment.ship"


def test_reject_with_a_reason(associate, term_db):
    a = sample(term_db, "ship_from_store")
    response = associate.post(f"/terminal/assignments/{a.assignment_id}/reject", {"reason": "no_capacity"})
    assert response.status_code == 303
    assert term_db.assignment(a.assignment_id).reject_reason == "no_capacity"
    # a second try is refused clearly
    response = associate.post(f"/terminal/assignments/{a.assignment_id}/accept")
    assert response.status_code == 409 and "déjà à l'étape « Refusée »" in text(response)


# ------------------------------------------------------------------ counter and kerbside
def test_click_and_collect_is_staged_then_handed_over_against_its_code(associate, term_db):
    a = sample(term_db, "click_and_collect")
    path = f"/terminal/assignments/{a.assignment_id}"
    associate.post(f"{path}/accept")
    for line in a.lines:
        associate.post(f"{path}/pick", {"code": barcode(term_db, line.sku)}, fragment=True)
    associate.post(f"{path}/complete-pick")
    assert associate.post(f"{path}/ready").status_code == 303
    code = term_db.assignment(a.assignment_id).pickup_code
    assert code in text(associate.get(path))
    # a wrong code finds nothing and changes nothing
    before = snapshot(term_db)
    response = associate.get("/terminal/counter?code=ZZZZZZ")
    assert response.status_code == 404
    assert "Aucune commande prête à retirer avec le code ZZZZZZ" in text(response)
    response = associate.post(f"/terminal/counter/{a.assignment_id}/collect", {"pickup_code": "ZZZZZZ"})
    assert response.status_code == 409 and "Le code de retrait ne correspond pas" in text(response)
    assert snapshot(term_db) == before
    # the right code (typed in lower case) shows the order; hand-over
    response = associate.get(f"/terminal/counter?code={code.lower()}")
    assert response.status_code == 200 and a.customer_name in text(response)
    response = associate.post(f"/terminal/counter/{a.assignment_id}/collect", {"pickup_code": code})
    assert response.status_code == 303
    assert str(term_db.assignment(a.assignment_id).status) == "collected"
    assert "Remise à" in text(associate.get(response.location))


def test_kerbside_arrival_pops_up_on_every_page_until_acknowledged(associate, term_db):
    a = sample(term_db, "click_and_collect")
    cursor = int(term_db.meta()["feed_cursor"])
    message = FeedMessage(
        seq=cursor + 1,
        kind=MessageKind.KERBSIDE_ARRIVAL,
        at=to_iso(utc_now()),
        payload={"assignment_id": a.assignment_id, "order_id": a.order_id, "note": "voiture bleue"},
    )
    feed.apply_feed(term_db, [message])
    for path in ("/terminal/queue", "/terminal/till", "/terminal/kerbside"):
        page = associate.get(path)
        assert f'data-assignment-id="{a.assignment_id}"' in page.get_data(as_text=True)
        assert "Client en attente devant le magasin" in text(page) and "voiture bleue" in text(page)
    depth = term_db.outbox_health()["depth"]
    response = associate.post(f"/terminal/kerbside/{a.assignment_id}/ack", fragment=True)
    assert response.status_code == 200 and "voiture bleue" not in text(response)
    assert "voiture bleue" not in text(associate.get("/terminal/queue"))
    assert term_db.outbox_health()["depth"] == depth + 1  # head office hears who went out
    assert term_db.audit_trail(1)[0]["action"] == "kerbside.acknowledge"
    assert term_db.audit_trail(1)[0]["staff"] == "A001"
    again = associate.post(f"/terminal/kerbside/{a.assignment_id}/ack", fragment=True)
    assert again.status_code == 409 and "Quelqu'un s'occupe déjà" in text(again)


# ------------------------------------------------------------------ till, stock, goods in
def test_a_sale_through_the_till_changes_stock_and_is_audited_under_the_staff_code(associate, term_db):
    sku = "SKU-00002"
    before = on_hand(term_db, sku)
    code = barcode(term_db, sku)
    response = associate.post("/terminal/basket/sale/scan", {"code": code, "qty": "1"}, fragment=True)
    assert response.status_code == 200 and 'data-feedback="ok"' in response.get_data(as_text=True)
    response = associate.post("/terminal/basket/sale/scan", {"code": code, "qty": "1"}, fragment=True)
    price = term_db.stock_row(sku)["price_cents"]
    assert f"{price * 2 // 100},{price * 2 % 100:02d} €" in text(response)  # one line of two, in euros
    unknown = associate.post("/terminal/basket/sale/scan", {"code": "999"}, fragment=True)
    assert unknown.status_code == 400 and "inconnu" in text(unknown)
    assert on_hand(term_db, sku) == before  # nothing sold while scanning
    response = associate.post("/terminal/basket/sale/validate")
    assert response.status_code == 303
    assert "Vente enregistrée" in text(associate.get(response.location))
    assert on_hand(term_db, sku) == before - 2
    audit = term_db.audit_trail(1)[0]
    assert (audit["action"], audit["staff"]) == ("till.sale", "A001")
    receipt = term_db.query("SELECT * FROM till_receipts ORDER BY rowid DESC LIMIT 1")[0]
    assert receipt["staff"] == "A001" and receipt["total_cents"] == price * 2
    # the basket is empty again; validating an empty basket is refused
    assert associate.post("/terminal/basket/sale/validate").status_code == 400


def test_a_damaged_return_is_recorded_without_going_back_on_the_shelf(associate, term_db):
    sku = "SKU-00003"
    before = on_hand(term_db, sku)
    associate.post("/terminal/basket/return/scan", {"code": sku, "condition": "damaged"}, fragment=True)
    associate.post("/terminal/basket/return/scan", {"code": sku, "condition": "sellable"}, fragment=True)
    assert associate.post("/terminal/basket/return/validate").status_code == 303
    assert on_hand(term_db, sku) == before + 1
    assert term_db.audit_trail(1)[0]["action"] == "till.return"


def test_stock_lookup_count_and_goods_receipt(associate, term_db):
    code = barcode(term_db, "SKU-00004")
    response = associate.get(f"/terminal/stock?q={code}")
    assert response.status_code == 303 and response.location == "/terminal/stock/SKU-00004"
    assert associate.get("/terminal/stock?q=nothing-like-this").status_code == 404
    associate.get("/terminal/stock/SKU-00004")
    bad = associate.post("/terminal/stock/SKU-00004/count", {"counted": "-2"})
    assert bad.status_code == 400 and "Quantité comptée" in text(bad)
    assert associate.post("/terminal/stock/SKU-00004/count", {"counted": "17"}).status_code == 303
    assert on_hand(term_db, "SKU-00004") == 17
    associate.post("/terminal/basket/receipt/scan", {"code": code, "qty": "5"}, fragment=True)
    assert associate.post("/terminal/basket/receipt/validate", {"reference": "BL-77"}).status_code == 303
    assert on_hand(term_db, "SKU-00004") == 22
    assert term_db.audit_trail(1)[0]["target"] == "BL-77"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(associate, term_db):
    associate.post("/terminal/basket/sale/scan", {"code": "SKU-00005"}, fragment=True)
    before = snapshot(term_db)
    response = associate.post("/terminal/basket/sale/validate", csrf=False)
    assert response.status_code == 400 and "Ce formulaire a expiré" in text(response)
    a = sample(term_db, "ship_from_store")
    assert associate.post(f"/terminal/assignments/{a.assignment_id}/accept", csrf=False).status_code == 400
    wrong = associate.post(f"/terminal/assignments/{a.assignment_id}/accept", {"csrf_token": "forged"})
    assert wrong.status_code == 400
    assert snapshot(term_db) == before


# ------------------------------------------------------------------ transfers from other stores
def _announce_transfer(db: StoreDatabase, lines: list[tuple[str, int]]) -> str:
    cursor = int(db.meta()["feed_cursor"])
    payload = {
        "transfer_id": "SRC-01-TR-9",
        "order_id": "TR-9",
        "source_store_id": "SRC-01",
        "shipped_at": to_iso(utc_now()),
        "lines": [{"line_id": str(n), "sku": sku, "qty": qty} for n, (sku, qty) in enumerate(lines, 1)],
    }
    message = FeedMessage(seq=cursor + 1, kind=MessageKind.TRANSFER_INCOMING, at=to_iso(utc_now()), payload=payload)
    assert feed.apply_feed(db, [message])["applied"][0]["outcome"] == "transfer_announced"
    return payload["transfer_id"]


def test_a_transfer_is_counted_in_by_scanning_with_its_discrepancy_explained(associate, term_db):
    tid = _announce_transfer(term_db, [("SKU-00001", 2), ("SKU-00002", 1)])
    listing = associate.get("/terminal/transfers")
    assert listing.status_code == 200 and "SRC-01" in text(listing)

    associate.get(f"/terminal/transfers/{tid}")
    scanned = associate.post(f"/terminal/transfers/{tid}/scan", {"code": barcode(term_db, "SKU-00001")})
    assert scanned.status_code == 200 and "1 compté" in text(scanned)
    before = snapshot(term_db)
    stranger = barcode(term_db, "SKU-00009")
    wrong = associate.post(f"/terminal/transfers/{tid}/scan", {"code": stranger})
    assert wrong.status_code == 409 and f"{stranger} n'est pas dans ce transfert" in text(wrong)

    # one unit of SKU-00001 and nothing of SKU-00002 arrived: a reason is required, nothing changes without it
    form = {"received-1": "1", "damaged-1": "0", "received-2": "0", "damaged-2": "0"}
    refused = associate.post(f"/terminal/transfers/{tid}/receive", form)
    assert refused.status_code == 400 and "Indiquez pourquoi le comptage diffère" in text(refused)
    assert snapshot(term_db) == before

    on_hand = term_db.stock_items(["SKU-00001"])["SKU-00001"].on_hand
    done = associate.post(f"/terminal/transfers/{tid}/receive", {**form, "reason": "un carton manquant"})
    assert done.status_code == 303
    assert term_db.stock_items(["SKU-00001"])["SKU-00001"].on_hand == on_hand + 1
    assert term_db.reader().incoming_transfer(tid)["received_by"] == ASSOCIATE[0]
    assert "Transfert réceptionné" in text(associate.get(done.location))
