"""Waiting for something to become true, with a deadline: the project's one poll loop.

The demo, the benchmarks and the tests start real processes and wait for them; none of them
sleeps for a guessed time: they poll a condition and give up, saying what was still wrong,
when the deadline passes.
"""

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")
POLL_INTERVAL = 0.05


class DeadlineExceeded(TimeoutError):
    """The condition did not hold before the deadline."""


class ProcessExited(RuntimeError):
    """The process being waited for exited: waiting longer cannot help."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str = "condition",
    interval: float = POLL_INTERVAL,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``predicate`` until it answers something truthy (returned) or ``timeout`` seconds pass.

    Exceptions in ``retry_on`` count as "not yet"; the last answer or exception is named in the
    :class:`DeadlineExceeded` message, so a failure says what was still wrong.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except retry_on as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")
        time.sleep(interval)  # the poll interval between two looks at the condition


def wait_healthy(url: str, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    """Wait until ``url``/api/health answers; fail at once if ``process`` exits meanwhile."""

    def healthy() -> bool:
        if process is not None and process.poll() is not None:
            raise ProcessExited(f"{url}: the process exited with code {process.returncode}")
        return requests.get(f"{url}/api/health", timeout=1).ok

    wait_until(healthy, timeout, f"{url}/api/health", retry_on=(requests.RequestException,))
