"""ROS 2 command-line subset, params files and parameter declaration."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cell_controller.bus import ParameterError
from cell_controller.bus.args import node_config, node_pattern_matches, parse_ros_args

PARAMS = """
/**:
  ros__parameters:
    rate_hz: 50.0
    frame: world
robot_bridge:
  ros__parameters:
    limits:
      speed_mm_s: 250
      names: [a, b]
    enabled: true
cell:
  robot_bridge:
    ros__parameters:
      rate_hz: 125
"""


@pytest.fixture()
def params_file(tmp_path: Path) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    return str(path)


def test_parse_sections_and_flags() -> None:
    args = parse_ros_args(["prog", "x", "--ros-args", "-r", "__node:=n2", "--remap", "__ns:=/cell",
                           "-p", "a:=1", "--param", "b:=[1, 2.5]", "--log-level", "debug",
                           "--disable-rosout-logs", "--", "y", "--ros-args", "-e", "/enc"])
    assert (args.node_name, args.namespace, args.enclave, args.rosout_logs) == ("n2", "/cell", "/enc", False)
    assert {k: v.value for k, v in args.params.items()} == {"a": 1, "b": [1.0, 2.5]}
    assert args.log_levels == {"": logging.DEBUG}
    assert args.non_ros_args == ["prog", "x", "y"]


@pytest.mark.parametrize("argv, match", [
    (["--ros-args", "--frobnicate", "1"], "--frobnicate"),
    (["--ros-args", "-p"], "'-p' needs a value"),
    (["--ros-args", "-p", "novalue"], "'novalue'"),
    (["--ros-args", "-p", "bad-name:=1"], "'bad-name'"),
    (["--ros-args", "-p", "x:={a: 1}"], "'x'"),
    (["--ros-args", "-p", "x:=[1, a]"], "'x' mixes"),
    (["--ros-args", "--log-level", "loud"], "'loud'"),
    (["--ros-args", "-r", "a"], "'a'"),
])
def test_bad_arguments(argv: list[str], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        parse_ros_args(argv)


def test_params_file_precedence_wildcards_and_flattening(params_file: str) -> None:
    root = node_config("robot_bridge", ["--ros-args", "--params-file", params_file, "-p", "frame:=tool0"])
    p = root.parameters
    assert p.declare("rate_hz", 10.0) == 50.0
    assert p.declare("frame", "") == "tool0"  # -p beats the file
    assert p.declare("limits.speed_mm_s", 100.0) == 250.0  # int accepted for a float, as float
    assert isinstance(p.declare("enabled", False), bool)
    assert p.declare("limits.names", ["x"]) == ["a", "b"]
    assert p.declare("undeclared_default", 3) == 3
    p.reject_undeclared()
    namespaced = node_config("robot_bridge", ["--ros-args", "-r", "__ns:=/cell", "--params-file", params_file])
    assert namespaced.fq_name == "/cell/robot_bridge"
    assert namespaced.parameters.declare("rate_hz", 1.0) == 125.0  # '/cell/robot_bridge' entry, later
    namespaced.parameters.declare("frame", "")
    namespaced.parameters.reject_undeclared()  # the '/robot_bridge' entry does not apply to it


def test_mistyped_and_unknown_name_the_file_and_key(params_file: str) -> None:
    p = node_config("robot_bridge", ["--ros-args", "--params-file", params_file]).parameters
    with pytest.raises(ParameterError, match=rf"{params_file}.*'frame' must be int"):
        p.declare("frame", 3)
    with pytest.raises(ParameterError, match=r"'rate_hz' must be int.*50\.0"):
        p.declare("rate_hz", 3)  # a float never narrows to int
    with pytest.raises(ParameterError, match="'enabled' must be int"):
        p.declare("enabled", 1)  # bool is not an int
    with pytest.raises(ParameterError, match="declared twice"):
        p.declare("limits.names", [""])
        p.declare("limits.names", [""])
    with pytest.raises(ParameterError, match=r"unknown parameter.*'limits.speed_mm_s' from params file " + params_file):
        p.reject_undeclared()
    with pytest.raises(ParameterError, match="typed default"):
        p.declare("x", None)


@pytest.mark.parametrize("text, match", [
    ("robot_bridge: [1, 2]", "key 'robot_bridge' must hold"),
    ("- a", "top level must be a mapping"),
    ("ros__parameters: {a: 1}", "must sit under a node name"),
    ("n:\n  ros__parameters: 3", "key 'n/ros__parameters' must be a mapping"),
    ("n:\n  ros__parameters:\n    a: [{b: 1}]", r"'a' has unsupported value"),
    ("n: {ros__parameters: {a: 1}", "not valid YAML"),
])
def test_bad_params_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=rf"params file {path}.*{match}"):
        node_config("n", ["--ros-args", "--params-file", str(path)])


def test_missing_params_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ParameterError, match=rf"params file {missing}: cannot read"):
        node_config("n", ["--ros-args", "--params-file", str(missing)])


@pytest.mark.parametrize("pattern, name, ok", [
    ("/**", "/a/b/c", True), ("/**", "/n", True), ("/n", "/n", True), ("/n", "/ns/n", False),
    ("/**/n", "/ns/n", True), ("/**/n", "/n", True), ("/*/n", "/ns/n", True), ("/*/n", "/n", False),
    ("/ns/*", "/ns/x", True), ("/ns/*", "/ns/x/y", False),
])
def test_node_pattern_matching(pattern: str, name: str, ok: bool) -> None:
    assert node_pattern_matches(pattern, name) is ok


def test_log_level_per_logger() -> None:
    config = node_config("n", ["--ros-args", "-r", "__ns:=/cell", "--log-level", "cell.n:=warn",
                               "--log-level", "other:=debug"])
    assert config.logger_name == "cell.n" and config.log_level() == logging.WARNING


EXAMPLE = str(Path(__file__).parents[2] / "config" / "params.yaml")
CELL_NODES = ["robot_bridge", "welder_bridge", "machine_bridge", "feeder_bridge", "supervisor", "policy"]


@pytest.mark.parametrize("name", CELL_NODES)
def test_example_params_file_fits_every_cell_node(name: str) -> None:
    p = node_config(name, ["--ros-args", "-r", "__ns:=/cell", "--params-file", EXAMPLE]).parameters
    assert p.declare("cell_config", "") == "config/cell.yaml"
    if name == "supervisor":
        assert (p.declare("parts", 0), p.declare("auto_start", False), p.declare("journal", "x")) == (0, True, "")
    p.reject_undeclared()


@pytest.mark.parametrize("override, match", [
    ("parts:=many", r"argument '-p parts:=many': parameter 'parts' must be int .* got str 'many'"),
    ("auto_start:=1", r"parameter 'auto_start' must be bool"),
    ("prats:=3", r"node /cell/supervisor: unknown parameter\(s\): 'prats' from argument '-p prats:=3'"),
])
def test_example_params_with_bad_override(override: str, match: str) -> None:
    """The supervisor's declarations, as nodes/supervisor.py makes them, against a bad `-p`."""
    p = node_config("supervisor", ["--ros-args", "-r", "__ns:=/cell", "--params-file", EXAMPLE,
                                   "-p", override]).parameters
    with pytest.raises(ParameterError, match=match):
        for name, default in (("cell_config", ""), ("parts", 0), ("auto_start", True), ("journal", "")):
            p.declare(name, default)
        p.reject_undeclared()
