"""launch/cell.launch.py: its plan (testable without ROS) matches what `cellctl shift` starts."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from cell_controller import cli, launch_plan as launch_plan_module
from cell_controller.core.config import ConfigError, load_cell
from cell_controller.launch_plan import LaunchArgumentError, LaunchPlan, launch_plan, parse_flag, parse_parts
from cell_controller.testing import free_ports, plant_section, real_device_security

REPO = Path(__file__).resolve().parents[1]
CELL_YAML = REPO / "config/cell.yaml"
LAUNCH_FILE = REPO / "launch/cell.launch.py"


@pytest.fixture
def cell_file(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """A copy of config/cell.yaml changed by `edit(data)`."""

    def make(edit: Callable[[dict[str, Any]], None]) -> Path:
        data = yaml.safe_load(CELL_YAML.read_text())
        edit(data)
        path = tmp_path / "cell.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


class _TwinSpawned(Exception):
    """Stops `Cell.start_servers` once it has spawned, before it waits for the twin's ports."""


def cellctl_argv(plan: LaunchPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The command line of every process `cellctl shift` starts for the plan's description and parts."""
    spawned: dict[str, list[str]] = {}

    def spawn(cell: cli.Cell, name: str, argv: list[str]) -> None:
        spawned[name] = argv
        if name == "twin":
            raise _TwinSpawned

    monkeypatch.setattr(cli.Cell, "_spawn", spawn)
    cell = cli.Cell(plan, tmp_path / "logs")
    with pytest.raises(_TwinSpawned):
        cell.start_servers()
    cell.start_nodes()
    return spawned


def ros_args(argv: list[str]) -> tuple[str, dict[str, str]]:
    """(namespace, parameters) from `--ros-args -r __ns:=NS -p name:=value ...`."""
    rest = argv[argv.index("--ros-args") + 1:]
    pairs = dict(zip(rest[::2], rest[1::2]))
    params = dict(value.split(":=", 1) for flag, value in zip(rest[::2], rest[1::2]) if flag == "-p")
    return pairs["-r"].removeprefix("__ns:="), params


def test_plan_for_the_shipped_description_is_what_cellctl_starts(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    plan = launch_plan(CELL_YAML, 0, {})
    config = load_cell(CELL_YAML)
    spawned = cellctl_argv(plan, tmp_path, monkeypatch)

    assert plan.twin is not None
    assert plan.twin.devices == ("robot", "welder", "machine", "feeder")
    assert [Path(spawned["twin"][0]).name, *spawned["twin"][1:]] == [plan.twin.executable, *plan.twin.arguments]
    assert [(n.name, n.executable) for n in plan.nodes] == [
        (name, script) for name, script in launch_plan_module.NODES.items() if name != "hmi"]
    for node in plan.nodes:
        argv = spawned[node.name]
        assert Path(argv[0]).name == node.executable
        assert node.namespace == config.namespace == "/cell"
        assert ros_args(argv) == (node.namespace, {k: str(v).lower() if isinstance(v, bool) else str(v)
                                                   for k, v in node.parameters.items()})
    supervisor = next(n for n in plan.nodes if n.name == "supervisor")
    assert supervisor.parameters == {"cell_config": str(config.path), "parts": config.parts_per_shift,
                                     "auto_start": True}
    manual = launch_plan(CELL_YAML, 0, {}, auto_start=False)
    assert next(n for n in manual.nodes if n.name == "supervisor").parameters["auto_start"] is False


def test_flag_arguments() -> None:
    assert parse_flag("auto_start", "false") is False and parse_flag("hmi", "TRUE") is True
    with pytest.raises(LaunchArgumentError, match="launch argument auto_start: expected true or false"):
        parse_flag("auto_start", "maybe")


def test_the_operator_page_runs_when_asked_and_is_not_essential(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    plan = launch_plan(CELL_YAML, 0, {}, hmi=True)
    hmi = next(n for n in plan.nodes if n.name == "hmi")
    assert (hmi.executable, hmi.essential) == ("cell-hmi", False)
    assert all(n.essential for n in plan.nodes if n.name != "hmi")
    assert Path(cellctl_argv(plan, tmp_path, monkeypatch)["hmi"][0]).name == "cell-hmi"


def test_parts_argument_overrides_the_description() -> None:
    plan = launch_plan(CELL_YAML, parse_parts("5"), {})
    assert {n.name: n.parameters.get("parts") for n in plan.nodes}["supervisor"] == 5


@pytest.mark.parametrize("text", ["-1", "five", "2.5", ""])
def test_bad_parts_argument_names_it(text: str) -> None:
    with pytest.raises(LaunchArgumentError, match=r"launch argument parts: .*got"):
        parse_parts(text)


def test_domain_id_comes_from_the_description_unless_the_environment_has_one(cell_file) -> None:
    path = cell_file(lambda d: d["cell"].update(domain_id=42))
    assert launch_plan(path, 0, {}).environment == {"ROS_DOMAIN_ID": "42"}
    assert launch_plan(path, 0, {"ROS_DOMAIN_ID": "7"}).environment == {}


def _real(folder: Path, *names: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["twin"]["time_scale"] = 1  # real devices run in real time
        for name, port in zip(names, free_ports(len(names))):
            data["devices"][name].update(backend="real", real={"endpoint": f"opc.tcp://127.0.0.1:{port}",
                                                               "security": real_device_security(folder)})
    return edit


def test_the_twin_serves_every_device_whatever_its_backend(cell_file, tmp_path: Path) -> None:
    """A real device's twin is served too: a swap to twin or shadow needs it up."""
    for names in (("welder",), ("robot", "welder", "machine", "feeder")):
        plan = launch_plan(cell_file(_real(tmp_path, *names)), 0, {})
        assert plan.twin is not None and plan.twin.devices == ("robot", "welder", "machine", "feeder")
        assert [n.name for n in plan.nodes] == [n for n in launch_plan_module.NODES if n != "hmi"]  # every bridge runs
        assert plan.plant is None, "no plant section: the real devices are the shop floor's"


def test_a_plant_section_starts_the_plant_on_the_real_endpoints(cell_file, tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        _real(tmp_path, "welder")(data)
        data["plant"] = plant_section(tmp_path)
    plan = launch_plan(cell_file(edit), 0, {})
    assert plan.plant is not None and plan.plant.devices == ("welder",)
    assert plan.plant.arguments[0] == "--plant" and plan.plant.endpoints == (plan.config.device("welder").real.host_port,)


def test_bad_description_names_file_and_key(cell_file) -> None:
    path = cell_file(lambda d: d["devices"]["robot"].update(backend="simulated"))
    with pytest.raises(ConfigError) as error:
        launch_plan(path, 0, {})
    assert (error.value.file, error.value.key) == (str(path), "devices.robot.backend")
    assert str(path) in str(error.value) and "devices.robot.backend" in str(error.value)


def test_launch_file_defines_generate_launch_description_and_uses_the_plan() -> None:
    tree = ast.parse(LAUNCH_FILE.read_text(), str(LAUNCH_FILE))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("cell_controller.launch_plan", "launch_plan") in imported
    for module, name in imported:  # the launch file's imports from this package exist
        if module == "cell_controller.launch_plan":
            assert hasattr(launch_plan_module, name), name
        elif module == "cell_controller.cli":
            assert hasattr(cli, name), name
    assert LAUNCH_FILE.name.endswith(".launch.py")  # installed by setup.py's data_files glob
