"""asyncua glue shared by server, client and checker: spec data types <-> OPC UA.

Internal to `cell_controller.opcua`; the public API is `server`, `client`, `checker`.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from asyncua import ua

from .address_space import DataType, EnumSpec, VariableSpec

_VARIANT_TYPES: dict[str, ua.VariantType] = {
    "Boolean": ua.VariantType.Boolean,
    "Int32": ua.VariantType.Int32,
    "UInt32": ua.VariantType.UInt32,
    "Double": ua.VariantType.Double,
    "String": ua.VariantType.String,
}
_INT_LIMITS = {"Int32": (-(2**31), 2**31 - 1), "UInt32": (0, 2**32 - 1)}


def variant_type(data_type: DataType) -> ua.VariantType:
    """The Variant type a value of `data_type` travels as (enumerations: Int32)."""
    return ua.VariantType.Int32 if isinstance(data_type, EnumSpec) else _VARIANT_TYPES[data_type]


def scalar_data_type_id(data_type: str) -> ua.NodeId:
    """The ns=0 DataType NodeId of a built-in scalar type."""
    return ua.NodeId(_VARIANT_TYPES[data_type].value, 0)


def enum_data_type_id(enum: EnumSpec, ns: int) -> ua.NodeId:
    """The NodeId our servers give an enumeration DataType (clients must not rely on it)."""
    return ua.NodeId(f"DataType/{enum.name}", ns)


def encode(where: str, data_type: DataType, value: object) -> ua.Variant:
    """`value` as a Variant of `data_type`; TypeError/ValueError name `where` when it does not fit.

    Accepts int for Double; for enumerations an int index or a member name.
    """
    if isinstance(data_type, EnumSpec):
        if isinstance(value, str):
            value = data_type.index(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(data_type.values):
            raise ValueError(f"{where}: {value!r} is not a value of {data_type.name} {data_type.values}")
        return ua.Variant(value, ua.VariantType.Int32)
    if data_type == "Double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}: expected a number, got {value!r}")
        return ua.Variant(float(value), ua.VariantType.Double)
    if data_type in _INT_LIMITS:
        low, high = _INT_LIMITS[data_type]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{where}: expected {data_type} in [{low}, {high}], got {value!r}")
        return ua.Variant(value, _VARIANT_TYPES[data_type])
    expected = bool if data_type == "Boolean" else str
    if not isinstance(value, expected):
        raise TypeError(f"{where}: expected {data_type}, got {value!r}")
    return ua.Variant(value, _VARIANT_TYPES[data_type])


def encode_setpoint(var: VariableSpec, value: object) -> ua.Variant:
    """Like `encode`, and rejects NaN, +-Inf and values outside the EURange (ValueError)."""
    variant = encode(var.path, var.data_type, value)
    if var.data_type == "Double":
        number = float(variant.Value)
        if not math.isfinite(number):
            raise ValueError(f"{var.path}: refusing non-finite value {number}")
        if var.range is not None and not var.range.contains(number):
            raise ValueError(f"{var.path}: {number} outside [{var.range.low}, {var.range.high}] {var.unit.display if var.unit else ''}")
    return variant


def data_value(variant: ua.Variant, source_timestamp: datetime | None = None) -> ua.DataValue:
    """A Good DataValue stamped with `source_timestamp` (UTC; default now) and server time now."""
    now = datetime.now(timezone.utc)
    return ua.DataValue(variant, SourceTimestamp=source_timestamp or now, ServerTimestamp=now)


def relative_path(path: str, ns: int) -> list[ua.QualifiedName]:
    """A spec path ("A/B/C") as the browse names below Objects, all in namespace `ns`."""
    return [ua.QualifiedName(name, ns) for name in path.split("/")]
