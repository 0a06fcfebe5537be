"""``comptoir hub ...``: serve the hub, run its jobs, register stores and keys, import CSVs."""

import subprocess
import sys
from pathlib import Path

import click

from ..services import catalogue, console_users, stores
from ..store import HubDatabase


@click.group()
def hub() -> None:
    """Run and administer the central hub."""


@hub.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8100, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option(
    "--jobs/--no-jobs",
    default=True,
    show_default=True,
    help="Also run the scheduled jobs (deadlines, backorders) in a side process.",
)
@click.option("--jobs-every", default=5.0, show_default=True, help="Seconds between job runs.")
def serve(db_path: str, host: str, port: int, workers: int, jobs: bool, jobs_every: float) -> None:
    """Serve the hub API with gunicorn (several workers) and run its jobs beside it."""
    from gunicorn.app.base import BaseApplication

    HubDatabase(db_path).close()  # migrations run once, before the workers start

    class HubServer(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("accesslog", None)
            self.cfg.set("graceful_timeout", 5)

        def load(self):  # noqa: ANN202 - gunicorn's interface
            from .app import create_app

            return create_app(db_path)

    side = None
    if jobs:
        side = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "hub", "jobs", "--db", db_path, "--every", str(jobs_every)]
        )
    click.echo(f"hub listening on http://{host}:{port}", err=True)
    try:
        HubServer().run()
    finally:
        if side:
            side.terminate()
            side.wait(10)


@hub.command("jobs")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
@click.option("--every", default=5.0, show_default=True, help="Seconds between runs.")
def jobs_command(db_path: str, every: float) -> None:
    """Run the scheduled jobs alone: unanswered assignments re-routed, backorders retried."""
    from .jobs import run_jobs

    run_jobs(db_path, every)


@hub.command("add-store")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
@click.option("--store-id", required=True, help="The store's id, e.g. PAR-01 (letters, digits, '-').")
@click.option("--name", required=True, help="The store's name, e.g. Comptoir Paris.")
@click.option("--lat", required=True, type=float, help="Latitude of the store, in degrees.")
@click.option("--lon", required=True, type=float, help="Longitude of the store, in degrees.")
@click.option("--city", default="", help="City shown to customers.")
@click.option("--address", default="", help="Street address shown to customers.")
@click.option("--capacity", default=200, show_default=True, help="Assignments the store can take a day.")
@click.option("--ship/--no-ship", default=True, show_default=True, help="Does ship-from-store.")
@click.option("--collect/--no-collect", default=True, show_default=True, help="Does click-and-collect.")
@click.option("--opening-hours", default="Mon-Sat 09:00-19:00", help="Opening hours shown to customers.")
@click.option("--secret", default=None, help="Use this sync secret instead of a random one.")
def add_store(
    db_path: str,
    store_id: str,
    name: str,
    lat: float,
    lon: float,
    city: str,
    address: str,
    capacity: int,
    ship: bool,
    collect: bool,
    opening_hours: str,
    secret: str | None,
) -> None:
    """Register a store and print its sync secret (shown once)."""
    db = HubDatabase(db_path)
    secret = stores.register_store(
        db,
        store_id,
        name,
        lat,
        lon,
        city=city,
        address=address,
        daily_capacity=capacity,
        ship_from_store=ship,
        click_and_collect=collect,
        opening_hours=opening_hours,
        secret=secret,
    )
    catalogue.send_full_catalogue(db, store_id)
    click.echo(secret)


@hub.command("add-api-key")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
@click.option("--name", required=True, help="Who uses it: a channel (web, app, marketplace) or head office.")
@click.option(
    "--role", type=click.Choice(stores.API_ROLES), required=True, help="channel: posts orders; head_office: everything."
)
def add_api_key(db_path: str, name: str, role: str) -> None:
    """Create an API key for a sales channel or head office and print it (shown once)."""
    click.echo(stores.add_api_key(HubDatabase(db_path), name, role))


@hub.command("add-user")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
@click.option("--username", required=True, help="Sign-in name: 2-32 lowercase letters, digits, '.', '_' or '-'.")
@click.option("--name", required=True, help="Full name shown in the console and its audit trail.")
@click.option(
    "--password",
    envvar="COMPTOIR_USER_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help=f"At least {console_users.MIN_PASSWORD} characters (asked for when not given; or env COMPTOIR_USER_PASSWORD).",
)
@click.option(
    "--role",
    type=click.Choice(console_users.ROLES),
    default="head_office",
    show_default=True,
    help="What the user may do in the console.",
)
@click.option(
    "--language",
    type=click.Choice(console_users.LANGUAGES),
    default="fr",
    show_default=True,
    help="Language of the console for this user.",
)
def add_user(db_path: str, username: str, name: str, password: str, role: str, language: str) -> None:
    """Add (or reset) a head-office console user; the password is stored as an argon2 hash."""
    from shared.errors import InvalidInput

    try:
        user = console_users.add_user(HubDatabase(db_path), username, name, password, role, language, actor="cli")
    except InvalidInput as exc:
        for field, message in exc.fields:
            click.echo(f"  {field}: {message}", err=True)
        sys.exit(2)
    click.echo(f"console user {user['username']} saved")


def _report(errors: list) -> None:
    for error in errors[:50]:
        click.echo(f"  {error}", err=True)
    if len(errors) > 50:
        click.echo(f"  ... and {len(errors) - 50} more", err=True)


@hub.command("import-catalogue")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
def import_catalogue(csv_file: Path, db_path: str) -> None:
    """Import a catalogue CSV (sku,name,price,barcodes[,location]); all rows or none."""
    with open(csv_file, encoding="utf-8-sig") as fh:
        total = sum(1 for _ in fh) - 1
    try:
        with click.progressbar(length=total, label="checking rows") as bar:
            items = catalogue.read_catalogue_csv(csv_file, bar.update)
    except catalogue.ImportRefused as refused:
        click.echo(f"{len(refused.errors)} error(s), nothing imported:", err=True)
        _report(refused.errors)
        sys.exit(1)
    with click.progressbar(length=len(items), label="importing") as bar:
        count = catalogue.import_catalogue(HubDatabase(db_path), items, progress=bar.update)
    click.echo(f"{count} products imported and queued to every store")


@hub.command("import-postal-codes")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
def import_postal_codes(csv_file: Path, db_path: str) -> None:
    """Import postal codes (code,latitude,longitude[,city]) used to place delivery destinations."""
    try:
        rows = catalogue.read_postal_codes_csv(csv_file)
    except catalogue.ImportRefused as refused:
        click.echo(f"{len(refused.errors)} error(s), nothing imported:", err=True)
        _report(refused.errors)
        sys.exit(1)
    click.echo(f"{catalogue.import_postal_codes(HubDatabase(db_path), rows)} postal codes imported")


# ------------------------------------------------------------------ rebalancing and demand forecast
#: the option that sets each field the services name in their refusals
OPTION_OF = {
    "horizon_days": "--horizon",
    "lookback_days": "--lookback",
    "min_transfer_qty": "--min-qty",
    "max_transfers_per_store_per_day": "--max-per-store",
    "max_distance_km": "--max-km",
    "excluded_skus": "--exclude-sku",
    "excluded_stores": "--exclude-store",
    "sku": "--sku",
    "store_id": "--store",
}


def _refused(exc: Exception) -> None:
    """Print every refused field under the option that set it, then exit 2 (nothing was changed)."""
    from shared.errors import InvalidInput

    if isinstance(exc, InvalidInput):
        for field, message in exc.fields:
            click.echo(f"  {OPTION_OF.get(field.split('[')[0], field)}: {message}", err=True)
    else:
        for problem in getattr(exc, "problems", [str(exc)]):
            click.echo(f"  {problem}", err=True)
    sys.exit(2)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@hub.command("rebalance")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, exists=True), help="Hub SQLite file.")
@click.option(
    "--horizon",
    type=click.IntRange(1, 28),
    default=7,
    show_default=True,
    help="Days of expected demand each store should hold stock for.",
)
@click.option(
    "--lookback",
    type=click.IntRange(14, 366),
    default=56,
    show_default=True,
    help="Days of sales history the forecast learns from.",
)
@click.option(
    "--min-qty",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Smallest quantity worth a transfer line (default: the saved limit, else 1).",
)
@click.option(
    "--max-per-store",
    type=click.IntRange(1, 1_000),
    default=None,
    help="Most destinations one store ships to in a run (default: the saved limit, else no cap).",
)
@click.option(
    "--max-km",
    type=click.FloatRange(0, 20_000, min_open=True),
    default=None,
    help="Farthest two stores of a transfer may be apart (default: the saved limit, else any).",
)
@click.option(
    "--exclude-sku",
    "exclude_skus",
    multiple=True,
    metavar="SKU",
    help="A SKU never moved; repeat for several (replaces the saved list for this run).",
)
@click.option(
    "--exclude-store",
    "exclude_stores",
    multiple=True,
    metavar="STORE_ID",
    help="A store that neither gives nor receives; repeat for several (replaces the saved list).",
)
@click.option("--save-limits", is_flag=True, help="Keep the limits given here as head office's saved limits.")
@click.option(
    "--approve-all", is_flag=True, help="Approve every proposal at once: one transfer per source/destination pair."
)
def rebalance(
    db_path: str,
    horizon: int,
    lookback: int,
    min_qty: int | None,
    max_per_store: int | None,
    max_km: float | None,
    exclude_skus: tuple[str, ...],
    exclude_stores: tuple[str, ...],
    save_limits: bool,
    approve_all: bool,
) -> None:
    """Forecast each store's demand and propose stock transfers between stores, each with its reason."""
    from contextlib import ExitStack

    from shared.errors import DomainError

    from ..services import rebalancing

    given = {
        "min_transfer_qty": min_qty,
        "max_transfers_per_store_per_day": max_per_store,
        "max_distance_km": max_km,
        "excluded_skus": list(exclude_skus) or None,
        "excluded_stores": list(exclude_stores) or None,
    }
    limits = {key: value for key, value in given.items() if value is not None}
    db = HubDatabase(db_path)
    with ExitStack() as stack:
        bars = []

        def start(series: int) -> None:
            bars.append(stack.enter_context(
                click.progressbar(length=series, label=f"forecasting {series} store/SKU series", file=sys.stderr)
            ))  # fmt: skip

        try:
            run = rebalancing.create_run(
                db, "cli", horizon_days=horizon, lookback_days=lookback, limits=limits, save_limits=save_limits,
                on_history=start, progress=lambda n: bars[0].update(n),
            )  # fmt: skip
        except DomainError as exc:
            stack.close()
            _refused(exc)
    summary = run["summary"]
    click.echo(
        f"Run {run['run_id']}: {len(run['proposals'])} transfer line(s), {summary['units_moved']} units over "
        f"{summary['unit_km']:g} unit-km; {summary['series']} store/SKU series forecast for {horizon} days "
        f"from {summary['forecast_start']}"
    )
    limits_used = run["limits"]
    click.echo(
        f"Limits: minimum transfer {limits_used['min_transfer_qty']}, "
        f"at most {limits_used['max_transfers_per_store_per_day'] or 'any number of'} destination(s) per store, "
        f"distance {str(limits_used['max_distance_km']) + ' km' if limits_used['max_distance_km'] else 'any'}, "
        f"excluded SKUs {', '.join(limits_used['excluded_skus']) or 'none'}, "
        f"excluded stores {', '.join(limits_used['excluded_stores']) or 'none'}"
    )
    if not run["proposals"]:
        click.echo("No transfer to propose.")
    for p in run["proposals"]:
        click.echo(
            f"  #{p['proposal_id']}  {p['source_store_id']} -> {p['destination_store_id']}  {p['sku']}  "
            f"x{p['qty']}  ({p['distance_km']:.1f} km)"
        )
        click.echo(f"      {p['reason']}")
    if run["shortfalls"]:
        click.echo("Need no transfer covers:")
        for s in run["shortfalls"]:
            click.echo(f"  {s['store_id']}  {s['sku']}  {s['qty']}: {s['reason']}")
    if approve_all and run["proposals"]:
        try:
            approved = rebalancing.approve(db, "cli", run["run_id"], [p["proposal_id"] for p in run["proposals"]])
        except DomainError as exc:
            _refused(exc)
        for t in approved["transfers"]:
            lines = ", ".join(f"{ln['sku']} x{ln['qty']}" for ln in t["lines"])
            click.echo(f"Transfer {t['order_id']}: {t['source_store_id']} -> {t['destination_store_id']}: {lines}")
    elif run["proposals"]:
        click.echo(f"Approve in the console (Rebalancing) or: POST /api/rebalancing/runs/{run['run_id']}/approve")


@hub.command("forecast")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, exists=True), help="Hub SQLite file.")
@click.option("--sku", "skus", multiple=True, metavar="SKU", help="Only this SKU; repeat for several (default: all).")
@click.option(
    "--store",
    "store_ids",
    multiple=True,
    metavar="STORE_ID",
    help="Only this store; repeat for several (default: all).",
)
@click.option("--horizon", type=click.IntRange(1, 28), default=7, show_default=True, help="Days to forecast.")
@click.option(
    "--lookback",
    type=click.IntRange(14, 366),
    default=56,
    show_default=True,
    help="Days of sales history the forecast learns from.",
)
def forecast_command(
    db_path: str, skus: tuple[str, ...], store_ids: tuple[str, ...], horizon: int, lookback: int
) -> None:
    """Print each store's demand forecast per SKU and its error on the last held-back days, next to the naive one."""
    from shared.errors import DomainError

    from ..services import forecasting

    db = HubDatabase(db_path)
    try:
        history = forecasting.load_history(db, lookback_days=lookback, skus=skus or None, store_ids=store_ids or None)
    except DomainError as exc:
        _refused(exc)
    with click.progressbar(length=len(history), label=f"forecasting {len(history)} series", file=sys.stderr) as bar:
        items = forecasting.forecast_history(history, horizon, progress=bar.update)
    click.echo(
        f"Forecast from {history.today} for {horizon} days, learnt on up to {lookback} days; error on the last "
        f"{forecasting.HOLDOUT_DAYS} days (naive = same weekday last week)"
    )
    if not items:
        click.echo("No sales in the history: nothing to forecast.")
        return
    click.echo(f"{'STORE':<12} {'SKU':<16} {'NEXT':>8} {'MAE':>7} {'WAPE':>6} {'NAIVE MAE':>10} {'WAPE':>6}  MODEL")
    for item in items:
        h = item.holdout or {}
        click.echo(
            f"{item.store_id:<12} {item.sku:<16} {item.total:>8.1f} {_num(h.get('mae')):>7} {_pct(h.get('wape')):>6} "
            f"{_num(h.get('naive_mae')):>10} {_pct(h.get('naive_wape')):>6}  {item.fitted.describe()}"
        )
    overall = forecasting.accuracy(items)
    if overall["series"]:
        click.echo(
            f"Network: {overall['series']} series with a holdout, WAPE {_pct(overall['wape'])} "
            f"(naive {_pct(overall['naive_wape'])}), MAE {_num(overall['mae'])} (naive {_num(overall['naive_mae'])}), "
            f"bias {overall['bias']:+.2f}; better than naive on {overall['better_than_naive']} of {overall['series']}"
        )
    else:
        click.echo(f"Network: no series has the {forecasting.HOLDOUT_DAYS + 7} days of history an error needs.")


# ------------------------------------------------------------------ replenishment
@hub.command("reorder-point")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
@click.option("--store-id", default="*", show_default=True, help="A store, or '*' for the SKU summed over the network.")
@click.option("--sku", required=True, help="The SKU to watch.")
@click.option("--point", "reorder_point", required=True, type=int, help="A request goes out below this available.")
@click.option("--order-qty", required=True, type=int, help="Order up to the point plus this quantity.")
def reorder_point_command(db_path: str, store_id: str, sku: str, reorder_point: int, order_qty: int) -> None:
    """Set a reorder point (audited as 'cli'); it is evaluated at once against the stock the hub holds."""
    from shared.errors import InvalidInput

    from ..services import replenishment

    try:
        rule = replenishment.set_reorder_point(HubDatabase(db_path), "cli", store_id, sku, reorder_point, order_qty)
    except InvalidInput as exc:
        for field, message in exc.fields:
            click.echo(f"  {field}: {message}", err=True)
        sys.exit(2)
    state = "below: a request was raised" if rule["below"] else "above the point"
    click.echo(f"{store_id}/{sku}: reorder point {reorder_point}, order up to {rule['order_up_to']} ({state})")


@hub.command("replenishment-webhook")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="Hub SQLite file.")
@click.option("--url", required=True, help="The ERP / supplier endpoint replenishment requests are POSTed to.")
@click.option(
    "--secret",
    envvar="COMPTOIR_WEBHOOK_SECRET",
    default=None,
    help="HMAC-SHA256 signing secret, 16 characters or more (or env COMPTOIR_WEBHOOK_SECRET); kept when not given.",
)
def replenishment_webhook_command(db_path: str, url: str, secret: str | None) -> None:
    """Set where replenishment requests are delivered and the secret they are signed with (audited as 'cli')."""
    from shared.errors import InvalidInput

    from ..services import replenishment

    try:
        replenishment.configure_webhook(HubDatabase(db_path), "cli", url, secret)
    except InvalidInput as exc:
        for field, message in exc.fields:
            click.echo(f"  {field}: {message}", err=True)
        sys.exit(2)
    click.echo(f"replenishment requests go to {url}")
