"""The bridges' lifecycle (ROS 2 managed-node states), the supervisor's lifecycle manager and the divergence
figures, as plain data."""
from __future__ import annotations

import math

import pytest

from cell_controller.core.backends import LIFECYCLE_ANSWER_TIMEOUT_S, BridgeManager
from cell_controller.core.divergence import DivergenceStats, DriftMonitor
from cell_controller.core.goals import ACCEPTED
from cell_controller.core.lifecycle import TRANSITIONS, IllegalTransition, LifecycleState, Transition, target
from cell_controller.core.types import DeviceState, DeviceStatus

U, I, A, F = (LifecycleState.UNCONFIGURED, LifecycleState.INACTIVE, LifecycleState.ACTIVE,
              LifecycleState.FINALIZED)


def test_the_states_and_transitions_are_ros_2s() -> None:
    assert [s.number for s in (U, I, A, F)] == [1, 2, 3, 4]  # lifecycle_msgs/msg/State
    assert target(U, Transition.CONFIGURE) is I and target(I, Transition.ACTIVATE) is A
    assert target(A, Transition.DEACTIVATE) is I and target(I, Transition.CLEANUP) is U
    assert all(target(s, Transition.SHUTDOWN) is F for s in (U, I, A))
    assert not any(state is F for (state, _) in TRANSITIONS), "finalized is final"


@pytest.mark.parametrize("state, transition", [(U, Transition.ACTIVATE), (A, Transition.CONFIGURE),
                                               (F, Transition.CONFIGURE), (I, Transition.DEACTIVATE)])
def test_a_transition_the_state_has_not_is_refused_naming_what_it_has(state, transition) -> None:
    with pytest.raises(IllegalTransition, match=f"{transition.value} is not a transition of {state.value}"):
        target(state, transition)


def test_divergence_figures_are_rms_and_largest_magnitude_per_signal() -> None:
    stats = DivergenceStats()
    for difference in (3.0, -4.0):
        stats.add({"current [A]": difference, "voltage [V]": 0.5})
    assert stats.summary()["current [A]"] == (pytest.approx(math.sqrt(12.5)), 4.0, 2)
    assert stats.summary()["voltage [V]"] == (pytest.approx(0.5), 0.5, 2)


def test_drift_is_a_recent_rms_beyond_the_tolerance_and_passes_when_the_gap_closes() -> None:
    drift = DriftMonitor({"current [A]": 10.0}, window_samples=10)
    for _ in range(50):
        drift.add({"current [A]": 20.0, "voltage [V]": 5.0})
    assert drift.drifted() == ["current [A]: recent RMS 20 > 10"], "only signals with a tolerance warn"
    for _ in range(100):
        drift.add({"current [A]": 1.0})
    assert drift.drifted() == []


class Bridges:
    """Goals a BridgeManager sends, and the statuses it sees (no bus)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, tuple[str, ...]]] = []
        self.manager = BridgeManager(lambda goal: self.sent.append((goal.device, goal.verb, goal.args)))

    def status(self, lifecycle: str, backend: str = "twin", **answers: str) -> DeviceStatus:
        status = DeviceStatus("welder", DeviceState.IDLE, values={"lifecycle": lifecycle, "backend": backend,
                                                                  **{f"goal.{k}": v for k, v in answers.items()}})
        self.manager.on_status("welder", status)
        return status


def test_lifecycle_goals_wait_for_their_answer_and_are_sent_again_once_answered() -> None:
    b = Bridges()
    unconfigured = b.status("unconfigured")
    b.manager.manage({"welder": unconfigured}, 0.0)
    b.manager.manage({"welder": unconfigured}, 5.0)  # a configure against a black-holed endpoint: still out
    assert b.sent == [("welder", "configure", ())], "not resent while unanswered"
    goal = b.manager.lifecycle_goals["welder"]
    b.status("unconfigured", **{goal.id: "NotReady: unreachable"})
    b.manager.manage({"welder": unconfigured}, 5.1)
    assert b.sent[-1] == ("welder", "configure", ()) and len(b.sent) == 2, "answered: tried again"
    b.manager.manage({"welder": unconfigured}, 5.1 + LIFECYCLE_ANSWER_TIMEOUT_S)
    assert len(b.sent) == 3, "an answer lost for good: sent again after the timeout"


def test_a_restarted_bridge_is_put_back_on_the_backend_it_was_swapped_to() -> None:
    b = Bridges()
    swap = b.manager.request_swap("welder", "shadow", 0.0)
    active = b.status("active", "shadow", **{swap.goal.id: ACCEPTED})
    assert [s.accepted for s in b.manager.manage({"welder": active}, 0.1)] == [True]
    restarted = b.status("unconfigured", "twin")  # a new process: the description's backend
    b.manager.manage({"welder": restarted}, 1.0)
    assert b.sent[-1] == ("welder", "swap", ("shadow",)), "back on shadow before it connects"
    back = b.status("unconfigured", "shadow", **{b.manager.lifecycle_goals["welder"].id: ACCEPTED})
    b.manager.manage({"welder": back}, 1.1)
    assert b.sent[-1] == ("welder", "configure", ())
