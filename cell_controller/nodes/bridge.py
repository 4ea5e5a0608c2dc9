"""A bridge node: one device's OPC UA server on one side, the bus on the other; a managed node.

The OPC UA client runs on an asyncio loop in a background thread; the bus spins on the main
thread. Data changes (subscriptions, never polling) update a `Snapshot`, which checks every
sample; after each batch the node publishes the device's status (latched, on change and every
`HEARTBEAT_S`) and, for the robot and the welder, their sensor topics when every value they
carry is good. A timer on the loop notices a device whose life-sign stops within its stale bound.

Lifecycle (`core/lifecycle.py`, driven by the supervisor with goals on the command topic):
unconfigured (no link), configure connects and checks the backend, inactive (reads and status, no
write), activate, active (setpoints, commands and the heartbeat reach the device). The state is the
status value `lifecycle`.

Backends (`backend` in the status): twin, real, or shadow, where the real device drives the cell
and the twin runs alongside on every setpoint, command and heartbeat; each sample of the real
device is then paired with the twin's and twin − real published on `<device>/divergence`, and a
recent RMS beyond `real.divergence_tolerance` is the status value `drift`. `swap <backend>` moves
the device make-before-break: the new link is connected, checked, healthy and re-synchronised
before it drives, or the swap is refused and the old link drives on (`_swap`).

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

from cell_controller.bridges import MAPPINGS, SETPOINTS
from cell_controller.bridges.base import Snapshot, process_signals
from cell_controller.bridges.robot import JOINT_NAMES, RobotMapping
from cell_controller.bridges.welder import WelderMapping
from cell_controller.bus.api import Node
from cell_controller.core.backends import BRIDGE_VERBS
from cell_controller.core.config import CellConfig
from cell_controller.core.divergence import DriftMonitor
from cell_controller.core.goals import ACCEPTED, GoalHistory
from cell_controller.core.lifecycle import IllegalTransition, LifecycleState, Transition, target
from cell_controller.core.operator import SWAP_VERB
from cell_controller.core.shield import SetpointGuard
from cell_controller.core.types import Backend, DeviceState, DeviceStatus
from cell_controller.opcua.address_space import COMMAND_STATUS, CONTROLLER_HEARTBEAT, EXECUTION_RUNNING, spec_for
from cell_controller.opcua.client import LINK_ERRORS

from . import topics
from .codec import Codec
from .device_link import REAL, TWIN, Link, open_link
from .runtime import spin_until_signal, start_node

HEARTBEAT_S = 0.5
#: subscriptions publish this many times per period of the device's publishing rate
SUBSCRIPTION_OVERSAMPLING = 2
#: a device whose life-sign has not changed for this many publishing periods is stale ...
STALE_PERIODS = 3
#: ... and for at least this long, s: above the cell PC's scheduling jitter (a large message decoded on
#: the bus thread; life-sign gaps of up to 0.39 s in full test runs on a loaded 2-core PC, where 0.25 s
#: held the cell for nothing); a frozen device holds the cell within it, the devices' own watchdogs
#: stop the arc when the controller goes silent
STALE_MIN_S = 0.6
#: a link that is up while its device's life-sign has not changed for this long is made to subscribe again
#: (at most this often), s: a reconnect can leave a subscription that delivers nothing and says so nowhere
RESUBSCRIBE_AFTER_S = 5.0
COMMAND_TIMEOUT_S = 3.0
#: how long a swap waits for the new backend to be complete, fresh and at rest, s (wall)
SWAP_HEALTH_TIMEOUT_S = 2.0
#: the drift warning's recent RMS is weighted over this long, s (wall: the device's samples)
DRIFT_WINDOW_S = 1.0
#: status values that change with every sample: a change of only these does not publish the status
_VOLATILE = ("stamp_s", "data_age_s")
#: which links each backend holds: the one that drives, and the twin alongside in shadow
LINKS = {Backend.TWIN: (TWIN, None), Backend.REAL: (REAL, None), Backend.SHADOW: (REAL, TWIN)}


def setpoint_fields(role: str) -> list[str]:
    """The setpoints (`SETPOINTS` fields) `role`'s bridge writes to its device."""
    return [f for f, s in SETPOINTS.items() if s.role == role]


def setpoint_guard(config: CellConfig, role: str) -> SetpointGuard:
    """`role`'s bridge's own clamp and rate limit: the device's limits and the policies' rate limits, per
    sample period of the device in cell time (its publishing period times the time scale)."""
    device, fields = config.device(role), setpoint_fields(role)
    return SetpointGuard(
        {f: device.limits[SETPOINTS[f].limit] for f in fields if SETPOINTS[f].limit in device.limits},
        {f: config.policies.rate_limits_per_s[SETPOINTS[f].limit] for f in fields
         if SETPOINTS[f].limit in config.policies.rate_limits_per_s},
        tick_s=config.time_scale * (1.0 / device.publishing_rate_Hz))


def guarded_writes(fields: dict[str, float], names: list[str], snapshot: Snapshot,
                   guard: SetpointGuard) -> dict[str, Any]:
    """path -> value to write for each setpoint of `names` in `fields` (a setpoint message, canonical units),
    clamped and rate-limited by `guard` from the value the device holds (`snapshot`; unknown: no rate limit)."""
    writes = {}
    for name in names:
        if name in fields:
            path = SETPOINTS[name].path
            device_value = snapshot.get(path) if snapshot.good(path) else None
            writes[path] = guard.guard(name, fields[name], device_value)
    return writes


class SwapRefused(Exception):
    """A swap that cannot be made; the message says why (the old backend drives on)."""


class BridgeNode:
    def __init__(self, node: Node, config: CellConfig, role: str):
        self.node, self.role, self.config = node, role, config
        self.device = config.device(role)
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.spec = spec_for(self.device.kind.value)
        self.mapping = MAPPINGS[role](self.spec)
        self.signals = process_signals(self.spec)
        self.lifecycle = LifecycleState.UNCONFIGURED
        self.backend = self.device.backend
        self.link: Link | None = None  # the backend that drives the cell
        self.shadow: Link | None = None  # the twin alongside, in shadow
        self.moving: list[Link] = []  # while a swap runs: the links it holds and opens (they get the heartbeat)
        self.unconfigured_reason = "not configured yet (the supervisor configures it)"
        self.swap_result = ""
        self._empty = Snapshot(self.spec)
        #: the device's publishing period, wall s (the twin publishes at its rate in wall time)
        self.period_s = 1.0 / self.device.publishing_rate_Hz
        self.stale_after_s = max(STALE_PERIODS * self.period_s, STALE_MIN_S)
        self.interval_ms = 1000.0 * self.period_s / SUBSCRIPTION_OVERSAMPLING
        tolerances = self.device.real.divergence_tolerance if self.device.real else {}
        self.drift = DriftMonitor(tolerances, self.drift_window_samples)
        self.goals = GoalHistory()
        self.last_status: DeviceStatus | None = None
        self.fields = setpoint_fields(role)
        self.guard = setpoint_guard(config, role)
        self.pending_writes: dict[str, Any] = {}
        self.write_errors = 0
        self.shadow_mismatches = 0
        self.sensor_skips = 0
        self._flush_scheduled = False
        self._stopping = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"{role}-opcua", daemon=True)
        self._wake_writer: asyncio.Event | None = None
        self._commands: asyncio.Lock | None = None
        self._links: asyncio.Lock | None = None  # a write batch, or a swap's switch

        status = topics.device_status(role)
        self.status_pub = node.create_publisher(status.type, status.name, status.qos)
        command = topics.device_command(role)
        node.create_subscription(command.type, command.name, self._on_command, command.qos)
        self.sensor_pubs = {t: node.create_publisher(t.type, t.name, t.qos) for t in self._sensor_topics()}
        self.divergence_topic = topics.divergence(role, self.signals)
        self.divergence_pub = node.create_publisher(self.divergence_topic.type, self.divergence_topic.name,
                                                    self.divergence_topic.qos)
        for topic in (topics.WELD_SETPOINTS, topics.INFEED):
            if any(f in topic.fields for f in self.fields):
                node.create_subscription(topic.type, topic.name, self._setpoint_handler(topic), topic.qos)
        event = topics.transition_event(role)
        self.transition_pub = node.create_publisher(event.type, event.name, event.qos)
        self._lifecycle_messages = {name: node.message(name) for name in (
            "lifecycle_msgs/msg/TransitionEvent", "lifecycle_msgs/msg/Transition", "lifecycle_msgs/msg/State")}
        hb = topics.HEARTBEAT
        self.heartbeat_sub = node.create_subscription(hb.type, hb.name, self._on_heartbeat, hb.qos)
        self.heartbeats_refused = 0
        if self.sensor_pubs:
            self._messages = {name: node.message(name) for name in (
                "sensor_msgs/msg/JointState", "geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/Pose",
                "geometry_msgs/msg/Point", "geometry_msgs/msg/Quaternion", "std_msgs/msg/Header",
                "builtin_interfaces/msg/Time")}

    @property
    def snapshot(self) -> Snapshot:
        """What the driving backend has said (empty while there is none). Read from the bus thread too."""
        link = self.link
        return link.snapshot if link is not None else self._empty

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Run the loop: the bridge is unconfigured until the supervisor configures it."""
        self.thread.start()
        self._publish_status(self._status())
        asyncio.run_coroutine_threadsafe(self._run(), self.loop)

    async def _run(self) -> None:
        self._wake_writer, self._commands, self._links = asyncio.Event(), asyncio.Lock(), asyncio.Lock()
        writer = asyncio.ensure_future(self._writer())
        last_heartbeat = 0.0
        watched_since: dict[str, float] = {}  # endpoint -> since when its link is up, or last subscribed again
        while not self._stopping:
            await asyncio.sleep(self.stale_after_s / 3)
            now = time.monotonic()
            if now - last_heartbeat >= HEARTBEAT_S:
                last_heartbeat = now
                self._publish_status(self._status())
            else:
                self._publish_if_changed()
            for link in (self.link, self.shadow):
                if link is None or not link.connected:
                    watched_since.pop(link.endpoint if link else "", None)
                    continue
                since = max(watched_since.setdefault(link.endpoint, now), link.snapshot.fresh_at_s or 0.0)
                if now - since > RESUBSCRIBE_AFTER_S:
                    watched_since[link.endpoint] = now
                    asyncio.ensure_future(self._resubscribe(link))  # the status goes on being published
        writer.cancel()

    async def _resubscribe(self, link: Link) -> None:
        self.log.warning("%s: the link is up but no life-sign came for %.0f s: subscribing again", link.endpoint,
                         RESUBSCRIBE_AFTER_S)
        try:
            await link.client.resubscribe()
        except LINK_ERRORS as error:
            self.log.warning("%s: subscribing again failed (%r); the next try in %.0f s", link.endpoint, error,
                             RESUBSCRIBE_AFTER_S)

    async def _transition(self, transition: Transition) -> str:
        """Take one lifecycle transition; the goal's answer (Accepted, or why not: the state stays)."""
        try:
            after = target(self.lifecycle, transition)
        except IllegalTransition as error:
            return f"InvalidArgument: {error}"
        if transition is Transition.CONFIGURE:
            try:
                self.link, self.shadow = await self._open_links(self.backend, {})
            except Exception as error:  # unreachable, another identity, a mapping that does not load: reported
                self.unconfigured_reason = f"configure failed: {error}"
                return f"NotReady: {error}"[:200]
            self.log.info("configured: %s (%s) at %s, subscribed at %.0f ms", self.backend.value, self.spec.kind,
                          self.link.endpoint, self.interval_ms)
        elif transition in (Transition.CLEANUP, Transition.SHUTDOWN):
            await self._close(self.link, self.shadow)
            self.link = self.shadow = None
            self.unconfigured_reason = "cleaned up"
        self._enter(after, transition)
        return ACCEPTED

    def _enter(self, state: LifecycleState, transition: Transition) -> None:
        """Take `state`, telling it on `~/transition_event` as rclpy.lifecycle does."""
        before, self.lifecycle = self.lifecycle, state
        if state is not LifecycleState.ACTIVE:
            self.pending_writes.clear()
        if before is state:
            return
        m = self._lifecycle_messages
        self.transition_pub.publish(m["lifecycle_msgs/msg/TransitionEvent"](
            timestamp=time.time_ns(), transition=m["lifecycle_msgs/msg/Transition"](id=transition.number,
                                                                                    label=transition.value),
            start_state=m["lifecycle_msgs/msg/State"](id=before.number, label=before.value),
            goal_state=m["lifecycle_msgs/msg/State"](id=state.number, label=state.value)))

    async def _open_links(self, backend: Backend, reuse: dict[str, Link]) -> tuple[Link, Link | None]:
        """The driving link and the shadow twin (or None) of `backend`; links in `reuse` (by where) are
        taken as they are, the others opened. Raises one of LINK_ERRORS; nothing new is left open then."""
        opened: list[Link] = []
        try:
            links = []
            for where in LINKS[backend]:
                if where is None:
                    links.append(None)
                elif where in reuse:
                    links.append(reuse[where])
                else:
                    link = await open_link(self.device, self.spec, where, self.interval_ms, self._on_value)
                    link.client.on_link_change(lambda up, link=link: self._on_link(link, up))
                    opened.append(link)
                    links.append(link)
        except BaseException:
            await self._close(*opened)
            raise
        return links[0], links[1]

    @staticmethod
    async def _close(*links: Link | None) -> None:
        for link in links:
            if link is not None:
                await link.close()

    async def _swap(self, backend_name: str) -> str:
        """Move the device to `backend_name` make-before-break; the goal's answer. While it moves nothing
        but the heartbeat is written (to every link it holds or opens: no watchdog trips meanwhile)."""
        try:
            backend = Backend(backend_name)
        except ValueError:
            return f"InvalidArgument: backend {backend_name[:20]!r} is not one of {', '.join(b.value for b in Backend)}"
        old = self.backend
        started_s = time.monotonic()
        try:
            self._check_swap(backend)
        except SwapRefused as error:
            return self._swap_answer(f"NotReady: swap to {backend.value} refused: {error}")
        if backend is old or self.lifecycle is LifecycleState.UNCONFIGURED:
            self.backend = backend  # the next configure connects it
            return self._swap_answer(ACCEPTED)
        was = self.lifecycle
        held = {link.where: link for link in (self.link, self.shadow) if link is not None}
        self.moving = list(held.values())
        self._enter(LifecycleState.INACTIVE, Transition.DEACTIVATE)
        self._publish_status(self._status())
        try:
            drive, shadow = await self._open_links(backend, held)
            new = [link for link in (drive, shadow) if link is not None and link not in held.values()]
            self.moving += new
            await self._until_healthy([link for link in (drive, shadow) if link is not None])
            for link in new:
                self._check_agreement(link)
            await self._resync(drive, shadow)
        except Exception as error:  # SwapRefused, a link error, a write the new device refused: roll back
            await self._close(*(link for link in self.moving if link not in held.values()))
            self.moving = []
            self._enter(was, Transition.ACTIVATE)
            self._publish_status(self._status())
            return self._swap_answer(f"NotReady: swap to {backend.value} refused, {old.value} drives on: {error}")
        assert self._links is not None
        async with self._links:  # no write batch runs across the switch
            self.link, self.shadow, self.backend = drive, shadow, backend
            switched_s = time.monotonic()
            self.moving = []
            self._enter(was, Transition.ACTIVATE)
        await self._close(*(link for link in held.values() if link not in (drive, shadow)))
        self.drift = DriftMonitor(self.drift.tolerances, self.drift_window_samples)
        fresh = await self._until_fresh_since(drive, switched_s)
        took_ms = 1000.0 * (time.monotonic() - started_s)
        self.log.info("swapped %s -> %s (%s) in %.0f ms", old.value, backend.value, drive.endpoint, took_ms)
        return self._swap_answer(ACCEPTED if fresh else f"{ACCEPTED}, but no fresh value within "
                                 f"{SWAP_HEALTH_TIMEOUT_S:.0f} s from {drive.endpoint}", took_ms)

    @property
    def drift_window_samples(self) -> float:
        return DRIFT_WINDOW_S / self.period_s

    def _swap_answer(self, answer: str, took_ms: float | None = None) -> str:
        """Keep `answer` for the status (with the time taken); the goal's answer is its first word's."""
        self.swap_result = answer if took_ms is None else f"{answer} in {took_ms:.0f} ms"
        return ACCEPTED if answer.startswith(ACCEPTED) else answer[:200]

    def _check_swap(self, backend: Backend) -> None:
        if backend.uses_real and self.device.real is None:
            raise SwapRefused(f"devices.{self.device.name} has no real section (endpoint, security)")
        if backend.uses_real and self.config.time_scale != 1.0:
            raise SwapRefused(f"the cell runs at time scale {self.config.time_scale:g}; real devices run in real "
                              "time (twin.time_scale: 1)")
        if self.lifecycle is LifecycleState.FINALIZED:
            raise SwapRefused("the bridge has shut down")

    async def _until_healthy(self, links: list[Link]) -> None:
        """Every link's values complete and its life-sign counting, within SWAP_HEALTH_TIMEOUT_S."""
        deadline = time.monotonic() + SWAP_HEALTH_TIMEOUT_S
        while True:
            now = time.monotonic()
            problems = [f"{link.where} {link.endpoint}: {problem}" for link in links
                        for problem in [link.snapshot.problem(now, self.stale_after_s) or _no_new_life_sign(link)]
                        if problem is not None]
            if not problems:
                return
            if now > deadline:
                raise SwapRefused(f"not healthy within {SWAP_HEALTH_TIMEOUT_S:.0f} s: {problems[0]}")
            await asyncio.sleep(self.period_s / 2)

    def _check_agreement(self, new: Link) -> None:
        """A link joining the device at rest, and telling what the driving one told of what the cell holds
        (`swap_agree`)."""
        now = time.monotonic()
        status = self.mapping.status(new.snapshot, now, self.stale_after_s)
        if status.state is not DeviceState.IDLE:
            raise SwapRefused(f"the {new.where} {self.role} is {status.state.value} ({status.detail}), not idle")
        if self.link is None or new is self.link:
            return
        old = self.mapping.status(self.link.snapshot, now, self.stale_after_s)
        for key in self.mapping.swap_agree:
            if old.values.get(key) != status.values.get(key):
                raise SwapRefused(f"{key} is {status.values.get(key)!r} on the {new.where} {self.role}, "
                                  f"{old.values.get(key)!r} on the {self.link.where} one")

    async def _resync(self, drive: Link, shadow: Link | None) -> None:
        """Give the new backend the setpoints the old one holds (the cell's last word to the device)."""
        if self.link is None:
            return
        held = {v.path: self.link.snapshot.get(v.path) for v in self.spec.variables
                if v.writable and v.path != CONTROLLER_HEARTBEAT and self.link.snapshot.good(v.path)}
        for link in (drive, shadow):
            if link is None or link is self.link:
                continue
            for path, value in held.items():
                if link.snapshot.get(path) != value:
                    await asyncio.wait_for(link.client.write(path, value), COMMAND_TIMEOUT_S)

    async def _until_fresh_since(self, link: Link, since_s: float) -> bool:
        """The link's life-sign changes after `since_s` (monotonic s): a value the switch did not carry over."""
        deadline = time.monotonic() + SWAP_HEALTH_TIMEOUT_S
        while (link.snapshot.fresh_at_s or 0.0) <= since_s:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(self.period_s / 4)
        return True

    def stop(self) -> None:
        """Leave the device safe (the robot's program stopped, so the arc is off; the shadow twin's too) and
        disconnect every link, those of a swap under way included."""
        async def shutdown() -> None:
            self._stopping = True
            for link in (self.link, self.shadow):
                if link is not None and link.connected and self.role == "robot" and \
                        link.snapshot.get(RobotMapping.execution_state) == EXECUTION_RUNNING:
                    await self._call_device("stop_program", (), link)
            await self._close(*{link for link in (self.link, self.shadow, *self.moving) if link is not None})
            self._enter(LifecycleState.FINALIZED, Transition.SHUTDOWN)
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
    def _on_link(self, link: Link, up: bool) -> None:
        if not up:
            if link is self.link:
                self.pending_writes.clear()  # nothing from before the gap is written after it
            link.snapshot.clear()
            self._publish_status(self._status())

    def _on_value(self, link: Link, path: str, value: Any, source_timestamp: datetime | None, good: bool) -> None:
        link.snapshot.update(path, value, source_timestamp, good, time.monotonic())
        if link is self.link and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _status(self) -> DeviceStatus:
        if self.lifecycle in (LifecycleState.UNCONFIGURED, LifecycleState.FINALIZED) or self.link is None:
            reason = self.unconfigured_reason if self.lifecycle is LifecycleState.UNCONFIGURED else "shut down"
            return self.mapping.offline(f"{self.lifecycle.value}: {reason}")
        if not self.link.connected:
            return self.mapping.offline(f"link to {self.link.endpoint} down")
        return self.mapping.status(self.link.snapshot, time.monotonic(), self.stale_after_s)

    def _publish_if_changed(self) -> DeviceStatus:
        status = self._status()
        if self.last_status is None or _steady(status) != _steady(self.last_status):
            self._publish_status(status)
        return status

    def _flush(self) -> None:
        """After a batch of data changes: publish status if it changed, the sensor topics, the divergence."""
        self._flush_scheduled = False
        status = self._publish_if_changed()
        if status.state.value in ("offline", "stale"):
            return
        for topic, publisher in self.sensor_pubs.items():
            if self.snapshot.good(*self._sensor_paths(topic)):
                publisher.publish(self._sensor_message(topic))
            else:
                self.sensor_skips += 1
        if self.shadow is not None:
            self._publish_divergence(self.snapshot, self.shadow.snapshot)

    def _publish_divergence(self, real: Snapshot, twin: Snapshot) -> None:
        """twin − real of every process value, when both sides hold a good value of each."""
        paths = [v.path for v in self.signals]
        if not (real.good(*paths) and twin.good(*paths)):
            return
        differences = {path: twin.get(path) - real.get(path) for path in paths}
        self.drift.add(differences)
        self.divergence_pub.publish(self.codec.array(self.divergence_topic, list(differences.values())))

    def _publish_status(self, status: DeviceStatus) -> None:
        self.last_status = status
        age = time.monotonic() - self.snapshot.fresh_at_s if self.snapshot.fresh_at_s is not None else math.inf
        values = {**status.values, **self.goals.values(), "backend": self.backend.value,
                  "lifecycle": self.lifecycle.value, "data_age_s": f"{age:.3f}",
                  "rejected_samples": str(self.snapshot.rejected), "write_errors": str(self.write_errors),
                  **{k: str(v) for k, v in self.guard.counts.items()}}
        if self.link is not None:
            values["application_uri"] = self.link.application_uri
        if self.swap_result:
            values["swap_result"] = self.swap_result
        if self.shadow is not None:
            values["shadow"] = "ok" if self.shadow.connected and self.shadow.snapshot.fresh_at_s else "down"
            values["shadow_mismatches"] = str(self.shadow_mismatches)
            values["drift"] = "; ".join(self.drift.drifted())
        endpoint = self.link.endpoint if self.link is not None else self.device.endpoint
        self.status_pub.publish(self.codec.device_status(replace(status, values=values), endpoint))

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
        """Execute a goal once; a repeated id is answered again. One goal at a time per device."""
        if not goal_id:
            self.log.warning("command %r without an id ignored", verb[:40])
            return
        if not self.goals.begin(goal_id):
            self._publish_status(self._status())
            return
        self._publish_status(self._status())
        assert self._commands is not None
        async with self._commands:
            try:
                if verb == SWAP_VERB:
                    result = await self._swap(args[0]) if len(args) == 1 else \
                        "InvalidArgument: swap takes one backend: twin, real or shadow"
                elif verb in BRIDGE_VERBS:
                    result = await self._transition(Transition(verb))
                else:
                    result = await self._call(verb, args)
            except Exception as error:  # answered, never left Pending nor raised into the loop
                self.log.exception("%s%s failed", verb[:40], args)
                result = f"Fault: {type(error).__name__}: {error}"[:200]
        self.goals.finish(goal_id, result)
        self._publish_status(self._status())

    async def _call(self, verb: str, args: tuple[str, ...]) -> str:
        """A device command from the supervisor, taken while active only; in shadow the twin gets it too."""
        if self.lifecycle is not LifecycleState.ACTIVE:
            return f"NotReady: the {self.role} bridge is {self.lifecycle.value}"
        if self.shadow is None:
            return await self._call_device(verb, args)
        twin = asyncio.ensure_future(self._call_device(verb, args, self.shadow))  # a slow twin never holds the real
        real = await self._call_device(verb, args)
        twin.add_done_callback(lambda done: done.cancelled() or self._compare(verb, args, real, done.result()))
        return real

    def _compare(self, verb: str, args: tuple[str, ...], real: str, twin: str) -> None:
        if real.partition(":")[0] != twin.partition(":")[0]:
            self.shadow_mismatches += 1
            self.log.warning("shadow: %s%s answered %r by the real %s, %r by the twin", verb, args, real, self.role, twin)

    async def _call_device(self, verb: str, args: tuple[str, ...], link: Link | None = None) -> str:
        """Call the method for `verb` on `link` (the driving one by default): its CommandStatus name, then
        ': ' and its reason."""
        link = link or self.link
        method = self.mapping.commands.get(verb)
        if method is None:
            return f"InvalidArgument: the {self.role} has no command {verb[:40]!r}"
        if link is None or not link.connected:
            return "NotReady: no link to the device"
        try:
            status, reason = await asyncio.wait_for(link.client.call(method, *args), COMMAND_TIMEOUT_S)
        except TypeError as error:
            return f"InvalidArgument: {error}"
        except Exception as error:  # a refused or failed call is reported, never raised into the loop
            self.log.warning("%s%s failed on %s: %r", verb, args, link.endpoint, error)
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
            writes = guarded_writes(fields, self.fields, self.snapshot, self.guard)
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
        """The device's one writer: pending setpoints, each once, while active and the link is up; in
        shadow the twin gets each one too (each link written on its own: a slow one holds no other);
        while a swap moves the device, the heartbeat only, to every link it holds or opens."""
        assert self._wake_writer is not None and self._links is not None
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            writes, self.pending_writes = self.pending_writes, {}
            async with self._links:
                if self.lifecycle is LifecycleState.ACTIVE:
                    targets = [link for link in (self.link, self.shadow) if link is not None]
                else:  # inactive: nothing is written, and nothing from now is written later
                    targets = self.moving
                    writes = {p: v for p, v in writes.items() if p == CONTROLLER_HEARTBEAT}
                if writes:
                    await asyncio.gather(*(self._write(link, writes) for link in targets if link.connected))

    async def _write(self, link: Link, writes: dict[str, Any]) -> None:
        for path, value in writes.items():
            if path != CONTROLLER_HEARTBEAT and link.snapshot.get(path) == value:
                continue  # the device holds it already
            try:
                await asyncio.wait_for(link.client.write(path, value), COMMAND_TIMEOUT_S)
            except Exception as error:  # refused or link down: counted on the status, never retried stale
                self.write_errors += 1
                if self.write_errors in (1, 10, 100) or self.write_errors % 1000 == 0:
                    self.log.warning("write %s=%r to %s failed (%d failures so far): %r", path, value,
                                     link.endpoint, self.write_errors, error)


def _no_new_life_sign(link: Link) -> str | None:
    """A link just opened has only the life-sign the device had: it is healthy once the device counts on."""
    return None if link.snapshot.life_signs >= 2 else "its life-sign has not changed since it connected"


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
