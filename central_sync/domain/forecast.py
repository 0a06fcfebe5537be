"""Explainable daily demand forecast of one SKU at one store: smoothed level times a weekly pattern (pure domain)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import InvalidInput

WEEK = 7
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Fewer than two full weeks would give each weekday's factor one or two observations: level only.
SEASON_MIN_DAYS = 14
# A slow mover (3 units a fortnight) would otherwise get a "Tuesday x4.7" out of pure noise.
SEASON_MIN_UNITS_PER_DAY = 1.0
# Weeks at the start of the history used to set the initial level and weekday factors.
_INIT_WEEKS_MAX = 4
# A weekday selling under a tenth of an average day says little about the level, and dividing its
# sales by its factor would blow the level up: on such days only the factor is updated.
_MIN_FACTOR = 0.1

# Grid searched when alpha / gamma are not given; small on purpose, so the choice can be explained
# ("alpha 0.1 had the lowest one-step-ahead error") and a fit stays a few milliseconds.
ALPHA_GRID = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8)
GAMMA_GRID = (0.0, 0.05, 0.1, 0.2, 0.3)


@dataclass(frozen=True)
class Forecast:
    """Expected sales of day d = level x season[weekday of d], flat beyond the last observed day.

    `season` holds 7 multiplicative factors, Monday first, averaging 1, so `level` reads as "an
    average day" and a factor as "Saturday sells 2.6 average days". All ones: no weekly pattern.
    `next_weekday` is the weekday of the day after the history; `fit_mae` is the mean absolute
    one-step-ahead error over the history with the chosen alpha and gamma.
    """

    level: float
    season: tuple[float, ...]
    alpha: float
    gamma: float
    next_weekday: int = 0
    fit_mae: float = 0.0

    def __post_init__(self) -> None:
        if len(self.season) != WEEK:
            raise InvalidInput("season", f"must hold {WEEK} factors, Monday first, got {len(self.season)}")

    def daily(self, start_weekday: int, days: int) -> list[float]:
        """Expected sales of `days` consecutive days, the first of which falls on `start_weekday` (0=Monday)."""
        _check_weekday("start_weekday", start_weekday)
        return [self.level * self.season[(start_weekday + i) % WEEK] for i in range(max(0, days))]

    def total(self, start_weekday: int, days: int) -> float:
        """Expected sales over `days` consecutive days starting on `start_weekday`."""
        return sum(self.daily(start_weekday, days))

    @property
    def seasonal(self) -> bool:
        return any(abs(f - 1.0) > 1e-9 for f in self.season)

    def describe(self) -> str:
        """One line for head office: the level, the weekly pattern and the smoothing weights."""
        head = f"{self.level:.1f} a day on average"
        if self.seasonal:
            pattern = ", ".join(f"{WEEKDAYS[w][:3]} x{f:.2f}" for w, f in enumerate(self.season))
        else:
            pattern = "no weekly pattern"
        return f"{head}; {pattern}; smoothing alpha {self.alpha:g}, gamma {self.gamma:g}"


def fit(
    daily_sales: Sequence[int],
    first_weekday: int,
    alpha: float | None = None,
    gamma: float | None = None,
) -> Forecast:
    """Fit a Holt-Winters model without trend (multiplicative weekly season) on units sold per day.

    `daily_sales[0]` fell on `first_weekday` (0=Monday); quantities are units sold, never negative.
    Each day the level moves by `alpha` towards the day's sales divided by its weekday factor, and
    that factor moves by `gamma` towards sales divided by the level. Missing alpha / gamma are picked
    on ALPHA_GRID x GAMMA_GRID by the lowest mean absolute one-step-ahead error over the history
    (ties go to the smaller, steadier values).

    No trend term: over the one-to-two-week horizons of rebalancing a store/SKU trend is mostly
    noise or a promotion, and extrapolating it overshoots; a damped trend would add a third weight
    to explain for little gain. Without enough history the weekly pattern is dropped (all factors 1,
    gamma 0) and only the level is smoothed: fewer than SEASON_MIN_DAYS days, or fewer than
    SEASON_MIN_UNITS_PER_DAY units a day on average. An empty or all-zero history forecasts 0.
    """
    sales = _validated(daily_sales, first_weekday, alpha, gamma)
    n = len(sales)
    seasonal = n >= SEASON_MIN_DAYS and sum(sales) >= SEASON_MIN_UNITS_PER_DAY * n
    level0, season0 = _initial_state(sales, first_weekday, seasonal)
    alphas = ALPHA_GRID if alpha is None else (alpha,)
    gammas = (0.0,) if not seasonal else GAMMA_GRID if gamma is None else (gamma,)

    best: tuple[float, float, float, float, list[float]] | None = None
    for a in alphas:
        for g in gammas:
            level, season, err = _smooth(sales, first_weekday, level0, season0, a, g, seasonal)
            # Strictly better by more than rounding noise, so ties keep the earlier (smaller) weights.
            if best is None or err < best[0] - 1e-9 * max(1.0, best[0]):
                best = (err, a, g, level, season)
    assert best is not None
    err, a, g, level, season = best
    return Forecast(
        level=level,
        season=tuple(season),
        alpha=a,
        gamma=g,
        next_weekday=(first_weekday + n) % WEEK,
        fit_mae=err / n if n else 0.0,
    )


def holdout_error(daily_sales: Sequence[int], first_weekday: int, holdout_days: int = 7) -> dict[str, float | None]:
    """How well `fit` would have forecast the last `holdout_days` days, next to the naive forecast.

    Fits on all but the last `holdout_days` days, forecasts them, and reports over those days:
    - "mae": mean absolute error; "wape": sum |error| / sum actual (None when nothing was sold,
      where a percentage means nothing); "bias": mean of forecast - actual (positive = over-forecast);
    - the same three for the naive forecast "same weekday last week" ("naive_mae", "naive_wape",
      "naive_bias"; None when the training part is shorter than a week);
    - "days", "alpha" and "gamma" of the fitted model.
    """
    sales = _validated(daily_sales, first_weekday, None, None)
    if not 1 <= holdout_days <= len(sales):
        raise InvalidInput("holdout_days", f"must be between 1 and {len(sales)} (the history), got {holdout_days!r}")
    train, actual = sales[:-holdout_days], sales[-holdout_days:]
    model = fit(train, first_weekday)
    report: dict[str, float | None] = {"days": holdout_days, "alpha": model.alpha, "gamma": model.gamma}
    report.update(_errors("", model.daily(model.next_weekday, holdout_days), actual))
    if len(train) >= WEEK:
        last_week = train[-WEEK:]
        # Beyond a week ahead the naive forecast repeats the last observed week.
        report.update(_errors("naive_", [float(last_week[i % WEEK]) for i in range(holdout_days)], actual))
    else:
        report.update({"naive_mae": None, "naive_wape": None, "naive_bias": None})
    return report


def _errors(prefix: str, forecast: Sequence[float], actual: Sequence[int]) -> dict[str, float | None]:
    errors = [f - a for f, a in zip(forecast, actual, strict=True)]
    abs_sum = sum(abs(e) for e in errors)
    sold = sum(actual)
    return {
        f"{prefix}mae": abs_sum / len(errors),
        f"{prefix}wape": abs_sum / sold if sold else None,
        f"{prefix}bias": sum(errors) / len(errors),
    }


def _initial_state(sales: list[int], first_weekday: int, seasonal: bool) -> tuple[float, list[float]]:
    """Level = mean of the first weeks; each weekday's factor = its mean over those weeks / that level."""
    if not seasonal:
        head = sales[:WEEK]
        return (sum(head) / len(head) if head else 0.0), [1.0] * WEEK
    weeks = min(len(sales) // WEEK, _INIT_WEEKS_MAX)
    window = sales[: weeks * WEEK]
    level = sum(window) / len(window)
    if level == 0:
        # A product launched after the first weeks: start flat and let gamma learn the pattern.
        return 0.0, [1.0] * WEEK
    by_day = [0] * WEEK
    for t, y in enumerate(window):
        by_day[(first_weekday + t) % WEEK] += y
    return level, [total / weeks / level for total in by_day]


def _smooth(
    sales: list[int],
    first_weekday: int,
    level: float,
    season0: list[float],
    alpha: float,
    gamma: float,
    seasonal: bool,
) -> tuple[float, list[float], float]:
    """Run the smoothing over the history. Returns the final level, factors and summed |one-step error|."""
    season = list(season0)
    err = 0.0
    for t, y in enumerate(sales):
        w = (first_weekday + t) % WEEK
        factor = season[w]
        err += abs(y - level * factor)
        if not seasonal:
            level += alpha * (y - level)
            continue
        previous = level
        if factor >= _MIN_FACTOR:
            level += alpha * (y / factor - level)
        if previous > 0:
            # Factors average 1, so no single weekday can exceed 7 (all the week's sales on one day):
            # the cap keeps a lone sale after a near-zero spell from producing an absurd factor.
            season[w] += gamma * (min(y / previous, float(WEEK)) - factor)
            mean = sum(season) / WEEK
            if mean > 0:
                # Renormalise so the factors keep averaging 1; scaling the level by the same amount
                # leaves every forecast unchanged and keeps "level" meaning an average day.
                season = [f / mean for f in season]
                level *= mean
    return level, season, err


def _check_weekday(field: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < WEEK:
        raise InvalidInput(field, f"must be a weekday number 0 (Monday) to 6 (Sunday), got {value!r}")


def _validated(daily_sales: Sequence[int], first_weekday: int, alpha: float | None, gamma: float | None) -> list[int]:
    """The history as a list, with every bad field reported at once."""
    problems: list[tuple[str, str]] = []
    try:
        _check_weekday("first_weekday", first_weekday)
    except InvalidInput as e:
        problems.extend(e.fields)
    sales = list(daily_sales)
    for i, y in enumerate(sales):
        if not isinstance(y, int) or isinstance(y, bool) or y < 0:
            # Units sold, not net of returns: a returns-heavy day would otherwise read as negative demand.
            problems.append((f"daily_sales[{i}]", f"must be a whole number of units >= 0, got {y!r}"))
    # alpha = 0 would freeze the level at its first-week value; gamma = 0 (a fixed pattern) is fine.
    if alpha is not None and not 0.0 < alpha <= 1.0:
        problems.append(("alpha", f"must be in (0, 1], got {alpha!r}"))
    if gamma is not None and not 0.0 <= gamma <= 1.0:
        problems.append(("gamma", f"must be in [0, 1], got {gamma!r}"))
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])
    return sales
