"""A store node killed (SIGKILL) in the middle of a stream of writes is consistent after restart.

The real ``comptoir store serve`` process takes sales, returns, receipts, counts and whole
assignments from three terminals at once; it is killed without warning mid-stream. The SQLite
file, reopened, must hold: outbox seqs 1..N with no gap; stock equal to the sum of its
movements and to the outbox levels replayed as the hub replays them; reservations equal to
what the assignments hold; every sale a terminal got a 201 for. A restarted node carries on
at seq N+1.
"""

import queue
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from shared.clock import to_iso, utc_now
from shared.waiting import wait_until
from store_node.domain.assignments import HOLDING
from store_node.store import StoreDatabase

COMPTOIR = Path(sys.executable).with_name("comptoir")
LISTENING = re.compile(r"store T-01 listening on (http://\S+)")


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it answers something truthy, or fail after ``timeout`` seconds."""
    return wait_until(condition, timeout, what, interval=0.02)


class StoreProcess:
    """``comptoir store serve`` on port 0; its bound address is read from stderr."""

    def __init__(self, db_path: Path):
        self.proc = subprocess.Popen(
            [
                str(COMPTOIR),
                "store",
                "serve",
                "--store-id",
                "T-01",
                "--db",
                str(db_path),
                "--port",
                "0",
                "--sample",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = self._address(timeout=30)
        wait_for(self._healthy, 20, "/api/health")

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.stderr.put(line)

    def _address(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"store exited with {self.proc.returncode}: {''.join(self.log)}")
            try:
                line = self.stderr.get(timeout=0.1)
            except queue.Empty:
                continue
            self.log.append(line)
            if found := LISTENING.search(line):
                return found.group(1)
        raise AssertionError(f"no 'listening on' line within {timeout}s: {''.join(self.log)}")

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/api/health", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def start_store():
    started: list[StoreProcess] = []

    def start(db_path: Path) -> StoreProcess:
        store = StoreProcess(db_path)
        started.append(store)
        return store

    yield start
    for store in started:
        store.stop()


class Terminal:
    def __init__(self, url: str, code: str, pin: str):
        self.url, self.http = url, requests.Session()
        resp = self.http.post(f"{url}/api/session", json={"staff_code": code, "pin": pin}, timeout=10)
        assert resp.status_code == 200, resp.text
        self.http.headers["Authorization"] = f"Bearer {resp.json()['token']}"

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return self.http.post(f"{self.url}{path}", json=body or {}, timeout=10)

    def get(self, path: str, **query) -> requests.Response:
        return self.http.get(f"{self.url}{path}", params=query, timeout=10)


class Stream:
    """Terminals writing as fast as the store answers until it dies; what was confirmed is kept."""

    def __init__(self, url: str, skus: list[str], feed_cursor: int):
        self.url, self.skus, self.feed_seq = url, skus, feed_cursor
        self.sales: list[str] = []  # receipt ids answered 201
        self.accepted: list[str] = []  # assignments answered 200 to accept
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(work,), daemon=True)
            for work in (self._till, self._floor, self._orders)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
            assert not thread.is_alive(), "a terminal thread did not finish"

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except requests.RequestException:
            pass  # the store was killed: refused, reset or cut mid-answer, the stream ends here
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)

    def _till(self) -> None:
        till, rng = Terminal(self.url, "A001", "1111"), random.Random(1)
        n = 0
        while not self.stop.is_set():
            n += 1
            receipt_id = f"TILL1-{n:05d}"
            lines = [{"code": rng.choice(self.skus), "qty": rng.randint(1, 2)} for _ in range(rng.randint(1, 3))]
            resp = till.post("/api/sales", {"receipt_id": receipt_id, "lines": lines})
            assert resp.status_code == 201, resp.text
            self.sales.append(receipt_id)
            if n % 5 == 0:
                resp = till.post("/api/returns", {"lines": [{"code": rng.choice(self.skus), "condition": "sellable"}]})
                assert resp.status_code == 201, resp.text

    def _floor(self) -> None:
        floor, rng = Terminal(self.url, "M001", "1234"), random.Random(2)
        while not self.stop.is_set():
            sku = rng.choice(self.skus)
            resp = floor.post("/api/receipts", {"reference": "DEL", "lines": [{"code": sku, "qty": rng.randint(1, 4)}]})
            assert resp.status_code == 201, resp.text
            resp = floor.post("/api/counts", {"code": rng.choice(self.skus), "counted": rng.randint(0, 9)})
            assert resp.status_code == 201, resp.text
            resp = floor.post("/api/adjustments", {"code": sku, "delta": -1, "reason": "damage"})
            assert resp.status_code == 201, resp.text

    def _orders(self) -> None:
        hub, picker, rng = (
            Terminal(self.url, "M001", "1234"),
            Terminal(self.url, "A001", "1111"),
            random.Random(3),
        )
        n = 0
        while not self.stop.is_set():
            n += 1
            self.feed_seq += 1
            aid = f"T-01-CRASH-{n}"
            sku = rng.choice(self.skus)
            payload = {
                "assignment_id": aid,
                "order_id": f"WEB-C{n}",
                "kind": "ship_from_store",
                "deadline": to_iso(utc_now() + timedelta(hours=2)),
                "lines": [{"line_id": "1", "sku": sku, "qty": 1}],
            }
            message = {
                "seq": self.feed_seq,
                "kind": "assignment",
                "at": to_iso(utc_now()),
                "payload": payload,
            }
            resp = hub.post("/api/feed", {"messages": [message]})
            assert resp.status_code == 200 and resp.json()["applied"], resp.text
            resp = picker.post(f"/api/assignments/{aid}/accept")
            if resp.status_code == 409:  # the till sold it meanwhile: hand it back and go on
                assert picker.post(f"/api/assignments/{aid}/reject", {"reason": "out_of_stock"}).status_code == 200
                continue
            assert resp.status_code == 200, resp.text
            self.accepted.append(aid)
            steps = [
                ("scan", {"code": sku}),
                ("complete-pick", {}),
                (
                    "pack",
                    {"parcels": [{"weight_grams": 400, "carrier": "dpd", "tracking_number": f"TRK{n}"}]},
                ),
                ("ship", {}),
            ]
            for step, body in steps[: rng.randint(0, len(steps))]:
                resp = picker.post(f"/api/assignments/{aid}/{step}", body)
                assert resp.status_code == 200, resp.text


def check_consistent(db: StoreDatabase) -> list[dict]:
    """Everything a crash must not break; answers the outbox."""
    events = db.outbox(0, 1_000_000)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "a gap in the outbox seq"

    stock = {r["sku"]: (r["on_hand"], r["reserved"]) for r in db.query("SELECT * FROM stock")}
    replica: dict[str, tuple[int, int]] = {}
    for event in events:  # the hub keeps the level with the highest seq
        for level in event["levels"]:
            replica[level["sku"]] = (level["on_hand"], level["reserved"])
    assert replica == stock, "the outbox levels replay to something else than the stock table"

    sums = {
        r["sku"]: (r["on_hand"], r["reserved"])
        for r in db.query(
            "SELECT sku, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved FROM movements GROUP BY sku"
        )
    }
    assert sums == stock, "stock differs from the sum of its movements"

    owed: dict[str, int] = {}
    for a in db.assignments(limit=1_000_000):
        if a.status in HOLDING:
            for line in a.lines:
                owed[line.sku] = owed.get(line.sku, 0) + line.to_fill
    reserved = {sku: r for sku, (_, r) in stock.items() if r}
    assert reserved == {sku: q for sku, q in owed.items() if q}, "reserved differs from what assignments hold"

    receipts = {r["receipt_id"] for r in db.query("SELECT receipt_id FROM till_receipts WHERE kind = 'sale'")}
    sold = [e["payload"]["receipt_id"] for e in events if e["kind"] == "sale.recorded"]
    assert sorted(sold) == sorted(receipts), "a sale and its outbox event were not written together"
    audited = db.query("SELECT count(*) AS n FROM audit WHERE action = 'till.sale'")[0]["n"]
    assert audited == len(receipts)
    cursor = db.query("SELECT MAX(seq) AS seq FROM feed_log")[0]["seq"]
    assert db.meta()["feed_cursor"] == str(cursor), "the feed cursor moved apart from the feed log"
    return events


@pytest.mark.skipif(not COMPTOIR.exists(), reason="the comptoir console script is not installed")
def test_a_store_killed_mid_stream_is_consistent_after_restart(tmp_path, start_store):
    db_path = tmp_path / "store.db"
    store = start_store(db_path)
    manager = Terminal(store.url, "M001", "1234")
    items = manager.get("/api/stock", limit=1000).json()["items"]
    skus = [i["sku"] for i in items if i["available"] >= 3][:40]
    cursor = manager.get("/api/health").json()["feed_cursor"]

    stream = Stream(store.url, skus, cursor)
    stream.start()
    wait_for(lambda: len(stream.sales) >= 40 and len(stream.accepted) >= 5 or stream.errors, 60, "a busy store")
    assert not stream.errors, stream.errors
    store.proc.kill()  # SIGKILL: no shutdown, no flush, requests in flight
    assert store.proc.wait(timeout=10) == -9
    stream.join()
    assert not stream.errors, stream.errors

    db = StoreDatabase(db_path)
    events = check_consistent(db)
    sold = {e["payload"]["receipt_id"] for e in events if e["kind"] == "sale.recorded"}
    missing = [r for r in stream.sales if r not in sold]
    assert not missing, f"sales confirmed to the till but lost: {missing}"
    for aid in stream.accepted:
        assert db.assignment(aid).status != "assigned", f"{aid} was accepted but is not"
    head = len(events)
    db.close()

    restarted = start_store(db_path)
    till = Terminal(restarted.url, "A001", "1111")
    assert till.get("/api/health").json()["outbox"]["head_seq"] == head
    resp = till.post("/api/sales", {"receipt_id": stream.sales[0], "lines": [{"code": skus[0]}]})
    assert (resp.status_code, resp.json()["duplicate"]) == (200, True)  # a retry after the crash
    assert till.post("/api/sales", {"receipt_id": "AFTER-1", "lines": [{"code": skus[0]}]}).status_code == 201
    after = till.get("/api/outbox", after=head).json()["events"]
    assert [(e["seq"], e["payload"]["receipt_id"]) for e in after] == [(head + 1, "AFTER-1")]
    restarted.stop()
    db = StoreDatabase(db_path)
    check_consistent(db)
    db.close()
