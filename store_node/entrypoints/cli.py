"""``comptoir store ...``: serve a store node, add staff, seed sample data, start a new epoch."""

import click

from ..services import feed, staff
from ..store import StoreDatabase


@click.group()
def store() -> None:
    """Run and administer a store node."""


@store.command()
@click.option("--store-id", required=True, help="This store's id, e.g. PAR-01.")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False), help="SQLite file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8101, show_default=True, type=int, help="Port to listen on (0: any free).")
@click.option("--hub", "hub_url", default=None, help="Hub base URL; without it the store runs standalone.")
@click.option(
    "--secret",
    envvar="COMPTOIR_STORE_SECRET",
    default=None,
    help="This store's sync secret (or env COMPTOIR_STORE_SECRET).",
)
@click.option("--sync-interval", default=3.0, show_default=True, help="Seconds between sync exchanges.")
@click.option(
    "--sample", is_flag=True, help="Seed a sample catalogue, stock and staff if the store is empty."
)
@click.option("--threads", default=16, show_default=True, help="Worker threads of the WSGI server.")
def serve(
    store_id: str,
    db_path: str,
    host: str,
    port: int,
    hub_url: str | None,
    secret: str | None,
    sync_interval: float,
    sample: bool,
    threads: int,
) -> None:
    """Serve the store node's API and terminal screens with waitress."""
    from waitress.server import create_server

    from .app import create_app

    app = create_app(db_path, store_id)
    if sample:
        from .sample import seed_sample

        # with a hub, assignments come from its feed; standalone, a few sample ones show the flow
        seed_sample(app.extensions["store_db"], assignments=0 if hub_url else 5)
    worker = None
    if hub_url:
        from ..sync_client import SyncWorker

        worker = SyncWorker.attach(app, hub_url, secret or "", sync_interval)
        worker.start()
    server = create_server(app, host=host, port=port, threads=threads)
    # the bound port is printed so a parent (tests, the demo) can find a port-0 server
    click.echo(f"store {store_id} listening on http://{host}:{server.effective_port}", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if worker:
            worker.stop()


@store.command("add-staff")
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The store's SQLite file.",
)
@click.option("--code", required=True, help="Staff code typed at sign-in.")
@click.option("--name", required=True, help="Full name shown on screens and in the audit trail.")
@click.option("--pin", required=True, help="4 to 8 digits.")
@click.option(
    "--role", type=click.Choice(staff.ROLES), default="associate", show_default=True, help="What they may do."
)
@click.option(
    "--language",
    type=click.Choice(staff.LANGUAGES),
    default="fr",
    show_default=True,
    help="Language of their screens.",
)
def add_staff(db_path: str, code: str, name: str, pin: str, role: str, language: str) -> None:
    """Add (or update) a staff member who can sign in on the terminals."""
    staff.add_staff(StoreDatabase(db_path), code, name, pin, role, language, by="cli")
    click.echo(f"staff {code} saved")


@store.command("new-epoch")
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The restored SQLite file.",
)
def new_epoch(db_path: str) -> None:
    """After restoring a backup: start a new epoch and queue a full stock snapshot for the hub."""
    epoch = feed.start_new_epoch(StoreDatabase(db_path), "cli")
    click.echo(f"new epoch {epoch}")
