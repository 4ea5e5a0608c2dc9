"""The subset of ROS 2 command-line arguments that launch_ros passes, and node parameters.

    prog [args] --ros-args [-r|--remap FROM:=TO] [-p|--param NAME:=VALUE]
                           [--params-file FILE] [--log-level [LOGGER:=]LEVEL]
                           [-e|--enclave ENCLAVE] [--enable|--disable-rosout-logs]
                           [--enable|--disable-stdout-logs] [--] [args]

`-r __node:=name` and `-r __ns:=/ns` rename the node; other remaps rename topics.
Parameter values are YAML scalars (or flat lists of them). Params files use
ROS 2's layout (`node: {ros__parameters: {...}}`, with `/**` and `*` wildcards
and namespaces either in the key or as enclosing mappings); nested parameter
mappings flatten to dotted names. Later sources override earlier ones: params
files in command-line order, then `-p`. Every error is a ParameterError naming
the file or argument, the key and the reason.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from cell_controller.bus.api import ParameterError
from cell_controller.bus.names import fully_qualified_node_name, normalize_namespace, resolve_topic, validate_node_name

_PARAMS_KEY = "ros__parameters"
_PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
               "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL}
_FLAGS = {"--enable-rosout-logs": ("rosout_logs", True), "--disable-rosout-logs": ("rosout_logs", False),
          "--enable-stdout-logs": ("stdout_logs", True), "--disable-stdout-logs": ("stdout_logs", False),
          "--enable-external-lib-logs": (None, None), "--disable-external-lib-logs": (None, None)}


@dataclasses.dataclass(frozen=True)
class Override:
    """A parameter value and where it came from (for error messages)."""

    value: Any
    source: str


@dataclasses.dataclass(frozen=True)
class Remap:
    """`-r [NODE:]FROM:=TO`; `node` restricts it to one node name."""

    source: str
    target: str
    node: str | None = None


@dataclasses.dataclass
class RosArgs:
    """What the `--ros-args` sections of a command line say."""

    node_name: str | None = None
    namespace: str | None = None
    remaps: list[Remap] = dataclasses.field(default_factory=list)
    params_files: list[str] = dataclasses.field(default_factory=list)
    params: dict[str, Override] = dataclasses.field(default_factory=dict)
    log_levels: dict[str, int] = dataclasses.field(default_factory=dict)  # '' = every node logger
    enclave: str | None = None
    rosout_logs: bool = True
    stdout_logs: bool = True
    non_ros_args: list[str] = dataclasses.field(default_factory=list)


def parse_ros_args(argv: Iterable[str]) -> RosArgs:
    """Parse every `--ros-args ... [--]` section of `argv` (argv[0] included or not)."""
    out = RosArgs()
    tokens = list(argv)
    i, in_ros = 0, False
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok == "--ros-args":
            in_ros = True
        elif not in_ros:
            out.non_ros_args.append(tok)
        elif tok == "--":
            in_ros = False
        elif tok in _FLAGS:
            attr, value = _FLAGS[tok]
            if attr:
                setattr(out, attr, value)
        else:
            if i >= len(tokens):
                raise ParameterError(f"ROS argument {tok!r} needs a value")
            _apply_option(out, tok, tokens[i])
            i += 1
    return out


def _apply_option(out: RosArgs, option: str, value: str) -> None:
    if option in ("-r", "--remap"):
        head, sep, target = value.partition(":=")
        node, _, source = head.rpartition(":")
        if not sep or not source or not target:
            raise ParameterError(f"remap {value!r}: expected FROM:=TO")
        if source == "__node":
            out.node_name = target
        elif source == "__ns":
            out.namespace = target
        else:
            out.remaps.append(Remap(source, target, node or None))
    elif option in ("-p", "--param"):
        name, sep, text = value.partition(":=")
        if not sep:
            raise ParameterError(f"parameter argument {value!r}: expected NAME:=VALUE")
        source = f"argument '-p {value}'"
        out.params[_check_name(name, source)] = Override(_check_value(name, _yaml_scalar(text, source), source), source)
    elif option == "--params-file":
        out.params_files.append(value)
    elif option == "--log-level":
        logger, _, level = value.rpartition(":=")
        if level.lower() not in _LOG_LEVELS:
            raise ParameterError(f"--log-level {value!r}: level must be one of {sorted(_LOG_LEVELS)}")
        out.log_levels[logger] = _LOG_LEVELS[level.lower()]
    elif option in ("-e", "--enclave"):
        out.enclave = value
    else:
        raise ParameterError(f"unknown ROS argument {option!r} (supported: -r, -p, --params-file, "
                             f"--log-level, -e, {', '.join(_FLAGS)})")


def _yaml_scalar(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{source}: value {text!r} is not valid YAML: {exc}") from None


def _check_name(name: str, source: str) -> str:
    if not _PARAM_NAME_RE.match(name):
        raise ParameterError(f"{source}: invalid parameter name {name!r} (tokens [A-Za-z_][A-Za-z0-9_]* joined by '.')")
    return name


def _check_value(name: str, value: Any, source: str) -> Any:
    """Accept bool/int/float/str or a list of one of them (ints may mix with floats)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and all(isinstance(v, (bool, int, float, str)) for v in value):
        kinds = {_kind(v) for v in value}
        if len(kinds) <= 1 or kinds == {int, float}:
            return [float(v) for v in value] if kinds == {int, float} else value
        raise ParameterError(f"{source}: parameter {name!r} mixes element types {sorted(k.__name__ for k in kinds)}")
    raise ParameterError(f"{source}: parameter {name!r} has unsupported value {value!r} "
                         "(use a bool, int, float, string or a list of one of these)")


def _kind(value: Any) -> type:
    """bool, int, float or str (bool is not an int here)."""
    return bool if isinstance(value, bool) else type(value)


def load_params_file(path: str) -> list[tuple[str, dict[str, Override]]]:
    """The (node pattern, parameters) entries of a ROS 2 params file, in file order."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError(f"params file {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"params file {path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ParameterError(f"params file {path}: top level must be a mapping of node names, got {type(doc).__name__}")
    entries: list[tuple[str, dict[str, Override]]] = []
    _collect(path, doc, [], entries)
    return entries


def _collect(path: str, doc: dict, prefix: list[str], entries: list[tuple[str, dict[str, Override]]]) -> None:
    for key, body in doc.items():
        where = "/".join(prefix + [str(key)])
        if key == _PARAMS_KEY:
            if not prefix:
                raise ParameterError(f"params file {path}: '{_PARAMS_KEY}' must sit under a node name")
            if not isinstance(body, dict):
                raise ParameterError(f"params file {path}: key '{where}' must be a mapping of parameters")
            pattern = "/" + "/".join(p.strip("/") for p in prefix)
            entries.append((pattern, _flatten(path, pattern, body, "")))
        elif isinstance(body, dict):
            _collect(path, body, prefix + [str(key)], entries)
        else:
            raise ParameterError(f"params file {path}: key '{where}' must hold '{_PARAMS_KEY}' or nested node names")


def _flatten(path: str, pattern: str, body: dict, prefix: str) -> dict[str, Override]:
    out: dict[str, Override] = {}
    for key, value in body.items():
        name = f"{prefix}{key}"
        source = f"params file {path} [{pattern}]"
        if isinstance(value, dict):
            out.update(_flatten(path, pattern, value, name + "."))
        else:
            out[_check_name(name, source)] = Override(_check_value(name, value, source), source)
    return out


def node_pattern_matches(pattern: str, fq_node_name: str) -> bool:
    """ROS 2 params-file node matching: `*` is one name token, `**` any number of them."""
    parts = []
    for token in pattern.strip("/").split("/"):
        parts.append("(/[^/]+)*" if token == "**" else "/" + re.escape(token).replace(r"\*", "[^/]*"))
    return re.fullmatch("".join(parts), fq_node_name) is not None


def node_overrides(args: RosArgs, fq_node_name: str) -> dict[str, Override]:
    """All parameter overrides that apply to the node `fq_node_name` ('/ns/node'), later wins."""
    out: dict[str, Override] = {}
    for path in args.params_files:
        for pattern, params in load_params_file(path):
            if node_pattern_matches(pattern, fq_node_name):
                out.update(params)
    out.update(args.params)
    return out


class Parameters:
    """Declared parameters of one node, checked against the overrides that apply to it."""

    def __init__(self, node: str, overrides: dict[str, Override]) -> None:
        self._node = node
        self._overrides = overrides
        self._values: dict[str, Any] = {}

    def declare(self, name: str, default: Any) -> Any:
        """Declare `name` with `default`; return the override if any, type-checked against the default."""
        source = f"node {self._node}"
        _check_name(name, source)
        if name in self._values:
            raise ParameterError(f"{source}: parameter {name!r} declared twice")
        if default is None:
            raise ParameterError(f"{source}: parameter {name!r} needs a typed default, not None")
        _check_value(name, default, source)
        override = self._overrides.get(name)
        value = default if override is None else _coerce(name, default, override)
        self._values[name] = value
        return value

    def reject_undeclared(self) -> None:
        """Raise ParameterError naming every override that no declare() call consumed."""
        unknown = sorted(set(self._overrides) - set(self._values))
        if unknown:
            detail = "; ".join(f"{n!r} from {self._overrides[n].source}" for n in unknown)
            raise ParameterError(f"node {self._node}: unknown parameter(s): {detail}")


def _coerce(name: str, default: Any, override: Override) -> Any:
    """The override's value if it has the default's type (an int is accepted for a float)."""
    value = override.value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise _mistyped(name, default, override)
        if not default or not value:
            return value
        return [_coerce_scalar(name, default[0], v, override) for v in value]
    return _coerce_scalar(name, default, value, override)


def _coerce_scalar(name: str, default: Any, value: Any, override: Override) -> Any:
    want, got = _kind(default), _kind(value)
    if want is got:
        return value
    if want is float and got is int:
        return float(value)
    raise _mistyped(name, default, override)


def _mistyped(name: str, default: Any, override: Override) -> ParameterError:
    return ParameterError(
        f"{override.source}: parameter {name!r} must be {type(default).__name__} like its default "
        f"{default!r}, got {type(override.value).__name__} {override.value!r}"
    )


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """A node's identity and settings after applying its command line."""

    name: str
    namespace: str
    fq_name: str
    args: RosArgs
    parameters: Parameters

    @property
    def logger_name(self) -> str:
        """ROS 2's logger name for the node: '/cell/robot' -> 'cell.robot'."""
        return self.fq_name.lstrip("/").replace("/", ".")

    def log_level(self) -> int | None:
        """The --log-level that applies to this node's logger, if any."""
        levels = self.args.log_levels
        for key in (self.logger_name, self.name, ""):
            if key in levels:
                return levels[key]
        return None

    def resolve_topic(self, topic: str) -> str:
        """The absolute topic name after namespace resolution and `-r FROM:=TO` remaps."""
        resolved = resolve_topic(topic, self.namespace, self.name)
        for remap in self.args.remaps:
            if remap.node in (None, self.name) and resolve_topic(remap.source, self.namespace, self.name) == resolved:
                return resolve_topic(remap.target, self.namespace, self.name)
        return resolved


def node_config(name: str, argv: Iterable[str]) -> NodeConfig:
    """Parse `argv` for node `name`: renames, namespace and parameter overrides."""
    args = parse_ros_args(argv)
    node = validate_node_name(args.node_name or name)
    namespace = normalize_namespace(args.namespace or "/")
    fq_name = fully_qualified_node_name(namespace, node)
    return NodeConfig(node, namespace, fq_name, args, Parameters(fq_name, node_overrides(args, fq_name)))
