"""The message bus: `create_node` picks the adapter, nodes code against `api.Node`.

Adapter choice: env `CELL_BUS` = `dds` (Cyclone DDS, ROS 2 wire conventions) or
`ros` (rclpy); without it, `ros` where rclpy is importable, else `dds`. Only the
chosen adapter (and its DDS or ROS library) is imported.
"""
from __future__ import annotations

import importlib
import importlib.util
import os

from cell_controller.bus.api import (
    DEFAULT,
    LATCHED,
    PROFILES,
    SENSOR_DATA,
    Durability,
    Node,
    ParameterError,
    Publisher,
    QoS,
    Reliability,
    Subscription,
    Timer,
)

__all__ = [
    "DEFAULT", "LATCHED", "PROFILES", "SENSOR_DATA", "Durability", "Node", "ParameterError",
    "Publisher", "QoS", "Reliability", "Subscription", "Timer", "adapter_name", "create_node",
]

_ADAPTERS = {"dds": ("cell_controller.bus.dds", "DdsNode"), "ros": ("cell_controller.bus.ros", "RosNode")}


def adapter_name() -> str:
    """'dds' or 'ros': env CELL_BUS, else 'ros' if rclpy is installed, else 'dds'."""
    chosen = os.environ.get("CELL_BUS", "").strip().lower()
    if not chosen:
        return "ros" if importlib.util.find_spec("rclpy") is not None else "dds"
    if chosen not in _ADAPTERS:
        raise ValueError(f"CELL_BUS={chosen!r} is not one of {sorted(_ADAPTERS)}")
    return chosen


def create_node(name: str, argv: list[str] | None = None) -> Node:
    """A node named `name` (renamed by `-r __node:=`); `argv` defaults to sys.argv's --ros-args."""
    module, cls = _ADAPTERS[adapter_name()]
    return getattr(importlib.import_module(module), cls)(name, argv)
