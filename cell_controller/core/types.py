"""Plain value types shared by every layer of the cell.

Units are in the field names. Frames: the cell frame is the robot base frame,
x forward, y left, z up, in millimetres; angles in radians unless named `_deg`.
Nothing here imports rclpy, asyncua or pybullet.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class DeviceKind(str, enum.Enum):
    """The kinds of device a cell description may name."""

    ROBOT = "robot"
    WELDER = "welder"
    PRESS = "press"
    CNC = "cnc"
    FEEDER = "feeder"

    @property
    def role(self) -> str:
        """The device's role in the cell: robot, welder, machine or feeder."""
        return "machine" if self in (DeviceKind.PRESS, DeviceKind.CNC) else self.value


class Backend(str, enum.Enum):
    """What drives a device's place in the cell: the digital twin, the device on the shop floor, or the
    real device with the twin running alongside on the same commands (shadow: the reality gap measured)."""

    TWIN = "twin"
    REAL = "real"
    SHADOW = "shadow"

    @property
    def uses_real(self) -> bool:
        """True when the device on the shop floor drives the cell (real and shadow)."""
        return self is not Backend.TWIN


#: the `safety` value of a device status whose safety chain is closed (else: emergency_stop, protective_stop,
#: door_open)
SAFETY_OK = "ok"


class DeviceState(str, enum.Enum):
    """Coarse device state reported by every bridge (maps each address space's own enumeration).

    OFFLINE: no link or no values yet; STALE: linked, but the data is too old or bad to act on."""

    OFFLINE = "offline"
    STALE = "stale"
    IDLE = "idle"
    BUSY = "busy"
    DONE = "done"
    FAULT = "fault"


@dataclass(frozen=True)
class WeldParameters:
    """Weld setpoints for a constant-voltage GMAW power source and the robot's travel.

    current_A is the expected mean current (a CV source sets it through the wire feed).
    torch_offset_mm is a lateral correction of the torch, positive to the left of travel.
    """

    current_A: float
    voltage_V: float
    wire_feed_m_min: float
    travel_speed_mm_s: float
    torch_offset_mm: float = 0.0


@dataclass(frozen=True)
class WeldObservation:
    """What the welding policy sees once per control tick, from the sensors.

    gap_mm and seam_offset_mm come from the laser-line seam tracker ahead of the torch
    (offset of the seam from the programmed path, positive left); pool_width_mm from
    the weld-pool camera; actual_* from the power source; progress is 0..1 along the seam.
    """

    gap_mm: float
    seam_offset_mm: float
    pool_width_mm: float
    actual_current_A: float
    actual_voltage_V: float
    actual_wire_feed_m_min: float
    travel_speed_mm_s: float
    progress: float


@dataclass(frozen=True)
class WeldResult:
    """The measured outcome of one weld, as the power source and inspection report it."""

    part_id: str
    arc_energy_kJ: float
    weld_time_s: float
    mean_current_A: float
    mean_voltage_V: float
    mean_wire_feed_m_min: float
    mean_travel_speed_mm_s: float
    bead_width_mm: float
    penetration_mm: float
    imperfections: tuple[str, ...] = ()
    iso5817_level: str = "B"

    @property
    def good(self) -> bool:
        """A weld is good when it meets at least ISO 5817 level C."""
        return self.iso5817_level in ("B", "C")


@dataclass(frozen=True)
class FeedObservation:
    """What the feeding policy sees: buffer and station states (counts, s, mm/s)."""

    buffer_count: int
    buffer_capacity: int
    part_at_fixture: bool
    robot_busy: bool
    machine_busy: bool
    conveyor_speed_mm_s: float
    time_since_last_feed_s: float


@dataclass(frozen=True)
class FeedAction:
    """The feeding policy's output: conveyor speed and whether to release a blank now."""

    conveyor_speed_mm_s: float
    release_blank: bool


@dataclass(frozen=True)
class DeviceStatus:
    """One device's coarse status as its bridge publishes it."""

    device: str
    state: DeviceState
    part_id: str = ""
    detail: str = ""
    values: dict[str, str] = field(default_factory=dict)
