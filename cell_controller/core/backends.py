"""The supervisor's hold on its bridges: their lifecycle (a lifecycle manager, as nav2's) and backend swaps.

Every bridge starts unconfigured (`core/lifecycle.py`). `BridgeManager.manage` brings each one to
active: configure while it reports unconfigured, activate while it reports inactive, each goal sent
again `LIFECYCLE_RETRY_S` after its answer while the bridge stays there (a device that is down is
configured once a second until it answers), never while one is unanswered (up to
`LIFECYCLE_ANSWER_TIMEOUT_S`). A bridge restarted is brought up again the same way, on the backend it
was last swapped to (it starts on the description's); a supervisor restarted finds its bridges active
and leaves them.

A swap (`swap <device> twin|real|shadow`) is one goal to the bridge, which makes it
make-before-break and answers Accepted or why not (`nodes/bridge.py`); while it runs, the manager
leaves that bridge's lifecycle alone. A swap unanswered after `SWAP_TIMEOUT_S` is failed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .goals import ACCEPTED, Goal, GoalState, GoalTracker
from .lifecycle import LifecycleState, Transition
from .operator import SWAP_VERB, OperatorCommand
from .types import DeviceStatus

#: a lifecycle goal the bridge answered is sent again after this long while the bridge stays in its state, s
#: (wall): a device that is down is tried once a second
LIFECYCLE_RETRY_S = 1.0
#: ... and one it has not answered after this long (a configure against a black-holed endpoint takes up to
#: its connect timeout, 3 s; a bridge restarted meanwhile lost it), s (wall)
LIFECYCLE_ANSWER_TIMEOUT_S = 10.0
#: how long a bridge may take to answer a swap, s (wall): connect, check, resync, first fresh value
SWAP_TIMEOUT_S = 15.0
#: goal verbs a bridge answers itself (never its device's): the lifecycle transitions and the swap
BRIDGE_VERBS = frozenset({t.value for t in Transition} | {SWAP_VERB})
#: the transition that brings a bridge in each state one step nearer active
_UP = {LifecycleState.UNCONFIGURED.value: Transition.CONFIGURE, LifecycleState.INACTIVE.value: Transition.ACTIVATE}


@dataclass
class Swap:
    """A swap under way or ended: `answer` is the bridge's ('' while it runs); times in s (wall)."""

    role: str
    backend: str
    goal: Goal
    requested_s: float
    command: OperatorCommand | None = None  # the operator's command that asked for it
    answer: str = ""

    @property
    def accepted(self) -> bool:
        return self.answer == ACCEPTED


class BridgeManager:
    """Drives the bridges' lifecycles and their swaps through goals (`send`)."""

    def __init__(self, send: Callable[[Goal], None]):
        self._send = send
        self.goals = GoalTracker()
        self.lifecycle_goals: dict[str, Goal] = {}
        self.swaps: dict[str, Swap] = {}
        self.backends: dict[str, str] = {}  # role -> the backend its last swap made it

    def on_status(self, role: str, status: DeviceStatus) -> None:
        self.goals.update(role, status.values)

    def manage(self, statuses: dict[str, DeviceStatus], now_s: float) -> list[Swap]:
        """Send the lifecycle goals due; return the swaps that ended since the last call."""
        for role, status in statuses.items():
            transition = _UP.get(status.values.get("lifecycle", ""))
            if transition is None or role in self.swaps:
                continue
            verb, args = transition.value, ()
            wanted = self.backends.get(role)
            if transition is Transition.CONFIGURE and wanted is not None and status.values.get("backend") != wanted:
                verb, args = SWAP_VERB, (wanted,)  # a restarted bridge: back on the backend it was swapped to
            last = self.lifecycle_goals.get(role)
            if last is None or last.verb != verb or self._due(last, now_s):
                if last is not None:
                    self.goals.forget(last)
                self.lifecycle_goals[role] = self._goal(role, verb, args, now_s)
        return self._ended_swaps(now_s)

    @staticmethod
    def _due(goal: Goal, now_s: float) -> bool:
        """Send again: answered `LIFECYCLE_RETRY_S` ago (the bridge stayed), or unanswered for too long."""
        since_s = now_s - goal.sent_s
        return since_s >= (LIFECYCLE_ANSWER_TIMEOUT_S if goal.state is GoalState.SENT else LIFECYCLE_RETRY_S)

    def request_swap(self, role: str, backend: str, now_s: float, command: OperatorCommand | None = None) -> Swap:
        swap = Swap(role, backend, self._goal(role, SWAP_VERB, (backend,), now_s), now_s, command)
        self.swaps[role] = swap
        return swap

    def _goal(self, role: str, verb: str, args: tuple[str, ...], now_s: float) -> Goal:
        goal = self.goals.new(role, verb, args, now_s)
        self._send(goal)
        return goal

    def _ended_swaps(self, now_s: float) -> list[Swap]:
        ended = []
        for role, swap in list(self.swaps.items()):
            if swap.goal.state is not GoalState.SENT:
                swap.answer = swap.goal.answer
            elif now_s - swap.requested_s > SWAP_TIMEOUT_S:
                swap.answer = f"Fault: the {role} bridge did not answer the swap within {SWAP_TIMEOUT_S:.0f} s"
            else:
                continue
            del self.swaps[role]
            self.goals.forget(swap.goal)
            if swap.accepted:
                self.backends[role] = swap.backend
            ended.append(swap)
        return ended
