"""Generated message classes serialize byte-identically to rosbags (XCDR1) and decode back."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores

from cell_controller.bus.messages import dds_type_name, message_class, store_for_distro, typestore

TYPES = [
    "std_msgs/msg/String",
    "std_msgs/msg/Header",
    "std_msgs/msg/Float64MultiArray",
    "std_msgs/msg/MultiArrayLayout",
    "std_msgs/msg/MultiArrayDimension",
    "builtin_interfaces/msg/Time",
    "sensor_msgs/msg/JointState",
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/Pose",
    "geometry_msgs/msg/Point",
    "geometry_msgs/msg/Quaternion",
    "diagnostic_msgs/msg/DiagnosticStatus",
    "diagnostic_msgs/msg/KeyValue",
    "rcl_interfaces/msg/Log",
    # fixed arrays, byte/char fields, bools, every integer width:
    "sensor_msgs/msg/Imu",
    "sensor_msgs/msg/CameraInfo",
    "sensor_msgs/msg/PointCloud2",
    "std_msgs/msg/ByteMultiArray",
    "std_msgs/msg/Char",
    "std_msgs/msg/Int16MultiArray",
    "std_msgs/msg/UInt64",
    "std_msgs/msg/Empty",
]
STORES = [Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY]

LONG = "weld seam ünïcødé €" * 300
# rosbags packs ROS `byte` as signed ('b'), ROS 2 and Cyclone as unsigned octet: same bits for 0..127.
_INT_LIMITS = {"int8": (-128, 127), "uint8": (0, 255), "char": (0, 255), "byte": (0, 127),
               "int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-2**31, 2**31 - 1),
               "uint32": (0, 2**32 - 1), "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1)}
_FLOATS = [math.nan, -0.0, 1e308, -math.inf, 3.25, 1e-310]
_NUMPY = {"bool": np.bool_, "float32": np.float32, "float64": np.float64, "byte": np.uint8, "char": np.uint8,
          **{k: np.dtype(k) for k in _INT_LIMITS if k not in ("byte", "char")}}


def tricky(store: Stores, type_name: str, seed: int) -> dict[str, Any]:
    """Field values (plain python) stressing alignment, limits, NaN, unicode and empty/long sequences."""
    _, fields = typestore(store).fielddefs[type_name]
    return {name: _value(store, desc, seed + i) for i, (name, desc) in enumerate(fields)}


def _value(store: Stores, desc: Any, seed: int) -> Any:
    kind, args = desc
    if kind == Nodetype.BASE:
        prim = args[0]
        if prim == "string":
            return ["", LONG, "x", "abc"][seed % 4]
        if prim == "bool":
            return seed % 2 == 0
        if prim.startswith("float"):
            value = _FLOATS[seed % len(_FLOATS)]
            return float(np.float32(value)) if prim == "float32" else value
        low, high = _INT_LIMITS[prim]
        return [low, high, 7 % (high + 1)][seed % 3]
    if kind == Nodetype.NAME:
        return tricky(store, args, seed)
    sub, length = args
    count = length if kind == Nodetype.ARRAY else [0, 3, 1][seed % 3]
    return [_value(store, sub, seed + k) for k in range(count)]


def to_rosbags(store: Stores, type_name: str, values: dict[str, Any]) -> Any:
    """A rosbags message from plain field values (numeric arrays as numpy, as rosbags expects)."""
    ts = typestore(store)
    _, fields = ts.fielddefs[type_name]
    return ts.types[type_name](**{name: _to_rosbags(store, desc, values[name]) for name, desc in fields})


def _to_rosbags(store: Stores, desc: Any, value: Any) -> Any:
    kind, args = desc
    if kind == Nodetype.NAME:
        return to_rosbags(store, args, value)
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        sub_kind, sub_args = args[0]
        if sub_kind == Nodetype.BASE and sub_args[0] != "string":
            return np.array(value, dtype=_NUMPY[sub_args[0]])
        return [_to_rosbags(store, args[0], v) for v in value]
    return value


def to_ours(store: Stores, type_name: str, values: dict[str, Any]) -> Any:
    """Our generated message from plain field values (fixed byte arrays as bytes)."""
    _, fields = typestore(store).fielddefs[type_name]
    return message_class(type_name, store)(**{name: _to_ours(store, desc, values[name]) for name, desc in fields})


def _to_ours(store: Stores, desc: Any, value: Any) -> Any:
    kind, args = desc
    if kind == Nodetype.NAME:
        return to_ours(store, args, value)
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        sub_kind, sub_args = args[0]
        if kind == Nodetype.ARRAY and sub_kind == Nodetype.BASE and sub_args[0] in ("uint8", "byte", "char"):
            return bytes(value)
        return [_to_ours(store, args[0], v) for v in value]
    return value


@pytest.mark.parametrize("store", STORES, ids=lambda s: s.name)
@pytest.mark.parametrize("type_name", TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bytes_equal_rosbags_and_decode_back(store: Stores, type_name: str, seed: int) -> None:
    values = tricky(store, type_name, seed)
    ours = to_ours(store, type_name, values)
    theirs = bytes(typestore(store).serialize_cdr(to_rosbags(store, type_name, values), type_name))
    wire = ours.serialize()
    assert wire[:4] == b"\x00\x01\x00\x00"  # XCDR1 (CDR_LE), as ROS 2 requires
    assert wire == theirs
    cls = message_class(type_name, store)
    back = cls.deserialize(theirs)
    assert back.serialize() == theirs
    decoded = typestore(store).deserialize_cdr(wire, type_name)
    assert bytes(typestore(store).serialize_cdr(decoded, type_name)) == wire


def test_decoded_values_equal_originals() -> None:
    values = {"header": {"stamp": {"sec": 5, "nanosec": 6}, "frame_id": ""}, "name": ["a", LONG, ""],
              "position": [0.5, -1.0, 2.0], "velocity": [], "effort": [1e-9]}
    msg = to_ours(Stores.ROS2_HUMBLE, "sensor_msgs/msg/JointState", values)
    assert type(msg).deserialize(msg.serialize()) == msg
    nan = message_class("std_msgs/msg/Float64MultiArray")(data=[math.nan])
    assert math.isnan(type(nan).deserialize(nan.serialize()).data[0])


def test_defaults_and_keywords() -> None:
    joint_state = message_class("sensor_msgs/msg/JointState")
    msg = joint_state()
    assert (msg.name, msg.position, msg.header.frame_id, msg.header.stamp.sec) == ([], [], "", 0)
    assert joint_state(name=["j1"]).name == ["j1"]
    assert joint_state().name is not joint_state().name  # no shared mutable defaults
    pose = message_class("geometry_msgs/msg/PoseStamped")()
    assert (pose.pose.orientation.w, pose.pose.position.x) == (1.0, 0.0)  # ROS IDL default of Quaternion.w
    imu = message_class("sensor_msgs/msg/Imu")()
    assert imu.orientation_covariance == [0.0] * 9
    log = message_class("rcl_interfaces/msg/Log")
    assert (log.INFO, log.ERROR) == (20, 40)


def test_type_names_and_cache() -> None:
    cls = message_class("sensor_msgs/msg/JointState")
    assert cls.__idl_typename__ == "sensor_msgs::msg::dds_::JointState_"
    assert cls.__annotations__["header"].__idl_typename__ == "std_msgs::msg::dds_::Header_"
    assert message_class("sensor_msgs/msg/JointState") is cls
    assert dds_type_name("a/msg/B") == "a::msg::dds_::B_"


def test_errors_name_the_offender() -> None:
    with pytest.raises(KeyError, match="no_pkg/msg/Nope"):
        message_class("no_pkg/msg/Nope")
    with pytest.raises(ValueError, match="'JointState'"):
        dds_type_name("JointState")
    with pytest.raises(ValueError, match="'kinetic'"):
        store_for_distro("kinetic")
    assert store_for_distro("jazzy") is Stores.ROS2_JAZZY
