"""Sample data for a store run on its own: catalogue, stock, staff, a few assignments."""

import random
from datetime import timedelta

from shared.clock import to_iso, utc_now
from shared.sample_catalogue import sample_catalogue
from shared.wire import FeedMessage, MessageKind

from ..services import feed, staff, till
from ..services.till import TillLine
from ..store import StoreDatabase

SAMPLE_STAFF = [("M001", "Camille Martin", "1234", "manager"), ("A001", "Lucas Bernard", "1111", "associate")]


def seed_sample(db: StoreDatabase, size: int = 300, assignments: int = 5) -> bool:
    """Seed an empty store; returns False (and changes nothing) when it already has a catalogue."""
    if db.query("SELECT 1 FROM products LIMIT 1"):
        return False
    catalogue = sample_catalogue(size)
    with db.transaction() as tx:
        tx.upsert_products(item.model_dump() for item in catalogue)
    for code, name, pin, role in SAMPLE_STAFF:
        staff.add_staff(db, code, name, pin, role, "fr")
    rng = random.Random(db.store_id)
    lines = [TillLine(item.sku, rng.randint(1, 12)) for item in catalogue if rng.random() < 0.9]
    till.receive_goods(db, "M001", lines, reference="opening stock")
    now = utc_now()
    cursor = int(db.meta()["feed_cursor"])
    messages = []
    for n in range(assignments):
        kind = "click_and_collect" if n % 2 else "ship_from_store"
        picks = rng.sample([ln.code for ln in lines], 2)
        messages.append(
            FeedMessage(
                seq=cursor + n + 1,
                kind=MessageKind.ASSIGNMENT,
                at=to_iso(now),
                payload={
                    "assignment_id": f"{db.store_id}-SAMPLE-{n + 1}",
                    "order_id": f"WEB-{1000 + n}",
                    "kind": kind,
                    "deadline": to_iso(now + timedelta(hours=2)),
                    "customer_name": rng.choice(["Léa Petit", "Hugo Moreau", "Chloé Laurent"]),
                    "lines": [{"line_id": str(i + 1), "sku": sku, "qty": 1} for i, sku in enumerate(picks)],
                },
            )
        )
    feed.apply_feed(db, messages)
    return True
