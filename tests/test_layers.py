"""Imports point one way, as README.md's layer table says: core ← sim ← policies (sim: core and opcua).

Every module is parsed with `ast` (nothing is imported), so a lazy import inside a function counts too.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: source folder -> the package it installs as
PACKAGES = {"cell_controller/core": "cell_controller.core", "sim": "cell_controller.sim"}
#: what core may import besides the standard library and itself (README.md's row: pycountry lazily)
CORE_THIRD_PARTY = {"numpy", "yaml", "pycountry"}
#: the layers sim may import besides itself (README.md's row for the twin)
SIM_MAY_IMPORT = ("cell_controller.core", "cell_controller.opcua")
#: module -> what else it may import, as README.md's row for the twin says: `cell-twin` runs the cell's
#: check of the description (lazily, in main) before any server listens
SIM_ALSO = {"cell_controller.sim.devices.twin_server": {"cell_controller.preflight",
                                                        "cell_controller.preflight.check_description"}}


def modules(folder: str) -> dict[str, set[str]]:
    """Module name -> the absolute names of the modules it imports (relative imports resolved)."""
    package = PACKAGES[folder]
    out: dict[str, set[str]] = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        parts = [*package.split("."), *path.relative_to(REPO / folder).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        here = parts if is_package else parts[:-1]  # the package relative imports start from
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1])
                    module = f"{base}.{node.module}" if node.module else base
                else:
                    module = node.module or ""
                imported.add(module)
                # `from cell_controller import policies` imports a layer as well
                imported.update(f"{module}.{alias.name}" for alias in node.names)
        out[".".join(parts)] = imported
    return out


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_parser_sees_relative_and_lazy_imports() -> None:
    sim = modules("sim")
    assert "cell_controller.sim.physics.weld" in sim["cell_controller.sim.physics"]  # `from .weld import ...`
    assert "cell_controller.sim.reality_gap" in sim["cell_controller.sim.physics.weld"]  # `from ..reality_gap`
    assert "cell_controller.core.baselines" in sim["cell_controller.sim.envs.weld_spaces"]
    assert "cell_controller.preflight" in sim["cell_controller.sim.devices.twin_server"]  # inside main()
    assert len(modules("cell_controller/core")) > 10


def test_core_imports_nothing_of_the_layers_above() -> None:
    bad = {name: sorted(m for m in imported if within(m, "cell_controller") and not within(m, "cell_controller.core"))
           for name, imported in modules("cell_controller/core").items()}
    assert {name: found for name, found in bad.items() if found} == {}


def test_core_imports_only_the_standard_library_numpy_yaml_and_pycountry() -> None:
    third_party = {name: sorted(m for m in imported if m.split(".")[0] not in sys.stdlib_module_names
                                and m.split(".")[0] not in CORE_THIRD_PARTY and not within(m, "cell_controller"))
                   for name, imported in modules("cell_controller/core").items()}
    assert {name: found for name, found in third_party.items() if found} == {}


def test_sim_does_not_import_the_policies() -> None:
    importing = {name: sorted(m for m in imported if within(m, "cell_controller.policies"))
                 for name, imported in modules("sim").items()}
    assert {name: found for name, found in importing.items() if found} == {}, \
        "sim modules must not import cell_controller.policies"


def test_sim_imports_only_core_opcua_and_itself() -> None:
    """Nothing of the nodes, bridges, bus, operator page or the cell's tools: only what the README's row says."""
    bad = {name: sorted(m for m in imported if within(m, "cell_controller") and not within(m, "cell_controller.sim")
                        and not any(within(m, layer) for layer in SIM_MAY_IMPORT) and m not in SIM_ALSO.get(name, ()))
           for name, imported in modules("sim").items()}
    assert {name: found for name, found in bad.items() if found} == {}
    for layer in ("cell_controller.nodes", "cell_controller.bridges", "cell_controller.hmi"):
        assert not any(within(m, layer) for also in SIM_ALSO.values() for m in also)
    assert set(SIM_ALSO) <= set(modules("sim")), "an exception for a module that is gone: drop it"
