"""Properties of stock under any sequence of store activity, in the domain and through the services.

For any sequence of receipts, sales, returns, counts, adjustments, accepts, picks, ships,
hand-overs, expiries, cancellations and rejections:
- on hand and reserved are the sums of the movements, and on hand is what the activity says;
- reserved is never negative and is exactly what the assignments still holding stock owe;
- through the services, the outbox has seqs 1..N and replaying its levels (the last level
  per SKU by seq, as the hub builds its replica) gives exactly the stock table.

Each machine has an ``advance`` rule that carries an open assignment along its normal path
(so that picked, packed, ready, shipped and collected are reached often), beside rules
that try any step on any assignment and disruptions (cancellations, rejections).
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from shared.clock import to_iso
from shared.errors import DomainError
from shared.wire import AssignmentKind, FeedMessage, MessageKind
from store_node.domain import assignments as steps
from store_node.domain import stock
from store_node.domain.assignments import Assignment, Line, Parcel, RejectReason, Status
from store_node.domain.stock import AdjustmentReason, StockItem
from store_node.services import feed, fulfilment, till
from store_node.services.till import TillLine
from store_node.store import StoreDatabase

SKUS = ("A", "B", "C")
BARCODES = {"A": "3760000000017", "B": "3760000000024", "C": "3760000000031"}
HOLDING = {Status.ACCEPTED, Status.PICKING, Status.PICKED, Status.PACKED, Status.READY_FOR_PICKUP}
OPEN = {Status.ASSIGNED, *HOLDING}
# the holding states from which a cancellation or a rejection must release the reservation
RELEASED_BY = {"cancel": HOLDING, "reject": {Status.ACCEPTED, Status.PICKING}}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEPS = (
    "accept",
    "reject",
    "pick",
    "complete_pick",
    "pack",
    "ship",
    "make_ready",
    "collect",
    "expire",
    "cancel",
)
PARCEL = Parcel(700, "dpd", "TRK9")
# The service machine commits thousands of small transactions: on tmpfs their fsyncs cost
# nothing. What is checked here is logic; durability is the crash test's (on the real disk).
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@dataclass(frozen=True)
class Choice:
    """The free parameters of one step."""

    rejections: tuple[int, ...] = ()  # per line, at accept
    sku: str = "A"
    qty: int = 1
    short: bool = False  # advance: leave the last line unpicked
    right_code: bool = True
    id_checked: bool = True

    def rejected(self, a: Assignment) -> dict[str, int]:
        return {ln.line_id: min(q, ln.qty) for ln, q in zip(a.lines, self.rejections, strict=False)}


skus = st.sampled_from(SKUS)
qtys = st.integers(1, 6)
kinds = st.sampled_from(list(AssignmentKind))
order_lines = st.lists(st.tuples(skus, st.integers(1, 3)), min_size=1, max_size=3)
which = st.integers(0, 10_000)  # which assignment, modulo how many there are
choices = st.builds(
    Choice,
    rejections=st.one_of(st.just(()), st.lists(st.integers(0, 2), max_size=3).map(tuple)),
    sku=skus,
    qty=st.integers(1, 3),
    short=st.booleans(),
    right_code=st.booleans(),
    id_checked=st.booleans(),
)
adjustments = st.one_of(
    st.tuples(st.integers(-4, -1), st.sampled_from([AdjustmentReason.DAMAGE, AdjustmentReason.THEFT])),
    st.tuples(st.integers(1, 4), st.just(AdjustmentReason.FOUND)),
    st.tuples(st.integers(-4, 4).filter(bool), st.just(AdjustmentReason.OTHER)),
)
# (what, sku, quantity, extra): extra is "scanned by barcode" for receipts and counts,
# the till's receipt number for sales (a small pool, so retries happen), "sellable" for returns
floor_activity = st.one_of(
    st.tuples(st.just("receive"), skus, qtys, st.booleans()),
    st.tuples(st.just("sell"), skus, qtys, st.integers(1, 8)),
    st.tuples(st.just("take_return"), skus, qtys, st.booleans()),
    st.tuples(st.just("count"), skus, st.integers(0, 12), st.booleans()),
    st.tuples(st.just("adjust"), skus, adjustments, st.none()),
)
opening = st.lists(st.integers(2, 15), min_size=len(SKUS), max_size=len(SKUS))
SETTINGS = settings(
    max_examples=40, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def next_step(a: Assignment, c: Choice) -> str | None:
    """The step that carries an assignment forward on its normal path (or lets it expire)."""
    if a.status is Status.ASSIGNED:
        return "accept"
    if a.status in (Status.ACCEPTED, Status.PICKING):
        return "pick" if any(ln.left_to_pick for ln in a.lines) else "complete_pick"
    if a.status is Status.PICKED:
        return "pack" if a.kind in steps.SHIPPING_KINDS else "make_ready"
    if a.status is Status.READY_FOR_PICKUP:
        return "expire" if c.short else "collect"
    return "ship" if a.status is Status.PACKED else None


def advance_choice(a: Assignment, step: str, c: Choice) -> Choice:
    """On the normal path a pick takes what is left of the first line still to pick,
    and the customer shows the right code and an ID."""
    if step == "collect":
        return Choice()
    if step != "pick":
        return c
    line = next(ln for ln in a.lines if ln.left_to_pick)
    return Choice(sku=line.sku, qty=line.left_to_pick)


def owed_by(assignments: list[Assignment]) -> dict[str, int]:
    owed = dict.fromkeys(SKUS, 0)
    for a in assignments:
        if a.status in HOLDING:
            for line in a.lines:
                owed[line.sku] += line.to_fill
    return owed


class StoreActivity(RuleBasedStateMachine):
    """The rules both machines share.

    A subclass provides ``assignment_list()`` (the assignments as they stand), ``refresh(a)``
    (one as it stands now) and ``attempt(step, assignment, choice) -> bool`` (carry out one
    step; False when refused).
    """

    def __init__(self):
        super().__init__()
        self.on_hand = dict.fromkeys(SKUS, 0)  # the model: what the activity says is on the shelf

    # -------------------------------------------------------------- assignment rules
    def _pick_from(self, n: int, only_open: bool) -> Assignment:
        found = [a for a in self.assignment_list() if a.status in OPEN or not only_open]
        return found[n % len(found)]

    def _has_open(self) -> bool:
        return any(a.status in OPEN for a in self.assignment_list())

    def _dispatched(self, a: Assignment) -> None:
        for line in a.lines:
            self.on_hand[line.sku] -= line.to_fill

    @rule(activity=floor_activity)
    def floor(self, activity):
        what, *args = activity
        getattr(self, what)(*args)

    @precondition(lambda self: self._has_open())
    @rule(n=which, c=choices, count=st.integers(1, 4))
    def advance(self, n, c, count):
        a = self._pick_from(n, only_open=True)
        for _ in range(count):
            step = next_step(a, c)
            if step == "pick" and c.short and sum(1 for ln in a.lines if ln.left_to_pick) == 1:
                step = "complete_pick"  # short: the last line still to pick is not found
            if step is None or not self.attempt(step, a, advance_choice(a, step, c)):
                return
            a = self.refresh(a)

    @precondition(lambda self: self.assignment_list())
    @rule(n=which, step=st.sampled_from(STEPS), c=choices)
    def any_step(self, n, step, c):
        self.attempt(step, self._pick_from(n, only_open=False), c)

    @precondition(lambda self: any(a.status in HOLDING for a in self.assignment_list()))
    @rule(n=which, step=st.sampled_from(["cancel", "reject"]))
    def disrupt(self, n, step):
        """Cancel or reject an assignment holding stock, which the step must release
        (any_step tries them in every other state)."""
        found = [a for a in self.assignment_list() if a.status in RELEASED_BY[step]]
        if found:
            self.attempt(step, found[n % len(found)], Choice())


# ====================================================================== the domain alone


class DomainStock(StoreActivity):
    """Drives store_node.domain directly."""

    def __init__(self):
        super().__init__()
        self.items = {sku: StockItem(sku) for sku in SKUS}
        self.moves: list[stock.Movement] = []
        self.assignments: list[Assignment] = []

    def assignment_list(self) -> list[Assignment]:
        return self.assignments

    def refresh(self, a: Assignment) -> Assignment:
        return a

    @initialize(qtys=opening)
    def opening_stock(self, qtys):
        for sku, qty in zip(SKUS, qtys, strict=True):
            self.receive(sku, qty, False)

    def receive(self, sku, qty, _barcode):
        self.moves.append(stock.receive(self.items[sku], qty))
        self.on_hand[sku] += qty

    def sell(self, sku, qty, _receipt):
        self.moves.append(stock.sell(self.items[sku], qty))
        self.on_hand[sku] -= qty

    def take_return(self, sku, qty, sellable):
        self.moves.append(stock.take_return(self.items[sku], qty, sellable))
        self.on_hand[sku] += qty if sellable else 0

    def count(self, sku, counted, _barcode):
        self.moves.append(stock.count(self.items[sku], counted))
        self.on_hand[sku] = counted

    def adjust(self, sku, change, _):
        delta, reason = change
        self.moves.append(stock.adjust(self.items[sku], delta, reason))
        self.on_hand[sku] += delta

    @rule(kind=kinds, lines=order_lines, id_check=st.booleans())
    def assign(self, kind, lines, id_check):
        n = len(self.assignments) + 1
        self.assignments.append(
            Assignment(
                f"AS-{n}",
                f"O-{n}",
                kind,
                [Line(str(i), s, q) for i, (s, q) in enumerate(lines)],
                START + timedelta(hours=2),
                requires_id_check=id_check,
            )
        )

    def attempt(self, step: str, a: Assignment, c: Choice) -> bool:
        items = self.items
        try:
            match step:
                case "accept":
                    moves, _ = steps.accept(a, items, c.rejected(a))
                case "reject":
                    moves, _ = steps.reject(a, items, RejectReason.DAMAGED)
                case "pick":
                    steps.pick(a, c.sku, c.qty)
                    moves = []
                case "complete_pick":
                    moves, _ = steps.complete_pick(a, items, "shelf empty" if c.short else None)
                case "pack":
                    steps.pack(a, [PARCEL])
                    moves = []
                case "ship":
                    moves = steps.ship(a, items)
                    self._dispatched(a)
                case "make_ready":
                    steps.make_ready(a, "PK2345", START)
                    moves = []
                case "collect":
                    moves = steps.collect(a, items, "pk2345" if c.right_code else "PK9999", c.id_checked)
                    self._dispatched(a)
                case "expire":
                    moves = steps.expire(a, items)
                case "cancel":
                    applied, moves = steps.cancel(a, items)
                    if not applied:
                        return False
        except DomainError:
            return False
        self.moves += moves
        return True

    @invariant()
    def levels_are_the_sum_of_the_movements(self):
        for sku, item in self.items.items():
            on_hand = sum(m.on_hand_delta for m in self.moves if m.sku == sku)
            reserved = sum(m.reserved_delta for m in self.moves if m.sku == sku)
            assert (item.on_hand, item.reserved) == (on_hand, reserved), sku

    @invariant()
    def on_hand_is_what_the_activity_says(self):
        assert {s: i.on_hand for s, i in self.items.items()} == self.on_hand

    @invariant()
    def reserved_is_what_the_holding_assignments_owe(self):
        reserved = {s: i.reserved for s, i in self.items.items()}
        assert all(r >= 0 for r in reserved.values())
        assert reserved == owed_by(self.assignments)


TestDomainStock = DomainStock.TestCase
TestDomainStock.settings = settings(SETTINGS, max_examples=80)


# ====================================================================== through the services


class ServiceStock(StoreActivity):
    """Drives store_node.services on a real StoreDatabase and checks the database after every step."""

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="comptoir-prop-", dir=SCRATCH)
        self.db = StoreDatabase(f"{self.dir}/store.db", "P-01")
        with self.db.transaction() as tx:
            tx.upsert_products(
                {"sku": s, "name": f"item {s}", "price_cents": 250, "barcodes": [BARCODES[s]]} for s in SKUS
            )
        self.now = START
        self.expiry_days = fulfilment.DEFAULT_PICKUP_EXPIRY_DAYS
        self.sold_receipts: set[str] = set()
        self.assignment_ids: list[str] = []
        self.sent: list[FeedMessage] = []

    def teardown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def assignment_list(self) -> list[Assignment]:
        return self.db.assignments(limit=10_000)

    def refresh(self, a: Assignment) -> Assignment:
        return self.db.assignment(a.assignment_id)

    # -------------------------------------------------------------- helpers
    def _code(self, sku: str, barcode: bool) -> str:
        return BARCODES[sku] if barcode else sku

    def _seqs(self) -> list[int]:
        return [r["seq"] for r in self.db.query("SELECT seq FROM outbox ORDER BY seq")]

    def _stock(self) -> dict[str, tuple[int, int]]:
        return {r["sku"]: (r["on_hand"], r["reserved"]) for r in self.db.query("SELECT * FROM stock")}

    def _try(self, fn, *args, **kwargs):
        """Call a service; a refusal must leave the outbox and the stock as they were."""
        before = (self._seqs(), self._stock())
        try:
            return fn(*args, **kwargs)
        except DomainError:
            assert (self._seqs(), self._stock()) == before
            return None

    def _feed(self, kind: MessageKind, payload: dict) -> dict:
        message = FeedMessage(seq=len(self.sent) + 1, kind=kind, at=to_iso(self.now), payload=payload)
        self.sent.append(message)
        result = feed.apply_feed(self.db, [message], now=self.now)
        assert [a["seq"] for a in result["applied"]] == [message.seq]
        return result["applied"][0]

    # -------------------------------------------------------------- till and floor
    @initialize(qtys=opening)
    def opening_stock(self, qtys):
        self.basket([(s, q, False) for s, q in zip(SKUS, qtys, strict=True)], None)

    def receive(self, sku, qty, barcode):
        till.receive_goods(self.db, "A001", [TillLine(self._code(sku, barcode), qty)], "DEL-1", now=self.now)
        self.on_hand[sku] += qty

    def sell(self, sku, qty, receipt):
        self.basket([(sku, qty, False)], receipt)

    @rule(
        lines=st.lists(st.tuples(skus, qtys, st.booleans()), min_size=1, max_size=3),
        receipt=st.none() | st.integers(1, 8),
    )
    def basket(self, lines, receipt):
        """Several lines (perhaps of one SKU) in one receipt: a sale with a till number, else a delivery."""
        till_lines = [TillLine(self._code(s, b), q) for s, q, b in lines]
        if receipt is None:
            till.receive_goods(self.db, "A001", till_lines, "DEL-2", now=self.now)
        else:
            receipt_id = f"TILL-{receipt}"  # a retried receipt must sell once
            result = till.record_sale(self.db, "A001", till_lines, receipt_id, self.now)
            assert result["duplicate"] == (receipt_id in self.sold_receipts)
            if result["duplicate"]:
                return
            self.sold_receipts.add(receipt_id)
        for sku, qty, _ in lines:
            self.on_hand[sku] += -qty if receipt else qty

    def take_return(self, sku, qty, sellable):
        till.record_return(self.db, "A001", [TillLine(sku, qty, sellable)], now=self.now)
        self.on_hand[sku] += qty if sellable else 0

    def count(self, sku, counted, barcode):
        till.count_stock(self.db, "A001", self._code(sku, barcode), counted, now=self.now)
        self.on_hand[sku] = counted

    def adjust(self, sku, change, _):
        delta, reason = change
        till.adjust_stock(self.db, "M001", sku, delta, str(reason), "shelf check", now=self.now)
        self.on_hand[sku] += delta

    @rule(lines=st.lists(st.tuples(skus, qtys), max_size=2))
    def refused_input_changes_nothing(self, lines):
        bad_sale = [*(TillLine(s, q) for s, q in lines), TillLine("NOPE", 1)]
        assert self._try(till.record_sale, self.db, "A001", bad_sale, now=self.now) is None
        assert self._try(till.adjust_stock, self.db, "A001", "A", 3, "theft", now=self.now) is None

    # -------------------------------------------------------------- the hub's feed
    @rule(kind=kinds, lines=order_lines, id_check=st.booleans())
    def assign(self, kind, lines, id_check):
        assignment_id = f"AS-{len(self.assignment_ids) + 1}"
        applied = self._feed(
            MessageKind.ASSIGNMENT,
            {
                "assignment_id": assignment_id,
                "order_id": f"O-{assignment_id}",
                "kind": str(kind),
                "deadline": to_iso(self.now + timedelta(hours=2)),
                "requires_id_check": id_check,
                "lines": [{"line_id": str(i), "sku": s, "qty": q} for i, (s, q) in enumerate(lines)],
            },
        )
        assert applied["outcome"] == "received"
        self.assignment_ids.append(assignment_id)

    @rule(
        action=st.sampled_from(["set_pickup_expiry", "redeliver", "time_passes", "acknowledge"]),
        number=st.integers(0, 400),
        again=st.lists(which, min_size=1, max_size=3),
    )
    def hub_and_clock(self, action, number, again):
        """The rest of the hub's and the clock's doings, one rule so that they do not crowd out the rest."""
        if action == "set_pickup_expiry":
            days = 1 + number % 4
            assert self._feed(MessageKind.SETTING, {"key": "pickup_expiry_days", "value": days})["outcome"]
            self.expiry_days = days
        elif action == "redeliver" and self.sent:
            messages = [self.sent[i % len(self.sent)] for i in again]
            before = (self._seqs(), self._stock(), self.db.meta()["feed_cursor"])
            result = feed.apply_feed(self.db, messages, now=self.now)
            assert result["applied"] == []
            assert (self._seqs(), self._stock(), self.db.meta()["feed_cursor"]) == before
        elif action == "time_passes":
            self.now += timedelta(days=number % 4, minutes=1)
            fulfilment.expire_due(self.db, "system", now=self.now)
        elif action == "acknowledge":
            feed.acknowledge(self.db, self.db.meta()["epoch"], number)

    # -------------------------------------------------------------- working assignments
    def attempt(self, step: str, a: Assignment, c: Choice) -> bool:
        db, aid, now = self.db, a.assignment_id, self.now
        if step == "cancel":
            outcome = self._feed(MessageKind.CANCELLATION, {"assignment_id": aid, "reason": "customer"})
            return outcome["outcome"] == "cancelled"
        if step == "expire":
            self.now += timedelta(days=self.expiry_days)
            return aid in fulfilment.expire_due(db, "system", now=self.now)
        calls = {
            "accept": lambda: fulfilment.accept(db, "A001", aid, c.rejected(a), now=now),
            "reject": lambda: fulfilment.reject(db, "A001", aid, "damaged", now=now),
            "pick": lambda: fulfilment.pick(db, "A001", aid, self._code(c.sku, c.right_code), c.qty, now=now),
            "complete_pick": lambda: fulfilment.complete_pick(
                db, "A001", aid, "shelf empty" if c.short else None, now=now
            ),
            "pack": lambda: fulfilment.pack(db, "A001", aid, [PARCEL], now=now),
            "ship": lambda: fulfilment.ship(db, "A001", aid, now=now),
            "make_ready": lambda: fulfilment.make_ready(db, "A001", aid, now=now),
            "collect": lambda: fulfilment.collect(
                db,
                "A001",
                aid,
                a.pickup_code if c.right_code and a.pickup_code else "WRONG7",
                c.id_checked,
                now=now,
            ),
        }
        view = self._try(calls[step])
        if view is None:
            return False
        if step in ("ship", "collect"):
            self._dispatched(a)
        return True

    # -------------------------------------------------------------- what must always hold
    @invariant()
    def stock_is_the_sum_of_the_movements(self):
        sums = {
            r["sku"]: (r["on_hand"], r["reserved"])
            for r in self.db.query(
                "SELECT sku, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved "
                "FROM movements GROUP BY sku"
            )
        }
        assert self._stock() == sums

    @invariant()
    def on_hand_is_what_the_activity_says(self):
        stock = self._stock()
        assert {s: stock.get(s, (0, 0))[0] for s in SKUS} == self.on_hand

    @invariant()
    def reserved_is_what_the_holding_assignments_owe(self):
        stock = self._stock()
        reserved = {s: stock.get(s, (0, 0))[1] for s in SKUS}
        assert all(r >= 0 for r in reserved.values())
        assert reserved == owed_by(self.assignment_list())

    @invariant()
    def outbox_has_no_gap_replays_to_the_stock_table_and_has_every_sale_once(self):
        events = self.db.outbox(0, 100_000)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        replica: dict[str, tuple[int, int]] = {}
        for event in events:  # the hub keeps the level with the highest seq
            for level in event["levels"]:
                replica[level["sku"]] = (level["on_hand"], level["reserved"])
        assert replica == self._stock()
        sales = [e["payload"]["receipt_id"] for e in events if e["kind"] == "sale.recorded"]
        assert sorted(sales) == sorted(self.sold_receipts)


TestServiceStock = ServiceStock.TestCase
# Shrinking steps that each commit to SQLite can take Hypothesis' full five minutes: a failure
# here prints the unshrunk steps at once (the domain machine above shrinks its failures).
TestServiceStock.settings = settings(
    SETTINGS, max_examples=60, stateful_step_count=30, phases=[p for p in Phase if p is not Phase.shrink]
)
