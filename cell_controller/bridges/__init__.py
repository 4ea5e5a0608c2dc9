"""One mapping per device role: its address space to the core's plain types (no asyncua, no bus)."""
from __future__ import annotations

from .base import DeviceMapping
from .feeder import FeederMapping
from .machine import MachineMapping
from .robot import RobotMapping
from .welder import WelderMapping

#: role -> its mapping class
MAPPINGS: dict[str, type[DeviceMapping]] = {
    "robot": RobotMapping, "welder": WelderMapping, "machine": MachineMapping, "feeder": FeederMapping,
}
