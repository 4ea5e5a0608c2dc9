"""Conversions between ROS 2 standard messages and the core's plain types.

Works with either bus adapter: message classes come from `node.message(...)`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from cell_controller.bus.api import Node
from cell_controller.core.types import DeviceState, DeviceStatus

from .topics import Topic

#: diagnostic_msgs/DiagnosticStatus levels
OK, WARN, ERROR, STALE = 0, 1, 2, 3
_LEVELS = {DeviceState.FAULT: ERROR, DeviceState.OFFLINE: STALE, DeviceState.STALE: STALE}


class Codec:
    """Builds and reads the graph's messages for one node."""

    def __init__(self, node: Node):
        self._status = node.message("diagnostic_msgs/msg/DiagnosticStatus")
        self._key_value = node.message("diagnostic_msgs/msg/KeyValue")
        self._array = node.message("std_msgs/msg/Float64MultiArray")
        self._layout = node.message("std_msgs/msg/MultiArrayLayout")
        self._dimension = node.message("std_msgs/msg/MultiArrayDimension")
        self._string = node.message("std_msgs/msg/String")

    def status(self, name: str, message: str, level: int, values: dict[str, str], hardware_id: str = "") -> Any:
        return self._status(
            level=bytes([level]) if isinstance(self._status().level, bytes) else level,
            name=name, message=message, hardware_id=hardware_id,
            values=[self._key_value(key=k, value=str(v)) for k, v in values.items()],
        )

    def device_status(self, status: DeviceStatus, hardware_id: str) -> Any:
        values = {"state": status.state.value, "part_id": status.part_id, **status.values}
        return self.status(status.device, status.detail or status.state.value,
                           _LEVELS.get(status.state, OK), values, hardware_id)

    @staticmethod
    def values(msg: Any) -> dict[str, str]:
        return {kv.key: kv.value for kv in msg.values}

    def read_device_status(self, msg: Any) -> DeviceStatus:
        values = self.values(msg)
        try:
            state = DeviceState(values.get("state", "offline"))
        except ValueError:
            state = DeviceState.OFFLINE
        return DeviceStatus(msg.name, state, values.get("part_id", ""), msg.message, values)

    def array(self, topic: Topic, data: Sequence[float]) -> Any:
        if len(data) != len(topic.fields):
            raise ValueError(f"{topic.name} carries {len(topic.fields)} fields, got {len(data)}")
        dim = self._dimension(label=",".join(topic.fields), size=len(data), stride=len(data))
        return self._array(layout=self._layout(dim=[dim], data_offset=0), data=[float(x) for x in data])

    @staticmethod
    def read_array(topic: Topic, msg: Any, finite: bool = True) -> dict[str, float] | None:
        """The array's fields by name, or None if it is malformed or (with `finite`) carries a non-finite
        value; without `finite`, non-finite values are kept for the reader to judge."""
        data = list(msg.data)
        if len(data) != len(topic.fields) or (finite and not all(math.isfinite(x) for x in data)):
            return None
        return dict(zip(topic.fields, data))

    def string(self, text: str) -> Any:
        return self._string(data=text)
