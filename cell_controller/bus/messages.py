"""Cyclone DDS classes for ROS 2 messages, generated on demand from rosbags' typestore.

rosbags is the single source of truth for message definitions: nothing here is
written by hand per message. A generated class carries the DDS type name ROS 2
uses (`sensor_msgs::msg::dds_::JointState_`), ROS field names and default values
(0, 0.0, False, "", empty sequences, default-built nested messages, fixed arrays
filled with defaults, and the few explicit IDL defaults such as Quaternion.w = 1) and the message's constants as class attributes. It
serializes as XCDR1 (classic CDR), byte-identical to `typestore.serialize_cdr`.

Python value types: integers and floats as `int`/`float`, strings as `str`,
sequences and fixed arrays as `list`, except fixed `uint8`/`byte` arrays, which
Cyclone DDS represents as `bytes`.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import threading
from typing import Any, Callable

from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as idl
from cyclonedds.idl._main import IdlMeta
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

#: ROS primitive name -> Cyclone DDS IDL type (ROS `char` is IDL uint8, `byte` is octet).
_PRIMITIVES: dict[str, Any] = {
    "bool": bool,
    "byte": idl.byte,
    "char": idl.uint8,
    "int8": idl.int8,
    "uint8": idl.uint8,
    "int16": idl.int16,
    "uint16": idl.uint16,
    "int32": idl.int32,
    "uint32": idl.uint32,
    "int64": idl.int64,
    "uint64": idl.uint64,
    "float32": idl.float32,
    "float64": idl.float64,
}
_BYTE_LIKE = {"byte", "char", "uint8"}
#: ROS default-value factories for non-integer primitives (integers default to int() == 0).
_DEFAULTS: dict[str, Callable[[], Any]] = {"bool": bool, "float32": float, "float64": float}

_IMMUTABLE = (bool, int, float, str)
#: Explicit defaults from ROS IDL files that rosbags' field definitions do not carry.
_IDL_DEFAULTS: dict[tuple[str, str], Any] = {("geometry_msgs/msg/Quaternion", "w"): 1.0}

#: A rosbags field description: (Nodetype, arguments).
FieldDesc = tuple[Nodetype, Any]


class UnsupportedTypeError(TypeError):
    """A message uses a field type that has no Cyclone DDS mapping (e.g. wstring)."""


def store_for_distro(distro: str | None = None) -> Stores:
    """The rosbags store for a ROS 2 distribution name; default: env ROS_DISTRO, else humble."""
    name = (distro or os.environ.get("ROS_DISTRO") or "humble").upper()
    try:
        return Stores[f"ROS2_{name}"]
    except KeyError:
        known = sorted(s.name[5:].lower() for s in Stores if s.name.startswith("ROS2_"))
        raise ValueError(f"unknown ROS 2 distribution {distro!r}; known: {known}") from None


def dds_type_name(type_name: str) -> str:
    """'sensor_msgs/msg/JointState' -> 'sensor_msgs::msg::dds_::JointState_'."""
    parts = type_name.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"message type {type_name!r} is not of the form 'pkg/msg/Type'")
    pkg, kind, name = parts
    return f"{pkg}::{kind}::dds_::{name}_"


@functools.lru_cache(maxsize=None)
def typestore(store: Stores) -> Typestore:
    """The (cached) rosbags typestore for `store`."""
    return get_typestore(store)


_lock = threading.RLock()
_classes: dict[tuple[Stores, str], type[IdlStruct]] = {}


def message_class(type_name: str, store: Stores | None = None) -> type[IdlStruct]:
    """The IdlStruct class for a ROS 2 message type such as 'sensor_msgs/msg/JointState'.

    Classes are built once per (store, type) and cached; nested types are built too.
    Raises KeyError naming the type when the typestore does not define it.
    """
    key = (store or store_for_distro(), type_name)
    cls = _classes.get(key)
    if cls is None:
        with _lock:
            cls = _classes.get(key) or _build(*key)
    return cls


def _build(store: Stores, type_name: str) -> type[IdlStruct]:
    ts = typestore(store)
    if type_name not in ts.fielddefs:
        raise KeyError(f"message type {type_name!r} is not in the rosbags {store.name} typestore")
    consts, fields = ts.fielddefs[type_name]
    class_name = type_name.rsplit("/", 1)[1]
    namespace = IdlMeta.__prepare__(class_name, (IdlStruct,), typename=dds_type_name(type_name))
    for field_name, desc in fields:
        idl_type, factory = _field(store, type_name, field_name, desc)
        namespace["__annotations__"][field_name] = idl_type
        if (type_name, field_name) in _IDL_DEFAULTS:
            namespace[field_name] = _IDL_DEFAULTS[(type_name, field_name)]
        elif factory in _IMMUTABLE:
            namespace[field_name] = factory()  # a plain default keeps __init__ fast
        else:
            namespace[field_name] = dataclasses.field(default_factory=factory)
    cls = dataclasses.dataclass(IdlMeta(class_name, (IdlStruct,), namespace))
    for const_name, _const_type, value in consts:
        setattr(cls, const_name, value)
    cls.__msgtype__ = type_name
    _classes[(store, type_name)] = cls
    return cls


def _field(store: Stores, owner: str, field_name: str, desc: FieldDesc) -> tuple[Any, Callable[[], Any]]:
    """(IDL type, default factory) of one rosbags field description."""
    kind, args = desc
    if kind == Nodetype.BASE:
        prim, bound = args
        if prim == "string":
            return (idl.bounded_str[bound] if bound else str), str
        if prim not in _PRIMITIVES:
            raise UnsupportedTypeError(f"{owner}.{field_name}: ROS type {prim!r} has no Cyclone DDS mapping")
        return _PRIMITIVES[prim], _DEFAULTS.get(prim, int)
    if kind == Nodetype.NAME:
        nested = message_class(args, store)
        return nested, nested
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        sub_desc, length = args
        sub_type, sub_factory = _field(store, owner, field_name, sub_desc)
        if kind == Nodetype.SEQUENCE:
            return (idl.sequence[sub_type, length] if length else idl.sequence[sub_type]), list
        if sub_desc[0] == Nodetype.BASE and sub_desc[1][0] in _BYTE_LIKE:
            return idl.array[sub_type, length], functools.partial(bytes, length)
        return idl.array[sub_type, length], lambda: [sub_factory() for _ in range(length)]
    raise UnsupportedTypeError(f"{owner}.{field_name}: unknown rosbags field kind {kind!r}")
