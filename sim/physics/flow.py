"""A fast material-flow model of the cell for training and evaluating feeding policies.

It reproduces the material flow of the twin (`cell_controller.sim.devices.models`: FeederModel,
MachineModel, RobotModel as the supervisor's part sequence drives them) without PyBullet, the
weld process or OPC UA: one `FlowModel.step(dt_s)` is a few microseconds of plain Python.

Material flow (as in the twin)
  supply -> release onto the belt start -> conveyor (1200 mm, blanks >= 250 mm apart)
  -> buffer (capacity 3) -> feed to fixture 1.5 s -> clamp 0.5 s -> robot weld cycle
  -> unclamp 0.5 s -> release the previous part from the machine 1.0 s (after its cycle ended)
  -> transfer to machine 2.0 s -> machine cycle 6 s +-10 % (in parallel with the next part).
  The feeder is one handling resource: its operations run one at a time and none starts while
  it is jammed. A blank at the belt's end with a full buffer waits there (blocking) and, while
  the belt runs, jams with hazard `jam_hazard_per_s`; the jam stops the belt and the feeder's
  handling for `jam_clear_s`, and the blank still waits afterwards.

Differences from the twin (documented in policies/shipped/feed_ppo.md too)
  * The robot cycle is sampled (uniform `robot_cycle_s` +- `robot_cycle_spread`) instead of
    coming from joint motion and the weld process (the twin: ~20 s weld + ~4 s motion).
  * Supervisor/bridge/OPC UA delays are one fixed `command_latency_s` per sequence step.
  * Blank supply may be random (`supply_interarrival_s`): the twin always has a blank to release.
  * Jam hazard above the nominal belt speed grows as (speed / nominal) ** `jam_speed_exponent`;
    at or below the nominal speed it is the twin's (any running belt: 0.5 /s). The twin ignores speed.
  * The feeder's statuses come every `status_period_s` (the twin's 10 Hz at time scale 5) and a feeding
    command acts `feed_latency_s` after the status it answers; in the twin the latency varies with the
    bridge's subscription and the twin's tick (0.05 to 0.4 s at time scale 5, estimated, not measured),
    and in its reaction windows (real time after a sequence command) statuses come every 0.1 s.

Feeding policies run on it as in the policy node: on the feeder's statuses, through the same
`FeedLoop` (core/feed_loop.py), the model advancing in `STEP_S` ticks between statuses.
Units: mm, mm/s, s of cell time.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from cell_controller.core.feed_loop import FeedLoop
from cell_controller.core.types import FeedAction, FeedObservation

# The twin's handling constants, declared here (no PyBullet) and imported by sim/devices/models.py.
#: cell time each feeder handling operation takes, s
FEED_TO_FIXTURE_S = 1.5
CLAMP_S = 0.5
TRANSFER_TO_MACHINE_S = 2.0
UNLOAD_S = 1.0
#: probability per second that a blank waiting at a full buffer with the belt running jams
JAM_PROBABILITY_WHEN_BLOCKED = 0.5
JAM_CLEAR_S = 10.0
#: relative spread (uniform +-) of the machine's cycle time
MACHINE_CYCLE_SPREAD = 0.1
BLANK_PITCH_MM = 250.0
CONVEYOR_LENGTH_MM = 1200.0
#: the flow model's time step, s of cell time
STEP_S = 0.1


class FlowParamsError(ValueError):
    """An invalid flow-model parameter (its name and value in the message)."""


@dataclass(frozen=True)
class FlowParams:
    """Parameters of the material flow; defaults are the twin's (config/cell.yaml) where it has them."""

    conveyor_length_mm: float = CONVEYOR_LENGTH_MM
    blank_pitch_mm: float = BLANK_PITCH_MM
    buffer_capacity: int = 3
    nominal_conveyor_speed_mm_s: float = 250.0
    max_conveyor_speed_mm_s: float = 400.0
    feed_to_fixture_s: float = FEED_TO_FIXTURE_S
    clamp_s: float = CLAMP_S
    transfer_s: float = TRANSFER_TO_MACHINE_S
    unload_s: float = UNLOAD_S
    #: jam hazard (1/s) of a blank waiting at a full buffer while the belt runs at <= nominal speed
    jam_hazard_per_s: float = JAM_PROBABILITY_WHEN_BLOCKED
    #: hazard multiplier (speed / nominal) ** exponent above the nominal speed (0: the twin)
    jam_speed_exponent: float = 2.0
    jam_clear_s: float = JAM_CLEAR_S
    #: mean robot program cycle (approach, weld, retract), s, and its relative uniform spread
    robot_cycle_s: float = 25.0
    robot_cycle_spread: float = 0.2
    #: relative uniform spread of the episode's mean robot cycle (part variants, weld procedures)
    robot_cycle_episode_spread: float = 0.0
    machine_cycle_s: float = 6.0
    machine_cycle_spread: float = MACHINE_CYCLE_SPREAD
    #: delay between a sequence step becoming ready and its command acting (supervisor + bridge)
    command_latency_s: float = 0.2
    #: mean time between blanks arriving at the supply (exponential); None: always a blank
    supply_interarrival_s: float | None = None
    #: blanks the supply holds at most; it starts full
    supply_capacity: int = 4
    #: cell time between the feeder's statuses, s: 10 Hz at twin time scale 5 (the learned policies' loop,
    #: cell_controller.testing.learned_policies); a whole number of STEP_S
    status_period_s: float = 0.5
    #: the feeding decisions' shortest period, s (policies.control_rate: 50 Hz)
    control_period_s: float = 0.02
    #: from a feeder status to the feeding command that answers it acting, s: at time scale 5, the bridge's
    #: subscription (<= 50 ms wall), the policy node (2 ms, bench_loop) and the twin's next 20 ms tick;
    #: a whole number of STEP_S, less than status_period_s
    feed_latency_s: float = 0.2

    def __post_init__(self) -> None:
        positive = ("conveyor_length_mm", "blank_pitch_mm", "nominal_conveyor_speed_mm_s",
                    "max_conveyor_speed_mm_s", "robot_cycle_s", "machine_cycle_s", "jam_clear_s")
        for name in positive:
            if not getattr(self, name) > 0.0:
                raise FlowParamsError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("robot_cycle_spread", "robot_cycle_episode_spread", "machine_cycle_spread"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise FlowParamsError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.buffer_capacity < 1:
            raise FlowParamsError(f"buffer_capacity must be >= 1, got {self.buffer_capacity!r}")
        if self.supply_interarrival_s is not None and not self.supply_interarrival_s > 0.0:
            raise FlowParamsError(f"supply_interarrival_s must be > 0 or None, got {self.supply_interarrival_s!r}")
        for name, least in (("status_period_s", 1.0), ("feed_latency_s", 0.0)):
            ticks = getattr(self, name) / STEP_S
            if not (ticks >= least and abs(ticks - round(ticks)) < 1e-6):
                raise FlowParamsError(f"{name} must be a whole number of {STEP_S} s steps, got {getattr(self, name)!r}")
        if not self.feed_latency_s < self.status_period_s:
            raise FlowParamsError(f"feed_latency_s must be less than status_period_s ({self.status_period_s!r}), "
                                  f"got {self.feed_latency_s!r}")
        if not self.control_period_s >= 0.0:
            raise FlowParamsError(f"control_period_s must be >= 0, got {self.control_period_s!r}")

    @property
    def handling_s(self) -> float:
        """Feeder handling per part on the critical path: feed, clamp, unclamp, unload, transfer, s."""
        return self.feed_to_fixture_s + 2 * self.clamp_s + self.unload_s + self.transfer_s

    @property
    def nominal_cycle_s(self) -> float:
        """Mean cycle per part of the serial sequence (robot + handling + 6 step latencies), s.

        The machine runs in parallel with the next part's feed and weld, so this is the
        bottleneck: no feeding policy makes the cell faster than one part per nominal cycle.
        """
        return self.robot_cycle_s + self.handling_s + 6 * self.command_latency_s

    @property
    def status_ticks(self) -> int:
        """STEP_S ticks per feeder status."""
        return round(self.status_period_s / STEP_S)

    @property
    def feed_latency_ticks(self) -> int:
        """STEP_S ticks from a feeder status to the command that answers it acting."""
        return round(self.feed_latency_s / STEP_S)

    def with_(self, **changes) -> FlowParams:
        return replace(self, **changes)


#: named scenarios: "twin" is the twin's semantics; the others add the randomness of the shop floor
SCENARIOS: dict[str, FlowParams] = {
    "twin": FlowParams(jam_speed_exponent=0.0),
    "nominal": FlowParams(),
    "random_supply": FlowParams(supply_interarrival_s=25.0),
    # part variants: each episode's mean robot cycle anywhere in 20..30 s, +-10 % per part,
    # random blank supply (one per 22 s on average, 4 in stock)
    "shop": FlowParams(robot_cycle_spread=0.1, robot_cycle_episode_spread=0.2, supply_interarrival_s=22.0),
}


# sequence phases (the supervisor's part steps, sim/../core/sequencer.py)
FEED, CLAMP, WELD, UNCLAMP, RELEASE_PREV, TRANSFER = range(6)
_OP_S = ("feed_to_fixture_s", "clamp_s", None, "clamp_s", "unload_s", "transfer_s")


class FlowModel:
    """The cell's material flow as a plain-Python discrete-time model (dt of cell time, s).

    Drive it with `apply` (or `set_conveyor_speed`, `release_blank`) and `step`; read `observation()`
    (what the policy node builds from the feeder's status) and the counters.
    """

    def __init__(self, params: FlowParams | None = None, seed: int | None = None):
        self.p = params or FlowParams()
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        p = self.p
        self.rng = random.Random(seed)
        self.time_s = 0.0
        spread = p.robot_cycle_episode_spread
        #: this episode's mean robot cycle, s
        self.robot_cycle_s = p.robot_cycle_s * (1.0 + self.rng.uniform(-spread, spread)) if spread else p.robot_cycle_s
        self.speed_mm_s = p.nominal_conveyor_speed_mm_s  # setpoint
        self.belt: list[float] = []  # blank positions along the belt, mm, lead blank first
        self.buffer = 0
        self.supply = p.supply_capacity
        self._next_supply_s = self._draw_supply()
        self.jammed_s = 0.0
        self.busy_s = 0.0  # remaining time of the feeder's running handling operation
        self.time_since_release_s = math.inf
        self.fixture = False
        self.clamped = False
        self.robot_remaining_s = 0.0
        self.robot_busy = False
        self.machine_part = False
        self.machine_remaining_s = 0.0
        self.machine_running = False
        self.phase = FEED
        self._wait_s = 0.0  # time the current step has been ready (command latency)
        self._op_phase = -1  # the phase whose handling operation is running
        # counters
        self.parts_out = 0
        self.blanks_released = 0
        self.jam_count = 0
        self.starved_s = 0.0  # robot idle, the sequence waiting for a blank
        self.blocked_s = 0.0  # a blank waiting at the belt end on a full buffer
        self.jammed_total_s = 0.0

    def _draw_supply(self) -> float:
        if self.p.supply_interarrival_s is None:
            return math.inf
        return self.time_s + self.rng.expovariate(1.0 / self.p.supply_interarrival_s)

    # --- commands (as the feeder's OPC UA methods) -------------------------------------------
    def set_conveyor_speed(self, speed_mm_s: float) -> None:
        """Conveyor speed setpoint, mm/s, clipped to [0, max]."""
        self.speed_mm_s = min(max(float(speed_mm_s), 0.0), self.p.max_conveyor_speed_mm_s)

    def release_blank(self) -> bool:
        """Put a blank on the belt start; False when jammed, the start is occupied or no supply."""
        if self.jammed_s > 0.0 or (self.belt and self.belt[-1] < self.p.blank_pitch_mm) or self.supply <= 0:
            return False
        if self.p.supply_interarrival_s is not None:
            self.supply -= 1
        self.belt.append(0.0)
        self.blanks_released += 1
        self.time_since_release_s = 0.0
        return True

    def apply(self, action: FeedAction) -> None:
        """A feeding policy's command: the conveyor speed (mm/s) and a release when it asks for one."""
        self.set_conveyor_speed(action.conveyor_speed_mm_s)
        if action.release_blank:
            self.release_blank()

    # --- state the feeder reports -------------------------------------------------------------
    @property
    def conveyor_running(self) -> bool:
        return self.speed_mm_s > 0.0 and self.jammed_s <= 0.0 and bool(self.belt)

    @property
    def blocked(self) -> bool:
        return bool(self.belt) and self.belt[0] >= self.p.conveyor_length_mm and self.buffer >= self.p.buffer_capacity

    def observation(self) -> FeedObservation:
        """The FeedObservation the policy node builds from the feeder's status.

        As in cell_controller/nodes/policy.py: robot_busy / machine_busy are the devices' BUSY
        states (program running, cycle running); conveyor_speed_mm_s is the belt's actual speed
        (0 when jammed or empty). The learned feeding policy does not use the busy flags.
        """
        return FeedObservation(
            buffer_count=self.buffer, buffer_capacity=self.p.buffer_capacity, part_at_fixture=self.fixture,
            robot_busy=self.robot_busy, machine_busy=self.machine_running,
            conveyor_speed_mm_s=self.speed_mm_s if self.conveyor_running else 0.0,
            time_since_last_feed_s=min(self.time_since_release_s, 1e6),
        )

    def jam_hazard_per_s(self) -> float:
        p = self.p
        if self.speed_mm_s <= 0.0:
            return 0.0
        ratio = self.speed_mm_s / p.nominal_conveyor_speed_mm_s
        return p.jam_hazard_per_s * (ratio ** p.jam_speed_exponent if ratio > 1.0 else 1.0)

    # --- time -------------------------------------------------------------------------------
    def step(self, dt_s: float) -> int:
        """Advance `dt_s` of cell time (order as TwinCell.step: feeder, robot, machine, then
        the supervisor's sequence). Returns the parts finished in this step."""
        p = self.p
        self.time_s += dt_s
        done_before = self.parts_out
        if self.time_s >= self._next_supply_s:
            if self.supply < p.supply_capacity:
                self.supply += 1
            self._next_supply_s = self._draw_supply()
        # feeder
        self.time_since_release_s += dt_s
        if self.busy_s > 0.0:
            self.busy_s -= dt_s
            if self.busy_s <= 0.0:
                self.busy_s = 0.0
                self._finish_operation()
        if self.jammed_s > 0.0:
            self.jammed_s = max(self.jammed_s - dt_s, 0.0)
            self.jammed_total_s += dt_s
        else:
            self._convey(dt_s)
        if self.blocked:
            self.blocked_s += dt_s
        # robot
        if self.robot_busy:
            self.robot_remaining_s -= dt_s
        # machine
        if self.machine_running:
            self.machine_remaining_s -= dt_s
            if self.machine_remaining_s <= 0.0:
                self.machine_running = False  # ended, the part waits for release
        self._sequence(dt_s)
        return self.parts_out - done_before

    def advance_status(self, action: FeedAction | None = None) -> None:
        """Advance to the feeder's next status (`status_ticks` steps of STEP_S), `action` (the feeding
        policy's answer to this status, if any) acting after `feed_latency_s`."""
        for tick in range(self.p.status_ticks):
            if action is not None and tick == self.p.feed_latency_ticks:
                self.apply(action)
            self.step(STEP_S)

    def _convey(self, dt_s: float) -> None:
        p = self.p
        belt = self.belt
        if not belt:
            return
        ahead = math.inf
        move = self.speed_mm_s * dt_s
        for i, x in enumerate(belt):
            x = min(x + move, p.conveyor_length_mm, ahead)
            belt[i] = x
            ahead = x - p.blank_pitch_mm
        if belt[0] >= p.conveyor_length_mm:
            if self.buffer < p.buffer_capacity:
                belt.pop(0)
                self.buffer += 1
            elif self.speed_mm_s > 0.0 and self.rng.random() < self.jam_hazard_per_s() * dt_s:
                self.jam_count += 1
                self.jammed_s = p.jam_clear_s

    def _feeder_idle(self) -> bool:
        return self.busy_s <= 0.0 and self.jammed_s <= 0.0

    def _ready(self) -> bool:
        ph = self.phase
        if ph == FEED:
            return self._feeder_idle() and self.buffer > 0 and not self.fixture
        if ph == WELD:
            return not self.robot_busy
        if ph == RELEASE_PREV:
            return self._feeder_idle() and not self.machine_running
        return self._feeder_idle()

    def _sequence(self, dt_s: float) -> None:
        ph = self.phase
        if self._op_phase == ph:
            return  # the step's handling operation is running
        if ph == WELD and self.robot_busy:
            if self.robot_remaining_s <= 0.0:
                self.robot_busy = False
                self.phase = UNCLAMP
            return
        if ph == RELEASE_PREV and not self.machine_part:
            self.phase = TRANSFER
            ph = TRANSFER
        if not self._ready():
            self._wait_s = 0.0
            if ph == FEED and self.buffer == 0:
                self.starved_s += dt_s
            return
        self._wait_s += dt_s
        if self._wait_s < self.p.command_latency_s - 1e-9:
            return
        self._wait_s = 0.0
        if ph == WELD:
            spread = 1.0 + self.rng.uniform(-self.p.robot_cycle_spread, self.p.robot_cycle_spread)
            self.robot_remaining_s = self.robot_cycle_s * spread
            self.robot_busy = True
            return
        self._op_phase = ph
        self.busy_s = getattr(self.p, _OP_S[ph])

    def _finish_operation(self) -> None:
        ph, self._op_phase = self._op_phase, -1
        if ph == FEED:
            self.buffer -= 1
            self.fixture = True
            self.phase = CLAMP
        elif ph == CLAMP:
            self.clamped = True
            self.phase = WELD
        elif ph == UNCLAMP:
            self.clamped = False
            self.phase = RELEASE_PREV
        elif ph == RELEASE_PREV:
            self.machine_part = False
            self.parts_out += 1
            self.phase = TRANSFER
        elif ph == TRANSFER:
            self.fixture = False
            self.machine_part = True
            spread = 1.0 + self.rng.uniform(-self.p.machine_cycle_spread, self.p.machine_cycle_spread)
            self.machine_remaining_s = self.p.machine_cycle_s * spread
            self.machine_running = True  # the machine step follows the transfer at once
            self.phase = FEED


def run_feed_policy(policy, params: FlowParams | None = None, seed: int | None = None,
                    duration_s: float = 3600.0) -> dict[str, float]:
    """Run a FeedPolicy on the flow model for `duration_s` of cell time as the policy node runs it: on
    each feeder status (`status_period_s`) through a `FeedLoop`. Returns throughput (parts/h), jams and
    the other counters (`episode_summary`)."""
    model = FlowModel(params, seed)
    loop = FeedLoop(policy, model.p.control_period_s)
    loop.reset()
    for _ in range(int(round(duration_s / model.p.status_period_s))):
        model.advance_status(loop.on_status(model.time_s, model.observation(), model.blanks_released))
    return episode_summary(model, duration_s)


def episode_summary(model: FlowModel, duration_s: float) -> dict[str, float]:
    """The episode's figures: parts, parts per hour, jams, starved/blocked/jammed time (s)."""
    return {
        "parts": float(model.parts_out),
        "parts_per_hour": model.parts_out * 3600.0 / duration_s,
        "jams": float(model.jam_count),
        "starved_s": model.starved_s,
        "blocked_s": model.blocked_s,
        "jammed_s": model.jammed_total_s,
        "blanks_released": float(model.blanks_released),
    }
