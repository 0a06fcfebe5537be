"""Terminal actions through the store node's HTTP API: p50/p99 with 10 terminals at once.

Run: ``python -m benchmarks.terminal_latency``. It starts a real store node (waitress,
sample data), signs in, and times till sales (a scan at the till is one sale) from
10 terminals in parallel threads, against a baseline run beside it: one terminal alone.
Target (DESIGN.md): p99 under 25 ms with 10 terminals.

Two loads: *paced*, each terminal scanning every 150 ms (a very fast cashier: ten of them
make a busy Saturday), which is what the target is about; and *flat out*, every terminal
firing back to back with no pause, a stress figure where latency is mostly queueing.
"""

import tempfile
import threading
import time
from pathlib import Path

import requests

from shared.sample_catalogue import sample_catalogue

from .harness import bar_chart, free_port, percentile, progress, start, stop

PACE_S = 0.150


def terminal(url: str, token: str, actions: int, skus: list[str], out: list[float], offset: int, pace: float) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    for n in range(actions):
        if pace:
            time.sleep(pace * (0.5 + ((offset + n) * 7919 % 100) / 100))  # the cashier's pause between scans
        sku = skus[(offset + n) % len(skus)]
        started = time.perf_counter()
        answer = session.post(f"{url}/api/sales", json={"lines": [{"code": sku, "qty": 1}]}, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 201:
            raise RuntimeError(f"sale refused: {answer.status_code} {answer.text[:200]}")


def run(
    url: str, token: str, terminals: int, actions: int, skus: list[str], pace: float = 0.0
) -> tuple[list[float], float]:
    timings: list[list[float]] = [[] for _ in range(terminals)]
    threads = [
        threading.Thread(target=terminal, args=(url, token, actions, skus, timings[i], i * 37, pace))
        for i in range(terminals)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for i, t in enumerate(threads):
        t.join()
        progress(i + 1, terminals, f"{terminals} terminal(s) done")
    return [x for per in timings for x in per], time.perf_counter() - started


def main(actions: int = 200) -> None:
    skus = [item.sku for item in sample_catalogue()]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        node = start(
            [
                "store",
                "serve",
                "--store-id",
                "BENCH-01",
                "--db",
                str(Path(tmp) / "s.sqlite"),
                "--port",
                str(port),
                "--sample",
            ],
            url,
            Path(tmp) / "store.log",
        )
        try:
            token = requests.post(f"{url}/api/session", json={"staff_code": "A001", "pin": "1111"}).json()["token"]
            run(url, token, 1, 20, skus)  # warm-up: connections, caches
            alone, alone_s = run(url, token, 1, actions, skus, PACE_S)
            busy, busy_s = run(url, token, 10, actions, skus, PACE_S)
            flat, flat_s = run(url, token, 10, actions, skus)
        finally:
            stop(node)
    rows = []
    loads = (
        ("1 terminal, paced (baseline)", alone, alone_s),
        ("10 terminals, paced", busy, busy_s),
        ("10 terminals, flat out", flat, flat_s),
    )
    for name, data, seconds in loads:
        p50, p99 = percentile(data, 50), percentile(data, 99)
        rows.append((name, p50, p99, len(data) / seconds))
        print(f"{name:<30} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   {len(data) / seconds:7.0f} sales/s")
    print(f"p99 ratio 10 paced terminals / baseline: {rows[1][2] / rows[0][2]:.1f}x   (target: p99 under 25 ms)")
    print(bar_chart([(f"{r[0]} p99", r[2]) for r in rows], "ms"))


if __name__ == "__main__":
    main()
