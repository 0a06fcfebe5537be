"""Routing benchmark: NearestStoreRouter against a naive baseline on a synthetic 500-store network.

Run with `python -m benchmarks.routing [--orders N] [--seed S]`. Prints orders/s and
per-order latency (p50/p99) for both routers, their ratio, and how often their choices agree.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import os
import random
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from central_sync.domain.routing import (
    Allocation,
    NearestStoreRouter,
    OrderKind,
    OrderLine,
    OrderToRoute,
    Router,
    RoutingDecision,
    StoreCandidate,
    transfer_purpose,
)
from shared.geo import great_circle_km

SFS = OrderKind.SHIP_FROM_STORE
CC = OrderKind.CLICK_AND_COLLECT

N_STORES = 500
N_SKUS = 20_000
SKU_DRAWS_PER_STORE = 2_500  # with popularity skew, about 1,450 distinct SKUs per store
BATCH = 50  # DESIGN.md: the hub routes in short batches


def build_network(
    rng: random.Random,
) -> tuple[list[StoreCandidate], dict[tuple[str, str], int], list[str], list[float]]:
    """Stores scattered over mainland France, a long-tailed assortment, sparse ATP."""
    stores = []
    for k in range(N_STORES):
        roll = rng.random()
        kinds = frozenset({SFS, CC}) if roll < 0.85 else frozenset({SFS}) if roll < 0.95 else frozenset({CC})
        stores.append(
            StoreCandidate(
                f"S{k:03d}",
                rng.uniform(43.0, 50.0),
                rng.uniform(-4.0, 7.5),
                kinds,
                rng.randint(50, 400),
                rng.random() > 0.05,
            )
        )
    skus = [f"SKU-{k:05d}" for k in range(N_SKUS)]
    # Zipf-like popularity: a store stocks the head of the catalogue and a slice of the tail.
    cum = list(itertools.accumulate(1.0 / (r + 1) ** 0.9 for r in range(N_SKUS)))
    atp: dict[tuple[str, str], int] = {}
    for n, s in enumerate(stores, 1):
        for sku in set(rng.choices(skus, cum_weights=cum, k=SKU_DRAWS_PER_STORE)):
            atp[(s.store_id, sku)] = 1 + int(rng.random() * 8)
        if n % 100 == 0:
            print(f"  network: {n}/{N_STORES} stores stocked, {len(atp):,} ATP entries", flush=True)
    return stores, atp, skus, cum


def build_orders(
    rng: random.Random, n: int, stores: Sequence[StoreCandidate], skus: list[str], cum: list[float]
) -> list[OrderToRoute]:
    pickups = [s for s in stores if CC in s.kinds]
    total = cum[-1]
    orders = []
    for k in range(n):
        count = rng.choices((1, 2, 3, 4, 5), weights=(40, 25, 15, 12, 8))[0]
        chosen: list[str] = []
        while len(chosen) < count:
            sku = skus[bisect.bisect(cum, rng.random() * total)]
            if sku not in chosen:
                chosen.append(sku)
        lines = tuple(
            OrderLine(f"L{j}", sku, rng.choices((1, 2, 3), weights=(80, 15, 5))[0]) for j, sku in enumerate(chosen)
        )
        if rng.random() < 0.1:
            pickup = rng.choice(pickups)
            orders.append(OrderToRoute(f"O{k:05d}", CC, lines, pickup.lat, pickup.lon, pickup.store_id))
        else:
            orders.append(OrderToRoute(f"O{k:05d}", SFS, lines, rng.uniform(43.0, 50.0), rng.uniform(-4.0, 7.5)))
    return orders


class NaiveRouter:
    """Baseline: the rules written the obvious way. Per order it measures every store with haversine,
    checks every store against every line, takes the min over full fillers, else a greedy cover
    re-scanning all stores per step; reasons only for the ten nearest skipped stores. It does less
    than NearestStoreRouter (no exact fewest-store search), so the measured ratio is conservative."""

    def route(
        self,
        orders: Sequence[OrderToRoute],
        atp: Mapping[tuple[str, str], int],
        stores: Sequence[StoreCandidate],
    ) -> list[RoutingDecision]:
        used: dict[tuple[str, str], int] = {}
        caps = {s.store_id: s.capacity_left for s in stores}
        return [self._one(o, atp, stores, used, caps) for o in orders]

    @staticmethod
    def _have(atp: Mapping[tuple[str, str], int], used: dict[tuple[str, str], int], sid: str, sku: str) -> int:
        return max(0, atp.get((sid, sku), 0) - used.get((sid, sku), 0))

    def _cover(
        self,
        lines: list[OrderLine],
        lat: float,
        lon: float,
        atp: Mapping[tuple[str, str], int],
        stores: Sequence[StoreCandidate],
        used: dict[tuple[str, str], int],
        caps: dict[str, int],
        o: OrderToRoute,
        skip: str | None,
    ) -> tuple[list[tuple[str, OrderLine, int]], list[str]]:
        dist = {s.store_id: great_circle_km(lat, lon, s.lat, s.lon) for s in stores}
        ok = [s for s in stores if s.fresh and SFS in s.kinds and caps[s.store_id] > 0 and s.store_id != skip]
        fills = []
        for s in ok:
            if all(
                (s.store_id, ln.line_id) not in o.excluded and self._have(atp, used, s.store_id, ln.sku) >= ln.qty
                for ln in lines
            ):
                fills.append(s)
        taken: list[tuple[str, OrderLine, int]] = []
        if fills:
            best = min(fills, key=lambda s: (dist[s.store_id], -caps[s.store_id], s.store_id))
            taken = [(best.store_id, ln, ln.qty) for ln in lines]
        else:
            rem = {ln.line_id: ln.qty for ln in lines}
            picked: set[str] = set()
            while any(rem.values()):

                def gain(s: StoreCandidate) -> int:
                    return sum(
                        min(rem[ln.line_id], self._have(atp, used, s.store_id, ln.sku))
                        for ln in lines
                        if (s.store_id, ln.line_id) not in o.excluded
                    )

                options = [(gain(s), -dist[s.store_id], s.store_id) for s in ok if s.store_id not in picked]
                if not options or max(options)[0] == 0:
                    break
                _, _, sid = max(options)
                picked.add(sid)
                for ln in lines:
                    q = min(rem[ln.line_id], self._have(atp, used, sid, ln.sku))
                    if q > 0 and (sid, ln.line_id) not in o.excluded:
                        taken.append((sid, ln, q))
                        used[(sid, ln.sku)] = used.get((sid, ln.sku), 0) + q
                        rem[ln.line_id] -= q
            for sid, ln, q in taken:  # undo: consumption is applied once below, as for the full filler
                used[(sid, ln.sku)] -= q
        chosen = {sid for sid, _, _ in taken}
        far = max((dist[sid] for sid in chosen), default=float("inf"))
        nearer = sorted(
            (dist[s.store_id], s.store_id) for s in stores if s.store_id not in chosen and dist[s.store_id] < far
        )
        reasons = [f"{sid} chosen, {dist[sid]:.1f} km" for sid in sorted(chosen)]
        reasons += [f"{sid} skipped" for _, sid in nearer[:10]]
        return taken, reasons

    def _one(
        self,
        o: OrderToRoute,
        atp: Mapping[tuple[str, str], int],
        stores: Sequence[StoreCandidate],
        used: dict[tuple[str, str], int],
        caps: dict[str, int],
    ) -> RoutingDecision:
        allocations: list[Allocation] = []
        if o.kind is SFS:
            taken, reasons = self._cover(list(o.lines), o.lat, o.lon, atp, stores, used, caps, o, None)
            allocations = [Allocation(sid, ln.line_id, ln.sku, q, "fulfil") for sid, ln, q in taken]
        else:
            pickup = next((s for s in stores if s.store_id == o.pickup_store_id), None)
            if pickup is None or not pickup.fresh or CC not in pickup.kinds or caps[pickup.store_id] <= 0:
                return RoutingDecision(o.order_id, (), o.lines, ("pickup store cannot take the order",))
            pid = pickup.store_id
            own, missing = [], []
            for ln in o.lines:
                q = min(ln.qty, self._have(atp, used, pid, ln.sku))
                if q:
                    own.append((pid, ln, q))
                if q < ln.qty:
                    missing.append(OrderLine(ln.line_id, ln.sku, ln.qty - q))
            taken, reasons = (
                self._cover(missing, pickup.lat, pickup.lon, atp, stores, used, caps, o, pid) if missing else ([], [])
            )
            at_pickup: dict[str, int] = {}
            for _, ln, q in [*own, *taken]:
                at_pickup[ln.line_id] = at_pickup.get(ln.line_id, 0) + q
            allocations = [
                Allocation(pid, ln.line_id, ln.sku, at_pickup[ln.line_id], "fulfil")
                for ln in o.lines
                if ln.line_id in at_pickup
            ]
            allocations += [Allocation(sid, ln.line_id, ln.sku, q, transfer_purpose(pid)) for sid, ln, q in taken]
            for _, ln, q in own:
                used[(pid, ln.sku)] = used.get((pid, ln.sku), 0) + q
            if own or taken:
                caps[pid] -= 1
        for sid, ln, q in taken:
            used[(sid, ln.sku)] = used.get((sid, ln.sku), 0) + q
        for sid in {sid for sid, _, _ in taken}:
            caps[sid] -= 1
        got: dict[str, int] = {}
        for a in allocations:
            if a.purpose == "fulfil":
                got[a.line_id] = got.get(a.line_id, 0) + a.qty
        unfilled = tuple(
            OrderLine(ln.line_id, ln.sku, ln.qty - got.get(ln.line_id, 0))
            for ln in o.lines
            if got.get(ln.line_id, 0) < ln.qty
        )
        return RoutingDecision(o.order_id, tuple(allocations), unfilled, tuple(reasons))


class Ledger:
    """What the services layer does between routing calls: persist decisions into ATP and capacity."""

    def __init__(self, atp: dict[tuple[str, str], int], stores: list[StoreCandidate]) -> None:
        self.atp = dict(atp)
        self.stores = list(stores)
        self.pos = {s.store_id: k for k, s in enumerate(stores)}

    def apply(self, orders: Sequence[OrderToRoute], decisions: Sequence[RoutingDecision]) -> None:
        for o, d in zip(orders, decisions, strict=True):
            transferred = {}
            for a in d.allocations:
                if a.purpose != "fulfil":
                    transferred[a.line_id] = transferred.get(a.line_id, 0) + a.qty
            for a in d.allocations:
                qty = a.qty - transferred.get(a.line_id, 0) if a.purpose == "fulfil" and o.kind is CC else a.qty
                if qty:
                    self.atp[(a.store_id, a.sku)] = self.atp.get((a.store_id, a.sku), 0) - qty
            for sid in {a.store_id for a in d.allocations}:
                k = self.pos[sid]
                self.stores[k] = replace(self.stores[k], capacity_left=self.stores[k].capacity_left - 1)


def run(name: str, router: Router, orders: list[OrderToRoute], atp: dict, stores: list) -> dict:
    """Route one order per call (latency) and then in batches (throughput), persisting between calls.
    Wall-clock and CPU time are both kept: on a shared machine the second is the steadier figure."""
    ledger = Ledger(atp, stores)
    wall_ms, cpu_ms = [], []
    decisions: list[RoutingDecision] = []
    for k, o in enumerate(orders, 1):
        w0, c0 = time.perf_counter(), time.process_time()
        [d] = router.route([o], ledger.atp, ledger.stores)
        cpu_ms.append((time.process_time() - c0) * 1000)
        wall_ms.append((time.perf_counter() - w0) * 1000)
        ledger.apply([o], [d])
        decisions.append(d)
        if k % 1000 == 0:
            print(f"  {name}: {k}/{len(orders)} orders routed one per call", flush=True)
    ledger = Ledger(atp, stores)
    batch_wall = batch_cpu = 0.0
    for start in range(0, len(orders), BATCH):
        chunk = orders[start : start + BATCH]
        w0, c0 = time.perf_counter(), time.process_time()
        ds = router.route(chunk, ledger.atp, ledger.stores)
        batch_cpu += time.process_time() - c0
        batch_wall += time.perf_counter() - w0
        ledger.apply(chunk, ds)
    print(f"  {name}: {len(orders)}/{len(orders)} orders routed in batches of {BATCH}", flush=True)
    wq = statistics.quantiles(wall_ms, n=100)
    cq = statistics.quantiles(cpu_ms, n=100)
    n = len(orders)
    return {
        "wall_ops": n / (sum(wall_ms) / 1000),
        "cpu_ops": n / (sum(cpu_ms) / 1000),
        "wall_p50": wq[49],
        "wall_p99": wq[98],
        "cpu_p50": cq[49],
        "cpu_p99": cq[98],
        "wall_max": max(wall_ms),
        "batch_wall_ops": n / batch_wall,
        "batch_cpu_ops": n / batch_cpu,
        "decisions": decisions,
    }


def describe(decisions: list[RoutingDecision]) -> str:
    whole = split = partial = empty = 0
    for d in decisions:
        fulfil_stores = {a.store_id for a in d.allocations if a.purpose == "fulfil"}
        if not d.allocations:
            empty += 1
        elif d.unfilled:
            partial += 1
        elif len(fulfil_stores) > 1:
            split += 1
        else:
            whole += 1
    n = len(decisions)
    return (
        f"one store {whole / n:.1%}, split {split / n:.1%}, partly backordered {partial / n:.1%}, "
        f"nothing available {empty / n:.1%}"
    )


def agreement(orders: list[OrderToRoute], atp: dict, stores: list, sample: int) -> str:
    """Route each order alone against the same snapshot with both routers and compare the stores
    they use: how many, and for the same count, the summed distance to where the goods go."""
    where = {s.store_id: s for s in stores}

    def km(o: OrderToRoute, d: RoutingDecision) -> float:
        to = where.get(o.pickup_store_id or "", o)
        sources = {a.store_id for a in d.allocations if a.purpose != "fulfil" or o.kind is SFS}
        return sum(great_circle_km(to.lat, to.lon, where[s].lat, where[s].lon) for s in sources)

    same = fewer = more = nearer = farther = 0
    for o in orders[:sample]:
        [a] = NearestStoreRouter().route([o], atp, stores)
        [b] = NaiveRouter().route([o], atp, stores)
        sa, sb = {x.store_id for x in a.allocations}, {x.store_id for x in b.allocations}
        if sa == sb:
            same += 1
        elif len(sa) != len(sb):
            fewer += len(sa) < len(sb)
            more += len(sa) > len(sb)
        else:
            nearer += km(o, a) < km(o, b) - 1e-9
            farther += km(o, a) > km(o, b) + 1e-9
    return (
        f"same stores {same}; fewer stores {fewer}, more {more}; "
        f"as many stores but shorter total distance {nearer}, longer {farther}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    print(f"building {N_STORES} stores x {N_SKUS:,} SKUs ...", flush=True)
    stores, atp, skus, cum = build_network(rng)
    orders = build_orders(rng, args.orders, stores, skus, cum)
    # As a long-running hub would after loading its ATP index: keep the collector from walking the
    # million-entry mapping during timed runs (both routers benefit alike).
    gc.collect()
    gc.freeze()
    print(f"{len(orders):,} orders, {sum(len(o.lines) for o in orders):,} lines, {len(atp):,} ATP entries")

    fast = run("NearestStoreRouter", NearestStoreRouter(), orders, atp, stores)
    print(f"  decisions: {describe(fast['decisions'])}")
    naive = run("naive baseline", NaiveRouter(), orders, atp, stores)
    print(f"  baseline decisions: {describe(naive['decisions'])}")

    print()
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print("one order per route() call (orders/s; per-order latency in ms, wall clock / CPU time):")
    print(f"  {'router':<20} {'ord/s wall':>10} {'ord/s cpu':>10} {'p50':>13} {'p99':>13} {'max wall':>9}")
    for name, r in (("NearestStoreRouter", fast), ("naive baseline", naive)):
        print(
            f"  {name:<20} {r['wall_ops']:>10,.0f} {r['cpu_ops']:>10,.0f} "
            f"{r['wall_p50']:>6.2f}/{r['cpu_p50']:<6.2f} {r['wall_p99']:>6.2f}/{r['cpu_p99']:<6.2f} "
            f"{r['wall_max']:>9.1f}"
        )
    print(f"batches of {BATCH} orders per route() call (orders/s, wall clock / CPU time):")
    for name, r in (("NearestStoreRouter", fast), ("naive baseline", naive)):
        print(f"  {name:<20} {r['batch_wall_ops']:>10,.0f} {r['batch_cpu_ops']:>10,.0f}")
    print(
        f"speed-up over baseline (CPU time): {fast['cpu_ops'] / naive['cpu_ops']:.1f}x one order per call, "
        f"{fast['batch_cpu_ops'] / naive['batch_cpu_ops']:.1f}x in batches; "
        f"p99 {naive['cpu_p99'] / fast['cpu_p99']:.1f}x lower"
    )
    sample = min(1_000, len(orders))
    print(f"agreement on {sample:,} orders routed alone: {agreement(orders, atp, stores, sample)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
