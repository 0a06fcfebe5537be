"""The hub's Flask app factory: one database, the router, the API blueprint and the error format."""

from pathlib import Path

from flask import Flask

from shared.http_api import install_error_handlers

from ..domain.routing import NearestStoreRouter, Router
from ..services import console_users
from ..store import HubDatabase
from .api import api
from .api_head_office import head_office_api
from .console import console, init_web
from .console_analytics import analytics
from .console_planning import planning
from .console_transfers import console_transfers
from .customer import customer


def create_app(db_path: str | Path, router: Router | None = None) -> Flask:
    app = Flask("central_sync")
    app.extensions["hub_db"] = HubDatabase(db_path)
    app.extensions["router"] = router or NearestStoreRouter()
    install_error_handlers(app)
    app.register_blueprint(api)
    # screens: head-office console and customer order page (sessions signed with a key kept in the database)
    app.secret_key = console_users.secret_key(app.extensions["hub_db"])
    init_web(app)
    app.register_blueprint(console)
    app.register_blueprint(customer)
    app.register_blueprint(analytics)  # console: analytics and replenishment
    app.register_blueprint(head_office_api)  # /api/analytics, /api/reorder-points, /api/replenishment
    app.register_blueprint(planning)  # console: rebalancing and demand forecast
    app.register_blueprint(console_transfers)  # console: transfers between stores
    return app
