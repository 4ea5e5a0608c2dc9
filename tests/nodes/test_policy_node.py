"""The policy node acts once per welder sample, with the cell time between device stamps as its step."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.types import WeldObservation, WeldParameters
from cell_controller.nodes import topics
from cell_controller.nodes.codec import Codec
from cell_controller.nodes.policy import PolicyNode
from cell_controller.policies import registry
from cell_controller.policies.baselines import FixedRecipeWeldPolicy
from cell_controller.testing import REPO

STAMP_S = 1_790_000_000.0  # a device stamp, Unix s


@dataclass
class RecordingPolicy:
    """The fixed recipe, recording every call (the node under test is the subject, not the policy)."""

    recipe: FixedRecipeWeldPolicy
    name: str = "recording"
    calls: list[tuple[str, float]] = field(default_factory=list)

    def reset(self) -> None:
        self.calls.append(("reset", 0.0))

    def act(self, observation: WeldObservation, dt_s: float) -> WeldParameters:
        self.calls.append(("act", dt_s))
        return self.recipe.act(observation, dt_s)


class RecordingPublisher:
    def __init__(self) -> None:
        self.messages: list = []

    def publish(self, msg) -> None:
        self.messages.append(msg)


@pytest.fixture
def config() -> CellConfig:
    return load_cell(REPO / "config/cell.yaml")


@pytest.fixture
def loop(bus_node, config: CellConfig):
    policy = RecordingPolicy(FixedRecipeWeldPolicy(config.procedure))
    node = PolicyNode(bus_node, config, policy, registry.feed_policy(config))
    node.setpoints = RecordingPublisher()
    codec = Codec(bus_node)

    def tracker(stamp_s: float) -> None:
        node._on_tracker(codec.array(topics.SEAM_TRACKER, (1.2, 0.1, 0.3, 10.0, stamp_s)))

    def process(stamp_s: float, arc_on: bool = True) -> None:
        node._on_process(codec.array(topics.WELD_PROCESS, (230.0, 24.0, 8.0, 5520.0, 8.0, float(arc_on), stamp_s)))
    return node, policy, tracker, process


def sensed_stamps(node: PolicyNode) -> list[float]:
    return [Codec.read_array(topics.WELD_SETPOINTS, m)["sensed_stamp_s"] for m in node.setpoints.messages]


def test_each_tick_is_acted_on_once_when_both_readings_are_in(loop) -> None:
    node, policy, tracker, process = loop
    tracker(STAMP_S)
    process(STAMP_S)
    process(STAMP_S)  # the same sample again (a status flush, a re-delivery): no second action
    process(STAMP_S + 0.1)  # the tracker reading of this tick is not in yet
    assert sensed_stamps(node) == [STAMP_S]
    tracker(STAMP_S + 0.1)
    tracker(STAMP_S + 0.3)  # a tick the bridges never saw: the step is 0.2 s long
    process(STAMP_S + 0.3)
    tracker(STAMP_S + 0.2)  # older than the newest tick acted on
    process(STAMP_S + 0.2)
    assert [c[0] for c in policy.calls] == ["reset", "act", "act", "act"]
    assert [dt for _, dt in policy.calls[1:]] == pytest.approx([node.tick_s, 0.1, 0.2])
    assert sensed_stamps(node) == [STAMP_S, STAMP_S + 0.1, STAMP_S + 0.3]


def test_a_new_arc_waits_for_its_own_tracker_reading_and_resets_the_policy(loop) -> None:
    node, policy, tracker, process = loop
    tracker(STAMP_S)
    process(STAMP_S, arc_on=False)
    assert node.setpoints.messages == []  # no arc, no setpoints
    process(STAMP_S + 0.2)
    process(STAMP_S + 0.4, arc_on=False)
    tracker(STAMP_S + 5.0 - 0.1)  # the last reading before the next arc: still the last seam's
    process(STAMP_S + 5.0)
    assert sensed_stamps(node) == []
    tracker(STAMP_S + 5.0)
    assert [c[0] for c in policy.calls] == ["reset", "reset", "act"]  # one reset per arc
    assert policy.calls[-1][1] == pytest.approx(node.tick_s)
    assert sensed_stamps(node) == [STAMP_S + 5.0]
