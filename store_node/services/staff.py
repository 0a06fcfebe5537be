"""Staff members of the store: adding them with a hashed PIN and signing them in."""

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput, Refused

from ..store import StoreDatabase

ROLES = ("associate", "manager")
LANGUAGES = ("fr", "en")
# Lighter than argon2's defaults: a terminal sign-in must answer fast on a cheap box,
# and a 4-8 digit PIN is guarded by the terminal being in the shop, not by the hash alone.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def add_staff(
    db: StoreDatabase,
    code: str,
    name: str,
    pin: str,
    role: str = "associate",
    language: str = "fr",
    by: str = "system",
    now: datetime | None = None,
) -> None:
    problems = []
    if not code.strip():
        problems.append(("code", "must not be empty"))
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        problems.append(("pin", "4 to 8 digits"))
    if role not in ROLES:
        problems.append(("role", f"one of {', '.join(ROLES)}"))
    if language not in LANGUAGES:
        problems.append(("language", f"one of {', '.join(LANGUAGES)}"))
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])
    at = to_iso(now or utc_now())
    pin_hash = _hasher.hash(pin)
    with db.transaction() as tx:
        tx.add_staff(code, name, role, pin_hash, language)
        tx.audit(at, by, "staff.add", code, {"name": name, "role": role})


def sign_in(db: StoreDatabase, code: str, pin: str) -> dict:
    """Check a staff code and PIN; the same answer for an unknown code and a wrong PIN."""
    row = db.staff_member(code)
    try:
        if row is None:
            raise VerificationError()
        _hasher.verify(row["pin_hash"], pin)
    except (VerificationError, InvalidHashError):
        raise Refused("unknown staff code or wrong PIN") from None
    return {"code": row["code"], "name": row["name"], "role": row["role"], "language": row["language"]}
