"""The part sequence: the order of steps, gating on device statuses, scrap and clean-out routes, and
`reconcile` aligning the parts the supervisor follows with what the devices hold."""
from __future__ import annotations

from cell_controller.core.journal import Outcome
from cell_controller.core.sequence import (
    ALL_STEPS, CYCLE, FEED, PRESS, REJECT, RELEASE, STATUS_KEYS, TRANSFER, UNCLAMP, UNCLAMP_TO_REJECT, WELD,
    PartInCell, Stage, Statuses, next_step, reconcile, step_for,
)
from cell_controller.core.types import DeviceState, DeviceStatus

IDLE, BUSY, DONE = DeviceState.IDLE, DeviceState.BUSY, DeviceState.DONE


def statuses(feeder: dict[str, str] | None = None, robot: dict[str, str] | None = None,
             welder: dict[str, str] | None = None, machine: dict[str, str] | None = None,
             feeder_state: DeviceState = IDLE, robot_state: DeviceState = IDLE) -> Statuses:
    """A resting cell (empty fixture, empty machine in automatic mode, blanks in the buffer) with overrides."""
    return {
        "feeder": DeviceStatus("feeder", feeder_state, values={
            "fixture_part": "", "clamped": "0", "buffer_count": "2", **(feeder or {})}),
        "robot": DeviceStatus("robot", robot_state, values={"execution": "idle", "part_id": "", "progress": "0",
                                                            **(robot or {})}),
        "welder": DeviceStatus("welder", IDLE, values={"last_part_id": "", "arc_on": "0", **(welder or {})}),
        "machine": DeviceStatus("machine", IDLE, values={"cycle": "idle", "part_id": "", "mode": "Automatic",
                                                         **(machine or {})}),
    }


def part(part_id: str, stage: Stage, removal: Outcome | None = None) -> PartInCell:
    p = PartInCell(part_id, stage, 0.0)
    if removal is not None:
        p.remove(removal, "test")
    return p


def test_the_flow_of_two_parts_keeps_the_cells_order() -> None:
    """feed, clamp, weld, unclamp k+1 while the machine presses k; release k right before k+1's transfer."""
    p1 = part("P1", Stage.ENTERED)
    assert next_step([], may_start_part=True) == (None, FEED)
    order = []
    parts = [p1]
    for stage in (Stage.ENTERED, Stage.FIXTURED, Stage.CLAMPED, Stage.WELDED, Stage.WAITING, Stage.LOADED,
                  Stage.PRESSING):
        p1.stage = stage
        order.append(next_step(parts, may_start_part=False)[1].name)
    assert order == ["feed", "clamp", "weld", "unclamp", "transfer", "press", "cycle"]
    p2 = part("P2", Stage.ENTERED)
    p1.stage = Stage.PRESSING
    assert next_step([p1], may_start_part=True) == (None, FEED)  # the next part enters while k presses
    parts = [p1, p2]
    p2.stage = Stage.WELDED
    assert next_step(parts, True) == (p2, UNCLAMP)
    p2.stage = Stage.WAITING
    assert next_step(parts, True) == (p1, CYCLE)  # k+1 waits for the machine
    p1.stage = Stage.PRESSED
    assert next_step(parts, True) == (p1, RELEASE)
    p1.stage = Stage.LEFT
    assert next_step(parts, True) == (p2, TRANSFER)
    p2.stage = Stage.LOADED
    assert next_step(parts, True) == (p2, PRESS)


def test_scrap_and_clean_out_routes() -> None:
    assert step_for(part("P", Stage.INTERRUPTED, Outcome.SCRAPPED)) is UNCLAMP_TO_REJECT
    assert step_for(part("P", Stage.TO_REJECT, Outcome.SCRAPPED)) is REJECT
    assert step_for(part("P", Stage.CLAMPED, Outcome.INTERRUPTED)) is UNCLAMP_TO_REJECT
    assert step_for(part("P", Stage.WAITING, Outcome.INTERRUPTED)) is REJECT
    assert step_for(part("P", Stage.LOADED, Outcome.INTERRUPTED)) is RELEASE
    assert step_for(part("P", Stage.PRESSING, Outcome.INTERRUPTED)) is CYCLE
    assert step_for(part("P", Stage.ENTERED, Outcome.INTERRUPTED)) is None  # never fed: nothing to take out
    assert UNCLAMP_TO_REJECT.to is Stage.TO_REJECT and UNCLAMP.to is Stage.WAITING
    # a part being taken out never enters the machine; a removed part in the fixture goes before the machine part
    m = part("M", Stage.LOADED, Outcome.INTERRUPTED)
    f = part("F", Stage.WAITING, Outcome.INTERRUPTED)
    assert next_step([m, f], may_start_part=False) == (f, REJECT)


def test_gating_on_the_devices() -> None:
    assert FEED.ready("P1", statuses())
    assert not FEED.ready("P1", statuses(feeder={"buffer_count": "0"}))
    assert not FEED.ready("P1", statuses(feeder={"fixture_part": "P0"}))
    assert not FEED.ready("P1", statuses(feeder_state=BUSY))
    assert FEED.done("P1", statuses(feeder={"fixture_part": "P1"}))
    assert not FEED.done("P1", statuses(feeder={"fixture_part": "P1"}, feeder_state=BUSY))
    clamped = {"fixture_part": "P1", "clamped": "1"}
    assert WELD.ready("P1", statuses(feeder=clamped)) and WELD.ready("P1", statuses(feeder=clamped, robot_state=DONE))
    assert not WELD.ready("P1", statuses(feeder={"fixture_part": "P1"}))
    assert not WELD.done("P1", statuses(robot={"execution": "done", "part_id": "P1"}, welder={"last_part_id": "P0"}))
    assert WELD.done("P1", statuses(robot={"execution": "done", "part_id": "P1"}, welder={"last_part_id": "P1"}))
    assert not UNCLAMP.ready("P1", statuses(feeder=clamped, robot_state=BUSY))
    waiting = {"fixture_part": "P1"}
    assert TRANSFER.ready("P1", statuses(feeder=waiting))
    assert not TRANSFER.ready("P1", statuses(feeder=waiting, machine={"part_id": "P0"}))
    assert not TRANSFER.ready("P1", statuses(feeder=waiting, machine={"mode": "Setup"}))  # the machine blocks
    assert PRESS.done("P1", statuses(machine={"part_id": "P1", "cycle": "running"}))
    assert CYCLE.done("P1", statuses(machine={"part_id": "P1", "cycle": "ended"}))
    assert not RELEASE.ready("P1", statuses(machine={"part_id": "P1", "cycle": "running"}))
    assert RELEASE.ready("P1", statuses(machine={"part_id": "P1", "cycle": "idle"}))  # unpressed: taken out
    assert RELEASE.done("P1", statuses(machine={"part_id": ""}))
    assert REJECT.done("P1", statuses())


def test_conditions_read_only_the_declared_status_keys() -> None:
    read: dict[str, set[str]] = {}

    class Recording(dict):
        def __init__(self, role: str, values: dict[str, str]):
            super().__init__(values)
            self.role = role

        def get(self, key, default=None):
            read.setdefault(self.role, set()).add(key)
            return super().get(key, default)

    base = statuses(feeder={"fixture_part": "P1", "clamped": "1"}, machine={"part_id": "P1"})
    recording = {r: DeviceStatus(r, s.state, values=Recording(r, s.values)) for r, s in base.items()}
    for step in ALL_STEPS:
        step.ready("P1", recording)
        step.done("P1", recording)
    for role, keys in read.items():
        assert keys <= set(STATUS_KEYS[role]), (role, keys - set(STATUS_KEYS[role]))


def test_reconcile_follows_the_devices() -> None:
    clamped = statuses(feeder={"fixture_part": "P2", "clamped": "1"}, machine={"part_id": "P1", "cycle": "ended"})
    p1, p2 = part("P1", Stage.PRESSING), part("P2", Stage.FIXTURED)
    parts = [p1, p2]
    changes = reconcile(parts, clamped, 0.0)
    assert (p1.stage, p2.stage) == (Stage.PRESSED, Stage.CLAMPED) and len(changes) == 2
    # a transfer that ended unseen: the part is in the machine, not lost
    p3 = part("P3", Stage.WAITING)
    reconcile([p3], statuses(machine={"part_id": "P3"}), 0.0)
    assert p3.stage is Stage.LOADED and p3.removal is None
    # the twin restarted: nothing is where the supervisor thought
    p4 = part("P4", Stage.WELDED)
    reconcile([p4], statuses(), 0.0)
    assert p4.stage is Stage.LEFT and p4.removal is Outcome.INTERRUPTED and p4.reason == "lost from the fixture"
    # parts on devices nobody follows (a restart) are taken out as interrupted
    found: list[PartInCell] = []
    reconcile(found, statuses(feeder={"fixture_part": "X1"}, machine={"part_id": "X2", "cycle": "running"}), 5.0)
    assert [(p.part_id, p.stage, p.removal) for p in found] == [
        ("X1", Stage.FIXTURED, Outcome.INTERRUPTED), ("X2", Stage.PRESSING, Outcome.INTERRUPTED)]
    # an id handed out whose feed never happened
    p5 = part("P5", Stage.ENTERED)
    assert reconcile([p5], statuses(), 0.0) == []
    assert p5.stage is Stage.LEFT and p5.reason == "not fed"
