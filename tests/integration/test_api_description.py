"""Meta-tests: every endpoint is in the OpenAPI description, every CLI command has --help text."""

import inspect
import re

import click
import pytest
from click.testing import CliRunner

from store_node.entrypoints.cli import store

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _api_routes(app) -> list[tuple[str, str, str]]:
    """(OpenAPI path, method, endpoint) of every Flask route under /api/."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            routes += [(path, method.lower(), rule.endpoint) for method in rule.methods - IGNORED_METHODS]
    return sorted(routes)


def test_every_api_route_is_described_with_a_summary(app, client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    routes = _api_routes(app)
    assert len(routes) >= 25
    described = sorted((path, method) for path, ops in doc["paths"].items() for method in ops)
    assert described == [(path, method) for path, method, _ in routes]
    for path, method, _ in routes:
        op = doc["paths"][path][method]
        assert op["summary"].strip(), f"{method.upper()} {path} has no summary"
        params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert params == set(re.findall(r"{(\w+)}", path)), f"{method.upper()} {path}: path parameters"


def test_every_body_and_query_a_view_parses_is_the_one_it_describes(app, client):
    """A view that parses schemas.X must declare X, so the description cannot drift from the code."""
    doc = client.get("/api/openapi.json").get_json()
    for path, method, endpoint in _api_routes(app):
        view = app.view_functions[endpoint]
        source = inspect.getsource(view)
        op = doc["paths"][path][method]
        body = re.search(r"parse_body\(schemas\.(\w+)\)", source)
        query = re.search(r"parse_query\(schemas\.(\w+)\)", source)
        if body:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{body.group(1)}", endpoint
            assert body.group(1) in doc["components"]["schemas"]
        else:
            assert "requestBody" not in op, endpoint
        if query:
            query_params = {p["name"] for p in op["parameters"] if p["in"] == "query"}
            model = view.api_query
            assert model.__name__ == query.group(1), endpoint
            assert query_params == set(model.model_fields), endpoint


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


COMMANDS = _commands(store)


def test_the_store_group_has_its_commands():
    assert {path[0] for path, _ in COMMANDS} >= {"serve", "add-staff", "new-epoch"}


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_cli_command_has_help_text(path, command):
    result = CliRunner().invoke(store, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert (command.help or "").strip(), f"comptoir store {' '.join(path)} has no help text"
    assert " ".join(command.help.split()) in " ".join(result.output.split())
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"comptoir store {' '.join(path)} {param.opts[0]} has no help"


def test_the_store_group_itself_has_help_text():
    result = CliRunner().invoke(store, ["--help"])
    assert result.exit_code == 0
    assert "Run and administer a store node." in result.output
