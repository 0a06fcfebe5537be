"""Order routing: which stores fulfil which order lines, and the reasons why (pure domain)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from shared.geo import great_circle_km


class OrderKind(StrEnum):
    """What the customer asked for; a StrEnum so it serialises as its value and equals it."""

    SHIP_FROM_STORE = "ship_from_store"
    CLICK_AND_COLLECT = "click_and_collect"


_KIND_LABEL = {
    OrderKind.SHIP_FROM_STORE: "ship from store",
    OrderKind.CLICK_AND_COLLECT: "click and collect",
}

FULFIL = "fulfil"
TRANSFER_PREFIX = "transfer_to:"


@dataclass(frozen=True)
class OrderLine:
    line_id: str
    sku: str
    qty: int

    def __post_init__(self) -> None:
        # A zero or negative line would let allocated + unfilled != ordered go unnoticed downstream.
        if self.qty < 1:
            raise ValueError(f"qty: must be a positive integer, got {self.qty!r} (line {self.line_id})")


@dataclass(frozen=True)
class OrderToRoute:
    order_id: str
    kind: OrderKind
    lines: tuple[OrderLine, ...]
    lat: float
    lon: float
    pickup_store_id: str | None = None
    excluded: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class StoreCandidate:
    store_id: str
    lat: float
    lon: float
    kinds: frozenset[OrderKind]
    capacity_left: int
    fresh: bool


@dataclass(frozen=True)
class Allocation:
    store_id: str
    line_id: str
    sku: str
    qty: int
    purpose: str


@dataclass(frozen=True)
class RoutingDecision:
    order_id: str
    allocations: tuple[Allocation, ...]
    unfilled: tuple[OrderLine, ...]
    reasons: tuple[str, ...]


class Router(Protocol):
    def route(
        self,
        orders: Sequence[OrderToRoute],
        atp: Mapping[tuple[str, str], int],
        stores: Sequence[StoreCandidate],
    ) -> list[RoutingDecision]: ...


def transfer_purpose(pickup_store_id: str) -> str:
    """The `purpose` of an allocation that moves stock to a click-and-collect pickup store."""
    return f"{TRANSFER_PREFIX}{pickup_store_id}"


# Above this many stores the exact split search is skipped for the greedy answer: orders have a
# handful of lines, so splits wider than this are rare and not worth an unbounded search.
_EXACT_MAX_STORES = 4
# Cross-vector dominance pruning costs (distinct coverage vectors)^2; beyond this we rely on the budget.
_DOMINANCE_MAX_VECTORS = 32


@lru_cache(maxsize=16384)
def _unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    c = math.cos(phi)
    return (c * math.cos(lam), c * math.sin(lam), math.sin(phi))


class _Network:
    """One route() call's working view: remaining capacity and ATP after the allocations made so far."""

    __slots__ = ("stores", "ids", "index", "caps", "xs", "ys", "zs", "able", "atp", "used")

    def __init__(self, atp: Mapping[tuple[str, str], int], stores: Sequence[StoreCandidate]) -> None:
        self.stores = list(stores)
        self.ids = [s.store_id for s in self.stores]
        self.index = {sid: i for i, sid in enumerate(self.ids)}
        if len(self.index) != len(self.ids):
            dupes = sorted({sid for sid in self.ids if self.ids.count(sid) > 1})
            raise ValueError(f"stores: duplicate store_id {', '.join(dupes)}")
        self.caps = [s.capacity_left for s in self.stores]
        vectors = [_unit_vector(s.lat, s.lon) for s in self.stores]
        self.xs = [v[0] for v in vectors]
        self.ys = [v[1] for v in vectors]
        self.zs = [v[2] for v in vectors]
        # Freshness and kinds do not change within a call; capacity does, so it is checked live.
        self.able = {kind: [s.fresh and kind in s.kinds for s in self.stores] for kind in OrderKind}
        self.atp = atp
        # Consumption is kept beside the caller's mapping rather than in a copy of it: the mapping
        # can hold millions of entries and an order touches a handful.
        self.used: dict[tuple[str, str], int] = {}

    def have(self, i: int, sku: str) -> int:
        key = (self.ids[i], sku)
        left = self.atp.get(key, 0) - self.used.get(key, 0)
        return left if left > 0 else 0

    def rank(self, lat: float, lon: float) -> list[int]:
        """Store indices nearest first; ties by more capacity left, then store_id."""
        # Squared chord length is a monotone function of great-circle distance, so it ranks stores
        # exactly as haversine would at a fraction of the cost (no trig per store per order).
        ox, oy, oz = _unit_vector(lat, lon)
        d2 = [
            (x - ox) * (x - ox) + (y - oy) * (y - oy) + (z - oz) * (z - oz)
            for x, y, z in zip(self.xs, self.ys, self.zs, strict=True)
        ]
        n = len(d2)
        if len(set(d2)) == n:
            return sorted(range(n), key=d2.__getitem__)
        caps, ids = self.caps, self.ids
        return sorted(range(n), key=lambda i: (d2[i], -caps[i], ids[i]))

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
        key = (self.ids[i], sku)
        self.used[key] = self.used.get(key, 0) + qty


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

    Splits minimise the number of stores first and the summed great-circle distance second (each
    store sends its own parcel). The search is exact: a greedy cover (most remaining units, ties to
    the nearer store) gives an upper bound, then a branch and bound over stores' coverage vectors
    (capped at what the order needs) tries 2, 3, ... stores. Stores whose coverage is matched or
    beaten by k nearer stores can never be needed in a k-store answer and are pruned, which keeps
    the search to a few dozen candidates. The search is capped (`search_budget` steps, at most
    four stores); past the cap it keeps the best cover found, else the greedy one.

    Known limit: when one order has two lines of the same SKU and a store rejected only one of
    them, coverage is counted per SKU, so a split may leave a unit unfilled that another
    combination could have sourced. It is reported as backorder, never over-promised.
    """

    def __init__(self, *, max_skip_reasons: int = 10, search_budget: int = 5_000) -> None:
        self.max_skip_reasons = max_skip_reasons
        self.search_budget = search_budget

    def route(
        self,
        orders: Sequence[OrderToRoute],
        atp: Mapping[tuple[str, str], int],
        stores: Sequence[StoreCandidate],
    ) -> list[RoutingDecision]:
        net = _Network(atp, stores)
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

    def _ship_from_store(
        self, order: OrderToRoute, net: _Network, excluded: dict[str, set[str]]
    ) -> RoutingDecision:
        plan = self._source(
            net,
            list(order.lines),
            order.lat,
            order.lon,
            OrderKind.SHIP_FROM_STORE,
            excluded,
            skip=-1,
            role=None,
        )
        allocations = tuple(
            Allocation(net.ids[i], line.line_id, line.sku, qty, FULFIL) for i, line, qty in plan.taken
        )
        _apply(net, plan)
        return RoutingDecision(
            order.order_id, allocations, _unfilled(order.lines, plan.short), tuple(plan.reasons)
        )

    def _click_and_collect(
        self, order: OrderToRoute, net: _Network, excluded: dict[str, set[str]]
    ) -> RoutingDecision:
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
            reasons.append(
                f"{pickup_id} (pickup store) short of {', '.join(shortfalls)}: sourcing a transfer"
            )

        transfers = _Sourcing([], [], {}, [])
        if missing:
            pickup = net.stores[p]
            transfers = self._source(
                net,
                missing,
                pickup.lat,
                pickup.lon,
                OrderKind.SHIP_FROM_STORE,
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
        return RoutingDecision(
            order.order_id, tuple(allocations), _unfilled(order.lines, short), tuple(reasons)
        )

    def _source(
        self,
        net: _Network,
        lines: list[OrderLine],
        lat: float,
        lon: float,
        kind: OrderKind,
        excluded: dict[str, set[str]],
        *,
        skip: int,
        role: str | None,
    ) -> _Sourcing:
        """Find stores for `lines` near (lat, lon); `role` is the pickup store when sourcing transfers."""
        skus = list(dict.fromkeys(line.sku for line in lines))
        col = {sku: j for j, sku in enumerate(skus)}
        need = [0] * len(skus)
        for line in lines:
            need[col[line.sku]] += line.qty
        need_t = tuple(need)

        order_rank = net.rank(lat, lon)
        able, caps, ids = net.able[kind], net.caps, net.ids
        atp_get, used_get = net.atp.get, net.used.get
        cand: list[int] = []  # store indices holding some of what is needed, nearest first
        vecs: list[tuple[int, ...]] = []  # their coverage per SKU, capped at the need
        full = -1
        for i in order_rank:
            if i == skip or not able[i] or caps[i] <= 0:
                continue
            sid = ids[i]
            cap_t = _need_at(sid, lines, skus, excluded) if sid in excluded else need_t
            whole = cap_t is need_t
            vec = []
            for sku, n in zip(skus, cap_t, strict=True):
                key = (sid, sku)
                h = atp_get(key, 0) - used_get(key, 0)
                if h >= n:
                    vec.append(n)
                else:
                    whole = False
                    vec.append(h if h > 0 else 0)
            if whole:
                full = i
                break
            if any(vec):
                cand.append(i)
                vecs.append(tuple(vec))

        if full >= 0:
            picks = [full]
            reach = need
        else:
            reach = [sum(col_) for col_ in zip(*vecs, strict=True)] if vecs else [0] * len(skus)
            target = tuple(min(r, n) for r, n in zip(reach, need, strict=True))
            capped = [tuple(map(min, vec, target)) for vec in vecs]
            if not any(target):
                picks = []
            else:
                # When the network cannot fill everything, one store holding all that exists still wins.
                single = next((k for k, vec in enumerate(capped) if vec == target), None)
                if single is not None:
                    picks = [cand[single]]
                else:
                    dists = [net.km(i, lat, lon) for i in cand]
                    picks = [cand[k] for k in _fewest_stores(capped, dists, target, self.search_budget)]

        taken = _allocate(net, lines, picks, excluded)
        used_stores = {i for i, _, _ in taken}
        picks = [i for i in picks if i in used_stores]
        got: dict[str, int] = {}
        for _, line, qty in taken:
            got[line.line_id] = got.get(line.line_id, 0) + qty
        short = {line.line_id: line.qty - got.get(line.line_id, 0) for line in lines}
        short = {lid: q for lid, q in short.items() if q > 0}

        reasons = self._reasons(
            net,
            lines,
            excluded,
            order_rank,
            picks,
            taken,
            lat,
            lon,
            kind,
            skip=skip,
            role=role,
            whole=full >= 0,
        )
        for line in lines:
            missing = short.get(line.line_id, 0)
            if missing:
                avail = reach[col[line.sku]]
                why = "no eligible store has it" if not avail else f"eligible stores hold only {avail}"
                reasons.append(
                    f"line {line.line_id} ({line.sku}): {missing} of {line.qty} backordered, {why}"
                )
        return _Sourcing(picks, taken, short, reasons)

    def _reasons(
        self,
        net: _Network,
        lines: list[OrderLine],
        excluded: dict[str, set[str]],
        order_rank: list[int],
        picks: list[int],
        taken: list[tuple[int, OrderLine, int]],
        lat: float,
        lon: float,
        kind: OrderKind,
        *,
        skip: int,
        role: str | None,
        whole: bool,
    ) -> list[str]:
        reasons: list[str] = []
        where = "from destination" if role is None else f"from pickup store {role}"
        parts: dict[int, list[tuple[str, int]]] = {i: [] for i in picks}
        for i, line, qty in taken:
            parts[i].append((line.sku, qty))
        if role is None and len(picks) == 1:
            what = "the whole order" if whole else "all that can be filled now"
            reasons.append(f"{net.ids[picks[0]]} fills {what}, {net.km(picks[0], lat, lon):.1f} km {where}")
        else:
            if len(picks) > 1:
                subject = "the whole order" if role is None else "the shortfall"
                reasons.append(f"no single eligible store holds {subject}: split over {len(picks)} stores")
            verb, to = ("ships", "") if role is None else ("transfers", f" to {role}")
            for i in picks:
                reasons.append(
                    f"{net.ids[i]} {verb} {_items(parts[i])}{to}, {net.km(i, lat, lon):.1f} km {where}"
                )

        # The skipped are the stores ranked before the farthest pick (every store when none was picked),
        # nearest first, so the list answers "why not that closer store?".
        chosen = set(picks)
        pos = {i: k for k, i in enumerate(order_rank)} if picks else {}
        last = max((pos[i] for i in picks), default=len(order_rank) - 1)
        label = "skipped" if role is None else "skipped as transfer source"
        listed = more = 0
        for i in order_rank[: last + 1]:
            if i in chosen or i == skip:
                continue
            if listed < self.max_skip_reasons:
                reasons.append(f"{net.ids[i]} {label}: {_skip_why(net, i, kind, lines, excluded)}")
                listed += 1
            else:
                more += 1
        if more:
            reasons.append(f"{more} more {'nearer ' if picks else ''}stores skipped")
        return reasons


def _need_at(
    sid: str, lines: list[OrderLine], skus: list[str], excluded: dict[str, set[str]]
) -> tuple[int, ...]:
    """Per-SKU need that store `sid` may serve, leaving out lines it rejected."""
    rejected = excluded.get(sid)
    at = dict.fromkeys(skus, 0)
    for line in lines:
        if not rejected or line.line_id not in rejected:
            at[line.sku] += line.qty
    return tuple(at.values())


def _skip_why(
    net: _Network, i: int, kind: OrderKind, lines: list[OrderLine], excluded: dict[str, set[str]]
) -> str:
    unfit = net.unfit_reason(i, kind)
    if unfit:
        return unfit
    sid = net.ids[i]
    rejected = excluded.get(sid, set())
    why = [f"rejected line {ln.line_id} ({ln.sku}) before" for ln in lines if ln.line_id in rejected]
    skus = list(dict.fromkeys(line.sku for line in lines))
    stock = [
        f"{sku} (has {h}, needs {n})"
        for sku, n in zip(skus, _need_at(sid, lines, skus, excluded), strict=True)
        if n and (h := net.have(i, sku)) < n
    ]
    if stock:
        why.append(f"out of stock for {', '.join(stock)}")
    # A store with everything that was still passed over: a split with fewer or nearer stores won.
    return "; ".join(why) or "not needed by the chosen split"


def _allocate(
    net: _Network, lines: list[OrderLine], picks: list[int], excluded: dict[str, set[str]]
) -> list[tuple[int, OrderLine, int]]:
    """Spread each line over the picked stores: whole from the nearest store that can, else nearest first."""
    spent: dict[tuple[int, str], int] = {}
    taken: list[tuple[int, OrderLine, int]] = []

    def left(i: int, sku: str) -> int:
        return net.have(i, sku) - spent.get((i, sku), 0)

    for line in lines:
        allowed = [i for i in picks if line.line_id not in excluded.get(net.ids[i], ())]
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


def _fewest_stores(
    vecs: list[tuple[int, ...]], dists: list[float], target: tuple[int, ...], budget: int
) -> list[int]:
    """Indices (into `vecs`, nearest first) of the fewest stores covering `target`, cheapest summed
    distance among those. `vecs` are coverage vectors capped at `target`; together they cover it."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, vec in enumerate(vecs):
        groups.setdefault(vec, []).append(k)
    greedy = _greedy_cover(groups, target)
    top = min(len(greedy), _EXACT_MAX_STORES)
    lower = _min_stores(vecs, target)
    if lower > top:
        return greedy

    # A store matched or beaten on every SKU by k nearer stores is never needed in a k-store cover:
    # swap it for one of them. Identical vectors beyond the first `top` are pruned outright.
    kept = sorted(k for members in groups.values() for k in members[:top])
    dominators: dict[int, int] = {}
    if len(groups) <= _DOMINANCE_MAX_VECTORS:
        seen: dict[tuple[int, ...], int] = {}
        for k in kept:
            vec = vecs[k]
            count = 0
            for other, c in seen.items():
                if all(a >= b for a, b in zip(other, vec, strict=True)):
                    count += c
                    if count >= top:
                        break
            dominators[k] = count
            seen[vec] = seen.get(vec, 0) + 1
    else:
        for members in groups.values():
            for rank_in_group, k in enumerate(members[:top]):
                dominators[k] = rank_in_group

    greedy_cost = sum(dists[k] for k in greedy)
    for size in range(max(2, lower), top + 1):
        pool = [k for k in kept if dominators[k] < size]
        bound = greedy_cost if size == len(greedy) else math.inf
        found, budget = _cheapest_cover(
            [vecs[k] for k in pool], [dists[k] for k in pool], target, size, bound, budget
        )
        if found is not None:
            return [pool[p] for p in found]
        if budget <= 0:
            break
    return greedy


def _greedy_cover(groups: dict[tuple[int, ...], list[int]], target: tuple[int, ...]) -> list[int]:
    """Repeatedly take the store covering most of what is still missing; ties go to the nearer."""
    deficit = list(target)
    taken_per_group = dict.fromkeys(groups, 0)
    chosen: list[int] = []
    while any(deficit):
        best_vec: tuple[int, ...] | None = None
        best_gain, best_k = 0, -1
        for vec, members in groups.items():
            t = taken_per_group[vec]
            if t == len(members):
                continue
            gain = sum(min(a, d) for a, d in zip(vec, deficit, strict=True))
            if gain > best_gain or (gain == best_gain and gain and members[t] < best_k):
                best_vec, best_gain, best_k = vec, gain, members[t]
        if best_vec is None:
            break
        taken_per_group[best_vec] += 1
        chosen.append(best_k)
        deficit = [max(0, d - a) for d, a in zip(deficit, best_vec, strict=True)]
    return sorted(chosen)


def _min_stores(vecs: list[tuple[int, ...]], target: tuple[int, ...]) -> int:
    """A lower bound on how many stores any cover needs."""
    lower = 1
    for j, t in enumerate(target):
        if t:
            lower = max(lower, -(-t // max(vec[j] for vec in vecs)))
    return max(lower, -(-sum(target) // max(sum(vec) for vec in vecs)))


def _cheapest_cover(
    vecs: list[tuple[int, ...]],
    dists: list[float],
    target: tuple[int, ...],
    size: int,
    bound: float,
    budget: int,
) -> tuple[tuple[int, ...] | None, int]:
    """Branch and bound for the cheapest cover of `target` by at most `size` of `vecs` (sorted by
    distance). Returns the positions of the cover, or None if none beats `bound`, and the budget left."""
    n, m = len(vecs), len(target)
    suffix: list[tuple[int, ...]] = [(0,) * m] * (n + 1)
    suffix_total = [0] * (n + 1)
    for p in range(n - 1, -1, -1):
        suffix[p] = tuple(map(max, suffix[p + 1], vecs[p]))
        suffix_total[p] = max(suffix_total[p + 1], sum(vecs[p]))
    best: tuple[int, ...] | None = None
    best_cost = bound
    steps = budget

    def search(start: int, left: int, deficit: tuple[int, ...], cost: float, chosen: tuple[int, ...]) -> bool:
        nonlocal best, best_cost, steps
        for p in range(start, n):
            steps -= 1
            if steps <= 0:
                return True
            c = cost + dists[p]
            if c >= best_cost:
                return False  # distances only grow from here
            rest = tuple(d - v if d > v else 0 for d, v in zip(deficit, vecs[p], strict=True))
            if not any(rest):
                best, best_cost = (*chosen, p), c
                return False  # any later store at this depth is no nearer
            if left > 1 and p + 1 < n:
                if c + dists[p + 1] >= best_cost:
                    return False
                spare = left - 1
                reachable = sum(rest) <= spare * suffix_total[p + 1] and all(
                    r <= spare * s for r, s in zip(rest, suffix[p + 1], strict=True)
                )
                if reachable and search(p + 1, spare, rest, c, (*chosen, p)):
                    return True
        return False

    search(0, size, target, 0.0, ())
    return best, steps
