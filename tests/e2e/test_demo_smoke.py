"""``comptoir demo`` runs a whole network, feeds a few orders, prints every URL and stops cleanly."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from central_sync.entrypoints.demo import DEMO_STORES

pytestmark = pytest.mark.e2e


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_range(count: int) -> int:
    """A base port such that base .. base + count - 1 are all free now (the demo uses consecutive ports)."""
    for base in range(21_000, 60_000, 97):
        if all(_free(base + n) for n in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_runs_the_network_prints_every_url_and_exits_cleanly(tmp_path: Path) -> None:
    port = free_port_range(1 + len(DEMO_STORES))
    comptoir = Path(sys.executable).with_name("comptoir")
    command = [str(comptoir)] if comptoir.exists() else [sys.executable, "-m", "shared.cli"]
    command += ["demo", "--port", str(port), "--workdir", str(tmp_path / "demo"), "--orders", "3"]
    process = subprocess.Popen(
        [*command, "--orders-every", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the demo did not finish within 120 s:\n{output}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything the demo left in its group

    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    for n, (store_id, city, *_rest) in enumerate(DEMO_STORES):
        line = next((ln for ln in output.splitlines() if ln.strip().startswith(store_id)), "")
        assert f"http://127.0.0.1:{port + 1 + n}" in line and city in line, output
    orders = [ln for ln in output.splitlines() if ln.startswith("order DEMO-")]
    assert len(orders) == 3 and not [ln for ln in orders if "not sent" in ln], output
    assert "demo stopped" in output
    # every node it started is gone
    assert [p for p in range(port, port + 1 + len(DEMO_STORES)) if _listening(p)] == []
