"""The store node's Flask app factory: one database, the API blueprint, the error format."""

import secrets
from pathlib import Path

from flask import Flask

from shared.http_api import install_error_handlers

from ..store import StoreDatabase
from .api import api
from .terminal import init_terminal


def create_app(db_path: str | Path, store_id: str | None = None) -> Flask:
    """Open (or create) the store's database and build its app."""
    db = StoreDatabase(db_path, store_id)
    app = Flask("store_node")
    app.secret_key = _secret_key(db)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["store_db"] = db
    app.extensions["store_status"] = lambda: store_status(db, app)
    app.extensions["sync_status"] = lambda: {"online": None, "last_sync_at": None, "last_error": None}
    install_error_handlers(app)
    app.register_blueprint(api)
    init_terminal(app)  # the terminal screens: Babel, session cookie, CSRF, /terminal/...
    return app


def _secret_key(db: StoreDatabase) -> str:
    """Kept in the database so sessions and tokens outlive a restart of the node."""
    key = db.meta().get("secret_key")
    if key is None:
        key = secrets.token_hex(32)
        with db.transaction() as tx:
            tx.set_meta("secret_key", key)
    return key


def store_status(db: StoreDatabase, app: Flask) -> dict:
    meta = db.meta()
    return {
        "status": "ok",
        "store_id": meta["store_id"],
        "epoch": meta["epoch"],
        "feed_cursor": int(meta["feed_cursor"]),
        "outbox": db.outbox_health(),
        "sync": app.extensions["sync_status"](),
    }
