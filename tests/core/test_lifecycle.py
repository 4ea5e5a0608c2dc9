"""The bridges' lifecycle (ROS 2 managed-node states) and the divergence figures, as plain data."""
from __future__ import annotations

import math

import pytest

from cell_controller.core.divergence import DivergenceStats, DriftMonitor
from cell_controller.core.lifecycle import TRANSITIONS, IllegalTransition, LifecycleState, Transition, target

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
