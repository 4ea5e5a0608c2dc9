"""The managed-node lifecycle of a bridge: ROS 2's primary states and transitions (design article
"Managed nodes", `lifecycle_msgs/msg/State` and `Transition`), as plain data.

  unconfigured --configure--> inactive --activate--> active
  active --deactivate--> inactive --cleanup--> unconfigured
  unconfigured | inactive | active --shutdown--> finalized

What each state means for a bridge (`nodes/bridge.py`): unconfigured, no link to the device;
inactive, connected and checked, the device's values are read and its status published, nothing is
written to it (no setpoint, no command, no heartbeat); active, it forwards both ways; finalized, it
has left. The supervisor drives the transitions (`core/backends.py`); on a ROS 2 install the rclpy
adapter maps the same names onto `rclpy.lifecycle`.
"""
from __future__ import annotations

import enum


class LifecycleState(str, enum.Enum):
    """A primary state; `number` is lifecycle_msgs/msg/State's id."""

    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    FINALIZED = "finalized"

    @property
    def number(self) -> int:
        return {"unconfigured": 1, "inactive": 2, "active": 3, "finalized": 4}[self.value]


class Transition(str, enum.Enum):
    """A transition a manager requests; `number` is lifecycle_msgs/msg/Transition's id."""

    CONFIGURE = "configure"
    CLEANUP = "cleanup"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    SHUTDOWN = "shutdown"

    @property
    def number(self) -> int:
        return {"configure": 1, "cleanup": 2, "activate": 3, "deactivate": 4, "shutdown": 5}[self.value]


_U, _I, _A, _F = LifecycleState.UNCONFIGURED, LifecycleState.INACTIVE, LifecycleState.ACTIVE, LifecycleState.FINALIZED
#: (from, transition) -> the state it reaches on success (on failure the node stays where it was)
TRANSITIONS: dict[tuple[LifecycleState, Transition], LifecycleState] = {
    (_U, Transition.CONFIGURE): _I,
    (_I, Transition.CLEANUP): _U,
    (_I, Transition.ACTIVATE): _A,
    (_A, Transition.DEACTIVATE): _I,
    (_U, Transition.SHUTDOWN): _F,
    (_I, Transition.SHUTDOWN): _F,
    (_A, Transition.SHUTDOWN): _F,
}


class IllegalTransition(ValueError):
    """A transition the current state does not have; the message names both."""


def target(state: LifecycleState, transition: Transition) -> LifecycleState:
    """The state `transition` leads to from `state`; IllegalTransition when there is no such edge."""
    try:
        return TRANSITIONS[(state, transition)]
    except KeyError:
        allowed = ", ".join(t.value for (s, t) in TRANSITIONS if s is state) or "none"
        raise IllegalTransition(f"{transition.value} is not a transition of {state.value} (allowed: {allowed})") \
            from None
