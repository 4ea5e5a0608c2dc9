"""The part sequence at work: one step at a time, each a goal to a bridge, each part one record.

`Production` follows the parts in the cell (`core/sequence.py`), sends the goal of the current
step through `send`, reads the bridges' answers and the devices' values, and writes every part
that leaves the cell to the journal. It knows nothing of PackML states: the supervisor tells it
whether it may send (`run(..., may_send=...)`) and it answers with a `Verdict` when the cell
should hold, suspend or abort, with the reason.

Time here is the supervisor's two active clocks (`Clocks`; they run only while the cell acts, so
time spent Held or Suspended never counts against a step): wall time for goals (acknowledgements,
retries), and the devices' own clock, cell time, for every bound declared in cell time (steps,
ready-waits, starvation). The twin's cell time runs faster than wall time, and at real time while
the controller reacts (its reaction windows), so only the devices' clock gives a bound its meaning.

Why no step is lost or sent twice: a step is done when its level-triggered `done` condition holds
on the devices, whoever made it so, and only then does the sequence move on; every attempt is a
new goal id, a bridge executes an id once, and a repeated or late message answers an old id that
no longer counts. A step interrupted by Hold, Stop or Abort is re-planned from what the devices
then hold (`settle_cancel`, `reconcile`), never replayed blindly.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from .config import ROLES, CellConfig
from .costs import priced
from .divergence import DivergenceStats
from .goals import FINAL, Goal, GoalState, GoalTracker
from .journal import PRODUCED, Journal, JournalError, OpenPart, Outcome, PartRecord, step_detail
from .packml import Command, StopCode, StopReason
from .verdict import judgements, names, verdict
from .sequence import (
    FEED, PRESS, READY_TIMEOUT_S, TRANSFER, WELD, PartInCell, Stage, Statuses, Step, idle, in_fixture, in_machine,
    machine_available, next_step, reachable, reconcile, value,
)

#: resend a goal nobody answered after this long (active clock, s wall) ...
ACK_TIMEOUT_S = 1.0
#: ... this many times, then hold: the bridge is not there
MAX_RESENDS = 3
#: a device that refused a step (Busy, NotReady) is asked again after this long (s wall) ...
RETRY_S = 0.5
#: ... until it refused this many times: then the cell holds with the device's reason
MAX_REJECTIONS = 3
#: a weld that reached this fraction of the seam before it was stopped is complete
SEAM_COMPLETE = 0.999
WELD_RESULT_KEYS = ("arc_energy_kJ", "weld_time_s", "mean_current_A", "mean_voltage_V", "mean_wire_feed_m_min",
                    "mean_travel_speed_mm_s", "bead_width_mm", "penetration_mm")


@dataclass(frozen=True)
class Clocks:
    """The supervisor's active clocks, s: wall time, and the devices' clock (cell time)."""

    wall_s: float
    cell_s: float


@dataclass(frozen=True)
class Verdict:
    """What the sequence asks of the cell: hold, suspend or abort, and why."""

    command: Command
    reason: StopReason


@dataclass
class ActiveStep:
    """The step in progress: since when it is current and since when its command is out (cell s),
    when a refused command may be sent again (wall s)."""

    part: PartInCell | None
    step: Step
    since_cell_s: float
    goal: Goal | None = None
    sent_cell_s: float | None = None
    rejections: int = 0
    retry_at_s: float = 0.0


class Production:
    """Parts in the cell, the current step, its goals, and the journal records of finished parts."""

    def __init__(self, config: CellConfig, journal: Journal, send: Callable[[Goal], None],
                 event: Callable[[str, str, str], None], log: logging.Logger | None = None):
        self.config, self.journal, self._send, self._event = config, journal, send, event
        self.log = log or logging.getLogger(__name__)
        self.goals = GoalTracker()
        self.parts: list[PartInCell] = []
        self.active: ActiveStep | None = None
        self.cancel: Goal | None = None  # the stop_program sent to end a weld early
        self.manual: Goal | None = None  # the last device command an operator sent in Maintenance or Manual
        self.shift_id: int | None = None
        self.target = 0
        self.counts: Counter[Outcome] = Counter()
        self.pending_records: list[PartRecord] = []
        self.last_part = ("", "")
        self.last_finish_stamp_s: float | None = None
        self.last_cycle_s: float | None = None  # the last produced part's cycle time, s of cell time
        self.starved_since_s: float | None = None
        self.blocked_since_s: float | None = None

    # -- the shift ---------------------------------------------------------------------------

    def begin_shift(self, shift_id: int, target: int, start_stamp_s: float | None) -> None:
        """A new shift from the devices' clock `start_stamp_s` (cell s; None: not known yet), where the first
        part's cycle begins as every later part's begins where the previous one left."""
        self.shift_id, self.target = shift_id, target
        self.counts.clear()
        self.last_part = ("", "")
        self.last_finish_stamp_s = start_stamp_s

    @property
    def produced(self) -> int:
        return sum(self.counts[outcome] for outcome in PRODUCED)

    @property
    def in_cell(self) -> list[PartInCell]:
        return [p for p in self.parts if p.stage is not Stage.LEFT]

    def may_start_part(self) -> bool:
        """The shift wants another part: produced plus those on their way are fewer than the target."""
        coming = sum(1 for p in self.in_cell if p.removal is None)
        return self.shift_id is not None and self.produced + coming < self.target

    @property
    def complete(self) -> bool:
        return self.shift_id is not None and self.produced >= self.target and not self.in_cell

    @property
    def busy(self) -> bool:
        """A goal is out whose effect the cell must wait for (a weld being stopped, a handling step)."""
        if self.cancel is not None:
            return True
        a = self.active
        return a is not None and a.goal is not None and a.goal.state not in FINAL and a.step.command != ""

    # -- goals -------------------------------------------------------------------------------

    def on_status(self, role: str, values: dict[str, str]) -> None:
        backend = values.get("backend")
        if backend:
            for part in self.in_cell:
                seen = part.backends.setdefault(role, [])
                if not seen or seen[-1] != backend:
                    seen.append(backend)
        for goal in self.goals.update(role, values):
            if goal.state is GoalState.REJECTED:
                self.log.warning("%s %s%s refused: %s", role, goal.verb, goal.args, goal.answer)

    def on_divergence(self, role: str, differences: dict[str, float]) -> None:
        """twin − real of `role`'s process values (shadow), counted for the part it works on: the machine's
        part for the machine, the fixture's for the others."""
        part = in_machine(self.parts) if role == "machine" else in_fixture(self.parts)
        if part is not None:
            part.divergence.setdefault(role, DivergenceStats()).add(differences)

    def send(self, device: str, verb: str, args: tuple[str, ...], now_s: float) -> Goal:
        goal = self.goals.new(device, verb, args, now_s)
        self._send(goal)
        return goal

    def _resend_or_fail(self, goal: Goal, now_s: float) -> Verdict | None:
        """Resend an unanswered goal under its own id; after MAX_RESENDS, the bridge is taken as gone."""
        if goal.state is not GoalState.SENT or now_s - goal.last_sent_s < ACK_TIMEOUT_S:
            return None
        if goal.resends >= MAX_RESENDS:
            goal.state = GoalState.FAILED
            return Verdict(Command.HOLD, StopReason(StopCode.DEVICE_OFFLINE,
                           f"{goal.device} bridge did not answer {goal.verb} (goal {goal.id}, "
                           f"{MAX_RESENDS + 1} sends over {now_s - goal.sent_s:.1f} s)"))
        goal.resends += 1
        goal.last_sent_s = now_s
        self._send(goal)
        return None

    # -- the sequence ------------------------------------------------------------------------

    def run(self, statuses: Statuses, now: Clocks, may_send: bool, may_start: bool) -> Verdict | None:
        """Advance the current step on the latest statuses; pick and send the next one when `may_send`."""
        if self.cancel is not None:
            return self._resend_or_fail(self.cancel, now.wall_s)
        if self.active is None:
            if not may_send:
                return None
            pick = next_step(self.parts, may_start and self.may_start_part())
            if pick is None:
                return None
            self.active = ActiveStep(pick[0], pick[1], now.cell_s)
        a = self.active
        if a.part is not None and a.step.done(a.part.part_id, statuses):
            return self._step_done(a, statuses)
        if a.goal is not None and a.goal.state is not GoalState.CANCELED:
            verdict = self._follow(a, now)
            if verdict is not None or a.goal is not None:
                return verdict
        if a.step.command == "":
            if now.cell_s - a.since_cell_s > a.step.timeout_s:
                return self._timeout(a, "did not end")
            return None
        if not may_send or now.wall_s < a.retry_at_s:
            return None
        if not a.step.ready(a.part.part_id if a.part else "", statuses):
            if a.step is FEED and a.part is None and self._take_other_step(statuses, now):
                return self.run(statuses, now, may_send, may_start)
            return self._not_ready(a, statuses, now.cell_s)
        self.starved_since_s = self.blocked_since_s = None
        if a.part is None:
            try:
                part_id = self.journal.allocate_part(self.shift_id)
            except JournalError as error:
                return Verdict(Command.HOLD, StopReason(StopCode.JOURNAL, f"no part id for the next part: {error}"))
            a.part = PartInCell(part_id, Stage.ENTERED, time.time(), _stamp(statuses, "feeder"), shift_id=self.shift_id)
            self.parts.append(a.part)
        a.goal = self.send(a.step.device, a.step.command, a.step.args(a.part.part_id), now.wall_s)
        if a.sent_cell_s is None:
            a.sent_cell_s = now.cell_s
            self._event("step", a.step.device, step_detail(a.step.name, a.part.part_id, "start"))
        return None

    def _take_other_step(self, statuses: Statuses, now: Clocks) -> bool:
        """While no new part can enter (no blank yet), let the part in the machine go on instead."""
        other = next_step(self.parts, may_start_part=False)
        if other is None or other[0] is None or not other[1].ready(other[0].part_id, statuses):
            return False
        self.active = ActiveStep(other[0], other[1], now.cell_s)
        return True

    def _follow(self, a: ActiveStep, now: Clocks) -> Verdict | None:
        goal = a.goal
        assert goal is not None
        if goal.state is GoalState.SENT:
            return self._resend_or_fail(goal, now.wall_s)
        if goal.state is GoalState.FAILED:
            return None  # the cell holds; Unholding re-plans
        if goal.state is GoalState.REJECTED:
            a.rejections += 1
            part = a.part.part_id if a.part else "the next part"
            if goal.retryable and a.rejections < MAX_REJECTIONS:
                self._event("info", goal.device, f"{a.step.name} {part}: {goal.answer}; asking again")
                a.goal, a.retry_at_s = None, now.wall_s + RETRY_S
                return None
            return Verdict(Command.HOLD, StopReason(StopCode.COMMAND_REFUSED,
                           f"{a.step.name} {part} refused by the {goal.device} {a.rejections} times: {goal.answer}"))
        if a.sent_cell_s is not None and now.cell_s - a.sent_cell_s > a.step.timeout_s:
            return self._timeout(a, "did not complete")
        return None

    def _timeout(self, a: ActiveStep, what: str) -> Verdict:
        part = a.part.part_id if a.part else ""
        return Verdict(Command.HOLD, StopReason(StopCode.STEP_TIMEOUT,
                       f"{a.step.name} {part} {what} within {a.step.timeout_s:.0f} s of cell time"))

    def _not_ready(self, a: ActiveStep, statuses: Statuses, now_s: float) -> Verdict | None:
        """`now_s`: the active cell clock, s."""
        """A step waiting for its device: starved and blocked suspend the cell, anything else holds it in time."""
        starved = a.step is FEED and a.part is None and idle(statuses, "feeder") \
            and not value(statuses, "feeder", "fixture_part") and int(value(statuses, "feeder", "buffer_count") or 0) == 0
        blocked = a.step in (TRANSFER, PRESS) and not machine_available(statuses)
        if starved:
            self.starved_since_s = self.starved_since_s if self.starved_since_s is not None else now_s
            if now_s - self.starved_since_s > self.config.supervisor.starved_after_s:
                return Verdict(Command.SUSPEND, StopReason(StopCode.STARVED,
                               f"no blank in the buffer for {self.config.supervisor.starved_after_s:.0f} s"))
            return None
        if blocked:
            self.blocked_since_s = self.blocked_since_s if self.blocked_since_s is not None else now_s
            if now_s - self.blocked_since_s > self.config.supervisor.blocked_after_s:
                mode = value(statuses, "machine", "mode") or "unknown"
                return Verdict(Command.SUSPEND, StopReason(StopCode.BLOCKED,
                               f"the machine does not take parts (mode {mode}) for "
                               f"{self.config.supervisor.blocked_after_s:.0f} s"))
            return None
        self.starved_since_s = self.blocked_since_s = None
        if now_s - a.since_cell_s > READY_TIMEOUT_S:
            part = a.part.part_id if a.part else "the next part"
            state = statuses.get(a.step.device)
            return Verdict(Command.HOLD, StopReason(StopCode.STEP_TIMEOUT,
                           f"{a.step.name} {part}: the {a.step.device} was not ready within {READY_TIMEOUT_S:.0f} s "
                           f"of cell time ({state.detail or state.state.value if state else 'no status'})"))
        return None

    def starved(self, statuses: Statuses) -> bool:
        """EquipmentStarved: the next part waits for a blank (the buffer is empty)."""
        a = self.active
        return a is not None and a.step is FEED and a.part is None and \
            int(value(statuses, "feeder", "buffer_count") or 0) == 0

    def blocked(self, statuses: Statuses) -> bool:
        """EquipmentBlocked: a part waits for the machine, which does not take parts."""
        a = self.active
        return a is not None and a.step in (TRANSFER, PRESS) and not machine_available(statuses)

    def _step_done(self, a: ActiveStep, statuses: Statuses) -> Verdict | None:
        part = a.part
        assert part is not None
        self.active = None
        if a.goal is not None:
            self.goals.forget(a.goal)
        if a.step is WELD:
            part.weld = dict(statuses["welder"].values) if "welder" in statuses else {}
        part.stage = a.step.to
        self._event("step", a.step.device, step_detail(a.step.name, part.part_id, "done"))
        if part.stage is Stage.LEFT:
            return self._leave(part, statuses)
        return None

    # -- stopping a weld ---------------------------------------------------------------------

    def stop_robot(self, statuses: Statuses, now_s: float) -> bool:
        """Stop the robot's program (arc off at once) if it runs or a weld goal is out; True when sent."""
        a = self.active
        weld_out = a is not None and a.step is WELD and a.goal is not None and a.goal.state not in FINAL
        if self.cancel is not None or not (weld_out or value(statuses, "robot", "execution") == "running"):
            return False
        if weld_out:
            assert a is not None and a.goal is not None
            a.goal.state = GoalState.CANCELED
        self.cancel = self.send("robot", "stop_program", (), now_s)
        return True

    def settle_cancel(self, statuses: Statuses) -> bool:
        """Once the stopped robot is at rest, decide what the stopped weld left; True when settled.

        By the robot's weld progress: nothing welded (0) -> the part is still to weld; the whole
        seam -> welded (its result once the welder has it); part-way, or a robot whose link is gone (the
        stop did not reach it, its progress cannot be read) -> the part is scrap.
        """
        cancel = self.cancel
        if cancel is None:
            return True
        if cancel.state is GoalState.SENT or value(statuses, "robot", "execution") == "running":
            return False
        a = self.active
        if a is not None and a.step is WELD and a.part is not None:
            if not self._weld_stopped(a.part, statuses):
                return False
            self.active = None
        self.goals.forget(cancel)
        self.cancel = None
        return True

    def _weld_stopped(self, part: PartInCell, statuses: Statuses) -> bool:
        """Decide what a stopped weld left of `part`; False while the welder's result is on its way."""
        if not reachable(statuses, "robot"):
            # the stop never reached a robot whose link is gone (its watchdog stops it): how far the seam
            # got cannot be read, so the part is not trusted; Unholding takes it out
            part.stage = Stage.INTERRUPTED
            part.remove(Outcome.SCRAPPED, "weld cut off: the link to the robot was lost mid-seam")
            self._event("info", "sequence", f"{part.part_id} interrupted: the link to the robot was lost mid-weld")
            return True
        progress = float(value(statuses, "robot", "progress") or 0.0) \
            if value(statuses, "robot", "part_id") == part.part_id else 0.0
        if progress >= SEAM_COMPLETE:
            if value(statuses, "welder", "last_part_id") != part.part_id:
                return False
            part.weld, part.stage = dict(statuses["welder"].values), Stage.WELDED
        elif progress > 0.0:
            part.stage = Stage.INTERRUPTED
            part.remove(Outcome.SCRAPPED, f"weld stopped at {progress:.0%} of the seam")
            self._event("info", "sequence", f"{part.part_id} interrupted: weld stopped at {progress:.0%}")
        return True

    def drop_active(self) -> None:
        """Forget the current step (its goal answered or not): re-planned from the devices later."""
        if self.active is not None and self.active.goal is not None:
            self.active.goal.state = GoalState.CANCELED
        self.active = None

    # -- taking parts out --------------------------------------------------------------------

    def remove_all(self, reason: str) -> None:
        """Every part in the cell is to be taken out and recorded `interrupted` (unless scrap already)."""
        for part in self.in_cell:
            part.remove(Outcome.INTERRUPTED, reason)

    def reconcile(self, statuses: Statuses) -> list[str]:
        """Align the followed parts with the devices (`sequence.reconcile`); record parts that are gone."""
        self.drop_active()
        followed = {id(p) for p in self.parts}
        changes = reconcile(self.parts, statuses, time.time())
        for part in self.parts:
            if id(part) not in followed and self.journal.has_record(part.part_id):
                part.recorded = True  # found on a device, recorded before (a restart's recovery)
        for part in [p for p in self.parts if p.stage is Stage.LEFT]:
            self._leave(part, statuses)
        for change in changes:
            self._event("info", "sequence", change)
        return changes

    def recover(self, open_parts: list[OpenPart], statuses: Statuses) -> None:
        """After a restart: every part id handed out without a record is recorded `interrupted`;
        those a device still holds are followed so that Resetting takes them out."""
        held = {value(statuses, "feeder", "fixture_part"), value(statuses, "machine", "part_id")} - {""}
        for open_part in open_parts:
            part = PartInCell(open_part.part_id, Stage.ENTERED, open_part.entered_at, shift_id=open_part.shift_id)
            where = "was in the cell" if open_part.part_id in held else "was not found in the cell"
            part.remove(Outcome.INTERRUPTED, f"{where} when the supervisor restarted")
            self.parts.append(part)
        reconcile(self.parts, statuses, time.time())
        for part in list(self.parts):
            part.remove(Outcome.INTERRUPTED, "in the cell when the supervisor restarted")
            if self.journal.has_record(part.part_id):
                part.recorded = True
            if part.stage is Stage.LEFT:
                self._leave(part, statuses)
            elif not part.recorded:
                self._record(part, Outcome.INTERRUPTED, statuses)

    def _leave(self, part: PartInCell, statuses: Statuses) -> Verdict | None:
        """The part is out of the cell: record it (scrap or interrupted, or produced by its weld)."""
        part.stage = Stage.LEFT
        if part.recorded:
            self.parts.remove(part)
            return None
        if part.removal is not None:
            return self._record(part, part.removal, statuses)
        judged = judgements(part.weld or {}, part.inspection, self.config.inspection, time.time())
        outcome, part.reason = verdict(judged)
        return self._record(part, outcome, statuses, judged)

    def inspected(self, part_id: str, inspection: dict[str, str]) -> bool:
        """The inspection node's prediction for `part_id`'s weld; False when no followed part has that id
        (recorded already, or unknown to the cell)."""
        for part in self.parts:
            if part.part_id == part_id and not part.recorded:
                part.inspection = inspection
                return True
        return False

    def _record(self, part: PartInCell, outcome: Outcome, statuses: Statuses, judged: tuple = ()) -> Verdict | None:
        produced = outcome in PRODUCED
        weld = part.weld or {}
        finish_stamp_s = _stamp(statuses, "feeder")
        record = PartRecord(
            part_id=part.part_id, shift_id=part.shift_id or self.shift_id or 0, started_at=part.started_at,
            finished_at=time.time(), outcome=outcome, reason=part.reason,
            cycle_time_s=finish_stamp_s - (self.last_finish_stamp_s or part.started_stamp_s) if produced else None,
            **{k: _number(weld.get(k)) for k in WELD_RESULT_KEYS},
            # the deciding judge's (the welder's own result, else the inspection's): `verdict`
            imperfections=judged[0].imperfections if judged else names(weld.get("imperfections", "")),
            iso5817_level=judged[0].level if judged else weld.get("iso5817_level", ""),
            weld_policy=self.config.policies.weld, feed_policy=self.config.policies.feed,
            backends={role: ">".join(part.backends.get(role) or [value(statuses, role, "backend") or
                                                                    self.config.device(role).backend.value])
                      for role in ROLES},
            divergence={role: stats.summary() for role, stats in part.divergence.items()},
            config_hash=self.config.config_hash, judgements=judged,
        )
        record = priced(record, self.config)
        part.recorded = True
        if part in self.parts and part.stage is Stage.LEFT:
            self.parts.remove(part)
        if produced:
            self.last_finish_stamp_s, self.last_cycle_s = finish_stamp_s, record.cycle_time_s
        return self._commit(record)

    def _commit(self, record: PartRecord) -> Verdict | None:
        try:
            self.journal.record_part(record)
        except JournalError as error:
            self.pending_records.append(record)
            return Verdict(Command.HOLD, StopReason(StopCode.JOURNAL, f"{record.part_id} not recorded: {error}"))
        self._counted(record)
        return None

    def _counted(self, record: PartRecord) -> None:
        if record.shift_id == self.shift_id:
            self.counts[record.outcome] += 1
        self.last_part = (record.part_id, record.iso5817_level or record.outcome.value)
        self.log.info("part %s %s %s", record.part_id, record.outcome.value, record.reason or record.iso5817_level)

    def write_pending(self) -> None:
        """Write the records the journal refused, oldest first; JournalError when it still cannot."""
        while self.pending_records:
            record = self.pending_records[0]
            if not self.journal.has_record(record.part_id):
                self.journal.record_part(record)
            self.pending_records.pop(0)
            self._counted(record)


def _stamp(statuses: Statuses, role: str) -> float:
    return float(value(statuses, role, "stamp_s") or 0.0)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
