"""Stock rebalancing between stores: propose transfers from the forecast, head office edits and approves.

A run reads, in one snapshot, each store's stock as the hub holds it, safety stock, open transfers
and the demand history; forecasts the horizon; asks the domain (``propose_transfers``) for the
transfers that cover the most need over the fewest unit-km within head office's limits; and stores
the proposals with their reasons in one short write transaction (the heavy part runs outside it,
so sync ingest is never held up by a run).

What a store can give or needs, per SKU (``StockPosition.available``):
  on hand - reserved (the store's replica)
  - units routed to it that its levels do not reserve yet (as in available to promise), and those of
    click-and-collect orders held there until their transfer arrives
  + units of open transfers coming to it (requested, being picked or in transit),
so that a second run does not propose again what an approved transfer already brings.
Safety stock follows the routing lookup: (store, SKU), then (store, *), then (*, SKU), then (*, *).

Approving groups the approved lines of one (source, destination) pair into ONE transfer
(``transfers.request_transfer``, idempotent by the reference ``<run id>:<source>><destination>``).
Marking lines approved and creating the transfers are separate transactions: a crash in between
leaves approved lines without a transfer, which the next approval of the run (even of nothing new)
completes, and the reference makes sure no pair ever gets two. Once a pair has approved lines, its
other lines in the run can only be rejected: a pair is one transfer. A run older than
``RUN_VALID_HOURS`` can no longer be approved (stock has moved since): run again.

Head office's limits are kept as a setting (``rebalancing_limits``); a run uses them, overridden
by what the request gives, and records the limits it used.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from shared.clock import from_iso, to_iso, utc_now
from shared.database import dumps
from shared.errors import InvalidInput, NotFound, Refused
from shared.ids import prefixed_id

from ..domain.orders import AWAITING_TRANSFER, OPEN, UNANSWERED
from ..domain.rebalancing import RebalancingLimits, StockPosition, Store, propose_transfers
from ..store import HubDatabase, HubTx
from . import forecasting, transfers

LIMITS_SETTING = "rebalancing_limits"
LIMIT_KEYS = ("min_transfer_qty", "max_transfers_per_store_per_day", "excluded_skus", "excluded_stores",
              "max_distance_km")  # fmt: skip
DEFAULT_LIMITS = {
    "min_transfer_qty": 1,
    "max_transfers_per_store_per_day": None,
    "excluded_skus": [],
    "excluded_stores": [],
    "max_distance_km": None,
}
RUN_VALID_HOURS = 24
MAX_QTY = 1_000_000
OPEN_STATUSES = ("proposed", "edited")
# transfer-out statuses whose units have not reached the destination's levels yet
INBOUND = sorted(OPEN | {"shipped"})
# assignment statuses whose units are promised but not yet reserved in the store's levels: routed and not
# answered (as in available to promise), or a click-and-collect held at its pickup store until its transfer
# arrives (that transfer's units count as inbound there, and are already spoken for)
PROMISED = sorted(UNANSWERED | {AWAITING_TRANSFER})
ORIGIN = "rebalancing"

Pair = tuple[str, str]


# ------------------------------------------------------------------ limits
def saved_limits(db: HubDatabase) -> dict:
    """Head office's limits as saved (the defaults before any is)."""
    raw = db.reader().setting(LIMITS_SETTING)
    return {**DEFAULT_LIMITS, **(orjson.loads(raw) if raw else {})}


def _limits(tx: HubTx, overrides: Mapping[str, object] | None) -> tuple[dict, RebalancingLimits]:
    """The saved limits overridden by ``overrides``, checked: every bad field named at once."""
    raw = tx.setting(LIMITS_SETTING)
    merged = {**DEFAULT_LIMITS, **(orjson.loads(raw) if raw else {})}
    problems: list[tuple[str, str]] = []
    for key, value in (overrides or {}).items():
        if key not in LIMIT_KEYS:
            problems.append((key, "not a rebalancing limit"))
        else:
            merged[key] = value
    for key in ("excluded_skus", "excluded_stores"):
        value = merged[key]
        if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
            problems.append((key, f"must be a list of ids, got {value!r}"))
            merged[key] = []
        else:
            merged[key] = [str(v) for v in value]  # as given, so that a refusal's index points at the right one
    known_skus = tx.known_skus(merged["excluded_skus"]) if merged["excluded_skus"] else set()
    problems += [
        (f"excluded_skus[{i}]", f"unknown SKU {sku!r}")
        for i, sku in enumerate(merged["excluded_skus"])
        if sku not in known_skus
    ]
    stores = set(tx.store_ids())
    problems += [
        (f"excluded_stores[{i}]", f"unknown store {store!r}")
        for i, store in enumerate(merged["excluded_stores"])
        if store not in stores
    ]
    for key in ("excluded_skus", "excluded_stores"):
        merged[key] = sorted(set(merged[key]))
    try:
        limits = RebalancingLimits(
            min_transfer_qty=merged["min_transfer_qty"],
            max_transfers_per_store_per_day=merged["max_transfers_per_store_per_day"],
            excluded_skus=frozenset(merged["excluded_skus"]),
            excluded_stores=frozenset(merged["excluded_stores"]),
            max_distance_km=merged["max_distance_km"],
        )
    except InvalidInput as exc:
        problems += exc.fields
        limits = None
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])
    assert limits is not None
    return merged, limits


# ------------------------------------------------------------------ the run
def safety_for(rules: Mapping[tuple[str, str], int], store_id: str, sku: str) -> int:
    """The most specific safety-stock rule, as routing.available_to_promise looks it up."""
    for key in ((store_id, sku), (store_id, "*"), ("*", sku), ("*", "*")):
        if key in rules:
            return rules[key]
    return 0


@dataclass(frozen=True)
class StockSnapshot:
    """What the network holds, read in one snapshot: per (store, SKU) what it could hand over or has coming."""

    stores: list[Store]
    safety: dict[tuple[str, str], int]
    available: dict[Pair, int]


def read_stock(r: HubTx) -> StockSnapshot:
    known = {s["store_id"]: Store(s["store_id"], s["lat"], s["lon"]) for s in r.stores()}
    available: dict[Pair, int] = defaultdict(int)
    for row in r.all_levels():
        available[(row["store_id"], row["sku"])] += row["on_hand"] - row["reserved"]
    for pair, qty in r.unreserved_by_status(PROMISED).items():
        available[pair] -= qty
    for pair, qty in r.inbound_transfers(INBOUND).items():
        available[pair] += qty
    # a level of a store since removed has no coordinates: it can neither give nor receive
    kept = {pair: qty for pair, qty in available.items() if pair[0] in known}
    return StockSnapshot(list(known.values()), r.safety_stock(), kept)


def stock_positions(stock: StockSnapshot, forecasts: Mapping[Pair, float]) -> list[StockPosition]:
    """Every (store, SKU) the hub holds stock for, has stock coming to, or expects demand at."""
    known = {s.store_id for s in stock.stores}
    pairs = sorted(pair for pair in set(stock.available) | set(forecasts) if pair[0] in known)
    return [
        StockPosition(
            store_id=store_id,
            sku=sku,
            available=stock.available.get((store_id, sku), 0),
            safety_stock=safety_for(stock.safety, store_id, sku),
            forecast=float(forecasts.get((store_id, sku), 0.0)),
        )
        for store_id, sku in pairs
    ]


def create_run(
    db: HubDatabase,
    actor: str,
    *,
    horizon_days: int = forecasting.DEFAULT_HORIZON_DAYS,
    lookback_days: int = forecasting.DEFAULT_LOOKBACK_DAYS,
    limits: Mapping[str, object] | None = None,
    save_limits: bool = False,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    on_history: Callable[[int], None] | None = None,
) -> dict:
    """Forecast, propose and store a run; answers it with its proposals (see ``run_view``).

    ``limits`` override the saved ones for this run (and replace them with ``save_limits``).
    ``on_history(n)`` is told how many series will be forecast, then ``progress(1)`` after each.
    """
    moment = now or utc_now()
    at = to_iso(moment)
    forecasting.check_days(horizon_days, lookback_days)
    r = db.reader()
    with r.snapshot():
        merged, domain_limits = _limits(r, limits)
        history = forecasting.load_history(db, moment, lookback_days, reader=r)
        series = len(history)
        stock = read_stock(r)
    if on_history is not None:
        on_history(series)
    forecasts = forecasting.forecast_history(history, horizon_days, progress=progress)
    totals = {(f.store_id, f.sku): f.total for f in forecasts}
    positions = stock_positions(stock, totals)
    plan = propose_transfers(positions, stock.stores, domain_limits, horizon_days)
    run_id = prefixed_id("RB")
    summary = {
        "series": series,
        "positions": len(positions),
        "proposals": len(plan.proposals),
        "units_moved": plan.units_moved,
        "unit_km": round(plan.unit_km, 1),
        "shortfall_units": sum(s.qty for s in plan.shortfalls),
        "forecast_start": history.today.isoformat(),
        "accuracy": forecasting.accuracy(forecasts),
    }
    run = {
        "run_id": run_id,
        "created_at": at,
        "actor": actor,
        "horizon_days": horizon_days,
        "lookback_days": lookback_days,
        "limits": merged,
        "shortfalls": [
            {"store_id": s.store_id, "sku": s.sku, "qty": s.qty, "reason": s.reason} for s in plan.shortfalls
        ],
        "summary": summary,
    }
    proposals = [
        {
            "source_store_id": p.source_store,
            "destination_store_id": p.destination_store,
            "sku": p.sku,
            "qty": p.qty,
            "distance_km": round(p.distance_km, 3),
            "reason": p.reason,
        }
        for p in plan.proposals
    ]
    with db.transaction() as tx:
        tx.insert_rebalancing_run(run, proposals)
        before = {**DEFAULT_LIMITS, **orjson.loads(tx.setting(LIMITS_SETTING) or "{}")}
        if save_limits and before != merged:
            tx.set_setting(LIMITS_SETTING, dumps(merged))
            changed = [k for k in LIMIT_KEYS if before[k] != merged[k]]
            detail = {"before": {k: before[k] for k in changed}, "after": {k: merged[k] for k in changed}}
            tx.add_audit(at, actor, "rebalancing.limits", LIMITS_SETTING, detail)
        tx.add_audit(at, actor, "rebalancing.run", run_id, {**summary, "limits": merged, "horizon_days": horizon_days})
    return run_view(db, run_id, moment)


# ------------------------------------------------------------------ reading runs
def _expired(run: Mapping, moment: datetime) -> bool:
    return moment - from_iso(run["created_at"]) > timedelta(hours=RUN_VALID_HOURS)


def _proposal(row, locked: set[Pair]) -> dict:
    pair = (row["source_store_id"], row["destination_store_id"])
    open_ = row["status"] in OPEN_STATUSES
    return {
        "proposal_id": row["proposal_id"],
        "run_id": row["run_id"],
        "source_store_id": pair[0],
        "destination_store_id": pair[1],
        "sku": row["sku"],
        "qty": row["qty"],
        "proposed_qty": row["proposed_qty"],
        "distance_km": row["distance_km"],
        "reason": row["reason"],
        "status": row["status"],
        "transfer_order_id": row["transfer_order_id"],
        "decided_by": row["decided_by"],
        "updated_at": row["updated_at"],
        "open": open_,
        # a pair is one transfer: once some of its lines are approved, the others can only be rejected
        "approvable": open_ and pair not in locked,
    }


def run_view(db: HubDatabase, run_id: str, now: datetime | None = None) -> dict:
    """The run: its limits, summary and shortfalls, each proposal with its reason and status, its transfers."""
    r = db.reader()
    run = r.rebalancing_run(run_id)
    if run is None:
        raise NotFound(f"no rebalancing run {run_id!r}")
    rows = r.rebalancing_proposals(run_id)
    locked = {(p["source_store_id"], p["destination_store_id"]) for p in rows if p["status"] == "approved"}
    made: dict[str, dict] = {}
    for p in rows:
        if p["transfer_order_id"] and p["transfer_order_id"] not in made:
            order = r.order(p["transfer_order_id"])
            made[p["transfer_order_id"]] = {
                "order_id": p["transfer_order_id"],
                "source_store_id": p["source_store_id"],
                "destination_store_id": p["destination_store_id"],
                "status": order["status"] if order else None,
                "lines": [],
            }
        if p["transfer_order_id"]:
            made[p["transfer_order_id"]]["lines"].append({"sku": p["sku"], "qty": p["qty"]})
    moment = now or utc_now()
    return {
        **run,
        "expires_at": to_iso(from_iso(run["created_at"]) + timedelta(hours=RUN_VALID_HOURS)),
        "expired": _expired(run, moment),
        "proposals": [_proposal(p, locked) for p in rows],
        "transfers": sorted(made.values(), key=lambda t: (t["source_store_id"], t["destination_store_id"])),
    }


def latest_runs(db: HubDatabase, limit: int = 10) -> list[dict]:
    return [dict(row) for row in db.reader().rebalancing_runs(limit)]


# ------------------------------------------------------------------ head office's decisions
def _ids(field: str, proposal_ids: Iterable[object]) -> list[int]:
    ids, problems = [], []
    for i, pid in enumerate(proposal_ids):
        if not isinstance(pid, int) or isinstance(pid, bool) or pid < 1:
            problems.append((f"{field}[{i}]", f"must be a proposal id, got {pid!r}"))
        elif pid not in ids:
            ids.append(pid)
    if not ids and not problems:
        problems.append((field, "at least one proposal"))
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])
    return ids


def _check_qty(field: str, qty: object) -> tuple[str, str] | None:
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_QTY:
        return field, f"must be a whole number from 1 to {MAX_QTY} (reject the line to send none), got {qty!r}"
    return None


def edit_quantities(
    db: HubDatabase,
    actor: str,
    quantities: Mapping[int, int],
    run_id: str | None = None,
    now: datetime | None = None,
) -> list[dict]:
    """Change the quantity of open proposals (of ``run_id`` when given); answers those that changed."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        problems, refused, rows = [], [], []
        for pid, qty in quantities.items():
            row = tx.rebalancing_proposal(pid) if isinstance(pid, int) else None
            if row is None or (run_id is not None and row["run_id"] != run_id):
                problems.append((f"qty-{pid}", f"no proposal {pid!r}" + (f" in run {run_id}" if run_id else "")))
                continue
            if bad := _check_qty(f"qty-{pid}", qty):
                problems.append(bad)
                continue
            if row["status"] not in OPEN_STATUSES and row["qty"] != qty:
                refused.append(f"proposal {pid} is {row['status']}: its quantity can no longer change")
            rows.append((row, qty))
        if problems:
            raise InvalidInput(*problems[0], *problems[1:])
        if refused:
            raise Refused(refused)
        changed = []
        for row, qty in rows:
            if row["qty"] == qty:
                continue
            status = "proposed" if qty == row["proposed_qty"] else "edited"
            tx.set_proposal(row["proposal_id"], at, qty=qty, status=status, decided_by=actor)
            tx.add_audit(at, actor, "rebalancing.edited", f"{row['run_id']}/{row['proposal_id']}",
                         {"sku": row["sku"], "source": row["source_store_id"],
                          "destination": row["destination_store_id"], "before": row["qty"], "after": qty})  # fmt: skip
            changed.append(row["proposal_id"])
    return [p for run in {row["run_id"] for row, _ in rows} for p in run_view(db, run)["proposals"]
            if p["proposal_id"] in changed]  # fmt: skip


def edit_proposal(db: HubDatabase, actor: str, proposal_id: int, qty: int, now: datetime | None = None) -> dict:
    """Change one open proposal's quantity; answers the proposal as ``run_view`` shows it."""
    row = db.reader().rebalancing_proposal(proposal_id)
    if row is None:
        raise NotFound(f"no rebalancing proposal {proposal_id}")
    if bad := _check_qty("qty", qty):
        raise InvalidInput(*bad)
    edit_quantities(db, actor, {proposal_id: qty}, row["run_id"], now)
    return next(p for p in run_view(db, row["run_id"], now)["proposals"] if p["proposal_id"] == proposal_id)


def approve(
    db: HubDatabase,
    actor: str,
    run_id: str,
    proposal_ids: Iterable[int],
    quantities: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> dict:
    """Approve proposals (with their edited ``quantities``, if any) and create one transfer per pair.

    Approving again what is already approved changes nothing and creates nothing. Answers the run
    with ``created``: the transfers (order ids) this call made.
    """
    moment = now or utc_now()
    at = to_iso(moment)
    ids = _ids("proposal_ids", proposal_ids)
    quantities = dict(quantities or {})
    with db.transaction() as tx:
        run = tx.rebalancing_run(run_id)
        if run is None:
            raise NotFound(f"no rebalancing run {run_id!r}")
        rows = {p["proposal_id"]: p for p in tx.rebalancing_proposals(run_id)}
        problems = [(f"proposal_ids[{i}]", f"no proposal {pid} in run {run_id}") for i, pid in enumerate(ids)
                    if pid not in rows]  # fmt: skip
        for pid, qty in quantities.items():
            if pid not in ids:
                problems.append((f"qty-{pid}", "only the quantity of a proposal being approved can be given"))
            elif bad := _check_qty(f"qty-{pid}", qty):
                problems.append(bad)
        if problems:
            raise InvalidInput(*problems[0], *problems[1:])
        locked = {(p["source_store_id"], p["destination_store_id"]) for p in rows.values() if p["status"] == "approved"}
        newly = [rows[pid] for pid in ids if rows[pid]["status"] in OPEN_STATUSES]
        refused = [f"proposal {pid} was rejected" for pid in ids if rows[pid]["status"] == "rejected"]
        for p in newly:
            pair = (p["source_store_id"], p["destination_store_id"])
            if pair in locked:
                refused.append(
                    f"proposal {p['proposal_id']}: {pair[0]} -> {pair[1]} already has its approved transfer in this "
                    "run (a pair is one transfer); reject it, or run again to propose more"
                )
        for pid, qty in quantities.items():
            if rows[pid]["status"] == "approved" and rows[pid]["qty"] != qty:
                refused.append(f"proposal {pid} is already approved with {rows[pid]['qty']}")
        if newly and _expired(run, moment):
            refused.append(f"run {run_id} is older than {RUN_VALID_HOURS} hours: stock has moved since, run again")
        if refused:
            raise Refused(refused)
        stores = set(tx.store_ids())
        skus = tx.known_skus(p["sku"] for p in newly) if newly else set()
        gone = [
            (f"proposal_ids[{ids.index(p['proposal_id'])}]", f"{what} no longer exists")
            for p in newly
            for what in (
                [f"store {s}" for s in (p["source_store_id"], p["destination_store_id"]) if s not in stores]
                + ([f"SKU {p['sku']}"] if p["sku"] not in skus else [])
            )
        ]
        if gone:
            raise InvalidInput(*gone[0], *gone[1:])
        for p in newly:
            qty = quantities.get(p["proposal_id"], p["qty"])
            status = "approved"
            tx.set_proposal(p["proposal_id"], at, status=status, qty=qty, decided_by=actor)
        if newly:
            tx.add_audit(at, actor, "rebalancing.approved", run_id, {
                "proposals": [p["proposal_id"] for p in newly],
                "lines": [f"{p['source_store_id']} -> {p['destination_store_id']} {p['sku']} "
                          f"x{quantities.get(p['proposal_id'], p['qty'])}" for p in newly],
            })  # fmt: skip
    created = _create_transfers(db, run_id, actor, moment)
    return {**run_view(db, run_id, moment), "created": created}


def _create_transfers(db: HubDatabase, run_id: str, actor: str, moment: datetime) -> list[str]:
    """One transfer per pair with approved lines not yet in a transfer (this call's, or a crashed one's)."""
    pending: dict[Pair, list[tuple[str, int]]] = defaultdict(list)
    for p in db.reader().rebalancing_proposals(run_id):
        if p["status"] == "approved" and not p["transfer_order_id"]:
            pending[(p["source_store_id"], p["destination_store_id"])].append((p["sku"], p["qty"]))
    created = []
    for (source, destination), lines in sorted(pending.items()):
        order_id = transfers.request_transfer(
            db,
            source,
            destination,
            sorted(lines),
            reason=f"rebalancing run {run_id}, approved by {actor}",
            origin=ORIGIN,
            reference=f"{run_id}:{source}>{destination}",
            now=moment,
        )
        with db.transaction() as tx:
            if tx.link_proposals_to_transfer(run_id, source, destination, order_id, to_iso(moment)):
                created.append(order_id)
    return created


def reject(db: HubDatabase, actor: str, run_id: str, proposal_ids: Iterable[int], now: datetime | None = None) -> dict:
    """Reject open proposals; rejecting one already rejected changes nothing, an approved one is refused."""
    moment = now or utc_now()
    at = to_iso(moment)
    ids = _ids("proposal_ids", proposal_ids)
    with db.transaction() as tx:
        if tx.rebalancing_run(run_id) is None:
            raise NotFound(f"no rebalancing run {run_id!r}")
        rows = {p["proposal_id"]: p for p in tx.rebalancing_proposals(run_id)}
        problems = [(f"proposal_ids[{i}]", f"no proposal {pid} in run {run_id}") for i, pid in enumerate(ids)
                    if pid not in rows]  # fmt: skip
        if problems:
            raise InvalidInput(*problems[0], *problems[1:])
        approved = [f"proposal {pid} is approved (transfer {rows[pid]['transfer_order_id'] or 'being created'})"
                    for pid in ids if rows[pid]["status"] == "approved"]  # fmt: skip
        if approved:
            raise Refused(approved)
        newly = [rows[pid] for pid in ids if rows[pid]["status"] in OPEN_STATUSES]
        for p in newly:
            tx.set_proposal(p["proposal_id"], at, status="rejected", decided_by=actor)
        if newly:
            tx.add_audit(at, actor, "rebalancing.rejected", run_id, {
                "proposals": [p["proposal_id"] for p in newly],
                "lines": [f"{p['source_store_id']} -> {p['destination_store_id']} {p['sku']} x{p['qty']}"
                          for p in newly],
            })  # fmt: skip
    return run_view(db, run_id, moment)
