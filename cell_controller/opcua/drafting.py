"""`draft_mapping`: a first mapping file for a vendor's server, proposed by browsing it.

The server's Objects tree is browsed breadth-first (at most `MAX_DEPTH` levels, `MAX_NODES` nodes);
every node whose browse names all lie in one namespace other than 0 is a candidate. Each variable of
our spec is scored against every candidate variable: browse-name similarity (difflib on the names
split into words: the leaf weighs most, the parents' names and a trailing number such as an axis
index count too), data type (incompatible types are never proposed), write access and, where the
server gives EngineeringUnits, unit compatibility (another dimension is never proposed; a factor
follows from `mapping.UNITS`). Methods are scored by name and input argument count. Pairs are taken
best first, each candidate once, per vendor namespace; the namespace that matches most wins.

The draft is YAML for `mapping.load_mapping`, with a header comment, ``# check:`` where a guess
deserves a look and ``# TODO: no match`` (value null) where nothing fitted: it loads only once
every TODO is resolved. Enumeration members are proposed by name the same way.
"""
from __future__ import annotations

import asyncio
import difflib
import re
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from asyncua import Client, ua

from .address_space import DeviceSpec, EnumSpec, MethodSpec, Unit, VariableSpec, spec_for
from .checker import _enum_members
from .client import ClientSecurity, DeviceUnreachableError, close_client, open_client
from .mapping import UNITS, _type_name, factor_between, unit_info

MAX_DEPTH = 10
MAX_NODES = 5000
#: a pair scoring below this is no match; below CONFIDENT_SCORE it is marked "# check:"
MIN_SCORE = 0.5
CONFIDENT_SCORE = 0.8

_INTEGERS = {ua.ObjectIds.SByte, ua.ObjectIds.Byte, ua.ObjectIds.Int16, ua.ObjectIds.UInt16, ua.ObjectIds.Int32,
             ua.ObjectIds.UInt32, ua.ObjectIds.Int64, ua.ObjectIds.UInt64}
#: our scalar type -> the ns=0 DataTypes a vendor variable may have to be proposed (the first: exact)
_COMPATIBLE = {"Double": (ua.ObjectIds.Double, ua.ObjectIds.Float),
               "Int32": (ua.ObjectIds.Int32, *_INTEGERS), "UInt32": (ua.ObjectIds.UInt32, *_INTEGERS),
               "Boolean": (ua.ObjectIds.Boolean,), "String": (ua.ObjectIds.String, ua.ObjectIds.LocalizedText)}


@dataclass
class _Node:
    """A candidate node of the vendor's server."""

    path: str
    ns: int
    node_class: ua.NodeClass
    nodeid: ua.NodeId
    properties: dict[str, ua.NodeId] = field(default_factory=dict)
    data_type: ua.NodeId | None = None
    writable: bool = False
    unit: Unit | None = None
    enum: EnumSpec | None = None
    inputs: int = 0


@dataclass
class _Match:
    node: _Node
    score: float
    notes: list[str]


async def draft_mapping(endpoint: str, kind: str, *, security: ClientSecurity | None = None,
                        timeout_s: float = 5.0) -> tuple[str, list[str]]:
    """Browse the server at `endpoint` and draft a mapping of `kind`'s spec onto it (see the module
    docstring): (the YAML text, our paths of the variables and methods it found no node for).

    Raises ValueError for an unknown kind, client.DeviceUnreachableError when no session is up within
    timeout_s (s) or the link fails, or browsing takes longer than 4 x timeout_s.
    """
    spec = spec_for(kind)
    client = await open_client(endpoint, spec, timeout_s, security)
    try:
        try:
            nodes = await asyncio.wait_for(_browse(client), timeout_s * 4)
            namespaces = await client.get_namespace_array()
        except (OSError, asyncio.TimeoutError, ua.UaError) as error:
            raise DeviceUnreachableError(f"browsing {endpoint} failed: {error!r}") from error
        best: tuple[int, float, int, dict[str, _Match]] | None = None
        for ns in sorted({n.ns for n in nodes}):
            matches = _assign(spec, [n for n in nodes if n.ns == ns])
            rank = (len(matches), sum(m.score for m in matches.values()), ns, matches)
            if best is None or rank[:2] > best[:2]:
                best = rank
        matches = best[3] if best else {}
    finally:
        await close_client(client)
    uri = namespaces[best[2]] if best else None
    unmatched = [p for p in _our_paths(spec) if p not in matches]
    return _render(endpoint, spec, uri, matches, unmatched), unmatched


def map_device_main(endpoint: str, kind: str, output_path: str | Path | None = None, *,
                    security: ClientSecurity | None = None, timeout_s: float = 5.0) -> int:
    """`cellctl map-device ENDPOINT --kind KIND [-o FILE]`: draft a mapping onto stdout or into a new FILE.

    Exit codes: 0 drafted (what found no node is listed on stderr), 2 bad input (an unknown kind, an
    endpoint not opc.tcp://, FILE already there or unwritable) or the server unreachable.
    """
    def fail(reason: str) -> int:
        print(f"map-device: {reason}", file=sys.stderr)
        return 2

    try:
        spec = spec_for(kind)
    except ValueError as error:
        return fail(str(error))
    if not endpoint.startswith("opc.tcp://"):
        return fail(f"{endpoint!r} is not an opc.tcp:// endpoint")
    output = Path(output_path) if output_path is not None else None
    if output is not None and output.exists():
        return fail(f"{output} exists; a draft never overwrites a mapping (choose another file)")
    try:
        text, unmatched = asyncio.run(draft_mapping(endpoint, kind, security=security, timeout_s=timeout_s))
    except DeviceUnreachableError as error:
        return fail(str(error))
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text)
        except OSError as error:
            return fail(f"cannot write {output}: {error.strerror or error}")
    total = len(_our_paths(spec))
    print(f"map-device: matched {total - len(unmatched)} of {total} {kind} variables and methods"
          + (f"; no match for: {', '.join(unmatched)}" if unmatched else ""), file=sys.stderr)
    return 0


def _our_paths(spec: DeviceSpec) -> list[str]:
    return [v.path for v in spec.variables] + [m.path for m in spec.methods]


# --- browsing -------------------------------------------------------------------------------------

async def _browse(client: Client) -> list[_Node]:
    """Every node below Objects (bounded) whose browse names share one namespace other than 0, with its
    DataType, write access, EngineeringUnits and input argument count read."""
    found: dict[ua.NodeId, _Node] = {}
    queue: deque[tuple[ua.NodeId, _Node | None, int]] = deque([(ua.NodeId(ua.ObjectIds.ObjectsFolder), None, 0)])
    while queue and len(found) < MAX_NODES:
        nodeid, parent, depth = queue.popleft()
        try:
            children = await client.get_node(nodeid).get_children_descriptions(refs=ua.ObjectIds.HierarchicalReferences)
        except ua.UaStatusCodeError:  # a node the server will not browse (access, gone): skip it
            continue
        for ref in children:
            name = ref.BrowseName
            child = ua.NodeId(ref.NodeId.Identifier, ref.NodeId.NamespaceIndex, ref.NodeId.NodeIdType)
            if name.NamespaceIndex == 0:
                if parent is not None:
                    parent.properties[name.Name] = child  # EURange, EngineeringUnits, InputArguments, ...
                continue
            if child in found or "/" in name.Name or (parent is not None and name.NamespaceIndex != parent.ns):
                continue
            node = _Node(f"{parent.path}/{name.Name}" if parent else name.Name, name.NamespaceIndex,
                         ref.NodeClass, child)
            found[child] = node
            if depth + 1 < MAX_DEPTH:
                queue.append((child, node, depth + 1))
    nodes = list(found.values())
    await _read_details(client, nodes)
    return nodes


async def _read_details(client: Client, nodes: list[_Node]) -> None:
    variables = [n for n in nodes if n.node_class == ua.NodeClass.Variable]
    ids = [n.nodeid for n in variables]
    if ids:
        data_types = await client.uaclient.read_attributes(ids, ua.AttributeIds.DataType)
        access = await client.uaclient.read_attributes(ids, ua.AttributeIds.AccessLevel)
        for node, data_type, level in zip(variables, data_types, access):
            node.data_type = data_type.Value.Value if data_type.Value is not None else None
            mask = level.Value.Value if level.Value is not None else 0
            node.writable = bool(mask & ua.AccessLevel.CurrentWrite.mask)
    with_units = [n for n in variables if "EngineeringUnits" in n.properties]
    for node, eu in zip(with_units, await _values(client, [n.properties["EngineeringUnits"] for n in with_units])):
        if isinstance(eu, ua.EUInformation) and eu.UnitId > 0:
            node.unit = _unit_of(eu)
    enums: dict[ua.NodeId, EnumSpec | None] = {}
    for node in variables:
        if node.data_type is not None and node.data_type.NamespaceIndex != 0:
            if node.data_type not in enums:
                enums[node.data_type] = await _enum(client, node.data_type)
            node.enum = enums[node.data_type]
    methods = [n for n in nodes if n.node_class == ua.NodeClass.Method and "InputArguments" in n.properties]
    for node, arguments in zip(methods, await _values(client, [n.properties["InputArguments"] for n in methods])):
        node.inputs = len(arguments or [])


async def _values(client: Client, ids: list[ua.NodeId]) -> list[object]:
    if not ids:
        return []
    values = await client.uaclient.read_attributes(ids, ua.AttributeIds.Value)
    return [dv.Value.Value if dv.Value is not None else None for dv in values]


async def _enum(client: Client, data_type: ua.NodeId) -> EnumSpec | None:
    """The enumeration DataType `data_type` (None: not one, or its members unreadable)."""
    try:
        name = (await client.get_node(data_type).read_browse_name()).Name
        members = await _enum_members(client, data_type)
    except ua.UaError:
        return None
    return EnumSpec(name, tuple(members)) if members else None


def _unit_of(eu: ua.EUInformation) -> Unit:
    """The Unit an EUInformation names: the UnitId's bytes are the UNECE code (OPC UA Part 8)."""
    code = eu.UnitId.to_bytes(4, "big").lstrip(b"\0").decode("ascii", "replace")
    display = eu.DisplayName.Text if eu.DisplayName and eu.DisplayName.Text else code
    known = unit_info(Unit(code, "", ""))
    return known.unit if known is not None else Unit(code, display, display)


# --- scoring --------------------------------------------------------------------------------------

def _words(name: str) -> str:
    """A browse name as lower-case words: "TcpPositionX" -> "tcp position x", "CYCLE_DONE" -> "cycle done"."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name))
    return " ".join(re.findall(r"[a-z]+|\d+", spaced.lower()))


#: OPC UA DI grouping objects: they say nothing of what lies below them
_NOISE_NAMES = {"ParameterSet", "MethodSet"}
#: what devices call the same thing (phrases first): vendor words -> ours
_PHRASES = {"alive counter": "heartbeat", "life counter": "heartbeat", "life sign": "heartbeat",
            "e stop": "emergency stop", "estop": "emergency stop", "product name": "model"}
_SYNONYMS = {"velocity": "speed", "vel": "speed", "cmd": "setpoint", "command": "setpoint", "target": "setpoint",
             "avg": "mean", "average": "mean", "counter": "count", "cnt": "count", "no": "number", "nr": "number",
             "id": "number", "pos": "position", "vendor": "manufacturer", "maker": "manufacturer",
             "host": "controller", "monitor": "actual", "log": "result", "status": "state",
             "error": "fault", "alarm": "fault", "standby": "idle"}


def _tokens(name: str) -> list[str]:
    """The words of a browse name in their common form (synonyms mapped, plurals made singular)."""
    text = f" {_words(name)} "
    for phrase, ours in _PHRASES.items():
        text = text.replace(f" {phrase} ", f" {ours} ")
    words = [_SYNONYMS.get(w, w) for w in text.split()]
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


def _similarity(ours: list[str], theirs: list[str]) -> float:
    """The better of two likenesses of word lists: difflib on the letters, and the share of words in common."""
    if not ours or not theirs:
        return 0.0
    letters = difflib.SequenceMatcher(None, " ".join(ours), " ".join(theirs)).ratio()
    common = sum(1 for w in ours if w in theirs)
    return max(letters, 2 * common / (len(ours) + len(theirs)))


def _ratio(ours: str, theirs: str) -> float:
    return _similarity(_tokens(ours), _tokens(theirs))


def _name_score(ours: str, theirs: str) -> float:
    """Similarity of two paths: the leaves (alone or with their parent's name) weigh 3/4, the other
    parents 1/4; differing trailing numbers (an axis index) rule a pair out, equal ones add a little."""
    mine = [_tokens(n) for n in ours.split("/") if n not in _NOISE_NAMES]
    their = [_tokens(n) for n in theirs.split("/") if n not in _NOISE_NAMES]
    leaf = _similarity(mine[-1], their[-1])
    if len(their) > 1:
        leaf = max(leaf, _similarity(mine[-1], their[-2] + their[-1]))
        if len(mine) > 1:
            leaf = max(leaf, _similarity(mine[-2] + mine[-1], their[-2] + their[-1]))
    context = _similarity(sum(mine[:-1], []), sum(their[:-1], []))
    score = 0.75 * leaf + 0.25 * context
    numbers = re.findall(r"\d+", ours), re.findall(r"\d+", theirs)
    if numbers[0] and numbers[1]:
        score += 0.1 if numbers[0][-1] == numbers[1][-1] else -0.5
    return score


def _score_variable(var: VariableSpec, node: _Node) -> _Match | None:
    if node.node_class != ua.NodeClass.Variable or node.data_type is None:
        return None
    notes: list[str] = []
    score = _name_score(var.path, node.path)
    if isinstance(var.data_type, EnumSpec):
        exact = node.enum is not None
        if not exact and node.data_type not in (ua.NodeId(ua.ObjectIds.Int32), ua.NodeId(ua.ObjectIds.Enumeration)):
            return None
        if node.enum is not None:  # members alike make the pair likelier, none alike less likely
            proposed = _member_map(var.data_type, node.enum).values()
            score += 0.4 * sum(m is not None for m in proposed) / len(proposed) - 0.2
    else:
        compatible = _COMPATIBLE[var.data_type]
        if node.data_type.NamespaceIndex != 0 or node.data_type.Identifier not in compatible:
            return None
        exact = node.data_type.Identifier == compatible[0]
    if not exact:
        score -= 0.05
        notes.append(f"DataType {node.data_type}, ours {_type_name(var)}")
    if node.writable != var.writable:
        score -= 0.2
        notes.append(f"the vendor's is {'writable' if node.writable else 'read-only'}")
    if var.unit is not None:
        if node.unit is None:
            notes.append(f"no EngineeringUnits on the server: ours ({var.unit.display}) assumed")
        else:
            try:
                factor = factor_between(var.unit, node.unit)
            except ValueError:
                return None
            if factor is None:
                notes.append(f"unit {node.unit.code} ({node.unit.display}) unknown: set the factor")
            else:
                score += 0.15
    return _Match(node, score, notes)


def _score_method(meth: MethodSpec, node: _Node) -> _Match | None:
    if node.node_class != ua.NodeClass.Method:
        return None
    score, notes = _name_score(meth.path, node.path), []
    if node.inputs != len(meth.inputs):
        score -= 0.3
        notes.append(f"{node.inputs} input arguments, ours {len(meth.inputs)}")
    return _Match(node, score, notes)


def _assign(spec: DeviceSpec, nodes: list[_Node]) -> dict[str, _Match]:
    """Our path -> its match: the best-scoring pairs first, each node at most once."""
    pairs: list[tuple[float, str, _Match]] = []
    for var in spec.variables:
        pairs += [(m.score, var.path, m) for n in nodes if (m := _score_variable(var, n)) and m.score >= MIN_SCORE]
    for meth in spec.methods:
        pairs += [(m.score, meth.path, m) for n in nodes if (m := _score_method(meth, n)) and m.score >= MIN_SCORE]
    matches: dict[str, _Match] = {}
    taken: set[ua.NodeId] = set()
    for _, path, match in sorted(pairs, key=lambda p: -p[0]):
        if path not in matches and match.node.nodeid not in taken:
            matches[path] = match
            taken.add(match.node.nodeid)
    return matches


def _member_map(ours: EnumSpec, vendor: EnumSpec) -> dict[str, str | None]:
    """Our member -> the vendor member most like it (None: none alike), best pairs first, each once."""
    pairs = sorted(((_ratio(o, v), o, v) for o in ours.values for v in vendor.values), reverse=True)
    found: dict[str, str | None] = {}
    for score, mine, theirs in pairs:
        if score >= MIN_SCORE and mine not in found and theirs not in found.values():
            found[mine] = theirs
    return {m: found.get(m) for m in ours.values}


# --- rendering ------------------------------------------------------------------------------------

def _scalar(value: object) -> str:
    """`value` as one YAML flow scalar, quoted where YAML would read it otherwise (OFF, 1.0, a: b)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    return text[:-3].strip() if text.endswith("\n...") else text


def _comment(match: _Match) -> str:
    notes = ([f"similarity {match.score:.2f}"] if match.score < CONFIDENT_SCORE else []) + match.notes
    return f"  # check: {'; '.join(notes)}" if notes else ""


def _render(endpoint: str, spec: DeviceSpec, uri: str | None, matches: dict[str, _Match],
            unmatched: list[str]) -> str:
    total = len(_our_paths(spec))
    lines = [
        f"# Draft mapping of the cell's {spec.kind} address space onto the OPC UA server at {endpoint},",
        "# proposed by `cellctl map-device` from its browse names, data types and engineering units.",
        f"# {total - len(unmatched)} of {total} variables and methods matched. Review every entry: '# check:' marks",
        "# a guess, '# TODO: no match' (null) what found no node. A server shows no direction convention and",
        "# no offset: add `factor: -1` where the vendor's positive is our negative, `offset` where zeros differ;",
        f"# then load it with cell_controller.opcua.mapping.load_mapping(FILE, spec_for({spec.kind!r})).",
        f"kind: {spec.kind}",
        f"namespace_uri: {_scalar(uri)}" + ("" if uri else "  # TODO: no match"),
        "variables:",
    ]
    for var in spec.variables:
        lines += _render_variable(var, matches.get(var.path))
    lines.append("methods:" if spec.methods else "methods: {}")
    for meth in spec.methods:
        match = matches.get(meth.path)
        lines.append(f"  {meth.path}: {_scalar(match.node.path)}{_comment(match)}" if match
                     else f"  {meth.path}: null  # TODO: no match")
    return "\n".join(lines) + "\n"


def _render_variable(var: VariableSpec, match: _Match | None) -> list[str]:
    if match is None:
        return [f"  {var.path}: null  # TODO: no match"]
    node = match.node
    if var.unit is None and not isinstance(var.data_type, EnumSpec):
        return [f"  {var.path}: {_scalar(node.path)}{_comment(match)}"]
    lines = [f"  {var.path}:", f"    path: {_scalar(node.path)}{_comment(match)}"]
    if var.unit is not None and node.unit is not None:
        short = next((name for name, info in UNITS.items() if info.unit.code == node.unit.code), None)
        if short is not None:
            lines.append(f"    unit: {_scalar(short)}")
        else:
            lines.append(f"    unit: {{code: {_scalar(node.unit.code)}, display: {_scalar(node.unit.display)}}}")
            if factor_between(var.unit, node.unit) is None:
                lines.append(f"    factor: null  # TODO: vendor = ours ({var.unit.display}) * factor + offset")
    if isinstance(var.data_type, EnumSpec):
        lines.append("    enum:")
        enum = node.enum
        if enum is None:
            lines.append(f"      map: {{}}  # TODO: the server's enumeration is unreadable; map {', '.join(var.data_type.values)}")
        else:
            lines += [f"      name: {_scalar(enum.name)}", f"      values: {_scalar(list(enum.values))}", "      map:"]
            for mine, theirs in _member_map(var.data_type, enum).items():
                lines.append(f"        {_scalar(mine)}: {_scalar(theirs)}" + ("" if theirs else "  # TODO: no match"))
    return lines
