"""Simulated devices behind simulated bridges, on a `MemoryBus`: the supervisor's world in a test.

Each `SimBridge` speaks the bridges' contract exactly as `nodes/bridge.py` does on the bus (goals
on `<role>/command` answered as `goal.<id>` in the latched `<role>/status`, the status values the
sequence reads, heartbeat every 0.5 s), over a device model that runs on the bus's clock (cell
time = bus time: the tests use time_scale 1). Faults can be injected per device: offline (link
down), stale, fault, a killed bridge process, rejected commands, slow devices, an open safety chain.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from cell_controller.bus.memory import MemoryBus
from cell_controller.core.backends import BRIDGE_VERBS
from cell_controller.core.goals import ACCEPTED, GoalHistory
from cell_controller.core.lifecycle import IllegalTransition, LifecycleState, Transition, target
from cell_controller.core.operator import SWAP_VERB
from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.nodes import topics
from cell_controller.nodes.codec import OK, Codec

FEED_S, CLAMP_S, TRANSFER_S, RELEASE_S, REJECT_S = 1.5, 0.5, 2.0, 1.0, 1.0
APPROACH_S, SEAM_S, RETRACT_S = 2.0, 20.0, 2.0
CYCLE_S = 6.0
SUPPLY_S = 4.0  # a blank reaches the buffer this often while the supply runs
BUFFER_CAPACITY = 3
STATUS_PERIOD_S = 0.5


@dataclass
class Faults:
    """What is wrong with one device now."""

    offline: bool = False   # link down: the bridge reports OFFLINE
    stale: bool = False     # the device's life-sign stopped: STALE
    fault: bool = False     # the device reports a fault
    reject: int = 0         # the next `reject` commands are refused NotReady
    slow: float = 1.0       # operations take this many times longer
    safety: str = "ok"      # an open safety chain: emergency_stop, protective_stop, door_open


@dataclass
class SimCell:
    """The four devices' state, shared (the fixture, the machine and the robot see one another)."""

    bus: MemoryBus
    seed: int = 0
    buffer: int = 2
    supply: bool = True
    fixture_part: str = ""
    clamped: bool = False
    feeder_busy_until: float = 0.0
    feeder_effect: Any = None
    robot_exec: str = "idle"        # idle | running | done
    robot_part: str = ""
    robot_progress: float = 0.0
    robot_started_at: float = 0.0
    welder_last_part: str = ""
    welder_level: str = ""
    welder_counter: int = 0
    arc_on: bool = False
    machine_part: str = ""
    machine_cycle: str = "idle"     # idle | running | ended
    machine_ends_at: float = 0.0
    machine_mode: str = "Automatic"
    welded: list[str] = field(default_factory=list)      # every part whose arc started, in order
    left: list[str] = field(default_factory=list)        # parts out of the cell (outfeed or reject)
    faults: dict[str, Faults] = field(default_factory=lambda: {r: Faults() for r in topics.ROLES})

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.next_supply_at = self.bus.time_s + SUPPLY_S

    @property
    def now(self) -> float:
        return self.bus.time_s

    def duration(self, role: str, seconds: float) -> float:
        return seconds * self.faults[role].slow

    # -- time ------------------------------------------------------------------------------

    def step(self) -> set[str]:
        """Advance the models to the bus's time; the roles whose status changed."""
        changed: set[str] = set()
        now = self.now
        if self.supply and now >= self.next_supply_at:
            self.next_supply_at = now + SUPPLY_S
            if self.buffer < BUFFER_CAPACITY:
                self.buffer += 1
                changed.add("feeder")
        if self.feeder_effect is not None and now >= self.feeder_busy_until:
            effect, self.feeder_effect = self.feeder_effect, None
            effect()
            changed.add("feeder")
            changed.add("machine")
        if self.robot_exec == "running":
            t = now - self.robot_started_at
            approach, seam = self.duration("robot", APPROACH_S), self.duration("robot", SEAM_S)
            if t >= approach and not self.arc_on and self.robot_progress == 0.0:
                self.arc_on = True
                self.welded.append(self.robot_part)
                changed |= {"welder"}
            if self.arc_on:
                self.robot_progress = min((t - approach) / seam, 1.0)
                changed.add("robot")
                if self.robot_progress >= 1.0:
                    self._arc_end()
                    changed.add("welder")
            if t >= approach + seam + self.duration("robot", RETRACT_S):
                self.robot_exec = "done"
                changed.add("robot")
        if self.machine_cycle == "running" and now >= self.machine_ends_at:
            self.machine_cycle = "ended"
            changed.add("machine")
        return changed

    def _arc_end(self) -> None:
        self.arc_on = False
        self.welder_last_part = self.robot_part
        self.welder_counter += 1
        self.welder_level = "B" if self.rng.random() < 0.8 else "fail"

    # -- commands --------------------------------------------------------------------------

    def command(self, role: str, verb: str, args: tuple[str, ...]) -> str:
        faults = self.faults[role]
        if faults.reject > 0:
            faults.reject -= 1
            return "NotReady: injected refusal"
        if faults.safety != "ok" and verb in ("start_program", "start_cycle"):
            return f"NotReady: {faults.safety}"
        handler = getattr(self, f"_{role}_{verb}", None)
        if handler is None:
            return f"InvalidArgument: no command {verb}"
        try:
            return handler(*args)
        except TypeError:
            return "InvalidArgument: wrong arguments"

    def _feeder_op(self, seconds: float, effect) -> str:
        if self.feeder_effect is not None:
            return "Busy: a handling operation is running"
        self.feeder_busy_until = self.now + self.duration("feeder", seconds)
        self.feeder_effect = effect
        return ACCEPTED

    def _feeder_feed_part(self, part_id: str) -> str:
        if self.buffer == 0:
            return "NotReady: the buffer is empty"
        if self.fixture_part:
            return f"NotReady: the fixture holds {self.fixture_part}"

        def effect() -> None:
            self.buffer -= 1
            self.fixture_part = part_id
        return self._feeder_op(FEED_S, effect)

    def _feeder_clamp(self) -> str:
        if not self.fixture_part:
            return "NotReady: the fixture is empty"
        return self._feeder_op(CLAMP_S, lambda: setattr(self, "clamped", True))

    def _feeder_unclamp(self) -> str:
        if self.robot_exec == "running":
            return "Busy: the robot is welding"
        return self._feeder_op(CLAMP_S, lambda: setattr(self, "clamped", False))

    def _feeder_transfer_to_machine(self) -> str:
        if not self.fixture_part or self.clamped or self.machine_part:
            return "NotReady: no unclamped part or the machine is full"

        def effect() -> None:
            self.machine_part, self.fixture_part, self.machine_cycle = self.fixture_part, "", "idle"
        return self._feeder_op(TRANSFER_S, effect)

    def _feeder_release(self) -> str:
        if not self.machine_part or self.machine_cycle == "running":
            return "NotReady: no part to take out of the machine"

        def effect() -> None:
            self.left.append(self.machine_part)
            self.machine_part, self.machine_cycle = "", "idle"
        return self._feeder_op(RELEASE_S, effect)

    def _feeder_reject_part(self) -> str:
        if not self.fixture_part or self.clamped:
            return "NotReady: no unclamped part in the fixture"

        def effect() -> None:
            self.left.append(self.fixture_part)
            self.fixture_part = ""
        return self._feeder_op(REJECT_S, effect)

    def _feeder_release_blank(self) -> str:
        return ACCEPTED

    def _robot_start_program(self, name: str, part_id: str) -> str:
        if self.robot_exec == "running":
            return "Busy: a program is running"
        if self.fixture_part != part_id or not self.clamped:
            return f"NotReady: part {part_id} is not clamped"
        self.robot_exec, self.robot_part, self.robot_progress = "running", part_id, 0.0
        self.robot_started_at = self.now
        return ACCEPTED

    def _robot_stop_program(self) -> str:
        if self.arc_on:
            self._arc_end()
        if self.robot_exec == "running":
            self.robot_exec = "idle"
        return ACCEPTED

    def _machine_start_cycle(self, part_id: str) -> str:
        if self.machine_mode != "Automatic":
            return f"NotReady: the machine is in {self.machine_mode} mode"
        if self.machine_part != part_id or self.machine_cycle != "idle":
            return f"NotReady: part {part_id} is not in the machine"
        self.machine_cycle, self.machine_ends_at = "running", self.now + self.duration("machine", CYCLE_S)
        return ACCEPTED

    # -- statuses --------------------------------------------------------------------------

    def status(self, role: str) -> DeviceStatus:
        faults = self.faults[role]
        if faults.offline:
            return DeviceStatus(role, DeviceState.OFFLINE, detail="link down (injected)")
        if faults.stale:
            return DeviceStatus(role, DeviceState.STALE, detail="stale: life-sign stopped (injected)")
        stamp = {"stamp_s": f"{self.now:.6f}", "watchdog": "ok", "safety": faults.safety}
        if role == "feeder":
            busy = self.feeder_effect is not None
            state, values = (DeviceState.BUSY if busy else DeviceState.IDLE), {
                "fixture_part": self.fixture_part, "clamped": "1" if self.clamped else "0",
                "buffer_count": str(self.buffer), "jammed": "0"}
            part = self.fixture_part
        elif role == "robot":
            state = {"idle": DeviceState.IDLE, "running": DeviceState.BUSY, "done": DeviceState.DONE}[self.robot_exec]
            values = {"execution": self.robot_exec, "progress": f"{self.robot_progress:.3f}"}
            part = self.robot_part
        elif role == "welder":
            state = DeviceState.BUSY if self.arc_on else DeviceState.IDLE
            values = {"arc_on": "1" if self.arc_on else "0", "result_counter": str(self.welder_counter)}
            if self.welder_counter:
                values.update({"last_part_id": self.welder_last_part, "iso5817_level": self.welder_level,
                               "arc_energy_kJ": "100.0", "imperfections": ""})
            part = self.welder_last_part
        else:
            state = {"idle": DeviceState.IDLE, "running": DeviceState.BUSY, "ended": DeviceState.DONE}[self.machine_cycle]
            values = {"cycle": self.machine_cycle, "mode": self.machine_mode}
            part = self.machine_part
        if faults.fault:
            state = DeviceState.FAULT
        return DeviceStatus(role, state, part, f"{state.value} (sim)", {**values, **stamp})


class SimBridge:
    """One simulated bridge node: goals in, latched status out."""

    def __init__(self, cell: SimCell, role: str, namespace: str):
        self.cell, self.role = cell, role
        self.node = cell.bus.node(f"{role}_bridge", namespace)
        self.codec = Codec(self.node)
        self.goals = GoalHistory()
        self.lifecycle = LifecycleState.UNCONFIGURED  # the supervisor brings it up, as a real bridge
        self.backend = "twin"
        self.swap_answer: str | None = None  # a refusal to answer every swap with (None: swaps succeed)
        self.executed: list[tuple[str, str, tuple[str, ...]]] = []  # (goal id, verb, args), each execution
        t = topics.device_status(role)
        self.pub = self.node.create_publisher(t.type, t.name, t.qos)
        c = topics.device_command(role)
        self.node.create_subscription(c.type, c.name, self._on_command, c.qos)
        self.node.create_timer(STATUS_PERIOD_S, self.publish)

    def _on_command(self, msg: Any) -> None:
        values = Codec.values(msg)
        goal_id = values.get("id", "")
        args = tuple(values[k] for k in sorted(k for k in values if k.startswith("arg")))
        if self.cell.faults[self.role].offline:
            answer = "NotReady: no link to the device"
            if self.goals.begin(goal_id):
                self.goals.finish(goal_id, answer)
        elif self.goals.begin(goal_id):
            self.goals.finish(goal_id, self._bridge_verb(msg.message, args) if msg.message in BRIDGE_VERBS
                              else self._device_command(goal_id, msg.message, args))
        self.publish()

    def _bridge_verb(self, verb: str, args: tuple[str, ...]) -> str:
        if verb == SWAP_VERB:
            if self.swap_answer is None:
                self.backend = args[0]
            return self.swap_answer or "Accepted"
        try:
            self.lifecycle = target(self.lifecycle, Transition(verb))
        except IllegalTransition as error:
            return f"InvalidArgument: {error}"
        return "Accepted"

    def _device_command(self, goal_id: str, verb: str, args: tuple[str, ...]) -> str:
        if self.lifecycle is not LifecycleState.ACTIVE:
            return f"NotReady: the {self.role} bridge is {self.lifecycle.value}"
        self.executed.append((goal_id, verb, args))
        return self.cell.command(self.role, verb, args)

    def publish(self) -> None:
        status = self.cell.status(self.role)
        values = {**status.values, **self.goals.values(), "backend": self.backend, "lifecycle": self.lifecycle.value}
        self.pub.publish(self.codec.device_status(DeviceStatus(status.device, status.state, status.part_id,
                                                               status.detail, values), "sim"))


class SimWorld:
    """A SimCell with its four bridges, stepped by a bus timer every `dt_s`."""

    def __init__(self, bus: MemoryBus, namespace: str = "/cell", seed: int = 0, dt_s: float = 0.05):
        self.bus, self.cell = bus, SimCell(bus, seed)
        self.bridges = {r: SimBridge(self.cell, r, namespace) for r in topics.ROLES}
        self.clock = bus.node("sim_devices", namespace)
        self.clock.create_timer(dt_s, self._step)
        # the policy and inspection nodes' statuses, as nodes that have loaded their work publish them (the
        # SimCell feeds itself and its welder grades its welds)
        self.ready = [topics.publisher(self.clock, t) for t in topics.READY_TOPICS]
        for ready, topic in zip(self.ready, topics.READY_TOPICS):
            ready.publish(Codec(self.clock).status(topic.publisher, "running", OK, {}))

    def _step(self) -> None:
        for role in self.cell.step():
            if self.bridges[role].node.alive:
                self.bridges[role].publish()

    def publish_all(self) -> None:
        for bridge in self.bridges.values():
            if bridge.node.alive:
                bridge.publish()

    def kill_bridge(self, role: str) -> None:
        self.bridges[role].node.kill()

    def restart_bridge(self, role: str, namespace: str = "/cell") -> None:
        self.bridges[role].node.shutdown()
        self.bridges[role] = SimBridge(self.cell, role, namespace)
        self.bridges[role].publish()
