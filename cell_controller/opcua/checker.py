"""`check_device_server`: probe any OPC UA server (twin or real) against a `DeviceSpec`.

Like gymnasium's env_checker: it returns every problem found as a readable line (empty:
the server conforms); it raises only when the endpoint cannot be reached at all.

Checks: the spec's namespace is served; every variable exists with the spec's DataType
(enumerations: a DataType of that browse name whose EnumStrings or DataTypeDefinition
list the spec's members), its write access matches `writable`, and analog items are
AnalogItemType (or BaseAnalogType) with EURange and EngineeringUnits (UNECE UnitId) as
specified; every method exists, is executable, declares the spec's input arguments, and
answers a call with one argument too many with BadTooManyArguments. That probe never
executes the method on a conforming server, so the checker is safe to run on real devices.
"""
from __future__ import annotations

from typing import Any

from asyncua import Client, ua
from asyncua.ua.uaerrors import BadTooManyArguments, UaStatusCodeError

from . import _ua
from .address_space import UNECE_NAMESPACE, DeviceSpec, EnumSpec, MethodSpec, VariableSpec
from .client import ClientSecurity, close_client, open_client, resolve_paths

_ANALOG_TYPES = (ua.NodeId(ua.ObjectIds.AnalogItemType), ua.NodeId(ua.ObjectIds.BaseAnalogType))


async def check_device_server(endpoint: str, spec: DeviceSpec, timeout_s: float = 5.0,
                              security: ClientSecurity | None = None) -> list[str]:
    """Every way the server at `endpoint` differs from `spec`, one line each (empty: conforms).

    Raises client.DeviceUnreachableError when no session can be opened within timeout_s.
    """
    client = await open_client(endpoint, spec, timeout_s, security)
    try:
        namespaces = await client.get_namespace_array()
        if spec.namespace_uri not in namespaces:
            return [f"namespace {spec.namespace_uri} not served"]
        ns = namespaces.index(spec.namespace_uri)
        problems: list[str] = []
        nodeids = await resolve_paths(client, [v.path for v in spec.variables] + [m.path for m in spec.methods], ns)
        problems += [f"{path}: missing" for path, nodeid in nodeids.items() if nodeid is None]
        present = [v for v in spec.variables if nodeids[v.path] is not None]
        problems += await _check_variables(client, present, nodeids, ns)
        for meth in spec.methods:
            if nodeids[meth.path] is not None:
                problems += await _check_method(client, meth, nodeids[meth.path], ns)
        return problems
    finally:
        await close_client(client)


async def _read(client: Client, nodeids: list[ua.NodeId], attr: ua.AttributeIds) -> list[Any]:
    values = await client.uaclient.read_attributes(nodeids, attr)
    return [dv.Value.Value if dv.Value is not None else None for dv in values]


async def _check_variables(client: Client, variables: list[VariableSpec], nodeids: dict[str, ua.NodeId | None],
                           ns: int) -> list[str]:
    ids = [nodeids[v.path] for v in variables]
    classes = await _read(client, ids, ua.AttributeIds.NodeClass)
    data_types = await _read(client, ids, ua.AttributeIds.DataType)
    access = await _read(client, ids, ua.AttributeIds.AccessLevel)
    problems = []
    for var, node_class, data_type, level in zip(variables, classes, data_types, access):
        if node_class != ua.NodeClass.Variable:
            problems.append(f"{var.path}: node class {node_class}, expected Variable")
            continue
        problems += await _check_data_type(client, var.path, var.data_type, data_type)
        writable = bool(level is not None and level & ua.AccessLevel.CurrentWrite.mask)
        if writable != var.writable:
            problems.append(f"{var.path}: {'writable' if writable else 'read-only'}, spec says "
                            f"{'writable' if var.writable else 'read-only'}")
    analog = [v for v in variables if v.is_analog]
    if analog:
        problems += await _check_analog(client, analog, nodeids, ns)
    return problems


async def _check_data_type(client: Client, where: str, expected: str | EnumSpec, actual: Any) -> list[str]:
    if not isinstance(expected, EnumSpec):
        wanted = _ua.scalar_data_type_id(expected)
        return [] if actual == wanted else [f"{where}: DataType {actual}, expected {expected}"]
    if not isinstance(actual, ua.NodeId):
        return [f"{where}: DataType unreadable, expected enumeration {expected.name}"]
    node = client.get_node(actual)
    name = (await node.read_browse_name()).Name
    if name != expected.name:
        return [f"{where}: DataType {name}, expected enumeration {expected.name}"]
    members = await _enum_members(client, actual)
    if members != list(expected.values):
        return [f"{where}: enumeration {name} members {members}, expected {list(expected.values)}"]
    return []


async def _enum_members(client: Client, data_type: ua.NodeId) -> list[str] | None:
    node = client.get_node(data_type)
    try:
        strings = await (await node.get_child(ua.QualifiedName("EnumStrings", 0))).read_value()
        return [s.Text for s in strings]
    except UaStatusCodeError:
        pass
    try:
        definition = await node.read_data_type_definition()
    except UaStatusCodeError:
        return None
    return [f.Name for f in sorted(definition.Fields, key=lambda f: f.Value)]


async def _check_analog(client: Client, variables: list[VariableSpec], nodeids: dict[str, ua.NodeId | None],
                        ns: int) -> list[str]:
    paths = [v.path for v in variables]
    ranges = await resolve_paths(client, paths, ns, "EURange")
    units = await resolve_paths(client, paths, ns, "EngineeringUnits")
    problems = []
    for var in variables:
        if var.unit is None or var.range is None:
            continue
        node = client.get_node(nodeids[var.path])
        type_def = await node.read_type_definition()
        if type_def not in _ANALOG_TYPES:
            problems.append(f"{var.path}: type {type_def}, expected AnalogItemType")
        if ranges[var.path] is None:
            problems.append(f"{var.path}: EURange missing")
        else:
            rng = await client.get_node(ranges[var.path]).read_value()
            if not isinstance(rng, ua.Range) or (rng.Low, rng.High) != (var.range.low, var.range.high):
                problems.append(f"{var.path}: EURange {rng}, expected [{var.range.low}, {var.range.high}]")
        if units[var.path] is None:
            problems.append(f"{var.path}: EngineeringUnits missing")
        else:
            eu = await client.get_node(units[var.path]).read_value()
            if not isinstance(eu, ua.EUInformation) or eu.UnitId != var.unit.unit_id \
                    or eu.NamespaceUri != UNECE_NAMESPACE:
                problems.append(f"{var.path}: EngineeringUnits {eu}, expected UNECE {var.unit.code} "
                                f"({var.unit.display})")
    return problems


async def _check_method(client: Client, meth: MethodSpec, nodeid: ua.NodeId, ns: int) -> list[str]:
    node = client.get_node(nodeid)
    if await node.read_node_class() != ua.NodeClass.Method:
        return [f"{meth.path}: not a Method"]
    problems = []
    executable = await node.read_attribute(ua.AttributeIds.Executable)
    if not (executable.Value is not None and executable.Value.Value):
        problems.append(f"{meth.path}: not executable")
    try:
        arguments = await (await node.get_child(ua.QualifiedName("InputArguments", 0))).read_value()
    except UaStatusCodeError:
        arguments = []
    if len(arguments) != len(meth.inputs):
        problems.append(f"{meth.path}: {len(arguments)} input arguments, expected {len(meth.inputs)}")
    else:
        for arg, spec_arg in zip(arguments, meth.inputs):
            problems += await _check_data_type(client, f"{meth.path}:{spec_arg.name}", spec_arg.data_type,
                                               arg.DataType)
    parent = (await resolve_paths(client, [meth.path.rsplit("/", 1)[0]], ns))[meth.path.rsplit("/", 1)[0]]
    probe = [_ua.encode(a.name, a.data_type, VariableSpec("probe", a.data_type).default) for a in meth.inputs]
    try:
        await client.get_node(parent).call_method(nodeid, *probe, ua.Variant(0, ua.VariantType.Int32))
        problems.append(f"{meth.path}: accepted {len(meth.inputs) + 1} arguments, expected BadTooManyArguments")
    except BadTooManyArguments:
        pass
    except UaStatusCodeError as exc:
        problems.append(f"{meth.path}: call with too many arguments answered {exc!r}, "
                        f"expected BadTooManyArguments")
    return problems
