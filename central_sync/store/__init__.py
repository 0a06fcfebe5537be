"""The hub's persistence: the one place with SQL for the hub, over shared.database's discipline.

The repository is one class, :class:`HubTx`, assembled from parts by what they own (network,
orders, planning) so that each part stays readable. The hub runs ``synchronous=NORMAL`` (an
acknowledged event the hub lost in a power cut is simply sent again by the store, whose
outbox keeps it until acknowledged).
"""

from pathlib import Path

from shared.database import Database

from ..schema import migrations
from .network import NetworkQueries
from .orders import OrderQueries
from .planning import PlanningQueries


class HubTx(NetworkQueries, OrderQueries, PlanningQueries):
    """The hub's repository, inside a unit of work or over a reader connection."""


class HubDatabase(Database[HubTx]):
    def __init__(self, path: str | Path):
        super().__init__(path, migrations, HubTx, synchronous="NORMAL")
