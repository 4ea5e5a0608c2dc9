"""The rclpy adapter: same contract, run only where ROS 2 is installed."""
from __future__ import annotations

import pytest

rclpy = pytest.importorskip(
    "rclpy", reason="rclpy is not installable here (not on PyPI, not in Debian 12); these run on a ROS 2 machine")

from cell_controller.bus import DEFAULT, LATCHED, ParameterError  # noqa: E402
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
