"""What every device bridge shares: the latest values of a device, and the mapping contract.

A bridge maps one OPC UA address space (an `opcua.address_space.DeviceSpec`) to the
core's plain types. This module and the per-device mappings import no asyncua and no
bus: `nodes/bridge.py` wires them to both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.opcua.address_space import DeviceSpec, EnumSpec


@dataclass
class Snapshot:
    """The latest value of every subscribed variable, as the device reported it."""

    spec: DeviceSpec
    values: dict[str, Any] = field(default_factory=dict)
    bad: set[str] = field(default_factory=set)
    stamp_s: float = 0.0  # newest SourceTimestamp seen, Unix s (cell time for the twin)

    def update(self, path: str, value: Any, source_timestamp: datetime | None, good: bool) -> None:
        """Take one data change; a bad, non-finite or ill-typed value marks the path bad."""
        if good and isinstance(value, float) and not math.isfinite(value):
            good = False
        data_type = self.spec.variable(path).data_type
        if good and isinstance(data_type, EnumSpec):
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(data_type.values):
                value = data_type.values[value]
            else:  # not a member: the mappings cannot interpret the device's state
                good = False
        if not good:
            self.bad.add(path)
            self.values.pop(path, None)
            return
        self.bad.discard(path)
        self.values[path] = value
        if source_timestamp is not None:
            self.stamp_s = max(self.stamp_s, source_timestamp.timestamp())

    @property
    def complete(self) -> bool:
        """Every variable of the spec has a good value."""
        return not self.bad and all(v.path in self.values for v in self.spec.variables)

    def get(self, path: str, default: Any = None) -> Any:
        return self.values.get(path, default)


class DeviceMapping:
    """One device kind's mapping; subclasses fill in the class attributes and `status`.

    commands: bus command verb -> (method path); the command's arguments are passed in order.
    """

    role: str = ""
    commands: Mapping[str, str] = {}

    def __init__(self, spec: DeviceSpec):
        self.spec = spec

    def status(self, snapshot: Snapshot) -> DeviceStatus:
        """The device's coarse state and the values the supervisor's sequence reads."""
        raise NotImplementedError

    def offline(self, reason: str) -> DeviceStatus:
        return DeviceStatus(self.role, DeviceState.OFFLINE, detail=reason)

    def guard(self, snapshot: Snapshot) -> DeviceStatus | None:
        """OFFLINE while any value is missing or bad: never act on a partial or stale picture."""
        if not snapshot.complete:
            missing = sorted(snapshot.bad) or [v.path for v in self.spec.variables if v.path not in snapshot.values]
            return self.offline(f"no good value for {missing[0]}" + (f" (+{len(missing) - 1})" if len(missing) > 1 else ""))
        return None
