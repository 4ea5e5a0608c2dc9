"""Property tests: every message type the graph puts on the wire, with random contents, is
byte-identical to rosbags' `serialize_cdr` (Humble and Jazzy) and decodes back to equal values.

Types: those of `nodes.topics.ALL_TOPICS`, rcl_interfaces/msg/Log (/rosout) and
rmw_dds_common/msg/ParticipantEntitiesInfo (ros_discovery_info), with every nested type.
Contents: empty and long strings (unicode), NaN/inf/-0.0/subnormal floats, integer limits,
empty and long sequences. NaN compares equal to NaN here.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores

from cell_controller.bus import ros_discovery
from cell_controller.bus.messages import message_class, typestore
from cell_controller.nodes.topics import ALL_TOPICS

from test_messages import to_ours, to_rosbags  # noqa: E402 - shared value converters

STORES = [Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY]
ROOTS = sorted({t.type for t in ALL_TOPICS} | {"rcl_interfaces/msg/Log", ros_discovery.TYPE})
#: Long sequences and strings repeat a short random pattern up to this many elements.
LONG = 2000
# ROS `byte` is an unsigned octet; rosbags packs a scalar byte as signed, so scalars stay in 0..127.
_INTS = {"int8": (-2**7, 2**7 - 1), "uint8": (0, 2**8 - 1), "char": (0, 2**8 - 1), "byte": (0, 2**7 - 1),
         "int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-2**31, 2**31 - 1),
         "uint32": (0, 2**32 - 1), "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1)}
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


def closure(store: Stores, roots: list[str]) -> list[str]:
    """`roots` and every message type nested in them."""
    seen: list[str] = []

    def visit(name: str) -> None:
        if name not in seen:
            seen.append(name)
            for _, desc in typestore(store).fielddefs[name][1]:
                while desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
                    desc = desc[1][0]
                if desc[0] == Nodetype.NAME:
                    visit(desc[1])

    for root in roots:
        visit(root)
    return seen


TYPES = closure(Stores.ROS2_HUMBLE, ROOTS)


def _long(pattern: st.SearchStrategy) -> st.SearchStrategy:
    """Short, empty or long (a random pattern repeated up to LONG) lists of `pattern`'s elements."""
    repeated = st.tuples(st.lists(pattern, min_size=1, max_size=3), st.integers(100, LONG)).map(
        lambda t: (t[0] * t[1])[:t[1]])
    return st.one_of(st.just([]), st.lists(pattern, max_size=4), repeated)


def _scalar(prim: str, bound: int) -> st.SearchStrategy:
    if prim == "string":
        if bound:  # bounded strings (node names in ros_discovery_info): ASCII up to the bound
            return st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=bound)
        return st.one_of(_TEXT, st.tuples(_TEXT.filter(bool), st.integers(1, LONG)).map(lambda t: t[0] * t[1]))
    if prim == "bool":
        return st.booleans()
    if prim in ("float32", "float64"):
        special = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324 if prim == "float64" else 1e-45])
        return st.one_of(special, st.floats(width=32 if prim == "float32" else 64, allow_nan=False))
    low, high = _INTS[prim]
    return st.one_of(st.sampled_from([low, high, 0]), st.integers(low, high))


def values(store: Stores, type_name: str) -> st.SearchStrategy:
    """Plain-python field values (dicts, lists, scalars) for a message of `type_name`."""
    fields = typestore(store).fielddefs[type_name][1]
    return st.fixed_dictionaries({name: _field(store, desc) for name, desc in fields})


def _field(store: Stores, desc: Any) -> st.SearchStrategy:
    kind, args = desc
    if kind == Nodetype.BASE:
        return _scalar(*args)
    if kind == Nodetype.NAME:
        return st.deferred(lambda: values(store, args))
    sub, length = args
    element = _field(store, sub)
    if kind == Nodetype.ARRAY:
        return st.lists(element, min_size=length, max_size=length)
    if sub[0] == Nodetype.NAME:  # nested messages: short sequences keep examples fast
        return st.lists(element, max_size=3 if length == 0 else min(3, length))
    return _long(element) if length == 0 else st.lists(element, max_size=length)


def plain(value: Any) -> Any:
    """rosbags or our message values as plain python (numpy arrays and bytes as lists)."""
    if hasattr(value, "__msgtype__"):  # a message of either kind: its fields, not its constants
        fields = typestore(Stores.ROS2_HUMBLE).fielddefs[value.__msgtype__][1]
        return {name: plain(getattr(value, name)) for name, _ in fields}
    if isinstance(value, (np.ndarray, bytes)):
        return value.tolist() if isinstance(value, np.ndarray) else list(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def same(a: Any, b: Any) -> bool:
    """Structural equality where NaN equals NaN and -0.0 differs from 0.0."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("store", STORES, ids=lambda s: s.name)
@pytest.mark.parametrize("type_name", TYPES)
def test_random_contents_match_rosbags(store: Stores, type_name: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values(store, type_name))
    def check(fields: dict[str, Any]) -> None:
        ours = to_ours(store, type_name, fields)
        wire = ours.serialize()
        ts = typestore(store)
        assert wire == bytes(ts.serialize_cdr(to_rosbags(store, type_name, fields), type_name))
        decoded = plain(ts.deserialize_cdr(wire, type_name))
        assert same(decoded, plain(ours)), decoded
        assert same(plain(message_class(type_name, store).deserialize(wire)), plain(ours))

    check()


def test_types_cover_the_graph() -> None:
    assert {"sensor_msgs/msg/JointState", "geometry_msgs/msg/PoseStamped", "std_msgs/msg/Float64MultiArray",
            "diagnostic_msgs/msg/DiagnosticStatus", "std_msgs/msg/String", "rcl_interfaces/msg/Log",
            ros_discovery.TYPE, "rmw_dds_common/msg/Gid", "builtin_interfaces/msg/Time"} <= set(TYPES)
