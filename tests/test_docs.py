"""docs/interfaces.md is what docs/generate_interfaces.py makes from the code now."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


REPO = Path(__file__).resolve().parents[1]
INTERFACES = REPO / "docs/interfaces.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_interfaces", REPO / "docs/generate_interfaces.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_interfaces_doc_is_up_to_date() -> None:
    expected = generator().render()
    assert INTERFACES.read_text() == expected, (
        "docs/interfaces.md is stale: an interface changed; run `python docs/generate_interfaces.py` and commit it")


def test_interfaces_doc_covers_every_topic_and_device() -> None:
    from cell_controller.nodes.topics import ALL_TOPICS
    from cell_controller.opcua.address_space import spec_for

    text = INTERFACES.read_text()
    for topic in ALL_TOPICS:
        assert f"/{topic.name}`" in text, topic.name
    for kind in ("robot", "welder", "press", "feeder"):
        spec = spec_for(kind)
        for path in [v.path for v in spec.variables] + [m.path for m in spec.methods]:
            assert f"`{path}`" in text, path


def test_readme_links_to_the_interfaces() -> None:
    assert "docs/interfaces.md" in (REPO / "README.md").read_text(), "README.md should link to docs/interfaces.md"


def test_readme_names_every_topic_and_command() -> None:
    from cell_controller.launch_plan import NODES
    from cell_controller.nodes.topics import ALL_TOPICS

    readme = (REPO / "README.md").read_text()
    for topic in ALL_TOPICS:
        assert f"`{topic.name}`" in readme or f"`{topic.name}`," in readme, topic.name
    for script in NODES.values():
        assert f"`{script}`" in readme, script
    for command in ("cellctl shift", "cellctl check", "cellctl summary", "cellctl record", "cell-twin"):
        assert command in readme, command
