"""PackML state machine (ISA-TR88.00.02 / OPC 30050) with unit modes, pure Python.

17 states, 9 commands, and State Complete (SC) ending every acting state. Only the
transitions in `TRANSITIONS` happen, and only into states the unit mode allows
(`MODE_STATES`); everything else raises `IllegalCommand` and changes nothing.
States and modes carry their TR88 numbers (`State.number`, `UnitMode`), which the
northbound OPC UA server publishes.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable


class State(str, enum.Enum):
    STOPPED = "Stopped"
    RESETTING = "Resetting"
    IDLE = "Idle"
    STARTING = "Starting"
    EXECUTE = "Execute"
    COMPLETING = "Completing"
    COMPLETE = "Complete"
    HOLDING = "Holding"
    HELD = "Held"
    UNHOLDING = "Unholding"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    UNSUSPENDING = "Unsuspending"
    STOPPING = "Stopping"
    ABORTING = "Aborting"
    ABORTED = "Aborted"
    CLEARING = "Clearing"

    @property
    def number(self) -> int:
        """The state's TR88 / OPC 30050 number (0 is Undefined)."""
        return STATE_NUMBERS[self]


#: TR88 state numbers, as OPC 30050's PackMLState enumeration: 0 Undefined, 1 Clearing ... 17 Complete
STATE_NUMBERS: dict[State, int] = {
    State.CLEARING: 1, State.STOPPED: 2, State.STARTING: 3, State.IDLE: 4, State.SUSPENDED: 5,
    State.EXECUTE: 6, State.STOPPING: 7, State.ABORTING: 8, State.ABORTED: 9, State.HOLDING: 10,
    State.HELD: 11, State.UNHOLDING: 12, State.SUSPENDING: 13, State.UNSUSPENDING: 14,
    State.RESETTING: 15, State.COMPLETING: 16, State.COMPLETE: 17,
}


class Command(str, enum.Enum):
    RESET = "reset"
    START = "start"
    STOP = "stop"
    HOLD = "hold"
    UNHOLD = "unhold"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    ABORT = "abort"
    CLEAR = "clear"


class UnitMode(enum.IntEnum):
    """PackML unit modes with their TR88 numbers."""

    PRODUCTION = 1
    MAINTENANCE = 2
    MANUAL = 3

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str | int) -> UnitMode:
        """A mode from its name (any case) or TR88 number; IllegalCommand naming the known ones."""
        for mode in cls:
            if str(text).strip().lower() in (mode.name.lower(), str(mode.value)):
                return mode
        known = ", ".join(f"{m.value} {m.label}" for m in cls)
        raise IllegalCommand(f"unknown unit mode {text!r} (known: {known})")


S, C = State, Command

#: acting state -> the state it reaches on State Complete
STATE_COMPLETE: dict[State, State] = {
    S.RESETTING: S.IDLE,
    S.STARTING: S.EXECUTE,
    S.EXECUTE: S.COMPLETING,
    S.COMPLETING: S.COMPLETE,
    S.HOLDING: S.HELD,
    S.UNHOLDING: S.EXECUTE,
    S.SUSPENDING: S.SUSPENDED,
    S.UNSUSPENDING: S.EXECUTE,
    S.STOPPING: S.STOPPED,
    S.ABORTING: S.ABORTED,
    S.CLEARING: S.STOPPED,
}

_NO_STOP = {S.STOPPING, S.STOPPED, S.ABORTING, S.ABORTED, S.CLEARING}
_NO_ABORT = {S.ABORTING, S.ABORTED}

#: (state, command) -> next state
TRANSITIONS: dict[tuple[State, Command], State] = {
    (S.STOPPED, C.RESET): S.RESETTING,
    (S.COMPLETE, C.RESET): S.RESETTING,
    (S.IDLE, C.START): S.STARTING,
    (S.EXECUTE, C.HOLD): S.HOLDING,
    (S.SUSPENDING, C.HOLD): S.HOLDING,
    (S.SUSPENDED, C.HOLD): S.HOLDING,
    (S.UNSUSPENDING, C.HOLD): S.HOLDING,
    (S.HELD, C.UNHOLD): S.UNHOLDING,
    (S.EXECUTE, C.SUSPEND): S.SUSPENDING,
    (S.SUSPENDED, C.UNSUSPEND): S.UNSUSPENDING,
    (S.ABORTED, C.CLEAR): S.CLEARING,
    **{(state, C.STOP): S.STOPPING for state in State if state not in _NO_STOP},
    **{(state, C.ABORT): S.ABORTING for state in State if state not in _NO_ABORT},
}

_SUSPEND_STATES = {S.SUSPENDING, S.SUSPENDED, S.UNSUSPENDING}
_COMPLETE_STATES = {S.COMPLETING, S.COMPLETE}
_HOLD_STATES = {S.HOLDING, S.HELD, S.UNHOLDING}

#: the states each unit mode allows: Maintenance has no Suspend and no Complete (nothing is produced,
#: so nothing is starved or finished); Manual has no Hold either (the operator moves each device)
MODE_STATES: dict[UnitMode, frozenset[State]] = {
    UnitMode.PRODUCTION: frozenset(State),
    UnitMode.MAINTENANCE: frozenset(State) - _SUSPEND_STATES - _COMPLETE_STATES,
    UnitMode.MANUAL: frozenset(State) - _SUSPEND_STATES - _COMPLETE_STATES - _HOLD_STATES,
}

#: the unit mode may change only in these states
MODE_CHANGE_STATES = frozenset({S.STOPPED, S.IDLE, S.ABORTED})


class IllegalCommand(ValueError):
    """A command that PackML does not allow in the current state or unit mode."""


Listener = Callable[[State, State, str], None]
ModeListener = Callable[[UnitMode, UnitMode], None]


class PackMLMachine:
    """The cell's PackML state and unit mode; listeners hear every transition as (old, new, cause)."""

    def __init__(self, initial: State = S.STOPPED, mode: UnitMode = UnitMode.PRODUCTION):
        if initial not in MODE_STATES[mode]:
            raise IllegalCommand(f"{initial.value} is not a state of unit mode {mode.label}")
        self.state = initial
        self.mode = mode
        self._listeners: list[Listener] = []
        self._mode_listeners: list[ModeListener] = []

    def on_transition(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_mode_change(self, listener: ModeListener) -> None:
        self._mode_listeners.append(listener)

    def available_commands(self) -> list[Command]:
        """The commands that would be accepted now (the OPC 30050 available transitions)."""
        allowed = MODE_STATES[self.mode]
        return [cmd for (state, cmd), target in TRANSITIONS.items() if state == self.state and target in allowed]

    def command(self, command: Command | str, cause: str = "") -> State:
        """Apply a command; raise IllegalCommand naming state, mode and command if PackML forbids it.

        `cause` (default: the command) is what the listeners hear, e.g. "hold by alice"."""
        try:
            cmd = Command(command)
        except ValueError:
            known = ", ".join(c.value for c in Command)
            raise IllegalCommand(f"unknown PackML command {command!r} (known: {known})") from None
        target = TRANSITIONS.get((self.state, cmd))
        if target is None:
            raise IllegalCommand(f"{cmd.value} is not allowed in state {self.state.value}")
        if target not in MODE_STATES[self.mode]:
            raise IllegalCommand(f"{cmd.value} is not allowed in unit mode {self.mode.label} "
                                 f"(it has no {target.value} state)")
        self._go(target, cause or cmd.value)
        return target

    def state_complete(self) -> State:
        """End the current acting state (SC); raise IllegalCommand in a wait state or into a
        state the unit mode lacks (Execute never completes in Maintenance or Manual)."""
        target = STATE_COMPLETE.get(self.state)
        if target is None:
            raise IllegalCommand(f"{self.state.value} is a wait state: it has no State Complete")
        if target not in MODE_STATES[self.mode]:
            raise IllegalCommand(f"{self.state.value} does not complete in unit mode {self.mode.label}")
        self._go(target, "SC")
        return target

    def set_unit_mode(self, mode: UnitMode | str | int) -> UnitMode:
        """Change the unit mode (OPC 30050 SetUnitMode); only in Stopped, Idle or Aborted."""
        new = mode if isinstance(mode, UnitMode) else UnitMode.parse(mode)
        if self.state not in MODE_CHANGE_STATES:
            allowed = ", ".join(s.value for s in State if s in MODE_CHANGE_STATES)
            raise IllegalCommand(f"the unit mode changes only in {allowed}, not in {self.state.value}")
        old, self.mode = self.mode, new
        if old is not new:
            for listener in self._mode_listeners:
                listener(old, new)
        return new

    def _go(self, target: State, cause: str) -> None:
        old, self.state = self.state, target
        for listener in self._listeners:
            listener(old, target, cause)


class StopCode(enum.IntEnum):
    """Why the cell left Execute: the code of the OPC 30050 StopReason PackTag."""

    NONE = 0
    OPERATOR = 1
    DEVICE_OFFLINE = 2
    DEVICE_FAULT = 3
    SAFETY = 4
    COMMAND_REFUSED = 5
    STEP_TIMEOUT = 6
    JOURNAL = 7
    RESTARTED = 8
    STARVED = 9
    BLOCKED = 10
    SIGNAL = 11


@dataclass(frozen=True)
class StopReason:
    """The StopReason PackTag: a code and a text naming the device, the part or the value."""

    code: StopCode
    text: str

    @property
    def label(self) -> str:
        return self.code.name.lower()


NO_STOP_REASON = StopReason(StopCode.NONE, "")
