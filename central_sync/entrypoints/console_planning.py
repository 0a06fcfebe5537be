"""Head-office planning screens: stock rebalancing between stores, and the demand forecast behind it.

``/console/rebalancing``: head office's limits (saved with each run they start), the latest runs,
and a run's proposed transfers with their reasons; quantities can be changed, lines approved or
rejected (approving makes one transfer per source/destination pair, linked from the page), and the
need no transfer covers is listed. ``/console/forecast``: per SKU, each store's forecast for the
horizon and its error on the held-back days next to the naive "same weekday last week".

Same rules as the rest of the console (``console.py``): signed-in users only (its ``require_user``),
CSRF on every POST (its check, which serves the blueprints named in ``WEB_BLUEPRINTS``), forms
validated by pydantic, every change through an audited service. The reasons are the domain's
sentences, in English, as the routing reasons on the order page.
"""

import re
from datetime import date, timedelta
from typing import Annotated

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import format_date, format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import Field

from shared.errors import InvalidInput, NotFound, Refused

from ..services import forecasting, rebalancing
from ..store import HubDatabase
from .console import Form, not_found, parse_form, require_user

planning = Blueprint("planning", __name__, url_prefix="/console", template_folder="templates")
planning.before_request(require_user)
planning.errorhandler(NotFound)(not_found)
FORM_FIELDS = {
    "horizon_days": _l("Horizon (days)"),
    "lookback_days": _l("History used (days)"),
    "min_transfer_qty": _l("Smallest transfer line"),
    "max_transfers_per_store_per_day": _l("Destinations per store and day, at most"),
    "max_distance_km": _l("Distance between stores, at most (km)"),
    "excluded_skus": _l("SKUs never moved"),
    "excluded_stores": _l("Stores left out"),
    "proposal_ids": _l("Selected lines"),
    "q": _l("Search"),
}
PROPOSAL_STATUS = {
    "proposed": _l("Proposed"),
    "edited": _l("Quantity changed"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
}
ID_SEPARATORS = re.compile(r"[\s,;]+")


def db() -> HubDatabase:
    return current_app.extensions["hub_db"]


def decimal(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return format_decimal(value, format="#,##0." + "0" * digits)


def day(iso: str) -> str:
    """A stored 'YYYY-MM-DD' as the user's language writes a date."""
    return format_date(date.fromisoformat(iso), "medium")


def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value, format="#,##0 %")


# ------------------------------------------------------------------ rebalancing
class LimitsForm(Form):
    horizon_days: Annotated[int, Field(ge=1, le=28)]
    lookback_days: Annotated[int, Field(ge=14, le=366)]
    min_transfer_qty: Annotated[int, Field(ge=1, le=100_000)]
    max_transfers_per_store_per_day: Annotated[int, Field(ge=1, le=1_000)] | None = None
    max_distance_km: Annotated[float, Field(ge=1, le=20_000)] | None = None
    excluded_skus: list[Annotated[str, Field(min_length=1, max_length=64)]] = []
    excluded_stores: list[Annotated[str, Field(min_length=1, max_length=32)]] = []


def _limits_values(run: dict | None) -> dict:
    """What the limits form shows: the saved limits, with the horizon of the run on screen."""
    saved = rebalancing.saved_limits(db())
    return {
        **saved,
        "excluded_skus": ", ".join(saved["excluded_skus"]),
        "horizon_days": run["horizon_days"] if run else forecasting.DEFAULT_HORIZON_DAYS,
        "lookback_days": run["lookback_days"] if run else forecasting.DEFAULT_LOOKBACK_DAYS,
    }


def _page(
    run_id: str | None = None,
    errors: dict | None = None,
    values: dict | None = None,
    form_id: str = "",
    status: int = 200,
    refused: list[str] | None = None,
) -> tuple[str, int]:
    runs = rebalancing.latest_runs(db(), 10)
    run_id = run_id or (runs[0]["run_id"] if runs else None)
    run = rebalancing.run_view(db(), run_id) if run_id else None
    stores = {s["store_id"]: s for s in db().reader().stores()}
    html = render_template(
        "planning/rebalancing.html",
        run=run,
        runs=runs,
        stores=stores,
        errors=errors or {},
        values=values if form_id == "limits" and values is not None else _limits_values(run),
        decision_values=values if form_id == "decide" and values is not None else {},
        form_id=form_id,
        refused=refused or [],
        FORM_FIELDS=FORM_FIELDS,
        PROPOSAL_STATUS=PROPOSAL_STATUS,
        decimal=decimal,
        percent=percent,
        day=day,
    )
    return html, status


@planning.get("/rebalancing")
def rebalancing_page() -> tuple[str, int]:
    """Limits, the latest runs, and one run's proposals (the latest, or ``?run=``)."""
    return _page(request.args.get("run") or None)


@planning.post("/rebalancing/runs")
def create_run() -> Response | tuple[str, int]:
    """Save the limits and propose transfers from the forecast (audited)."""
    raw = {
        key: value
        for key in ("horizon_days", "lookback_days", "min_transfer_qty", "max_transfers_per_store_per_day")
        if (value := request.form.get(key, "").strip())
    }
    errors: dict[str, str] = {}
    km = request.form.get("max_distance_km", "").strip().replace(",", ".")
    if km:
        try:
            raw["max_distance_km"] = float(km)
        except ValueError:
            errors["max_distance_km"] = _("must be a number")
    raw["excluded_skus"] = [s for s in ID_SEPARATORS.split(request.form.get("excluded_skus", "")) if s]
    raw["excluded_stores"] = request.form.getlist("excluded_stores")
    values = {**request.form.to_dict(), "excluded_stores": raw["excluded_stores"]}
    form, invalid = parse_form(LimitsForm, raw)
    errors = {**invalid, **errors}
    if form is None or errors:
        return _page(errors=errors, values=values, form_id="limits", status=400)
    limits = form.model_dump(exclude={"horizon_days", "lookback_days"})
    try:
        run = rebalancing.create_run(
            db(), g.console_user["username"], horizon_days=form.horizon_days, lookback_days=form.lookback_days,
            limits=limits, save_limits=True,
        )  # fmt: skip
    except InvalidInput as exc:
        return _page(errors=_refusal_errors(exc, raw), values=values, form_id="limits", status=400)
    count = len(run["proposals"])
    if count:
        flash(_("%(n)s transfer line(s) proposed. Check them, then approve or reject.", n=count), "success")
    else:
        flash(_("No transfer to propose: no store can spare what another one needs."), "info")
    return redirect(url_for("planning.rebalancing_page", run=run["run_id"]) + "#run", 303)


def _refusal_errors(exc: InvalidInput, raw: dict) -> dict[str, str]:
    """The service's refusal per form field, in the user's language where the case is known."""
    errors: dict[str, str] = {}
    for field, message in exc.fields:
        base, _sep, index = field.partition("[")
        value = raw.get(base, [None])[int(index.rstrip("]"))] if index and isinstance(raw.get(base), list) else None
        if base == "excluded_skus" and value is not None:
            errors.setdefault(base, _("no such SKU: %(value)s", value=value))
        elif base == "excluded_stores" and value is not None:
            errors.setdefault(base, _("no such store: %(value)s", value=value))
        else:
            errors.setdefault(base, message)
    return errors


@planning.post("/rebalancing/runs/<run_id>")
def decide(run_id: str) -> Response | tuple[str, int]:
    """Save changed quantities, then approve or reject the selected lines (each step audited)."""
    action = request.form.get("action", "")
    run = rebalancing.run_view(db(), run_id)
    values = request.form.to_dict()
    errors: dict[str, str] = {}
    selected: list[int] = []
    for raw_id in request.form.getlist("proposal_ids"):
        if raw_id.isdigit():
            selected.append(int(raw_id))
        else:
            errors["proposal_ids"] = _("not a line of this run")
    values["proposal_ids"] = [str(i) for i in selected]
    changed: dict[int, int] = {}
    for p in run["proposals"]:
        sent = request.form.get(f"qty-{p['proposal_id']}")
        if not p["open"] or sent is None:
            continue
        sent = sent.strip()
        if not sent.isdigit() or not 1 <= int(sent) <= rebalancing.MAX_QTY:
            errors[f"qty-{p['proposal_id']}"] = _("must be a whole number from 1 to %(max)s (reject the line to send "
                                                   "none)", max=format_decimal(rebalancing.MAX_QTY))  # fmt: skip
        elif int(sent) != p["qty"]:
            changed[p["proposal_id"]] = int(sent)
    if action not in ("approve", "reject", "save"):
        errors["action"] = _("choose to approve, reject or save")
    elif action != "save" and not selected and "proposal_ids" not in errors:
        errors["proposal_ids"] = _("select at least one line")
    if errors:
        return _page(run_id, errors, values, "decide", 400)
    actor = g.console_user["username"]
    try:
        later = {pid: q for pid, q in changed.items() if action != "approve" or pid not in selected}
        if later:
            rebalancing.edit_quantities(db(), actor, later, run_id)
        if action == "approve":
            edits = {pid: q for pid, q in changed.items() if pid in selected}
            done = rebalancing.approve(db(), actor, run_id, selected, edits)
            flash(_("Approved: %(n)s transfer(s) created.", n=len(done["created"])), "success")
        elif action == "reject":
            rebalancing.reject(db(), actor, run_id, selected)
            flash(_("%(n)s line(s) rejected.", n=len(selected)), "success")
        elif later:
            flash(_("Quantities saved."), "success")
        else:
            flash(_("Nothing changed."), "info")
    except InvalidInput as exc:
        fields = {(f if f.startswith("qty-") else f.partition("[")[0]): m for f, m in exc.fields}
        return _page(run_id, fields, values, "decide", 400)
    except Refused as exc:
        return _page(run_id, {}, values, "decide", 409, refused=exc.problems)
    return redirect(url_for("planning.rebalancing_page", run=run_id) + "#run", 303)


# ------------------------------------------------------------------ forecast
class ForecastForm(Form):
    q: Annotated[str, Field(max_length=100)] = ""
    horizon_days: Annotated[int, Field(ge=1, le=28)] = forecasting.DEFAULT_HORIZON_DAYS


@planning.get("/forecast")
def forecast_page() -> tuple[str, int]:
    """Per SKU found by the search: each store's forecast for the horizon and its error next to the naive one."""
    form, errors = parse_form(ForecastForm, {k: v for k, v in request.args.items() if v.strip()})
    q = form.q if form else ""
    horizon = form.horizon_days if form else forecasting.DEFAULT_HORIZON_DAYS
    found = forecasting.search(db(), q, horizon) if q else None
    stores = {s["store_id"]: s for s in db().reader().stores()}
    runs = rebalancing.latest_runs(db(), 1)
    last_run = rebalancing.run_view(db(), runs[0]["run_id"]) if runs else None
    days = []
    if found and found["report"]:
        start = date.fromisoformat(found["report"]["start"])
        days = [format_date(start + timedelta(days=i), "EEE d") for i in range(horizon)]
    html = render_template(
        "planning/forecast.html",
        q=request.args.get("q", ""),
        horizon=horizon,
        found=found,
        days=days,
        stores=stores,
        last_run=last_run,
        errors=errors,
        FORM_FIELDS=FORM_FIELDS,
        decimal=decimal,
        percent=percent,
        day=day,
    )
    return html, 400 if errors else 200
