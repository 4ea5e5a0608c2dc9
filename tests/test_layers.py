"""Imports point one way, as README.md's layer table says: core ← sim ← policies.

Every module is parsed with `ast` (nothing is imported), so a lazy import inside a function counts too.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: source folder -> the package it installs as
PACKAGES = {"cell_controller/core": "cell_controller.core", "sim": "cell_controller.sim"}
#: sim modules that import the policies today, and why (issue 15): each is a finding to fix, not a
#: licence; a new one fails, and so does an entry that no longer imports them (drop it then)
SIM_IMPORTS_POLICIES_KNOWN = {
    # the whole-cell simulation runs the nodes, and the nodes run the policies the registry builds
    "cell_controller.sim.cell_sim",
    # FeedLoop (policies/feed_loop.py) uses only core types: the flow model's runs share the node's rule
    "cell_controller.sim.physics.flow",
    # the env drives the deployed LearnedFeedPolicy's observer and FeedLoop (policies/feed_learned.py)
    "cell_controller.sim.envs.feed_env",
}


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
    assert len(modules("cell_controller/core")) > 10


def test_core_imports_nothing_of_the_layers_above() -> None:
    bad = {name: sorted(m for m in imported if within(m, "cell_controller") and not within(m, "cell_controller.core"))
           for name, imported in modules("cell_controller/core").items()}
    assert {name: found for name, found in bad.items() if found} == {}


def test_sim_does_not_import_the_policies() -> None:
    importing = {name for name, imported in modules("sim").items()
                 if any(within(m, "cell_controller.policies") for m in imported)}
    assert importing - SIM_IMPORTS_POLICIES_KNOWN == set(), "sim modules must not import cell_controller.policies"
    assert SIM_IMPORTS_POLICIES_KNOWN - importing == set(), "no longer imports the policies: drop from the known list"
