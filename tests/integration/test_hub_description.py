"""Meta-tests of the hub: every endpoint is in its OpenAPI description, every `comptoir hub` command and
option has --help text, and the `comptoir` root lists its groups."""

import click
import pytest
from click.testing import CliRunner
from test_api_description import _api_routes, _commands

from central_sync.entrypoints.app import create_app
from central_sync.entrypoints.cli import hub
from shared.cli import main


@pytest.fixture
def hub_app(tmp_path):
    return create_app(tmp_path / "hub.sqlite")


def test_every_hub_api_route_is_described_with_a_summary(hub_app):
    doc = hub_app.test_client().get("/api/openapi.json").get_json()
    routes = _api_routes(hub_app)
    assert len(routes) >= 20
    described = sorted((path, method) for path, ops in doc["paths"].items() for method in ops)
    assert described == [(path, method) for path, method, _ in routes]
    for path, method, _ in routes:
        assert doc["paths"][path][method]["summary"].strip(), f"{method.upper()} {path} has no summary"


HUB_COMMANDS = _commands(hub)


def test_the_hub_group_has_its_commands():
    assert {path[0] for path, _ in HUB_COMMANDS} >= {
        "serve",
        "jobs",
        "add-store",
        "add-api-key",
        "import-catalogue",
        "import-postal-codes",
    }


@pytest.mark.parametrize(("path", "command"), HUB_COMMANDS, ids=[" ".join(p) for p, _ in HUB_COMMANDS])
def test_every_hub_command_and_option_has_help_text(path, command):
    result = CliRunner().invoke(hub, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert (command.help or "").strip(), f"comptoir hub {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"comptoir hub {' '.join(path)} {param.opts[0]} has no help"


def test_the_root_command_lists_every_group_with_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for group in ("store", "hub", "demo"):
        assert group in result.output
    demo = CliRunner().invoke(main, ["demo", "--help"])
    assert demo.exit_code == 0 and "demo network" in demo.output
