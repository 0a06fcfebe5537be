"""The store terminal: server-rendered screens (Jinja2 + htmx, no build step) served by the store node.

Made for a cheap 1024x768 terminal, a tablet, a keyboard and a barcode scanner that types into
the focused field and presses Enter. Staff sign in with their code and PIN; every action runs
under their code. Views stay thin: parse the form, call one service, render. A refusal of the
domain (wrong item, wrong pickup code, short stock...) is shown on the page, naming the field,
and changes nothing.

This module holds what every screen shares: the blueprint, Flask-Babel (the staff member's
language, French by default), the session and its CSRF token, sign-in, the sync banner and the
kerbside pop-ups. The screens themselves are in ``terminal_orders`` (queue, pick, pack, ship,
print), ``terminal_counter`` (click-and-collect hand-over) and ``terminal_till`` (sales, returns,
stock, goods receipts).
"""

import re
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from shared.clock import from_iso, to_iso, utc_now
from shared.errors import DomainError, InvalidInput
from shared.screens import (
    CSRF_FIELD,
    CSRF_HEADER,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    colon,
    csrf_ok,
    csrf_token,
    install,
    safe_next,
)

from ..services import kerbside, staff, staff_prefs
from ..store import StoreDatabase
from .terminal_text import (
    KINDS,
    MOVEMENTS,
    REJECT_REASONS,
    SHORT_REASONS,
    STATUS,
    countdown,
    field_label,
    refusal,
    status_of,
    when,
)

terminal = Blueprint(
    "terminal",
    __name__,
    url_prefix="/terminal",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

SHIFT = timedelta(hours=12)  # a sign-in lasts one shift, like the API's tokens
POLL_SECONDS = 5
STALE_SECONDS = 10
OPEN_ENDPOINTS = {"terminal.sign_in", "terminal.static", "terminal.set_language"}


def db() -> StoreDatabase:
    return current_app.extensions["store_db"]


def me() -> str:
    """The signed-in staff member's code: every action is done under it."""
    return g.staff["code"]


def is_fragment() -> bool:
    """The request comes from htmx or the scan queue (terminal.js): answer the changed part only."""
    return request.headers.get("HX-Request") == "true"


# ------------------------------------------------------------------ session, language, CSRF
def select_locale() -> str:
    member = g.get("staff")
    if member and member.get("language") in LANGUAGES:
        return member["language"]
    chosen = request.cookies.get(lang_cookie(), "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def lang_cookie() -> str:
    return current_app.config["SESSION_COOKIE_NAME"] + "_lang"


@terminal.before_request
def guard() -> Response | None:
    """Every POST carries the session's CSRF token; every screen but sign-in needs a signed-in member."""
    g.staff = None
    member = session.get("staff")
    if member:
        started = session.get("since")
        if started and utc_now() - from_iso(started) < SHIFT:
            g.staff = member
        else:
            session.clear()
    if request.method == "POST" and not csrf_ok(request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")):
        return make_response(render_template("terminal/expired.html"), 400)
    if request.endpoint in OPEN_ENDPOINTS or g.staff is not None:
        return None
    target = url_for("terminal.sign_in", next=request.full_path.rstrip("?"))
    if is_fragment():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@terminal.after_request
def no_store(response: Response) -> Response:
    # screens show stock, customers and pickup codes: never from a shared or back-button cache
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@terminal.context_processor
def shared_context() -> dict:
    return {
        "store_id": db().store_id,
        "staff": g.get("staff"),
        "sync_state": sync_state,
        "kerbside_waiting": lambda: db().kerbside_waiting(),
    }


@terminal.errorhandler(DomainError)
def domain_error(exc: DomainError) -> tuple[str, int]:
    """A refusal no view caught (an unknown order in the address, say): a page saying so."""
    return render_template("terminal/error.html", refused=refusal(exc)), status_of(exc)


def init_terminal(app: Flask) -> None:
    """Flask-Babel, the session cookie, template helpers and the terminal's screens."""
    from . import terminal_counter, terminal_orders, terminal_till, terminal_transfers  # noqa: F401  (their routes)

    store_id = app.extensions["store_db"].store_id
    # each store node has its own cookie: several nodes on one host (a demo, the tests) keep apart
    app.config["SESSION_COOKIE_NAME"] = "comptoir_store_" + re.sub(r"[^A-Za-z0-9]", "_", store_id)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    install(
        app,
        select_locale,
        {"when": when, "countdown": countdown},
        {
            "field_label": field_label,
            "STATUS": STATUS,
            "KINDS": KINDS,
            "REJECT_REASONS": REJECT_REASONS,
            "SHORT_REASONS": SHORT_REASONS,
            "MOVEMENTS": MOVEMENTS,
            "POLL_SECONDS": POLL_SECONDS,
        },
    )
    app.register_blueprint(terminal)
    app.add_url_rule("/", "home", lambda: redirect(url_for("terminal.queue")))


# ------------------------------------------------------------------ sign-in, sign-out, language
@terminal.route("/signin", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int] | str:
    """Sign in with a staff code and PIN."""
    next_url = safe_next(request.values.get("next"), url_for("terminal.queue"), "/terminal")
    if request.method == "GET":
        return render_template("terminal/signin.html", next_url=next_url, refused=None, code="")
    code = request.form.get("staff_code", "").strip()
    pin = request.form.get("pin", "").strip()
    fields = {}
    if not code:
        fields["staff_code"] = _("is required")
    if not pin:
        fields["pin"] = _("is required")
    try:
        if fields:
            raise InvalidInput(*next(iter(fields.items())))
        member = staff.sign_in(db(), code, pin)
    except InvalidInput:
        refused = {"problems": [f"{field_label(f)}{colon()} {m}" for f, m in fields.items()], "fields": fields}
        return render_template("terminal/signin.html", next_url=next_url, refused=refused, code=code), 400
    except DomainError:
        refused = {"problems": [_("Unknown staff code or wrong PIN.")], "fields": {"pin": ""}}
        return render_template("terminal/signin.html", next_url=next_url, refused=refused, code=code), 401
    session.clear()  # a fresh session and CSRF token at each sign-in
    session["staff"] = member
    session["since"] = to_iso(utc_now())
    csrf_token()
    return redirect(next_url, 303)


@terminal.post("/signout")
def sign_out() -> Response:
    session.clear()
    return redirect(url_for("terminal.sign_in"), 303)


@terminal.post("/language")
def set_language() -> Response:
    """The language switcher: kept for the signed-in member (next sign-in too), else for this terminal."""
    language = request.form.get("language", "")
    back = safe_next(request.form.get("next"), url_for("terminal.queue"), "/terminal")
    if language not in LANGUAGES:
        abort(400)
    if g.staff:
        staff_prefs.set_language(db(), me(), language)
        session["staff"] = {**g.staff, "language": language}
    response = redirect(back, 303)
    response.set_cookie(lang_cookie(), language, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


# ------------------------------------------------------------------ the banner and kerbside pop-ups
def sync_state() -> dict:
    """Online, offline or standalone; last sync; events waiting for the hub."""
    status = current_app.extensions["sync_status"]()
    online = status.get("online")
    standalone = online is None and not status.get("hub")
    state = "standalone" if standalone else ("online" if online else "offline")
    outbox = db().outbox_health()
    oldest = outbox["oldest_unsent_at"]
    # events a few seconds old are the normal flow; older ones mean the sync is held up: say since when
    stale = bool(oldest) and (utc_now() - from_iso(oldest)).total_seconds() >= STALE_SECONDS
    return {**status, "state": state, "outbox": outbox, "stale": stale}


@terminal.get("/banner")
def banner() -> str:
    """The sync banner alone, polled by every page."""
    return render_template("terminal/_banner.html", sync=sync_state())


@terminal.get("/kerbside")
def kerbside_list() -> str:
    """Customers waiting outside, polled by every page until someone acknowledges them."""
    return render_template("terminal/_kerbside.html", arrivals=db().kerbside_waiting())


@terminal.post("/kerbside/<assignment_id>/ack")
def kerbside_ack(assignment_id: str) -> Response | tuple[str, int] | str:
    """Someone goes out to the customer: the pop-up goes away on every terminal."""
    refused = None
    try:
        kerbside.acknowledge(db(), me(), assignment_id)
    except DomainError as exc:
        refused = refusal(exc)
    if is_fragment():
        html = render_template("terminal/_kerbside.html", arrivals=db().kerbside_waiting(), refused=refused)
        return html, (409 if refused else 200)
    if refused:
        flash(refused["problems"][0], "error")
    else:
        flash(_("Arrival acknowledged: take the order out to the customer."), "success")
    return redirect(url_for("terminal.counter_order", assignment_id=assignment_id), 303)


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status
