"""PackML (ISA-TR88.00.02-2015 / OPC 30050): only legal transitions, Abort and Stop everywhere they belong,
no Execute without Reset, illegal commands refused without a state change, listeners hear everything.

The oracle below is written out from the standard's state diagram, independently of
`packml.TRANSITIONS` (the 2015 model including its optional Hold-from-Suspend transitions).
"""
from __future__ import annotations

import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cell_controller.core.packml import MODE_STATES, TRANSITIONS, Command, IllegalCommand, PackMLMachine, State, UnitMode

S, C = State, Command
SC = "SC"

ALL_STATES = {
    "Stopped", "Resetting", "Idle", "Starting", "Execute", "Completing", "Complete", "Holding", "Held",
    "Unholding", "Suspending", "Suspended", "Unsuspending", "Stopping", "Aborting", "Aborted", "Clearing",
}
ACTING = {"Resetting", "Starting", "Execute", "Completing", "Holding", "Unholding", "Suspending",
          "Unsuspending", "Stopping", "Aborting", "Clearing"}
NO_ABORT = {"Aborting", "Aborted"}
NO_STOP = {"Stopping", "Stopped", "Aborting", "Aborted", "Clearing"}

#: (state, command or SC) -> next state, by state name, from the PackML state diagram
SPEC: dict[tuple[str, str], str] = {
    ("Stopped", "reset"): "Resetting",
    ("Resetting", SC): "Idle",
    ("Idle", "start"): "Starting",
    ("Starting", SC): "Execute",
    ("Execute", SC): "Completing",
    ("Completing", SC): "Complete",
    ("Complete", "reset"): "Resetting",
    ("Execute", "hold"): "Holding",
    ("Holding", SC): "Held",
    ("Held", "unhold"): "Unholding",
    ("Unholding", SC): "Execute",
    ("Execute", "suspend"): "Suspending",
    ("Suspending", SC): "Suspended",
    ("Suspended", "unsuspend"): "Unsuspending",
    ("Unsuspending", SC): "Execute",
    ("Suspending", "hold"): "Holding",
    ("Suspended", "hold"): "Holding",
    ("Unsuspending", "hold"): "Holding",
    ("Stopping", SC): "Stopped",
    ("Aborting", SC): "Aborted",
    ("Aborted", "clear"): "Clearing",
    ("Clearing", SC): "Stopped",
    **{(s, "stop"): "Stopping" for s in ALL_STATES - NO_STOP},
    **{(s, "abort"): "Aborting" for s in ALL_STATES - NO_ABORT},
}
EVENTS = [c.value for c in Command] + [SC]


def apply(machine: PackMLMachine, event: str) -> State:
    return machine.state_complete() if event == SC else machine.command(event)


def test_the_17_states() -> None:
    assert {s.value for s in State} == ALL_STATES
    assert len(State) == 17
    assert {c.value for c in Command} == {"reset", "start", "stop", "hold", "unhold", "suspend", "unsuspend",
                                          "abort", "clear"}
    assert PackMLMachine().state is S.STOPPED


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_every_state_event_pair_matches_the_standard(state: State) -> None:
    for event in EVENTS:
        machine = PackMLMachine(state)
        heard: list[tuple[State, State, str]] = []
        machine.on_transition(lambda old, new, cause: heard.append((old, new, cause)))
        expected = SPEC.get((state.value, event))
        if expected is None:
            with pytest.raises(IllegalCommand) as info:
                apply(machine, event)
            assert state.value in str(info.value)
            if event != SC:
                assert event in str(info.value)
            assert machine.state is state and heard == []
        else:
            assert apply(machine, event).value == expected
            assert machine.state.value == expected
            assert heard == [(state, State(expected), event)]
    # available_commands() lists exactly the legal commands
    assert {c.value for c in PackMLMachine(state).available_commands()} == {
        e for (s, e) in SPEC if s == state.value and e != SC}


def test_state_complete_exactly_in_acting_states() -> None:
    for state in State:
        machine = PackMLMachine(state)
        if state.value in ACTING:
            machine.state_complete()
            assert machine.state is not state
        else:
            with pytest.raises(IllegalCommand, match=state.value):
                machine.state_complete()
            assert machine.state is state


@pytest.mark.parametrize("command, forbidden_in, acting, final", [
    (C.ABORT, NO_ABORT, S.ABORTING, S.ABORTED),
    (C.STOP, NO_STOP, S.STOPPING, S.STOPPED),
], ids=["abort", "stop"])
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_abort_and_stop_reachability(state: State, command: Command, forbidden_in: set, acting: State,
                                     final: State) -> None:
    machine = PackMLMachine(state)
    if state.value in forbidden_in:
        with pytest.raises(IllegalCommand):
            machine.command(command)
        assert machine.state is state
    else:
        assert machine.command(command) is acting
        assert machine.state_complete() is final


def test_unknown_command_is_illegal_and_changes_nothing() -> None:
    machine = PackMLMachine(S.IDLE)
    heard: list[object] = []
    machine.on_transition(lambda *args: heard.append(args))
    for bad in ("jump", "", "Start", "SC"):
        with pytest.raises(IllegalCommand, match="unknown PackML command"):
            machine.command(bad)
    assert machine.state is S.IDLE and heard == []
    assert machine.command("start") is S.STARTING  # the string form of a command works


class _Walk:
    """Checks one machine against the oracle, step by step, and tracks the Reset discipline."""

    RESTART_POINTS = {"Stopped", "Aborted", "Complete"}

    def __init__(self) -> None:
        self.machine = PackMLMachine()
        self.heard: list[tuple[State, State, str]] = []
        self.heard_too: list[tuple[State, State, str]] = []
        self.machine.on_transition(lambda *t: self.heard.append(t))
        self.machine.on_transition(lambda *t: self.heard_too.append(t))
        self.expected_log: list[tuple[State, State, str]] = []
        self.recent: list[str] = ["Stopped"]  # the last three states entered
        self.started = False  # Resetting -> Idle -> Starting -> Execute since the last restart point
        self.visited: set[str] = {"Stopped"}
        self.transitions = 0

    def step(self, event: str) -> None:
        before = self.machine.state
        expected = SPEC.get((before.value, event))
        if expected is None:
            with pytest.raises(IllegalCommand) as info:
                apply(self.machine, event)
            assert before.value in str(info.value)
            assert event == SC or event in str(info.value)
            assert self.machine.state is before
        else:
            after = apply(self.machine, event)
            assert after.value == expected and self.machine.state is after
            self.expected_log.append((before, after, event))
            self.transitions += 1
            self.visited.add(expected)
            if expected == "Execute":
                if before is S.STARTING:
                    assert self.recent == ["Resetting", "Idle", "Starting"], self.recent
                    self.started = True
                assert self.started, f"Execute reached from {before.value} without Reset and Start"
            if expected in self.RESTART_POINTS:
                self.started = False
            self.recent = (self.recent + [expected])[-3:]
        assert self.heard == self.expected_log
        assert self.heard_too == self.expected_log


def test_ten_thousand_random_sequences() -> None:
    rng = random.Random(20240611)
    visited: set[str] = set()
    used: set[tuple[str, str]] = set()
    executes = 0
    for _ in range(10_000):
        walk = _Walk()
        for _ in range(rng.randint(1, 40)):
            # mostly a legal event (to get deep into the diagram), otherwise any event at all
            if rng.random() < 0.7:
                legal = [e for e in EVENTS if (walk.machine.state.value, e) in SPEC]
                onward = [e for e in legal if e not in ("stop", "abort")]
                event = rng.choice(onward if onward and rng.random() < 0.8 else legal)
            else:
                event = rng.choice(EVENTS)
            used.add((walk.machine.state.value, event))
            walk.step(event)
        visited |= walk.visited
        executes += sum(1 for (_, new, _) in walk.expected_log if new is S.EXECUTE)
    assert visited == ALL_STATES
    assert set(SPEC) <= used, "the walk must exercise every legal transition"
    assert executes > 1000


class PackMLStateful(RuleBasedStateMachine):
    """Hypothesis drives arbitrary command/SC sequences; the oracle checks every step."""

    def __init__(self) -> None:
        super().__init__()
        self.walk = _Walk()

    @rule(command=st.sampled_from(list(Command)))
    def command(self, command: Command) -> None:
        self.walk.step(command.value)

    @precondition(lambda self: self.walk.machine.state.value in ACTING)
    @rule()
    def state_complete(self) -> None:
        self.walk.step(SC)

    @rule()
    def state_complete_anywhere(self) -> None:
        self.walk.step(SC)

    @invariant()
    def abort_available_unless_aborting(self) -> None:
        state = self.walk.machine.state
        assert (C.ABORT in self.walk.machine.available_commands()) == (state.value not in NO_ABORT)
        assert (C.STOP in self.walk.machine.available_commands()) == (state.value not in NO_STOP)


TestPackMLStateful = PackMLStateful.TestCase
TestPackMLStateful.settings = settings(max_examples=100, stateful_step_count=40, deadline=None, derandomize=True)


# --------------------------------------------------------------------------- unit modes and TR88 numbers

TR88 = {"Undefined": 0, "Clearing": 1, "Stopped": 2, "Starting": 3, "Idle": 4, "Suspended": 5, "Execute": 6,
        "Stopping": 7, "Aborting": 8, "Aborted": 9, "Holding": 10, "Held": 11, "Unholding": 12, "Suspending": 13,
        "Unsuspending": 14, "Resetting": 15, "Completing": 16, "Complete": 17}


def test_states_and_modes_carry_their_tr88_numbers() -> None:
    assert {s.value: s.number for s in State} == {k: v for k, v in TR88.items() if k != "Undefined"}
    assert [(m.value, m.label) for m in UnitMode] == [(1, "Production"), (2, "Maintenance"), (3, "Manual")]
    assert UnitMode.parse("maintenance") is UnitMode.MAINTENANCE and UnitMode.parse("3") is UnitMode.MANUAL
    with pytest.raises(IllegalCommand, match="unknown unit mode 'turbo'"):
        UnitMode.parse("turbo")


@pytest.mark.parametrize("mode, missing", [
    (UnitMode.MAINTENANCE, {"Suspending", "Suspended", "Unsuspending", "Completing", "Complete"}),
    (UnitMode.MANUAL, {"Suspending", "Suspended", "Unsuspending", "Completing", "Complete", "Holding", "Held",
                       "Unholding"}),
])
def test_a_unit_mode_never_reaches_a_state_it_lacks(mode: UnitMode, missing: set[str]) -> None:
    assert {s.value for s in MODE_STATES[mode]} == ALL_STATES - missing
    rng = random.Random(int(mode))
    for _ in range(2000):
        machine = PackMLMachine(mode=mode)
        for _ in range(30):
            event = rng.choice(EVENTS)
            before = machine.state
            try:
                apply(machine, event)
            except IllegalCommand:
                assert machine.state is before
            assert machine.state.value not in missing
            assert all(TRANSITIONS[(machine.state, c)].value not in missing for c in machine.available_commands())


def test_the_unit_mode_changes_only_in_stopped_idle_or_aborted() -> None:
    heard: list[tuple[UnitMode, UnitMode]] = []
    machine = PackMLMachine()
    machine.on_mode_change(lambda old, new: heard.append((old, new)))
    for state in State:
        machine.state = state
        if state in (S.STOPPED, S.IDLE, S.ABORTED):
            assert machine.set_unit_mode("manual") is UnitMode.MANUAL
            machine.set_unit_mode(UnitMode.PRODUCTION)
        else:
            with pytest.raises(IllegalCommand, match=f"not in {state.value}"):
                machine.set_unit_mode("manual")
            assert machine.mode is UnitMode.PRODUCTION
    assert heard == [(UnitMode.PRODUCTION, UnitMode.MANUAL), (UnitMode.MANUAL, UnitMode.PRODUCTION)] * 3


def test_execute_never_completes_outside_production() -> None:
    machine = PackMLMachine(S.EXECUTE, UnitMode.MAINTENANCE)
    with pytest.raises(IllegalCommand, match="does not complete in unit mode Maintenance"):
        machine.state_complete()
    assert machine.state is S.EXECUTE
    assert machine.command("stop", "stop by alice") is S.STOPPING
