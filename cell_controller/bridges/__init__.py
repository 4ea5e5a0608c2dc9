"""One mapping per device role: its address space to the core's plain types (no asyncua, no bus)."""
from __future__ import annotations

from dataclasses import dataclass

from .base import DeviceMapping
from .feeder import FeederMapping
from .machine import MachineMapping
from .robot import RobotMapping
from .welder import WelderMapping

#: role -> its mapping class
MAPPINGS: dict[str, type[DeviceMapping]] = {
    "robot": RobotMapping, "welder": WelderMapping, "machine": MachineMapping, "feeder": FeederMapping,
}


@dataclass(frozen=True)
class Setpoint:
    """A value the cell writes to a device: the role that takes it, the cell description's limit for it
    (`devices.<name>.limits.<limit>`), and the variable it is written to."""

    role: str
    limit: str
    path: str


#: bus field or procedure value (canonical units in the name) -> where it goes
SETPOINTS: dict[str, Setpoint] = {
    "voltage_V": Setpoint("welder", "voltage", WelderMapping.voltage),
    "wire_feed_m_min": Setpoint("welder", "wire_feed", WelderMapping.wire_feed),
    "gas_flow_L_min": Setpoint("welder", "gas_flow", WelderMapping.gas_flow),
    "travel_speed_mm_s": Setpoint("robot", "travel_speed", RobotMapping.travel_speed),
    "torch_offset_mm": Setpoint("robot", "torch_offset", RobotMapping.torch_offset),
    "conveyor_speed_mm_s": Setpoint("feeder", "conveyor_speed", FeederMapping.conveyor_speed),
}
