"""The bus contract every node is written against.

Two adapters implement it: `cell_controller.bus.dds` (Cyclone DDS, speaking
ROS 2's wire conventions; used where rclpy is not installed) and
`cell_controller.bus.ros` (rclpy). Nodes never import either adapter
directly: they call `cell_controller.bus.create_node`, which picks one.

Message types are standard ROS 2 interfaces named as in ROS
("sensor_msgs/msg/JointState"). `Node.message(name)` returns the adapter's
class for it; instances are built with keyword arguments and read by
attribute, with the same field names as in ROS 2 on both adapters.
"""
from __future__ import annotations

import abc
import enum
import logging
from dataclasses import dataclass
from typing import Any, Callable


class Reliability(str, enum.Enum):
    RELIABLE = "reliable"
    BEST_EFFORT = "best_effort"


class Durability(str, enum.Enum):
    VOLATILE = "volatile"
    TRANSIENT_LOCAL = "transient_local"


@dataclass(frozen=True)
class QoS:
    """A QoS profile with ROS 2's names (history is always KEEP_LAST depth).

    liveliness_lease_s: AUTOMATIC liveliness with this lease (s); a reader with a lease sees a
    writer's process die within the lease (`Subscription.alive_publisher_count`). None: infinite,
    ROS 2's default, which any publisher (`ros2 topic pub`) matches.
    """

    name: str
    reliability: Reliability
    durability: Durability
    depth: int
    liveliness_lease_s: float | None = None

    def with_lease(self, lease_s: float) -> QoS:
        """The same profile with an AUTOMATIC liveliness lease of `lease_s` s."""
        return QoS(f"{self.name}_lease", self.reliability, self.durability, self.depth, lease_s)


#: rmw_qos_profile_default: RELIABLE, VOLATILE, KEEP_LAST 10.
DEFAULT = QoS("default", Reliability.RELIABLE, Durability.VOLATILE, 10)
#: qos_profile_sensor_data: BEST_EFFORT, VOLATILE, KEEP_LAST 5.
SENSOR_DATA = QoS("sensor_data", Reliability.BEST_EFFORT, Durability.VOLATILE, 5)
#: a latched topic: RELIABLE, TRANSIENT_LOCAL, KEEP_LAST 1.
LATCHED = QoS("transient_local", Reliability.RELIABLE, Durability.TRANSIENT_LOCAL, 1)

PROFILES = {q.name: q for q in (DEFAULT, SENSOR_DATA, LATCHED)}


class ParameterError(ValueError):
    """A node parameter is unknown, missing or of the wrong type; the message names it."""


class Publisher(abc.ABC):
    @abc.abstractmethod
    def publish(self, msg: Any) -> None:
        """Send one message; thread-safe."""

    @abc.abstractmethod
    def subscription_count(self) -> int:
        """Number of matched subscriptions (readers) right now."""


class Subscription(abc.ABC):
    @abc.abstractmethod
    def publisher_count(self) -> int:
        """Number of matched publishers (writers) right now."""

    @abc.abstractmethod
    def alive_publisher_count(self) -> int:
        """Number of matched publishers whose liveliness is asserted (with a lease: alive within it)."""


class Timer(abc.ABC):
    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop the timer; its callback is not called again."""


class Node(abc.ABC):
    """One ROS 2 node. Callbacks run on the thread that calls `spin`/`spin_once`."""

    name: str
    namespace: str

    @abc.abstractmethod
    def message(self, type_name: str) -> type:
        """The class of a standard ROS 2 message, e.g. 'sensor_msgs/msg/JointState'."""

    @abc.abstractmethod
    def create_publisher(self, type_name: str, topic: str, qos: QoS) -> Publisher:
        """Publish on `topic`; a relative topic is resolved under the node's namespace."""

    @abc.abstractmethod
    def create_subscription(
        self, type_name: str, topic: str, callback: Callable[[Any], None], qos: QoS
    ) -> Subscription:
        """Call `callback(msg)` on the spinning thread for each message received."""

    @abc.abstractmethod
    def create_timer(self, period_s: float, callback: Callable[[], None]) -> Timer:
        """Call `callback()` every `period_s` seconds of wall time on the spinning thread."""

    @abc.abstractmethod
    def declare_parameter(self, name: str, default: Any) -> Any:
        """Declare a parameter with a default whose type it must keep; return its value.

        Values come from the params file and `-p name:=value` arguments; a value of another
        type than the default's raises ParameterError naming the parameter.
        """

    @abc.abstractmethod
    def reject_undeclared_parameters(self) -> None:
        """Raise ParameterError naming every params-file or `-p` value that was never declared.

        Call it once all parameters are declared, so that a misspelt name fails at start-up.
        """

    @abc.abstractmethod
    def get_logger(self) -> logging.Logger:
        """A logger named after the node."""

    @abc.abstractmethod
    def now_ns(self) -> int:
        """The node clock, ns since the Unix epoch."""

    @abc.abstractmethod
    def monotonic_s(self) -> float:
        """A steady clock, s (timers run on it; timeouts are measured on it)."""

    @abc.abstractmethod
    def spin_once(self, timeout_s: float) -> None:
        """Run due timers and received-message callbacks, waiting at most `timeout_s`."""

    @abc.abstractmethod
    def spin(self) -> None:
        """Run callbacks until `shutdown()` is called (from a callback, a signal or another thread)."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Make `spin` return and release every entity; safe to call twice."""
