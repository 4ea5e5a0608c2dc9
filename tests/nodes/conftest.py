"""One DDS bus node for the node tests."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cell_controller.bus.api import Node


@pytest.fixture(scope="module")
def bus_node() -> Iterator[Node]:
    """A DDS node on a domain private to this test session. The process has one DomainParticipant,
    fixed at first use: the domain is the one tests/bus/conftest.py picks, so either may go first."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CELL_BUS", "dds")
        env.setenv("ROS_DOMAIN_ID", str(1 + os.getpid() % 200))
        from cell_controller.bus import create_node

        node = create_node("node_test", ["--ros-args", "-r", "__ns:=/t"])
        try:
            yield node
        finally:
            node.shutdown()
