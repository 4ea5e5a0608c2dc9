"""The supervisor node: PackML states and unit modes, the watchdog, operator commands, the cell's state.

It commands devices only through their bridges' command topics (goals, `core/goals.py`) and
reads their latched status topics; the part sequence and the journal records are
`core/production.py`'s. It reacts to every status and command as it arrives; a timer every
`WATCHDOG_PERIOD_S` only watches liveliness, ages and bounds.

What each state does (the README's table says the same):
  Stopped      nothing moves. auto_start resets at start-up unless the last shift was interrupted.
  Resetting    waits for every device (bounded), stops the robot if it runs, takes every part out of
               the cell (each recorded `interrupted` unless scrap), then Idle.
  Idle         waiting for Start (auto_start starts the first shift).
  Starting     opens the shift in the journal.
  Execute      runs the part sequence (Production) or takes single device commands (Maintenance, Manual).
  Completing   closes the shift `complete` once the target is produced and the cell is empty.
  Holding      arc off and robot stopped at once (the part under the torch becomes scrap unless its
               seam was finished or not begun); the handling step under way ends; then Held.
  Held         nothing is sent; time does not count against any step. Unhold is refused, with the
               reason, while a device is unusable or the journal cannot write.
  Unholding    re-plans from what the devices hold; the scrap part is unclamped and rejected.
  Suspending   the step under way (a weld included) finishes, nothing new starts; then Suspended.
  Suspended    waits; a suspension the cell made itself (starved, blocked) ends when its cause clears.
  Stopping     arc off, the handling step ends (bounded), the shift closes `stopped`.
  Aborting     arc off and robot stop at once, the shift closes `aborted`.
  Clearing     waits (bounded) until every device is online, unfaulted and its safety chain closed.
"""
from __future__ import annotations

import time
from typing import Any

from cell_controller.bridges import MAPPINGS
from cell_controller.bridges.base import process_signals
from cell_controller.bus.api import Node
from cell_controller.core.alarms import event_detail
from cell_controller.core.backends import BridgeManager, Swap
from cell_controller.core.config import CellConfig
from cell_controller.core.goals import Goal
from cell_controller.core.journal import Journal, JournalError, Outcome, state_detail
from cell_controller.core.lifecycle import LifecycleState
from cell_controller.core.operator import (
    DEVICE_VERB, MODE_VERB, SWAP_VERB, CommandError, OperatorCommand, parse, shorten,
)
from cell_controller.core.packml import (
    NO_STOP_REASON, STATE_COMPLETE, Command, IllegalCommand, PackMLMachine, State, StopCode, StopReason, UnitMode,
)
from cell_controller.core.production import Clocks, Production, Verdict
from cell_controller.core.ratelimit import RateLimit
from cell_controller.core.types import SAFETY_OK, Backend, DeviceState, DeviceStatus
from cell_controller.opcua.address_space import spec_for

from . import topics
from .codec import ERROR, OK, WARN, Codec
from .runtime import spin_until_signal, start_node

#: a bridge whose status is older than this (wall s) is not publishing (bridges publish at >= 2 Hz)
STATUS_STALE_S = 1.0
#: liveliness, ages and bounds are checked this often, s (wall)
WATCHDOG_PERIOD_S = 0.02
#: the supervisor's life-sign on `heartbeat`, s (wall)
HEARTBEAT_PERIOD_S = 0.1
#: how long Resetting and Clearing wait for every device to be usable, s (wall: bridges connect in wall time)
DEVICES_READY_TIMEOUT_S = 30.0
#: how long Holding and Stopping may wait for the weld stop and the handling step, s of cell time (and of
#: wall time, for devices whose clock stopped with them)
SETTLE_TIMEOUT_S = 60.0
#: how long every device must have been usable before Unhold is taken, when one was not while the cell was
#: held, s (wall): a link that just came back resubscribes and may flap; unholding into that would hold
#: (or stop) the cell again at once
DEVICES_STEADY_S = 2.0
#: the cell state is published on change and at least this often, s (wall)
STATE_REFRESH_S = 1.0
#: operator commands journaled per second at most; beyond, they are counted in one event
COMMAND_EVENTS_PER_S = 5
#: alarm changes journaled a second at most (`alarm/events`; ISA-18.2's flood is 10 in 10 minutes)
ALARM_EVENTS_PER_S = 10
#: how long `stop()` (SIGINT) waits for Stopping to end, s (wall)
SIGNAL_STOP_S = 2.0

#: states in which a device that becomes unusable holds the cell
PRODUCING = frozenset({State.STARTING, State.EXECUTE, State.SUSPENDING, State.SUSPENDED, State.UNSUSPENDING,
                       State.UNHOLDING, State.COMPLETING})
#: states in which a device may move to another backend: nothing is under way that it could break
SWAP_STATES = frozenset({State.STOPPED, State.IDLE, State.HELD, State.SUSPENDED, State.ABORTED})
#: commands refused while a swap is under way: each would set the cell going on a device that is moving
LEAVES_SWAP_STATE = frozenset({Command.RESET.value, Command.START.value, Command.UNHOLD.value,
                               Command.UNSUSPEND.value, Command.CLEAR.value})
#: states whose time counts against step bounds (the wait states do not)
ACTIVE = frozenset(STATE_COMPLETE)


class Supervisor:
    """Runs shifts of `parts` parts; the first starts by itself when `auto_start`.

    After a shift it stays in Complete (or Stopped, Aborted) until an operator command. A supervisor
    that finds a shift its predecessor left running starts in Aborted and waits for Clear and Reset.
    """

    def __init__(self, node: Node, config: CellConfig, journal: Journal, parts: int, auto_start: bool):
        self.node, self.config, self.journal = node, config, journal
        self.parts_target, self.auto_start = parts, auto_start
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.production = Production(config, journal, self._send_goal, self._event, self.log)
        self.bridges = BridgeManager(self._send_goal)
        self.last_swap: dict[str, str] = {}  # how the last swap ended, on `state`
        self.recovering = bool(journal.interrupted_shifts) or bool(journal.open_parts())
        self.packml = PackMLMachine(State.ABORTED if journal.interrupted_shifts else State.STOPPED)
        self.stop_reason = NO_STOP_REASON
        if journal.interrupted_shifts:
            self.stop_reason = StopReason(StopCode.RESTARTED, f"restarted: shift {journal.interrupted_shifts[-1]} "
                                          "was interrupted; clear and reset to take its parts out")
            self.auto_start = False
        self.packml.on_transition(self._on_transition)
        self.packml.on_mode_change(lambda old, new: self._event("state", "packml", f"unit mode {old.label} -> {new.label}"))
        self.suspended_by: StopCode | None = None
        self.started_once = False
        self.shift_open = False
        self._reset_planned = False
        self._rest_since: float | None = None
        self._usable_since: float | None = None  # since when every device has been usable, s (monotonic)
        self._lost_since_hold = False  # a device was unusable since the cell last began Holding
        self.statuses: dict[str, DeviceStatus] = {}
        self.status_seen_at: dict[str, float] = {}
        self.last_command: dict[str, str] = {}
        self._command_events = RateLimit(COMMAND_EVENTS_PER_S)
        self._alarm_events = RateLimit(ALARM_EVENTS_PER_S)
        self.alarm_events_ignored = 0  # `alarm/events` messages that are no alarm's change, or beyond the rate
        self._commands_not_journaled = 0
        now = node.monotonic_s()
        self.started_at_s = now
        self._wall_s, self.state_entered_wall_s = now, now
        self._cell_seen_s: float | None = None  # the devices' clock at the last reading, cell s
        self.active = Clocks(0.0, 0.0)  # wall and cell time spent in acting states, s
        self.state_entered = self.active
        self.state_times: dict[State, float] = {}
        self._published: dict[str, str] = {}
        self._published_at = -1e9
        self._heartbeat = 0
        self.commands = {r: node.create_publisher(t.type, t.name, t.qos)
                         for r in topics.ROLES for t in [topics.device_command(r)]}
        self.state_pub = node.create_publisher(topics.CELL_STATE.type, topics.CELL_STATE.name, topics.CELL_STATE.qos)
        self.heartbeat_pub = node.create_publisher(topics.HEARTBEAT.type, topics.HEARTBEAT.name, topics.HEARTBEAT.qos)
        self._uint32 = node.message(topics.HEARTBEAT.type)
        self.status_subs = {}
        for role in topics.ROLES:
            t = topics.device_status(role)
            self.status_subs[role] = node.create_subscription(
                t.type, t.name, lambda msg, role=role: self._on_status(role, msg), t.qos)
        for role in topics.ROLES:
            t = topics.divergence(role, process_signals(spec_for(config.device(role).kind.value)))
            node.create_subscription(t.type, t.name, lambda msg, role=role, t=t: self._on_divergence(role, t, msg),
                                     t.qos)
        c = topics.CELL_COMMAND
        node.create_subscription(c.type, c.name, lambda msg: self.operator_command(msg.data), c.qos)
        #: the nodes of `topics.READY_TOPICS` that have reported (their policies or model loaded): an automatic
        #: start waits for all of them
        self.nodes_up: set[str] = set()
        for ready in topics.READY_TOPICS:
            topics.subscribe(node, ready, lambda msg, name=ready.publisher: self.nodes_up.add(name))
        self.inspections_ignored = 0  # `weld/inspection` messages for no part the cell follows
        topics.subscribe(node, topics.WELD_INSPECTION, self._on_inspection)
        topics.subscribe(node, topics.ALARM_EVENTS, self._on_alarm_event)
        node.create_timer(WATCHDOG_PERIOD_S, self.evaluate)
        node.create_timer(HEARTBEAT_PERIOD_S, self._beat)
        self.evaluate()

    # -- inputs ---------------------------------------------------------------------------

    def _on_status(self, role: str, msg: Any) -> None:
        status = self.codec.read_device_status(msg)
        self.statuses[role] = status
        self.status_seen_at[role] = self.node.monotonic_s()
        self.production.on_status(role, status.values)
        self.bridges.on_status(role, status)
        self.evaluate()

    def _on_divergence(self, role: str, topic: topics.Topic, msg: Any) -> None:
        differences = Codec.read_array(topic, msg)
        if differences is not None:
            self.production.on_divergence(role, differences)

    def _on_inspection(self, msg: Any) -> None:
        """A weld's prediction from the inspection node: kept with its part until the part's record."""
        values = self.codec.values(msg)
        part_id = values.get("part_id", "")
        if not self.production.inspected(part_id, values):
            self.inspections_ignored += 1
            if self.inspections_ignored in (1, 10, 100) or self.inspections_ignored % 1000 == 0:  # no log flood
                self.log.warning("%d inspections ignored (the last for %.40r): no part in the cell has that id",
                                 self.inspections_ignored, part_id)

    def _on_alarm_event(self, msg: Any) -> None:
        """An alarm raised, acknowledged or cleared (the HMI's): journaled, as the journal's one writer."""
        event = event_detail(self.codec.values(msg))
        if event is None or not self._alarm_events.allow(self.node.monotonic_s()):
            self.alarm_events_ignored += 1
            if self.alarm_events_ignored in (1, 10, 100) or self.alarm_events_ignored % 1000 == 0:  # no log flood
                self.log.warning("%d alarm events not journaled (not an alarm's change, or more than %d a second)",
                                 self.alarm_events_ignored, ALARM_EVENTS_PER_S)
            return
        self._event("alarm", *event)

    def operator_command(self, text: str) -> None:
        """One command from `command` or the northbound server: executed or refused, answered on `state`."""
        try:
            command = parse(text)
        except CommandError as error:
            self._answer(OperatorCommand("?"), shorten(text), str(error))
            return
        reason = self._refusal(command)
        if reason is None:
            try:
                self._execute(command)
            except IllegalCommand as error:
                reason = str(error)
        self._answer(command, command.text, reason)
        self.evaluate()

    def _refusal(self, command: OperatorCommand) -> str | None:
        """Why the cell refuses `command` beyond what PackML forbids (None: no reason)."""
        if command.verb == Command.UNHOLD.value and self.packml.state is State.HELD:
            problems = self._unusable() + self._safety()
            if problems:
                return f"cannot unhold: {problems[0][1]}"
            steady_s = self.node.monotonic_s() - self._usable_since if self._usable_since is not None else 0.0
            if self._lost_since_hold and steady_s < DEVICES_STEADY_S:
                return f"cannot unhold: the devices are back for {steady_s:.1f} s only (steady for " \
                       f"{DEVICES_STEADY_S:.0f} s first)"
            try:
                self.production.write_pending()
                self.journal.flush_events()
            except JournalError as error:
                return f"cannot unhold: the journal still cannot write: {error}"
        if self.bridges.swaps and command.verb in LEAVES_SWAP_STATE | {SWAP_VERB}:
            moving = ", ".join(f"{r} to {s.backend}" for r, s in self.bridges.swaps.items())
            return f"a swap is under way ({moving}): {command.verb} waits for it"
        if command.verb == SWAP_VERB:
            return self._swap_refusal(*command.args)
        if command.verb == DEVICE_VERB:
            role, verb = command.args[0], command.args[1]
            if self.packml.mode is UnitMode.PRODUCTION or self.packml.state is not State.EXECUTE:
                return "device commands are taken in Execute of unit mode Maintenance or Manual only"
            if role not in MAPPINGS:
                return f"unknown device role {role!r} (known: {', '.join(MAPPINGS)})"
            if verb not in MAPPINGS[role].commands:
                return f"the {role} has no command {verb!r} (known: {', '.join(MAPPINGS[role].commands)})"
        return None

    def _swap_refusal(self, device: str, backend: str) -> str | None:
        """Why `swap device backend` is refused now (None: it is taken)."""
        if self.packml.state not in SWAP_STATES:
            allowed = ", ".join(s.value for s in State if s in SWAP_STATES)
            return f"swap is taken in {allowed}, not in {self.packml.state.value}"
        role = self._role(device)
        if role is None:
            known = ", ".join(sorted({*self.config.devices, *topics.ROLES}))
            return f"unknown device {shorten(device, 40)!r} (known: {known})"
        try:
            new = Backend(backend)
        except ValueError:
            return f"unknown backend {shorten(backend, 20)!r} (known: {', '.join(b.value for b in Backend)})"
        config = self.config.device(role)
        if new.uses_real and config.real is None:
            return f"devices.{config.name} has no real section: it cannot be {new.value}"
        if new.uses_real and self.config.time_scale != 1.0:
            return f"{new.value} needs real time: the cell runs at time scale {self.config.time_scale:g} " \
                   "(twin.time_scale: 1 in the description)"
        status = self.statuses.get(role)
        if status is None or self.status_subs[role].alive_publisher_count() == 0:
            return f"the {role} bridge is not reporting"
        return None

    def _role(self, device: str) -> str | None:
        if device in topics.ROLES:
            return device
        config = self.config.devices.get(device)
        return config.kind.role if config is not None else None

    def _swap_ended(self, swap: Swap) -> None:
        """A swap's end, on `state` (swap_id, swap, swap_result) and in the journal."""
        command = swap.command or OperatorCommand(SWAP_VERB, (swap.role, swap.backend))
        result = self.statuses[swap.role].values.get("swap_result", "") if swap.role in self.statuses else ""
        if swap.accepted:
            self._event("command", command.user or "operator", f"{command.text}: done ({result})")
        else:
            self.log.warning("swap %s %s refused: %s", swap.role, swap.backend, swap.answer)
            self._event("command", command.user or "operator", f"{command.text}: refused ({swap.answer})")
        self.last_swap = {"swap_id": command.id, "swap": command.text,
                          "swap_result": f"done: {result or swap.answer}" if swap.accepted else f"refused: {swap.answer}"}
        self._publish_state(force=True)

    def _execute(self, command: OperatorCommand) -> None:
        who = command.user or "operator"
        if command.verb == SWAP_VERB:
            role = self._role(command.args[0])
            assert role is not None
            self.bridges.request_swap(role, command.args[1], self.node.monotonic_s(), command)
        elif command.verb == MODE_VERB:
            self.packml.set_unit_mode(command.args[0])
        elif command.verb == DEVICE_VERB:
            role, verb, *args = command.args
            self.production.manual = self.production.send(role, verb, tuple(args), self.active.wall_s)
        else:
            self._command(Command(command.verb), f"by {who}", StopReason(StopCode.OPERATOR, f"{command.verb} by {who}"))

    def _answer(self, command: OperatorCommand, text: str, reason: str | None) -> None:
        result = "accepted" if reason is None else "refused"
        self.last_command = {"command_id": command.id, "command": text, "command_result": result,
                             "command_reason": reason or ""}
        if reason is not None:
            self.log.warning("command %r refused: %s", text, reason)
        if self._command_events.allow(self.node.monotonic_s()):
            if self._commands_not_journaled:
                self._event("command", "operator", f"{self._commands_not_journaled} commands not journaled (flood)")
                self._commands_not_journaled = 0
            if reason is not None or command.verb != SWAP_VERB:  # a swap taken is journaled once, when it ends
                self._event("command", command.user or "operator", f"{text}: {result}" + (f" ({reason})" if reason else ""))
        else:
            self._commands_not_journaled += 1
        self._publish_state(force=True)

    # -- the PackML loop ------------------------------------------------------------------

    def _tick_clock(self) -> None:
        """Advance the active clocks: wall time, and the devices' clock (the newest stamp of the latest
        statuses, cell time; a clock that goes back, a twin restarted, starts again from there)."""
        now = self.node.monotonic_s()
        elapsed, self._wall_s = now - self._wall_s, now
        stamps = [float(s.values.get("stamp_s") or 0.0) for s in self.statuses.values()]
        cell = max(stamps, default=0.0) or None
        cell_elapsed = cell - self._cell_seen_s if cell is not None and self._cell_seen_s is not None \
            and cell > self._cell_seen_s else 0.0
        if cell is not None:
            self._cell_seen_s = cell
        state = self.packml.state
        self.state_times[state] = self.state_times.get(state, 0.0) + elapsed
        if state in ACTIVE:
            self.active = Clocks(self.active.wall_s + elapsed, self.active.cell_s + cell_elapsed)

    @property
    def in_state_s(self) -> float:
        """Wall time in the current state, s."""
        return self._wall_s - self.state_entered_wall_s

    def evaluate(self) -> None:
        """React to the latest statuses: watchdog, then the current state's work (SC chains run at once)."""
        self._tick_clock()
        self._watch()
        for swap in self.bridges.manage(self.statuses, self.node.monotonic_s()):
            self._swap_ended(swap)
        for _ in range(len(State)):
            state = self.packml.state
            getattr(self, f"_in_{state.name.lower()}")()
            if self.packml.state is state:
                break
        self._flush_journal()
        self._publish_state()

    def _watch(self) -> None:
        state = self.packml.state
        safety, problems = self._safety(), self._unusable()
        if problems:
            self._usable_since = None
            self._lost_since_hold = True
        elif self._usable_since is None:
            self._usable_since = self.node.monotonic_s()
        if safety and state not in (State.ABORTING, State.ABORTED, State.CLEARING):
            self._fault(Command.ABORT, *safety[0])
        elif state in PRODUCING and problems:
            self._fault(Command.HOLD, *problems[0])

    def _unusable(self) -> list[tuple[StopCode, str]]:
        """Why devices cannot be used now: lost bridge, silent or stale status, offline, faulted, watchdog tripped."""
        now = self.node.monotonic_s()
        problems = []
        for role in topics.ROLES:
            status = self.statuses.get(role)
            if status is None:
                problems.append((StopCode.DEVICE_OFFLINE, f"{role}: no status from its bridge yet"))
            elif self.status_subs[role].alive_publisher_count() == 0:
                problems.append((StopCode.DEVICE_OFFLINE, f"{role}: its bridge is gone (no liveliness "
                                 f"within {topics.LIVELINESS_LEASE_S} s)"))
            elif now - self.status_seen_at[role] > STATUS_STALE_S:
                problems.append((StopCode.DEVICE_OFFLINE, f"{role}: no status for {now - self.status_seen_at[role]:.1f} s"))
            elif status.state in (DeviceState.OFFLINE, DeviceState.STALE):
                problems.append((StopCode.DEVICE_OFFLINE, f"{role} {status.state.value}: {status.detail}"))
            elif status.values.get("lifecycle") != LifecycleState.ACTIVE.value and role not in self.bridges.swaps:
                problems.append((StopCode.DEVICE_OFFLINE, f"{role}: its bridge is "
                                 f"{status.values.get('lifecycle') or 'in no lifecycle state'}, not active"))
            elif status.state is DeviceState.FAULT:
                problems.append((StopCode.DEVICE_FAULT, f"{role} fault: {status.detail}"))
            elif status.values.get("watchdog") == "tripped":
                problems.append((StopCode.DEVICE_FAULT, f"{role}: its watchdog tripped (the supervisor's "
                                 "heartbeat does not reach it): it stopped itself"))
        return problems

    def _safety(self) -> list[tuple[StopCode, str]]:
        """Open safety chains the devices report (emergency stop, protective stop, door open)."""
        return [(StopCode.SAFETY, f"{role} safety chain: {status.values['safety']}")
                for role, status in self.statuses.items()
                if status.values.get("safety", SAFETY_OK) != SAFETY_OK and status.state is not DeviceState.OFFLINE]

    def _fault(self, command: Command, code: StopCode, text: str) -> None:
        """React to a fault: `command` (Hold, Suspend, Abort), or Stop where the unit mode has no Hold."""
        available = self.packml.available_commands()
        if command not in available:
            command = Command.STOP if command is Command.HOLD and Command.STOP in available else command
        if command not in available:
            return
        self.log.error("%s: %s -> %s", code.name.lower(), text, command.value)
        self._event("fault", code.name.lower(), f"{text} -> {command.value}")
        self._command(command, code.name.lower(), StopReason(code, text))

    def _command(self, command: Command, source: str, reason: StopReason | None = None) -> None:
        """Apply a PackML command from `source` (IllegalCommand when PackML refuses it); the transition's
        cause reads "<command> (<source>)"; `reason` becomes the stop reason."""
        self.packml.command(command, f"{command.value} ({source})")
        if reason is not None and command in (Command.HOLD, Command.SUSPEND, Command.STOP, Command.ABORT):
            self.stop_reason = reason
        if command is Command.SUSPEND:
            automatic = reason is not None and reason.code in (StopCode.STARVED, StopCode.BLOCKED)
            self.suspended_by = reason.code if automatic and reason is not None else None

    def _apply(self, verdict: Verdict | None) -> None:
        if verdict is not None:
            self._fault(verdict.command, verdict.reason.code, verdict.reason.text)

    def _run(self, may_send: bool, may_start: bool = False) -> Verdict | None:
        return self.production.run(self.statuses, self.active, may_send, may_start)

    # -- what each state does --------------------------------------------------------------

    def _in_stopped(self) -> None:
        self._recover()
        if self.auto_start and not self.started_once and not self.bridges.swaps:
            self._command(Command.RESET, "auto_start")

    def _in_resetting(self) -> None:
        problems = self._unusable() + self._safety()
        if not problems and not self._at_rest():
            self.production.stop_robot(self.statuses, self.active.wall_s)
            problems = [(StopCode.STEP_TIMEOUT, "the devices did not come to rest (a handling step or a program runs)")]
        if problems:
            if self.in_state_s > DEVICES_READY_TIMEOUT_S:
                self._fault(Command.ABORT, problems[0][0], f"reset: {problems[0][1]} after "
                            f"{DEVICES_READY_TIMEOUT_S:.0f} s")
            return
        if not self._view_settled():
            return
        self._recover()
        p = self.production
        if not self._reset_planned:  # the first pass with every device usable and at rest: plan the clean-out
            self._reset_planned = True
            p.reconcile(self.statuses)
            p.remove_all("in the cell at Reset")
        try:
            p.write_pending()
        except JournalError as error:
            self._fault(Command.ABORT, StopCode.JOURNAL, f"reset: the journal cannot write: {error}")
            return
        verdict = self._run(may_send=True)
        if verdict is not None:
            self._fault(Command.ABORT, verdict.reason.code, f"reset could not take the parts out: {verdict.reason.text}")
        elif not p.in_cell and not p.busy:
            self.packml.state_complete()

    def _at_rest(self) -> bool:
        """No handling step runs and the robot's program does not (what the devices hold is final)."""
        feeder, robot = self.statuses.get("feeder"), self.statuses.get("robot")
        return feeder is not None and robot is not None and feeder.state is not DeviceState.BUSY and \
            robot.values.get("execution") != "running" and self.production.cancel is None

    def _view_settled(self) -> bool:
        """At rest, and every bridge has published since the cell came to rest: the statuses of different
        devices arrive apart (a transfer empties the fixture before the machine reports the part), so only
        then is what they say together consistent. Bridges publish at >= 2 Hz: this takes <= 0.5 s."""
        if not self._at_rest():
            self._rest_since = None
            return False
        if self._rest_since is None:
            self._rest_since = self.node.monotonic_s()
        return self._all_reported_since(self._rest_since)

    def _all_reported_since(self, since_s: float) -> bool:
        return all(self.status_seen_at.get(role, -1.0) > since_s for role in topics.ROLES)

    def _in_idle(self) -> None:
        if self.auto_start and not self.started_once and self.packml.mode is UnitMode.PRODUCTION \
                and not self.bridges.swaps and self.nodes_up >= {t.publisher for t in topics.READY_TOPICS}:
            self._command(Command.START, "auto_start")

    def _in_starting(self) -> None:
        self.started_once = True
        if self.packml.mode is UnitMode.PRODUCTION:
            try:
                shift_id = self.journal.begin_shift(self.parts_target, self.config.config_hash)
            except JournalError as error:
                self._fault(Command.ABORT, StopCode.JOURNAL, f"the shift could not begin: {error}")
                return
            self.production.begin_shift(shift_id, self.parts_target, self._cell_seen_s)
            self.shift_open = True
            self._event("info", "supervisor", f"shift {shift_id}: {self.parts_target} parts")
        self.packml.state_complete()

    def _in_execute(self) -> None:
        if self.packml.mode is not UnitMode.PRODUCTION:
            return
        self._apply(self._run(may_send=True, may_start=True))
        if self.packml.state is State.EXECUTE and self.production.complete:
            self.packml.state_complete()

    def _in_completing(self) -> None:
        self._end_shift("complete")
        self.packml.state_complete()

    def _settle(self) -> bool:
        """Holding and Stopping: stop the robot, let the handling step end; True when the cell is at rest."""
        p = self.production
        p.stop_robot(self.statuses, self.active.wall_s)
        if p.settle_cancel(self.statuses):
            self._run(may_send=False)
        if not p.busy:
            return True
        in_cell_s = self.active.cell_s - self.state_entered.cell_s
        if in_cell_s > SETTLE_TIMEOUT_S or self.in_state_s > SETTLE_TIMEOUT_S:  # wall too: devices that died
            p.drop_active()
            self._event("fault", "supervisor", f"{self.packml.state.value}: the devices did not come to rest "
                        f"within {SETTLE_TIMEOUT_S:.0f} s")
            return True
        return False

    def _in_holding(self) -> None:
        if self._settle():
            self.packml.state_complete()

    def _in_held(self) -> None:
        self._run(may_send=False)

    def _in_unholding(self) -> None:
        p = self.production
        p.stop_robot(self.statuses, self.active.wall_s)  # a program that ran on while its link was down
        p.settle_cancel(self.statuses)
        if self._view_settled():
            self.production.reconcile(self.statuses)
            self.packml.state_complete()
        elif self.in_state_s > DEVICES_READY_TIMEOUT_S:
            self._fault(Command.ABORT, StopCode.DEVICE_OFFLINE, "unhold: the devices did not all report at rest")

    def _in_suspending(self) -> None:
        self._apply(self._run(may_send=False))
        if self.packml.state is State.SUSPENDING and not self.production.busy:
            self.packml.state_complete()

    def _in_suspended(self) -> None:
        self._run(may_send=False)
        p = self.production
        cleared = (self.suspended_by is StopCode.STARVED and not p.starved(self.statuses)) or \
                  (self.suspended_by is StopCode.BLOCKED and not p.blocked(self.statuses))
        if cleared and not self.bridges.swaps:
            self._event("info", "supervisor", f"{self.suspended_by.name.lower()} no more: unsuspending")
            self._command(Command.UNSUSPEND, "auto")

    def _in_unsuspending(self) -> None:
        self.packml.state_complete()

    def _in_stopping(self) -> None:
        if self._settle():
            self._end_shift("stopped")
            self.packml.state_complete()

    def _in_aborting(self) -> None:
        p = self.production
        p.stop_robot(self.statuses, self.active.wall_s)
        p.drop_active()
        self._end_shift("aborted")
        self.packml.state_complete()

    def _in_aborted(self) -> None:
        self._recover()
        if self.production.cancel is not None:
            self.production.settle_cancel(self.statuses)

    def _in_clearing(self) -> None:
        problems = self._unusable() + self._safety()
        if not problems:
            self.packml.state_complete()
        elif self.in_state_s > DEVICES_READY_TIMEOUT_S:
            self._fault(Command.ABORT, problems[0][0], f"clear: {problems[0][1]} after {DEVICES_READY_TIMEOUT_S:.0f} s")

    def _in_complete(self) -> None:
        pass

    def _recover(self) -> None:
        """Once every device reports after a restart: record the parts the last run left (interrupted)."""
        if not self.recovering or self._unusable() or not self._all_reported_since(self.started_at_s):
            return
        self.recovering = False
        self.production.recover(self.journal.open_parts(), self.statuses)
        held = ", ".join(p.part_id for p in self.production.in_cell) or "none"
        self._event("info", "supervisor", f"recovered after a restart: parts still in the cell: {held}")

    def _end_shift(self, status: str) -> None:
        """Close the open shift as `status` (complete, stopped, aborted); a closed shift stays as it was."""
        p = self.production
        if self.shift_open and p.shift_id is not None:
            self.shift_open = False
            try:
                self.journal.end_shift(p.shift_id, status)
            except JournalError as error:
                self.log.error("could not end shift %s: %s", p.shift_id, error)

    # -- outputs --------------------------------------------------------------------------

    def _send_goal(self, goal: Goal) -> None:
        values = {"id": goal.id, **{f"arg{i}": a for i, a in enumerate(goal.args)}}
        self.commands[goal.device].publish(self.codec.status(goal.device, goal.verb, OK, values))

    def _beat(self) -> None:
        self._heartbeat = (self._heartbeat + 1) % 2**32
        self.heartbeat_pub.publish(self._uint32(data=self._heartbeat))

    def _event(self, kind: str, source: str, detail: str) -> None:
        self.journal.log_event(self.production.shift_id, kind, source, detail, self._cell_seen_s)

    def _flush_journal(self) -> None:
        if not self.journal.events_due:
            return
        try:
            self.journal.flush_events()
        except JournalError as error:
            if self.packml.state in PRODUCING:
                self._fault(Command.HOLD, StopCode.JOURNAL, f"events not journaled: {error}")

    def _on_transition(self, old: State, new: State, cause: str) -> None:
        self.state_entered_wall_s, self.state_entered = self._wall_s, self.active
        self._reset_planned, self._rest_since = False, None
        if new is State.HOLDING:
            self._lost_since_hold = False
        if new is State.EXECUTE:
            self.stop_reason, self.suspended_by = NO_STOP_REASON, None
        self.log.info("PackML %s -> %s (%s)", old.value, new.value, cause)
        self._event("state", "packml", state_detail(old.value, new.value, cause))
        self._publish_state(force=True)

    def state_values(self) -> dict[str, str]:
        """The cell's state as `state` publishes it (and the northbound server serves it)."""
        p, state = self.production, self.packml.state
        a = p.active
        requested = STATE_COMPLETE.get(state, state) if state is not State.EXECUTE else state
        warnings = [f"{r}: {s.detail}" for r, s in self.statuses.items() if s.values.get("jammed") == "1"]
        warnings += [f"{r} shadow drifted: {s.values['drift']}" for r, s in self.statuses.items() if s.values.get("drift")]
        values = {
            "state": state.value, "state_number": str(state.number),
            "unit_mode": self.packml.mode.label, "unit_mode_number": str(self.packml.mode.value),
            "state_requested": requested.value, "state_change_in_process": "1" if requested is not state else "0",
            "available": ",".join(c.value for c in self.packml.available_commands()),
            "shift_id": str(p.shift_id or ""), "parts_target": str(self.parts_target),
            "parts_done": str(p.produced), **{o.value: str(n) for o, n in p.counts.items()},
            "last_part_id": p.last_part[0], "last_quality": p.last_part[1],
            "step": f"{a.step.name} {a.part.part_id if a.part else ''}".strip() if a else "",
            "parts_in_cell": ",".join(f"{q.part_id}:{q.stage.value}" for q in p.in_cell),
            "stop_reason_code": str(self.stop_reason.code.value), "stop_reason": self.stop_reason.text,
            "warning": "; ".join(warnings), "starved": "1" if p.starved(self.statuses) else "0",
            "blocked": "1" if p.blocked(self.statuses) else "0",
            "records_pending": str(len(p.pending_records)),
            "backends": ",".join(f"{r}:{s.values.get('backend', '')}" for r, s in sorted(self.statuses.items())),
            "swapping": ",".join(f"{r}:{s.backend}" for r, s in self.bridges.swaps.items()),
            "cur_mach_speed_per_min": f"{60.0 / p.last_cycle_s:.3f}" if state is State.EXECUTE and p.last_cycle_s
            else "0",
            "mach_design_speed_per_min": f"{60.0 / self.config.supervisor.ideal_cycle_s:.3f}",
            **self.last_command, **self.last_swap,
            **{f"time_s.{s.value}": f"{t:.1f}" for s, t in self.state_times.items()},
        }
        for outcome in Outcome:
            values.setdefault(outcome.value, "0")
        if p.manual is not None:
            values.update({"device_command": f"{p.manual.device} {p.manual.verb}",
                           "device_command_result": p.manual.answer or p.manual.state.value})
        return values

    def _publish_state(self, force: bool = False) -> None:
        values = self.state_values()
        now = self.node.monotonic_s()
        changed = {k: v for k, v in values.items() if not k.startswith("time_s.")} != \
            {k: v for k, v in self._published.items() if not k.startswith("time_s.")}
        if not (force or changed or now - self._published_at >= STATE_REFRESH_S):
            return
        self._published, self._published_at = values, now
        state = self.packml.state
        level = ERROR if state in (State.ABORTING, State.ABORTED) else \
            WARN if state in (State.HOLDING, State.HELD, State.SUSPENDED) or values["warning"] else OK
        self.state_pub.publish(self.codec.status("cell", state.value, level, values))

    def stop(self) -> None:
        """SIGINT/SIGTERM: stop the cell (arc off, the handling step ends), close the shift, then the journal."""
        if Command.STOP in self.packml.available_commands():
            self._command(Command.STOP, "signal", StopReason(StopCode.SIGNAL, "the supervisor was asked to stop"))
        deadline = time.monotonic() + SIGNAL_STOP_S
        while self.packml.state is State.STOPPING and time.monotonic() < deadline:
            self.node.spin_once(0.02)
        self._end_shift("stopped")  # the devices did not all answer in time (their bridges stop too)
        self.journal.close()


def main(argv: list[str] | None = None) -> None:
    node, config, params = start_node("supervisor", argv, lambda n, c: {
        "parts": n.declare_parameter("parts", 0),
        "auto_start": n.declare_parameter("auto_start", True),
        "journal": n.declare_parameter("journal", ""),
    })
    journal = Journal(params["journal"] or config.journal_path)
    supervisor = Supervisor(node, config, journal, params["parts"] or config.parts_per_shift, params["auto_start"])
    spin_until_signal(node, supervisor.stop)
