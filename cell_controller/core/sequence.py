"""The part sequence: where each part in the cell is, and the one device step that takes the cell on.

Every part in the cell is at a `Stage`. A `Step` is the device command that moves a part from
its stage to the next, with a `ready` condition to wait for before it is sent and a `done`
condition that ends it. Conditions read the level-triggered statuses the bridges publish (the
keys in `STATUS_KEYS`), so a lost or repeated message never skips or doubles a step: a step
whose effect is already on the device is done, whoever sent it.

`next_step` picks one step at a time for the whole cell, in the order the cell's material flow
has always had (the order `sim/physics/flow.py` models): feed, clamp, weld and unclamp part k+1
while the machine presses part k; release k right before k+1 is transferred; then press k+1.
The machine's cycle runs on its own (the `cycle` step sends nothing and waits for its end).

A part can also be taken out instead of produced (`PartInCell.removal`): a weld stopped part-way
makes the part scrap (unclamp, reject); a stop, an abort or a crash leaves parts that Resetting
takes out (`interrupted`). `reconcile` aligns the parts the supervisor knows with what the
devices hold, after a Hold, a restart of the twin or of the supervisor itself.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

from .divergence import DivergenceStats
from .journal import Outcome
from .types import DeviceState, DeviceStatus

Statuses = dict[str, DeviceStatus]
Condition = Callable[[str, Statuses], bool]
"""condition(part_id, statuses) -> bool"""

#: the status values (strings, as the bridges publish them) each step condition and `reconcile` read
STATUS_KEYS: dict[str, tuple[str, ...]] = {
    "feeder": ("fixture_part", "clamped", "buffer_count"),
    "robot": ("execution", "part_id", "progress"),
    "welder": ("last_part_id", "arc_on"),
    "machine": ("cycle", "part_id", "mode"),
}
#: the machine's OperationMode in which it takes parts (any other mode blocks the cell)
MACHINE_AUTOMATIC = "Automatic"
#: cell time a ready condition may stay false before the cell holds, s
READY_TIMEOUT_S = 180.0


class Stage(str, enum.Enum):
    """Where a part is. Fixture stages first, then machine stages."""

    ENTERED = "entered"          # its id is handed out; the feed brings its blank into the fixture
    FIXTURED = "fixtured"        # in the fixture, unclamped, not welded
    CLAMPED = "clamped"          # clamped, not welded
    WELDED = "welded"            # clamped, the seam welded to its end
    INTERRUPTED = "interrupted"  # clamped, the weld stopped part-way: the part is scrap
    WAITING = "waiting"          # welded and unclamped: waits for the machine
    TO_REJECT = "to_reject"      # unclamped, leaves by the reject bin
    LOADED = "loaded"            # in the machine, its cycle not started
    PRESSING = "pressing"        # the machine's cycle runs
    PRESSED = "pressed"          # the cycle ended: the release takes the part out
    LEFT = "left"                # out of the cell


FIXTURE_STAGES = frozenset({Stage.ENTERED, Stage.FIXTURED, Stage.CLAMPED, Stage.WELDED, Stage.INTERRUPTED,
                            Stage.WAITING, Stage.TO_REJECT})
MACHINE_STAGES = frozenset({Stage.LOADED, Stage.PRESSING, Stage.PRESSED})
_CLAMPED_STAGES = {Stage.CLAMPED: Stage.FIXTURED, Stage.WELDED: Stage.WAITING, Stage.INTERRUPTED: Stage.TO_REJECT}
_UNCLAMPED_STAGES = {unclamped: clamped for clamped, unclamped in _CLAMPED_STAGES.items()}


@dataclass
class PartInCell:
    """A part the supervisor follows through the cell.

    started_at: Unix time its id was handed out; started_stamp_s: cell time (device stamp) of its
    feed; weld: the welder's result values once the seam is welded to its end; removal: how it will
    leave when it is taken out instead of produced, with the reason; recorded: its journal record
    is written already (a part recorded `interrupted` after a restart, still to be taken out).
    """

    part_id: str
    stage: Stage
    started_at: float
    started_stamp_s: float = 0.0
    shift_id: int | None = None
    removal: Outcome | None = None
    reason: str = ""
    weld: dict[str, str] | None = field(default=None, repr=False)
    #: the inspection node's prediction for its weld (`weld/inspection` values), None until one came
    inspection: dict[str, str] | None = field(default=None, repr=False)
    recorded: bool = False
    #: role -> the backends that drove it while the part was in the cell, in order
    backends: dict[str, list[str]] = field(default_factory=dict, repr=False)
    #: role -> twin − real of its process values while it worked on this part (shadow only)
    divergence: dict[str, DivergenceStats] = field(default_factory=dict, repr=False)

    def remove(self, outcome: Outcome, reason: str) -> None:
        """Take the part out instead of producing it; the first reason given is kept."""
        if self.removal is None:
            self.removal, self.reason = outcome, reason


def value(statuses: Statuses, role: str, key: str) -> str:
    status = statuses.get(role)
    return status.values.get(key, "") if status else ""


def reachable(statuses: Statuses, role: str) -> bool:
    """The device's bridge reports it with live data (not offline, not stale)."""
    status = statuses.get(role)
    return status is not None and status.state not in (DeviceState.OFFLINE, DeviceState.STALE)


def idle(statuses: Statuses, role: str) -> bool:
    status = statuses.get(role)
    return status is not None and status.state in (DeviceState.IDLE, DeviceState.DONE)


def _fixture_holds(part_id: str, s: Statuses) -> bool:
    return value(s, "feeder", "fixture_part") == part_id


def _clamped(s: Statuses) -> bool:
    return value(s, "feeder", "clamped") == "1"


def machine_available(s: Statuses) -> bool:
    """The machine takes parts: it is in automatic mode and not faulted."""
    status = s.get("machine")
    return status is not None and status.state is not DeviceState.FAULT and \
        value(s, "machine", "mode") == MACHINE_AUTOMATIC


@dataclass(frozen=True)
class Step:
    """One device command of the sequence; `name` is also the journal's event detail.

    command '' is a wait: nothing is sent, the step ends when `done` holds. timeout_s is the
    cell time the step may take from its sending to its end.
    """

    name: str
    device: str
    command: str
    args: Callable[[str], tuple[str, ...]]
    ready: Condition
    done: Condition
    to: Stage
    timeout_s: float


def _none(part_id: str) -> tuple[str, ...]:
    return ()


FEED = Step("feed", "feeder", "feed_part", lambda p: (p,),
            ready=lambda p, s: idle(s, "feeder") and not value(s, "feeder", "fixture_part")
            and int(value(s, "feeder", "buffer_count") or 0) > 0,
            done=lambda p, s: idle(s, "feeder") and _fixture_holds(p, s), to=Stage.FIXTURED, timeout_s=30.0)
CLAMP = Step("clamp", "feeder", "clamp", _none,
             ready=lambda p, s: idle(s, "feeder") and _fixture_holds(p, s),
             done=lambda p, s: idle(s, "feeder") and _fixture_holds(p, s) and _clamped(s),
             to=Stage.CLAMPED, timeout_s=10.0)
WELD = Step("weld", "robot", "start_program", lambda p: ("weld_seam", p),
            ready=lambda p, s: idle(s, "robot") and _fixture_holds(p, s) and _clamped(s),
            done=lambda p, s: value(s, "robot", "execution") == "done" and value(s, "robot", "part_id") == p
            and value(s, "welder", "last_part_id") == p, to=Stage.WELDED, timeout_s=300.0)
_UNCLAMP_READY: Condition = lambda p, s: idle(s, "feeder") and idle(s, "robot") and _fixture_holds(p, s)  # noqa: E731
_UNCLAMP_DONE: Condition = lambda p, s: idle(s, "feeder") and not _clamped(s)  # noqa: E731
UNCLAMP = Step("unclamp", "feeder", "unclamp", _none, _UNCLAMP_READY, _UNCLAMP_DONE, Stage.WAITING, 10.0)
UNCLAMP_TO_REJECT = Step("unclamp", "feeder", "unclamp", _none, _UNCLAMP_READY, _UNCLAMP_DONE, Stage.TO_REJECT, 10.0)
REJECT = Step("reject", "feeder", "reject_part", _none,
              ready=lambda p, s: idle(s, "feeder") and _fixture_holds(p, s) and not _clamped(s),
              done=lambda p, s: idle(s, "feeder") and not _fixture_holds(p, s), to=Stage.LEFT, timeout_s=30.0)
TRANSFER = Step("transfer", "feeder", "transfer_to_machine", _none,
                ready=lambda p, s: idle(s, "feeder") and _fixture_holds(p, s) and not _clamped(s)
                and not value(s, "machine", "part_id") and machine_available(s),
                done=lambda p, s: idle(s, "feeder") and value(s, "machine", "part_id") == p,
                to=Stage.LOADED, timeout_s=30.0)
PRESS = Step("press", "machine", "start_cycle", lambda p: (p,),
             ready=lambda p, s: value(s, "machine", "part_id") == p and value(s, "machine", "cycle") == "idle"
             and machine_available(s),
             done=lambda p, s: value(s, "machine", "part_id") == p and value(s, "machine", "cycle") in ("running", "ended"),
             to=Stage.PRESSING, timeout_s=10.0)
CYCLE = Step("cycle", "machine", "", _none, ready=lambda p, s: True,
             done=lambda p, s: value(s, "machine", "part_id") == p and value(s, "machine", "cycle") == "ended",
             to=Stage.PRESSED, timeout_s=300.0)
RELEASE = Step("release", "feeder", "release", _none,
               ready=lambda p, s: idle(s, "feeder") and value(s, "machine", "part_id") == p
               and value(s, "machine", "cycle") != "running",
               done=lambda p, s: idle(s, "feeder") and value(s, "machine", "part_id") != p,
               to=Stage.LEFT, timeout_s=30.0)

ALL_STEPS = (FEED, CLAMP, WELD, UNCLAMP, UNCLAMP_TO_REJECT, REJECT, TRANSFER, PRESS, CYCLE, RELEASE)


def step_for(part: PartInCell) -> Step | None:
    """The step that takes `part` on from its stage (None: nothing to do on a device)."""
    removing = part.removal is not None
    if part.stage is Stage.ENTERED:
        return None if removing else FEED
    if part.stage is Stage.FIXTURED:
        return REJECT if removing else CLAMP
    if part.stage is Stage.CLAMPED:
        return UNCLAMP_TO_REJECT if removing else WELD
    if part.stage is Stage.WELDED:
        return UNCLAMP_TO_REJECT if removing else UNCLAMP
    if part.stage is Stage.INTERRUPTED:
        return UNCLAMP_TO_REJECT
    if part.stage is Stage.WAITING:
        return REJECT if removing else TRANSFER
    if part.stage is Stage.TO_REJECT:
        return REJECT
    if part.stage is Stage.LOADED:
        return RELEASE if removing else PRESS
    if part.stage is Stage.PRESSING:
        return CYCLE
    if part.stage is Stage.PRESSED:
        return RELEASE
    return None


def in_fixture(parts: list[PartInCell]) -> PartInCell | None:
    return next((p for p in parts if p.stage in FIXTURE_STAGES), None)


def in_machine(parts: list[PartInCell]) -> PartInCell | None:
    return next((p for p in parts if p.stage in MACHINE_STAGES), None)


def next_step(parts: list[PartInCell], may_start_part: bool) -> tuple[PartInCell | None, Step] | None:
    """The cell's next step and the part it is for (None with FEED: a new part enters).

    `may_start_part`: a new part may enter now (the shift wants more and the state allows it).
    """
    fixture, machine = in_fixture(parts), in_machine(parts)
    if machine is not None and machine.stage is Stage.LOADED and machine.removal is None:
        return machine, PRESS
    if fixture is None:
        if may_start_part:
            return None, FEED
        step = step_for(machine) if machine is not None else None
        return (machine, step) if step is not None else None
    if fixture.stage is Stage.WAITING and fixture.removal is None and machine is not None:
        step = step_for(machine)
        return (machine, step) if step is not None else None
    step = step_for(fixture)
    if step is None and machine is not None:
        step_m = step_for(machine)
        return (machine, step_m) if step_m is not None else None
    return (fixture, step) if step is not None else None


def reconcile(parts: list[PartInCell], statuses: Statuses, started_at: float) -> list[str]:
    """Align the parts the supervisor follows with what the feeder's fixture and the machine hold.

    Stages are corrected from the devices' clamp and cycle states; a followed part no device holds
    is marked LEFT with removal `interrupted` (the caller records it); a part a device holds that
    nobody follows is added, to be taken out as `interrupted`. Returns a line per change.
    """
    changes: list[str] = []
    fixture_part = value(statuses, "feeder", "fixture_part")
    machine_part = value(statuses, "machine", "part_id")
    clamped = _clamped(statuses)
    machine_stage = {"running": Stage.PRESSING, "ended": Stage.PRESSED}.get(value(statuses, "machine", "cycle"),
                                                                            Stage.LOADED)
    for part in parts:
        if part.stage in FIXTURE_STAGES and machine_part == part.part_id:  # its transfer ended unseen
            changes.append(f"{part.part_id}: {part.stage.value} -> {machine_stage.value} (the machine holds it)")
            part.stage = machine_stage
        elif part.stage in FIXTURE_STAGES:
            if fixture_part != part.part_id:
                if part.stage is not Stage.ENTERED:
                    changes.append(f"{part.part_id} is not in the fixture any more")
                part.remove(Outcome.INTERRUPTED, "not fed" if part.stage is Stage.ENTERED else "lost from the fixture")
                part.stage = Stage.LEFT
                continue
            stage = Stage.FIXTURED if part.stage is Stage.ENTERED else part.stage
            if clamped and stage in _UNCLAMPED_STAGES:
                stage = _UNCLAMPED_STAGES[stage]
            elif not clamped and stage in _CLAMPED_STAGES:
                stage = _CLAMPED_STAGES[stage]
            if stage is not part.stage:
                changes.append(f"{part.part_id}: {part.stage.value} -> {stage.value} (the fixture says so)")
                part.stage = stage
        elif part.stage in MACHINE_STAGES:
            if machine_part != part.part_id:
                changes.append(f"{part.part_id} is not in the machine any more")
                part.remove(Outcome.INTERRUPTED, "lost from the machine")
                part.stage = Stage.LEFT
                continue
            if machine_stage is not part.stage:
                changes.append(f"{part.part_id}: {part.stage.value} -> {machine_stage.value} (the machine says so)")
                part.stage = machine_stage
    followed = {p.part_id for p in parts if p.stage is not Stage.LEFT}
    if fixture_part and fixture_part not in followed:
        found = PartInCell(fixture_part, Stage.CLAMPED if clamped else Stage.FIXTURED, started_at)
        found.remove(Outcome.INTERRUPTED, "found in the fixture")
        parts.append(found)
        changes.append(f"{fixture_part} found in the fixture")
    if machine_part and machine_part not in followed:
        found = PartInCell(machine_part, machine_stage, started_at)
        found.remove(Outcome.INTERRUPTED, "found in the machine")
        parts.append(found)
        changes.append(f"{machine_part} found in the machine")
    return changes
