"""Head-office console users: argon2 password hashes, their language, and the console's secret key."""

import contextlib
import re
import secrets
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput, NotFound

from ..store import HubDatabase

ROLES = ("head_office",)
LANGUAGES = ("fr", "en")
MIN_PASSWORD = 10
USERNAME = re.compile(r"^[a-z0-9._-]{2,32}$")
SECRET_KEY_SETTING = "console_secret_key"

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so that a wrong name costs as long as a wrong password."""
    return _hasher.hash(secrets.token_hex(16))


def _public(row) -> dict:
    return {
        "user_id": row["user_id"],
        "username": row["username"],
        "name": row["name"],
        "role": row["role"],
        "language": row["language"],
    }


def add_user(
    db: HubDatabase,
    username: str,
    name: str,
    password: str,
    role: str = "head_office",
    language: str = "fr",
    actor: str = "cli",
    now: datetime | None = None,
) -> dict:
    """Create a console user (or reset an existing one's name, password, role and language)."""
    username = username.strip().lower()
    problems = []
    if not USERNAME.match(username):
        problems.append(("username", "2-32 lowercase letters, digits, '.', '_' or '-'"))
    if not name.strip() or len(name) > 80:
        problems.append(("name", "1 to 80 characters"))
    if len(password) < MIN_PASSWORD or len(password) > 200:
        problems.append(("password", f"{MIN_PASSWORD} to 200 characters"))
    if role not in ROLES:
        problems.append(("role", f"one of {', '.join(ROLES)}"))
    if language not in LANGUAGES:
        problems.append(("language", f"one of {', '.join(LANGUAGES)}"))
    if problems:
        raise InvalidInput(*problems[0], *problems[1:])
    at = to_iso(now or utc_now())
    password_hash = _hasher.hash(password)
    with db.transaction() as tx:
        tx.add_console_user(
            {
                "username": username,
                "name": name.strip(),
                "password_hash": password_hash,
                "role": role,
                "language": language,
                "created_at": at,
            }
        )
        tx.add_audit(at, actor, "console_user.saved", username, {"role": role, "language": language})
        return _public(tx.console_user_named(username))


def authenticate(db: HubDatabase, username: str, password: str) -> dict | None:
    """The user if the password matches, else None (same cost whether or not the name exists)."""
    row = db.reader().console_user_named(username.strip().lower())
    if row is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return None
    try:
        _hasher.verify(row["password_hash"], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        with db.transaction() as tx:
            tx.set_console_user(row["user_id"], password_hash=_hasher.hash(password))
    return _public(row)


def user(db: HubDatabase, user_id: int) -> dict | None:
    row = db.reader().console_user(user_id)
    return _public(row) if row else None


def set_language(db: HubDatabase, user_id: int, language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput("language", f"one of {', '.join(LANGUAGES)}")
    with db.transaction() as tx:
        if tx.console_user(user_id) is None:
            raise NotFound(f"no console user {user_id}")
        tx.set_console_user(user_id, language=language)


def secret_key(db: HubDatabase) -> str:
    """The key signing console sessions: made once, kept in the settings table so sessions outlive restarts.

    Made inside a write transaction, so several hub workers starting at once agree on one key.
    """
    key = db.reader().setting(SECRET_KEY_SETTING)
    if key:
        return key
    with db.transaction() as tx:
        key = tx.setting(SECRET_KEY_SETTING)
        if not key:
            key = secrets.token_hex(32)
            tx.set_setting(SECRET_KEY_SETTING, key)
    return key
