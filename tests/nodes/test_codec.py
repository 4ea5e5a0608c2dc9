"""Codec: DiagnosticStatus and Float64MultiArray <-> the core's types, with a DDS bus node's message classes."""
from __future__ import annotations

import math

import pytest

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.nodes import topics
from cell_controller.nodes.codec import ERROR, OK, STALE, Codec


@pytest.fixture(scope="module")
def codec(bus_node) -> Codec:
    return Codec(bus_node)


def level_of(msg) -> int:
    return msg.level[0] if isinstance(msg.level, (bytes, bytearray)) else int(msg.level)


@pytest.mark.parametrize("state", list(DeviceState))
def test_device_status_round_trip(codec: Codec, state: DeviceState) -> None:
    status = DeviceStatus("robot", state, "p12", "running", {"execution": "running", "progress": "0.250"})
    msg = codec.device_status(status, "opc.tcp://127.0.0.1:48410")
    assert (msg.name, msg.message, msg.hardware_id) == ("robot", "running", "opc.tcp://127.0.0.1:48410")
    back = codec.read_device_status(msg)
    assert (back.device, back.state, back.part_id, back.detail) == ("robot", state, "p12", "running")
    assert back.values == {"state": state.value, "part_id": "p12", "execution": "running", "progress": "0.250"}


def test_device_status_without_detail_names_the_state(codec: Codec) -> None:
    msg = codec.device_status(DeviceStatus("feeder", DeviceState.IDLE), "")
    assert msg.message == "idle"
    assert codec.read_device_status(msg).part_id == ""


@pytest.mark.parametrize("state, level", [
    (DeviceState.IDLE, OK), (DeviceState.BUSY, OK), (DeviceState.DONE, OK),
    (DeviceState.FAULT, ERROR), (DeviceState.OFFLINE, STALE),
])
def test_device_status_level(codec: Codec, state: DeviceState, level: int) -> None:
    assert (ERROR, STALE) == (2, 3)
    assert level_of(codec.device_status(DeviceStatus("machine", state), "hw")) == level


def test_unknown_or_missing_state_reads_offline(codec: Codec) -> None:
    msg = codec.status("welder", "?", OK, {"state": "melting", "part_id": "p1"})
    assert codec.read_device_status(msg).state is DeviceState.OFFLINE
    msg = codec.status("welder", "?", OK, {})
    read = codec.read_device_status(msg)
    assert read.state is DeviceState.OFFLINE and read.part_id == ""


def test_values_are_strings(codec: Codec) -> None:
    msg = codec.status("x", "m", OK, {"count": 3, "ratio": 0.5})  # type: ignore[dict-item]
    assert Codec.values(msg) == {"count": "3", "ratio": "0.5"}


def test_array_refuses_a_wrong_field_count(codec: Codec) -> None:
    topic = topics.SEAM_TRACKER
    with pytest.raises(ValueError, match=topic.name):
        codec.array(topic, [1.0] * (len(topic.fields) - 1))
    with pytest.raises(ValueError, match=str(len(topic.fields))):
        codec.array(topic, [1.0] * (len(topic.fields) + 1))


def test_array_round_trip_by_field_name(codec: Codec) -> None:
    topic = topics.WELD_SETPOINTS
    data = [24.5, 8, 10.0, -1.5, 1767268800.125]
    msg = codec.array(topic, data)
    assert list(msg.layout.dim[0].label.split(",")) == list(topic.fields)
    assert msg.layout.dim[0].size == len(topic.fields)
    assert Codec.read_array(topic, msg) == dict(zip(topic.fields, [float(x) for x in data]))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_read_array_refuses_a_non_finite_value(codec: Codec, bad: float) -> None:
    topic = topics.INFEED
    assert Codec.read_array(topic, codec.array(topic, [250.0, bad])) is None


def test_read_array_refuses_a_wrong_length(codec: Codec) -> None:
    long = codec.array(topics.SEAM_TRACKER, [0.0] * len(topics.SEAM_TRACKER.fields))
    assert Codec.read_array(topics.INFEED, long) is None  # 5 values where 2 are expected
    short = codec.array(topics.INFEED, [1.0, 0.0])
    assert Codec.read_array(topics.SEAM_TRACKER, short) is None


def test_string(codec: Codec) -> None:
    assert codec.string("start").data == "start"
