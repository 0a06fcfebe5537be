"""A staff member's own settings on the terminals (their language)."""

from datetime import datetime

from shared.clock import to_iso, utc_now
from shared.errors import InvalidInput, NotFound

from ..store import StoreDatabase
from .staff import LANGUAGES


def set_language(db: StoreDatabase, staff: str, language: str, now: datetime | None = None) -> None:
    """The language of ``staff``'s screens, kept for their next sign-in on any terminal."""
    if language not in LANGUAGES:
        raise InvalidInput("language", f"one of {', '.join(LANGUAGES)}")
    at = to_iso(now or utc_now())
    with db.transaction() as tx:
        if not tx.set_staff_language(staff, language):
            raise NotFound(f"no staff member {staff!r}")
        tx.audit(at, staff, "staff.language", staff, {"language": language})
