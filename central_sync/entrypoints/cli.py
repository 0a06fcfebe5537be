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
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False))
@click.option("--every", default=5.0, show_default=True, help="Seconds between runs.")
def jobs_command(db_path: str, every: float) -> None:
    """Run the scheduled jobs alone: unanswered assignments re-routed, backorders retried."""
    from .jobs import run_jobs

    run_jobs(db_path, every)


@hub.command("add-store")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False))
@click.option("--store-id", required=True)
@click.option("--name", required=True)
@click.option("--lat", required=True, type=float)
@click.option("--lon", required=True, type=float)
@click.option("--city", default="")
@click.option("--address", default="")
@click.option("--capacity", default=200, show_default=True, help="Assignments the store can take a day.")
@click.option("--ship/--no-ship", default=True, show_default=True, help="Does ship-from-store.")
@click.option("--collect/--no-collect", default=True, show_default=True, help="Does click-and-collect.")
@click.option("--opening-hours", default="Mon-Sat 09:00-19:00")
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
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="Who uses it: a channel (web, app, marketplace) or head office.")
@click.option("--role", type=click.Choice(stores.API_ROLES), required=True)
def add_api_key(db_path: str, name: str, role: str) -> None:
    """Create an API key for a sales channel or head office and print it (shown once)."""
    click.echo(stores.add_api_key(HubDatabase(db_path), name, role))


@hub.command("add-user")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False))
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
@click.option("--role", type=click.Choice(console_users.ROLES), default="head_office", show_default=True)
@click.option("--language", type=click.Choice(console_users.LANGUAGES), default="fr", show_default=True)
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
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False))
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
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False))
def import_postal_codes(csv_file: Path, db_path: str) -> None:
    """Import postal codes (code,latitude,longitude[,city]) used to place delivery destinations."""
    try:
        rows = catalogue.read_postal_codes_csv(csv_file)
    except catalogue.ImportRefused as refused:
        click.echo(f"{len(refused.errors)} error(s), nothing imported:", err=True)
        _report(refused.errors)
        sys.exit(1)
    click.echo(f"{catalogue.import_postal_codes(HubDatabase(db_path), rows)} postal codes imported")
