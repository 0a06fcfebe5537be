"""The catalogue and postal codes: CSV imports (all rows or none) and sending the catalogue to stores."""

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from shared.barcodes import is_valid_gtin
from shared.clock import to_iso, utc_now
from shared.money import MoneyError, parse_cents
from shared.wire import CatalogueItem, MessageKind

from ..store import HubDatabase, HubTx

CATALOGUE_COLUMNS = ("sku", "name", "price", "barcodes")
CHUNK = 500  # catalogue items per feed message: bounded messages, bounded store transactions
Progress = Callable[[int], None]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class ImportRefused(Exception):
    """The file has errors: nothing was imported. ``errors`` names every bad row and field."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} error(s); nothing imported")


def read_catalogue_csv(path: Path, progress: Progress | None = None) -> list[CatalogueItem]:
    """Parse and check every row; raise :class:`ImportRefused` listing all bad rows at once.

    Columns: sku, name, price (decimal, e.g. 12.99), barcodes (space-separated EAN-13/UPC-A),
    and optionally location.
    """
    items, errors, seen_sku, seen_code = [], [], {}, {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CATALOGUE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportRefused([RowError(1, c, "missing column") for c in missing])
        for row in reader:
            line = reader.line_num
            row_errors = []
            try:
                cents = parse_cents(row["price"] or "")
            except MoneyError as exc:
                row_errors.append(RowError(line, "price", str(exc)))
                cents = 0
            codes = (row["barcodes"] or "").split()
            for code in codes:
                if not is_valid_gtin(code):
                    row_errors.append(RowError(line, "barcodes", f"{code!r} is not a valid EAN-13/UPC-A"))
                elif code in seen_code:
                    row_errors.append(RowError(line, "barcodes", f"{code} already on line {seen_code[code]}"))
                seen_code.setdefault(code, line)
            sku = (row["sku"] or "").strip()
            if sku in seen_sku:
                row_errors.append(RowError(line, "sku", f"{sku} already on line {seen_sku[sku]}"))
            seen_sku.setdefault(sku, line)
            try:
                item = CatalogueItem(
                    sku=sku,
                    name=(row["name"] or "").strip(),
                    price_cents=cents,
                    barcodes=codes,
                    location=(row.get("location") or "").strip(),
                )
            except ValidationError as exc:
                row_errors += [RowError(line, str(e["loc"][0]), e["msg"]) for e in exc.errors()]
                item = None
            errors += row_errors
            if item is not None and not row_errors:
                items.append(item)
            if progress:
                progress(1)
    if errors:
        raise ImportRefused(errors)
    return items


def import_catalogue(
    db: HubDatabase,
    items: list[CatalogueItem],
    now: datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Save the items and queue them to every store's feed, in one transaction."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        for start in range(0, len(items), CHUNK):
            chunk = [i.model_dump() for i in items[start : start + CHUNK]]
            tx.upsert_products(chunk, at)
            publish_catalogue(tx, chunk, at, tx.store_ids())
            if progress:
                progress(len(chunk))
    return len(items)


def publish_catalogue(tx: HubTx, items: list[dict], at: str, store_ids: Iterable[str]) -> None:
    for store_id in store_ids:
        tx.append_feed(store_id, MessageKind.CATALOGUE, at, {"items": items})


def send_full_catalogue(db: HubDatabase, store_id: str, now: datetime | None = None) -> int:
    """A new store gets the whole catalogue in its feed."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        products = tx.products()
        for start in range(0, len(products), CHUNK):
            publish_catalogue(tx, products[start : start + CHUNK], at, [store_id])
    return len(products)


def read_postal_codes_csv(path: Path) -> list[tuple[str, float, float, str]]:
    """Columns: code, latitude, longitude (and optionally city). All rows checked before import."""
    rows, errors = [], []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            line = reader.line_num
            code = (row.get("code") or "").strip()
            if not code:
                errors.append(RowError(line, "code", "missing"))
            try:
                lat, lon = float(row.get("latitude") or "x"), float(row.get("longitude") or "x")
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    raise ValueError
            except ValueError:
                errors.append(RowError(line, "latitude/longitude", "not valid coordinates"))
                continue
            rows.append((code, lat, lon, (row.get("city") or "").strip()))
    if errors:
        raise ImportRefused(errors)
    return rows


def import_postal_codes(db: HubDatabase, rows: list[tuple[str, float, float, str]]) -> int:
    with db.transaction() as tx:
        tx.upsert_postal_codes(rows)
    return len(rows)
