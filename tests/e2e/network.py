"""A real Comptoir network on loopback: the hub and store nodes as processes, for e2e and browser tests.

Nothing here is mocked. :class:`Network` prepares the hub database in-process (API keys,
stores with explicit coordinates, a small catalogue) and each store database (its staff),
then starts ``python -m shared.cli hub serve`` and ``python -m shared.cli store serve``
as real processes on free loopback ports, each in its own session so that stopping one
stops its whole process group (gunicorn workers, the hub's jobs process). Every wait is
a poll with a deadline (:func:`wait_until`); no process outlives the test run (fixtures
stop them in teardown, and an ``atexit`` hook kills any left behind).

Stable interface (browser tests import it; keep it backwards compatible)::

    from e2e.network import Network, StoreSpec, small_catalogue, wait_until
    # (tests/ is on sys.path when the importing test directory has an __init__.py;
    #  otherwise insert it: sys.path.insert(0, str(Path(__file__).parents[1])))

    net = Network(tmp_path, [StoreSpec("PAR-01", 48.86, 2.35), StoreSpec("LYO-01", 45.76, 4.84)])
    net.start()                                   # hub, then every store; waits for health and catalogue
    net.hub_url, net.stores["PAR-01"].url         # base URLs (no trailing slash)
    net.channel_headers, net.head_office_headers  # Authorization headers for the hub API
    net.store_token("PAR-01", "M001", "1234")     # a staff bearer token for a store's API
    net.receive("PAR-01", {"SKU-001": 5})         # a goods receipt through the store API
    net.wait_synced()                             # outboxes drained, feeds applied, stock views equal
    net.stop_store("PAR-01"); net.start_store("PAR-01")   # same database, same port
    net.stop_hub(); net.start_hub()
    net.stop()                                    # everything (idempotent)

Also: ``net.hub_get/hub_post/hub_call`` (head-office key by default), ``net.store_get/store_post/
store_call`` (as the manager by default), ``net.place_order``, ``net.set_setting``, ``net.hub_stores``,
``net.hub_levels``, ``net.store_levels``, ``net.assignments``, ``net.wait_assignment``, ``net.order``,
``net.sync_problems``; API keys ``CHANNEL_KEY`` and ``HEAD_OFFICE_KEY``. In pytest, the fixtures
``make_network`` and ``network`` of ``e2e/conftest.py`` start networks and always stop them
(import them into another conftest: ``from e2e.conftest import make_network, network``).
The logs of every process are in the network's workdir (``hub.log``, ``<store_id>.log``).

Default staff at every store: ``M001`` / PIN ``1234`` (manager), ``A001`` / PIN ``1111`` (associate).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

from central_sync.services import catalogue as hub_catalogue
from central_sync.services import stores as hub_stores
from central_sync.store import HubDatabase
from shared import waiting
from shared.barcodes import ean13
from shared.wire import CatalogueItem
from store_node.services import staff as store_staff
from store_node.store import StoreDatabase

T = TypeVar("T")

#: Deadline of every wait, generous: other work shares the 2-core machine that runs the tests.
DEFAULT_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
CHANNEL_KEY = "e2e-channel-key"
HEAD_OFFICE_KEY = "e2e-head-office-key"
#: (code, name, PIN, role) added to every store database before it starts.
DEFAULT_STAFF = (("M001", "Camille Martin", "1234", "manager"), ("A001", "Lucas Bernard", "1111", "associate"))
MANAGER = ("M001", "1234")


# ---------------------------------------------------------------------------- waiting


class WaitTimeout(AssertionError):
    """A condition polled by :func:`wait_until` did not hold before its deadline."""


class ProcessDied(RuntimeError):
    """A node's process exited while it was expected to run (not retried by :func:`wait_until`)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    message: str = "condition",
    interval: float = POLL_INTERVAL,
) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` seconds pass.

    An ``AssertionError`` or a ``requests`` error raised by the predicate counts as "not yet"
    (a node restarting refuses connections for a moment); the last one is reported if time
    runs out, so the failure says what was still wrong.
    """
    try:
        return waiting.wait_until(predicate, timeout, message, interval, (AssertionError, requests.RequestException))
    except waiting.DeadlineExceeded as exc:
        raise WaitTimeout(str(exc)) from None


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_LIVE: set[ManagedProcess] = set()


class ManagedProcess:
    """A child process in its own session, its output in a log file; stopped as a process group."""

    def __init__(self, name: str, args: list[str], log_path: Path, cwd: Path, env: Mapping[str, str] | None = None):
        self.name, self.args, self.log_path, self.cwd = name, args, log_path, cwd
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {' '.join(self.args)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
        _LIVE.add(self)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s; returns when the leader is gone."""
        popen = self.popen
        if popen is None:
            return
        _signal_group(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(popen.pid, signal.SIGKILL)
            popen.wait(timeout)
        # children left in the group (a worker whose master died) go too
        _signal_group(popen.pid, signal.SIGKILL)
        self.popen = None
        _LIVE.discard(self)

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ProcessDied(f"{self.name} exited with code {self.popen.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        proc.stop(timeout=3)


# ---------------------------------------------------------------------------- HTTP


def call(method: str, url: str, *, expect: int | Iterable[int] | None = None, **kwargs: Any) -> requests.Response:
    """One HTTP request with a timeout; ``expect`` checks the status and shows the body when it differs."""
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    response = requests.request(method, url, **kwargs)
    if expect is not None:
        wanted = {expect} if isinstance(expect, int) else set(expect)
        if response.status_code not in wanted:
            raise AssertionError(
                f"{method} {url} answered {response.status_code}, expected {sorted(wanted)}: {response.text[:500]}"
            )
    return response


# ---------------------------------------------------------------------------- the network


def small_catalogue(count: int = 8, prefix: str = "SKU") -> list[CatalogueItem]:
    """``count`` products ``SKU-001``... with valid EAN-13 barcodes ``200000000001x``... and prices."""
    return [
        CatalogueItem(
            sku=f"{prefix}-{n:03d}",
            name=f"Test product {n}",
            price_cents=100 * n + 99,
            barcodes=[ean13(f"2{n:011d}")],
            location=f"A{n}",
        )
        for n in range(1, count + 1)
    ]


@dataclass(frozen=True)
class StoreSpec:
    """A store to register at the hub, at explicit coordinates."""

    store_id: str
    lat: float
    lon: float
    ship_from_store: bool = True
    click_and_collect: bool = True
    daily_capacity: int = 200


@dataclass
class StoreNode:
    """A store of a :class:`Network`: where it listens, its database, its sync secret, its process."""

    spec: StoreSpec
    port: int
    db_path: Path
    secret: str = ""
    process: ManagedProcess | None = None
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def store_id(self) -> str:
        return self.spec.store_id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Network:
    """A hub and store nodes as real processes on loopback; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        stores: Iterable[StoreSpec],
        catalogue: list[CatalogueItem] | None = None,
        *,
        staff: Iterable[tuple[str, str, str, str]] = DEFAULT_STAFF,
        sync_interval: float = 0.5,
        jobs_every: float = 1.0,
        hub_workers: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.catalogue = list(catalogue) if catalogue is not None else small_catalogue()
        self.staff = list(staff)
        self.sync_interval, self.jobs_every, self.hub_workers = sync_interval, jobs_every, hub_workers
        self.timeout = timeout
        self.hub_port = free_port()
        self.hub_db_path = self.workdir / "hub.sqlite"
        self.hub_process: ManagedProcess | None = None
        self.stores: dict[str, StoreNode] = {}
        for spec in stores:
            if spec.store_id in self.stores:
                raise ValueError(f"duplicate store {spec.store_id}")
            self.stores[spec.store_id] = StoreNode(spec, free_port(), self.workdir / f"{spec.store_id}.sqlite")
        self.prepared = False

    # ------------------------------------------------------------------ addresses and credentials
    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def channel_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {CHANNEL_KEY}"}

    @property
    def head_office_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {HEAD_OFFICE_KEY}"}

    def store_token(self, store_id: str, staff_code: str = MANAGER[0], pin: str = MANAGER[1]) -> str:
        """A staff bearer token from the store's ``POST /api/session`` (cached per store and staff)."""
        node = self.stores[store_id]
        key = (staff_code, pin)
        if key not in node.tokens:
            answer = call(
                "POST", f"{node.url}/api/session", json={"staff_code": staff_code, "pin": pin}, expect=200
            ).json()
            node.tokens[key] = answer["token"]
        return node.tokens[key]

    def store_headers(self, store_id: str, staff_code: str = MANAGER[0], pin: str = MANAGER[1]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.store_token(store_id, staff_code, pin)}"}

    # ------------------------------------------------------------------ databases
    def prepare(self) -> None:
        """Create the hub database (keys, stores, catalogue) and every store database (staff)."""
        if self.prepared:
            return
        hub = HubDatabase(self.hub_db_path)
        try:
            hub_stores.add_api_key(hub, "e2e channel", "channel", CHANNEL_KEY)
            hub_stores.add_api_key(hub, "e2e head office", "head_office", HEAD_OFFICE_KEY)
            for node in self.stores.values():
                node.secret = self.register_store(hub, node.spec, node.url)
            hub_catalogue.import_catalogue(hub, self.catalogue)  # queued to every registered store
        finally:
            hub.close()
        for node in self.stores.values():
            db = StoreDatabase(node.db_path, node.store_id)
            try:
                for code, name, pin, role in self.staff:
                    store_staff.add_staff(db, code, name, pin, role, "fr", by="e2e")
            finally:
                db.close()
        self.prepared = True

    @staticmethod
    def register_store(hub: HubDatabase, spec: StoreSpec, base_url: str = "") -> str:
        return hub_stores.register_store(
            hub,
            spec.store_id,
            f"Store {spec.store_id}",
            spec.lat,
            spec.lon,
            city=spec.store_id,
            ship_from_store=spec.ship_from_store,
            click_and_collect=spec.click_and_collect,
            daily_capacity=spec.daily_capacity,
            base_url=base_url,
        )

    # ------------------------------------------------------------------ processes
    def start(self) -> Network:
        """Prepare, start the hub, then every store at once; wait until all are healthy and fed."""
        self.prepare()
        self.start_hub()
        self.start_stores(list(self.stores))
        return self

    def stop(self) -> None:
        """Stop every store, then the hub (idempotent)."""
        for store_id in self.stores:
            self.stop_store(store_id)
        self.stop_hub()

    def start_hub(self) -> None:
        """Start (or restart: same database, same port) the hub with its jobs process; wait for health."""
        self.prepare()
        if self.hub_process is None:
            args = [
                sys.executable, "-m", "shared.cli", "hub", "serve",
                "--db", str(self.hub_db_path), "--port", str(self.hub_port),
                "--workers", str(self.hub_workers), "--jobs-every", str(self.jobs_every),
            ]  # fmt: skip
            self.hub_process = ManagedProcess("hub", args, self.workdir / "hub.log", self.workdir)
        self.hub_process.start()
        self._wait_healthy(self.hub_process, self.hub_url)

    def stop_hub(self) -> None:
        if self.hub_process is not None:
            self.hub_process.stop()

    def start_store(self, store_id: str) -> None:
        """Start (or restart) one store node; wait for health and for its feed to be applied."""
        self.start_stores([store_id])

    def start_stores(self, store_ids: Iterable[str]) -> None:
        self.prepare()
        nodes = [self.stores[s] for s in store_ids]
        for node in nodes:
            if node.process is None:
                args = [
                    sys.executable, "-m", "shared.cli", "store", "serve",
                    "--store-id", node.store_id, "--db", str(node.db_path), "--port", str(node.port),
                    "--hub", self.hub_url, "--sync-interval", str(self.sync_interval), "--threads", "8",
                ]  # fmt: skip
                node.process = ManagedProcess(
                    node.store_id,
                    args,
                    self.workdir / f"{node.store_id}.log",
                    self.workdir,
                    env={"COMPTOIR_STORE_SECRET": node.secret},
                )
            node.process.start()
        for node in nodes:
            assert node.process is not None
            self._wait_healthy(node.process, node.url)
        if self.hub_process is not None and self.hub_process.running:
            for node in nodes:
                self.wait_feed_applied(node.store_id)

    def stop_store(self, store_id: str) -> None:
        node = self.stores[store_id]
        if node.process is not None:
            node.process.stop()

    def running_stores(self) -> list[str]:
        """Ids of the stores whose process is running now."""
        return [s for s, node in self.stores.items() if node.process is not None and node.process.running]

    def _wait_healthy(self, process: ManagedProcess, url: str) -> None:
        def healthy() -> bool:
            process.check_alive()  # a crashed process fails at once, with its log
            return requests.get(f"{url}/api/health", timeout=2).status_code == 200

        try:
            wait_until(healthy, self.timeout, f"{process.name} at {url} to answer /api/health")
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n--- {process.name} log:\n{process.log_tail()}") from None

    # ------------------------------------------------------------------ HTTP helpers
    def hub_call(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, expect: Any = None, **kwargs: Any
    ) -> requests.Response:
        """A request to the hub, with the head-office key unless ``headers`` says otherwise."""
        return call(
            method, self.hub_url + path, headers=dict(headers or self.head_office_headers), expect=expect, **kwargs
        )

    def hub_get(self, path: str, **params: Any) -> Any:
        return self.hub_call("GET", path, params=params, expect=200).json()

    def hub_post(self, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        return self.hub_call("POST", path, json=body, headers=headers, expect=(200, 201)).json()

    def store_call(
        self, store_id: str, method: str, path: str, *, expect: Any = None, staff: tuple[str, str] = MANAGER, **kw: Any
    ) -> requests.Response:
        """A request to a store's API as a signed-in staff member (the manager by default)."""
        url = self.stores[store_id].url + path
        return call(method, url, headers=self.store_headers(store_id, *staff), expect=expect, **kw)

    def store_get(self, store_id: str, path: str, **params: Any) -> Any:
        return self.store_call(store_id, "GET", path, params=params, expect=200).json()

    def store_post(self, store_id: str, path: str, body: Any = None) -> Any:
        return self.store_call(store_id, "POST", path, json=body, expect=(200, 201)).json()

    def store_health(self, store_id: str) -> dict:
        return call("GET", self.stores[store_id].url + "/api/health", expect=200).json()

    # ------------------------------------------------------------------ hub views
    def hub_stores(self) -> dict[str, dict]:
        """The hub's ``/api/stores`` by store id (online, acked_seq, events_total, feed_lag...)."""
        return {s["store_id"]: s for s in self.hub_get("/api/stores")["stores"]}

    def hub_levels(self, q: str = "") -> dict[tuple[str, str], tuple[int, int]]:
        """The hub's network stock view: ``{(store_id, sku): (on_hand, reserved)}``."""
        levels = {}
        for item in self.hub_get("/api/stock", q=q, limit=500)["items"]:
            for row in item["stores"]:
                levels[(row["store_id"], item["sku"])] = (row["on_hand"], row["reserved"])
        return levels

    def order(self, order_id: str) -> dict:
        """The hub's view of an order: lines, assignments, decisions, timeline."""
        return self.hub_get(f"/api/orders/{order_id}")

    def set_setting(self, key: str, value: int) -> None:
        self.hub_post("/api/settings", {"key": key, "value": value})

    def place_order(
        self,
        channel_order_id: str,
        lines: Mapping[str, int],
        destination: tuple[float, float] | None = None,
        *,
        kind: str = "ship_from_store",
        pickup_store_id: str | None = None,
        channel: str = "web",
        expect: Any = (200, 201),
    ) -> requests.Response:
        """Post an order as a sales channel; answers the raw response (201 created, 200 a retry)."""
        body: dict[str, Any] = {
            "channel": channel,
            "channel_order_id": channel_order_id,
            "kind": kind,
            "lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()],
            "customer": {"name": "Test Customer", "email": "customer@example.org"},
        }
        if destination is not None:
            body["destination"] = {"lat": destination[0], "lon": destination[1]}
        if pickup_store_id is not None:
            body["pickup_store_id"] = pickup_store_id
        return self.hub_call("POST", "/api/orders", json=body, headers=self.channel_headers, expect=expect)

    # ------------------------------------------------------------------ store views and actions
    def store_levels(self, store_id: str) -> dict[str, tuple[int, int]]:
        """The store's own ``/api/stock``: ``{sku: (on_hand, reserved)}`` for every catalogue SKU."""
        return {
            i["sku"]: (i["on_hand"], i["reserved"]) for i in self.store_get(store_id, "/api/stock", limit=1000)["items"]
        }

    def receive(self, store_id: str, quantities: Mapping[str, int], reference: str = "e2e receipt") -> dict:
        """A goods receipt through the store API (its levels reach the hub through sync)."""
        lines = [{"code": sku, "qty": qty} for sku, qty in quantities.items()]
        return self.store_post(store_id, "/api/receipts", {"reference": reference, "lines": lines})

    def assignments(self, store_id: str, order_id: str | None = None) -> list[dict]:
        """The store's assignments (every status), optionally only those of one order."""
        found = self.store_get(store_id, "/api/assignments")["assignments"]
        return [a for a in found if order_id is None or a["order_id"] == order_id]

    def wait_assignment(self, store_id: str, order_id: str, timeout: float | None = None) -> dict:
        """Wait until the store holds an assignment of ``order_id`` (from its feed); answers it."""
        found = wait_until(
            lambda: self.assignments(store_id, order_id),
            timeout or self.timeout,
            f"{store_id} to receive an assignment of order {order_id}",
        )
        return found[0]

    # ------------------------------------------------------------------ convergence
    def wait_feed_applied(self, store_id: str, timeout: float | None = None) -> None:
        """Wait until the store has applied every message the hub has for it (catalogue included)."""

        def applied() -> bool:
            head = self.hub_stores()[store_id]["feed_head"]
            return self.store_health(store_id)["feed_cursor"] >= head

        wait_until(applied, timeout or self.timeout, f"{store_id} to apply its feed")

    def sync_problems(self, store_ids: Iterable[str] | None = None) -> list[str]:
        """Why the hub and the stores have not converged yet (empty when they have).

        Converged: each store's outbox is empty and the hub acknowledged its head seq, the
        store applied the hub's whole feed, and the hub's stock view equals the store's own
        on-hand and reserved for every catalogue SKU (a missing row counting as 0 / 0).
        """
        ids = list(store_ids or self.stores)
        problems = []
        hub_view = self.hub_stores()
        levels = self.hub_levels()
        for store_id in ids:
            health = self.store_health(store_id)
            outbox, seen = health["outbox"], hub_view[store_id]
            if outbox["depth"]:
                problems.append(f"{store_id}: {outbox['depth']} event(s) waiting in the outbox")
            if seen["acked_seq"] != outbox["head_seq"]:
                problems.append(f"{store_id}: hub acked seq {seen['acked_seq']}, store head seq {outbox['head_seq']}")
            if health["feed_cursor"] != seen["feed_head"]:
                problems.append(f"{store_id}: feed cursor {health['feed_cursor']}, hub feed head {seen['feed_head']}")
            for sku, own in self.store_levels(store_id).items():
                held = levels.get((store_id, sku), (0, 0))
                if held != own:
                    problems.append(f"{store_id} {sku}: hub has (on_hand, reserved) {held}, store has {own}")
        return problems

    def wait_synced(self, store_ids: Iterable[str] | None = None, timeout: float | None = None) -> None:
        """Wait until :meth:`sync_problems` is empty for ``store_ids`` (every store by default)."""
        ids = list(store_ids or self.stores)

        def converged() -> bool:
            problems = self.sync_problems(ids)
            assert not problems, problems
            return True

        wait_until(converged, timeout or self.timeout, f"hub and {', '.join(ids)} to converge")
