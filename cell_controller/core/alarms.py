"""The cell's alarms after ISA-18.2: raised from what the cell reports, acknowledged by an operator, cleared
when their condition goes.

An alarm is one abnormal condition that needs an operator's response, named by a tag (`robot.safety`,
`welder.offline`, `cell.journal`). `conditions` derives the active conditions from the supervisor's `state`
values and the devices' statuses; `AlarmBook.update` moves each alarm through ISA-18.2's states:

    normal --condition--> unacknowledged --ack--> acknowledged --clears--> normal (history: cleared)
                          unacknowledged --clears--> cleared, unacknowledged --ack--> normal

An alarm whose condition returns before it was acknowledged is raised again (a chattering alarm counts
each time). A flood is more than
`FLOOD_ALARMS` alarms raised within `FLOOD_WINDOW_S` (ISA-18.2 / EEMUA 191: 10 in 10 min per operator).
Times are wall-clock Unix seconds.
"""
from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .packml import State, StopCode
from .types import SAFETY_OK, DeviceState, DeviceStatus

FLOOD_ALARMS = 10
FLOOD_WINDOW_S = 600.0
#: alarms kept in the history (cleared and acknowledged ones, newest first)
HISTORY_LENGTH = 200


class AlarmState(str, enum.Enum):
    UNACKNOWLEDGED = "unacknowledged"
    ACKNOWLEDGED = "acknowledged"
    #: its condition cleared before anyone acknowledged it (ISA-18.2 "return to normal, unacknowledged")
    CLEARED_UNACKNOWLEDGED = "cleared, unacknowledged"
    #: acknowledged and cleared: back to normal, in the history only
    CLEARED = "cleared"


class Priority(str, enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AlarmError(ValueError):
    """An acknowledgement that cannot be taken; the message says why."""


@dataclass(frozen=True)
class Condition:
    """An abnormal condition: the alarm's tag, its priority and what the operator reads."""

    tag: str
    priority: Priority
    text: str


@dataclass(frozen=True)
class Alarm:
    tag: str
    priority: Priority
    text: str
    state: AlarmState
    raised_at: float
    acknowledged_by: str = ""
    acknowledged_at: float | None = None
    cleared_at: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {"tag": self.tag, "priority": self.priority.value, "text": self.text, "state": self.state.value,
                "raised_at": self.raised_at, "acknowledged_by": self.acknowledged_by,
                "acknowledged_at": self.acknowledged_at, "cleared_at": self.cleared_at}


#: stop reasons that are alarms of the cell itself while the cell is stopped by them (the device and safety
#: causes are raised by the devices' own conditions; an operator's or a signal's stop is no alarm)
_CELL_STOP_ALARMS = {StopCode.COMMAND_REFUSED: "command_refused", StopCode.STEP_TIMEOUT: "step_timeout",
                     StopCode.JOURNAL: "journal", StopCode.RESTARTED: "restarted"}
_STOPPED_BY_REASON = {State.HOLDING, State.HELD, State.SUSPENDING, State.SUSPENDED, State.STOPPING, State.STOPPED,
                      State.ABORTING, State.ABORTED}


def conditions(state: Mapping[str, str], statuses: Mapping[str, DeviceStatus | None],
               supervisor_alive: bool) -> list[Condition]:
    """The active alarm conditions of the cell.

    state: the supervisor's `state` values; statuses: role -> the device's last status, None while its
    bridge's liveliness is lost; supervisor_alive: its heartbeat has one live writer."""
    found: list[Condition] = []
    if not supervisor_alive:
        found.append(Condition("supervisor.gone", Priority.HIGH, "the supervisor is not running: nobody runs "
                                                                 "the cell and the devices' watchdogs trip"))
    for role, status in statuses.items():
        if status is None:
            found.append(Condition(f"{role}.offline", Priority.HIGH, f"{role}: its bridge is gone"))
            continue
        if status.state in (DeviceState.OFFLINE, DeviceState.STALE):
            found.append(Condition(f"{role}.offline", Priority.HIGH, f"{role} {status.state.value}: {status.detail}"))
        if status.state is DeviceState.FAULT:
            found.append(Condition(f"{role}.fault", Priority.HIGH, f"{role} fault: {status.detail}"))
        if status.values.get("watchdog") == "tripped":
            found.append(Condition(f"{role}.watchdog", Priority.HIGH, f"{role}: its watchdog tripped"))
        safety = status.values.get("safety", SAFETY_OK)
        if safety != SAFETY_OK and status.state is not DeviceState.OFFLINE:
            found.append(Condition(f"{role}.safety", Priority.HIGH, f"{role} safety chain open: {safety}"))
    try:
        code, cell_state = StopCode(int(state.get("stop_reason_code") or 0)), State(state.get("state", ""))
    except ValueError:
        code, cell_state = StopCode.NONE, None
    if code in _CELL_STOP_ALARMS and cell_state in _STOPPED_BY_REASON:
        found.append(Condition(f"cell.{_CELL_STOP_ALARMS[code]}", Priority.MEDIUM, state.get("stop_reason", "")))
    if state.get("starved") == "1":
        found.append(Condition("cell.starved", Priority.LOW, "no blank in the buffer"))
    if state.get("blocked") == "1":
        found.append(Condition("cell.blocked", Priority.LOW, "the machine takes no parts (not in automatic mode)"))
    if state.get("warning"):
        found.append(Condition("cell.warning", Priority.LOW, state["warning"]))
    return found


@dataclass(frozen=True)
class Change:
    """What `AlarmBook.update` or `acknowledge` did to one alarm: raised, updated (its text changed),
    acknowledged or cleared, with the alarm as it is after; `user`: who acknowledged it."""

    what: str
    alarm: Alarm
    user: str = ""


#: the changes that are journaled (an alarm's new text is shown, not journaled)
JOURNALED = ("raised", "acknowledged", "cleared")
_EVENT_TAG = re.compile(r"(supervisor|cell|robot|welder|machine|feeder)\.[a-z_]{1,32}")
_EVENT_USER = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_EVENT_TEXT_CHARS = 300


def event_values(change: Change) -> dict[str, str]:
    """The values of an `alarm/events` message for a journaled change (nodes/topics.ALARM_EVENTS)."""
    return {"what": change.what, "tag": change.alarm.tag, "priority": change.alarm.priority.value,
            "text": change.alarm.text[:MAX_EVENT_TEXT_CHARS], "user": change.user}


def event_detail(values: Mapping[str, str]) -> tuple[str, str] | None:
    """(source, detail) of the journal event for an `alarm/events` message: the source the acknowledging user
    or `hmi`; None for a message that is not such an event (a rogue or garbled publisher's)."""
    what, tag, user = values.get("what", ""), values.get("tag", ""), values.get("user", "")
    text = values.get("text", "")
    if what not in JOURNALED or not _EVENT_TAG.fullmatch(tag) or (user and not _EVENT_USER.fullmatch(user)) \
            or (what == "acknowledged") != bool(user) or len(text) > MAX_EVENT_TEXT_CHARS or not text.isprintable():
        return None
    return user or "hmi", f"{what} {tag}: {text}"


class AlarmBook:
    """The cell's alarms (not normal) and their history."""

    def __init__(self) -> None:
        self.alarms: dict[str, Alarm] = {}
        self.history: deque[Alarm] = deque(maxlen=HISTORY_LENGTH)
        self._raised_at: deque[float] = deque()

    def update(self, active: Iterable[Condition], now_s: float) -> list[Change]:
        """Raise the conditions that are new, clear the alarms whose condition is gone."""
        changes = []
        current = {c.tag: c for c in active}
        for tag, condition in current.items():
            alarm = self.alarms.get(tag)
            if alarm is None or alarm.state is AlarmState.CLEARED_UNACKNOWLEDGED:
                self.alarms[tag] = Alarm(tag, condition.priority, condition.text, AlarmState.UNACKNOWLEDGED, now_s)
                self._raised_at.append(now_s)
                changes.append(Change("raised", self.alarms[tag]))
            elif alarm.text != condition.text:
                self.alarms[tag] = replace(alarm, text=condition.text)
                changes.append(Change("updated", self.alarms[tag]))
        for tag, alarm in list(self.alarms.items()):
            if tag in current or alarm.state is AlarmState.CLEARED_UNACKNOWLEDGED:
                continue
            if alarm.state is AlarmState.ACKNOWLEDGED:
                changes.append(Change("cleared", self._to_history(tag, replace(alarm, state=AlarmState.CLEARED,
                                                                                cleared_at=now_s))))
            else:
                self.alarms[tag] = replace(alarm, state=AlarmState.CLEARED_UNACKNOWLEDGED, cleared_at=now_s)
                changes.append(Change("cleared", self.alarms[tag]))
        return changes

    def acknowledge(self, tag: str, user: str, now_s: float) -> Change:
        """`user` acknowledges alarm `tag`; AlarmError when there is none to acknowledge."""
        alarm = self.alarms.get(tag)
        if alarm is None:
            raise AlarmError(f"no alarm {tag[:60]!r} is active")
        if alarm.state is AlarmState.ACKNOWLEDGED:
            raise AlarmError(f"{tag} was acknowledged by {alarm.acknowledged_by} already")
        acknowledged = replace(alarm, acknowledged_by=user, acknowledged_at=now_s)
        if alarm.state is AlarmState.CLEARED_UNACKNOWLEDGED:
            return Change("acknowledged", self._to_history(tag, replace(acknowledged, state=AlarmState.CLEARED)), user)
        self.alarms[tag] = replace(acknowledged, state=AlarmState.ACKNOWLEDGED)
        return Change("acknowledged", self.alarms[tag], user)

    def _to_history(self, tag: str, alarm: Alarm) -> Alarm:
        del self.alarms[tag]
        self.history.appendleft(alarm)
        return alarm

    def raised_within(self, now_s: float, window_s: float = FLOOD_WINDOW_S) -> int:
        """Alarms raised in the last `window_s` seconds."""
        while self._raised_at and self._raised_at[0] < now_s - FLOOD_WINDOW_S:
            self._raised_at.popleft()
        return sum(1 for at in self._raised_at if at >= now_s - window_s)

    def flood(self, now_s: float) -> bool:
        """More than FLOOD_ALARMS alarms raised within FLOOD_WINDOW_S."""
        return self.raised_within(now_s) > FLOOD_ALARMS
