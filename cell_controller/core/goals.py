"""The command contract between the supervisor and the bridges, shaped like a ROS 2 action.

A goal is one device command with an id unique across supervisor restarts (`GoalIds`). The
bridge answers in its latched status with one value per recent goal, `goal.<id>`:
`Pending` while the device's method call runs, then the device's CommandStatus name and its
reason (`Accepted`, `NotReady: part P000004 is not clamped`, ...). The bridge executes an id
once (`GoalHistory`): a repeated id is answered again, never executed again.

The supervisor's `GoalTracker` follows its goals through SENT -> ACCEPTED (the device took the
command) or REJECTED (it refused, with the reason), FAILED (no answer after `MAX_RESENDS`) and
CANCELED (the supervisor stopped it). A goal's state never goes backwards: an older status
message (or a bridge restarted without its history) cannot undo an answer. Whether the command's
effect is complete is not the bridge's to say: the step's `done` condition reads it from the
devices' level-triggered values (`core/sequence.py`).
"""
from __future__ import annotations

import enum
import secrets
from collections import OrderedDict
from dataclasses import dataclass

PENDING = "Pending"
ACCEPTED = "Accepted"
#: device answers worth another try with a new goal (the device may become ready)
RETRYABLE = ("Busy", "NotReady")
GOAL_PREFIX = "goal."
#: the goals a bridge remembers (and publishes) at once
GOAL_HISTORY = 16


class GoalIds:
    """Goal ids '<session>-<n>': the session is random per supervisor start, so ids never repeat."""

    def __init__(self, session: str | None = None):
        self.session = session or secrets.token_hex(3)
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"{self.session}-{self._n}"


class GoalHistory:
    """A bridge's answers to its most recent goals (bounded; oldest forgotten first)."""

    def __init__(self, size: int = GOAL_HISTORY):
        self.size = size
        self._results: OrderedDict[str, str] = OrderedDict()

    def begin(self, goal_id: str) -> bool:
        """Record `goal_id` as pending; False when it is known already (answer it again, do not execute)."""
        if goal_id in self._results:
            return False
        self._results[goal_id] = PENDING
        while len(self._results) > self.size:
            self._results.popitem(last=False)
        return True

    def finish(self, goal_id: str, result: str) -> None:
        if goal_id in self._results:
            self._results[goal_id] = result

    def values(self) -> dict[str, str]:
        """The status values `goal.<id>` -> result, oldest first."""
        return {GOAL_PREFIX + goal_id: result for goal_id, result in self._results.items()}


def answers(status_values: dict[str, str]) -> dict[str, str]:
    """goal id -> answer, from a bridge's status values."""
    return {k[len(GOAL_PREFIX):]: v for k, v in status_values.items() if k.startswith(GOAL_PREFIX)}


class GoalState(str, enum.Enum):
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELED = "canceled"


#: a goal in one of these states has ended; its state never changes again
FINAL = frozenset({GoalState.REJECTED, GoalState.FAILED, GoalState.CANCELED})


@dataclass
class Goal:
    """One device command the supervisor sent. Times are the supervisor's active clock, s."""

    id: str
    device: str
    verb: str
    args: tuple[str, ...]
    sent_s: float
    state: GoalState = GoalState.SENT
    answer: str = ""
    resends: int = 0
    last_sent_s: float = 0.0

    @property
    def retryable(self) -> bool:
        """A rejection a new goal may overcome (the device was busy or not ready)."""
        return self.state is GoalState.REJECTED and self.answer.partition(":")[0] in RETRYABLE


class GoalTracker:
    """The supervisor's goals by id; `update` applies a bridge's answers."""

    def __init__(self, ids: GoalIds | None = None):
        self.ids = ids or GoalIds()
        self.goals: dict[str, Goal] = {}

    def new(self, device: str, verb: str, args: tuple[str, ...], now_s: float) -> Goal:
        goal = Goal(self.ids.next(), device, verb, args, now_s, last_sent_s=now_s)
        self.goals[goal.id] = goal
        return goal

    def update(self, device: str, status_values: dict[str, str]) -> list[Goal]:
        """Apply `device`'s answers; return the goals whose state changed. Answers never go backwards."""
        changed = []
        for goal_id, answer in answers(status_values).items():
            goal = self.goals.get(goal_id)
            if goal is None or goal.device != device or goal.state is not GoalState.SENT or answer == PENDING:
                continue
            goal.answer = answer
            goal.state = GoalState.ACCEPTED if answer == ACCEPTED else GoalState.REJECTED
            changed.append(goal)
        return changed

    def forget(self, goal: Goal) -> None:
        self.goals.pop(goal.id, None)
