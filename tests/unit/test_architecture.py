"""The layering rules of DESIGN.md, checked on the source with ast (nothing is imported).

- a domain module imports no flask, sqlite3, sqlite_utils or requests, reads no clock;
- layers import only downwards: domain < store < services < entrypoints;
- store_node never imports central_sync and central_sync never imports store_node;
- shared imports neither app (shared/cli.py names them as strings and loads them lazily).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("store_node", "central_sync")
FORBIDDEN_IN_DOMAIN = {"flask", "sqlite3", "sqlite_utils", "requests"}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "utc_now"}
# an app's modules by layer, lowest first; a module may import its own layer and those below
LAYERS = ("domain", "store", "services", "entrypoints")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, anywhere in the file (lazy imports too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            # "from . import stock" imports a module named like the alias
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _roots(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def _layer(app: str, module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != app or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def test_the_sources_are_found():
    assert len(_modules("store_node")) >= 10
    assert (ROOT / "store_node" / "domain" / "assignments.py").exists()


@pytest.mark.parametrize("app", APPS)
def test_domain_modules_are_pure(app):
    offenders = {}
    for path in _modules(f"{app}/domain") if (ROOT / app / "domain").exists() else []:
        bad = _roots(imports(path)) & FORBIDDEN_IN_DOMAIN
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"domain modules doing I/O: {offenders}"


@pytest.mark.parametrize("app", APPS)
def test_domain_modules_read_no_clock(app):
    offenders = []
    for path in _modules(f"{app}/domain") if (ROOT / app / "domain").exists() else []:
        if "shared.clock" in imports(path):
            offenders.append(f"{path.relative_to(ROOT)} imports shared.clock")
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK_CALLS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"datetime", "date", "time"}
            ):
                offenders.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.value.id}.{node.func.attr}"
                )
    assert not offenders


@pytest.mark.parametrize("app", APPS)
def test_layers_import_only_downwards(app):
    offenders = []
    for path in _modules(app):
        own = _layer(app, _module_name(path))
        if own is None:
            continue
        for name in imports(path):
            other = _layer(app, name)
            if other is not None and other > own:
                offenders.append(f"{_module_name(path)} ({LAYERS[own]}) imports {name} ({LAYERS[other]})")
    assert not offenders


@pytest.mark.parametrize(("app", "other"), [("store_node", "central_sync"), ("central_sync", "store_node")])
def test_the_apps_do_not_import_each_other(app, other):
    offenders = [str(path.relative_to(ROOT)) for path in _modules(app) if other in _roots(imports(path))]
    assert not offenders, f"{app} modules importing {other}: {offenders}"


def test_shared_imports_neither_app():
    offenders = [
        str(path.relative_to(ROOT)) for path in _modules("shared") if _roots(imports(path)) & set(APPS)
    ]
    assert not offenders
    # the CLI reaches the apps only by name, loaded when a sub-command is asked for
    cli = (ROOT / "shared" / "cli.py").read_text()
    assert "store_node.entrypoints.cli" in cli and "importlib" in cli


def test_the_import_scanner_resolves_relative_imports():
    """The checks above are only as good as this: relative imports must resolve to absolute names."""
    services = ROOT / "store_node" / "services" / "fulfilment.py"
    names = imports(services)
    assert {"store_node.domain", "store_node.domain.assignments", "store_node.store"} <= names
    assert _layer("store_node", "store_node.entrypoints.api") == 3
    assert _layer("store_node", "store_node.store") == 1
