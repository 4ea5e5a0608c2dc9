"""The whole cell in one process: a production shift as fast as the CPU allows, for the statistics.

The same pieces as the full cell, not copies of them: the twin's device models (`sim/devices/models.py`,
one headless PyBullet world) stepped on the twin's own schedule (`twin_server.Ticks`, `run_steps`,
reaction windows), its values as its servers show them (`twin_server.device_values`); the bridges'
mappings from those values to the statuses the sequence reads (`bridges/`, through the same `Snapshot`
checks), their goal answers and setpoint guard; and the supervisor (`nodes/supervisor.py`: PackML,
`core/production.py`, the journal), the policy node (`nodes/policy.py`: policies and shield) and the
inspection node (`nodes/inspection.py`) as they are, on a `MemoryBus`. Only OPC UA and DDS are left out: each bridge here reads the twin's values where
the real one would get them by subscription, and calls the model's method where it would call the
server's. The bus's clock is the twin's wall clock, virtual: no threads, no sleeping.

So the journal holds the shift exactly as the full cell writes it (begin, part ids, one record per part,
the PackML states, end `complete`), and every figure computed from a journal is computed the same way
for both. What differs is the controller's latency: zero here, a few ms of cell time per step across
processes (the twin's reaction windows run at real time while the controller reacts).

It lives in `cell_controller/`, next to `compare.py` (`cellctl compare` runs it), not in `sim/`: it runs
the node graph (bridges, bus, nodes and the policies the registry builds) on top of the twin, so it sits
above every layer of README.md's table, where the twin imports only core and opcua.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from cell_controller.bridges import MAPPINGS
from cell_controller.bridges.base import Snapshot
from cell_controller.bus.memory import MemoryBus
from cell_controller.core.backends import BRIDGE_VERBS
from cell_controller.core.config import CellConfig
from cell_controller.core.goals import ACCEPTED, GoalHistory
from cell_controller.core.journal import Journal
from cell_controller.core.lifecycle import IllegalTransition, LifecycleState, Transition, target
from cell_controller.core.packml import State
from cell_controller.core.types import DeviceStatus
from cell_controller.nodes import topics
from cell_controller.nodes.bridge import HEARTBEAT_S, STALE_MIN_S, STALE_PERIODS, _steady, guarded_writes, \
    setpoint_fields, setpoint_guard
from cell_controller.nodes.codec import Codec
from cell_controller.nodes.inspection import InspectionNode
from cell_controller.nodes.policy import PolicyNode
from cell_controller.nodes.supervisor import Supervisor
from cell_controller.opcua.address_space import EnumSpec, spec_for
from cell_controller.policies import registry
from cell_controller.sim.devices.models import TwinCell
from cell_controller.sim.devices.twin_server import (
    BINDINGS, REACTION_WINDOW_S, SEQUENCE_METHODS, Ticks, Watchdog, compile_kernels, device_values, run_steps,
)
from cell_controller.sim.reality_gap import twin_parameters
from cell_controller.sim.twin.world import CellWorld

#: how long a shift may take per part, s of cell time, before the simulation gives up (ideal cycles)
DEADLINE_CYCLES_PER_PART = 5.0
#: ... plus this much, s of cell time (start-up, the first blank's way down the belt)
DEADLINE_MARGIN_S = 300.0
#: how long stopping a shift that went wrong may take, s of (virtual) wall time
STOP_TIMEOUT_S = 120.0
#: the states a shift ends in: Complete when it went well
ENDED = frozenset({State.COMPLETE, State.STOPPED, State.ABORTED})


class SimulationError(RuntimeError):
    """The simulated shift did not complete (held, stopped, aborted or past its deadline); the message says why."""


class _Twin:
    """The twin's loop (`twin_server.TwinServer.run`) on the bus's virtual clock: a tick every
    `ticks.period_s`, each device's values handed to its bridge at its publishing rate, stamped with
    cell time (Unix s: `epoch_s` plus the twin's seconds)."""

    def __init__(self, bus: MemoryBus, config: CellConfig, cell: TwinCell, epoch_s: float):
        self.bus, self.config, self.cell, self.epoch_s = bus, config, cell, epoch_s
        self.ticks = Ticks.of({role: config.device(role).publishing_rate_Hz for role in BINDINGS}, config.time_scale)
        self.watchdog = Watchdog()  # never armed: no heartbeat crosses a process here
        self.heartbeats = dict.fromkeys(BINDINGS, 0)
        self.window_since: float | None = None
        self.tick = 0
        self.bridges = {role: _Bridge(bus, config, role, self) for role in BINDINGS}
        bus.node("twin", config.namespace).create_timer(self.ticks.period_s, self.step)

    def step(self) -> None:
        if self.window_since is not None and self.bus.time_s - self.window_since > REACTION_WINDOW_S:
            self.window_since = None
        steps = self.ticks.real_time_steps if self.window_since is not None else self.ticks.steps
        if run_steps(self.cell.step, steps, self.config.time_scale):
            self.open_window()
        for role, bridge in self.bridges.items():
            if self.tick % self.ticks.publish_every[role] == 0:
                self.heartbeats[role] = (self.heartbeats[role] + 1) % 2**32
                bridge.sample(device_values(self.cell, role, self.heartbeats[role], self.watchdog))
        self.tick += 1

    def open_window(self) -> None:
        """The twin runs at real time until the controller has reacted (`twin_server.REACTION_WINDOW_S`)."""
        self.window_since = self.bus.time_s

    def stamp(self) -> datetime:
        return datetime.fromtimestamp(self.epoch_s + self.cell.time_s, timezone.utc)


class _Bridge:
    """One device's bridge (`nodes/bridge.py` on the bus side) over the twin in the same process.

    The twin's values go through the device's `Snapshot` and mapping as a subscription's would; goals are
    answered once each in the latched status (`goal.<id>`); lifecycle transitions as a bridge takes them
    (configure, activate: there is no link to open); setpoints clamped and rate-limited by the bridge's
    guard, then set on the model, as the twin's server sets a written value.
    """

    def __init__(self, bus: MemoryBus, config: CellConfig, role: str, twin: _Twin):
        self.bus, self.role, self.twin = bus, role, twin
        device = config.device(role)
        self.spec = spec_for(device.kind.value)
        self.mapping = MAPPINGS[role](self.spec)
        self.snapshot = Snapshot(self.spec)
        self.endpoint = device.endpoint
        self.backend = device.backend.value
        self.stale_after_s = max(STALE_PERIODS / device.publishing_rate_Hz, STALE_MIN_S)
        self.lifecycle = LifecycleState.UNCONFIGURED
        self.goals = GoalHistory()
        self.fields = setpoint_fields(role)
        self.guard = setpoint_guard(config, role)
        self.binding = BINDINGS[role]
        #: what the device's server holds: path -> value as on the wire (enumerations as their index)
        self.served: dict[str, Any] = {v.path: v.default for v in self.spec.variables}
        self._enums = {v.path: v.data_type for v in self.spec.variables if isinstance(v.data_type, EnumSpec)}
        self.last_status: DeviceStatus | None = None
        self.node = bus.node(f"{role}_bridge", config.namespace)
        self.codec = Codec(self.node)
        status = topics.device_status(role)
        self.status_pub = self.node.create_publisher(status.type, status.name, status.qos)
        command = topics.device_command(role)
        self.node.create_subscription(command.type, command.name, self._on_command, command.qos)
        self.sensors = {t: self.node.create_publisher(t.type, t.name, t.qos) for t in
                        {"robot": (topics.SEAM_TRACKER,), "welder": (topics.WELD_PROCESS,)}.get(role, ())}
        for topic in (topics.WELD_SETPOINTS, topics.INFEED):
            if any(f in topic.fields for f in self.fields):
                self.node.create_subscription(topic.type, topic.name, self._on_setpoints(topic), topic.qos)
        self.node.create_timer(HEARTBEAT_S, lambda: self._publish(self._status()))
        for path, value in self.served.items():
            self.snapshot.update(path, value, None, True, bus.time_s)
        self._publish(self._status())

    # -- device -> bus ----------------------------------------------------------------------
    def sample(self, values: dict[str, Any]) -> None:
        """The device's values now (`twin_server.device_values`): the changed ones reach the snapshot as
        data changes, then the status (on change) and the sensor topics, as after a subscription's batch."""
        stamp = self.twin.stamp()
        for path in self.served:
            if path not in values:
                continue
            value = values[path]
            if path in self._enums and isinstance(value, str):
                value = self._enums[path].index(value)
            if value != self.served[path] or path not in self.snapshot.values:
                self.served[path] = value
                self.snapshot.update(path, value, stamp, True, self.bus.time_s)
        status = self._status()
        if self.last_status is None or _steady(status) != _steady(self.last_status):
            self._publish(status)
        if self.lifecycle is LifecycleState.UNCONFIGURED:
            return
        for topic, publisher in self.sensors.items():
            if topic is topics.SEAM_TRACKER:
                publisher.publish(self.codec.array(topic, self.mapping.tracker(self.snapshot)))
            else:
                publisher.publish(self.codec.array(topic, self.mapping.process(self.snapshot)))

    def _status(self) -> DeviceStatus:
        if self.lifecycle is LifecycleState.UNCONFIGURED:
            return self.mapping.offline("unconfigured: not configured yet (the supervisor configures it)")
        return self.mapping.status(self.snapshot, self.bus.time_s, self.stale_after_s)

    def _publish(self, status: DeviceStatus) -> None:
        self.last_status = status
        values = {**status.values, **self.goals.values(), "backend": self.backend, "lifecycle": self.lifecycle.value}
        self.status_pub.publish(self.codec.device_status(
            DeviceStatus(status.device, status.state, status.part_id, status.detail, values), self.endpoint))

    # -- bus -> device ----------------------------------------------------------------------
    def _on_command(self, msg: Any) -> None:
        values = Codec.values(msg)
        goal_id = values.get("id", "")[:64]
        args = tuple(values[k] for k in sorted(k for k in values if k.startswith("arg")))
        if goal_id and self.goals.begin(goal_id):
            self.goals.finish(goal_id, self._transition(msg.message) if msg.message in BRIDGE_VERBS
                              else self._call(msg.message, args))
        self._publish(self._status())

    def _transition(self, verb: str) -> str:
        try:
            self.lifecycle = target(self.lifecycle, Transition(verb))
        except (IllegalTransition, ValueError) as error:  # a swap: the cell in one process has the twin only
            return f"InvalidArgument: {error}"
        return ACCEPTED

    def _call(self, verb: str, args: tuple[str, ...]) -> str:
        """A device command: the twin server's method for it (a sequence command opens a reaction window)."""
        if self.lifecycle is not LifecycleState.ACTIVE:
            return f"NotReady: the {self.role} bridge is {self.lifecycle.value}"
        path = self.mapping.commands.get(verb)
        if path is None or path not in self.binding.methods:
            return f"InvalidArgument: the {self.role} has no command {verb[:40]!r}"
        if path in SEQUENCE_METHODS:
            self.twin.open_window()
        try:
            result = self.binding.methods[path](self.twin.cell, *args)
        except TypeError as error:
            return f"InvalidArgument: {error}"
        status, _, reason = result.partition(": ")
        return status if status == ACCEPTED else f"{status}: {reason[:160]}"

    def _on_setpoints(self, topic: topics.Topic):
        def on_message(msg: Any) -> None:
            fields = Codec.read_array(topic, msg)
            if fields is None or self.lifecycle is not LifecycleState.ACTIVE:
                return
            for path, value in guarded_writes(fields, self.fields, self.snapshot, self.guard).items():
                if self.snapshot.get(path) != value:
                    self.binding.setpoints[path](self.twin.cell, value)
            if self.role == "feeder" and fields.get("release_blank", 0.0) > 0.5:
                self._call("release_blank", ())
        return on_message


def simulate_shift(config: CellConfig, journal: Journal, parts: int) -> int:
    """Run one production shift of `parts` parts of the cell `config` describes, in this process; return its
    shift id in `journal`, where it is written as the supervisor writes every shift.

    Seeds as the twin's (`cell.seed`; blank k's joint seed `cell.seed * 100000 + k`), so a shift here and
    one across processes (`cellctl shift`) weld the same joints. SimulationError when the shift does not
    complete (it is then stopped, its records kept); ValueError for a journal whose last shift was
    interrupted (the supervisor would wait for an operator's Clear and Reset).
    """
    if journal.interrupted_shifts:
        raise ValueError(f"{journal.path}: shift {journal.interrupted_shifts[-1]} was interrupted: "
                         "recover it with the cell (cellctl) before simulating into this journal")
    compile_kernels()
    logging.getLogger(config.namespace.strip("/")).addHandler(logging.NullHandler())  # the nodes' loggers
    bus = MemoryBus(wire=False)
    with CellWorld(seed=config.seed) as world:
        cell = TwinCell(config, world, twin_parameters(config))
        twin = _Twin(bus, config, cell, epoch_s=float(int(datetime.now(timezone.utc).timestamp())))
        PolicyNode(bus.node("policy", config.namespace), config, registry.weld_policy(config),
                   registry.feed_policy(config))
        InspectionNode(bus.node("inspection", config.namespace), registry.inspector(config))
        supervisor = Supervisor(bus.node("supervisor", config.namespace), config, journal, parts, auto_start=True)
        deadline_s = parts * config.supervisor.ideal_cycle_s * DEADLINE_CYCLES_PER_PART + DEADLINE_MARGIN_S
        while supervisor.packml.state not in ENDED and cell.time_s < deadline_s \
                and supervisor.packml.state is not State.HELD:
            bus.advance(twin.ticks.period_s)
        state, reason = supervisor.packml.state, supervisor.stop_reason.text
        if state is not State.COMPLETE:
            supervisor.operator_command("stop")
            bus.run_until(lambda: supervisor.packml.state in ENDED, STOP_TIMEOUT_S, twin.ticks.period_s)
        journal.flush_events()
    shift_id = supervisor.production.shift_id
    if state is not State.COMPLETE or shift_id is None:
        raise SimulationError(f"simulated shift {shift_id} did not complete: {state.value} at {cell.time_s:.0f} s "
                              f"of cell time ({reason or 'past its deadline'})")
    return shift_id
