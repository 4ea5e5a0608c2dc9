"""The bus contract on rclpy: a thin mirror of `dds.py` for machines with ROS 2 installed.

rclpy does name resolution, remapping, /rosout and the wire; parameters go through
the same `args.Parameters` as the DDS adapter so both accept and reject the same
values (rclpy itself would refuse an int for a float parameter).
"""
from __future__ import annotations

import importlib
import logging
import sys
from typing import Any, Callable

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy, HistoryPolicy, LivelinessPolicy, QoSProfile, ReliabilityPolicy

from cell_controller.bus import api, logs
from cell_controller.bus.args import node_config
from cell_controller.bus.gate import StopGate

#: Longest single wait, s, so that Python signal handlers run (as in dds.py).
_WAIT_SLICE_S = 0.05


def ros_qos(qos: api.QoS) -> QoSProfile:
    """The rclpy QoSProfile for an api profile (KEEP_LAST depth, AUTOMATIC liveliness with its lease)."""
    profile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=qos.depth,
        reliability=ReliabilityPolicy.RELIABLE
        if qos.reliability is api.Reliability.RELIABLE else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL
        if qos.durability is api.Durability.TRANSIENT_LOCAL else DurabilityPolicy.VOLATILE,
    )
    if qos.liveliness_lease_s is not None:
        profile.liveliness = LivelinessPolicy.AUTOMATIC
        profile.liveliness_lease_duration = Duration(nanoseconds=int(qos.liveliness_lease_s * 1e9))
    return profile


class RosPublisher(api.Publisher):
    def __init__(self, publisher: Any) -> None:
        self._publisher = publisher

    def publish(self, msg: Any) -> None:
        self._publisher.publish(msg)

    def subscription_count(self) -> int:
        return self._publisher.get_subscription_count()


class RosSubscription(api.Subscription):
    def __init__(self) -> None:
        self._subscription: Any = None
        self._alive = 0

    def publisher_count(self) -> int:
        return self._subscription.get_publisher_count()

    def alive_publisher_count(self) -> int:
        return self._alive

    def on_liveliness(self, info: Any) -> None:
        """rclpy's liveliness-changed event (QoSLivelinessChangedInfo)."""
        self._alive = info.alive_count


class RosTimer(api.Timer):
    def __init__(self, timer: Any) -> None:
        self._timer = timer

    def cancel(self) -> None:
        self._timer.cancel()


class _RclpyHandler(logging.Handler):
    """Forwards python log records to the rclpy node logger (console and /rosout); same levels."""

    def __init__(self, ros_logger: Any) -> None:
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        self._ros_logger.log(record.getMessage(), min(record.levelno, 50))


class RosNode(api.Node):
    """A ROS 2 node on rclpy. `argv` defaults to sys.argv (its --ros-args sections)."""

    def __init__(self, name: str, argv: list[str] | None = None) -> None:
        argv = sys.argv if argv is None else argv
        self._config = node_config(name, argv)
        if not rclpy.ok():
            rclpy.init(args=argv)
        # this node's own --ros-args (renames, remaps), not whichever argv the process initialised rclpy with
        self._node = rclpy.create_node(name, cli_args=list(argv), use_global_arguments=False,
                                       automatically_declare_parameters_from_overrides=False)
        self.name = self._node.get_name()
        self.namespace = self._node.get_namespace()
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self._node)
        self._wake = self._node.create_guard_condition(lambda: None)
        self._gate = StopGate(self._wake.trigger, self._release)
        self._log_handlers: list[logging.Handler] = [_RclpyHandler(self._node.get_logger())]
        self._logger = logs.attach(self._config, self._log_handlers)

    def message(self, type_name: str) -> type:
        pkg, kind, cls = type_name.split("/")
        return getattr(importlib.import_module(f"{pkg}.{kind}"), cls)

    def create_publisher(self, type_name: str, topic: str, qos: api.QoS) -> RosPublisher:
        return RosPublisher(self._node.create_publisher(self.message(type_name), topic, ros_qos(qos)))

    def create_subscription(
        self, type_name: str, topic: str, callback: Callable[[Any], None], qos: api.QoS
    ) -> RosSubscription:
        subscription = RosSubscription()
        events = SubscriptionEventCallbacks(liveliness=subscription.on_liveliness)
        subscription._subscription = self._node.create_subscription(
            self.message(type_name), topic, callback, ros_qos(qos), event_callbacks=events)
        return subscription

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> RosTimer:
        return RosTimer(self._node.create_timer(period_s, callback))

    def declare_parameter(self, name: str, default: Any) -> Any:
        value = self._config.parameters.declare(name, default)
        self._node.declare_parameter(name, value, ignore_override=True)
        return value

    def reject_undeclared_parameters(self) -> None:
        self._config.parameters.reject_undeclared()

    def get_logger(self) -> logging.Logger:
        return self._logger

    def now_ns(self) -> int:
        return self._node.get_clock().now().nanoseconds

    def monotonic_s(self) -> float:
        return self._steady.now().nanoseconds / 1e9

    def spin_once(self, timeout_s: float) -> None:
        self._gate.run(lambda: self._executor.spin_once(timeout_sec=min(max(timeout_s, 0.0), _WAIT_SLICE_S)))

    def spin(self) -> None:
        while not self._gate.stopped:
            self.spin_once(1.0)

    def shutdown(self) -> None:
        """Thread- and signal-safe; the node is destroyed once no spin_once is running."""
        self._gate.stop()

    def _release(self) -> None:
        logs.detach(self._logger, self._log_handlers)
        self._executor.remove_node(self._node)
        self._node.destroy_node()
