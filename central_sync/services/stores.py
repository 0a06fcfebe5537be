"""Stores of the network and the credentials of stores and sales channels."""

import hashlib
import hmac
import secrets
from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput

from ..store import HubDatabase

API_ROLES = ("channel", "head_office")


def _digest(secret: str) -> str:
    # secrets are 256-bit random tokens, not passwords: a plain SHA-256 is the right cost here,
    # and keeps the check off the sync path's budget (a slow hash would cost ms per exchange)
    return hashlib.sha256(secret.encode()).hexdigest()


def register_store(
    db: HubDatabase,
    store_id: str,
    name: str,
    lat: float,
    lon: float,
    *,
    address: str = "",
    city: str = "",
    postal_code: str = "",
    ship_from_store: bool = True,
    click_and_collect: bool = True,
    daily_capacity: int = 200,
    opening_hours: str = "",
    base_url: str = "",
    secret: str | None = None,
    now: datetime | None = None,
) -> str:
    """Add or update a store; returns its sync secret (shown once, stored hashed)."""
    problems = []
    if not store_id or len(store_id) > 32 or not store_id.replace("-", "").isalnum():
        problems.append(("store_id", "1-32 letters, digits or '-'"))
    if not -90 <= lat <= 90:
        problems.append(("lat", "between -90 and 90"))
    if not -180 <= lon <= 180:
        problems.append(("lon", "between -180 and 180"))
    if daily_capacity < 0:
        problems.append(("daily_capacity", "zero or more"))
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])
    secret = secret or secrets.token_urlsafe(32)
    with db.transaction() as tx:
        tx.upsert_store(
            {
                "store_id": store_id,
                "name": name,
                "address": address,
                "city": city,
                "postal_code": postal_code,
                "lat": lat,
                "lon": lon,
                "ship_from_store": int(ship_from_store),
                "click_and_collect": int(click_and_collect),
                "daily_capacity": daily_capacity,
                "opening_hours": opening_hours,
                "secret_hash": _digest(secret),
                "base_url": base_url,
                "created_at": to_iso(now or utc_now()),
            }
        )
    return secret


def authenticate_store(db: HubDatabase, store_id: str, secret: str) -> bool:
    row = db.reader().store(store_id)
    return row is not None and hmac.compare_digest(row["secret_hash"], _digest(secret))


def add_api_key(db: HubDatabase, name: str, role: str, key: str | None = None) -> str:
    """A key for a sales channel or for head office; returns the key (stored hashed)."""
    if role not in API_ROLES:
        raise InvalidInput("role", f"one of {', '.join(API_ROLES)}")
    key = key or secrets.token_urlsafe(32)
    with db.transaction() as tx:
        tx.add_api_key(_digest(key), name, role, to_iso(utc_now()))
    return key


def api_client(db: HubDatabase, key: str) -> dict | None:
    row = db.reader().api_key(_digest(key))
    return {"name": row["name"], "role": row["role"]} if row else None

