"""Demand forecast per SKU and store, from what the hub knows was sold, with its error on held-back days.

Demand of a store for a SKU on a UTC day = units sold at its till (``sale.recorded`` events) + units
of the orders it fulfilled that day (ship-from-store shipped, click-and-collect collected: the lines'
qty - rejected, on the day of the store's own "shipped" / "collected" event). Returns are NOT netted:
a return gives stock back (the store's levels already show it) but does not mean fewer customers
will want the product; netting would also make a returns-heavy day negative demand. Transfers
between stores are moves of stock, not demand.

The daily series of each (store, SKU) runs over the ``lookback_days`` whole days before today; a
store that joined the network within that window starts on the day it joined (or its first sale,
if earlier), so that days before it existed do not read as days without sales. The model is the
domain's ``forecast.fit`` (level x weekly pattern); its error is measured on the last
``holdout_days`` of the history (``forecast.holdout_error``) next to the naive "same weekday last
week", per series, per SKU and network-wide (pooled: sum of absolute errors / units sold).

Reading is done in one read snapshot; fitting is pure computation outside any transaction.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.clock import from_iso, to_iso, utc_now
from shared.errors import InvalidInput

from ..domain import forecast as model
from ..store import HubDatabase, HubTx

DEFAULT_LOOKBACK_DAYS = 56
DEFAULT_HORIZON_DAYS = 7
HOLDOUT_DAYS = 7
LOOKBACK_RANGE = (14, 366)
HORIZON_RANGE = (1, 28)

Pair = tuple[str, str]  # (store_id, sku)


def check_days(horizon_days: int, lookback_days: int) -> None:
    """Both bounds checked at once, each naming its field."""
    problems = []
    for name, value, (low, high) in (
        ("horizon_days", horizon_days, HORIZON_RANGE),
        ("lookback_days", lookback_days, LOOKBACK_RANGE),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.append((name, f"must be a whole number of days from {low} to {high}, got {value!r}"))
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])


@dataclass(frozen=True)
class DemandHistory:
    """Units demanded per day of each (store, SKU) with any demand in the window; ``today`` is excluded."""

    today: date
    lookback_days: int
    series: dict[Pair, tuple[date, tuple[int, ...]]]  # first day of the series, its daily units

    def __len__(self) -> int:
        return len(self.series)


@dataclass(frozen=True)
class SeriesForecast:
    store_id: str
    sku: str
    first_day: date
    history: tuple[int, ...]
    start: date  # first day of the horizon (today)
    daily: tuple[float, ...]
    fitted: model.Forecast
    holdout: dict | None  # forecast.holdout_error's report, None when the history is too short
    holdout_sold: int | None  # units actually demanded on the held-back days

    @property
    def total(self) -> float:
        return sum(self.daily)

    def as_dict(self) -> dict:
        return {
            "store_id": self.store_id,
            "sku": self.sku,
            "history_start": self.first_day.isoformat(),
            "history_days": len(self.history),
            "history_units": sum(self.history),
            "start": self.start.isoformat(),
            "daily": [round(d, 3) for d in self.daily],
            "total": round(self.total, 3),
            "level": round(self.fitted.level, 4),
            "season": [round(f, 4) for f in self.fitted.season],
            "alpha": self.fitted.alpha,
            "gamma": self.fitted.gamma,
            "model": self.fitted.describe(),
            "holdout": self.holdout,
            "holdout_units": self.holdout_sold,
        }


def load_history(
    db: HubDatabase,
    now: datetime | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    skus: Iterable[str] | None = None,
    store_ids: Iterable[str] | None = None,
    reader: HubTx | None = None,
) -> DemandHistory:
    """The daily demand series of every (store, SKU) with demand in the ``lookback_days`` before today.

    ``reader``: read inside a snapshot the caller already holds (the rebalancing run reads its stock in the same).
    """
    check_days(DEFAULT_HORIZON_DAYS, lookback_days)
    today = (now or utc_now()).date()
    window_start = today - timedelta(days=lookback_days)
    since, until = window_start.isoformat(), today.isoformat()
    skus = None if skus is None else sorted(set(skus))
    store_ids = None if store_ids is None else sorted(set(store_ids))

    def read(r: HubTx) -> tuple[list, list, dict[str, str]]:
        _check_filters(r, skus, store_ids)
        till = r.daily_till_sales(since, until, skus, store_ids)
        fulfilled = r.daily_fulfilled(since, until, skus, store_ids)
        return till, fulfilled, {s["store_id"]: s["created_at"] for s in r.stores()}

    if reader is not None:
        till, fulfilled, joined = read(reader)
    else:
        r = db.reader()
        with r.snapshot():
            till, fulfilled, joined = read(r)

    by_pair: dict[Pair, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    first_seen: dict[str, date] = {}
    for row in [*till, *fulfilled]:
        day = date.fromisoformat(row["day"])
        by_pair[(row["store_id"], row["sku"])][day] += int(row["qty"])
        first_seen[row["store_id"]] = min(day, first_seen.get(row["store_id"], day))
    series = {}
    for (store_id, sku), days in by_pair.items():
        start = window_start
        if store_id in joined:
            # the store's series starts when it joined, unless it already sold before (history sent later)
            start = max(start, min(from_iso(joined[store_id]).date(), first_seen[store_id]))
        length = (today - start).days
        series[(store_id, sku)] = (start, tuple(days.get(start + timedelta(days=i), 0) for i in range(length)))
    return DemandHistory(today, lookback_days, dict(sorted(series.items())))


def _check_filters(r: HubTx, skus: list[str] | None, store_ids: list[str] | None) -> None:
    """A SKU or store asked for by name must exist: a typo would otherwise read as "no sales"."""
    problems = []
    if skus:
        known = r.known_skus(skus)
        problems += [("sku", f"unknown SKU {sku!r}") for sku in skus if sku not in known]
    if store_ids:
        stores = set(r.store_ids())
        problems += [("store_id", f"unknown store {store!r}") for store in store_ids if store not in stores]
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])


def forecast_history(
    history: DemandHistory,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    holdout_days: int = HOLDOUT_DAYS,
    progress: Callable[[int], None] | None = None,
) -> list[SeriesForecast]:
    """Fit every series and forecast the ``horizon_days`` from today; ``progress(1)`` after each series."""
    check_days(horizon_days, history.lookback_days)
    results = []
    for (store_id, sku), (first_day, sales) in history.series.items():
        weekday = first_day.weekday()
        fitted = model.fit(sales, weekday)
        holdout, holdout_sold = None, None
        # the naive forecast needs a week before the held-back days, and the model a week to fit on
        if len(sales) >= holdout_days + model.WEEK:
            holdout = model.holdout_error(sales, weekday, holdout_days)
            holdout_sold = sum(sales[-holdout_days:])
        results.append(
            SeriesForecast(
                store_id=store_id,
                sku=sku,
                first_day=first_day,
                history=sales,
                start=history.today,
                daily=tuple(fitted.daily(history.today.weekday(), horizon_days)),
                fitted=fitted,
                holdout=holdout,
                holdout_sold=holdout_sold,
            )
        )
        if progress is not None:
            progress(1)
    return results


def accuracy(items: Iterable[SeriesForecast]) -> dict:
    """Holdout errors pooled over the series that have one: the model's and the naive forecast's.

    ``wape`` = sum of |forecast - actual| / units actually demanded (None when nothing was); ``mae`` per
    store-day; ``bias`` per store-day (positive = over-forecast); ``better_than_naive`` counts series.
    """
    series = days = sold = better = 0
    abs_err = naive_abs = bias = naive_bias = 0.0
    for item in items:
        h = item.holdout
        if h is None:
            continue
        n = int(h["days"])
        series += 1
        days += n
        sold += item.holdout_sold or 0
        abs_err += h["mae"] * n
        bias += h["bias"] * n
        naive_abs += h["naive_mae"] * n
        naive_bias += h["naive_bias"] * n
        better += h["mae"] < h["naive_mae"]
    if not series:
        return {"series": 0, "days": 0, "units": 0, "mae": None, "wape": None, "bias": None,
                "naive_mae": None, "naive_wape": None, "naive_bias": None, "better_than_naive": 0}  # fmt: skip
    return {
        "series": series,
        "days": days,
        "units": sold,
        "mae": abs_err / days,
        "wape": abs_err / sold if sold else None,
        "bias": bias / days,
        "naive_mae": naive_abs / days,
        "naive_wape": naive_abs / sold if sold else None,
        "naive_bias": naive_bias / days,
        "better_than_naive": better,
    }


def report(
    db: HubDatabase,
    now: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    skus: Sequence[str] | None = None,
    store_ids: Sequence[str] | None = None,
) -> dict:
    """Forecasts of the asked SKUs / stores (all when not given), with accuracy per SKU and overall."""
    check_days(horizon_days, lookback_days)
    moment = now or utc_now()
    history = load_history(db, moment, lookback_days, skus, store_ids)
    items = forecast_history(history, horizon_days)
    by_sku: dict[str, list[SeriesForecast]] = defaultdict(list)
    for item in items:
        by_sku[item.sku].append(item)
    return {
        "as_of": to_iso(moment),
        "start": history.today.isoformat(),
        "horizon_days": horizon_days,
        "lookback_days": lookback_days,
        "holdout_days": HOLDOUT_DAYS,
        "items": [item.as_dict() for item in items],
        "by_sku": {
            sku: {"total": round(sum(i.total for i in group), 3), "accuracy": accuracy(group)}
            for sku, group in sorted(by_sku.items())
        },
        "network": accuracy(items),
    }


def search(
    db: HubDatabase,
    q: str,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    limit: int = 10,
    now: datetime | None = None,
) -> dict:
    """The products matching ``q`` (SKU, name or barcode), each with its stores' forecasts and accuracy."""
    products = [dict(p) for p in db.reader().search_products(q.strip(), limit)]
    if not products:
        return {"products": [], "report": None}
    found = report(db, now, horizon_days, lookback_days, skus=[p["sku"] for p in products])
    items: dict[str, list[dict]] = defaultdict(list)
    for item in found["items"]:
        items[item["sku"]].append(item)
    for p in products:
        p["items"] = items.get(p["sku"], [])
        p["summary"] = found["by_sku"].get(p["sku"], {"total": 0.0, "accuracy": accuracy([])})
    return {"products": products, "report": found}
