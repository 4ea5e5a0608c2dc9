"""The bus contract in one process, on a virtual clock: for testing nodes deterministically.

A `MemoryBus` is a whole graph: nodes made with `bus.node(name, namespace)` publish and
subscribe as on DDS (same message classes, same name resolution, QoS depth, transient-local
replay to late subscribers, liveliness), but nothing leaves the process and time is the bus's
own: `bus.advance(seconds)` delivers messages and fires timers in time order, so a test runs a
supervisor through minutes of cell life in milliseconds, the same way every time.

Every message is serialized and deserialized (CDR) on its way, so a node never shares an
object with another and a message that would not go on the wire fails here too; `wire=False`
hands the published object itself to the subscribers (for long randomized runs of nodes that
never change a message after publishing it).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from cell_controller.bus import api
from cell_controller.bus.messages import message_class
from cell_controller.bus.names import resolve_topic


@dataclass(order=True)
class _Event:
    due_s: float
    order: int
    run: Callable[[], None] = field(compare=False)


class MemoryBus:
    """An in-process graph with a virtual clock starting at `start_s` (s)."""

    def __init__(self, start_s: float = 1000.0, latency_s: float = 0.0, wire: bool = True):
        self.time_s = start_s
        self.latency_s = latency_s
        self.wire = wire
        self._queue: list[_Event] = []
        self._order = itertools.count()
        self._subscriptions: dict[str, list[MemorySubscription]] = {}
        self._publishers: dict[str, list[MemoryPublisher]] = {}
        self.delivered = 0
        #: publishers on other threads (a bridge's OPC UA loop) enqueue while the test thread advances
        self._lock = threading.RLock()

    def node(self, name: str, namespace: str = "/") -> MemoryNode:
        return MemoryNode(self, name, namespace)

    def schedule(self, delay_s: float, run: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._queue, _Event(self.time_s + max(delay_s, 0.0), next(self._order), run))

    def advance(self, seconds: float) -> None:
        """Run every delivery and timer due within the next `seconds`, in time order (on this thread)."""
        with self._lock:
            end_s = self.time_s + seconds
            while self._queue and self._queue[0].due_s <= end_s:
                event = heapq.heappop(self._queue)
                self.time_s = max(self.time_s, event.due_s)
                event.run()
            self.time_s = end_s

    def run_until(self, condition: Callable[[], bool], timeout_s: float, step_s: float = 0.01) -> bool:
        """Advance in `step_s` slices until `condition()` holds (True) or `timeout_s` passed (False)."""
        end_s = self.time_s + timeout_s
        while not condition():
            if self.time_s >= end_s:
                return False
            self.advance(min(step_s, end_s - self.time_s))
        return True

    # -- wiring ----------------------------------------------------------------------------

    def _publish(self, publisher: MemoryPublisher, msg: Any) -> None:
        with self._lock:
            self._publish_locked(publisher, msg)

    def _publish_locked(self, publisher: MemoryPublisher, msg: Any) -> None:
        cls = type(msg)
        data = msg.serialize() if self.wire else msg
        load = cls.deserialize if self.wire else (lambda same: same)
        if publisher.latched is not None:
            publisher.latched.append((load, data))
        for subscription in list(self._subscriptions.get(publisher.topic, ())):
            if _matches(publisher.qos, subscription.qos):
                self.schedule(self.latency_s, lambda s=subscription: s.deliver(load(data)))

    def _add_subscription(self, subscription: MemorySubscription) -> None:
        self._subscriptions.setdefault(subscription.topic, []).append(subscription)
        if subscription.qos.durability is not api.Durability.TRANSIENT_LOCAL:
            return
        for publisher in self._publishers.get(subscription.topic, ()):
            if publisher.latched and publisher.node.alive and _matches(publisher.qos, subscription.qos):
                for load, data in list(publisher.latched):
                    self.schedule(self.latency_s, lambda f=load, d=data: subscription.deliver(f(d)))

    def _remove(self, subscriptions: list[MemorySubscription], publishers: list[MemoryPublisher]) -> None:
        for s in subscriptions:
            self._subscriptions.get(s.topic, []).remove(s)
        for p in publishers:
            self._publishers.get(p.topic, []).remove(p)

    def alive_publishers(self, topic: str, qos: api.QoS) -> int:
        return sum(1 for p in self._publishers.get(topic, ()) if p.node.alive and _matches(p.qos, qos))


def _matches(offered: api.QoS, requested: api.QoS) -> bool:
    """DDS request/offer matching for reliability and liveliness (durability: volatile readers take all)."""
    if requested.reliability is api.Reliability.RELIABLE and offered.reliability is not api.Reliability.RELIABLE:
        return False
    if requested.liveliness_lease_s is not None:
        return offered.liveliness_lease_s is not None and offered.liveliness_lease_s <= requested.liveliness_lease_s
    return True


class MemoryPublisher(api.Publisher):
    def __init__(self, node: MemoryNode, topic: str, qos: api.QoS):
        self.node, self.topic, self.qos = node, topic, qos
        #: what a late transient-local subscriber receives: the last `depth` messages (loader, data)
        self.latched: deque | None = deque(maxlen=qos.depth) \
            if qos.durability is api.Durability.TRANSIENT_LOCAL else None

    def publish(self, msg: Any) -> None:
        if self.node.alive:
            self.node.bus._publish(self, msg)

    def subscription_count(self) -> int:
        return sum(1 for s in self.node.bus._subscriptions.get(self.topic, ()) if _matches(self.qos, s.qos))


class MemorySubscription(api.Subscription):
    def __init__(self, node: MemoryNode, topic: str, callback: Callable[[Any], None], qos: api.QoS):
        self.node, self.topic, self.callback, self.qos = node, topic, callback, qos

    def deliver(self, msg: Any) -> None:
        if self.node.alive:
            self.node.bus.delivered += 1
            self.callback(msg)

    def publisher_count(self) -> int:
        return sum(1 for p in self.node.bus._publishers.get(self.topic, ()) if _matches(p.qos, self.qos))

    def alive_publisher_count(self) -> int:
        return self.node.bus.alive_publishers(self.topic, self.qos)


class MemoryTimer(api.Timer):
    def __init__(self, node: MemoryNode, period_s: float, callback: Callable[[], None]):
        if not period_s > 0:
            raise ValueError(f"timer period must be > 0 s, got {period_s!r}")
        self.node, self.period_s, self.callback = node, period_s, callback
        self.cancelled = False
        node.bus.schedule(period_s, self._fire)

    def _fire(self) -> None:
        if self.cancelled or not self.node.alive:
            return
        self.node.bus.schedule(self.period_s, self._fire)
        self.callback()

    def cancel(self) -> None:
        self.cancelled = True


class MemoryNode(api.Node):
    """A node on a `MemoryBus`. Parameters come from `parameters` (name -> value)."""

    def __init__(self, bus: MemoryBus, name: str, namespace: str = "/", parameters: dict[str, Any] | None = None):
        self.bus, self.name, self.namespace = bus, name, namespace if namespace.startswith("/") else "/" + namespace
        self.alive = True
        self.parameters = dict(parameters or {})
        self._declared: set[str] = set()
        self._subscriptions: list[MemorySubscription] = []
        self._publishers: list[MemoryPublisher] = []
        self._logger = logging.getLogger(f"{self.namespace.strip('/')}.{name}".strip("."))

    def resolve(self, topic: str) -> str:
        return resolve_topic(topic, self.namespace, self.name)

    def message(self, type_name: str) -> type:
        return message_class(type_name)

    def create_publisher(self, type_name: str, topic: str, qos: api.QoS) -> MemoryPublisher:
        publisher = MemoryPublisher(self, self.resolve(topic), qos)
        self.bus._publishers.setdefault(publisher.topic, []).append(publisher)
        self._publishers.append(publisher)
        return publisher

    def create_subscription(self, type_name: str, topic: str, callback: Callable[[Any], None],
                            qos: api.QoS) -> MemorySubscription:
        subscription = MemorySubscription(self, self.resolve(topic), callback, qos)
        self._subscriptions.append(subscription)
        self.bus._add_subscription(subscription)
        return subscription

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> MemoryTimer:
        return MemoryTimer(self, period_s, callback)

    def declare_parameter(self, name: str, default: Any) -> Any:
        self._declared.add(name)
        value = self.parameters.get(name, default)
        if type(value) is not type(default):
            raise api.ParameterError(f"parameter {name!r}: expected {type(default).__name__}, got {value!r}")
        return value

    def reject_undeclared_parameters(self) -> None:
        unknown = sorted(set(self.parameters) - self._declared)
        if unknown:
            raise api.ParameterError(f"undeclared parameters: {unknown}")

    def get_logger(self) -> logging.Logger:
        return self._logger

    def now_ns(self) -> int:
        return int(self.bus.time_s * 1e9)

    def monotonic_s(self) -> float:
        return self.bus.time_s

    def spin_once(self, timeout_s: float) -> None:
        self.bus.advance(timeout_s)

    def spin(self) -> None:
        while self.alive:
            self.bus.advance(1.0)

    def kill(self) -> None:
        """The process dies: nothing more is sent or received, its liveliness is lost at once."""
        self.alive = False

    def shutdown(self) -> None:
        self.alive = False
        self.bus._remove(self._subscriptions, self._publishers)
        self._subscriptions, self._publishers = [], []
