"""Fixtures of the end-to-end tests: real hub and store processes on loopback, stopped in teardown."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .network import Network, StoreSpec, small_catalogue

# The destination of most orders; the stores sit due north of it (0.1 degree of latitude is ~11 km),
# so "nearest" is unambiguous: NEAR ~11 km, MID ~56 km, FAR ~111 km.
DESTINATION = (48.0, 2.0)
NEAR, MID, FAR = "NEAR-01", "MID-01", "FAR-01"
THREE_STORES = (StoreSpec(NEAR, 48.1, 2.0), StoreSpec(MID, 48.5, 2.0), StoreSpec(FAR, 49.0, 2.0))

NetworkFactory = Callable[..., Network]


@pytest.fixture
def make_network(tmp_path: Path) -> Iterator[NetworkFactory]:
    """Build and start networks for one test; every process is stopped at teardown, pass or fail."""
    started: list[Network] = []

    def make(stores=THREE_STORES, catalogue=None, start: bool = True, **options) -> Network:
        net = Network(tmp_path / f"net{len(started)}", stores, catalogue or small_catalogue(), **options)
        started.append(net)
        if start:
            net.start()
        return net

    yield make
    for net in reversed(started):
        net.stop()


@pytest.fixture
def network(make_network: NetworkFactory) -> Network:
    """A started hub with three stores NEAR-01, MID-01, FAR-01 (north of DESTINATION), no stock yet."""
    return make_network()
