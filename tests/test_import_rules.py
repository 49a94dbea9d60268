"""The package's floors, checked on the source (an AST walk over every import, function-level ones included):

    floor 0  rosetta.core                        standard library and numpy only
    floor 1  rosetta.{sources, contract, mnist, keras_backends, jax_function}   adapters, over floor 0
    floor 2  rosetta.{exporters, models, serving, web, zoo}   peers over floors 0-1, never over each other
    roof     rosetta.{api, builtins, cli}        anything below

and: only `rosetta.*` names are imported (a bare `import models` is a user's package, not ours); the product never
imports what measures it (benchmarks, tools, tests); only rosetta.core.manifest names the manifest file."""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where each installed package's source lives (pyproject.toml's package-dir).
PACKAGE_DIRS = {"rosetta": ROOT / "rosetta", "rosetta.exporters": ROOT / "exporters", "rosetta.models": ROOT / "models",
                "rosetta.serving": ROOT / "serving", "rosetta.web": ROOT / "web", "rosetta.zoo": ROOT / "zoo",
                "rosetta.datasets": ROOT / "data", "rosetta.js": ROOT / "js"}
PEERS = ("rosetta.exporters", "rosetta.models", "rosetta.serving", "rosetta.web", "rosetta.zoo")
ROOF = ("rosetta.api", "rosetta.builtins", "rosetta.cli")
NOT_OURS_ANY_MORE = {"exporters", "models", "serving", "web", "zoo"}  # top-level names a user's project may own
OUTSIDE = {"benchmarks", "tools", "tests"}
CORE_THIRD_PARTY = {"numpy"}
# The one import that may point up: `rosetta.export(...)` is the roof's function offered at the package's top,
# imported when called (nothing below ever calls it).
FACADE = {("rosetta", "rosetta.api")}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports, absolute
    line: int


def _module_name(path: Path) -> str:
    for package, directory in sorted(PACKAGE_DIRS.items(), key=lambda kv: -len(str(kv[1]))):
        if path.is_relative_to(directory):
            parts = path.relative_to(directory).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            return ".".join((package, *parts))
    raise ValueError(path)


def product_files() -> list[Path]:
    return sorted(p for d in PACKAGE_DIRS.values() for p in d.rglob("*.py") if "node_modules" not in p.parts)


def imports_of(path: Path) -> list[Import]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append(Import(module, target, node.lineno))
            # `from rosetta import contract` imports the module rosetta.contract
            found += [Import(module, f"{target}.{a.name}", node.lineno) for a in node.names]
    return found


def floor(module: str) -> int:
    if module == "rosetta.core" or module.startswith("rosetta.core."):
        return 0
    if module.startswith(tuple(f"{p}." for p in PEERS)) or module in PEERS:
        return 2
    if module.startswith(tuple(f"{r}." for r in ROOF)) or module in ROOF:
        return 3
    return 1  # rosetta itself and its adapters


def _peer(module: str) -> str | None:
    return next((p for p in PEERS if module == p or module.startswith(p + ".")), None)


def _is_module(name: str) -> bool:
    """Whether a rosetta.* name is a module or package (not a name imported from one)."""
    parts = name.split(".")
    for package, directory in PACKAGE_DIRS.items():
        if name == package or name.startswith(package + "."):
            rest = name[len(package):].lstrip(".").split(".") if name != package else []
            target = directory.joinpath(*rest) if rest else directory
            if target.is_dir() or target.with_suffix(".py").is_file():
                return True
    return len(parts) == 1


ALL = [i for f in product_files() for i in imports_of(f)]
OURS = [i for i in ALL if i.target.split(".")[0] == "rosetta" and _is_module(i.target)]


def test_the_walk_sees_the_package():
    """The rules below are only as good as this walk: it must see modules of every floor and their imports."""
    modules = {i.module for i in ALL}
    assert {"rosetta.core.manifest", "rosetta.sources", "rosetta.exporters.pipeline", "rosetta.serving.server.app",
            "rosetta.cli", "rosetta.api"} <= modules
    assert Import("rosetta.exporters.pipeline", "rosetta.core.manifest", 0).target in {i.target for i in OURS}
    assert len(OURS) > 200


def test_imports_point_down():
    upward = [f"{i.module}:{i.line} imports {i.target}" for i in OURS
              if floor(i.target) > floor(i.module) and i.target != "rosetta" and (i.module, i.target) not in FACADE]
    assert not upward, upward


def test_peers_do_not_import_each_other():
    across = [f"{i.module}:{i.line} imports {i.target}" for i in OURS
              if _peer(i.module) and _peer(i.target) and _peer(i.module) != _peer(i.target)]
    assert not across, across


def test_core_imports_only_the_standard_library_numpy_and_itself():
    core = [i for i in ALL if floor(i.module) == 0]
    assert core
    foreign = [f"{i.module}:{i.line} imports {i.target}" for i in core
               if (top := i.target.split(".")[0]) not in sys.stdlib_module_names and top not in CORE_THIRD_PARTY
               and not (i.target == "rosetta" or i.target.startswith("rosetta.core")) and top != "__future__"]
    assert not foreign, foreign


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_rosetta_names_are_imported_and_nothing_that_measures_the_product(path):
    bad = [f"{path.relative_to(ROOT)}:{i.line} imports {i.target}" for i in imports_of(path)
           if i.target.split(".")[0] in NOT_OURS_ANY_MORE | OUTSIDE]
    assert not bad, bad


def test_the_guard_catches_a_bare_import(tmp_path):
    """The check above would fail on the import that broke users' own `models` packages."""
    sneaky = PACKAGE_DIRS["rosetta"] / "core" / "_probe_for_the_guard.py"
    sneaky.write_text("def f():\n    from models import lane\n    import serving.server\n")
    try:
        targets = {i.target.split(".")[0] for i in imports_of(sneaky)}
    finally:
        sneaky.unlink()
    assert {"models", "serving"} <= targets & NOT_OURS_ANY_MORE


def test_tests_and_tools_import_our_code_only_as_rosetta():
    bad = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"),
                        *(ROOT / "tools").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                    if n.split(".")[0] in NOT_OURS_ANY_MORE]
    assert not bad, bad


def test_only_the_manifest_module_names_the_manifest_file():
    named = []
    for path in product_files():
        if _module_name(path) == "rosetta.core.manifest":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == "manifest.json":
                named.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not named, f"read or write the manifest through rosetta.core.manifest: {named}"
