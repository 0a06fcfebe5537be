"""Unit tests of the hub's daily demand forecast (central_sync.domain.forecast)."""

from __future__ import annotations

import random
import statistics

import pytest

from central_sync.domain.forecast import ALPHA_GRID, WEEK, Forecast, fit, holdout_error
from shared.errors import InvalidInput

# Units sold on an average weekday, then Saturday (x3) and Sunday (closed), Monday first.
PATTERN = (10, 10, 10, 10, 10, 30, 0)


def weekly_series(seed: int, weeks: int, *, double_from_week: int | None = None) -> tuple[list[int], int]:
    """PATTERN plus a little noise (-1, 0 or +1 on open days), from a random first weekday."""
    rng = random.Random(seed)
    first = rng.randrange(WEEK)
    sales = []
    for t in range(weeks * WEEK):
        mean = PATTERN[(first + t) % WEEK] * (2 if double_from_week is not None and t >= double_from_week * WEEK else 1)
        sales.append(mean + rng.choice((-1, 0, 1)) if mean else 0)
    return sales, first


@pytest.mark.parametrize("seed", range(10))
def test_weekly_pattern_is_recovered(seed):
    sales, first = weekly_series(seed, weeks=8)
    model = fit(sales, first)
    weekdays = model.season[:5]
    weekday = statistics.mean(weekdays)
    assert sum(model.season) == pytest.approx(WEEK)  # factors average 1: level is an average day
    assert model.season[6] == 0.0  # never a sale on Sunday, so its factor stays exactly 0
    assert model.season[5] / weekday == pytest.approx(3.0, abs=0.2)
    assert all(f / weekday == pytest.approx(1.0, abs=0.1) for f in weekdays)
    assert model.level * weekday == pytest.approx(10.0, abs=0.8)
    forecast = model.daily(model.next_weekday, WEEK)
    assert forecast[(5 - model.next_weekday) % WEEK] == pytest.approx(30.0, abs=2.0)
    assert model.alpha in ALPHA_GRID
    assert model.seasonal
    assert "Sat x" in model.describe()


def test_holdout_beats_or_matches_the_naive_forecast():
    # One week of +-1 noise decides little on its own (a perfect model scores WAPE ~0.05 and the
    # naive one ~0.067), so compare averages over twenty stores' worth of series.
    for holdout in (7, 14):
        reports = [holdout_error(*weekly_series(seed, weeks=10), holdout_days=holdout) for seed in range(20)]
        assert {"days", "mae", "wape", "bias", "naive_mae", "naive_wape", "naive_bias"} <= set(reports[0])
        model = statistics.mean(r["wape"] for r in reports)
        naive = statistics.mean(r["naive_wape"] for r in reports)
        assert model <= naive
        assert model < 0.08
        assert abs(statistics.mean(r["bias"] for r in reports)) < 0.5


def test_holdout_report_on_a_hand_checked_series():
    # Six days at 4, then a held-back day at 6: fit on the six -> flat 4, error -2 on the last day;
    # the training part is shorter than a week, so there is no naive forecast.
    report = holdout_error([4, 4, 4, 4, 4, 4, 6], first_weekday=0, holdout_days=1)
    assert report["mae"] == pytest.approx(2.0)
    assert report["wape"] == pytest.approx(2 / 6)
    assert report["bias"] == pytest.approx(-2.0)
    assert report["naive_mae"] is report["naive_wape"] is report["naive_bias"] is None
    # Nothing sold in the held-back days: WAPE is undefined, reported as None rather than infinite.
    quiet = holdout_error([3] * 7 + [0] * 7, first_weekday=2)
    assert quiet["wape"] is None and quiet["naive_wape"] is None
    assert quiet["naive_mae"] == pytest.approx(3.0)


def test_level_follows_a_step_in_demand():
    sales, first = weekly_series(3, weeks=9, double_from_week=6)
    model = fit(sales, first)
    average_week_before = sum(PATTERN) / WEEK
    assert model.level == pytest.approx(2 * average_week_before, rel=0.1)


def test_constant_series_gives_a_flat_forecast_equal_to_the_constant():
    for days in (5, 30):
        model = fit([5] * days, first_weekday=2)
        assert model.season == (1.0,) * WEEK
        assert model.daily(model.next_weekday, 10) == pytest.approx([5.0] * 10)
        assert model.total(0, 7) == pytest.approx(35.0)
        assert model.fit_mae == pytest.approx(0.0)


@pytest.mark.parametrize("sales", [[], [0], [0] * 40])
def test_no_sales_forecasts_zero(sales):
    model = fit(sales, first_weekday=6)
    assert model.level == 0.0
    assert model.daily(0, 7) == [0.0] * 7
    assert model.total(3, 14) == 0.0
    assert model.next_weekday == (6 + len(sales)) % WEEK
    assert not model.seasonal


def test_short_series_smooths_the_level_only():
    # Thirteen days: one short of two weeks, even though Saturdays clearly sell more.
    sales = [10, 10, 10, 10, 10, 30, 0] + [10, 10, 10, 10, 10, 30]
    model = fit(sales, first_weekday=0)
    assert model.season == (1.0,) * WEEK
    assert model.gamma == 0.0
    assert min(sales) <= model.level <= max(sales)
    assert model.next_weekday == 6
    assert "no weekly pattern" in model.describe()


def test_slow_mover_gets_no_weekly_pattern():
    # Eight weeks of a slow mover: a sale every few days is too thin to tell weekdays apart.
    sales = [1 if t % 3 == 0 else 0 for t in range(56)]
    model = fit(sales, first_weekday=0)
    assert not model.seasonal
    assert model.level == pytest.approx(1 / 3, abs=0.2)


def test_given_weights_are_used_as_is():
    sales, first = weekly_series(1, weeks=4)
    model = fit(sales, first, alpha=0.3, gamma=0.1)
    assert (model.alpha, model.gamma) == (0.3, 0.1)
    # Too short for a pattern: gamma is forced to 0 whatever was asked.
    assert fit([3, 4, 5], 0, alpha=0.5, gamma=0.2).gamma == 0.0


def test_daily_wraps_around_the_week():
    model = Forecast(level=10.0, season=(1, 1, 1, 1, 0.5, 2, 0.5), alpha=0.2, gamma=0.1)
    assert model.daily(start_weekday=4, days=5) == [5.0, 20.0, 5.0, 10.0, 10.0]
    assert model.total(start_weekday=4, days=5) == 50.0
    assert model.daily(0, 0) == []


def test_bad_input_names_every_field():
    with pytest.raises(InvalidInput) as err:
        fit([3, -1, 2.5], first_weekday=7, alpha=0.0, gamma=1.5)
    assert [f for f, _ in err.value.fields] == ["first_weekday", "daily_sales[1]", "daily_sales[2]", "alpha", "gamma"]
    with pytest.raises(InvalidInput) as err:
        holdout_error([1, 2, 3], 0, holdout_days=4)
    assert err.value.fields[0][0] == "holdout_days"
    with pytest.raises(InvalidInput):
        Forecast(1.0, (1.0,) * WEEK, 0.1, 0.0).daily(start_weekday=-1, days=3)
    with pytest.raises(InvalidInput):
        Forecast(1.0, (1.0,) * 6, 0.1, 0.0)
