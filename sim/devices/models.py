"""The twin's four devices as plain Python state machines sharing one world and one clock.

`TwinCell.step(dt_s)` advances cell time. Device commands return at once with
"Accepted" or "<CommandStatus>: <reason>" and take effect over cell time, as on the real
devices; the OPC UA servers in `twin_server.py` expose these models' attributes.
Lengths in mm, speeds in mm/s, wire feed in m/min, time in s of cell time.
"""
from __future__ import annotations

import collections
import random
from dataclasses import dataclass

import numpy as np

from cell_controller.core.config import CellConfig
from cell_controller.opcua.address_space import (
    MACHINE_OPERATION_MODE, MODE_AUTOMATIC, PROGRAM_ABORTED, PROGRAM_ENDED, PROGRAM_INITIALIZING, PROGRAM_RUNNING,
)
from cell_controller.sim.reality_gap import NOMINAL, RealityGap
# Handling times (s), jam behaviour and the machine's cycle spread: declared once, with the
# fast flow model the feeding policy trains on.
from cell_controller.sim.physics.flow import (
    BLANK_PITCH_MM,
    CLAMP_S,
    FEED_TO_FIXTURE_S,
    JAM_CLEAR_S,
    JAM_PROBABILITY_WHEN_BLOCKED,
    MACHINE_CYCLE_SPREAD,
    TRANSFER_TO_MACHINE_S,
    UNLOAD_S,
)
from cell_controller.sim.physics.joint import JointGeometry, generate_joint
from cell_controller.sim.physics.weld import ProcessSample, WeldProcess
from cell_controller.sim.physics.weld_report import WeldReport
from cell_controller.sim.twin.world import CellWorld

#: what a command returns: a CommandStatus name of the address space, then the reason
ACCEPTED = "Accepted"
#: part ids the devices take: 1..MAX_PART_ID_CHARS printable ASCII characters
MAX_PART_ID_CHARS = 64


def _busy(reason: str) -> str:
    return f"Busy: {reason}"


def _not_ready(reason: str) -> str:
    return f"NotReady: {reason}"


def _invalid(reason: str) -> str:
    return f"InvalidArgument: {reason}"


def part_id_problem(part_id: object) -> str | None:
    """Why `part_id` is not a part id a device takes (None: it is one)."""
    if not isinstance(part_id, str) or not part_id:
        return _invalid("an empty part id")
    if len(part_id) > MAX_PART_ID_CHARS or not part_id.isascii() or not part_id.isprintable():
        return _invalid(f"a part id must be 1..{MAX_PART_ID_CHARS} printable ASCII characters")
    return None


@dataclass
class SafetyChain:
    """A device's hard-wired safety chain: the emergency stop and its guard (a fence or a door).

    `guard` names the second contact in messages ("protective stop", "guard door open")."""

    guard: str
    emergency_stop: bool = False
    guard_open: bool = False

    @property
    def open(self) -> str:
        """What holds the chain open ('' when it is closed)."""
        return "emergency stop" if self.emergency_stop else self.guard if self.guard_open else ""

    def set(self, emergency_stop: bool | None = None, guard_open: bool | None = None) -> bool:
        """Press or release a contact; True when the chain is open afterwards."""
        if emergency_stop is not None:
            self.emergency_stop = emergency_stop
        if guard_open is not None:
            self.guard_open = guard_open
        return bool(self.open)


class WelderModel:
    """A constant-voltage GMAW power source; its arc is started and ended by the robot.

    Job mode, as welding robots drive their power sources: every arc start loads the
    procedure's job (voltage, wire feed, gas flow of the cell description); setpoints
    written while the arc burns correct it for the rest of that seam. Its welds are `gap`'s plant's
    (`WeldProcess`); NOMINAL: the model's.
    """

    def __init__(self, config: CellConfig, gap: RealityGap = NOMINAL):
        self.procedure = config.procedure
        self.gap = gap
        self._load_job()
        self.state = "idle"  # idle | welding | fault
        self.part_id = ""
        self.sample: ProcessSample | None = None
        self.last_report: WeldReport | None = None
        self.last_part_id = ""
        self.result_counter = 0
        self._process: WeldProcess | None = None

    def _load_job(self) -> None:
        p = self.procedure
        self.voltage_setpoint_V = p.voltage_V
        self.wire_feed_setpoint_m_min = p.wire_feed_m_min
        self.gas_flow_setpoint_L_min = p.gas_flow_L_min

    @property
    def arc_on(self) -> bool:
        return self._process is not None

    @property
    def arc_burning(self) -> bool:
        """Current flows: the arc is on and has produced its first sample (the power source's arc-on signal)."""
        return self._process is not None and self.sample is not None

    def arc_start(self, part_id: str, joint: JointGeometry, seed: int) -> None:
        self._load_job()
        self.sample = None
        self._process = WeldProcess(joint, seed=seed, gap=self.gap)
        self.part_id, self.state = part_id, "welding"

    def weld_step(self, dt_s: float, travel_speed_mm_s: float, torch_offset_mm: float) -> ProcessSample:
        assert self._process is not None, "weld_step without an arc"
        self.sample = self._process.step(dt_s, self.voltage_setpoint_V, self.wire_feed_setpoint_m_min,
                                         travel_speed_mm_s, torch_offset_mm, self.gas_flow_setpoint_L_min)
        return self.sample

    @property
    def seam_done(self) -> bool:
        return self._process is not None and self._process.done

    def arc_end(self) -> None:
        assert self._process is not None, "arc_end without an arc"
        self.last_report = self._process.result()
        self.last_part_id = self.part_id
        self.result_counter += 1
        self._process, self.state = None, "idle"


class RobotModel:
    """A 6-axis arc-welding robot running one program, 'weld_seam': approach, weld, retract.

    The program welds at the procedure's travel speed and torch offset from its arc start
    on; setpoints written during the weld correct them for the rest of that seam.
    """

    PROGRAMS = ("weld_seam",)

    def __init__(self, config: CellConfig, world: CellWorld, welder: WelderModel, cell: TwinCell):
        self.world, self.welder, self.cell = world, welder, cell
        self.procedure = config.procedure
        self._load_path_parameters()
        self.program = ""
        self.part_id = ""
        self.state = "idle"  # idle | running | done | fault
        self.phase = ""
        self.progress = 0.0
        self.tracker_gap_mm = 0.0
        self.tracker_seam_offset_mm = 0.0
        self.joint_velocities_rad_s = np.zeros(6)
        self._targets: list[np.ndarray] = []
        self.safety = SafetyChain("protective stop")

    def set_safety(self, emergency_stop: bool | None = None, protective_stop: bool | None = None) -> str:
        """The hard-wired chain opens: the program stops at once (arc off); it stays refused while open."""
        if self.safety.set(emergency_stop, protective_stop):
            self.stop_program()
        return ACCEPTED

    def _load_path_parameters(self) -> None:
        self.travel_speed_setpoint_mm_s = self.procedure.travel_speed_mm_s
        self.torch_offset_setpoint_mm = self.procedure.torch_offset_mm

    def start_program(self, name: str, part_id: str) -> str:
        if name not in self.PROGRAMS:
            return _invalid(f"unknown program {name[:40]!r}")
        problem = part_id_problem(part_id)
        if problem:
            return problem
        if self.safety.open:
            return _not_ready(f"the robot's {self.safety.open} is active")
        if "robot" in self.cell.tripped:
            return _not_ready("the robot's watchdog tripped: no heartbeat from the cell")
        if self.state == "running":
            return _busy(f"program {self.program!r} is running")
        if self.cell.feeder.fixture_part != part_id or not self.cell.feeder.clamped:
            return _not_ready(f"part {part_id!r} is not clamped in the fixture")
        start_mm = self.world.seam_point_mm(0.0)
        orientation = self.world.torch_orientation_xyzw()
        q_start = self.world.solve_ik_rad(start_mm, orientation)
        q_above = self.world.solve_ik_rad(start_mm + np.array([0.0, 0.0, 60.0]), orientation)
        self._targets = [q_above, q_start]
        self.program, self.part_id, self.state, self.phase, self.progress = name, part_id, "running", "approach", 0.0
        return ACCEPTED

    def stop_program(self) -> str:
        if self.welder.arc_on:
            self.welder.arc_end()
        if self.state == "running":
            self.state, self.phase = "idle", ""
        return ACCEPTED

    def step(self, dt_s: float) -> None:
        if self.state != "running":
            self.joint_velocities_rad_s[:] = 0.0
            return
        q_before = self.world.joint_positions_rad()
        self._program_step(dt_s)
        self.joint_velocities_rad_s = (self.world.joint_positions_rad() - q_before) / dt_s

    def _program_step(self, dt_s: float) -> None:
        if self.phase == "approach":
            if self.world.move_joints_towards(self._targets[0], dt_s):
                self._targets.pop(0)
                if not self._targets:
                    part = self.cell.parts[self.part_id]
                    self._load_path_parameters()
                    self.welder.arc_start(self.part_id, part.joint, part.seed)
                    self.phase = "weld"
        elif self.phase == "weld":
            self._weld_step(dt_s)
        elif self.phase == "retract" and self.world.move_joints_towards(self.world.home_rad, dt_s):
            self.state, self.phase = "done", ""

    def _weld_step(self, dt_s: float) -> None:
        sample = self.welder.weld_step(dt_s, self.travel_speed_setpoint_mm_s, self.torch_offset_setpoint_mm)
        self.tracker_gap_mm = sample.tracker_gap_mm
        self.tracker_seam_offset_mm = sample.tracker_seam_offset_mm
        length_mm = self.world.seam_length_mm
        self.progress = min(sample.torch_position_mm / length_mm, 1.0)
        position = self.world.seam_point_mm(min(sample.torch_position_mm, length_mm), self.torch_offset_setpoint_mm)
        self.world.set_joint_positions_rad(self.world.solve_ik_rad(position, self.world.torch_orientation_xyzw()))
        if self.welder.seam_done:
            self.welder.arc_end()
            self.phase = "retract"


class MachineModel:
    """A press (or CNC) that processes one welded part per cycle; its cycle time spreads uniformly by
    +-`cycle_spread` (relative: the model's MACHINE_CYCLE_SPREAD times `gap`'s factor)."""

    def __init__(self, config: CellConfig, rng: random.Random, gap: RealityGap = NOMINAL):
        self.nominal_cycle_s = config.machine_cycle_s
        self.cycle_spread = MACHINE_CYCLE_SPREAD * gap.machine_cycle_spread_factor
        self.rng = rng
        self.part_id = ""  # the part in the machine, '' when empty
        self.state = "idle"  # idle | running | ended | fault
        self.program_state = PROGRAM_INITIALIZING
        self.cycle_time_s = 0.0
        self.parts_completed = 0
        self._remaining_s = 0.0
        self.operation_mode = MODE_AUTOMATIC
        self.safety = SafetyChain("guard door open")
        self.tripped = False

    def set_safety(self, emergency_stop: bool | None = None, door_open: bool | None = None) -> str:
        """The guard chain opens: a running cycle stops where it is (the part stays, its program Aborted)."""
        if self.safety.set(emergency_stop, door_open) and self.state == "running":
            self.state, self.program_state = "idle", PROGRAM_ABORTED
        return ACCEPTED

    def set_operation_mode(self, mode: str) -> str:
        if mode not in MACHINE_OPERATION_MODE.values:
            return _invalid(f"unknown operation mode {mode[:20]!r}")
        self.operation_mode = mode
        return ACCEPTED

    def start_cycle(self, part_id: str) -> str:
        problem = part_id_problem(part_id)
        if problem:
            return problem
        if self.safety.open:
            return _not_ready(f"the machine's {self.safety.open}")
        if self.operation_mode != MODE_AUTOMATIC or self.tripped:
            return _not_ready(f"the machine is in {self.operation_mode} mode" if not self.tripped
                              else "the machine's watchdog tripped: no heartbeat from the cell")
        if self.state == "running":
            return _busy("a cycle is running")
        if not part_id or self.part_id != part_id:
            return _not_ready(f"part {part_id!r} is not in the machine (holds {self.part_id!r})")
        spread = 1.0 + self.rng.uniform(-self.cycle_spread, self.cycle_spread)
        self.cycle_time_s = self.nominal_cycle_s * spread
        self._remaining_s = self.cycle_time_s
        self.state, self.program_state = "running", PROGRAM_RUNNING
        return ACCEPTED

    def step(self, dt_s: float) -> None:
        if self.state == "running":
            self._remaining_s -= dt_s
            if self._remaining_s <= 0.0:
                self.state, self.program_state = "ended", PROGRAM_ENDED
                self.parts_completed += 1


@dataclass
class Part:
    """A blank or a part in the twin; `joint` is its actual (varied) weld joint.

    `body` names its body in the world (the blank's name: a part keeps its body when named).
    """

    part_id: str
    body: str
    seed: int
    joint: JointGeometry


class FeederModel:
    """Conveyor, buffer, fixture and handling: the material flow of the cell (a PLC)."""

    def __init__(self, config: CellConfig, world: CellWorld, cell: TwinCell, rng: random.Random):
        self.world, self.cell, self.rng = world, cell, rng
        self.conveyor_speed_setpoint_mm_s = config.feeding.conveyor_speed_mm_s
        self.buffer_capacity = config.feeding.buffer_capacity
        self.on_conveyor: list[list] = []  # [blank id, position along the belt in mm]
        self.buffer: collections.deque[str] = collections.deque()
        self.fixture_part = ""
        self.clamped = False
        self.outfeed_count = 0
        self.jam_count = 0
        self.jammed_s = 0.0
        self.blanks_released = 0
        self.time_since_release_s = float("inf")
        self.busy_s = 0.0  # remaining time of the running handling operation
        self._pending = None  # what the running operation does when it ends
        self.supply = True  # blanks wait at the infeed to be released
        self.rejected_count = 0

    @property
    def state(self) -> str:
        if self.jammed_s > 0.0:
            return "fault"
        return "busy" if self.busy_s > 0.0 else "idle"

    @property
    def conveyor_running(self) -> bool:
        return self.conveyor_speed_setpoint_mm_s > 0.0 and self.jammed_s <= 0.0 and bool(self.on_conveyor)

    def release_blank(self) -> str:
        """Put a new blank on the belt's start."""
        if not self.supply:
            return _not_ready("no blank at the infeed (supply cut)")
        if "feeder" in self.cell.tripped:
            return _not_ready("the feeder's watchdog tripped: no heartbeat from the cell")
        if self.jammed_s > 0.0:
            return _not_ready("the conveyor is jammed")
        if self.on_conveyor and self.on_conveyor[-1][1] < self.cell.blank_pitch_mm:
            return _busy("the belt start is occupied")
        self.blanks_released += 1
        blank_id = f"blank-{self.blanks_released}"
        self.cell.new_part(blank_id, self.blanks_released)
        self.world.spawn_part(blank_id)
        self.on_conveyor.append([blank_id, 0.0])
        self.time_since_release_s = 0.0
        return ACCEPTED

    def _operation(self, duration_s: float, effect) -> str:
        if "feeder" in self.cell.tripped:
            return _not_ready("the feeder's watchdog tripped: no heartbeat from the cell")
        if self.busy_s > 0.0:
            return _busy("a handling operation is running")
        if self.jammed_s > 0.0:
            return _not_ready("the feeder is jammed")
        self.busy_s, self._pending = duration_s, effect
        return ACCEPTED

    def feed_part(self, part_id: str) -> str:
        """Move the oldest blank from the buffer into the fixture, naming it `part_id`."""
        problem = part_id_problem(part_id)
        if problem:
            return problem
        if part_id in self.cell.parts:
            return _invalid(f"part {part_id!r} is in the cell already")
        if not self.buffer:
            return _not_ready("the buffer is empty")
        if self.fixture_part:
            return _not_ready(f"the fixture holds {self.fixture_part!r}")

        def effect() -> None:
            blank = self.buffer.popleft()
            self.cell.rename_part(blank, part_id)
            self.world.move_part(self.cell.parts[part_id].body, "fixture")
            self.fixture_part = part_id
        return self._operation(FEED_TO_FIXTURE_S, effect)

    def clamp(self) -> str:
        if not self.fixture_part:
            return _not_ready("the fixture is empty")
        return self._operation(CLAMP_S, lambda: setattr(self, "clamped", True))

    def unclamp(self) -> str:
        if self.cell.robot.state == "running":
            return _busy("the robot is welding")
        return self._operation(CLAMP_S, lambda: setattr(self, "clamped", False))

    def transfer_to_machine(self) -> str:
        machine = self.cell.machine
        if not self.fixture_part or self.clamped:
            return _not_ready("no unclamped part in the fixture")
        if machine.part_id:
            return _not_ready(f"the machine holds {machine.part_id!r}")

        def effect() -> None:
            part_id, self.fixture_part = self.fixture_part, ""
            self.world.move_part(self.cell.parts[part_id].body, "machine")
            machine.part_id, machine.state, machine.program_state = part_id, "idle", PROGRAM_INITIALIZING
        return self._operation(TRANSFER_TO_MACHINE_S, effect)

    def release(self) -> str:
        """Take the part out of the machine onto the outfeed (processed, or taken out unprocessed)."""
        machine = self.cell.machine
        if not machine.part_id:
            return _not_ready("the machine holds no part")
        if machine.state == "running":
            return _not_ready("the machine's cycle is running")

        def effect() -> None:
            part = self.cell.parts.pop(machine.part_id)
            self.world.move_part(part.body, "out")
            self.world.remove_part(part.body)
            machine.part_id, machine.state = "", "idle"
            self.outfeed_count += 1
        return self._operation(UNLOAD_S, effect)

    def reject_part(self) -> str:
        """Take the unclamped part in the fixture to the reject bin."""
        if not self.fixture_part or self.clamped:
            return _not_ready("no unclamped part in the fixture")
        if self.cell.robot.state == "running":
            return _busy("the robot is welding")

        def effect() -> None:
            part = self.cell.parts.pop(self.fixture_part)
            self.world.remove_part(part.body)
            self.fixture_part = ""
            self.rejected_count += 1
        return self._operation(UNLOAD_S, effect)

    def step(self, dt_s: float) -> None:
        self.time_since_release_s += dt_s
        if self.busy_s > 0.0:
            self.busy_s -= dt_s
            if self.busy_s <= 0.0:
                self.busy_s, effect, self._pending = 0.0, self._pending, None
                effect()
        if self.jammed_s > 0.0:
            self.jammed_s = max(self.jammed_s - dt_s, 0.0)
            return
        self._convey(dt_s)

    def _convey(self, dt_s: float) -> None:
        """Move blanks along the belt; a blank at the end enters the buffer or waits (blocking)."""
        length_mm = self.world.conveyor_length_mm
        ahead_mm = float("inf")
        for item in self.on_conveyor:
            item[1] = min(item[1] + self.conveyor_speed_setpoint_mm_s * dt_s, length_mm, ahead_mm)
            ahead_mm = item[1] - self.cell.blank_pitch_mm
            self.world.set_part_on_conveyor(item[0], item[1])
        if self.on_conveyor and self.on_conveyor[0][1] >= length_mm:
            if len(self.buffer) < self.buffer_capacity:
                self.buffer.append(self.on_conveyor.pop(0)[0])
            elif self.conveyor_speed_setpoint_mm_s > 0.0 and self.rng.random() < JAM_PROBABILITY_WHEN_BLOCKED * dt_s:
                self.jam_count += 1
                self.jammed_s = JAM_CLEAR_S


class TwinCell:
    """The whole twin: one PyBullet world, four devices and the cell clock (s).

    `gap` (`reality_gap.RealityGap`) makes it a real plant rather than the twin: the welder's process and
    the machine's cycle spread are that plant's. NOMINAL (the default) is the twin.
    """

    #: spacing of blanks on the belt, mm
    blank_pitch_mm = BLANK_PITCH_MM

    def __init__(self, config: CellConfig, world: CellWorld, gap: RealityGap = NOMINAL):
        self.config = config
        self.world = world
        self.gap = gap
        self.time_s = 0.0
        self.parts: dict[str, Part] = {}
        #: roles whose watchdog tripped (no controller heartbeat): they refuse work until it beats again
        self.tripped: set[str] = set()
        rng = random.Random(config.seed)
        self.welder = WelderModel(config, gap)
        self.robot = RobotModel(config, world, self.welder, self)
        self.machine = MachineModel(config, random.Random(rng.random()), gap)
        self.feeder = FeederModel(config, world, self, random.Random(rng.random()))

    def new_part(self, blank_id: str, number: int) -> None:
        """A new blank; its joint variation is seeded by the cell seed and its number."""
        seed = self.config.seed * 100_000 + number
        self.parts[blank_id] = Part(blank_id, blank_id, seed, generate_joint(seed))

    def rename_part(self, blank_id: str, part_id: str) -> None:
        part = self.parts.pop(blank_id)
        part.part_id = part_id
        self.parts[part_id] = part

    def trip(self, role: str) -> None:
        """`role`'s watchdog tripped: its safe state (arc off and robot stopped; conveyor stopped)."""
        self.tripped.add(role)
        if role in ("robot", "welder"):
            self.robot.stop_program()
        elif role == "feeder":
            self.feeder.conveyor_speed_setpoint_mm_s = 0.0
        elif role == "machine":
            self.machine.tripped = True

    def untrip(self, role: str) -> None:
        """The heartbeat is back: `role` takes commands again (what it stopped stays stopped)."""
        self.tripped.discard(role)
        if role == "machine":
            self.machine.tripped = False

    def step(self, dt_s: float) -> bool:
        """Advance cell time by `dt_s`; True when a device finished something the cell controller
        may act on (a handling step, a jam cleared, a blank in the buffer, a program, a cycle)."""
        before = self.awaited()
        self.time_s += dt_s
        self.feeder.step(dt_s)
        self.robot.step(dt_s)
        self.machine.step(dt_s)
        return self.awaited() != before

    def awaited(self) -> tuple:
        """What the part sequence waits for on the devices: a change of it is an event."""
        f = self.feeder
        return f.busy_s > 0.0, f.jammed_s > 0.0, len(f.buffer), self.robot.state, self.machine.state
