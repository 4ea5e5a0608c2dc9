"""The twin as OPC UA servers: one process, one PyBullet world, one server per twin device.

Each twin-backed device of the cell description gets a `DeviceServer` at its endpoint
with the same address space as the real device. The loop advances the twin by
`time_scale` x wall time in steps of `PHYSICS_DT_S` of cell time and publishes each
device's values at its publishing rate, stamped with cell time (SourceTimestamp).

Reaction windows keep the cell's timing the devices' at any time scale: when a device finishes
something the controller acts on (`TwinCell.step` says so) or takes a command of the part sequence
(`SEQUENCE_METHODS`: its effect is the next thing the controller waits for), the twin stops that
tick there and runs at real time until `REACTION_WINDOW_S` of wall time pass without another. The
controller's wall-clock latency (subscriptions, DDS, Python) then costs the same cell time as it
would on a real cell, instead of `time_scale` times more, so cycle times do not depend on how fast
the twin runs; the windows cost only wall time.

Run: `cell-twin --config config/cell.yaml`; `cell-twin --plant --config FILE` serves the plant instead
(`plant.py`: the devices' real sections, with a reality gap). SIGINT/SIGTERM stop it cleanly.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from cell_controller.core.config import CellConfig, ConfigError, DeviceConfig, load_cell
from cell_controller.opcua.address_space import (
    CONTROLLER_HEARTBEAT, DEVICE_HEARTBEAT, EXECUTION_COMPLETED, EXECUTION_FAULT, EXECUTION_IDLE, EXECUTION_RUNNING,
    FEEDER_IDLE, FEEDER_JAMMED, FEEDER_TRANSFERRING, MACHINE_ENDED, MACHINE_FAULT, MACHINE_IDLE, MACHINE_OPERATION_MODE,
    MACHINE_RUNNING, WATCHDOG_TIMEOUT, WATCHDOG_TRIPPED, WELDER_IDLE, WELDER_WELDING, FeederPaths, MachinePaths,
    RobotPaths, TwinControlPaths, WelderPaths, spec_for, with_twin_control,
)
from cell_controller.opcua.server import DeviceServer
from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.weld import NOMINAL_PROCEDURE, WeldProcess
from cell_controller.sim.reality_gap import twin_parameters
from cell_controller.sim.twin.world import CellWorld

from .models import ACCEPTED, TwinCell

#: cell time of one physics step, s
PHYSICS_DT_S = 0.02
#: how long a device's controller heartbeat may stay unchanged before it goes to its safe state, s (wall)
WATCHDOG_TIMEOUT_S = 0.5
#: how long the twin runs at real time after an event or a command, waiting for the controller's reaction, s
#: (wall): longer than the controller's reaction through a 10 Hz device (publishing, subscription, DDS)
REACTION_WINDOW_S = 0.3
#: the method calls that are the part sequence's commands (each opens a reaction window); a blank's
#: release (the feeding policy's, on its own clock) and the TwinControl methods do not
SEQUENCE_METHODS = frozenset({RobotPaths.START_PROGRAM, RobotPaths.STOP_PROGRAM, MachinePaths.START_CYCLE,
                              FeederPaths.FEED_PART, FeederPaths.CLAMP, FeederPaths.UNCLAMP,
                              FeederPaths.TRANSFER_TO_MACHINE, FeederPaths.RELEASE, FeederPaths.REJECT_PART})

_log = logging.getLogger("cell_twin")

#: a model's state -> the enumeration member its server shows
ROBOT_STATES = {"idle": EXECUTION_IDLE, "running": EXECUTION_RUNNING, "done": EXECUTION_COMPLETED,
                "fault": EXECUTION_FAULT}
MACHINE_STATES = {"idle": MACHINE_IDLE, "running": MACHINE_RUNNING, "ended": MACHINE_ENDED, "fault": MACHINE_FAULT}
FEEDER_STATES = {"idle": FEEDER_IDLE, "busy": FEEDER_TRANSFERRING, "fault": FEEDER_JAMMED}


@dataclass
class Binding:
    """How one device's address space reads and drives the twin."""

    values: Callable[[TwinCell], dict[str, Any]]
    setpoints: dict[str, Callable[[TwinCell, float], None]]
    methods: dict[str, Callable[..., str]]


def _robot_values(cell: TwinCell) -> dict[str, Any]:
    robot, world = cell.robot, cell.world
    q_deg = [math.degrees(a) for a in world.joint_positions_rad()]
    dq_deg_s = [math.degrees(a) for a in robot.joint_velocities_rad_s]
    position_mm, quaternion = world.tcp_pose_mm()
    values: dict[str, Any] = {}
    for position, speed, q, dq in zip(RobotPaths.AXIS_POSITIONS, RobotPaths.AXIS_SPEEDS, q_deg, dq_deg_s):
        values[position], values[speed] = q, dq
    for path, v in zip(RobotPaths.TCP_POSITION, position_mm):
        values[path] = float(v)
    for path, v in zip(RobotPaths.TCP_ORIENTATION, quaternion):
        values[path] = float(v)
    values.update({
        RobotPaths.PROGRAM_NAME: robot.program,
        RobotPaths.PROGRAM_LOADED: bool(robot.program),
        RobotPaths.EXECUTION_STATE: ROBOT_STATES[robot.state],
        RobotPaths.TRAVEL_SPEED_SETPOINT: robot.travel_speed_setpoint_mm_s,
        RobotPaths.TORCH_OFFSET_SETPOINT: robot.torch_offset_setpoint_mm,
        RobotPaths.TRACKER_GAP: robot.tracker_gap_mm,
        RobotPaths.TRACKER_SEAM_OFFSET: robot.tracker_seam_offset_mm,
        RobotPaths.WELD_PROGRESS: robot.progress,
        RobotPaths.PART_ID: robot.part_id,
        RobotPaths.EMERGENCY_STOP: robot.safety.emergency_stop,
        RobotPaths.PROTECTIVE_STOP: robot.safety.guard_open,
    })
    return values


def _welder_values(cell: TwinCell) -> dict[str, Any]:
    welder = cell.welder
    s = welder.sample if welder.arc_burning else None
    values: dict[str, Any] = {
        WelderPaths.VOLTAGE_SETPOINT: welder.voltage_setpoint_V,
        WelderPaths.WIRE_FEED_SPEED_SETPOINT: welder.wire_feed_setpoint_m_min,
        WelderPaths.GAS_FLOW_SETPOINT: welder.gas_flow_setpoint_L_min,
        WelderPaths.ACTUAL_CURRENT: s.actual_current_A if s else 0.0,
        WelderPaths.ACTUAL_VOLTAGE: s.actual_voltage_V if s else 0.0,
        WelderPaths.ACTUAL_WIRE_FEED_SPEED: s.actual_wire_feed_m_min if s else 0.0,
        WelderPaths.ACTUAL_ARC_POWER: s.arc_power_W if s else 0.0,
        WelderPaths.ACTUAL_POOL_WIDTH: s.pool_width_mm if s else 0.0,
        WelderPaths.ACTUAL_ARC_ON: welder.arc_burning,
        WelderPaths.ACTUAL_ARC_ENERGY: s.arc_energy_J / 1000.0 if s else 0.0,
        WelderPaths.STATE: WELDER_WELDING if welder.arc_on else WELDER_IDLE,
    }
    report = welder.last_report
    if report is not None:
        values.update({
            WelderPaths.RESULT_PART_ID: welder.last_part_id,
            WelderPaths.RESULT_ARC_ENERGY: report.arc_energy_J / 1000.0,
            WelderPaths.RESULT_WELD_TIME: report.weld_time_s,
            WelderPaths.RESULT_BEAD_WIDTH: float(report.bead_width_mm.mean()),
            WelderPaths.RESULT_PENETRATION: float(report.penetration_mm.min()),
            WelderPaths.RESULT_MEAN_CURRENT: report.mean_current_A,
            WelderPaths.RESULT_MEAN_VOLTAGE: report.mean_voltage_V,
            WelderPaths.RESULT_MEAN_WIRE_FEED_SPEED: report.mean_wire_feed_m_min,
            WelderPaths.RESULT_MEAN_TRAVEL_SPEED: report.mean_travel_speed_mm_s,
            # the twin's grading, an oracle: a real power source reports none (twin.weld_grading: false)
            WelderPaths.RESULT_IMPERFECTIONS: ",".join(report.imperfection_names) if cell.config.weld_grading else "",
            WelderPaths.RESULT_QUALITY_LEVEL: report.level if cell.config.weld_grading else "",
            WelderPaths.RESULT_COUNTER: welder.result_counter,
        })
    return values


def _machine_values(cell: TwinCell) -> dict[str, Any]:
    m = cell.machine
    return {
        MachinePaths.OPERATION_MODE: m.operation_mode,
        MachinePaths.EMERGENCY_STOP: m.safety.emergency_stop,
        MachinePaths.DOOR_OPEN: m.safety.guard_open,
        MachinePaths.MACHINE_STATE: MACHINE_STATES[m.state],
        MachinePaths.PROGRAM_NAME: "press_cycle" if m.part_id else "",
        MachinePaths.PROGRAM_STATE: m.program_state,
        MachinePaths.PROGRAM_PART_ID: m.part_id,
        MachinePaths.PROGRAM_CYCLE_TIME: m.cycle_time_s,
        MachinePaths.PARTS_COMPLETED: m.parts_completed,
    }


def _feeder_values(cell: TwinCell) -> dict[str, Any]:
    f = cell.feeder
    return {
        FeederPaths.CONVEYOR_SPEED_SETPOINT: f.conveyor_speed_setpoint_mm_s,
        FeederPaths.CONVEYOR_SPEED: f.conveyor_speed_setpoint_mm_s if f.conveyor_running else 0.0,
        FeederPaths.CONVEYOR_RUNNING: f.conveyor_running,
        FeederPaths.BUFFER_COUNT: len(f.buffer),
        FeederPaths.BUFFER_CAPACITY: f.buffer_capacity,
        FeederPaths.FIXTURE_PART_PRESENT: bool(f.fixture_part),
        FeederPaths.FIXTURE_CLAMPED: f.clamped,
        FeederPaths.FIXTURE_PART_ID: f.fixture_part,
        FeederPaths.OUTFEED_COUNT: f.outfeed_count,
        FeederPaths.TIME_SINCE_RELEASE: min(f.time_since_release_s, 1e6),
        FeederPaths.BLANKS_RELEASED: f.blanks_released,
        FeederPaths.STATE: FEEDER_STATES[f.state],
        FeederPaths.JAM_COUNT: f.jam_count,
    }


BINDINGS: dict[str, Binding] = {
    "robot": Binding(_robot_values, {
        RobotPaths.TRAVEL_SPEED_SETPOINT: lambda c, v: setattr(c.robot, "travel_speed_setpoint_mm_s", v),
        RobotPaths.TORCH_OFFSET_SETPOINT: lambda c, v: setattr(c.robot, "torch_offset_setpoint_mm", v),
    }, {
        RobotPaths.START_PROGRAM: lambda c, name, part_id: c.robot.start_program(name, part_id),
        RobotPaths.STOP_PROGRAM: lambda c: c.robot.stop_program(),
        TwinControlPaths.SET_EMERGENCY_STOP: lambda c, on: c.robot.set_safety(emergency_stop=on),
        TwinControlPaths.SET_PROTECTIVE_STOP: lambda c, on: c.robot.set_safety(protective_stop=on),
    }),
    "welder": Binding(_welder_values, {
        WelderPaths.VOLTAGE_SETPOINT: lambda c, v: setattr(c.welder, "voltage_setpoint_V", v),
        WelderPaths.WIRE_FEED_SPEED_SETPOINT: lambda c, v: setattr(c.welder, "wire_feed_setpoint_m_min", v),
        WelderPaths.GAS_FLOW_SETPOINT: lambda c, v: setattr(c.welder, "gas_flow_setpoint_L_min", v),
    }, {}),
    "machine": Binding(_machine_values, {}, {
        MachinePaths.START_CYCLE: lambda c, part_id: c.machine.start_cycle(part_id),
        TwinControlPaths.SET_EMERGENCY_STOP: lambda c, on: c.machine.set_safety(emergency_stop=on),
        TwinControlPaths.SET_DOOR_OPEN: lambda c, on: c.machine.set_safety(door_open=on),
        TwinControlPaths.SET_OPERATION_MODE: lambda c, mode: c.machine.set_operation_mode(
            MACHINE_OPERATION_MODE.values[mode]),
    }),
    "feeder": Binding(_feeder_values, {
        FeederPaths.CONVEYOR_SPEED_SETPOINT: lambda c, v: setattr(c.feeder, "conveyor_speed_setpoint_mm_s", v),
    }, {
        FeederPaths.RELEASE_BLANK: lambda c: c.feeder.release_blank(),
        FeederPaths.FEED_PART: lambda c, part_id: c.feeder.feed_part(part_id),
        FeederPaths.CLAMP: lambda c: c.feeder.clamp(),
        FeederPaths.UNCLAMP: lambda c: c.feeder.unclamp(),
        FeederPaths.TRANSFER_TO_MACHINE: lambda c: c.feeder.transfer_to_machine(),
        FeederPaths.RELEASE: lambda c: c.feeder.release(),
        FeederPaths.REJECT_PART: lambda c: c.feeder.reject_part(),
        TwinControlPaths.SET_SUPPLY: lambda c, on: setattr(c.feeder, "supply", on) or ACCEPTED,
    }),
}


@dataclass(frozen=True)
class Ticks:
    """The twin loop's schedule: a tick every `period_s` of wall time (the fastest device's publishing
    period), of `steps` physics steps (`real_time_steps` while a reaction window is open); each role
    publishes every `publish_every[role]` ticks, a whole number, so its samples are evenly spaced in cell
    time even when a late tick is caught up at once (a wall-clock rate limit would drop it)."""

    period_s: float
    publish_every: dict[str, int]
    steps: int
    real_time_steps: int

    @classmethod
    def of(cls, rates_Hz: dict[str, float], time_scale: float) -> Ticks:
        """The schedule for devices publishing at `rates_Hz` (role -> Hz) at `time_scale` twin s per wall s."""
        period_s = 1.0 / max(rates_Hz.values(), default=50.0)
        return cls(period_s, {role: max(1, round(1.0 / (rate * period_s))) for role, rate in rates_Hz.items()},
                   max(1, round(period_s * time_scale / PHYSICS_DT_S)), max(1, round(period_s / PHYSICS_DT_S)))


def run_steps(step: Callable[[float], bool], steps: int, time_scale: float) -> bool:
    """Up to `steps` physics steps of `step` (`PHYSICS_DT_S` of cell time each); True when one ended on an
    event (`TwinCell.step`) while the twin runs faster than real time: the tick stops there."""
    for _ in range(steps):
        if step(PHYSICS_DT_S) and time_scale > 1.0:
            return True
    return False


@dataclass
class Watchdog:
    """A device's watchdog on the controller heartbeat (wall time, s): armed by the first beat."""

    timeout_s: float = WATCHDOG_TIMEOUT_S
    last_beat: int | None = None
    beat_at_s: float = 0.0
    tripped: bool = False

    def beat(self, value: int, now_s: float) -> bool:
        """A heartbeat written; True when it untrips the watchdog."""
        if value != self.last_beat:
            self.last_beat, self.beat_at_s = value, now_s
        untripped, self.tripped = self.tripped, False
        return untripped

    def expired(self, now_s: float) -> bool:
        """True once, when an armed watchdog's heartbeat has been silent for its timeout."""
        if self.tripped or self.last_beat is None or now_s - self.beat_at_s <= self.timeout_s:
            return False
        self.tripped = True
        return True


def device_values(cell: TwinCell, role: str, heartbeat: int, watchdog: Watchdog) -> dict[str, Any]:
    """Every value `role`'s server shows: its binding's, its life-sign `heartbeat` and its `watchdog`'s."""
    return {**BINDINGS[role].values(cell), DEVICE_HEARTBEAT: heartbeat, WATCHDOG_TIMEOUT: watchdog.timeout_s,
            WATCHDOG_TRIPPED: watchdog.tripped}


class TwinServer:
    """The twin's servers and its stepping loop: every device of the description at its (twin) endpoint,
    with its TwinControl methods, at the description's time scale. A subclass serves other devices
    elsewhere (`devices`, `start_server`) or steps more than the cell (`step`): the plant (`plant.py`)."""

    def __init__(self, config: CellConfig, cell: TwinCell, time_scale: float | None = None):
        self.config, self.cell = config, cell
        #: twin seconds per wall second (None: the description's)
        self.time_scale = config.time_scale if time_scale is None else time_scale
        self.servers: dict[str, DeviceServer] = {}
        self.published: dict[str, dict[str, Any]] = {}
        self.watchdogs: dict[str, Watchdog] = {}
        self.heartbeats: dict[str, int] = {}
        self.epoch_s = time.time()
        self._stop = asyncio.Event()
        self.window_since: float | None = None  # wall time a reaction window opened, None: none open
        self.windows = {"opened": 0, "commands": 0, "expired": 0}

    async def start(self) -> None:
        try:
            for device in self.devices():
                await self._serve(device.kind.role, device)
        except BaseException:
            await self.stop_servers()
            raise

    def devices(self) -> list[DeviceConfig]:
        """The devices served: every one (a swap to twin or shadow needs its twin)."""
        return list(self.config.devices.values())

    async def start_server(self, device: DeviceConfig) -> DeviceServer:
        """The started server of `device`: its spec with TwinControl, unsecured at its (loopback) endpoint."""
        spec = with_twin_control(spec_for(device.kind.value), device.kind.role)
        return await DeviceServer.start(spec, device.endpoint, f"twin-{device.name}")

    def step(self, dt_s: float) -> bool:
        """Advance by `dt_s` of cell time (s); True on an event the controller may act on (`TwinCell.step`)."""
        return self.cell.step(dt_s)

    async def _serve(self, role: str, device: DeviceConfig) -> None:
        server = await self.start_server(device)
        self.servers[role] = server
        self.watchdogs[role] = Watchdog()
        self.heartbeats[role] = 0
        binding = BINDINGS[role]

        def on_write(path: str, value: Any) -> None:
            if path == CONTROLLER_HEARTBEAT:
                if self.watchdogs[role].beat(value, time.monotonic()):
                    _log.info("%s watchdog: heartbeat back", role)
                    self.cell.untrip(role)
                return
            setter = binding.setpoints.get(path)
            if setter is not None:
                setter(self.cell, value)
        server.on_setpoint_written(on_write)
        served = {m.path for m in server.spec.methods}  # a real device's spec has no TwinControl
        for path, method in binding.methods.items():
            if path in served:
                server.bind_method(path, self._method(role, path, method))
        await self.publish(role)

    def _method(self, role: str, path: str, method: Callable[..., str]) -> Callable[..., tuple[str, str]]:
        def call(*args: Any) -> tuple[str, str]:
            if path in SEQUENCE_METHODS:  # a command's effect is an event the controller waits on too
                self.windows["commands"] += 1
                self.window_since = time.monotonic()
            result = method(self.cell, *args)
            status, _, reason = result.partition(": ")
            _log.info("%s %s%s: %s", role, path.rsplit("/", 1)[-1], tuple(str(a)[:40] for a in args), result)
            return status, reason
        return call

    def stamp(self) -> datetime:
        """Cell time as a UTC timestamp: the twin's start plus the twin seconds since."""
        return datetime.fromtimestamp(self.epoch_s + self.cell.time_s, timezone.utc)

    def check_watchdogs(self) -> None:
        """Trip every device whose controller heartbeat has gone silent: its safe state, at once."""
        now_s = time.monotonic()
        for role, watchdog in self.watchdogs.items():
            if watchdog.expired(now_s):
                _log.warning("%s watchdog tripped: no controller heartbeat for %.2f s", role, now_s - watchdog.beat_at_s)
                self.cell.trip(role)

    async def run(self) -> None:
        """Step and publish until `stop()`."""
        ticks = Ticks.of({role: self.config.device(role).publishing_rate_Hz for role in self.servers},
                         self.time_scale)
        next_tick = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            self.check_watchdogs()
            if self.window_since is not None and time.monotonic() - self.window_since > REACTION_WINDOW_S:
                self.window_since = None
                self.windows["expired"] += 1
            if run_steps(self.step, ticks.real_time_steps if self.window_since is not None else ticks.steps,
                         self.time_scale):
                self.window_since = time.monotonic()
                self.windows["opened"] += 1
            for role in self.servers:
                if tick % ticks.publish_every[role] == 0:
                    self.heartbeats[role] = (self.heartbeats[role] + 1) % 2**32
                    await self.publish(role)
            tick += 1
            next_tick += ticks.period_s
            delay = next_tick - time.monotonic()
            if delay < -1.0:
                next_tick = time.monotonic()  # far behind: do not try to catch up in a burst
            try:
                await asyncio.wait_for(self._stop.wait(), max(delay, 0.0))
            except asyncio.TimeoutError:
                pass

    def values(self, role: str) -> dict[str, Any]:
        """Every value `role`'s server shows now: its binding's and its watchdog's."""
        return device_values(self.cell, role, self.heartbeats[role], self.watchdogs[role])

    async def publish(self, role: str) -> None:
        """Write the device's values that changed since the last publish (a server write costs a
        deep copy per monitored item, so unchanged values are not written again)."""
        values = self.values(role)
        last = self.published.setdefault(role, {})
        changed = {path: v for path, v in values.items() if last.get(path) != v}
        if changed:
            await self.servers[role].set_values(changed, self.stamp())
            last.update(changed)

    def stop(self) -> None:
        self._stop.set()

    async def stop_servers(self) -> None:
        await asyncio.gather(*(server.stop() for server in self.servers.values()))
        self.servers.clear()


def compile_kernels() -> None:
    """Run one weld step so numba compiles its kernels before any server answers a client:
    compiling inside the serving loop would stall every server for seconds."""
    procedure = NOMINAL_PROCEDURE
    WeldProcess(generate_joint(0), seed=0).step(PHYSICS_DT_S, procedure.voltage_V, procedure.wire_feed_m_min,
                                                procedure.travel_speed_mm_s, 0.0)


async def serve(config: CellConfig) -> None:
    compile_kernels()
    with CellWorld(seed=config.seed) as world:
        twin = TwinServer(config, TwinCell(config, world, twin_parameters(config)))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, twin.stop)
        await twin.start()
        _log.info("twin serving %s at %.1fx real time", ", ".join(twin.servers), config.time_scale)
        try:
            await twin.run()
        finally:
            _log.info("reaction windows: %s", twin.windows)
            await twin.stop_servers()


def main(argv: list[str] | None = None) -> int:
    # the cell's own check of the description, from above sim (it reads the bridges' setpoints and the
    # policy registry): imported here, by the entry point only, so that importing the twin imports neither
    from cell_controller.preflight import check_description

    from .plant import Plant, serve_plant  # the plant builds on this module's TwinServer

    parser = argparse.ArgumentParser(prog="cell-twin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the cell description (YAML)")
    parser.add_argument("--plant", action="store_true",
                        help="serve the devices' real sections as the plant (sim/devices/plant.py), not the twin")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO)  # the link records DeviceClient lowers to DEBUG after their logger passed them
    logging.basicConfig(level=logging.INFO, handlers=[handler],
                        format=f"%(asctime)s cell-{'plant' if args.plant else 'twin'} %(levelname)s %(message)s")
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    try:
        config = load_cell(args.config)
        check_description(config)  # before any server listens: nothing starts half-way
        plant = Plant.from_config(config) if args.plant else None
    except ConfigError as error:
        print(f"cell-twin: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config) if plant is None else serve_plant(config, plant))
    except OSError as error:
        print(f"cell-twin: cannot serve: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
