"""Money as integer cents: never a float, parsed from and shown as decimal strings."""

from decimal import Decimal, InvalidOperation


class MoneyError(ValueError):
    """A value that is not an amount of money with at most two decimals."""


def parse_cents(text: str | int) -> int:
    """Turn ``"12.30"`` (or an integer number of cents) into 1230; refuse floats and 3 decimals."""
    if isinstance(text, bool | float):
        raise MoneyError("amounts are decimal strings such as '12.30', never floats")
    if isinstance(text, int):
        return text
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise MoneyError(f"not an amount: {text!r}") from exc
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise MoneyError(f"at most two decimals: {text!r}")
    return int(value * 100)


def format_cents(cents: int) -> str:
    """1230 -> ``"12.30"``; the decimal string the API shows next to the integer."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"
