"""What the screens of both apps share: euros from cents, dates for the locale, CSRF tokens, safe redirects.

Formatting goes through Flask-Babel in the language of the request; money arrives as integer
cents and is shown through Decimal, never a float. Stored times are UTC and shown in the
app's time zone (Europe/Paris by default). The one word said here ("never") is carried in each
app's own message catalogue, since each app extracts and compiles its own.
"""

import secrets
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

from flask import Blueprint, Flask, session
from flask_babel import Babel, format_currency, format_datetime, format_decimal, format_timedelta, get_locale
from flask_babel import gettext as _

from .clock import from_iso, utc_now

LANGUAGES = {"fr": "Français", "en": "English"}
DEFAULT_LANGUAGE = "fr"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"  # htmx requests send the token in a header


def label(words: dict, code: str | None) -> str:
    """The translated word for a code; the code itself when there is none."""
    if code is None:
        return ""
    return str(words[code]) if code in words else code


def money(cents: int | None) -> str:
    """Integer cents as euros in the current locale: never through a float."""
    if cents is None:
        return ""
    return format_currency(Decimal(cents) / 100, "EUR")


def when(iso: str | datetime | None, style: str = "medium") -> str:
    """A stored UTC timestamp in the user's language and time zone."""
    if not iso:
        return ""
    return format_datetime(from_iso(iso) if isinstance(iso, str) else iso, style)


def ago(iso: str | None) -> str:
    """'il y a 5 secondes' / '5 seconds ago'."""
    if not iso:
        return _("never")
    return format_timedelta(from_iso(iso) - utc_now(), add_direction=True, threshold=1.1)


def age(iso: str | None) -> str:
    """How long ago, without direction: '3 minutes'."""
    return format_timedelta(utc_now() - from_iso(iso), threshold=1.1) if iso else ""


def number(value: int | None) -> str:
    return "" if value is None else format_decimal(value)


def colon() -> str:
    """':' after a label; French puts a narrow no-break space before it."""
    return "\u202f:" if str(get_locale()) == "fr" else ":"


def csrf_token() -> str:
    """The session's token that every form POST must carry back."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def csrf_ok(sent: str | None) -> bool:
    expected = session.get(CSRF_FIELD, "")
    return bool(expected) and secrets.compare_digest(sent or "", expected)


def safe_next(target: str | None, default: str, prefix: str = "/") -> str:
    """Only a path of this site under ``prefix``: never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(prefix) or target.startswith("//"):
        return default
    return target


# the palette both apps' stylesheets start from, served at /screens/palette.css
palette = Blueprint("screens", __name__, static_folder="static", static_url_path="/screens")


def install(app: Flask, select_locale: Callable[[], str], filters: dict, globals_: dict) -> None:
    """Flask-Babel (French by default, Paris time), the shared palette and the template helpers."""
    app.register_blueprint(palette)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Paris")
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update({"money": money, "when": when, "ago": ago, "age": age, "number": number, **filters})
    app.jinja_env.globals.update(
        {
            "csrf_token": csrf_token,
            "CSRF_FIELD": CSRF_FIELD,
            "LANGUAGES": LANGUAGES,
            "current_language": lambda: str(get_locale()),
            "colon": colon,
            "label": label,
            **globals_,
        }
    )
