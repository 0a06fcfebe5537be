"""The store's sync worker: one HTTP round trip per exchange, on a schedule, backing off while offline.

An exchange posts the unsent outbox events (in seq order, bounded) and the feed cursor;
the answer acknowledges what the hub holds and carries the next feed messages, which are
applied each with its cursor move in one transaction. A store back from a long outage
catches up by running exchanges back to back until nothing is left either way.
"""

import logging
import threading
from datetime import UTC, datetime

import orjson
import requests
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from pydantic import ValidationError

from shared.clock import from_iso, to_iso, utc_now
from shared.wire import MAX_EVENTS_PER_EXCHANGE, SyncResponse

from .services import feed
from .store import StoreDatabase

log = logging.getLogger("comptoir.store.sync")
# a trigger landing while an exchange runs is expected (the run loops once more), not a fault
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
MAX_BACKOFF_S = 15.0  # short enough that a terminal shows "online" soon after the hub is back
MAX_ROUNDS = 50  # exchanges back to back in one run: 100,000 events before yielding


class SyncWorker:
    """Runs exchanges with the hub for one store node; one worker per node."""

    def __init__(
        self,
        db: StoreDatabase,
        hub_url: str,
        secret: str,
        interval: float = 3.0,
        batch: int = MAX_EVENTS_PER_EXCHANGE,
        timeout: float = 10.0,
    ):
        self.db, self.url, self.secret = db, hub_url.rstrip("/") + "/api/sync", secret
        self.interval, self.batch, self.timeout = interval, batch, timeout
        self.http = requests.Session()
        self.failures = 0
        self.last_sync_at: str | None = None
        self.last_attempt_at: str | None = None
        self.last_error: str | None = None
        self._dirty = threading.Event()
        self._running = threading.Lock()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.job = None

    @classmethod
    def attach(cls, app: Flask, hub_url: str, secret: str, interval: float = 3.0) -> "SyncWorker":
        """Create the worker for the app's database and expose its status through the app."""
        worker = cls(app.extensions["store_db"], hub_url, secret, interval)
        app.extensions["sync_status"] = worker.status
        app.extensions["sync_worker"] = worker
        return worker

    # ------------------------------------------------------------------ schedule
    def start(self) -> None:
        self.job = self.scheduler.add_job(
            self.run,
            "interval",
            seconds=self.interval,
            id="sync",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        self.db.after_commit.append(self.trigger)
        self.scheduler.start()

    def stop(self) -> None:
        if self.trigger in self.db.after_commit:
            self.db.after_commit.remove(self.trigger)
        self.scheduler.shutdown(wait=True)

    def trigger(self) -> None:
        """A local change was committed: exchange now rather than at the next tick."""
        self._dirty.set()
        if self.job is None:
            return
        # while offline, a change still gets one try per interval: the hub may just be back
        if self.failures == 0 or self._since_last_attempt() >= self.interval:
            self.job.modify(next_run_time=datetime.now(UTC))

    def _since_last_attempt(self) -> float:
        if self.last_attempt_at is None:
            return float("inf")
        return (utc_now() - from_iso(self.last_attempt_at)).total_seconds()

    # ------------------------------------------------------------------ exchanges
    def run(self) -> None:
        """Exchange until both directions are drained; on failure, back off exponentially."""
        if not self._running.acquire(blocking=False):
            return
        try:
            for _ in range(MAX_ROUNDS):
                self._dirty.clear()
                more = self.exchange_once()
                if not more and not self._dirty.is_set():
                    break
            if self.failures:
                self.failures = 0
                self.job.reschedule("interval", seconds=self.interval)
        except (requests.RequestException, HubRefused) as exc:
            self.failures += 1
            self.last_error = str(exc)[:300]
            backoff = min(MAX_BACKOFF_S, self.interval * 2 ** min(self.failures, 6))
            log.warning("sync failed (%s); next try in %.0f s", self.last_error, backoff)
            if self.job is not None:
                self.job.reschedule("interval", seconds=backoff)
        finally:
            self._running.release()

    def exchange_once(self) -> bool:
        """One round trip; returns True when more is waiting on either side."""
        meta = self.db.meta()
        events = self.db.unsent_events(self.batch)
        health = self.db.outbox_health()
        body = {
            "store_id": meta["store_id"],
            "epoch": meta["epoch"],
            "feed_cursor": int(meta["feed_cursor"]),
            "events": events,
            "outbox_depth": health["depth"],
            "oldest_unsent_at": health["oldest_unsent_at"],
        }
        self.last_attempt_at = to_iso(utc_now())
        response = self.http.post(
            self.url,
            data=orjson.dumps(body),
            timeout=self.timeout,
            headers={"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"},
        )
        if response.status_code != 200:
            raise HubRefused(f"hub answered {response.status_code}: {response.text[:200]}")
        try:
            answer = SyncResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise HubRefused(f"unreadable answer from the hub: {exc}") from None
        if answer.epoch == meta["epoch"] and answer.acked_seq:
            feed.acknowledge(self.db, meta["epoch"], answer.acked_seq)
        applied = (
            feed.apply_feed(self.db, answer.messages) if answer.messages else {"cursor": body["feed_cursor"]}
        )
        self.last_sync_at = to_iso(utc_now())
        self.last_error = None
        sent_all = answer.acked_seq >= (events[-1]["seq"] if events else 0)
        return (len(events) == self.batch and sent_all) or applied["cursor"] < answer.feed_head

    def status(self) -> dict:
        return {
            "online": self.failures == 0 and self.last_sync_at is not None,
            "hub": self.url.removesuffix("/api/sync"),
            "last_sync_at": self.last_sync_at,
            "last_attempt_at": self.last_attempt_at,
            "last_error": self.last_error,
            "consecutive_failures": self.failures,
        }


class HubRefused(Exception):
    """The hub answered, but not with a sync answer (wrong secret, bad request, server error)."""
