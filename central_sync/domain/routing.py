"""Order routing: which stores fulfil which order lines, and the reasons why (pure domain)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from itertools import compress, repeat
from operator import lt

from shared.geo import great_circle_km

from .routing_model import (
    FULFIL,
    TRANSFER_PREFIX,
    Allocation,
    OrderKind,
    OrderLine,
    OrderToRoute,
    Router,
    RoutingDecision,
    StoreCandidate,
    transfer_purpose,
)
from .store_cover import fewest_stores

__all__ = [
    "FULFIL",
    "TRANSFER_PREFIX",
    "Allocation",
    "NearestStoreRouter",
    "OrderKind",
    "OrderLine",
    "OrderToRoute",
    "Router",
    "RoutingDecision",
    "StoreCandidate",
    "transfer_purpose",
]


_KIND_LABEL = {
    OrderKind.SHIP_FROM_STORE: "ship from store",
    OrderKind.CLICK_AND_COLLECT: "click and collect",
}


# Stores probed one look-up at a time, nearest first, between two filters by a whole SKU column.
_ONE_BY_ONE = 48


def _unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    c = math.cos(phi)
    return (c * math.cos(lam), c * math.sin(lam), math.sin(phi))


@dataclass(frozen=True)
class _Geometry:
    """What a store list fixes for ranking: ids, their positions, unit vectors on the sphere."""

    ids: tuple[str, ...]
    lats: list[float]
    lons: list[float]
    index: dict[str, int]
    points: list[tuple[float, float, float]]
    colocated: bool  # some stores share coordinates, so distances can tie

    @classmethod
    def of(cls, stores: Sequence[StoreCandidate], ids: tuple[str, ...]) -> _Geometry:
        index = {sid: i for i, sid in enumerate(ids)}
        if len(index) != len(ids):
            dupes = sorted({sid for sid in ids if ids.count(sid) > 1})
            raise ValueError(f"stores: duplicate store_id {', '.join(dupes)}")
        lats = [s.lat for s in stores]
        lons = [s.lon for s in stores]
        points = list(map(_unit_vector, lats, lons))
        return cls(ids, lats, lons, index, points, len(set(points)) != len(points))

    def fits(self, stores: Sequence[StoreCandidate], ids: tuple[str, ...]) -> bool:
        return ids == self.ids and [s.lat for s in stores] == self.lats and [s.lon for s in stores] == self.lons


_NO_USE: dict[int, int] = {}


class _Network:
    """One route() call's working view: remaining capacity and ATP after the allocations made so far."""

    __slots__ = ("stores", "ids", "index", "caps", "points", "colocated", "ships", "atp", "used", "columns")

    def __init__(
        self, atp: Mapping[tuple[str, str], int], stores: Sequence[StoreCandidate], geometry: _Geometry
    ) -> None:
        self.stores = stores
        self.ids = geometry.ids
        self.index = geometry.index
        self.points = geometry.points
        self.colocated = geometry.colocated
        self.caps = [s.capacity_left for s in stores]
        # Every sourcing pass (whole orders, and transfers to a pickup store) needs a shipping store.
        ship = OrderKind.SHIP_FROM_STORE
        self.ships = [s.fresh and ship in s.kinds for s in stores]
        self.atp = atp
        # Consumption is kept beside the caller's mapping rather than in a copy of it: the mapping
        # can hold millions of entries and an order touches a handful. Per SKU: store index -> qty.
        self.used: dict[str, dict[int, int]] = {}
        # Whole-network columns of ATP left per SKU, read once per call when an order needs every
        # store's stock (splits, backorders) and reused by later orders of the batch.
        self.columns: dict[str, list[int]] = {}

    def have(self, i: int, sku: str) -> int:
        col = self.columns.get(sku)
        if col is not None:
            left = col[i]
        else:
            left = self.atp.get((self.ids[i], sku), 0) - self.used.get(sku, _NO_USE).get(i, 0)
        return left if left > 0 else 0

    def column(self, sku: str) -> list[int]:
        """ATP left for `sku` at every store, kept current by `take`."""
        col = self.columns.get(sku)
        if col is None:
            get = self.atp.get
            col = [get((sid, sku), 0) for sid in self.ids]
            for i, qty in self.used.get(sku, _NO_USE).items():
                col[i] -= qty
            if col and min(col) < 0:
                col = [h if h > 0 else 0 for h in col]
            self.columns[sku] = col
        return col

    def rank(self, lat: float, lon: float) -> list[int]:
        """Store indices nearest first; ties by more capacity left, then store_id."""
        # The straight chord through the Earth is a monotone function of great-circle distance, so
        # it ranks stores exactly as haversine would, computed in C with no trig per store.
        d = list(map(math.dist, self.points, repeat(_unit_vector(lat, lon))))
        n = len(d)
        if not self.colocated:
            return sorted(range(n), key=d.__getitem__)
        caps, ids = self.caps, self.ids
        return sorted(range(n), key=lambda i: (d[i], -caps[i], ids[i]))

    def km(self, i: int, lat: float, lon: float) -> float:
        s = self.stores[i]
        return great_circle_km(lat, lon, s.lat, s.lon)

    def unfit_reason(self, i: int, kind: OrderKind) -> str | None:
        s = self.stores[i]
        if not s.fresh:
            return "silent past the threshold"
        if kind not in s.kinds:
            return f"does not do {_KIND_LABEL[kind]}"
        if self.caps[i] <= 0:
            return "no capacity left today"
        return None

    def take(self, i: int, sku: str, qty: int) -> None:
        per_store = self.used.setdefault(sku, {})
        per_store[i] = per_store.get(i, 0) + qty
        col = self.columns.get(sku)
        if col is not None:
            col[i] -= qty


@dataclass
class _Sourcing:
    """What one sourcing pass decided, before it is applied to the network."""

    picks: list[int]  # store indices, nearest first
    taken: list[tuple[int, OrderLine, int]]  # (store index, line, qty)
    short: dict[str, int]  # line_id -> quantity nobody eligible can supply
    reasons: list[str]


def _items(parts: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{sku} x{qty}" for sku, qty in parts)


class NearestStoreRouter:
    """Rule-based router (DESIGN.md "Routing"): whole order from the nearest able store, else the
    fewest stores, nearest first; click and collect at its pickup store, topped up by transfers.

    Orders are routed one after another in the given sequence; each consumes ATP and capacity in
    this call's working view, so two orders of a batch are never promised the same units. The
    caller's `atp` mapping and `stores` are never modified.

    Distance: stores are ranked by the chord between unit vectors on the sphere, a monotone function
    of great-circle distance (same order as haversine, no trig per store); the km in reasons and in
    split costs come from `shared.geo.great_circle_km`. Exact ties go to more capacity left, then
    store_id.

    Splits minimise the number of stores first and the summed great-circle distance second (each
    store sends its own parcel). The search is exact: a greedy cover (most remaining units, ties to
    the nearer store) gives an upper bound, then a branch and bound over stores' coverage vectors
    (capped at what the order needs) tries 2, 3, ... stores. Stores whose coverage is matched or
    beaten by k nearer stores can never be needed in a k-store answer and are pruned, which keeps
    the search to a few dozen candidates. The search is capped (`search_budget` steps, at most
    four stores); past the cap it keeps the best cover found, else the greedy one. A line goes
    whole to one picked store when one holds enough, else it is split by quantity, nearest first.

    Click and collect: the pickup store fills what it holds; the rest is sourced like a split, from
    shipping stores nearest the pickup store's own coordinates, as `transfer_to:<pickup>` allocations.
    The pickup store gets one `fulfil` allocation per line for its own stock plus the transferred
    quantity. A line the pickup store rejected is backordered: the pickup store cannot change.

    Cost: per order, one distance per store (C-level), then ATP look-ups only for the order's SKUs,
    nearest stores first; whole-network SKU columns are read only when the nearest stores cannot
    fill the order, and are reused by later orders of the same call.

    Known limit: when one order has two lines of the same SKU and a store rejected only one of
    them, coverage is counted per SKU, so a split may leave a unit unfilled that another
    combination could have sourced. It is reported as backorder, never over-promised.
    """

    def __init__(self, *, max_skip_reasons: int = 10, search_budget: int = 5_000) -> None:
        self.max_skip_reasons = max_skip_reasons
        self.search_budget = search_budget
        # The last store list's geometry (unit vectors, id index): a memo of a pure function of
        # ids and coordinates, reused while they are unchanged so each call skips the trig.
        self._geometry: _Geometry | None = None

    def route(
        self,
        orders: Sequence[OrderToRoute],
        atp: Mapping[tuple[str, str], int],
        stores: Sequence[StoreCandidate],
    ) -> list[RoutingDecision]:
        ids = tuple([s.store_id for s in stores])
        geometry = self._geometry
        if geometry is None or not geometry.fits(stores, ids):
            geometry = self._geometry = _Geometry.of(stores, ids)
        net = _Network(atp, stores, geometry)
        return [self._route_one(order, net) for order in orders]

    def _route_one(self, order: OrderToRoute, net: _Network) -> RoutingDecision:
        kind = OrderKind(order.kind)
        excluded: dict[str, set[str]] = {}
        for store_id, line_id in order.excluded:
            excluded.setdefault(store_id, set()).add(line_id)
        if not order.lines:
            return RoutingDecision(order.order_id, (), (), ("order has no lines",))
        if kind is OrderKind.CLICK_AND_COLLECT:
            return self._click_and_collect(order, net, excluded)
        return self._ship_from_store(order, net, excluded)

    def _ship_from_store(self, order: OrderToRoute, net: _Network, excluded: dict[str, set[str]]) -> RoutingDecision:
        plan = self._source(
            net,
            list(order.lines),
            order.lat,
            order.lon,
            excluded,
            skip=-1,
            role=None,
        )
        allocations = tuple(Allocation(net.ids[i], line.line_id, line.sku, qty, FULFIL) for i, line, qty in plan.taken)
        _apply(net, plan)
        return RoutingDecision(order.order_id, allocations, _unfilled(order.lines, plan.short), tuple(plan.reasons))

    def _click_and_collect(self, order: OrderToRoute, net: _Network, excluded: dict[str, set[str]]) -> RoutingDecision:
        pickup_id = order.pickup_store_id
        p = net.index.get(pickup_id) if pickup_id is not None else None
        if pickup_id is None:
            why = "click and collect order has no pickup store"
        elif p is None:
            why = f"pickup store {pickup_id} is not a known store"
        else:
            unfit = net.unfit_reason(p, OrderKind.CLICK_AND_COLLECT)
            why = f"pickup store {pickup_id} cannot take the order: {unfit}" if unfit else None
        if why is not None or p is None or pickup_id is None:
            return RoutingDecision(order.order_id, (), order.lines, (f"{why}; whole order backordered",))

        reasons: list[str] = []
        own: dict[str, int] = {}
        missing: list[OrderLine] = []
        short: dict[str, int] = {}
        shortfalls: list[str] = []
        rejected_at_pickup = excluded.get(pickup_id, set())
        spent: dict[str, int] = {}
        for line in order.lines:
            if line.line_id in rejected_at_pickup:
                # The pickup store is fixed: a line it rejected cannot move elsewhere.
                short[line.line_id] = line.qty
                reasons.append(
                    f"line {line.line_id} ({line.sku}): {line.qty} of {line.qty} backordered, "
                    f"pickup store {pickup_id} rejected it and click and collect cannot move"
                )
                continue
            have = net.have(p, line.sku) - spent.get(line.sku, 0)
            got = min(have, line.qty)
            if got > 0:
                own[line.line_id] = got
                spent[line.sku] = spent.get(line.sku, 0) + got
            if got < line.qty:
                missing.append(OrderLine(line.line_id, line.sku, line.qty - got))
                shortfalls.append(f"{line.sku} (has {max(have, 0)}, needs {line.qty})")

        if not missing and not short:
            reasons.insert(0, f"{pickup_id} (pickup store) fills the whole order from its own stock")
        elif own:
            mine = _items([(ln.sku, own[ln.line_id]) for ln in order.lines if ln.line_id in own])
            reasons.insert(0, f"{pickup_id} (pickup store) fills {mine} from its own stock")
        if missing:
            reasons.append(f"{pickup_id} (pickup store) short of {', '.join(shortfalls)}: sourcing a transfer")

        transfers = _Sourcing([], [], {}, [])
        if missing:
            pickup = net.stores[p]
            transfers = self._source(
                net,
                missing,
                pickup.lat,
                pickup.lon,
                excluded,
                skip=p,
                role=pickup_id,
            )
            reasons.extend(transfers.reasons)
            short.update(transfers.short)

        at_pickup = dict(own)
        for _, line, qty in transfers.taken:
            at_pickup[line.line_id] = at_pickup.get(line.line_id, 0) + qty
        allocations = [
            Allocation(pickup_id, ln.line_id, ln.sku, at_pickup[ln.line_id], FULFIL)
            for ln in order.lines
            if ln.line_id in at_pickup
        ]
        purpose = transfer_purpose(pickup_id)
        allocations.extend(
            Allocation(net.ids[i], line.line_id, line.sku, qty, purpose) for i, line, qty in transfers.taken
        )

        for sku, qty in spent.items():
            net.take(p, sku, qty)
        if at_pickup:
            net.caps[p] -= 1
        _apply(net, transfers)
        return RoutingDecision(order.order_id, tuple(allocations), _unfilled(order.lines, short), tuple(reasons))

    def _source(
        self,
        net: _Network,
        lines: list[OrderLine],
        lat: float,
        lon: float,
        excluded: dict[str, set[str]],
        *,
        skip: int,
        role: str | None,
    ) -> _Sourcing:
        """Find shipping stores for `lines` near (lat, lon); `role` names the pickup store when the
        stock is to be transferred there rather than shipped to the customer."""
        need = _Need.of(lines, excluded, net.index)
        order_rank = net.rank(lat, lon)
        full = _nearest_filler(net, order_rank, need, skip)
        if full >= 0:
            picks, reach = [full], need.total
        else:
            picks, reach = self._split(net, need, order_rank, skip, lat, lon)

        taken = _allocate(net, need, picks)
        used_stores = {i for i, _, _ in taken}
        picks = [i for i in picks if i in used_stores]
        got: dict[str, int] = {}
        for _, line, qty in taken:
            got[line.line_id] = got.get(line.line_id, 0) + qty
        short = {line.line_id: line.qty - got.get(line.line_id, 0) for line in lines}
        short = {lid: q for lid, q in short.items() if q > 0}

        where = "from destination" if role is None else f"from pickup store {role}"
        reasons = self._chosen(net, need, picks, taken, lat, lon, where, role, whole=full >= 0)
        reasons += self._skipped(net, need, order_rank, picks, skip, role)
        col = {sku: j for j, sku in enumerate(need.skus)}
        for line in lines:
            missing = short.get(line.line_id, 0)
            if missing:
                avail = reach[col[line.sku]]
                why = "no eligible store has it" if not avail else f"eligible stores hold only {avail}"
                reasons.append(f"line {line.line_id} ({line.sku}): {missing} of {line.qty} backordered, {why}")
        return _Sourcing(picks, taken, short, reasons)

    def _split(
        self, net: _Network, need: _Need, order_rank: list[int], skip: int, lat: float, lon: float
    ) -> tuple[list[int], tuple[int, ...]]:
        """Stores for a need no single store fills, and what the eligible stores hold of each SKU."""
        cand, vecs = _coverage(net, order_rank, need, skip)
        reach = tuple(map(sum, zip(*vecs, strict=True))) if vecs else (0,) * len(need.skus)
        target = tuple(map(min, reach, need.total))
        if not any(target):
            return [], reach
        capped = vecs if target == need.total else [tuple(map(min, vec, target)) for vec in vecs]
        # When the network cannot fill everything, one store holding all that exists still wins.
        single = next((k for k, vec in enumerate(capped) if vec == target), None)
        if single is not None:
            return [cand[single]], reach
        chosen = fewest_stores(capped, lambda k: net.km(cand[k], lat, lon), target, self.search_budget)
        return [cand[k] for k in chosen], reach

    @staticmethod
    def _chosen(
        net: _Network,
        need: _Need,
        picks: list[int],
        taken: list[tuple[int, OrderLine, int]],
        lat: float,
        lon: float,
        where: str,
        role: str | None,
        *,
        whole: bool,
    ) -> list[str]:
        if role is None and len(picks) == 1:
            what = "the whole order" if whole else "all that can be filled now"
            return [f"{net.ids[picks[0]]} fills {what}, {net.km(picks[0], lat, lon):.1f} km {where}"]
        reasons = []
        if len(picks) > 1:
            subject = "the whole order" if role is None else "the shortfall"
            reasons.append(f"no single eligible store holds {subject}: split over {len(picks)} stores")
        parts: dict[int, list[tuple[str, int]]] = {i: [] for i in picks}
        for i, line, qty in taken:
            parts[i].append((line.sku, qty))
        verb, to = ("ships", "") if role is None else ("transfers", f" to {role}")
        for i in picks:
            sid = net.ids[i]
            # A store picked for some lines after rejecting others: say so, or it looks like a retry.
            rejected = [f"{ln.line_id} ({ln.sku})" for ln in need.lines if ln.line_id in need.excluded.get(sid, ())]
            note = f"; it rejected line {', '.join(rejected)} before" if rejected else ""
            reasons.append(f"{sid} {verb} {_items(parts[i])}{to}, {net.km(i, lat, lon):.1f} km {where}{note}")
        return reasons

    def _skipped(
        self, net: _Network, need: _Need, order_rank: list[int], picks: list[int], skip: int, role: str | None
    ) -> list[str]:
        """Why each store ranked before the farthest pick (every store when none was picked) was
        passed over, nearest first: the list answers "why not that closer store?"."""
        reasons = []
        chosen = set(picks)
        last = max((order_rank.index(i) for i in picks), default=len(order_rank) - 1)
        label = "skipped" if role is None else "skipped as transfer source"
        more = 0
        for i in order_rank[: last + 1]:
            if i in chosen or i == skip:
                continue
            if len(reasons) < self.max_skip_reasons:
                reasons.append(f"{net.ids[i]} {label}: {_skip_why(net, i, need)}")
            else:
                more += 1
        if more:
            reasons.append(f"{more} more {'nearer ' if picks else ''}stores skipped")
        return reasons


@dataclass(frozen=True)
class _Need:
    """What one sourcing pass must find: its lines, their totals per SKU, and what each store that
    rejected some of them may still serve."""

    lines: list[OrderLine]
    skus: list[str]
    total: tuple[int, ...]  # per SKU, in `skus` order
    excluded: dict[str, set[str]]  # store_id -> line_ids it rejected
    limited: dict[int, tuple[int, ...]]  # store index -> per-SKU need it may serve

    @classmethod
    def of(cls, lines: list[OrderLine], excluded: dict[str, set[str]], index: dict[str, int]) -> _Need:
        skus = list(dict.fromkeys(line.sku for line in lines))
        total = _per_sku(lines, skus, frozenset())
        limited = {}
        for sid, rejected in excluded.items():
            i = index.get(sid)
            if i is not None and (at := _per_sku(lines, skus, rejected)) != total:
                limited[i] = at
        return cls(lines, skus, total, excluded, limited)

    def at(self, i: int) -> tuple[int, ...]:
        return self.limited.get(i, self.total)


def _per_sku(lines: list[OrderLine], skus: list[str], leave_out: Set[str]) -> tuple[int, ...]:
    at = dict.fromkeys(skus, 0)
    for line in lines:
        if line.line_id not in leave_out:
            at[line.sku] += line.qty
    return tuple(at.values())


def _nearest_filler(net: _Network, order_rank: list[int], need: _Need, skip: int) -> int:
    """The nearest eligible store holding the whole need, or -1."""
    ships, caps, ids, columns = net.ships, net.caps, net.ids, net.columns
    atp_get, limited = net.atp.get, need.limited
    # Checked most-often-missing SKU first, so a store that lacks it costs one look-up.
    probe = [(sku, n, net.used.get(sku, _NO_USE)) for sku, n in zip(need.skus, need.total, strict=True)]
    pending = order_rank
    while pending:
        head, pending = pending[:_ONE_BY_ONE], pending[_ONE_BY_ONE:]
        for i in head:
            if i == skip or not ships[i] or caps[i] <= 0 or i in limited:
                continue
            sid = ids[i]
            for k, (sku, n, used) in enumerate(probe):
                col = columns.get(sku)
                h = col[i] if col is not None else atp_get((sid, sku), 0) - used.get(i, 0)
                if h < n:
                    if k:
                        probe.insert(0, probe.pop(k))
                    break
            else:
                return i
        if pending:
            # Nothing yet among the nearest: read the scarcest SKU's column once and keep only the
            # stores holding enough of it (a rare line has a few dozen holders, not 500).
            sku, n, _ = probe[0]
            col = net.column(sku)
            pending = [j for j in pending if col[j] >= n]
    return -1


def _coverage(net: _Network, order_rank: list[int], need: _Need, skip: int) -> tuple[list[int], list[tuple[int, ...]]]:
    """Eligible stores holding any of the need, nearest first, with what each holds of every SKU
    (capped at the need)."""
    ships, caps = net.ships, net.caps
    cols = [net.column(sku) for sku in need.skus]
    stores = range(len(caps))
    holders: set[int] = set()
    for col in cols:
        holders.update(compress(stores, map(lt, repeat(0), col)))
    rows = list(zip(*cols, strict=True))
    cand: list[int] = []
    vecs: list[tuple[int, ...]] = []
    for i in [i for i in order_rank if i in holders]:
        if i == skip or not ships[i] or caps[i] <= 0:
            continue
        vec = tuple(map(min, rows[i], need.at(i)))
        if any(vec):
            cand.append(i)
            vecs.append(vec)
    return cand, vecs


def _skip_why(net: _Network, i: int, need: _Need) -> str:
    unfit = net.unfit_reason(i, OrderKind.SHIP_FROM_STORE)
    if unfit:
        return unfit
    rejected = need.excluded.get(net.ids[i], ())
    why = [f"rejected line {ln.line_id} ({ln.sku}) before" for ln in need.lines if ln.line_id in rejected]
    stock = [
        f"{sku} (has {h}, needs {n})"
        for sku, n in zip(need.skus, need.at(i), strict=True)
        if n and (h := net.have(i, sku)) < n
    ]
    if stock:
        why.append(f"out of stock for {', '.join(stock)}")
    # A store with everything that was still passed over: a split with fewer or nearer stores won.
    return "; ".join(why) or "not needed by the chosen split"


def _allocate(net: _Network, need: _Need, picks: list[int]) -> list[tuple[int, OrderLine, int]]:
    """Spread each line over the picked stores: whole from the nearest store that can, else nearest first."""
    spent: dict[tuple[int, str], int] = {}
    taken: list[tuple[int, OrderLine, int]] = []

    def left(i: int, sku: str) -> int:
        return net.have(i, sku) - spent.get((i, sku), 0)

    for line in need.lines:
        allowed = [i for i in picks if line.line_id not in need.excluded.get(net.ids[i], ())]
        # Keeping a line in one parcel where possible saves the customer a split delivery of one item.
        whole = next((i for i in allowed if left(i, line.sku) >= line.qty), None)
        rem = line.qty
        for i in [whole] if whole is not None else allowed:
            q = min(rem, left(i, line.sku))
            if q > 0:
                taken.append((i, line, q))
                spent[(i, line.sku)] = spent.get((i, line.sku), 0) + q
                rem -= q
            if rem == 0:
                break
    order = {i: k for k, i in enumerate(picks)}
    taken.sort(key=lambda t: order[t[0]])
    return taken


def _apply(net: _Network, plan: _Sourcing) -> None:
    for i, line, qty in plan.taken:
        net.take(i, line.sku, qty)
    for i in plan.picks:
        net.caps[i] -= 1


def _unfilled(lines: Sequence[OrderLine], short: Mapping[str, int]) -> tuple[OrderLine, ...]:
    return tuple(OrderLine(ln.line_id, ln.sku, short[ln.line_id]) for ln in lines if short.get(ln.line_id))
