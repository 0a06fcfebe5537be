"""One store node app on a real SQLite file, a small catalogue and staff, terminals and a hub's feed."""

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.barcodes import ean13
from shared.clock import to_iso, utc_now
from shared.wire import FeedMessage, MessageKind
from store_node.entrypoints.app import create_app
from store_node.services import staff, till
from store_node.services.till import TillLine
from store_node.store import StoreDatabase

STORE_ID = "T-01"
# XTENT-2 contains TENT-2: lookups by SKU must be exact, not a search
CATALOGUE = [
    ("TENT-2", "Tente 2 places", 7999, "E1", 5),
    ("XTENT-2", "Tente XL 2 places", 12999, "E2", 3),
    ("LAMP", "Lampe frontale", 2499, "D4", 10),
    ("SOCKS", "Chaussettes (lot de 3)", 899, "C1", 2),
]
BARCODE = {sku: ean13(f"376123400{n:03d}") for n, (sku, *_rest) in enumerate(CATALOGUE, start=1)}
OPENING = {sku: qty for sku, *_rest, qty in CATALOGUE}
MANAGER = ("M001", "1234")
ASSOCIATE = ("A001", "1111")


def seed(db: StoreDatabase) -> None:
    with db.transaction() as tx:
        tx.upsert_products(
            {"sku": sku, "name": name, "price_cents": cents, "location": loc, "barcodes": [BARCODE[sku]]}
            for sku, name, cents, loc, _ in CATALOGUE
        )
    staff.add_staff(db, MANAGER[0], "Camille Martin", MANAGER[1], "manager", "fr")
    staff.add_staff(db, ASSOCIATE[0], "Lucas Bernard", ASSOCIATE[1], "associate", "fr")
    till.receive_goods(db, MANAGER[0], [TillLine(sku, qty) for sku, qty in OPENING.items()], "opening")


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A seeded store database made once, and a token per staff member (valid on its copies)."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    app = create_app(path, STORE_ID)
    seed(app.extensions["store_db"])
    client = app.test_client()
    tokens = {code: sign_in(client, code, pin).token for code, pin in (MANAGER, ASSOCIATE)}
    app.extensions["store_db"].close()
    return path, tokens


@pytest.fixture
def app(template, tmp_path) -> Flask:
    """The store app on its own copy of the seeded database (hashing PINs per test would be slow)."""
    path = tmp_path / "store.db"
    with closing(sqlite3.connect(template[0])) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)
    app = create_app(path, STORE_ID)
    yield app
    app.extensions["store_db"].close()


@pytest.fixture
def db(app) -> StoreDatabase:
    return app.extensions["store_db"]


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


class Terminal:
    """A signed-in staff member's terminal: JSON calls with the bearer token."""

    def __init__(self, client: FlaskClient, code: str, token: str):
        self.client, self.code, self.token = client, code, token

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **query):
        return self.client.get(path, query_string=query, headers=self.headers)

    def post(self, path: str, json: dict | None = None):
        return self.client.post(path, json=json if json is not None else {}, headers=self.headers)

    def ok(self, method: str, path: str, json: dict | None = None, status: int = 200) -> dict:
        resp = self.post(path, json) if method == "POST" else self.get(path, **(json or {}))
        assert resp.status_code == status, resp.get_json()
        return resp.get_json()

    # the reads tests use most
    def stock(self, sku: str) -> tuple[int, int]:
        item = self.ok("GET", f"/api/stock/{sku}")
        return item["on_hand"], item["reserved"]

    def assignment(self, assignment_id: str) -> dict:
        return self.ok("GET", f"/api/assignments/{assignment_id}")

    def events(self) -> list[dict]:
        return self.ok("GET", "/api/outbox", {"limit": 5000})["events"]


def sign_in(client: FlaskClient, code: str, pin: str) -> Terminal:
    resp = client.post("/api/session", json={"staff_code": code, "pin": pin})
    assert resp.status_code == 200, resp.get_json()
    return Terminal(client, code, resp.get_json()["token"])


@pytest.fixture
def manager(client, template) -> Terminal:
    return Terminal(client, MANAGER[0], template[1][MANAGER[0]])


@pytest.fixture
def associate(client, template) -> Terminal:
    return Terminal(client, ASSOCIATE[0], template[1][ASSOCIATE[0]])


@dataclass
class Hub:
    """Plays the hub's feed by hand through POST /api/feed (manager only)."""

    terminal: Terminal
    sent: list[FeedMessage] = field(default_factory=list)
    assignments: int = 0

    def message(self, kind: MessageKind, payload: dict) -> FeedMessage:
        message = FeedMessage(seq=len(self.sent) + 1, kind=kind, at=to_iso(utc_now()), payload=payload)
        self.sent.append(message)
        return message

    def deliver(self, *messages: FeedMessage) -> dict:
        body = {"messages": [m.model_dump(mode="json") for m in messages]}
        return self.terminal.ok("POST", "/api/feed", body)

    def send(self, kind: MessageKind, payload: dict) -> str:
        """Deliver one new message; answers its outcome."""
        result = self.deliver(self.message(kind, payload))
        [applied] = result["applied"]
        return applied["outcome"]

    def assignment_payload(
        self, *lines: tuple[str, int], kind: str = "ship_from_store", requires_id_check: bool = False
    ) -> dict:
        self.assignments += 1
        return {
            "assignment_id": f"{STORE_ID}-AS-{self.assignments}",
            "order_id": f"WEB-{self.assignments}",
            "kind": kind,
            "deadline": to_iso(utc_now() + timedelta(hours=2)),
            "customer_name": "Léa Petit",
            "requires_id_check": requires_id_check,
            "lines": [{"line_id": str(n), "sku": sku, "qty": qty} for n, (sku, qty) in enumerate(lines, 1)],
        }

    def assign(self, *lines: tuple[str, int], kind: str = "ship_from_store", requires_id_check: bool = False):
        payload = self.assignment_payload(*lines, kind=kind, requires_id_check=requires_id_check)
        assert self.send(MessageKind.ASSIGNMENT, payload) == "received"
        return payload["assignment_id"]

    def cancel(self, assignment_id: str) -> str:
        return self.send(MessageKind.CANCELLATION, {"assignment_id": assignment_id, "reason": "customer"})

    def setting(self, key: str, value) -> str:
        return self.send(MessageKind.SETTING, {"key": key, "value": value})


@pytest.fixture
def hub(manager) -> Hub:
    return Hub(manager)


def state(db: StoreDatabase) -> dict:
    """Everything a refused call must leave as it was."""
    return {
        "outbox": db.outbox_health(),
        "stock": [tuple(r) for r in db.query("SELECT * FROM stock ORDER BY sku")],
        "movements": db.query("SELECT count(*) AS n FROM movements")[0]["n"],
        "assignments": [tuple(r) for r in db.query("SELECT * FROM assignment_lines ORDER BY 1, 2")]
        + [tuple(r) for r in db.query("SELECT assignment_id, status FROM assignments ORDER BY 1")],
        "receipts": db.query("SELECT count(*) AS n FROM till_receipts")[0]["n"],
        "staff": db.query("SELECT count(*) AS n FROM staff")[0]["n"],
        "feed_cursor": db.meta()["feed_cursor"],
    }
