"""Goals: ids unique across supervisor restarts, executed once by a bridge, answers that never go back."""
from __future__ import annotations

from cell_controller.core.goals import GOAL_HISTORY, GoalHistory, GoalIds, GoalState, GoalTracker, answers


def test_ids_never_repeat_across_restarts() -> None:
    first, second = GoalIds(), GoalIds()
    ids = [first.next() for _ in range(3)] + [second.next() for _ in range(3)]
    assert len(set(ids)) == 6 and first.session != second.session
    assert ids[0].endswith("-1") and ids[2].endswith("-3")


def test_a_bridge_executes_an_id_once_and_forgets_the_oldest_first() -> None:
    history = GoalHistory()
    assert history.begin("a-1") and not history.begin("a-1")
    assert history.values() == {"goal.a-1": "Pending"}
    history.finish("a-1", "NotReady: the buffer is empty")
    assert answers(history.values()) == {"a-1": "NotReady: the buffer is empty"}
    for n in range(2, GOAL_HISTORY + 2):
        history.begin(f"a-{n}")
    assert "goal.a-1" not in history.values() and len(history.values()) == GOAL_HISTORY


def test_answers_never_go_back_and_only_the_devices_own_count() -> None:
    tracker = GoalTracker(GoalIds("s"))
    goal = tracker.new("feeder", "clamp", (), now_s=0.0)
    assert tracker.update("robot", {f"goal.{goal.id}": "Accepted"}) == []  # another device's answer
    assert goal.state is GoalState.SENT
    assert tracker.update("feeder", {f"goal.{goal.id}": "Pending"}) == [] and goal.state is GoalState.SENT
    assert tracker.update("feeder", {f"goal.{goal.id}": "Accepted", "goal.s-99": "Fault: x"}) == [goal]
    for late in ("Pending", "NotReady: too late", "Accepted"):  # an older or repeated status
        tracker.update("feeder", {f"goal.{goal.id}": late})
        assert goal.state is GoalState.ACCEPTED and goal.answer == "Accepted"
    refused = tracker.new("feeder", "feed_part", ("P1",), now_s=1.0)
    tracker.update("feeder", {f"goal.{refused.id}": "Busy: a handling operation is running"})
    assert refused.state is GoalState.REJECTED and refused.retryable
    final = tracker.new("robot", "start_program", ("weld_seam", "P1"), now_s=2.0)
    tracker.update("robot", {f"goal.{final.id}": "InvalidArgument: unknown program"})
    assert not final.retryable
