"""A bridge node: one device's OPC UA server on one side, the bus on the other.

The OPC UA client runs on an asyncio loop in a background thread; the bus spins on the
main thread. Data changes (subscriptions, never polling) update a `Snapshot`; after each
batch of changes the node publishes the device's status (latched, also every
`HEARTBEAT_S`) and, for the robot and the welder, their sensor topics. Commands and
setpoints arrive on the bus and are handed to the loop. A command carries an id; a
repeated id is acknowledged again, never executed twice.
"""
from __future__ import annotations

import asyncio
import math
import threading
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable

from cell_controller.bridges.base import DeviceMapping, Snapshot
from cell_controller.bridges.feeder import FeederMapping
from cell_controller.bridges.machine import MachineMapping
from cell_controller.bridges.robot import JOINT_NAMES, RobotMapping
from cell_controller.bridges.welder import WelderMapping
from cell_controller.bus.api import Node
from cell_controller.core.config import CellConfig
from cell_controller.core.types import DeviceStatus
from cell_controller.opcua.address_space import COMMAND_STATUS, spec_for
from cell_controller.opcua.client import DeviceClient, DeviceSpecMismatchError, DeviceUnreachableError

from . import topics
from .codec import Codec
from .runtime import spin_until_signal, start_node

HEARTBEAT_S = 0.5
#: subscriptions publish this many times per period of the device's publishing rate
SUBSCRIPTION_OVERSAMPLING = 2
CONNECT_TIMEOUT_S = 3.0
RECONNECT_DELAY_S = 1.0
COMMAND_TIMEOUT_S = 3.0
#: the result reported for a command whose method call has not returned yet
PENDING = "Pending"

MAPPINGS: dict[str, type[DeviceMapping]] = {
    "robot": RobotMapping, "welder": WelderMapping, "machine": MachineMapping, "feeder": FeederMapping,
}


class BridgeNode:
    def __init__(self, node: Node, config: CellConfig, role: str):
        self.node, self.role = node, role
        self.device = config.device(role)
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.spec = spec_for(self.device.kind.value)
        self.mapping = MAPPINGS[role](self.spec)
        self.snapshot = Snapshot(self.spec)
        self.client: DeviceClient | None = None
        self.last_command = ("", "")  # (id, result)
        self.last_status: DeviceStatus | None = None
        self.written: dict[str, float] = {}
        self._flush_scheduled = False
        self._stopping = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"{role}-opcua", daemon=True)

        status = topics.device_status(role)
        self.status_pub = node.create_publisher(status.type, status.name, status.qos)
        command = topics.device_command(role)
        node.create_subscription(command.type, command.name, self._on_command, command.qos)
        self.sensor_pubs = {t: node.create_publisher(t.type, t.name, t.qos) for t in self._sensor_topics()}
        for topic, handler in self._setpoint_topics().items():
            node.create_subscription(topic.type, topic.name, self._setpoint_handler(topic, handler), topic.qos)
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
        while not self._stopping:
            try:
                self.client = await DeviceClient.connect(self.device.endpoint, self.spec, CONNECT_TIMEOUT_S)
                break
            except (DeviceUnreachableError, DeviceSpecMismatchError) as error:
                self.log.warning("%s", error)
                self._publish_status(self.mapping.offline(str(error)))
                await asyncio.sleep(RECONNECT_DELAY_S)
        if self.client is None:
            return
        # half the device's period: a server publishes on its own clock, so at the full period two of the
        # device's samples now and then fall into one notification and the first is lost to the loop
        interval_ms = 1000.0 / (SUBSCRIPTION_OVERSAMPLING * self.device.publishing_rate_Hz)
        await self.client.subscribe([v.path for v in self.spec.variables], interval_ms, self._on_value)
        self.log.info("connected to %s (%s), subscribed at %.0f ms", self.device.endpoint, self.spec.kind, interval_ms)
        while not self._stopping:
            await asyncio.sleep(HEARTBEAT_S)
            self._publish_status(self.mapping.status(self.snapshot))

    def stop(self) -> None:
        """Leave the device safe (the robot's program stopped, so the arc is off) and disconnect."""
        async def shutdown() -> None:
            self._stopping = True
            if self.client is not None:
                if self.role == "robot" and self.snapshot.get(RobotMapping.execution_state) == "Running":
                    await self._call("stop_program", ())
                await self.client.disconnect()
        if self.thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(COMMAND_TIMEOUT_S)
            except Exception as error:  # leaving anyway: the device keeps its own safe state
                self.log.warning("shutdown: %r", error)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(1.0)

    # -- device -> bus ----------------------------------------------------------------------
    def _on_value(self, path: str, value: Any, source_timestamp: datetime | None, good: bool) -> None:
        if path in self.written and value != self.written[path]:
            del self.written[path]  # the device changed it (e.g. a job loaded at arc start): write it again
        self.snapshot.update(path, value, source_timestamp, good)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """After a batch of data changes: publish status if it changed, and the sensor topics."""
        self._flush_scheduled = False
        status = self.mapping.status(self.snapshot)
        if self.last_status is None or _without_stamp(status) != _without_stamp(self.last_status):
            self._publish_status(status)
        if self.snapshot.complete:
            for topic, publisher in self.sensor_pubs.items():
                publisher.publish(self._sensor_message(topic))

    def _publish_status(self, status: DeviceStatus) -> None:
        self.last_status = status
        values = {**status.values, "last_command_id": self.last_command[0],
                  "last_command_result": self.last_command[1], "backend": self.device.backend.value}
        self.status_pub.publish(self.codec.device_status(replace(status, values=values), self.device.endpoint))

    def _sensor_topics(self) -> list[topics.Topic]:
        return {"robot": [topics.JOINT_STATES, topics.TCP_POSE, topics.SEAM_TRACKER],
                "welder": [topics.WELD_PROCESS]}.get(self.role, [])

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
        command_id = values.get("id", "")
        args = tuple(values[k] for k in sorted(k for k in values if k.startswith("arg")))
        asyncio.run_coroutine_threadsafe(self._command(command_id, msg.message, args), self.loop)

    async def _command(self, command_id: str, verb: str, args: tuple[str, ...]) -> None:
        if command_id and command_id == self.last_command[0]:
            self._publish_status(self.mapping.status(self.snapshot))  # acknowledge again
            return
        self.last_command = (command_id, PENDING)
        result = await self._call(verb, args)
        self.last_command = (command_id, result)
        self._publish_status(self.mapping.status(self.snapshot))

    async def _call(self, verb: str, args: tuple[str, ...]) -> str:
        method = self.mapping.commands.get(verb)
        if method is None:
            self.log.warning("unknown command %r", verb)
            return "InvalidArgument"
        if self.client is None:
            return "NotReady"
        try:
            index = await asyncio.wait_for(self.client.call(method, *args), COMMAND_TIMEOUT_S)
        except Exception as error:  # a refused or failed call is reported, never raised into the loop
            self.log.warning("%s%s failed: %r", verb, args, error)
            return "Fault"
        return COMMAND_STATUS.values[index] if isinstance(index, int) else "Fault"

    def _setpoint_topics(self) -> dict[topics.Topic, Callable[[dict[str, float]], dict[str, float]]]:
        """Setpoint topics this device takes, each with a map from the message to variable writes."""
        if self.role == "robot":
            return {topics.WELD_SETPOINTS: lambda f: {RobotMapping.travel_speed: f["travel_speed_mm_s"],
                                                      RobotMapping.torch_offset: f["torch_offset_mm"]}}
        if self.role == "welder":
            return {topics.WELD_SETPOINTS: lambda f: {WelderMapping.voltage: f["voltage_V"],
                                                      WelderMapping.wire_feed: f["wire_feed_m_min"]}}
        if self.role == "feeder":
            return {topics.INFEED: lambda f: {FeederMapping.conveyor_speed: f["conveyor_speed_mm_s"]}}
        return {}

    def _setpoint_handler(self, topic: topics.Topic, writes: Callable[[dict[str, float]], dict[str, float]]):
        def on_message(msg: Any) -> None:
            fields = Codec.read_array(topic, msg)
            if fields is None:
                self.log.warning("%s: rejected a malformed or non-finite message", topic.name)
                return
            asyncio.run_coroutine_threadsafe(self._write(writes(fields), fields.get("release_blank", 0.0) > 0.5),
                                             self.loop)
        return on_message

    async def _write(self, writes: dict[str, float], release_blank: bool) -> None:
        if self.client is None or not self.client.connected:
            return
        for path, value in writes.items():
            if self.written.get(path) == value:
                continue
            try:
                await self.client.write(path, value)
                self.written[path] = value
            except Exception as error:  # out of range, refused or link down: logged, never forwarded
                self.log.warning("write %s=%r refused: %r", path, value, error)
        if release_blank:
            await self._call("release_blank", ())


def _without_stamp(status: DeviceStatus) -> DeviceStatus:
    return replace(status, values={k: v for k, v in status.values.items() if k != "stamp_s"})


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
