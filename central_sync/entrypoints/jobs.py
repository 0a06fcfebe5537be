"""The hub's scheduled jobs: re-route unanswered assignments, retry backorders, in one process."""

import logging

from apscheduler.schedulers.blocking import BlockingScheduler

from ..domain.routing import NearestStoreRouter
from ..services import replenishment, routing
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

    def replenish() -> None:
        """Reorder points evaluated again (catch-up), requests delivered to the ERP webhook with back-off.
        A job of its own, so that a slow ERP never holds up the re-routing of unanswered assignments."""
        done = replenishment.run(db)
        if done["created"] or done["delivered"] or done["retrying"] or done["failed"]:
            log.info("replenishment: %s", done)

    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(tick, "interval", seconds=every_seconds, max_instances=1, coalesce=True)
    scheduler.add_job(replenish, "interval", seconds=every_seconds, max_instances=1, coalesce=True)
    tick()
    scheduler.start()
