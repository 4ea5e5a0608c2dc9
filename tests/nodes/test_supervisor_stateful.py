"""Hypothesis drives the running supervisor (not its transition table) through random operator commands,
unit-mode changes and device faults against simulated devices on an in-memory bus, and checks after
every step: only legal PackML transitions, every acting state ends within its bound, no Execute
without Reset, the counters on `state` equal the journal's; and at the end of every sequence, once
the cell is cleaned out, every part that entered the cell is exactly one journal record.

The default run tries `DEFAULT_EXAMPLES` sequences; `-m slow` runs `SLOW_EXAMPLES` (10,000).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cell_controller.bus.memory import MemoryBus
from cell_controller.core.journal import Outcome
from cell_controller.core.packml import MODE_STATES, STATE_COMPLETE, TRANSITIONS, Command, State, UnitMode
from cell_controller.nodes import supervisor as supervisor_module
from cell_controller.nodes import topics

from harness import Harness, sim_config

DEFAULT_EXAMPLES = 200
SLOW_EXAMPLES = 10_000
STEPS = 12
#: the longest each acting state may last, s of cell time (Execute runs production and is not bounded)
BOUNDS_S = {
    State.RESETTING: supervisor_module.DEVICES_READY_TIMEOUT_S + 400.0,  # devices, rest, then the clean-out
    State.STARTING: 1.0, State.COMPLETING: 1.0, State.UNSUSPENDING: 1.0, State.ABORTING: 1.0,
    State.UNHOLDING: supervisor_module.DEVICES_READY_TIMEOUT_S + 1.0,  # a fresh status from every device
    State.HOLDING: supervisor_module.SETTLE_TIMEOUT_S + 5.0, State.STOPPING: supervisor_module.SETTLE_TIMEOUT_S + 5.0,
    State.CLEARING: supervisor_module.DEVICES_READY_TIMEOUT_S + 5.0,
    State.SUSPENDING: 400.0,  # the step under way finishes (a slow weld), or its timeout holds the cell
}
FAULTS = ("offline", "stale", "fault", "reject", "slow", "kill", "safety")
_FOLDER = Path(tempfile.mkdtemp(prefix="stateful-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))


class RunningSupervisor(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(dir=_FOLDER))
        self.cell = Harness(sim_config(self.folder), parts=3, auto_start=False, bus=MemoryBus(wire=False))
        self.transitions: list[tuple[State, State, str, UnitMode, float]] = []
        self.cell.sup.packml.on_transition(lambda old, new, cause: self.transitions.append(
            (old, new, cause, self.cell.sup.packml.mode, self.cell.bus.time_s)))
        self.entered_at = self.cell.bus.time_s
        self.reset_since_stop = False
        self.cell.bus.advance(1.0)

    # -- what happens to the cell ------------------------------------------------------------

    @rule(command=st.sampled_from([c.value for c in Command]), wait_s=st.floats(0.0, 40.0))
    def operator(self, command: str, wait_s: float) -> None:
        self.cell.command(command)
        self.cell.bus.advance(wait_s)

    @rule(mode=st.sampled_from(["production", "maintenance", "manual", "bogus"]))
    def unit_mode(self, mode: str) -> None:
        self.cell.command(f"mode {mode}")

    @rule(role=st.sampled_from(topics.ROLES), fault=st.sampled_from(FAULTS), wait_s=st.floats(0.0, 20.0))
    def fault(self, role: str, fault: str, wait_s: float) -> None:
        faults = self.cell.world.cell.faults[role]
        if fault == "kill":
            self.cell.world.kill_bridge(role)
        elif fault == "reject":
            faults.reject = 5
        elif fault == "slow":
            faults.slow = 5.0
        elif fault == "safety":
            faults.safety = "emergency_stop"
        else:
            setattr(faults, fault, True)
        self.cell.world.publish_all()
        self.cell.bus.advance(wait_s)

    @rule(wait_s=st.floats(0.0, 20.0))
    def repair(self, wait_s: float) -> None:
        self._repair()
        self.cell.bus.advance(wait_s)

    @rule(wait_s=st.floats(1.0, 120.0))
    def wait(self, wait_s: float) -> None:
        self.cell.bus.advance(wait_s)

    def _repair(self) -> None:
        for role, faults in self.cell.world.cell.faults.items():
            faults.__init__()
            if not self.cell.world.bridges[role].node.alive:
                self.cell.world.restart_bridge(role, self.cell.config.namespace)
        self.cell.world.publish_all()

    # -- what must hold after every step -----------------------------------------------------

    @invariant()
    def only_legal_transitions_and_no_execute_without_reset(self) -> None:
        for old, new, cause, mode, at_s in self.transitions:
            if cause == "SC":
                assert STATE_COMPLETE[old] is new
            else:
                command = Command(cause.split()[0])
                assert TRANSITIONS[(old, command)] is new, (old, cause, new)
            assert new in MODE_STATES[mode], (new, mode)
            if new is State.RESETTING:
                self.reset_since_stop = True
            if new is State.EXECUTE and old is State.STARTING:
                assert self.reset_since_stop, "Execute without Reset"
            if new in (State.STOPPED, State.ABORTED, State.COMPLETE):
                self.reset_since_stop = False
            if old in BOUNDS_S:
                assert at_s - self.entered_at <= BOUNDS_S[old] + 0.5, f"{old.value} lasted {at_s - self.entered_at:.1f} s"
            self.entered_at = at_s
        self.transitions.clear()
        state = self.cell.packml
        if state in BOUNDS_S:
            assert self.cell.bus.time_s - self.entered_at <= BOUNDS_S[state] + 0.5, \
                f"{state.value} for {self.cell.bus.time_s - self.entered_at:.1f} s"

    @invariant()
    def the_state_counts_what_the_journal_holds(self) -> None:
        self.cell.bus.advance(0.05)
        self.cell.check_journal_matches_state()

    def teardown(self) -> None:
        """Clean the cell out (repair, abort, clear, production mode, reset): every part is one record."""
        try:
            cell = self.cell
            self._repair()
            for text in ("abort", "clear", "mode production", "reset"):
                cell.command(text)
                cell.bus.run_until(lambda: cell.packml in (State.ABORTED, State.STOPPED, State.IDLE), 400, 0.2)
            assert cell.run_until(lambda: cell.packml is State.IDLE, 600), (cell.packml, cell.sup.stop_reason)
            records = cell.records()
            assert cell.journal.open_parts() == [], "a part id handed out without a record"
            entered = set(cell.world.cell.left) | {p for p in cell.world.cell.welded}
            assert entered <= set(records), f"parts that entered without a record: {entered - set(records)}"
            assert len(cell.world.cell.left) == len(set(cell.world.cell.left)), "a part left the cell twice"
            assert not cell.world.cell.fixture_part and not cell.world.cell.machine_part
            assert all(o in Outcome for o in records.values())
            cell.check_journal_matches_state()
        finally:
            self.cell.journal.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def _run(examples: int) -> None:
    test = RunningSupervisor.TestCase
    test.settings = settings(max_examples=examples, stateful_step_count=STEPS, deadline=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
    test("runTest").runTest()


@pytest.fixture(autouse=True)
def _coarser_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor reacts to every status as it arrives; its watchdog timer (liveliness, bounds) at
    0.1 s instead of 0.02 s keeps 10,000 sequences of simulated cell life in minutes."""
    monkeypatch.setattr(supervisor_module, "WATCHDOG_PERIOD_S", 0.1)


def test_random_commands_modes_and_faults_against_the_running_supervisor() -> None:
    _run(DEFAULT_EXAMPLES)


@pytest.mark.slow
def test_ten_thousand_random_sequences_against_the_running_supervisor() -> None:
    _run(SLOW_EXAMPLES)
