"""The rclpy adapter: same contract, run only where ROS 2 is installed."""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip(
    "rclpy", reason="rclpy is not installable here (not on PyPI, not in Debian 12); these run on a ROS 2 machine")

from cell_controller.bus import DEFAULT, LATCHED, SENSOR_DATA, ParameterError  # noqa: E402
from cell_controller.bus.ros import RosNode  # noqa: E402


def test_pubsub_latched_params_and_shutdown(tmp_path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters:\n    rate_hz: 100\n    typo: 1\n")
    node = RosNode("ros_probe", ["--ros-args", "-r", "__ns:=/test", "--params-file", str(params)])
    try:
        assert (node.name, node.namespace) == ("ros_probe", "/test")
        assert node.declare_parameter("rate_hz", 50.0) == 100.0
        with pytest.raises(ParameterError, match="'typo'"):
            node.reject_undeclared_parameters()
        got = []
        pub = node.create_publisher("std_msgs/msg/String", "latched", LATCHED)
        pub.publish(node.message("std_msgs/msg/String")(data="last"))
        node.create_subscription("std_msgs/msg/String", "/test/latched", got.append, LATCHED)
        for _ in range(100):
            node.spin_once(0.05)
            if got:
                break
        assert [m.data for m in got] == ["last"]
        assert pub.subscription_count() == 1
        ticks = []
        node.create_timer(0.01, lambda: ticks.append(1))
        node.create_timer(0.2, node.shutdown)
        node.create_publisher("std_msgs/msg/String", "~/x", DEFAULT)
        node.spin()
        assert ticks
    finally:
        node.shutdown()


@pytest.mark.parametrize("profile", [DEFAULT, SENSOR_DATA, LATCHED], ids=lambda q: q.name)
def test_qos_mapping(profile) -> None:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy

    from cell_controller.bus.ros import ros_qos

    qos = ros_qos(profile)
    assert (qos.history, qos.depth) == (HistoryPolicy.KEEP_LAST, profile.depth)
    assert qos.reliability == {"reliable": ReliabilityPolicy.RELIABLE,
                               "best_effort": ReliabilityPolicy.BEST_EFFORT}[profile.reliability.value]
    assert qos.durability == {"volatile": DurabilityPolicy.VOLATILE,
                              "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}[profile.durability.value]


def test_names_and_remaps_are_per_node() -> None:
    first = RosNode("first", ["--ros-args", "-r", "__ns:=/cell", "-r", "__node:=renamed", "-r", "chatter:=/remapped"])
    second = RosNode("second", ["--ros-args", "-r", "__ns:=/other"])
    try:
        assert (first.name, first.namespace) == ("renamed", "/cell")
        assert (second.name, second.namespace) == ("second", "/other")  # not the first node's arguments
        assert first.create_publisher("std_msgs/msg/String", "chatter", DEFAULT)._publisher.topic_name == "/remapped"
        assert first.create_publisher("std_msgs/msg/String", "~/x", DEFAULT)._publisher.topic_name == "/cell/renamed/x"
        assert second.create_publisher("std_msgs/msg/String", "chatter", DEFAULT)._publisher.topic_name == \
            "/other/chatter"
        assert first.get_logger().name == "cell.renamed"
    finally:
        first.shutdown()
        second.shutdown()


def test_mistyped_parameter_is_named() -> None:
    node = RosNode("typed", ["--ros-args", "-p", "rate_hz:=fast", "-p", "parts:=2.5"])
    try:
        with pytest.raises(ParameterError, match="'rate_hz' must be float"):
            node.declare_parameter("rate_hz", 50.0)
        with pytest.raises(ParameterError, match="'parts' must be int"):
            node.declare_parameter("parts", 0)
    finally:
        node.shutdown()
