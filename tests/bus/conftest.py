"""Bus tests: DDS adapter, on a domain id private to this test session (1..200, from the pid)."""
from __future__ import annotations

import os

import pytest

os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 200)
os.environ["CELL_BUS"] = "dds"


@pytest.fixture()
def node_factory():
    """Create DDS nodes that are shut down after the test."""
    from cell_controller.bus.dds import DdsNode

    nodes = []

    def make(name: str, argv: list[str] | None = None) -> DdsNode:
        nodes.append(DdsNode(name, argv or []))
        return nodes[-1]

    yield make
    for node in nodes:
        node.shutdown()
