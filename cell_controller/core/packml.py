"""PackML state machine (ISA-TR88.00.02 / OPC 30050), pure Python.

17 states, 9 commands, and State Complete (SC) ending every acting state. Only the
transitions in `TRANSITIONS` happen; everything else raises `IllegalCommand`.
"""
from __future__ import annotations

import enum
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


class IllegalCommand(ValueError):
    """A command that PackML does not allow in the current state."""


Listener = Callable[[State, State, str], None]


class PackMLMachine:
    """The cell's PackML state; listeners hear every transition as (old, new, cause)."""

    def __init__(self, initial: State = S.STOPPED):
        self.state = initial
        self._listeners: list[Listener] = []

    def on_transition(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def available_commands(self) -> list[Command]:
        return [cmd for (state, cmd) in TRANSITIONS if state == self.state]

    def command(self, command: Command | str) -> State:
        """Apply a command; raise IllegalCommand naming state and command if PackML forbids it."""
        try:
            cmd = Command(command)
        except ValueError:
            raise IllegalCommand(f"unknown PackML command {command!r}") from None
        target = TRANSITIONS.get((self.state, cmd))
        if target is None:
            raise IllegalCommand(f"{cmd.value} is not allowed in state {self.state.value}")
        self._go(target, cmd.value)
        return target

    def state_complete(self) -> State:
        """End the current acting state (SC); raise IllegalCommand in a wait state."""
        target = STATE_COMPLETE.get(self.state)
        if target is None:
            raise IllegalCommand(f"{self.state.value} is a wait state: it has no State Complete")
        self._go(target, "SC")
        return target

    def _go(self, target: State, cause: str) -> None:
        old, self.state = self.state, target
        for listener in self._listeners:
            listener(old, target, cause)
