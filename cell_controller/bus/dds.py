"""The bus contract on Cyclone DDS, speaking ROS 2's wire conventions (no ROS 2 install needed).

One DomainParticipant per process, on domain `ROS_DOMAIN_ID` (default 0).
Topics are `rt/<absolute ROS name>`, types `pkg::msg::dds_::Type_` generated
from rosbags (see `messages.py`), payloads XCDR1 as with rmw_cyclonedds_cpp.

Executor: `spin_once` waits on one WaitSet holding a ReadCondition per
subscription and a GuardCondition (set by `shutdown()` and by new timers), then
takes samples and runs callbacks, then runs due timers (time.monotonic), all on
the calling thread. Only one thread may spin a node at a time.

Graph: like rmw_cyclonedds_cpp, the participant carries USER_DATA `enclave=<enclave>;` and
writes `ros_discovery_info` (see `ros_discovery.py`) naming every node with the GIDs of its
readers and writers, so `ros2 node list` and `ros2 node info` show DDS-adapter nodes.
"""
from __future__ import annotations

import logging
import math
import os
import struct
import sys
import threading
import time
from typing import Any, Callable

from cyclonedds._clayer import ddspy_take  # the binding's raw take: serialized bytes, no deserialization
from cyclonedds.core import (
    DDSException, GuardCondition, InstanceState, Policy, Qos, ReadCondition, SampleState, ViewState, WaitSet,
)
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from cell_controller.bus import api, logs, ros_discovery
from cell_controller.bus.args import NodeConfig, node_config
from cell_controller.bus.gate import StopGate
from cell_controller.bus.messages import message_class, store_for_distro
from cell_controller.bus.names import dds_topic_name

#: Longest single wait, s: Python runs signal handlers only between waits.
_WAIT_SLICE_S = 0.05
#: rmw's default max blocking time of a reliable writer with a full history, s.
_MAX_BLOCKING_S = 0.1
#: ROS 2 (Humble+) /rosout QoS: reliable, transient local, keep last 1000, lifespan 10 s.
_ROSOUT = api.QoS("rosout", api.Reliability.RELIABLE, api.Durability.TRANSIENT_LOCAL, 1000)
_ROSOUT_LIFESPAN_S = 10.0
_READ_MASK = SampleState.NotRead | ViewState.Any | InstanceState.Any

_participant_lock = threading.Lock()
_participant: DomainParticipant | None = None
_entities: ros_discovery.ParticipantEntities | None = None
_topics: dict[tuple[str, type], Topic] = {}


def domain_id() -> int:
    """The DDS domain id from env ROS_DOMAIN_ID (default 0); ValueError naming a bad value."""
    text = os.environ.get("ROS_DOMAIN_ID", "0") or "0"
    if not text.isdigit() or not 0 <= int(text) <= 232:
        raise ValueError(f"ROS_DOMAIN_ID={text!r} is not a domain id in 0..232")
    return int(text)


def participant(enclave: str = "/") -> DomainParticipant:
    """The process's DomainParticipant on domain ROS_DOMAIN_ID (created on first use).

    Its USER_DATA is `enclave=<enclave>;` as with rmw_cyclonedds_cpp (the first caller's enclave).
    """
    global _participant
    with _participant_lock:
        if _participant is None:
            userdata = Policy.Userdata(f"enclave={enclave};".encode())
            _participant = DomainParticipant(domain_id(), qos=Qos(userdata))
        return _participant


def participant_entities() -> ros_discovery.ParticipantEntities:
    """The process's `ros_discovery_info` announcer (its writer is created on first use)."""
    global _entities
    dp = participant()
    with _participant_lock:
        if _entities is None:
            store = store_for_distro()
            cls = message_class(ros_discovery.TYPE, store)
            topic = _topics[(ros_discovery.TOPIC, cls)] = Topic(dp, ros_discovery.TOPIC, cls)
            writer = DataWriter(dp, topic, dds_qos(ros_discovery.QOS))
            _entities = ros_discovery.ParticipantEntities(
                dp.guid, lambda type_name: message_class(type_name, store), writer.write)
        return _entities


def take_serialized(reader: DataReader, max_samples: int) -> list[tuple[bytes, Any]]:
    """Take up to `max_samples` samples as (CDR bytes with encapsulation header, SampleInfo).

    The bytes are exactly what arrived (Cyclone pads them to a multiple of 4), not re-serialized;
    invalid samples (dispose / unregister notices) are taken and dropped.
    """
    taken = ddspy_take(reader._ref, SampleState.Any | ViewState.Any | InstanceState.Any, max_samples)
    if isinstance(taken, int):
        raise DDSException(taken, f"occurred while taking serialized samples from {reader!r}")
    return [(data, info) for data, info in taken if info.valid_data]


def shared_topic(name: str, cls: type) -> Topic:
    """The process-wide Topic entity for DDS topic `name` (e.g. 'rt/cell/state') carrying `cls`."""
    dp = participant()
    with _participant_lock:
        topic = _topics.get((name, cls))
        if topic is None:
            topic = _topics[(name, cls)] = Topic(dp, name, cls)
        return topic


def dds_qos(qos: api.QoS, lifespan_s: float | None = None) -> Qos:
    """The Cyclone DDS QoS for an api profile: KEEP_LAST depth, XCDR1 only (as ROS 2 requires)."""
    policies = [
        Policy.Reliability.Reliable(duration(seconds=_MAX_BLOCKING_S))
        if qos.reliability is api.Reliability.RELIABLE else Policy.Reliability.BestEffort,
        Policy.Durability.TransientLocal
        if qos.durability is api.Durability.TRANSIENT_LOCAL else Policy.Durability.Volatile,
        Policy.History.KeepLast(qos.depth),
        Policy.DataRepresentation(use_cdrv0_representation=True),
    ]
    if lifespan_s is not None:
        policies.append(Policy.Lifespan(duration(seconds=lifespan_s)))
    if qos.liveliness_lease_s is not None:
        policies.append(Policy.Liveliness.Automatic(duration(seconds=qos.liveliness_lease_s)))
    return Qos(*policies)


class DdsPublisher(api.Publisher):
    """A DataWriter; `publish` after the node's shutdown is silently dropped."""

    def __init__(self, writer: DataWriter) -> None:
        self._writer: DataWriter | None = writer

    def publish(self, msg: Any) -> None:
        writer = self._writer
        if writer is not None:
            writer.write(msg)

    def subscription_count(self) -> int:
        writer = self._writer
        return 0 if writer is None else writer.get_publication_matched_status().current_count

    def close(self) -> None:
        """Drop the writer (Cyclone deletes it when the last reference goes)."""
        self._writer = None


class DdsSubscription(api.Subscription):
    """A DataReader, its ReadCondition and the user callback."""

    def __init__(self, reader: DataReader, callback: Callable[[Any], None], depth: int, topic: str,
                 log: logging.Logger) -> None:
        self.reader: DataReader | None = reader
        self.dropped = 0  # samples that did not decode
        self._topic_name, self._log = topic, log
        self.condition: ReadCondition | None = ReadCondition(reader, _READ_MASK)
        self._callback = callback
        self._depth = depth

    def publisher_count(self) -> int:
        reader = self.reader
        return 0 if reader is None else reader.get_subscription_matched_status().current_count

    def alive_publisher_count(self) -> int:
        reader = self.reader
        return 0 if reader is None else reader.get_liveliness_changed_status().alive_count

    def close(self) -> None:
        """Drop the reader and its condition (Cyclone deletes them when the last reference goes)."""
        self.reader = self.condition = None

    def dispatch(self) -> bool:
        """Take every waiting sample and call the callback on each valid one; True if any was taken.

        Samples are taken one at a time: one that does not decode (well-formed CDR carrying a string
        that is not UTF-8, which any participant can write) is consumed, counted in `dropped` and
        logged at its 1st, 10th, 100th... and never takes the node or the samples after it down.
        """
        taken = 0
        while taken < self._depth:
            try:
                samples = self.reader.take(1)
            except (UnicodeDecodeError, ValueError, struct.error) as error:
                taken += 1
                self.dropped += 1
                if math.log10(self.dropped).is_integer():
                    self._log.warning("%s: dropped %d samples that do not decode: %r", self._topic_name, self.dropped, error)
                continue
            if not samples:
                break
            taken += 1
            if samples[0].sample_info.valid_data:
                self._callback(samples[0])
        return taken > 0


class DdsTimer(api.Timer):
    """A periodic callback due at `due_s` on time.monotonic."""

    def __init__(self, period_s: float, callback: Callable[[], None]) -> None:
        if not period_s > 0:
            raise ValueError(f"timer period must be > 0 s, got {period_s!r}")
        self.period_s = period_s
        self.callback = callback
        self.due_s = time.monotonic() + period_s
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def advance(self, now_s: float) -> None:
        """Next deadline on the original phase, skipping periods already missed."""
        self.due_s += self.period_s
        if self.due_s <= now_s:
            self.due_s += self.period_s * (1 + int((now_s - self.due_s) // self.period_s))


class _RosoutHandler(logging.Handler):
    """Publishes log records on /rosout as rcl_interfaces/msg/Log (python levels equal ROS levels)."""

    def __init__(self, publisher: DdsPublisher, log_class: type) -> None:
        super().__init__()
        self._publisher = publisher
        self._log_class = log_class
        self._time_class = log_class.__annotations__["stamp"]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sec, nanosec = divmod(int(record.created * 1e9), 1_000_000_000)
            self._publisher.publish(self._log_class(
                stamp=self._time_class(sec=sec, nanosec=nanosec), level=min(record.levelno, 50),
                name=record.name, msg=record.getMessage(), file=record.pathname,
                function=record.funcName or "", line=record.lineno or 0))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


class DdsNode(api.Node):
    """A ROS 2 node on Cyclone DDS. `argv` defaults to sys.argv (its --ros-args sections)."""

    def __init__(self, name: str, argv: list[str] | None = None) -> None:
        self._config: NodeConfig = node_config(name, sys.argv if argv is None else argv)
        self.name = self._config.name
        self.namespace = self._config.namespace
        self._store = store_for_distro()
        self._participant = participant(self._config.args.enclave or "/")
        self._entities = participant_entities()
        self._entities_key = self._entities.add_node(self.namespace, self.name)
        self._guard = GuardCondition(self._participant)
        self._waitset = WaitSet(self._participant)
        self._waitset.attach(self._guard)
        self._publishers: tuple[DdsPublisher, ...] = ()
        self._subscriptions: tuple[DdsSubscription, ...] = ()
        self._timers: tuple[DdsTimer, ...] = ()
        self._gate = StopGate(lambda: self._guard.set(True), self._release)
        self._log_handlers: list[logging.Handler] = []
        if self._config.args.stdout_logs and not logging.getLogger().handlers:
            self._log_handlers.append(logs.stderr_handler())
        if self._config.args.rosout_logs:
            rosout = self._create_publisher("rcl_interfaces/msg/Log", "/rosout", _ROSOUT, _ROSOUT_LIFESPAN_S)
            self._log_handlers.append(_RosoutHandler(rosout, self.message("rcl_interfaces/msg/Log")))
        self._logger = logs.attach(self._config, self._log_handlers)

    # -- entities ---------------------------------------------------------------------------

    def message(self, type_name: str) -> type:
        return message_class(type_name, self._store)

    def create_publisher(self, type_name: str, topic: str, qos: api.QoS) -> DdsPublisher:
        return self._create_publisher(type_name, topic, qos, None)

    def _create_publisher(self, type_name: str, topic: str, qos: api.QoS, lifespan_s: float | None) -> DdsPublisher:
        writer = DataWriter(self._participant, self._dds_topic(type_name, topic), dds_qos(qos, lifespan_s))
        self._entities.add_writer(self._entities_key, writer.guid)
        publisher = DdsPublisher(writer)
        self._publishers += (publisher,)
        return publisher

    def create_subscription(
        self, type_name: str, topic: str, callback: Callable[[Any], None], qos: api.QoS
    ) -> DdsSubscription:
        reader = DataReader(self._participant, self._dds_topic(type_name, topic), dds_qos(qos))
        self._entities.add_reader(self._entities_key, reader.guid)
        subscription = DdsSubscription(reader, callback, qos.depth, topic, self._logger)
        self._waitset.attach(subscription.condition)
        self._subscriptions += (subscription,)
        return subscription

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> DdsTimer:
        timer = DdsTimer(period_s, callback)
        self._timers += (timer,)
        self._guard.set(True)  # a spinning thread recomputes its wait deadline
        return timer

    def _dds_topic(self, type_name: str, topic: str) -> Topic:
        return shared_topic(dds_topic_name(self._config.resolve_topic(topic)), self.message(type_name))

    # -- parameters, logging, clock ---------------------------------------------------------

    def declare_parameter(self, name: str, default: Any) -> Any:
        return self._config.parameters.declare(name, default)

    def reject_undeclared_parameters(self) -> None:
        self._config.parameters.reject_undeclared()

    def get_logger(self) -> logging.Logger:
        return self._logger

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_s(self) -> float:
        return time.monotonic()

    # -- executor ---------------------------------------------------------------------------

    def spin_once(self, timeout_s: float) -> None:
        deadline_s = time.monotonic() + max(timeout_s, 0.0)
        self._gate.run(lambda: self._spin_until(deadline_s))

    def _spin_until(self, deadline_s: float) -> None:
        """Wait in slices until data, a due timer, a stop or the deadline; then run callbacks."""
        while True:
            timers = [t for t in self._timers if not t.cancelled]
            now = time.monotonic()
            wake = min([deadline_s] + [t.due_s for t in timers])
            triggered = self._waitset.wait(int(min(max(wake - now, 0.0), _WAIT_SLICE_S) * 1e9))
            if self._gate.stopped:
                return
            worked = 0
            if triggered:
                for subscription in self._subscriptions:
                    worked += subscription.dispatch()
                if triggered > worked:  # the guard condition (a wake-up) is among the triggers
                    self._guard.take()
            now = time.monotonic()
            for timer in timers:
                if timer.due_s <= now and not timer.cancelled and not self._gate.stopped:
                    timer.advance(now)
                    timer.callback()
                    worked += 1
            if worked or self._gate.stopped or now >= deadline_s:
                return

    def spin(self) -> None:
        while not self._gate.stopped:
            self.spin_once(1.0)

    def shutdown(self) -> None:
        """Thread- and signal-safe; the entities are released once no spin_once is running."""
        self._gate.stop()

    def _release(self) -> None:
        logs.detach(self._logger, self._log_handlers)
        self._entities.remove_node(self._entities_key)
        for subscription in self._subscriptions:
            self._waitset.detach(subscription.condition)
            subscription.close()
        for publisher in self._publishers:
            publisher.close()
        for timer in self._timers:
            timer.cancel()
        self._subscriptions = self._publishers = self._timers = ()
