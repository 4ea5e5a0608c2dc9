"""ROS 2 name validation, resolution and the DDS topic mapping."""
from __future__ import annotations

import pytest

from cell_controller.bus.args import node_config
from cell_controller.bus.names import (
    InvalidNameError, dds_topic_name, normalize_namespace, resolve_topic, validate_node_name,
)


@pytest.mark.parametrize("topic, namespace, expected", [
    ("joint_states", "/", "/joint_states"),
    ("joint_states", "/cell/robot", "/cell/robot/joint_states"),
    ("a/b", "/cell", "/cell/a/b"),
    ("/abs/x", "/cell", "/abs/x"),
    ("~/state", "/cell", "/cell/bridge/state"),
    ("~", "/", "/bridge"),
])
def test_resolve(topic: str, namespace: str, expected: str) -> None:
    assert resolve_topic(topic, namespace, "bridge") == expected


@pytest.mark.parametrize("topic", ["", "a//b", "a/", "/", "1abc", "a b", "a-b", "~x", "a/~/b", "{node}/x"])
def test_invalid_topics(topic: str) -> None:
    with pytest.raises(InvalidNameError, match=repr(topic).replace("{", r"\{")):
        resolve_topic(topic, "/", "n")


def test_nodes_namespaces_and_dds_names() -> None:
    assert validate_node_name("robot_bridge") == "robot_bridge"
    for bad in ("", "a/b", "9x", "a.b"):
        with pytest.raises(InvalidNameError, match=repr(bad)):
            validate_node_name(bad)
    assert normalize_namespace("") == "/" and normalize_namespace("cell") == "/cell"
    with pytest.raises(InvalidNameError, match="'/cell/'"):
        normalize_namespace("/cell/")
    assert dds_topic_name("/robot/joint_states") == "rt/robot/joint_states"
    with pytest.raises(InvalidNameError):
        dds_topic_name("relative")


def test_remaps_and_renames() -> None:
    config = node_config("bridge", ["--ros-args", "-r", "__ns:=/cell", "-r", "__node:=robot",
                                    "-r", "cmd:=/shared/cmd", "-r", "other:state:=/nope"])
    assert (config.name, config.namespace, config.fq_name) == ("robot", "/cell", "/cell/robot")
    assert config.resolve_topic("cmd") == "/shared/cmd"
    assert config.resolve_topic("/cell/cmd") == "/shared/cmd"  # FROM matches after resolution
    assert config.resolve_topic("state") == "/cell/state"  # remap for another node
