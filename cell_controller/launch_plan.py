"""What launch/cell.launch.py starts for a cell description, as plain data (no ROS imports).

The launch file turns a `LaunchPlan` into launch actions; here it is testable where
`launch` and `rclpy` are not installed. The plan holds the processes `cellctl shift`
starts, from this very plan: the twin (`cell-twin --config FILE`, every device), the plant
(`cell-twin --plant --config FILE`, the real sections' endpoints) when the description has a plant
section, and the nodes of `NODES` under the cell's namespace with their parameters.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Union

from cell_controller.core.config import CellConfig, load_cell

PACKAGE = "cell_controller"
TWIN_EXECUTABLE = "cell-twin"
DOMAIN_VARIABLE = "ROS_DOMAIN_ID"

ParameterValue = Union[str, int, bool]

#: node name -> console script (setup.py's entry points)
NODES = {
    "robot_bridge": "cell-robot-bridge",
    "welder_bridge": "cell-welder-bridge",
    "machine_bridge": "cell-machine-bridge",
    "feeder_bridge": "cell-feeder-bridge",
    "policy": "cell-policy",
    "inspection": "cell-inspection",
    "supervisor": "cell-supervisor",
    "mes": "cell-mes",
    "hmi": "cell-hmi",
}
#: nodes that run only when the cell description has their section (mes) or the launch asks for them (hmi)
OPTIONAL_NODES = {"mes": lambda config, hmi: config.mes is not None, "hmi": lambda config, hmi: hmi}
#: nodes whose end does not end the cell: the operator page going away never stops or holds the cell
NONESSENTIAL_NODES = frozenset({"hmi"})


class LaunchArgumentError(ValueError):
    """A launch argument is invalid; the message names it and the value."""

    def __init__(self, argument: str, reason: str):
        self.argument = argument
        super().__init__(f"launch argument {argument}: {reason}")


@dataclass(frozen=True)
class TwinPlan:
    """A device-server process (the twin, or the plant standing in for the shop floor): its name, console
    script, arguments, the devices it serves and the (host, port) each listens on."""

    name: str
    executable: str
    arguments: tuple[str, ...]
    devices: tuple[str, ...]
    endpoints: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class NodePlan:
    """One node: console script, node name, namespace and ROS 2 parameters."""

    name: str
    executable: str
    namespace: str
    parameters: dict[str, ParameterValue]
    #: the cell ends when this node ends (False: the operator page)
    essential: bool = True

    @property
    def ros_arguments(self) -> list[str]:
        """The node's ROS 2 command-line arguments (what launch_ros passes)."""
        params = [arg for k, v in self.parameters.items() for arg in ("-p", f"{k}:={_ros_value(v)}")]
        return ["--ros-args", "-r", f"__node:={self.name}", "-r", f"__ns:={self.namespace}", *params]


def _ros_value(value: ParameterValue) -> str:
    """A parameter value as ROS 2 writes it on the command line (booleans lower-case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class LaunchPlan:
    """Everything the launch file starts for one cell description."""

    config: CellConfig
    #: environment variables to set before any process starts
    environment: dict[str, str]
    twin: TwinPlan
    #: the plant (`cell-twin --plant`) when the description has a plant section, else None
    plant: TwinPlan | None
    nodes: tuple[NodePlan, ...]


def parse_parts(text: str) -> int:
    """The `parts` launch argument: a whole number of parts >= 0 (0: the description's parts_per_shift)."""
    try:
        parts = int(text)
    except ValueError:
        parts = -1
    if parts < 0:
        raise LaunchArgumentError("parts", f"expected a whole number of parts >= 0 "
                                  f"(0: cell.parts_per_shift of the cell description), got {text!r}")
    return parts


def parse_flag(argument: str, text: str) -> bool:
    """A true/false launch argument (`auto_start`, `hmi`)."""
    if text.strip().lower() not in ("true", "false"):
        raise LaunchArgumentError(argument, f"expected true or false, got {text!r}")
    return text.strip().lower() == "true"


def launch_plan(config_path: str | Path, parts: int, environ: Mapping[str, str], auto_start: bool = True,
                hmi: bool = False) -> LaunchPlan:
    """The plan for the cell description at `config_path`.

    `parts` 0 takes cell.parts_per_shift; `auto_start` False: the supervisor waits in Stopped for an
    operator's or the MES's Reset and Start; `hmi`: the operator page runs too (`cell-hmi`, at
    hmi.bind of the description); `environ` is the launch's environment:
    ROS_DOMAIN_ID is set from cell.domain_id only when it holds none.
    Raises ConfigError (naming file and key) for a bad description.
    """
    config = load_cell(config_path)
    # the twin serves every device, whatever its backend: a swap to twin or shadow needs it up
    twin = TwinPlan("twin", TWIN_EXECUTABLE, ("--config", str(config.path)), tuple(config.devices),
                    tuple(d.host_port for d in config.devices.values()))
    real = [d for d in config.devices.values() if d.real is not None]
    plant = TwinPlan("plant", TWIN_EXECUTABLE, ("--plant", "--config", str(config.path)), tuple(d.name for d in real),
                     tuple(d.real.host_port for d in real)) if config.plant is not None and real else None
    common: dict[str, ParameterValue] = {"cell_config": str(config.path)}
    own: dict[str, dict[str, ParameterValue]] = {"supervisor": {"parts": parts or config.parts_per_shift,
                                                                "auto_start": auto_start}}
    nodes = tuple(NodePlan(name, script, config.namespace, {**common, **own.get(name, {})},
                           essential=name not in NONESSENTIAL_NODES)
                  for name, script in NODES.items() if OPTIONAL_NODES.get(name, lambda c, h: True)(config, hmi))
    environment = {} if DOMAIN_VARIABLE in environ else {DOMAIN_VARIABLE: str(config.domain_id)}
    return LaunchPlan(config, environment, twin, plant, nodes)
