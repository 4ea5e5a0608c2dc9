"""Generate docs/interfaces.md from the code that defines the interfaces.

Sources: the topic table (cell_controller/nodes/topics.py), the OPC UA address spaces
(cell_controller/opcua/address_space.py), the command lines' argparse help (cellctl,
cell-twin), the node table (launch_plan.NODES) and the ROS 2 parameters the nodes declare,
documented in config/params.yaml (a declared parameter missing there is an error).

    python docs/generate_interfaces.py           # rewrite docs/interfaces.md
    python docs/generate_interfaces.py --check   # exit 1 when docs/interfaces.md is stale
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Callable, Iterable
from unittest import mock

import yaml

from cell_controller import cli, launch_plan
from cell_controller.bus.messages import dds_type_name
from cell_controller.bus.names import dds_topic_name, resolve_topic
from cell_controller.core.config import load_cell
from cell_controller.nodes import topics
from cell_controller.opcua.address_space import (DataType, DeviceSpec, EnumSpec, MethodSpec, VariableSpec,
                                                 feeder_spec, machine_spec, packml_spec, robot_spec,
                                                 twin_control_methods, welder_spec)
from cell_controller.sim.devices import twin_server

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs/interfaces.md"
CELL_YAML = REPO / "config/cell.yaml"
PARAMS_YAML = REPO / "config/params.yaml"
NODES_DIR = REPO / "cell_controller/nodes"
#: argparse wraps help to the terminal width; fix it so the output does not depend on the terminal
HELP_COLUMNS = "100"
#: Python type of a parameter's default -> ROS 2 parameter type
ROS_TYPES = {bool: "bool", int: "integer", float: "double", str: "string"}


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A markdown table; `|` in cells is escaped."""
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- ROS 2 topics ------------------------------------------------------------------------------


def topics_section(namespace: str) -> str:
    rows = []
    for t in topics.ALL_TOPICS:
        absolute = resolve_topic(t.name, namespace, t.publisher)
        content = t.content + (f"; fields: {', '.join(f'`{f}`' for f in t.fields)}" if t.fields else "")
        rows.append((f"`{absolute}`<br>`{dds_topic_name(absolute)}`", f"`{t.type}`<br>`{dds_type_name(t.type)}`",
                     f"{t.qos.reliability.value}, {t.qos.durability.value}, keep last {t.qos.depth}",
                     t.publisher, t.rate, content))
    return "\n".join([
        "## ROS 2 topics",
        "",
        f"Declared in `cell_controller/nodes/topics.py`. Names are relative to the cell's namespace, shown "
        f"resolved under `{namespace}` (config/cell.yaml), with the DDS topic and type names a ROS 2 "
        "rmw uses on the wire. Float64MultiArray topics carry the listed fields in order "
        "(`layout.dim[0].label` names them); the suffix is the unit.",
        "",
        table(("topic (ROS / DDS)", "type (ROS / DDS)", "QoS (reliability, durability, history)", "publisher",
               "rate", "content"), rows),
    ])


# -- OPC UA address spaces ---------------------------------------------------------------------


def type_name(data_type: DataType) -> str:
    return f"{data_type.name} (enum)" if isinstance(data_type, EnumSpec) else data_type


def variable_row(v: VariableSpec) -> tuple[str, ...]:
    unit = f"{v.unit.display} (`{v.unit.code}`)" if v.unit else ""
    rng = f"{v.range.low:g} .. {v.range.high:g}" if v.range else ""
    return f"`{v.path}`", type_name(v.data_type), unit, rng, "yes" if v.writable else "", v.description


def arguments(args: Iterable) -> str:
    return ", ".join(f"{a.name}: {type_name(a.data_type)}" for a in args) or "(none)"


def method_row(m: MethodSpec) -> tuple[str, ...]:
    return f"`{m.path}`", arguments(m.inputs), arguments(m.outputs), m.description


def device_section(title: str, spec: DeviceSpec, doc: str | None) -> str:
    parts = [f"### {title}", "", (doc or "").split("\n\n")[0].replace("\n", " ").strip(), "",
             f"Namespace URI `{spec.namespace_uri}`; paths are browse names below Objects.", "",
             table(("path", "data type", "unit (UNECE)", "range", "writable", "description"),
                   map(variable_row, spec.variables))]
    if spec.methods:
        methods = table(("method", "inputs", "outputs", "description"), map(method_row, spec.methods))
        parts += ["", "Methods:", "", methods]
    enums = [(e.name, ", ".join(f"{i} {name}" for i, name in enumerate(e.values))) for e in spec.enums]
    parts += ["", "Enumerations (Int32 on the wire):", "", table(("enum", "values"), enums)]
    return "\n".join(parts)


def opcua_section() -> str:
    press, cnc = machine_spec("press"), machine_spec("cnc")
    differ = [v.path for v, w in zip(press.variables, cnc.variables) if v.default != w.default]
    builders: list[tuple[str, Callable[[], DeviceSpec]]] = [
        ("robot", robot_spec), ("welder", welder_spec), ("machine (press; cnc alike)", machine_spec),
        ("feeder", feeder_spec), ("the cell, northbound to the MES (`mes` node)", packml_spec)]
    twin_rows = [(role, *method_row(m)) for role in ("robot", "machine", "feeder") for m in twin_control_methods(role)]
    return "\n\n".join([
        "## OPC UA address spaces",
        "Declared in `cell_controller/opcua/address_space.py`; the twin serves them and a real device must "
        "pass `cell_controller/opcua/checker.py` against them. Units are UNECE Rec. 20 codes "
        "(EUInformation), ranges are EURange. Every method returns `Status` (CommandStatus: 0 Accepted, "
        "else why the device refused) and `Reason` (the device's words, empty when accepted). Every device "
        "serves the `Watchdog` object (its life-sign; the controller heartbeat its bridge writes; the "
        f"timeout after which it goes to its safe state). A cnc has the press's address space; only the "
        f"initial values of {', '.join(f'`{p}`' for p in differ)} differ.",
        *(device_section(title, build(), build.__doc__) for title, build in builders),
        "### TwinControl (the twin only)",
        "The twin's servers also have a `TwinControl` object standing for what happens on the shop floor; "
        "real devices have none and bridges never use it.",
        table(("device", "method", "inputs", "outputs", "description"), twin_rows),
    ])


# -- commands ----------------------------------------------------------------------------------


def help_text(main: Callable[[list[str]], object], argv: list[str]) -> str:
    """What `main(argv)` prints for --help."""
    out = io.StringIO()
    with mock.patch.dict(os.environ, {"COLUMNS": HELP_COLUMNS}), contextlib.redirect_stdout(out), \
            contextlib.suppress(SystemExit):
        main(argv)
    return out.getvalue().rstrip()


def fenced(text: str) -> str:
    return f"```text\n{text}\n```"


def declared_parameters() -> dict[str, str]:
    """name -> ROS 2 parameter type of the default, for every `declare_parameter("name", default)` under nodes/."""
    found: dict[str, str] = {}
    for source in sorted(NODES_DIR.glob("*.py")):
        for call in ast.walk(ast.parse(source.read_text(), str(source))):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "declare_parameter" and len(call.args) == 2
                    and all(isinstance(a, ast.Constant) for a in call.args)):
                found[call.args[0].value] = ROS_TYPES[type(call.args[1].value)]
    return found


def parameters_section() -> str:
    """The parameters of config/params.yaml, with the comment on each line, checked against the code."""
    data = yaml.safe_load(PARAMS_YAML.read_text())
    comments = dict(re.findall(r"^\s+(\w+):[^#\n]*#\s*(.*)$", PARAMS_YAML.read_text(), re.MULTILINE))
    declared = declared_parameters()
    entries = [(node, name, value) for node, section in data.items()
               for name, value in section["ros__parameters"].items()]
    documented = {name for _, name, _ in entries}
    if documented != set(declared):
        raise SystemExit(f"{PARAMS_YAML}: out of step with the nodes' declare_parameter calls: "
                         f"undocumented {sorted(set(declared) - documented)}, "
                         f"never declared {sorted(documented - set(declared))}")
    rows = [(f"`{node}`", f"`{name}`", declared[name], f"`{json.dumps(value)}`", comments.get(name, ""))
            for node, name, value in entries]
    return table(("node", "parameter", "type", "value in config/params.yaml", "meaning"), rows)


def commands_section(namespace: str) -> str:
    subcommands = ["shift", "check", "summary", "hmi"]
    nodes = [(f"`{script}`", f"`{namespace.rstrip('/')}/{name}`") for name, script in launch_plan.NODES.items()]
    return "\n\n".join([
        "## Commands",
        "### cellctl",
        (cli.__doc__ or "").split("\n\n")[0].strip(),
        fenced(help_text(cli.main, ["--help"])),
        *(f"#### cellctl {sub}\n\n" + fenced(help_text(cli.main, [sub, "--help"])) for sub in subcommands),
        "Exit codes: " + (cli.__doc__ or "").split("Exit codes:", 1)[1].strip(),
        "### cell-twin",
        fenced(help_text(twin_server.main, ["--help"])),
        "### Node console scripts",
        "Each runs one ROS 2 node; `cellctl shift` and `launch/cell.launch.py` start them as "
        f"`SCRIPT --ros-args -r __ns:={namespace} -p cell_config:=FILE` (the supervisor also `-p parts:=N "
        "-p auto_start:=true|false`), "
        "or give them `--params-file config/params.yaml`.",
        table(("console script", "node"), nodes),
        "### ROS 2 parameters",
        "A misspelt or mistyped parameter stops the node at start-up with an error naming it.",
        parameters_section(),
        "### Launch file",
        "`ros2 launch cell_controller cell.launch.py [cell_config:=FILE] [parts:=N] [auto_start:=true|false] "
        "[hmi:=true|false]` starts the same processes as `cellctl shift` (plan: `cell_controller/launch_plan.py`); "
        "`auto_start:=false` is `cellctl shift --manual-start`, `hmi:=true` is `cellctl shift --hmi`.",
    ])


def hmi_section() -> str:
    """The operator page's HTTP routes, WebSocket requests and messages, from the modules that declare them."""
    from cell_controller.hmi import view, web

    return "\n\n".join([
        "## Operator page (`cell-hmi`)",
        "### HTTP and WebSocket (`cell_controller/hmi/web.py`)",
        (web.__doc__ or "").split("\n\n", 1)[1].strip(),
        "### Messages to the page (`cell_controller/hmi/view.py`)",
        (view.__doc__ or "").split("\n\n", 1)[1].strip(),
    ])


def render() -> str:
    """The whole of docs/interfaces.md."""
    namespace = load_cell(CELL_YAML).namespace
    return "\n\n".join([
        "# Interfaces",
        "Generated by `python docs/generate_interfaces.py` from the code; do not edit by hand "
        "(tests/test_docs.py fails when this file is stale).",
        topics_section(namespace),
        opcua_section(),
        commands_section(namespace),
        hmi_section(),
    ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/interfaces.md differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        stale = not OUTPUT.exists() or OUTPUT.read_text() != text
        print(f"{OUTPUT}: {'stale: run python docs/generate_interfaces.py' if stale else 'up to date'}",
              file=sys.stderr)
        return int(stale)
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
