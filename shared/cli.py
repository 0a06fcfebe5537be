"""The ``comptoir`` command: its sub-command groups live with the app they drive.

The groups are loaded by module name when asked for, so that this shared module never
imports the store node and the hub together (they must not depend on each other).
"""

import importlib

import click

GROUPS = {
    "store": ("store_node.entrypoints.cli", "store"),
    "hub": ("central_sync.entrypoints.cli", "hub"),
    "demo": ("central_sync.entrypoints.demo", "demo"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(GROUPS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in GROUPS:
            return None
        module, attr = GROUPS[name]
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="comptoir")
def main() -> None:
    """Comptoir: offline-first order fulfillment for retail store networks."""


if __name__ == "__main__":
    main()
