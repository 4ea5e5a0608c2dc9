"""What every device bridge shares: the latest good values of a device, and the mapping contract.

A bridge maps one OPC UA address space (an `opcua.address_space.DeviceSpec`) to the core's plain
types. This module and the per-device mappings import no asyncua and no bus: `nodes/bridge.py`
wires them to both.

Every sample is checked against the spec before anything uses it (`Snapshot.update`): a value of
the wrong type, non-finite, outside its EURange, an unknown enumeration member, an oversized
string or a Bad status is rejected and counted; the last good value stays, and the path is marked
bad until a good one comes. One bad sample never takes a device offline; a path bad for longer
than the stale bound, or a device whose life-sign (`Watchdog/DeviceHeartbeat`) stops, makes the
device STALE; a lost link makes it OFFLINE. Sensor topics are not published while a value they
carry is bad, and status is never built from stale data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.opcua.address_space import (
    DEVICE_HEARTBEAT, WATCHDOG, WATCHDOG_TRIPPED, DeviceSpec, EnumSpec, VariableSpec,
)

#: strings longer than this from a device are rejected (no device field needs more)
MAX_STRING_CHARS = 1024
_INT_LIMITS = {"Int32": (-(2**31), 2**31 - 1), "UInt32": (0, 2**32 - 1)}


def check_sample(var: VariableSpec, value: Any) -> tuple[bool, Any]:
    """(True, plain value) for a value that fits `var` (enumerations become member names),
    else (False, the reason)."""
    data_type = var.data_type
    if isinstance(data_type, EnumSpec):
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(data_type.values):
            return True, data_type.values[value]
        return False, f"{value!r} is not a member of {data_type.name}"
    if data_type == "Double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, f"expected a number, got {type(value).__name__}"
        number = float(value)
        if not math.isfinite(number):
            return False, f"non-finite {number}"
        if var.range is not None and not var.range.contains(number):
            return False, f"{number} outside [{var.range.low}, {var.range.high}]"
        return True, number
    if data_type in _INT_LIMITS:
        low, high = _INT_LIMITS[data_type]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return False, f"expected {data_type}, got {value!r}"
        return True, value
    if data_type == "Boolean":
        return (True, value) if isinstance(value, bool) else (False, f"expected Boolean, got {type(value).__name__}")
    if not isinstance(value, str):
        return False, f"expected String, got {type(value).__name__}"
    if len(value) > MAX_STRING_CHARS:
        return False, f"a string of {len(value)} characters"
    return True, value


@dataclass
class Snapshot:
    """The latest good value of every subscribed variable, and what was rejected.

    Times: `stamp_s` the newest SourceTimestamp (Unix s; cell time for the twin); `fresh_at_s`
    and `bad_since_s` on the bridge's monotonic clock, s.
    """

    spec: DeviceSpec
    values: dict[str, Any] = field(default_factory=dict)
    bad_since_s: dict[str, float] = field(default_factory=dict)
    rejected: int = 0
    last_rejection: str = ""
    stamp_s: float = 0.0
    fresh_at_s: float | None = None
    #: how many life-signs (DeviceHeartbeat values) came: the first is the value it had, the second a change
    life_signs: int = 0

    def __post_init__(self) -> None:
        self._vars = {v.path: v for v in self.spec.variables}

    def update(self, path: str, value: Any, source_timestamp: datetime | None, good: bool, now_s: float) -> bool:
        """Take one data change; False (and counted) when it is rejected."""
        var = self._vars[path]
        ok, checked = check_sample(var, value) if good else (False, "Bad status")
        if not ok:
            self.rejected += 1
            self.last_rejection = f"{path}: {checked}"
            self.bad_since_s.setdefault(path, now_s)
            return False
        self.bad_since_s.pop(path, None)
        if path == DEVICE_HEARTBEAT and checked != self.values.get(path):
            self.fresh_at_s = now_s
            self.life_signs += 1
        self.values[path] = checked
        if source_timestamp is not None:
            self.stamp_s = max(self.stamp_s, source_timestamp.timestamp())
        return True

    def clear(self) -> None:
        """The link is gone: nothing known any more (nothing stale is kept for later)."""
        self.values.clear()
        self.bad_since_s.clear()
        self.fresh_at_s = None
        self.life_signs = 0

    def good(self, *paths: str) -> bool:
        """Every path has a value and its latest sample was not rejected."""
        return all(p in self.values and p not in self.bad_since_s for p in paths)

    def problem(self, now_s: float, stale_after_s: float) -> str | None:
        """Why the device's data cannot be used now: missing, bad or stale (None: it can)."""
        missing = [v.path for v in self.spec.variables if v.path not in self.values]
        if missing:
            return f"no value yet for {missing[0]}" + (f" (+{len(missing) - 1})" if len(missing) > 1 else "")
        if self.fresh_at_s is None or now_s - self.fresh_at_s > stale_after_s:
            age = "never" if self.fresh_at_s is None else f"{now_s - self.fresh_at_s:.2f} s ago"
            return f"stale: the device's life-sign last changed {age} (bound {stale_after_s:.2f} s)"
        for path, since in self.bad_since_s.items():
            if now_s - since > stale_after_s:
                return f"stale: {path} bad for {now_s - since:.2f} s ({self.last_rejection})"
        return None

    def get(self, path: str, default: Any = None) -> Any:
        return self.values.get(path, default)


def process_signals(spec: DeviceSpec) -> tuple[VariableSpec, ...]:
    """The values shadow compares twin with real: every analog value the device measures or reports
    (not its setpoints, not its watchdog), in the spec's units."""
    return tuple(v for v in spec.variables if v.is_analog and not v.writable and not v.path.startswith(WATCHDOG))


class DeviceMapping:
    """One device kind's mapping; subclasses fill in the class attributes and `device_status`.

    commands: bus command verb -> method path; the command's arguments are passed in order.
    swap_agree: status values the old and the new backend must report alike before a swap switches
    (what the supervisor's part sequence knows of the device: a part in the fixture, clamped, ...).
    """

    role: str = ""
    commands: Mapping[str, str] = {}
    swap_agree: tuple[str, ...] = ()

    def __init__(self, spec: DeviceSpec):
        self.spec = spec

    def status(self, snapshot: Snapshot, now_s: float, stale_after_s: float) -> DeviceStatus:
        """The device's status from good data only: STALE (with the reason) when it has none."""
        problem = snapshot.problem(now_s, stale_after_s)
        if problem is not None:
            state = DeviceState.OFFLINE if problem.startswith("no value") else DeviceState.STALE
            return DeviceStatus(self.role, state, detail=problem)
        status = self.device_status(snapshot)
        status.values["watchdog"] = "tripped" if snapshot.get(WATCHDOG_TRIPPED) else "ok"
        return status

    def device_status(self, snapshot: Snapshot) -> DeviceStatus:
        """The device's coarse state and the values the supervisor's sequence reads (complete snapshot)."""
        raise NotImplementedError

    def offline(self, reason: str) -> DeviceStatus:
        return DeviceStatus(self.role, DeviceState.OFFLINE, detail=reason)
