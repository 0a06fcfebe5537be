"""What the benchmarks share: free ports, real processes started and stopped, percentiles, bar charts."""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.waiting import DeadlineExceeded, ProcessExited, wait_healthy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: Sequence[str], url: str, log: Path, deadline_s: float = 30.0) -> subprocess.Popen:
    """Start ``comptoir ARGS`` and wait for its health endpoint, with a deadline."""
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(url, process, deadline_s)
    except (DeadlineExceeded, ProcessExited) as exc:
        stop(process)
        raise RuntimeError(f"{exc}; see {log}") from None
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def bar_chart(rows: Sequence[tuple[str, float]], unit: str, width: int = 50) -> str:
    """A horizontal text bar chart: numbers people compare are easier to see than to read."""
    top = max(v for _, v in rows) or 1.0
    label = max(len(name) for name, _ in rows)
    return "\n".join(
        f"  {name:<{label}} {'█' * max(1, round(width * v / top)):<{width}} {v:,.1f} {unit}" for name, v in rows
    )


def progress(done: int, total: int, what: str, steps: int = 10) -> None:
    """Print ``what: done/total`` about ``steps`` times over a run (stderr, one line each)."""
    every = max(1, total // steps)
    if done % every == 0 or done >= total:
        sys.stderr.write(f"  {what}: {done:,}/{total:,}\n")
        sys.stderr.flush()
