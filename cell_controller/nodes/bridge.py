"""A bridge node: one device's OPC UA server on one side, the bus on the other.

The OPC UA client runs on an asyncio loop in a background thread; the bus spins on the main
thread. Data changes (subscriptions, never polling) update a `Snapshot`, which checks every
sample; after each batch the node publishes the device's status (latched, on change and every
`HEARTBEAT_S`) and, for the robot and the welder, their sensor topics when every value they
carry is good. A timer on the loop notices a device whose life-sign stops within its stale bound.

Commands are goals (`core/goals.py`): executed one at a time, each id once, answered in the
status as `goal.<id>`. Setpoints from the bus are clamped and rate-limited here again
(`SetpointGuard`: whoever published them) and written latest-value-wins by one writer: one pending
value per setpoint, dropped when the link goes (a value from before a reconnect is never
written after it). The supervisor's heartbeat is written to the device's watchdog.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable

from asyncua import ua

from cell_controller.bridges import MAPPINGS, SETPOINTS
from cell_controller.bridges.base import Snapshot
from cell_controller.bridges.robot import JOINT_NAMES, RobotMapping
from cell_controller.bridges.welder import WelderMapping
from cell_controller.bus.api import Node
from cell_controller.core.config import CellConfig
from cell_controller.core.goals import ACCEPTED, GoalHistory
from cell_controller.core.shield import SetpointGuard
from cell_controller.core.types import DeviceStatus
from cell_controller.opcua.address_space import COMMAND_STATUS, CONTROLLER_HEARTBEAT, spec_for
from cell_controller.opcua.client import ClientSecurity, DeviceClient, DeviceSpecMismatchError, DeviceUnreachableError

from . import topics
from .codec import Codec
from .runtime import spin_until_signal, start_node

HEARTBEAT_S = 0.5
#: subscriptions publish this many times per period of the device's publishing rate
SUBSCRIPTION_OVERSAMPLING = 2
#: a device whose life-sign has not changed for this many publishing periods is stale ...
STALE_PERIODS = 3
#: ... and for at least this long, s: tighter than the cell PC's scheduling jitter (a large message
#: decoded on the bus thread), it would hold the cell for nothing
STALE_MIN_S = 0.25
CONNECT_TIMEOUT_S = 3.0
RECONNECT_DELAY_S = 1.0
COMMAND_TIMEOUT_S = 3.0
#: status values that change with every sample: a change of only these does not publish the status
_VOLATILE = ("stamp_s", "data_age_s")
class BridgeNode:
    def __init__(self, node: Node, config: CellConfig, role: str):
        self.node, self.role, self.config = node, role, config
        self.device = config.device(role)
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.spec = spec_for(self.device.kind.value)
        self.mapping = MAPPINGS[role](self.spec)
        self.snapshot = Snapshot(self.spec)
        #: the device's publishing period, wall s (the twin publishes at its rate in wall time)
        self.period_s = 1.0 / self.device.publishing_rate_Hz
        self.stale_after_s = max(STALE_PERIODS * self.period_s, STALE_MIN_S)
        self.client: DeviceClient | None = None
        self.goals = GoalHistory()
        self.last_status: DeviceStatus | None = None
        self.fields = [f for f, s in SETPOINTS.items() if s.role == role]
        self.guard = SetpointGuard(
            {f: self.device.limits[SETPOINTS[f].limit] for f in self.fields if SETPOINTS[f].limit in self.device.limits},
            {f: config.policies.rate_limits_per_s[SETPOINTS[f].limit] for f in self.fields
             if SETPOINTS[f].limit in config.policies.rate_limits_per_s},
            tick_s=config.time_scale * self.period_s)
        self.pending_writes: dict[str, Any] = {}
        self.write_errors = 0
        self.sensor_skips = 0
        self._flush_scheduled = False
        self._stopping = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"{role}-opcua", daemon=True)
        self._wake_writer: asyncio.Event | None = None
        self._commands: asyncio.Lock | None = None

        status = topics.device_status(role)
        self.status_pub = node.create_publisher(status.type, status.name, status.qos)
        command = topics.device_command(role)
        node.create_subscription(command.type, command.name, self._on_command, command.qos)
        self.sensor_pubs = {t: node.create_publisher(t.type, t.name, t.qos) for t in self._sensor_topics()}
        for topic in (topics.WELD_SETPOINTS, topics.INFEED):
            if any(f in topic.fields for f in self.fields):
                node.create_subscription(topic.type, topic.name, self._setpoint_handler(topic), topic.qos)
        hb = topics.HEARTBEAT
        self.heartbeat_sub = node.create_subscription(hb.type, hb.name, self._on_heartbeat, hb.qos)
        self.heartbeats_refused = 0
        if self.sensor_pubs:
            self._messages = {name: node.message(name) for name in (
                "sensor_msgs/msg/JointState", "geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/Pose",
                "geometry_msgs/msg/Point", "geometry_msgs/msg/Quaternion", "std_msgs/msg/Header",
                "builtin_interfaces/msg/Time")}

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()
        self._publish_status(self.mapping.offline("connecting"))
        asyncio.run_coroutine_threadsafe(self._run(), self.loop)

    async def _run(self) -> None:
        self._wake_writer, self._commands = asyncio.Event(), asyncio.Lock()
        # half the device's period: a server publishes on its own clock, so at the full period two of the
        # device's samples now and then fall into one notification and the first is lost to the loop
        interval_ms = 1000.0 * self.period_s / SUBSCRIPTION_OVERSAMPLING
        reported = ""
        while not self._stopping:
            try:
                self.client = await self._connect_and_subscribe(interval_ms)
                break
            except (DeviceUnreachableError, DeviceSpecMismatchError, ConnectionError, asyncio.TimeoutError,
                    ua.UaError) as error:  # a link lost while subscribing too: start over
                if str(error) != reported:  # one line per new reason, not one per attempt
                    self.log.warning("%s", error)
                    reported = str(error)
                self._publish_status(self.mapping.offline(str(error)))
                await asyncio.sleep(RECONNECT_DELAY_S)
        if self.client is None:
            return
        self.client.on_link_change(self._on_link)
        self.log.info("connected to %s (%s), subscribed at %.0f ms", self.device.endpoint, self.spec.kind, interval_ms)
        writer = asyncio.ensure_future(self._writer())
        last_heartbeat = 0.0
        while not self._stopping:
            await asyncio.sleep(self.stale_after_s / 3)
            now = time.monotonic()
            if now - last_heartbeat >= HEARTBEAT_S:
                last_heartbeat = now
                self._publish_status(self._status())
            else:
                self._publish_if_changed()
        writer.cancel()

    async def _connect_and_subscribe(self, interval_ms: float) -> DeviceClient:
        security = ClientSecurity.from_config(self.device.security) if self.device.security else None
        client = await DeviceClient.connect(self.device.endpoint, self.spec, CONNECT_TIMEOUT_S, security=security)
        try:
            await asyncio.wait_for(client.subscribe([v.path for v in self.spec.variables], interval_ms,
                                                    self._on_value), CONNECT_TIMEOUT_S)
        except BaseException:
            await client.disconnect()
            raise
        return client

    def stop(self) -> None:
        """Leave the device safe (the robot's program stopped, so the arc is off) and disconnect."""
        async def shutdown() -> None:
            self._stopping = True
            if self.client is not None:
                if self.role == "robot" and self.snapshot.get(RobotMapping.execution_state) == "Running":
                    await self._call("stop_program", ())
                await self.client.disconnect()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        if self.thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(COMMAND_TIMEOUT_S)
            except Exception as error:  # leaving anyway: the device keeps its own safe state
                self.log.warning("shutdown: %r", error)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(1.0)

    # -- device -> bus ----------------------------------------------------------------------
    def _on_link(self, up: bool) -> None:
        if not up:
            self.pending_writes.clear()  # nothing from before the gap is written after it
            self.snapshot.clear()
            self._publish_status(self._status())

    def _on_value(self, path: str, value: Any, source_timestamp: datetime | None, good: bool) -> None:
        self.snapshot.update(path, value, source_timestamp, good, time.monotonic())
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _status(self) -> DeviceStatus:
        if self.client is None or not self.client.connected:
            return self.mapping.offline(f"link to {self.device.endpoint} down")
        return self.mapping.status(self.snapshot, time.monotonic(), self.stale_after_s)

    def _publish_if_changed(self) -> DeviceStatus:
        status = self._status()
        if self.last_status is None or _steady(status) != _steady(self.last_status):
            self._publish_status(status)
        return status

    def _flush(self) -> None:
        """After a batch of data changes: publish status if it changed, and the sensor topics."""
        self._flush_scheduled = False
        status = self._publish_if_changed()
        if status.state.value in ("offline", "stale"):
            return
        for topic, publisher in self.sensor_pubs.items():
            if self.snapshot.good(*self._sensor_paths(topic)):
                publisher.publish(self._sensor_message(topic))
            else:
                self.sensor_skips += 1

    def _publish_status(self, status: DeviceStatus) -> None:
        self.last_status = status
        age = time.monotonic() - self.snapshot.fresh_at_s if self.snapshot.fresh_at_s is not None else math.inf
        values = {**status.values, **self.goals.values(), "backend": self.device.backend.value,
                  "data_age_s": f"{age:.3f}", "rejected_samples": str(self.snapshot.rejected),
                  "write_errors": str(self.write_errors),
                  **{k: str(v) for k, v in self.guard.counts.items()}}
        self.status_pub.publish(self.codec.device_status(replace(status, values=values), self.device.endpoint))

    def _sensor_topics(self) -> list[topics.Topic]:
        return {"robot": [topics.JOINT_STATES, topics.TCP_POSE, topics.SEAM_TRACKER],
                "welder": [topics.WELD_PROCESS]}.get(self.role, [])

    @staticmethod
    def _sensor_paths(topic: topics.Topic) -> tuple[str, ...]:
        return {topics.SEAM_TRACKER: RobotMapping.tracker_paths, topics.WELD_PROCESS: WelderMapping.process_paths,
                topics.JOINT_STATES: RobotMapping.joint_paths, topics.TCP_POSE: RobotMapping.pose_paths}[topic]

    def _sensor_message(self, topic: topics.Topic) -> Any:
        s = self.snapshot
        if topic is topics.SEAM_TRACKER:
            return self.codec.array(topic, RobotMapping.tracker(s))
        if topic is topics.WELD_PROCESS:
            return self.codec.array(topic, WelderMapping.process(s))
        m = self._messages
        sec = math.floor(s.stamp_s)
        header = m["std_msgs/msg/Header"](stamp=m["builtin_interfaces/msg/Time"](
            sec=sec, nanosec=int((s.stamp_s - sec) * 1e9)), frame_id="base_link")
        if topic is topics.JOINT_STATES:
            position, velocity = RobotMapping.joints(s)
            return m["sensor_msgs/msg/JointState"](header=header, name=list(JOINT_NAMES), position=position,
                                                   velocity=velocity, effort=[])
        position, orientation = RobotMapping.tcp_pose(s)
        pose = m["geometry_msgs/msg/Pose"](position=m["geometry_msgs/msg/Point"](x=position[0], y=position[1], z=position[2]),
                                           orientation=m["geometry_msgs/msg/Quaternion"](
                                               x=orientation[0], y=orientation[1], z=orientation[2], w=orientation[3]))
        return m["geometry_msgs/msg/PoseStamped"](header=header, pose=pose)

    # -- bus -> device ----------------------------------------------------------------------
    def _on_command(self, msg: Any) -> None:
        values = self.codec.values(msg)
        goal_id = values.get("id", "")[:64]
        args = tuple(values[k] for k in sorted(k for k in values if k.startswith("arg")))
        asyncio.run_coroutine_threadsafe(self._command(goal_id, msg.message, args), self.loop)

    async def _command(self, goal_id: str, verb: str, args: tuple[str, ...]) -> None:
        """Execute a goal once; a repeated id is answered again. One command at a time per device."""
        if not goal_id:
            self.log.warning("command %r without an id ignored", verb[:40])
            return
        if not self.goals.begin(goal_id):
            self._publish_status(self._status())
            return
        self._publish_status(self._status())
        assert self._commands is not None
        async with self._commands:
            result = await self._call(verb, args)
        self.goals.finish(goal_id, result)
        self._publish_status(self._status())

    async def _call(self, verb: str, args: tuple[str, ...]) -> str:
        """Call the device's method for `verb`: its CommandStatus name, then ': ' and its reason."""
        method = self.mapping.commands.get(verb)
        if method is None:
            return f"InvalidArgument: the {self.role} has no command {verb[:40]!r}"
        if self.client is None or not self.client.connected:
            return "NotReady: no link to the device"
        try:
            status, reason = await asyncio.wait_for(self.client.call(method, *args), COMMAND_TIMEOUT_S)
        except TypeError as error:
            return f"InvalidArgument: {error}"
        except Exception as error:  # a refused or failed call is reported, never raised into the loop
            self.log.warning("%s%s failed: %r", verb, args, error)
            return f"Fault: {type(error).__name__}: {error}"[:200]
        name = COMMAND_STATUS.values[status] if isinstance(status, int) and 0 <= status < len(COMMAND_STATUS.values) \
            else "Fault"
        return name if name == ACCEPTED else f"{name}: {str(reason)[:160]}"

    def _setpoint_handler(self, topic: topics.Topic) -> Callable[[Any], None]:
        def on_message(msg: Any) -> None:
            fields = Codec.read_array(topic, msg)
            if fields is None:
                self.log.warning("%s: rejected a malformed or non-finite message", topic.name)
                return
            writes = {}
            for name in self.fields:
                if name in fields:
                    path = SETPOINTS[name].path
                    device_value = self.snapshot.get(path) if self.snapshot.good(path) else None
                    writes[path] = self.guard.guard(name, fields[name], device_value)
            if writes:
                self._queue(writes)
            if self.role == "feeder" and fields.get("release_blank", 0.0) > 0.5:
                asyncio.run_coroutine_threadsafe(self._release_blank(), self.loop)
        return on_message

    async def _release_blank(self) -> None:
        assert self._commands is not None
        async with self._commands:
            await self._call("release_blank", ())

    def _on_heartbeat(self, msg: Any) -> None:
        """The supervisor's life-sign to the device's watchdog, only while it is the one heartbeat writer
        (`topics.supervisor_alive`): a second writer must never keep a dead supervisor's devices running."""
        if topics.supervisor_alive(self.heartbeat_sub):
            self._queue({CONTROLLER_HEARTBEAT: int(msg.data)})
            return
        self.heartbeats_refused += 1
        if math.log10(self.heartbeats_refused).is_integer():
            self.log.warning("%d heartbeats not passed to the watchdog: %d writers of %s alive, not one",
                             self.heartbeats_refused, self.heartbeat_sub.alive_publisher_count(), topics.HEARTBEAT.name)

    def _queue(self, writes: dict[str, Any]) -> None:
        """Hand setpoints to the writer (thread-safe): the latest value of each wins."""
        def put() -> None:
            self.pending_writes.update(writes)
            if self._wake_writer is not None:
                self._wake_writer.set()
        self.loop.call_soon_threadsafe(put)

    async def _writer(self) -> None:
        """The device's one writer: pending setpoints, each once, while the link is up."""
        assert self._wake_writer is not None
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            client = self.client
            if client is None or not client.connected:
                self.pending_writes.clear()
                continue
            writes, self.pending_writes = self.pending_writes, {}
            for path, value in writes.items():
                if path != CONTROLLER_HEARTBEAT and self.snapshot.get(path) == value:
                    continue  # the device holds it already
                try:
                    await asyncio.wait_for(client.write(path, value), COMMAND_TIMEOUT_S)
                except Exception as error:  # refused or link down: counted on the status, never retried stale
                    self.write_errors += 1
                    if self.write_errors in (1, 10, 100) or self.write_errors % 1000 == 0:
                        self.log.warning("write %s=%r failed (%d failures so far): %r", path, value,
                                         self.write_errors, error)


def _steady(status: DeviceStatus) -> DeviceStatus:
    return replace(status, values={k: v for k, v in status.values.items() if k not in _VOLATILE})


def run(role: str, argv: list[str] | None = None) -> None:
    """The `main()` of the bridge node for `role`."""
    node, config, _ = start_node(f"{role}_bridge", argv)
    bridge = BridgeNode(node, config, role)
    bridge.start()
    spin_until_signal(node, bridge.stop)


def robot_main(argv: list[str] | None = None) -> None:
    run("robot", argv)


def welder_main(argv: list[str] | None = None) -> None:
    run("welder", argv)


def machine_main(argv: list[str] | None = None) -> None:
    run("machine", argv)


def feeder_main(argv: list[str] | None = None) -> None:
    run("feeder", argv)
