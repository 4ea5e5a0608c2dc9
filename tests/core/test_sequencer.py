"""The part sequence: step order, each part finished once, and ready/done gating on device statuses.

Statuses carry the values the sequencer's module docstring lists, as strings, the way the
bridges publish them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cell_controller.core.sequencer import Statuses, Step, part_steps, release_step, shift_steps
from cell_controller.core.types import DeviceState, DeviceStatus

IDLE, BUSY, DONE, FAULT = DeviceState.IDLE, DeviceState.BUSY, DeviceState.DONE, DeviceState.FAULT


def statuses(feeder: dict[str, str] | None = None, robot: dict[str, str] | None = None,
             welder: dict[str, str] | None = None, machine: dict[str, str] | None = None,
             feeder_state: DeviceState = IDLE, robot_state: DeviceState = IDLE) -> Statuses:
    """A resting cell (empty fixture, empty machine, parts in the buffer) with the given overrides."""
    return {
        "feeder": DeviceStatus("feeder", feeder_state, values={
            "state": feeder_state.value, "fixture_part": "", "clamped": "0", "buffer_count": "2", **(feeder or {})}),
        "robot": DeviceStatus("robot", robot_state, values={"execution": "idle", "part_id": "", **(robot or {})}),
        "welder": DeviceStatus("welder", IDLE, values={"result_counter": "0", "last_part_id": "", **(welder or {})}),
        "machine": DeviceStatus("machine", IDLE, values={"cycle": "idle", "part_id": "", **(machine or {})}),
    }


def step(steps: list[Step], name: str) -> Step:
    (found,) = [s for s in steps if s.name == name]
    return found


# --------------------------------------------------------------------------- order


def test_three_parts_in_order_each_finished_once() -> None:
    steps = shift_steps(["P1", "P2", "P3"], weld_timeout_s=90.0)
    per_part = ["feed", "clamp", "weld", "unclamp"]
    assert [(s.name, s.args) for s in steps] == [
        ("feed", ("P1",)), ("clamp", ()), ("weld", ("weld_seam", "P1")), ("unclamp", ()),
        ("transfer", ()), ("machine", ("P1",)),
        ("feed", ("P2",)), ("clamp", ()), ("weld", ("weld_seam", "P2")), ("unclamp", ()),
        ("release", ()), ("transfer", ()), ("machine", ("P2",)),
        ("feed", ("P3",)), ("clamp", ()), ("weld", ("weld_seam", "P3")), ("unclamp", ()),
        ("release", ()), ("transfer", ()), ("machine", ("P3",)),
        ("release", ()),
    ]
    assert per_part == [s.name for s in steps[:4]]
    finished = [pid for s in steps for pid in s.finishes]
    assert finished == ["P1", "P2", "P3"]
    assert all(s.name == "release" for s in steps if s.finishes)
    assert {(s.device, s.command) for s in steps} == {
        ("feeder", "feed_part"), ("feeder", "clamp"), ("robot", "start_program"), ("feeder", "unclamp"),
        ("feeder", "release"), ("feeder", "transfer_to_machine"), ("machine", "start_cycle")}
    assert step(steps[:6], "weld").timeout_s == 90.0
    assert all(s.timeout_s > 0 for s in steps)


def test_no_parts_no_steps() -> None:
    assert shift_steps([], 60.0) == []


def test_release_of_the_previous_part_comes_before_the_next_transfer() -> None:
    steps = part_steps("P2", "P1", 60.0)
    names = [s.name for s in steps]
    assert names == ["feed", "clamp", "weld", "unclamp", "release", "transfer", "machine"]
    assert steps[4].finishes == ("P1",)
    assert [s.name for s in part_steps("P1", None, 60.0)] == ["feed", "clamp", "weld", "unclamp", "transfer",
                                                               "machine"]


# --------------------------------------------------------------------------- gating


def test_feed_gating() -> None:
    feed = step(part_steps("P1", None, 60.0), "feed")
    assert feed.ready(statuses())
    assert not feed.ready(statuses(feeder={"buffer_count": "0"}))
    assert not feed.ready(statuses(feeder={"buffer_count": ""}))
    assert not feed.ready(statuses(feeder={"fixture_part": "P0"}))
    assert not feed.ready(statuses(feeder_state=BUSY))
    assert not feed.ready(statuses(feeder_state=FAULT))
    assert not feed.ready({k: v for k, v in statuses().items() if k != "feeder"})
    assert not feed.done(statuses())
    assert not feed.done(statuses(feeder={"fixture_part": "P1"}, feeder_state=BUSY))
    assert not feed.done(statuses(feeder={"fixture_part": "P0"}))
    assert feed.done(statuses(feeder={"fixture_part": "P1"}))
    assert feed.done(statuses(feeder={"fixture_part": "P1"}, feeder_state=DONE))


def test_clamp_and_unclamp_gating() -> None:
    steps = part_steps("P1", None, 60.0)
    clamp, unclamp = step(steps, "clamp"), step(steps, "unclamp")
    at_fixture = {"fixture_part": "P1"}
    assert clamp.ready(statuses(feeder=at_fixture)) and not clamp.ready(statuses(feeder_state=BUSY))
    assert not clamp.done(statuses(feeder={**at_fixture, "clamped": "0"}))
    assert not clamp.done(statuses(feeder={**at_fixture, "clamped": "1"}, feeder_state=BUSY))
    assert clamp.done(statuses(feeder={**at_fixture, "clamped": "1"}))
    assert not unclamp.done(statuses(feeder={**at_fixture, "clamped": "1"}))
    assert unclamp.done(statuses(feeder={**at_fixture, "clamped": "0"}))


def test_weld_done_needs_robot_done_and_the_welders_result_for_this_part() -> None:
    weld = step(part_steps("P2", "P1", 60.0), "weld")
    assert weld.ready(statuses()) and weld.ready(statuses(robot_state=DONE))
    assert not weld.ready(statuses(robot_state=BUSY))
    assert not weld.ready(statuses(robot_state=FAULT))
    finished = dict(robot={"execution": "done", "part_id": "P2"}, welder={"last_part_id": "P2"}, robot_state=DONE)
    assert weld.done(statuses(**finished))
    # the welder's result is still the previous part's: not done
    assert not weld.done(statuses(**{**finished, "welder": {"last_part_id": "P1"}}))
    assert not weld.done(statuses(**{**finished, "welder": {"last_part_id": ""}}))
    # the robot is still running, or reports another part
    assert not weld.done(statuses(**{**finished, "robot": {"execution": "running", "part_id": "P2"}}))
    assert not weld.done(statuses(**{**finished, "robot": {"execution": "done", "part_id": "P1"}}))
    assert not weld.done(statuses(**{**finished, "robot": {"execution": "fault", "part_id": "P2"}}))
    # no welder status at all
    assert not weld.done({k: v for k, v in statuses(**finished).items() if k != "welder"})


def test_transfer_and_machine_gating() -> None:
    steps = part_steps("P2", "P1", 60.0)
    transfer, machine = step(steps, "transfer"), step(steps, "machine")
    assert transfer.ready(statuses())
    assert not transfer.ready(statuses(machine={"part_id": "P1", "cycle": "ended"}))  # not released yet
    assert not transfer.ready(statuses(feeder_state=BUSY))
    assert not transfer.done(statuses())
    assert not transfer.done(statuses(machine={"part_id": "P2"}, feeder_state=BUSY))
    assert transfer.done(statuses(machine={"part_id": "P2"}))
    assert machine.ready(statuses(machine={"part_id": "P2", "cycle": "idle"}))
    assert not machine.ready(statuses(machine={"part_id": "P2", "cycle": "running"}))
    assert not machine.ready(statuses(machine={"part_id": "P1", "cycle": "idle"}))
    assert not machine.ready(statuses(machine={"part_id": "", "cycle": "idle"}))
    assert not machine.done(statuses(machine={"part_id": "P2", "cycle": "idle"}))
    assert not machine.done(statuses(machine={"part_id": "P2", "cycle": "fault"}))
    assert machine.done(statuses(machine={"part_id": "P2", "cycle": "running"}))
    assert machine.done(statuses(machine={"part_id": "P2", "cycle": "ended"}))
    assert not machine.done(statuses(machine={"part_id": "P1", "cycle": "ended"}))


def test_release_gating() -> None:
    release = release_step("P1")
    assert release.finishes == ("P1",)
    assert release.ready(statuses(machine={"part_id": "P1", "cycle": "ended"}))
    assert not release.ready(statuses(machine={"part_id": "P1", "cycle": "running"}))
    assert not release.ready(statuses(machine={"part_id": "P0", "cycle": "ended"}))
    assert not release.ready(statuses(machine={"part_id": "P1", "cycle": "ended"}, feeder_state=BUSY))
    assert not release.done(statuses(machine={"part_id": "P1", "cycle": "ended"}))
    assert not release.done(statuses(machine={"part_id": "", "cycle": "idle"}, feeder_state=BUSY))
    assert release.done(statuses(machine={"part_id": "", "cycle": "idle"}))


# --------------------------------------------------------------------------- a whole shift on a fake cell


@dataclass
class FakeCell:
    """The four devices, reduced to the status values the sequencer reads. Commands start an activity;
    `tick()` completes whatever is running (one "tick" is as long as any activity)."""

    buffer: int = 5
    fixture_part: str = ""
    clamped: bool = False
    robot: tuple[str, str] = ("idle", "")
    welder_last: str = ""
    welds: int = 0
    machine: tuple[str, str] = ("idle", "")
    busy: set[str] = field(default_factory=set)
    pending: list = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    def statuses(self) -> Statuses:
        feeder_state = BUSY if "feeder" in self.busy else IDLE
        robot_state = {"idle": IDLE, "running": BUSY, "done": DONE}[self.robot[0]]
        return {
            "feeder": DeviceStatus("feeder", feeder_state, values={
                "state": feeder_state.value, "fixture_part": self.fixture_part, "clamped": "1" if self.clamped else "0",
                "buffer_count": str(self.buffer)}),
            "robot": DeviceStatus("robot", robot_state, values={"execution": self.robot[0], "part_id": self.robot[1]}),
            "welder": DeviceStatus("welder", IDLE, values={"result_counter": str(self.welds),
                                                           "last_part_id": self.welder_last}),
            "machine": DeviceStatus("machine", IDLE if self.machine[0] != "running" else BUSY,
                                    values={"cycle": self.machine[0], "part_id": self.machine[1]}),
        }

    def send(self, device: str, command: str, args: tuple[str, ...]) -> None:
        self.busy.add(device)
        self.pending.append((command, args))
        if command == "start_program":
            self.robot = ("running", args[1])
        if command == "start_cycle":
            assert self.machine == ("idle", args[0])
            self.machine = ("running", args[0])
            self.busy.discard("machine")  # the machine runs on its own; the sequencer moves on

    def tick(self) -> None:
        for command, args in self.pending:
            if command == "feed_part":
                assert self.buffer > 0 and not self.fixture_part
                self.buffer, self.fixture_part = self.buffer - 1, args[0]
            elif command == "clamp":
                self.clamped = True
            elif command == "start_program":
                assert self.clamped and self.fixture_part == args[1]
                self.robot, self.welder_last, self.welds = ("done", args[1]), args[1], self.welds + 1
            elif command == "unclamp":
                self.clamped = False
            elif command == "transfer_to_machine":
                assert not self.clamped and not self.machine[1]
                self.machine, self.fixture_part = ("idle", self.fixture_part), ""
            elif command == "release":
                assert self.machine[0] == "ended"
                self.finished.append(self.machine[1])
                self.machine = ("idle", "")
        self.pending.clear()
        self.busy.clear()
        if self.machine[0] == "running":
            self.machine = ("ended", self.machine[1])


def test_a_shift_runs_to_the_end_on_a_fake_cell() -> None:
    cell = FakeCell()
    parts = ["P1", "P2", "P3"]
    for s in shift_steps(parts, 60.0):
        for _ in range(3):  # wait (bounded) for the step to be ready
            if s.ready(cell.statuses()):
                break
            cell.tick()
        assert s.ready(cell.statuses()), s.name
        assert not s.done(cell.statuses()), f"{s.name} looked done before its command was sent"
        cell.send(s.device, s.command, s.args)
        if s.name != "machine":  # a started cycle is done at once: the machine runs on its own
            assert not s.done(cell.statuses()), f"{s.name} looked done while its device was still busy"
        cell.tick()
        assert s.done(cell.statuses()), s.name
    assert cell.finished == parts
    assert cell.welds == 3 and cell.buffer == 2
    assert cell.machine == ("idle", "") and cell.fixture_part == "" and not cell.clamped

