"""The hub's Flask app factory: one database, the router, the API blueprint and the error format."""

from pathlib import Path

from flask import Flask

from shared.http_api import install_error_handlers

from ..domain.routing import NearestStoreRouter, Router
from ..store import HubDatabase
from .api import api


def create_app(db_path: str | Path, router: Router | None = None) -> Flask:
    app = Flask("central_sync")
    app.extensions["hub_db"] = HubDatabase(db_path)
    app.extensions["router"] = router or NearestStoreRouter()
    install_error_handlers(app)
    app.register_blueprint(api)
    return app
