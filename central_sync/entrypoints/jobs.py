"""The hub's scheduled jobs: re-route unanswered assignments, retry backorders, in one process."""

import logging

from apscheduler.schedulers.blocking import BlockingScheduler

from ..domain.routing import NearestStoreRouter
from ..services import routing
from ..store import HubDatabase

log = logging.getLogger("comptoir.hub.jobs")


def run_jobs(db_path: str, every_seconds: float = 5.0) -> None:
    """Block running the jobs; gunicorn's workers serve requests, this one process runs the clock."""
    db = HubDatabase(db_path)
    router = NearestStoreRouter()

    def tick() -> None:
        expired = routing.expire_unanswered(db)
        if expired:
            log.info("re-routing %d unanswered assignment(s)", len(expired))
        routing.route_pending(db, router, include_backorders=True)

    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(tick, "interval", seconds=every_seconds, max_instances=1, coalesce=True)
    tick()
    scheduler.start()
