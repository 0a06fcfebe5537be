"""Choosing the fewest stores that together cover an order, then the nearest such set (pure domain).

A store is a coverage vector (units of each SKU it can give, capped at what is needed); the
search finds a smallest set of vectors covering the target, cheapest in summed distance, with a
greedy answer as the bound and a step budget so that a wide order never stalls routing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import repeat
from operator import ge, le, mul, sub

# Above this many stores the exact split search is skipped for the greedy answer: orders have a
# handful of lines, so splits wider than this are rare and not worth an unbounded search.
_EXACT_MAX_STORES = 4
# Cross-vector dominance pruning costs (distinct coverage vectors)^2; beyond this we rely on the budget.
_DOMINANCE_MAX_VECTORS = 32


def fewest_stores(
    vecs: list[tuple[int, ...]], km: Callable[[int], float], target: tuple[int, ...], budget: int
) -> list[int]:
    """Indices (into `vecs`, nearest first) of the fewest stores covering `target`, cheapest summed
    distance among those. `vecs` are coverage vectors capped at `target`; together they cover it."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, vec in enumerate(vecs):
        groups.setdefault(vec, []).append(k)
    greedy = _greedy_cover(groups, target)
    top = min(len(greedy), _EXACT_MAX_STORES)
    lower = _min_stores(list(groups), target)
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
                if all(map(ge, other, vec)):
                    count += c
                    if count >= top:
                        break
            dominators[k] = count
            seen[vec] = seen.get(vec, 0) + 1
    else:
        for members in groups.values():
            for rank_in_group, k in enumerate(members[:top]):
                dominators[k] = rank_in_group

    # Great-circle distances only for the stores the search can still pick.
    dists = {k: km(k) for k in (*kept, *greedy) if dominators.get(k, 0) < top or k in greedy}
    greedy_cost = sum(dists[k] for k in greedy)
    for size in range(max(2, lower), top + 1):
        pool = [k for k in kept if dominators[k] < size]
        bound = greedy_cost if size == len(greedy) else math.inf
        found, budget = _cheapest_cover([vecs[k] for k in pool], [dists[k] for k in pool], target, size, bound, budget)
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


def _min_stores(distinct: list[tuple[int, ...]], target: tuple[int, ...]) -> int:
    """A lower bound on how many stores any cover needs, from the distinct coverage vectors."""
    best_per_sku = map(max, *distinct) if len(distinct) > 1 else iter(distinct[0])
    lower = max((-(-t // top) for t, top in zip(target, best_per_sku, strict=True) if t), default=1)
    return max(lower, -(-sum(target) // max(map(sum, distinct))))


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

    def last_pick(start: int, deficit: tuple[int, ...], cost: float, chosen: tuple[int, ...]) -> bool:
        # One store must cover the rest alone; stores come nearest first, so the first that does is
        # the cheapest completion.
        nonlocal best, best_cost, steps
        for p in range(start, n):
            steps -= 1
            if steps <= 0:
                return True
            c = cost + dists[p]
            if c >= best_cost:
                return False
            if all(map(ge, vecs[p], deficit)):
                best, best_cost = (*chosen, p), c
                return False
        return False

    def search(start: int, left: int, deficit: tuple[int, ...], cost: float, chosen: tuple[int, ...]) -> bool:
        nonlocal best, best_cost, steps
        if left == 1:
            return last_pick(start, deficit, cost, chosen)
        spare = left - 1
        for p in range(start, n - 1):
            steps -= 1
            if steps <= 0:
                return True
            c = cost + dists[p]
            if c + dists[p + 1] >= best_cost:
                return False  # distances only grow from here, and at least one more store is needed
            vec = vecs[p]
            rest = tuple(map(sub, deficit, map(min, deficit, vec)))
            if not any(rest):
                # This store alone covers what is left: a smaller cover than `size`, found late only
                # when the budget cut an earlier size short.
                best, best_cost = (*chosen, p), c
                return False
            reachable = sum(rest) <= spare * suffix_total[p + 1] and all(
                map(le, rest, map(mul, repeat(spare), suffix[p + 1]))
            )
            if reachable and search(p + 1, spare, rest, c, (*chosen, p)):
                return True
        return False

    search(0, size, target, 0.0, ())
    return best, steps
