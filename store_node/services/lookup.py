"""Turning what staff scan or type (barcode or SKU) into SKUs, reporting every unknown code at once."""

from shared.errors import InvalidInput

from ..store import Transaction


def resolve_codes(tx: Transaction, codes: list[tuple[str, str]]) -> list[str]:
    """``codes`` is ``[(field, code), ...]``; returns the SKUs in the same order."""
    skus, unknown = [], []
    for field, code in codes:
        sku = tx.resolve(code)
        if sku is None:
            unknown.append((field, f"unknown barcode or SKU {code!r}"))
        skus.append(sku)
    if unknown:
        raise InvalidInput(*unknown[0], *unknown[1:])
    return skus
