"""The hub's screens through Flask's test client on a real SQLite file: the head-office console
(sign-in, pages in French and English, audited changes, refused input) and the customer page.

Fixture names carry a ``hub_`` prefix: this directory's conftest.py serves the store node's app.
"""

import html as html_lib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central_sync.entrypoints.app import create_app
from central_sync.services import catalogue, console_users, orders, routing, stores, sync
from central_sync.store import HubDatabase
from shared.barcodes import ean13
from shared.clock import to_iso, utc_now
from shared.wire import CatalogueItem, EventKind, OutboxEvent, StockLevel, SyncRequest

USER, PASSWORD = "anne.martin", "correct horse battery"
STORES = {"PAR-01": (48.8566, 2.3522, "Paris"), "LYO-01": (45.764, 4.8357, "Lyon")}
ITEMS = [
    CatalogueItem(sku="TENT-2", name="Tente 2 places", price_cents=7999, barcodes=[ean13("376123400001")]),
    CatalogueItem(sku="LAMP", name="Lampe frontale", price_cents=2499, barcodes=[ean13("376123400002")]),
]
PAGES = ["/console/dashboard", "/console/dashboard/live", "/console/stock", "/console/orders",
         "/console/stores", "/console/audit"]  # fmt: skip


class HubSetup:
    """A hub with two stores that have synced stock, a console user, and orders placed through the service."""

    def __init__(self, app: Flask):
        self.app = app
        self.db: HubDatabase = app.extensions["hub_db"]
        self.seq = {store_id: 0 for store_id in STORES}
        for store_id, (lat, lon, city) in STORES.items():
            stores.register_store(
                self.db, store_id, f"Comptoir {city}", lat, lon, city=city, address="1 rue de la Paix",
                postal_code="75002", opening_hours="Lun-Sam 09:30-19:30", secret="s3cret-" + store_id,
            )  # fmt: skip
        catalogue.import_catalogue(self.db, ITEMS)
        console_users.add_user(self.db, USER, "Anne Martin", PASSWORD)
        for store_id in STORES:
            self.exchange(store_id, EventKind.STOCK_SNAPSHOT, levels=[("TENT-2", 5), ("LAMP", 9)])

    def exchange(self, store_id: str, kind: EventKind, payload: dict | None = None, levels=()) -> None:
        """One sync exchange of ``store_id`` carrying one event (stock levels as absolute figures)."""
        self.seq[store_id] += 1
        event = OutboxEvent(
            seq=self.seq[store_id],
            kind=kind,
            at=to_iso(utc_now()),
            staff="M001",
            payload=payload or {},
            levels=[StockLevel(sku=sku, on_hand=qty, reserved=0) for sku, qty in levels],
        )
        request = SyncRequest(store_id=store_id, epoch="epoch-" + store_id, feed_cursor=0, events=[event])
        sync.exchange(self.db, store_id, request)

    def place(self, channel_order_id: str, kind: str = "click_and_collect") -> str:
        new = orders.NewOrder(
            channel="web",
            channel_order_id=channel_order_id,
            kind=kind,
            lines=[("TENT-2", 1), ("LAMP", 2)],
            customer={"name": "Léa Petit", "email": "lea@example.fr"},
            pickup_store_id="LYO-01" if kind == "click_and_collect" else None,
            lat=48.85 if kind == "ship_from_store" else None,
            lon=2.35 if kind == "ship_from_store" else None,
        )
        order_id, _ = orders.place_order(self.db, new)
        routing.route_pending(self.db)
        return order_id

    def make_ready(self, order_id: str, code: str = "482913") -> None:
        """The pickup store reports the order staged, with its pickup code, through sync."""
        [assignment] = orders.order_view(self.db, order_id)["assignments"]
        for status in ("accepted", "picked"):
            self.exchange(assignment["store_id"], EventKind.ASSIGNMENT_ACCEPTED if status == "accepted"
                          else EventKind.ASSIGNMENT_PROGRESSED,
                          {"assignment_id": assignment["assignment_id"], "status": status})  # fmt: skip
        self.exchange(
            assignment["store_id"],
            EventKind.ASSIGNMENT_PROGRESSED,
            {"assignment_id": assignment["assignment_id"], "status": "ready_for_pickup",
             "detail": {"pickup_code": code, "notify_customer": True}},
        )  # fmt: skip

    def audit(self) -> list[dict]:
        return self.db.reader().audit_trail(1000)

    def store(self, store_id: str) -> dict:
        return dict(self.db.reader().store(store_id))


@pytest.fixture
def hub_app(tmp_path) -> Iterator[Flask]:
    app = create_app(tmp_path / "hub.sqlite")
    app.config["TESTING"] = True
    yield app
    app.extensions["hub_db"].close()


@pytest.fixture
def hub(hub_app) -> HubSetup:
    return HubSetup(hub_app)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: FlaskClient, username: str = USER, password: str = PASSWORD):
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    return client.post("/console/login", data={"csrf_token": token, "username": username, "password": password})


def set_language(client: FlaskClient, language: str, page: str = "/console/login") -> None:
    token = csrf_of(client.get(page).get_data(as_text=True))
    answer = client.post("/language", data={"csrf_token": token, "language": language, "next": page})
    assert answer.status_code == 303


@pytest.fixture
def console(hub, hub_app) -> FlaskClient:
    """A signed-in head-office user's browser."""
    client = hub_app.test_client()
    assert sign_in(client).status_code == 303
    return client


def text(answer) -> str:
    """The page as read: entities decoded, French's narrow no-break spaces as plain spaces."""
    return html_lib.unescape(answer.get_data(as_text=True)).replace("\u202f", " ")


def post_form(client: FlaskClient, path: str, data: dict, page: str = "/console/stores"):
    """Submit a form the way a browser does: with the CSRF token of the page it came from."""
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


# ------------------------------------------------------------------ sign-in
@pytest.mark.parametrize("page", PAGES + ["/console/orders/WEB-X"])
def test_every_console_page_needs_a_signed_in_user(hub, hub_app, page):
    client = hub_app.test_client()
    answer = client.get(page)
    assert answer.status_code == 302
    assert answer.location.startswith("/console/login?next=")
    polled = client.get(page, headers={"HX-Request": "true"})  # htmx polling after the session ended
    assert polled.status_code == 401 and polled.headers["HX-Redirect"].startswith("/console/login")


def test_wrong_password_is_refused_and_signs_nobody_in(hub, hub_app):
    client = hub_app.test_client()
    answer = sign_in(client, USER, "not the password")
    assert answer.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in answer.get_data(as_text=True)
    assert sign_in(client, "nobody", PASSWORD).status_code == 401
    assert client.get("/console/dashboard").status_code == 302


def test_sign_in_goes_back_to_the_page_asked_for_and_never_off_site(hub, hub_app):
    client = hub_app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    form = {"csrf_token": token, "username": USER, "password": PASSWORD}
    answer = client.post("/console/login", data={**form, "next": "/console/stock?q=LAMP"})
    assert answer.location == "/console/stock?q=LAMP"
    client = hub_app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    answer = client.post("/console/login", data={**form, "csrf_token": token, "next": "//evil.example/x"})
    assert answer.location == "/console/dashboard"


def test_sign_out_ends_the_session(console):
    token = csrf_of(console.get("/console/dashboard").get_data(as_text=True))
    assert console.post("/console/logout", data={"csrf_token": token}).status_code == 303
    assert console.get("/console/dashboard").status_code == 302


def test_session_key_is_kept_in_the_database_so_sessions_survive_a_restart(hub, hub_app, tmp_path):
    again = create_app(tmp_path / "hub.sqlite")
    try:
        assert again.secret_key == hub_app.secret_key and len(again.secret_key) >= 32
    finally:
        again.extensions["hub_db"].close()


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(hub, console):
    before, audit = hub.store("PAR-01"), hub.audit()
    answer = console.post("/console/stores/PAR-01", data={"daily_capacity": "7", "opening_hours": "x"})
    assert answer.status_code == 400
    answer = console.post("/console/stores/PAR-01", data={"csrf_token": "forged", "daily_capacity": "7"})
    assert answer.status_code == 400
    assert hub.store("PAR-01") == before and hub.audit() == audit


# ------------------------------------------------------------------ pages, French and English
@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", {"dashboard": "Réseau de magasins", "stock": "Disponible à la vente", "money": "79,99\u00a0€",
                "orders": "Dernières commandes", "order": "Décisions d'orientation", "stores": "Capacité journalière",
                "audit": "Journal des modifications"}),
        ("en", {"dashboard": "Network of stores", "stock": "Available to promise", "money": "€79.99",
                "orders": "Latest orders", "order": "Routing decisions", "stores": "Daily capacity",
                "audit": "Audit trail"}),
    ],
)  # fmt: skip
def test_every_page_renders_in_french_and_in_english(hub, console, language, words):
    order_id = hub.place("WEB-1001")
    set_language(console, language, "/console/dashboard")
    barcode = ITEMS[0].barcodes[0]

    def page(path: str) -> str:
        answer = console.get(path)
        assert answer.status_code == 200, path
        html = answer.get_data(as_text=True)
        assert f'<html lang="{language}">' in html or path.endswith("/live")
        return html

    dashboard = page("/console/dashboard")
    assert words["dashboard"] in dashboard
    assert dashboard.count('class="store-dot online"') == 2
    assert "PAR-01" in page("/console/dashboard/live")
    stock = page(f"/console/stock?q={barcode}")  # found by barcode
    assert words["stock"] in stock and words["money"] in stock and "TENT-2" in stock
    assert stock.count('<tr data-store-id="') == 2
    assert words["orders"] in page("/console/orders")
    assert order_id in page("/console/orders?q=Petit")  # by customer
    order = page(f"/console/orders/{order_id}")
    assert words["order"] in order and "pickup store" in order  # the router's reasons
    assert words["stores"] in page("/console/stores")
    assert words["audit"] in page("/console/audit")


def test_language_is_french_by_default_and_follows_the_user(hub, hub_app):
    client = hub_app.test_client()
    assert '<html lang="fr">' in client.get("/console/login").get_data(as_text=True)
    sign_in(client)
    set_language(client, "en", "/console/dashboard")
    assert hub.db.reader().console_user_named(USER)["language"] == "en"
    other = hub_app.test_client()  # another browser, no cookie: the user's own language
    sign_in(other)
    assert '<html lang="en">' in other.get("/console/dashboard").get_data(as_text=True)


def test_unknown_order_is_a_404_page(console):
    answer = console.get("/console/orders/NOPE-1")
    assert answer.status_code == 404 and "Introuvable" in answer.get_data(as_text=True)


# ------------------------------------------------------------------ changes: applied and audited
def test_store_settings_change_is_applied_audited_and_sent_to_the_store(hub, console):
    head_before = hub.db.reader().feed_head("PAR-01")
    answer = post_form(
        console, "/console/stores/PAR-01",
        {"click_and_collect": "1", "daily_capacity": "123", "opening_hours": "Lun-Ven 10:00-18:00"},
    )  # fmt: skip
    assert answer.status_code == 303
    store = hub.store("PAR-01")
    assert (store["daily_capacity"], store["opening_hours"]) == (123, "Lun-Ven 10:00-18:00")
    assert (store["ship_from_store"], store["click_and_collect"]) == (0, 1)
    [entry] = [a for a in hub.audit() if a["action"] == "store.settings"]
    assert entry["actor"] == USER and entry["target"] == "PAR-01"
    before = {"ship_from_store": 1, "daily_capacity": 200, "opening_hours": "Lun-Sam 09:30-19:30"}
    assert entry["detail"]["before"] == before
    assert entry["detail"]["after"]["daily_capacity"] == 123
    sent = hub.db.reader().feed_after("PAR-01", head_before, 10)
    assert {m["payload"]["key"] for m in sent if m["kind"] == "setting"} == {
        "ship_from_store", "daily_capacity", "opening_hours"}  # fmt: skip
    page = console.get("/console/stores").get_data(as_text=True)
    assert "Réglages de PAR-01 enregistrés." in page
    assert "Capacité journalière" in console.get("/console/audit").get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"daily_capacity": "lots", "opening_hours": ""}, ["Capacité journalière : doit être un nombre entier"]),
        ({"daily_capacity": "-1"}, ["Capacité journalière : doit valoir au moins 0"]),
        ({"daily_capacity": "", "opening_hours": "x" * 201},
         ["Capacité journalière : doit être un nombre entier", "Horaires d'ouverture : 200 caractères au plus"]),
    ],
)  # fmt: skip
def test_bad_store_settings_are_refused_naming_every_field_and_change_nothing(hub, console, form, named):
    before, audit, head = hub.store("PAR-01"), hub.audit(), hub.db.reader().feed_head("PAR-01")
    answer = post_form(console, "/console/stores/PAR-01", {"ship_from_store": "1", **form})
    assert answer.status_code == 400
    html = text(answer)
    assert "Rien n'a été enregistré" in html
    for message in named:
        assert message in html
    assert 'aria-invalid="true"' in html
    assert hub.store("PAR-01") == before and hub.audit() == audit and hub.db.reader().feed_head("PAR-01") == head


def test_routing_settings_are_applied_audited_or_refused_whole(hub, console):
    form = {"fresh_seconds": "90", "accept_minutes": "20", "transfer_accept_hours": "48"}
    assert post_form(console, "/console/settings", form).status_code == 303
    r = hub.db.reader()
    assert (routing.setting(r, "fresh_seconds"), routing.setting(r, "accept_minutes")) == (90, 20)
    changes = {a["target"]: a["detail"] for a in hub.audit() if a["action"] == "setting.changed"}
    assert changes == {"fresh_seconds": {"before": 120, "after": 90}, "accept_minutes": {"before": 30, "after": 20}}
    audit = hub.audit()
    answer = post_form(console, "/console/settings", {**form, "fresh_seconds": "1", "accept_minutes": "abc"})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "doit valoir au moins 5" in html and "doit être un nombre entier" in html
    assert routing.setting(hub.db.reader(), "fresh_seconds") == 90 and hub.audit() == audit


def test_safety_stock_is_set_audited_and_unknown_store_or_sku_refused(hub, console):
    answer = post_form(console, "/console/safety-stock", {"store_id": "PAR-01", "sku": "LAMP", "qty": "2"})
    assert answer.status_code == 303
    assert hub.db.reader().safety_stock()[("PAR-01", "LAMP")] == 2
    assert any(a["action"] == "safety_stock.set" and a["target"] == "PAR-01/LAMP" for a in hub.audit())
    audit = hub.audit()
    answer = post_form(console, "/console/safety-stock", {"store_id": "NOPE", "sku": "NOPE", "qty": "-3"})
    assert answer.status_code == 400 and "Quantité" in answer.get_data(as_text=True)
    answer = post_form(console, "/console/safety-stock", {"store_id": "NOPE", "sku": "NOPE", "qty": "3"})
    html = text(answer)
    assert answer.status_code == 400
    assert "Magasin : magasin inconnu" in html and "Référence : référence inconnue" in html
    assert hub.db.reader().safety_stock() == {("PAR-01", "LAMP"): 2} and hub.audit() == audit


def test_cancelling_an_order_sends_cancellations_and_is_audited_once(hub, console):
    order_id = hub.place("WEB-2002", kind="ship_from_store")
    page = f"/console/orders/{order_id}"
    answer = post_form(console, f"{page}/cancel", {"reason": "client a changé d'avis"}, page)
    assert answer.status_code == 303
    view = orders.order_view(hub.db, order_id)
    assert view["status"] == "cancelled"
    assert all(a["status"] == "cancel_requested" for a in view["assignments"])
    [entry] = [a for a in hub.audit() if a["action"] == "order.cancelled"]
    assert entry["target"] == order_id and entry["detail"]["reason"] == "client a changé d'avis"
    html = console.get(page).get_data(as_text=True)
    assert "Annuler la commande" not in html  # nothing left to cancel
    answer = post_form(console, f"{page}/cancel", {"reason": "again"}, page)
    assert answer.status_code == 409 and len([a for a in hub.audit() if a["action"] == "order.cancelled"]) == 1


def test_a_transfer_between_stores_shows_in_the_console_but_has_no_cancel_nor_customer_page(hub, console, hub_app):
    from central_sync.services import transfers

    order_id = transfers.request_transfer(hub.db, "PAR-01", "LYO-01", [("LAMP", 2)], reason="rebalance")
    page = f"/console/orders/{order_id}"
    html = text(console.get(page))
    assert "Transfert entre magasins" in html and "Transfert demandé" in html
    assert "Annuler la commande" not in html
    assert post_form(console, f"{page}/cancel", {"reason": "x"}, page).status_code == 409
    token = orders.order_view(hub.db, order_id)["public_token"]
    assert hub_app.test_client().get(f"/o/{token}").status_code == 404


# ------------------------------------------------------------------ the customer page
def test_customer_page_of_an_unknown_link_is_a_404(hub, hub_app):
    answer = hub_app.test_client().get("/o/not-a-real-token")
    assert answer.status_code == 404 and "Nous ne trouvons pas cette commande" in answer.get_data(as_text=True)


def test_customer_page_before_and_after_ready_then_im_here(hub, hub_app):
    order_id = hub.place("WEB-3003")
    token = orders.order_view(hub.db, order_id)["public_token"]
    client = hub_app.test_client()
    html = client.get(f"/o/{token}").get_data(as_text=True)
    assert "Comptoir Lyon" in html and "Lun-Sam 09:30-19:30" in html  # the pickup store
    assert 'data-testid="pickup-code"' not in html and "hx-trigger" in html  # polls until ready
    token_csrf = csrf_of(html)
    refused = client.post(f"/o/{token}/here", data={"csrf_token": token_csrf})
    assert refused.status_code == 409 and "pas encore prête" in refused.get_data(as_text=True)

    hub.make_ready(order_id, "482913")
    answer = client.get(f"/o/{token}")
    assert answer.headers["Cache-Control"] == "no-store"
    html = answer.get_data(as_text=True)
    assert 'data-status="ready_for_pickup"' in html and ">482913<" in html
    assert re.search(r'<div class="qr" data-testid="pickup-qr"><svg [^>]*>', html)
    head = hub.db.reader().feed_head("LYO-01")
    assert client.post(f"/o/{token}/here", data={"csrf_token": token_csrf, "note": "voiture bleue"}).status_code == 303
    [message] = hub.db.reader().feed_after("LYO-01", head, 10)
    assert message["kind"] == "kerbside_arrival" and message["payload"]["note"] == "voiture bleue"
    assert "Le magasin sait que vous êtes là" in client.get(f"/o/{token}").get_data(as_text=True)
    set_language(client, "en", f"/o/{token}")
    assert "Your pickup code" in client.get(f"/o/{token}").get_data(as_text=True)


def test_im_here_without_the_page_token_is_refused(hub, hub_app):
    order_id = hub.place("WEB-4004")
    hub.make_ready(order_id)
    token = orders.order_view(hub.db, order_id)["public_token"]
    head = hub.db.reader().feed_head("LYO-01")
    assert hub_app.test_client().post(f"/o/{token}/here", data={"note": "x"}).status_code == 400
    assert hub.db.reader().feed_head("LYO-01") == head


def test_im_here_with_a_too_long_note_is_refused_naming_the_field(hub, hub_app):
    order_id = hub.place("WEB-5005")
    hub.make_ready(order_id)
    token = orders.order_view(hub.db, order_id)["public_token"]
    client = hub_app.test_client()
    csrf = csrf_of(client.get(f"/o/{token}").get_data(as_text=True))
    head = hub.db.reader().feed_head("LYO-01")
    answer = client.post(f"/o/{token}/here", data={"csrf_token": csrf, "note": "x" * 201})
    assert answer.status_code == 400 and "Note : 200 caractères au plus" in text(answer)
    assert hub.db.reader().feed_head("LYO-01") == head


def test_relative_times_are_said_in_the_users_language(hub, console):
    hub.exchange("PAR-01", EventKind.STOCK_COUNTED, levels=[("LAMP", 8)])
    html = console.get("/console/dashboard").get_data(as_text=True)
    assert "il y a" in html


# ------------------------------------------------------------------ translations
def test_every_screen_string_has_a_french_translation_and_the_catalogue_is_compiled(tmp_path):
    """Extract the strings of the code and templates now: each one is in fr/messages.po, translated,
    and the committed messages.mo says the same (run pybabel extract/update/compile: see babel.cfg)."""
    from babel.messages.frontend import CommandLineInterface
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2] / "central_sync"
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(root / "babel.cfg"), "-k", "_l", "-o", str(pot), str(root),
         str(root.parent / "shared")]
    )
    with pot.open("rb") as fh:
        wanted = {_key(m.id) for m in read_po(fh) if m.id}
    with (root / "translations/fr/LC_MESSAGES/messages.po").open("rb") as fh:
        french = {_key(m.id): _key(m.string) for m in read_po(fh) if m.id}
    with (root / "translations/fr/LC_MESSAGES/messages.mo").open("rb") as fh:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(fh) if m.id}
    assert sorted(map(str, wanted - set(french))) == [], "strings missing from fr/messages.po"
    untranslated = [i for i, s in french.items() if not (all(s) if isinstance(s, tuple) else s)]
    assert untranslated == []
    assert compiled == {i: s for i, s in french.items() if i in wanted}, "messages.mo is older than messages.po"


def _key(value):
    """A plural message's forms (a list or a tuple, depending on the reader) as a tuple."""
    return tuple(value) if isinstance(value, list | tuple) else value
