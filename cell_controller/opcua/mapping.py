"""A real device's address space is not ours: mapping files from our `DeviceSpec` to a vendor's server.

A mapping file (YAML, `config/mappings/*.yaml`) names, for every variable and method of one device
kind's spec, the vendor's browse path (all in the vendor's one namespace), and for variables the
vendor's unit, a linear conversion and, for enumerations, the member mapping::

    kind: welder
    namespace_uri: http://acme.example/UA/PowerSource/
    variables:
      JoiningSystem/ActualValues/Current:          # our path
        path: PowerSource/Monitor/ArcCurrent       # the vendor's, below Objects
        unit: kA                                   # a short name of UNITS, or {code: B22, display: kA}
      JoiningSystem/State:
        path: PowerSource/Status/OperatingState
        enum: {name: AcmeState, values: [STANDBY, WELDING, ERROR, SERVICE],
               map: {Idle: STANDBY, Welding: WELDING, Fault: ERROR}}
      JoiningSystem/Results/LastResult/PartId: PowerSource/WeldLog/Last/PartNumber   # a path alone
    methods:
      Feeder/MethodSet/Clamp: Line/Commands/CloseClamp

Conversion is linear, vendor = ours * factor + offset (offset default 0). The factor follows from the
two units when `UNITS` knows both or they are the same (a factor given as well must agree, up to its
sign: -1 turns a direction); otherwise it must be given. Enumerations travel as Int32 indices on both sides: index i of our
`EnumSpec` is member `values[i]`, the vendor's index j is member j of its `values` (default: the map's
targets in our order); the vendor may have members we do not map (a vendor value of one of them
cannot be converted and reaches a subscriber as good=False).

Methods keep our input arguments (same order, same types) and our outputs: Status (an Int32 index
into `COMMAND_STATUS`) and Reason (String). A vendor whose methods answer otherwise needs an adapter
on its side (a PLC function block); that is outside this mapping. The twin's `TwinControl` methods
need no mapping: they are served at their own paths in the vendor namespace.

`vendor_spec(mapping, spec)` is the vendor's address space as a `DeviceSpec`: what a plant device
serves and what `checker.check_device_server` probes it against. `MappedClient` and `MappedServer`
wrap `DeviceClient` and `DeviceServer` on that spec: our paths and units in, our paths and units out.
Every conversion, both ways, is `VariableMapping.to_vendor` / `from_vendor`.
"""
from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any


from cell_controller.core.config import ConfigError, read_yaml

from . import _ua
from .address_space import (
    AMPERE, DEG, DEG_S, L_MIN, M_MIN, MM, MM_S, ONE, SECOND, TWIN_CONTROL, VOLT, WATT, DeviceSpec, EnumSpec,
    Range, Unit, VariableSpec,
)
from .client import ClientSecurity, DeviceClient, ValueCallback
from .server import DeviceServer, MethodCallable, ServerSecurity, SetpointCallback
from .users import Account

_log = logging.getLogger(__name__)


# --- units ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitInfo:
    """A unit of `UNITS`: its dimension and its size in that dimension's coherent SI unit
    (m, m/s, rad, rad/s, s, A, V, W, J, l/min, 1)."""

    unit: Unit
    dimension: str
    size: float


def _entry(unit: Unit, dimension: str, size: float) -> tuple[str, UnitInfo]:
    return unit.display, UnitInfo(unit, dimension, size)


# Codes, display names and descriptions checked against the OPC Foundation's UNECE_to_OPCUA.csv
# (github.com/OPCFoundation/UA-Nodeset, Schema/), the UNECE Rec 20 table OPC UA Part 8 points to.
# Display names are ASCII here ("deg" for the csv's "°", "Wh" for "W·h", "%" for "% or pct").
UNITS: dict[str, UnitInfo] = dict((
    _entry(AMPERE, "current", 1.0),
    _entry(Unit("B22", "kA", "kiloampere"), "current", 1e3),
    _entry(Unit("4K", "mA", "milliampere"), "current", 1e-3),
    _entry(VOLT, "voltage", 1.0),
    _entry(WATT, "power", 1.0),
    _entry(Unit("KWT", "kW", "kilowatt"), "power", 1e3),
    _entry(Unit("JOU", "J", "joule"), "energy", 1.0),
    _entry(Unit("KJO", "kJ", "kilojoule"), "energy", 1e3),
    _entry(Unit("WHR", "Wh", "watt hour"), "energy", 3600.0),
    _entry(MM, "length", 1e-3),
    _entry(Unit("MTR", "m", "metre"), "length", 1.0),
    _entry(Unit("INH", "in", "inch"), "length", 0.0254),
    _entry(MM_S, "speed", 1e-3),
    _entry(Unit("MTS", "m/s", "metre per second"), "speed", 1.0),
    _entry(Unit("H81", "mm/min", "millimetre per minute"), "speed", 1e-3 / 60.0),
    _entry(M_MIN, "speed", 1.0 / 60.0),
    _entry(Unit("IU", "in/s", "inch per second"), "speed", 0.0254),
    _entry(Unit("M63", "in/min", "inch per minute"), "speed", 0.0254 / 60.0),
    _entry(DEG, "angle", math.pi / 180.0),
    _entry(Unit("C81", "rad", "radian"), "angle", 1.0),
    _entry(DEG_S, "angular speed", math.pi / 180.0),
    _entry(Unit("2A", "rad/s", "radian per second"), "angular speed", 1.0),
    _entry(SECOND, "time", 1.0),
    _entry(Unit("C26", "ms", "millisecond"), "time", 1e-3),
    _entry(Unit("MIN", "min", "minute [unit of time]"), "time", 60.0),
    _entry(L_MIN, "gas flow", 1.0),
    _entry(ONE, "ratio", 1.0),
    _entry(Unit("P1", "%", "percent"), "ratio", 0.01),
))
"""Short name -> unit, for mapping files and drafts."""


def unit_info(unit: Unit) -> UnitInfo | None:
    """The `UNITS` entry of `unit`, found by its code, else by its display name (None: unknown)."""
    for info in UNITS.values():
        if info.unit.code == unit.code:
            return info
    return UNITS.get(unit.display)


def factor_between(ours: Unit, vendor: Unit) -> float | None:
    """The factor with vendor = ours * factor (1 for the same code); None when `UNITS` cannot tell.

    Raises ValueError when both are known and of different dimensions.
    """
    if ours.code == vendor.code:
        return 1.0
    mine, theirs = unit_info(ours), unit_info(vendor)
    if mine is None or theirs is None:
        return None
    if mine.dimension != theirs.dimension:
        raise ValueError(f"{vendor.display} is a {theirs.dimension}, ours ({ours.display}) a {mine.dimension}")
    return mine.size / theirs.size


# --- the mapping ----------------------------------------------------------------------------------

class ConversionError(ValueError):
    """A vendor value has no counterpart in our spec (an enum member we do not map)."""


@dataclass(frozen=True)
class EnumMap:
    """An enumeration's mapping: `members[i]` is the vendor member for our member `ours.values[i]`."""

    ours: EnumSpec
    vendor: EnumSpec
    members: tuple[str, ...]

    @property
    def as_dict(self) -> dict[str, str]:
        """Our member name -> the vendor's."""
        return dict(zip(self.ours.values, self.members))

    def to_vendor(self, where: str, value: object) -> int:
        """Our index (or member name) as the vendor's index; ValueError naming `where` when not ours."""
        if isinstance(value, str):
            value = self.ours.index(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(self.members):
            raise ValueError(f"{where}: {value!r} is not a value of {self.ours.name} {self.ours.values}")
        return self.vendor.index(self.members[value])

    def from_vendor(self, where: str, value: object) -> int:
        """The vendor's index as ours; ConversionError when it is none of the members we map."""
        if isinstance(value, int) and 0 <= value < len(self.vendor.values) and self.vendor.values[value] in self.members:
            return self.members.index(self.vendor.values[value])
        raise ConversionError(f"{where}: vendor value {value!r} of {self.vendor.name} {self.vendor.values} "
                              f"maps to no member of {self.ours.name}")


@dataclass(frozen=True)
class VariableMapping:
    """One variable: our path -> the vendor's, with the vendor's unit (analog items only) and the
    conversion vendor = ours * factor + offset (Double variables), or `enum` (enumerations)."""

    path: str
    vendor_path: str
    unit: Unit | None = None
    factor: float = 1.0
    offset: float = 0.0
    enum: EnumMap | None = None

    def to_vendor(self, value: Any) -> Any:
        """Our value (our unit; enums: our index or member name) as the vendor's."""
        if self.enum is not None:
            return self.enum.to_vendor(self.path, value)
        if self.factor == 1.0 and self.offset == 0.0:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{self.path}: expected a number, got {value!r}")
        return value * self.factor + self.offset

    def from_vendor(self, value: Any) -> Any:
        """The vendor's value as ours (our unit; enums: our index); None stays None.

        Raises ConversionError for a vendor enum member we do not map.
        """
        if value is None:
            return None
        if self.enum is not None:
            return self.enum.from_vendor(self.path, value)
        if self.factor == 1.0 and self.offset == 0.0:
            return value
        return (value - self.offset) / self.factor

    def vendor_variable(self, ours: VariableSpec) -> VariableSpec:
        """Our variable as the vendor serves it: its path, unit, enumeration, range and initial value."""
        rng = None
        if ours.range is not None:
            low, high = sorted((self.to_vendor(ours.range.low), self.to_vendor(ours.range.high)))
            rng = Range(low, high)
        return VariableSpec(self.vendor_path, self.enum.vendor if self.enum else ours.data_type, self.unit, rng,
                            ours.writable, self.to_vendor(ours.default), ours.description)


@dataclass(frozen=True)
class MethodMapping:
    """One method: our path -> the vendor's (same inputs, same Status/Reason outputs)."""

    path: str
    vendor_path: str


@dataclass(frozen=True)
class AddressMapping:
    """A device kind's address space mapped onto a vendor's server (see the module docstring)."""

    kind: str
    namespace_uri: str
    variables: tuple[VariableMapping, ...]
    methods: tuple[MethodMapping, ...] = ()

    def variable(self, path: str) -> VariableMapping:
        """The mapping of our variable `path`; KeyError names the kind and path when unmapped."""
        for entry in self.variables:
            if entry.path == path:
                return entry
        raise KeyError(f"{self.kind}: variable {path!r} not mapped")

    def method_path(self, path: str) -> str:
        """The vendor's path of our method `path` (a `TwinControl` method keeps its own)."""
        for entry in self.methods:
            if entry.path == path:
                return entry.vendor_path
        if path.startswith(f"{TWIN_CONTROL}/"):
            return path
        raise KeyError(f"{self.kind}: method {path!r} not mapped")


def vendor_spec(mapping: AddressMapping, spec: DeviceSpec) -> DeviceSpec:
    """The vendor's address space: `spec` in the vendor's namespace, paths, units, ranges (converted;
    low and high swapped for a negative factor), enumerations and initial values.

    Raises ValueError when the mapping is of another kind or leaves a variable or method unmapped.
    """
    if mapping.kind != spec.kind:
        raise ValueError(f"a {mapping.kind} mapping cannot map the {spec.kind} spec")
    try:
        variables = tuple(mapping.variable(v.path).vendor_variable(v) for v in spec.variables)
        methods = tuple(replace(m, path=mapping.method_path(m.path)) for m in spec.methods)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    return DeviceSpec(spec.kind, mapping.namespace_uri, variables, methods)


# --- loading --------------------------------------------------------------------------------------

def load_mapping(path: str | Path, spec: DeviceSpec) -> AddressMapping:
    """Read and validate the mapping file at `path` for `spec` (see the module docstring).

    Raises ConfigError naming the file, the YAML key and the reason: the file unreadable or not YAML,
    a variable or method of `spec` not mapped, a path that is not ours, a unit unknown or of another
    dimension, a factor zero, non-finite or disagreeing with the units, an enum map incomplete, two
    of ours mapped to one vendor path.
    """
    file = Path(path)
    return _Reader(file, spec).mapping(read_yaml(file))


class _Reader:
    """Walks a parsed mapping file against `spec`, naming the key in every error."""

    def __init__(self, file: Path, spec: DeviceSpec):
        self.file, self.spec = file, spec

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.file, key, reason)

    def table(self, data: Any, key: str, known: set[str] | None = None) -> dict[Any, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, f"expected a mapping, got {type(data).__name__}")
        for name in data if known is not None else ():
            if name not in known:
                raise self.fail(f"{key}.{name}" if key != "(top level)" else str(name),
                                f"unknown key (known: {', '.join(sorted(known))})")
        return data

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {value!r}")
        return float(value)

    def vendor_path(self, value: Any, key: str) -> str:
        if value is None:
            raise self.fail(key, "missing: the vendor's browse path below Objects, e.g. Device/Group/Name")
        path = self.text(value, key)
        if "" in path.split("/"):
            raise self.fail(key, f"{path!r} has an empty browse name")
        return path

    def mapping(self, data: Any) -> AddressMapping:
        data = self.table(data, "(top level)", {"kind", "namespace_uri", "variables", "methods"})
        kind = self.text(data.get("kind"), "kind")
        if kind != self.spec.kind:
            raise self.fail("kind", f"{kind!r}, but the spec is of a {self.spec.kind}")
        namespace_uri = self.text(data.get("namespace_uri"), "namespace_uri")
        variables = self.entries(self.table(data.get("variables"), "variables"), "variables",
                                 [v.path for v in self.spec.variables], self.variable)
        methods = self.entries(self.table(data.get("methods", {}), "methods"), "methods",
                               [m.path for m in self.spec.methods if not m.path.startswith(f"{TWIN_CONTROL}/")],
                               self.method)
        result = AddressMapping(kind, namespace_uri, variables, methods)
        self.check_vendor_side(result)
        return result

    def entries(self, data: dict[Any, Any], section: str, ours: list[str], parse: Callable[[str, Any, str], Any]) -> tuple:
        for path in data:
            if path not in ours:
                close = difflib.get_close_matches(str(path), ours, 1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise self.fail(f"{section}.{path}", f"not a {section[:-1]} of the {self.spec.kind} spec{hint}")
        missing = [p for p in ours if p not in data]
        if missing:
            rest = f" (unmapped too: {', '.join(missing[1:])})" if len(missing) > 1 else ""
            raise self.fail(f"{section}.{missing[0]}", f"missing: every {section[:-1]} of the spec needs a vendor path{rest}")
        return tuple(parse(p, data[p], f"{section}.{p}") for p in ours)

    def method(self, path: str, entry: Any, key: str) -> MethodMapping:
        if isinstance(entry, dict):
            entry = self.table(entry, key, {"path"}).get("path")
            key = f"{key}.path"
        vendor = self.vendor_path(entry, key)
        if "/" not in vendor:
            raise self.fail(key, f"{vendor!r}: a method needs its parent object, e.g. Device/Commands/{vendor}")
        return MethodMapping(path, vendor)

    def variable(self, path: str, entry: Any, key: str) -> VariableMapping:
        ours = self.spec.variable(path)
        if not isinstance(entry, dict):
            entry = {"path": entry}
        entry = self.table(entry, key, {"path", "unit", "factor", "offset", "enum"})
        vendor = self.vendor_path(entry.get("path"), f"{key}.path")
        for name in ("unit", "factor", "offset"):
            if name in entry and ours.data_type != "Double":
                raise self.fail(f"{key}.{name}", f"only for Double variables; {path} is {_type_name(ours)}")
        if "unit" in entry and ours.unit is None:
            raise self.fail(f"{key}.unit", f"{path} has no unit (it is not an analog item)")
        enum = None
        if isinstance(ours.data_type, EnumSpec):
            enum = self.enum(ours.data_type, entry.get("enum"), f"{key}.enum")
        elif "enum" in entry:
            raise self.fail(f"{key}.enum", f"{path} is {_type_name(ours)}, not an enumeration")
        unit = self.unit(entry["unit"], f"{key}.unit") if "unit" in entry else ours.unit
        factor = self.number(entry["factor"], f"{key}.factor") if "factor" in entry else None
        if factor == 0.0:
            raise self.fail(f"{key}.factor", "must be non-zero")
        offset = self.number(entry.get("offset", 0.0), f"{key}.offset")
        if ours.unit is not None and unit is not None:
            factor = self.factor(ours.unit, unit, factor, key)
        return VariableMapping(path, vendor, unit, 1.0 if factor is None else factor, offset, enum)

    def factor(self, ours: Unit, vendor: Unit, given: float | None, key: str) -> float:
        try:
            derived = factor_between(ours, vendor)
        except ValueError as error:
            raise self.fail(f"{key}.unit", str(error)) from None
        if derived is None:
            if given is None:
                raise self.fail(f"{key}.factor", f"missing: no table converts {ours.display} to {vendor.display}; "
                                                 f"give the factor (vendor = ours * factor + offset)")
            return given
        if given is None:
            return derived
        if not math.isclose(abs(given), derived, rel_tol=1e-6):  # the sign may differ: a direction convention
            raise self.fail(f"{key}.factor", f"{given:g}, but {ours.display} -> {vendor.display} is {derived:.10g} "
                                             f"(or its negative, for the opposite direction); omit the factor to take that")
        return math.copysign(derived, given)

    def unit(self, value: Any, key: str) -> Unit:
        if isinstance(value, str):
            if value not in UNITS:
                raise self.fail(key, f"unknown unit {value!r} (known: {', '.join(UNITS)}; "
                                     f"or write {{code: <UNECE code>, display: ...}})")
            return UNITS[value].unit
        spec = self.table(value, key, {"code", "display", "description"})
        code = self.text(spec.get("code"), f"{key}.code")
        if not (2 <= len(code) <= 3 and code.isalnum() and code == code.upper()):
            raise self.fail(f"{key}.code", f"{code!r} is not a UNECE Rec 20 common code (2 or 3 capitals/digits)")
        display = self.text(spec.get("display"), f"{key}.display")
        return Unit(code, display, str(spec.get("description", display)))

    def enum(self, ours: EnumSpec, value: Any, key: str) -> EnumMap:
        if value is None:
            raise self.fail(key, f"missing: {ours.name} needs {{map: {{our member: vendor member}}}}")
        entry = self.table(value, key, {"name", "values", "map"})
        members = self.table(entry.get("map"), f"{key}.map")
        for member, theirs in members.items():
            if member not in ours.values:
                raise self.fail(f"{key}.map.{member}", f"not a member of {ours.name} {list(ours.values)}")
            if not isinstance(theirs, str) or not theirs:
                raise self.fail(f"{key}.map.{member}", f"expected the vendor's member name, got {theirs!r}{_QUOTE_HINT}")
        unmapped = [m for m in ours.values if m not in members]
        if unmapped:
            raise self.fail(f"{key}.map", f"incomplete: {', '.join(unmapped)} of {ours.name} not mapped")
        targets = tuple(members[m] for m in ours.values)
        doubled = sorted({t for t in targets if targets.count(t) > 1})
        if doubled:
            raise self.fail(f"{key}.map", f"two of our members map to {', '.join(doubled)}")
        values = entry.get("values", list(targets))
        if not isinstance(values, list) or not values or len(set(values)) != len(values) \
                or not all(isinstance(v, str) and v for v in values):
            raise self.fail(f"{key}.values", f"expected the vendor's members in Int32 order, each once: {values!r}"
                                             f"{_QUOTE_HINT}")
        for member, theirs in zip(ours.values, targets):
            if theirs not in values:
                raise self.fail(f"{key}.map.{member}", f"{theirs!r} is not in values {values}")
        name = self.text(entry.get("name", ours.name), f"{key}.name")
        return EnumMap(ours, EnumSpec(name, tuple(values)), targets)

    def check_vendor_side(self, mapping: AddressMapping) -> None:
        """One vendor path per entry, one enumeration per name, and a DeviceSpec that builds."""
        seen: dict[str, str] = {}
        for section, entries in (("variables", mapping.variables), ("methods", mapping.methods)):
            for entry in entries:
                key = f"{section}.{entry.path}" + (".path" if section == "variables" else "")
                if entry.vendor_path in seen:
                    raise self.fail(key, f"{entry.vendor_path} is mapped from {seen[entry.vendor_path]} too")
                seen[entry.vendor_path] = entry.path
        enums = {e.name: e for m in self.spec.methods for a in m.inputs + m.outputs
                 if isinstance(e := a.data_type, EnumSpec)}
        for entry in mapping.variables:
            if entry.enum is not None and enums.setdefault(entry.enum.vendor.name, entry.enum.vendor) != entry.enum.vendor:
                raise self.fail(f"variables.{entry.path}.enum.name",
                                f"{entry.enum.vendor.name} names another enumeration too; give the vendor's its own name")
        try:
            vendor_spec(mapping, self.spec)
        except ValueError as error:
            raise self.fail("variables", str(error)) from None


_QUOTE_HINT = " (quote names YAML reads as booleans or numbers: 'OFF', 'ON', 'YES', 'NO', '1')"


def _type_name(var: VariableSpec) -> str:
    return var.data_type.name if isinstance(var.data_type, EnumSpec) else var.data_type


# --- the wrappers ---------------------------------------------------------------------------------

class _Mapped:
    """What both wrappers share: our spec, the mapping and the lookups both ways."""

    def __init__(self, spec: DeviceSpec, mapping: AddressMapping) -> None:
        self.spec, self.mapping = spec, mapping
        self._entries = {e.path: e for e in mapping.variables}
        self._ours = {e.vendor_path: e for e in mapping.variables}

    def _entry(self, path: str) -> VariableMapping:
        entry = self._entries.get(path)
        if entry is None:
            raise KeyError(f"{self.spec.kind}: no variable {path!r}")
        return entry


class MappedClient(_Mapped):
    """A `DeviceClient` on a vendor's server, used in our paths and units (as a bridge uses one).
    Create with `await MappedClient.connect(...)`; `device` is the DeviceClient (vendor paths)."""

    def __init__(self, device: DeviceClient, spec: DeviceSpec, mapping: AddressMapping) -> None:
        super().__init__(spec, mapping)
        self.device = device

    @classmethod
    async def connect(cls, endpoint: str, spec: DeviceSpec, mapping: AddressMapping, timeout_s: float = 3.0, *,
                      security: ClientSecurity | None = None, username: str | None = None,
                      password: str | None = None) -> MappedClient:
        """Connect a DeviceClient on `vendor_spec(mapping, spec)` (timeout_s bounds the connect, s).

        Raises client.DeviceUnreachableError or client.DeviceSpecMismatchError as DeviceClient does.
        """
        device = await DeviceClient.connect(endpoint, vendor_spec(mapping, spec), timeout_s, security=security,
                                            username=username, password=password)
        return cls(device, spec, mapping)

    @property
    def endpoint(self) -> str:
        return self.device.endpoint

    @property
    def connected(self) -> bool:
        """True while the session is up (False while reconnecting)."""
        return self.device.connected

    async def disconnect(self) -> None:
        """Close the session (never raises)."""
        await self.device.disconnect()

    async def application_uri(self) -> str:
        """The server's ApplicationUri: the device's identity (not mapped: it is the server's own)."""
        return await self.device.application_uri()

    async def resubscribe(self) -> None:
        """DeviceClient.resubscribe."""
        await self.device.resubscribe()

    async def read(self, paths: Iterable[str]) -> dict[str, Any]:
        """Read our variables in one Read call: our path -> value in our unit (enums: our index).

        Raises ua.UaStatusCodeError for a Bad value, ConversionError for a vendor enum member we do not map.
        """
        entries = [self._entry(p) for p in paths]
        values = await self.device.read([e.vendor_path for e in entries])
        return {e.path: e.from_vendor(values[e.vendor_path]) for e in entries}

    async def write(self, path: str, value: Any) -> None:
        """Write our setpoint `path` in our unit (enums: our index or member name).

        Raises PermissionError for a read-only variable, TypeError/ValueError for a value that does not
        fit our spec (its range included), ua.UaStatusCodeError when the device refuses.
        """
        var, entry = self.spec.variable(path), self._entry(path)
        if not var.writable:
            raise PermissionError(f"{self.spec.kind}: {path} is read-only")
        _ua.encode_setpoint(var, value)
        await self.device.write(entry.vendor_path, entry.to_vendor(value))

    async def call(self, method_path: str, *args: Any) -> Any:
        """Call our method: same inputs; returns (Status index into COMMAND_STATUS, Reason)."""
        self.spec.method(method_path)
        return await self.device.call(self.mapping.method_path(method_path), *args)

    async def subscribe(self, paths: Iterable[str], publishing_interval_ms: float, callback: ValueCallback) -> None:
        """Subscribe to our `paths`; `callback(our path, value in our unit, source_timestamp, good)`.

        A vendor value that cannot be converted arrives as (None, good=False). See DeviceClient.subscribe.
        """
        def converted(vendor_path: str, value: Any, timestamp: datetime | None, good: bool) -> None:
            entry = self._ours[vendor_path]
            if good:
                try:
                    value = entry.from_vendor(value)
                except ConversionError as error:
                    _log.warning("%s: %s", self.spec.kind, error)
                    value, good = None, False
            callback(entry.path, value, timestamp, good)

        entries = [self._entry(p) for p in paths]
        await self.device.subscribe([e.vendor_path for e in entries], publishing_interval_ms, converted)

    def on_link_change(self, callback: Callable[[bool], None]) -> None:
        """Call `callback(up)` when the link is lost (False) and back (True); see DeviceClient."""
        self.device.on_link_change(callback)


class MappedServer(_Mapped):
    """A `DeviceServer` serving `vendor_spec(mapping, spec)`, driven in our paths and units (as the twin
    drives one). Create with `await MappedServer.start(...)`; `device` is the DeviceServer."""

    def __init__(self, device: DeviceServer, spec: DeviceSpec, mapping: AddressMapping) -> None:
        super().__init__(spec, mapping)
        self.device = device

    @classmethod
    async def start(cls, spec: DeviceSpec, mapping: AddressMapping, endpoint: str, name: str, *,
                    security: ServerSecurity | None = None, accounts: Mapping[str, Account] | None = None,
                    allow_insecure: bool = False) -> MappedServer:
        """Serve the vendor's address space on `endpoint`; see DeviceServer.start."""
        device = await DeviceServer.start(vendor_spec(mapping, spec), endpoint, name, security=security,
                                          accounts=accounts, allow_insecure=allow_insecure)
        return cls(device, spec, mapping)

    @property
    def endpoint(self) -> str:
        return self.device.endpoint

    async def stop(self) -> None:
        """Close all sessions and stop listening."""
        await self.device.stop()

    async def set_values(self, values: Mapping[str, Any], source_timestamp: datetime | None = None) -> None:
        """Publish our variables (our path -> value in our unit; enums: index or member name), one Write.

        Raises KeyError for a path not ours, TypeError/ValueError for a value that does not fit.
        """
        vendor = {}
        for path, value in values.items():
            entry = self._entry(path)
            vendor[entry.vendor_path] = entry.to_vendor(value)
        await self.device.set_values(vendor, source_timestamp)

    def get_value(self, path: str) -> Any:
        """The current value of our variable `path`, in our unit (enums: our index)."""
        entry = self._entry(path)
        return entry.from_vendor(self.device.get_value(entry.vendor_path))

    def on_setpoint_written(self, callback: SetpointCallback) -> None:
        """Call `callback(our path, value in our unit)` after a client's write (see DeviceServer).

        A written vendor enum member we do not map is logged and not passed on.
        """
        def converted(vendor_path: str, value: Any) -> Any:
            entry = self._ours[vendor_path]
            try:
                ours = entry.from_vendor(value)
            except ConversionError as error:
                _log.warning("%s: write not passed on: %s", self.spec.kind, error)
                return None
            return callback(entry.path, ours)

        self.device.on_setpoint_written(converted)

    def bind_method(self, path: str, fn: MethodCallable) -> None:
        """Make our method `path` call `fn(*inputs)`, returning (Status, Reason); see DeviceServer."""
        self.spec.method(path)
        self.device.bind_method(self.mapping.method_path(path), fn)
