"""A small hub network whose rebalancing optimum can be worked by hand (used by the service and console tests).

Three stores on the meridian 2° E, 0.5° of latitude apart (~55.6 km): A-01 (48.0° N), B-01 (48.5° N),
C-01 (49.0° N), so A-B = B-C ~55.6 km and A-C ~111.2 km. Two SKUs. Eight weeks of till sales with an
exact weekly pattern, so that the forecast of any 7 days is the pattern's weekly sum:

    sales per week (Mon..Sun)          7-day forecast
    B-01 TENT  1 1 1 1 2 4 4                 14
    C-01 TENT  2 2 2 2 2 5 5                 20
    B-01 LAMP  1 1 1 1 1 1 1                  7
    C-01 LAMP  1 1 1 1 2 4 4                 14
    A-01 sells neither                         0

Safety stock rules (the most specific wins): (*, *) = 2, (*, TENT) = 1, (A-01, *) = 3, (C-01, TENT) = 0.

Stock (on hand, reserved) and what follows (available = on hand - reserved; surplus / need against
forecast + safety stock):

    A-01 TENT (21, 2): 19 available, safety 3, forecast 0   -> surplus 16
    B-01 TENT (9, 0):   9 available, safety 1, forecast 14  -> need 6
    C-01 TENT (5, 0):   5 available, safety 0, forecast 20  -> need 15
    A-01 LAMP (16, 0): 16 available, safety 3, forecast 0   -> surplus 13
    B-01 LAMP (4, 0):   4 available, safety 2, forecast 7   -> need 5
    C-01 LAMP (10, 0): 10 available, safety 2, forecast 14  -> need 6

The optimum (most need covered, then fewest unit-km) is in EXPECTED of the tests that use it.
"""

from datetime import UTC, datetime, time, timedelta

from central_sync.services import catalogue, head_office, stores, sync
from central_sync.store import HubDatabase
from shared.clock import to_iso, utc_now
from shared.wire import CatalogueItem, EventKind, OutboxEvent, StockLevel, SyncRequest

A, B, C = "A-01", "B-01", "C-01"
TENT, LAMP = "TENT", "LAMP"
LATITUDES = {A: 48.0, B: 48.5, C: 49.0}
LONGITUDE = 2.0
WEEKS = 8
PATTERNS = {  # Monday first
    (B, TENT): (1, 1, 1, 1, 2, 4, 4),
    (C, TENT): (2, 2, 2, 2, 2, 5, 5),
    (B, LAMP): (1, 1, 1, 1, 1, 1, 1),
    (C, LAMP): (1, 1, 1, 1, 2, 4, 4),
}
LEVELS = {
    A: {TENT: (21, 2), LAMP: (16, 0)},
    B: {TENT: (9, 0), LAMP: (4, 0)},
    C: {TENT: (5, 0), LAMP: (10, 0)},
}
SAFETY = [("*", "*", 2), ("*", TENT, 1), (A, "*", 3), (C, TENT, 0)]
ITEMS = [
    CatalogueItem(sku=TENT, name="Tente 2 places", price_cents=7999),
    CatalogueItem(sku=LAMP, name="Lampe frontale", price_cents=2499),
]


def now() -> datetime:
    """The tests' clock: the real one (the CLI and the API read it too), so that history is "recent"."""
    return utc_now()


class HubNetwork:
    """A hub database with the stores, catalogue, safety stock, levels and sales history above."""

    def __init__(self, db: HubDatabase, moment: datetime | None = None, sales: dict | None = None):
        self.db = db
        self.now = moment or now()
        self.today = self.now.date()
        self.seq: dict[str, int] = {}
        joined = self.now - timedelta(days=7 * WEEKS + 30)
        for store_id, lat in LATITUDES.items():
            self.register(store_id, lat, joined)
        catalogue.import_catalogue(db, ITEMS)
        for store_id, sku, qty in SAFETY:
            head_office.set_safety_stock(db, "test", store_id, sku, qty)
        for store_id, levels in LEVELS.items():
            self.send(store_id, [self.event(store_id, EventKind.STOCK_SNAPSHOT, self.now - timedelta(days=60),
                                            levels=[(sku, *lv) for sku, lv in levels.items()])])  # fmt: skip
        self.sell_history(PATTERNS if sales is None else sales)

    def register(self, store_id: str, lat: float, joined: datetime) -> None:
        stores.register_store(self.db, store_id, f"Comptoir {store_id}", lat, LONGITUDE, city=store_id,
                              secret="s3cret-" + store_id, now=joined)  # fmt: skip
        self.seq[store_id] = 0

    def event(
        self, store_id: str, kind: EventKind, at: datetime | str, payload: dict | None = None, levels=()
    ) -> OutboxEvent:
        self.seq[store_id] += 1
        return OutboxEvent(
            seq=self.seq[store_id],
            kind=kind,
            at=at if isinstance(at, str) else to_iso(at),
            staff="M001",
            payload=payload or {},
            levels=[StockLevel(sku=sku, on_hand=on_hand, reserved=reserved) for sku, on_hand, reserved in levels],
        )

    def send(self, store_id: str, events: list[OutboxEvent]) -> None:
        """One sync exchange per 1000 events, as the store's worker would make them."""
        for i in range(0, len(events), 1000):
            batch = events[i : i + 1000]
            request = SyncRequest(store_id=store_id, epoch="epoch-" + store_id, feed_cursor=0, events=batch)
            answer = sync.exchange(self.db, store_id, request, now=self.now)
            assert answer.acked_seq == events[min(i + 999, len(events) - 1)].seq

    def sale(self, store_id: str, at: datetime | str, lines: list) -> OutboxEvent:
        payload = {"receipt_id": f"{store_id}-R{self.seq[store_id] + 1}", "lines": lines, "total_cents": 0}
        return self.event(store_id, EventKind.SALE_RECORDED, at, payload)

    def sell_history(self, patterns: dict) -> None:
        """One till receipt per store and day over the WEEKS weeks before today, lines by the weekly patterns."""
        by_store: dict[str, list[OutboxEvent]] = {}
        for n in range(7 * WEEKS, 0, -1):
            day = self.today - timedelta(days=n)
            at = datetime.combine(day, time(10, 0), UTC)
            for store_id in LATITUDES:
                lines = [
                    {"sku": sku, "qty": pattern[day.weekday()], "unit_price_cents": 100}
                    for (s, sku), pattern in sorted(patterns.items())
                    if s == store_id and pattern[day.weekday()] > 0
                ]
                if lines:
                    by_store.setdefault(store_id, []).append(self.sale(store_id, at, lines))
        for store_id, events in by_store.items():
            self.send(store_id, events)
