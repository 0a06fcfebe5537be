"""Stock movements made at the till and on the shop floor: sales, returns, receipts, counts, adjustments."""

from dataclasses import dataclass
from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput
from shared.ids import prefixed_id
from shared.wire import EventKind

from ..domain import stock
from ..store import StoreDatabase
from .lookup import resolve_codes


@dataclass(frozen=True)
class TillLine:
    code: str  # barcode or SKU
    qty: int
    sellable: bool = True  # returns only


def record_sale(
    db: StoreDatabase,
    staff: str,
    lines: list[TillLine],
    receipt_id: str | None = None,
    now: datetime | None = None,
) -> dict:
    """A till sale; never refused for lack of recorded stock. Idempotent by ``receipt_id``."""
    return _till(db, staff, "sale", lines, receipt_id, now)


def record_return(
    db: StoreDatabase,
    staff: str,
    lines: list[TillLine],
    receipt_id: str | None = None,
    now: datetime | None = None,
) -> dict:
    """A customer return: sellable items go back on hand, damaged ones are only recorded."""
    return _till(db, staff, "return", lines, receipt_id, now)


def _till(
    db: StoreDatabase,
    staff: str,
    kind: str,
    lines: list[TillLine],
    receipt_id: str | None,
    now: datetime | None,
) -> dict:
    at = to_iso(now or utc_now())
    receipt_id = receipt_id or prefixed_id(db.store_id)
    with db.transaction() as tx:
        existing = tx.till_receipt(receipt_id)
        if existing is not None:
            if existing["kind"] != kind:
                # not a retry: silently answering "duplicate" would drop this transaction
                used = f"{receipt_id} is already a {existing['kind']}: use a new id"
                raise InvalidInput("receipt_id", used)
            # a till retrying after a lost answer must not sell the item twice
            return {"receipt_id": receipt_id, "duplicate": True}
        skus = resolve_codes(tx, [(f"lines[{i}].code", ln.code) for i, ln in enumerate(lines)])
        items = tx.stock_items(skus)
        moves, out_lines, total = [], [], 0
        for sku, line in zip(skus, lines, strict=True):
            price = tx.product(sku)["price_cents"]
            if kind == "sale":
                moves.append(stock.sell(items[sku], line.qty))
            else:
                moves.append(stock.take_return(items[sku], line.qty, line.sellable))
            out_lines.append(
                {"sku": sku, "qty": line.qty, "unit_price_cents": price, "sellable": line.sellable}
            )
            total += price * line.qty
        tx.save_stock(items.values())
        tx.record_movements(moves, at, staff, ref=receipt_id)
        tx.insert_till_receipt(receipt_id, kind, at, staff, total, out_lines)
        event = EventKind.SALE_RECORDED if kind == "sale" else EventKind.RETURN_RECORDED
        payload = {"receipt_id": receipt_id, "lines": out_lines, "total_cents": total}
        tx.append_event(event, at, payload, items.values(), staff)
        tx.audit(at, staff, f"till.{kind}", receipt_id, {"total_cents": total})
    return {"receipt_id": receipt_id, "duplicate": False, "total_cents": total, "lines": out_lines}


def receive_goods(
    db: StoreDatabase,
    staff: str,
    lines: list[TillLine],
    reference: str = "",
    now: datetime | None = None,
) -> dict:
    """A goods receipt from a supplier or the warehouse."""
    at = to_iso(now or utc_now())
    receipt_id = prefixed_id(db.store_id)
    with db.transaction() as tx:
        skus = resolve_codes(tx, [(f"lines[{i}].code", ln.code) for i, ln in enumerate(lines)])
        items = tx.stock_items(skus)
        moves = [stock.receive(items[sku], ln.qty) for sku, ln in zip(skus, lines, strict=True)]
        tx.save_stock(items.values())
        tx.record_movements(moves, at, staff, ref=reference or receipt_id)
        payload = {
            "receipt_id": receipt_id,
            "reference": reference,
            "lines": [{"sku": s, "qty": ln.qty} for s, ln in zip(skus, lines, strict=True)],
        }
        tx.append_event(EventKind.STOCK_RECEIVED, at, payload, items.values(), staff)
        tx.audit(at, staff, "stock.receive", reference or receipt_id, {"lines": len(lines)})
    return payload


def count_stock(db: StoreDatabase, staff: str, code: str, counted: int, now: datetime | None = None) -> dict:
    """A count sets on hand to what was counted and records the variance."""
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        (sku,) = resolve_codes(tx, [("code", code)])
        item = tx.stock_items([sku])[sku]
        before = item.on_hand
        move = stock.count(item, counted)
        tx.save_stock([item])
        tx.record_movements([move], at, staff, ref="count")
        payload = {"sku": sku, "counted": counted, "recorded": before, "variance": move.on_hand_delta}
        tx.append_event(EventKind.STOCK_COUNTED, at, payload, [item], staff)
        tx.audit(at, staff, "stock.count", sku, payload)
    return payload


def adjust_stock(
    db: StoreDatabase,
    staff: str,
    code: str,
    delta: int,
    reason: str,
    note: str = "",
    now: datetime | None = None,
) -> dict:
    """Damage, theft or found stock, with the reason in the movement."""
    at = to_iso(now or utc_now())
    try:
        why = stock.AdjustmentReason(reason)
    except ValueError:
        raise InvalidInput("reason", f"one of {', '.join(stock.AdjustmentReason)}") from None
    with db.transaction() as tx:
        (sku,) = resolve_codes(tx, [("code", code)])
        item = tx.stock_items([sku])[sku]
        move = stock.adjust(item, delta, why)
        tx.save_stock([item])
        tx.record_movements([move], at, staff, ref=note)
        payload = {"sku": sku, "delta": delta, "reason": str(why), "note": note}
        tx.append_event(EventKind.STOCK_ADJUSTED, at, payload, [item], staff)
        tx.audit(at, staff, "stock.adjust", sku, payload)
    return payload
