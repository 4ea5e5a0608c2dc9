"""The policy node acts once per welder sample, with the cell time between device stamps as its step; its
feeding on a flow model's statuses is the flow model's in-process run."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pytest

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.types import FeedAction, WeldObservation, WeldParameters
from cell_controller.nodes import topics
from cell_controller.nodes.codec import Codec
from cell_controller.nodes.policy import PolicyNode
from cell_controller.policies import registry
from cell_controller.core.baselines import FixedRecipeWeldPolicy
from cell_controller.policies.feed_evaluate import eval_seeds
from cell_controller.sim.physics.flow import SCENARIOS, STEP_S, FlowModel, FlowParams, episode_summary, run_feed_policy
from cell_controller.testing import private_cell_file

from harness import RecordingPublisher

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


@pytest.fixture
def config(tmp_path) -> CellConfig:
    """The shipped description at time scale 5: the welder's samples 0.1 s of cell time apart."""
    return load_cell(private_cell_file(tmp_path, "policy", lambda d: d["twin"].update(time_scale=5)))


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


# -- on an in-memory bus: feeding follows the supervisor, the shield's interventions are counted --------

class AlwaysRelease:
    """A feeding policy that wants a blank at every tick (the node decides whether it may)."""

    name = "always"

    def reset(self) -> None:
        pass

    def act(self, observation, dt_s: float):
        from cell_controller.core.types import FeedAction
        return FeedAction(conveyor_speed_mm_s=250.0, release_blank=True)


class NaNWeld:
    name = "nan"

    def reset(self) -> None:
        pass

    def act(self, observation, dt_s: float) -> WeldParameters:
        return WeldParameters(current_A=math.nan, voltage_V=math.nan, wire_feed_m_min=8.0, travel_speed_mm_s=10.0)


def _memory_policy_node(config: CellConfig, weld=None):
    from cell_controller.bus.memory import MemoryBus

    bus = MemoryBus()
    node = PolicyNode(bus.node("policy", config.namespace), config, weld or FixedRecipeWeldPolicy(config.procedure),
                      AlwaysRelease())
    probe = bus.node("probe", config.namespace)
    codec = Codec(probe)
    releases: list[dict[str, float]] = []
    probe.create_subscription(topics.INFEED.type, topics.INFEED.name,
                              lambda m: releases.append(Codec.read_array(topics.INFEED, m)), topics.INFEED.qos)
    feeder = probe.create_publisher(topics.device_status("feeder").type, topics.device_status("feeder").name,
                                    topics.device_status("feeder").qos)

    def feeder_status() -> None:  # the feeder's bridge, 10 Hz, stamped with cell time
        feeder.publish(codec.status("feeder", "Idle", 0, {"buffer_count": "0", "buffer_capacity": "3",
                                                          "stamp_s": f"{bus.time_s:.3f}"}))
    probe.create_timer(0.1, feeder_status)
    return bus, probe, codec, node, releases


def test_blanks_are_released_only_while_the_supervisor_lives_and_produces(config: CellConfig) -> None:
    bus, probe, codec, node, releases = _memory_policy_node(config)
    bus.advance(2.0)
    assert not any(r["release_blank"] for r in releases), "no supervisor: no blank"
    supervisor = bus.node("supervisor", config.namespace)
    state = supervisor.create_publisher(topics.CELL_STATE.type, topics.CELL_STATE.name, topics.CELL_STATE.qos)
    beat = supervisor.create_publisher(topics.HEARTBEAT.type, topics.HEARTBEAT.name, topics.HEARTBEAT.qos)
    beat.publish(supervisor.message(topics.HEARTBEAT.type)(data=1))
    state.publish(codec.status("cell", "Held", 0, {}))
    bus.advance(2.0)
    assert not any(r["release_blank"] for r in releases), "held: no blank"
    state.publish(codec.status("cell", "Execute", 0, {}))
    bus.advance(2.0)
    assert any(r["release_blank"] for r in releases)
    supervisor.kill()  # kill -9: its heartbeat's liveliness is gone
    releases.clear()
    bus.advance(2.0)
    assert not any(r["release_blank"] for r in releases)


def test_shield_interventions_are_counted_on_policy_status(config: CellConfig) -> None:
    bus, probe, codec, node, _ = _memory_policy_node(config, NaNWeld())
    heard: list[dict[str, str]] = []
    probe.create_subscription(topics.POLICY_STATUS.type, topics.POLICY_STATUS.name,
                              lambda m: heard.append(Codec.values(m)), topics.POLICY_STATUS.qos)
    for tick in range(5):
        stamp = STAMP_S + tick * node.tick_s
        node._on_tracker(codec.array(topics.SEAM_TRACKER, (1.2, 0.1, 0.3, 10.0, stamp)))
        node._on_process(codec.array(topics.WELD_PROCESS, (230.0, 24.0, 8.0, 5520.0, 8.0, 1.0, stamp)))
    bus.advance(1.5)
    assert heard and int(heard[-1]["non_finite_action"]) == 5 and int(heard[-1]["interventions"]) >= 5


# -- feeding in the loop is feeding in-process: the node on a flow model's statuses ------------------------

#: each way on the bus, s of cell time: a command reaches the model 0.22 s after the status it answers, and
#: acts from the third of the flow model's 0.1 s steps on (a step runs when its 0.1 s have passed), as
#: `FlowParams.feed_latency_s` (0.2 s) has it in-process
LOOP_LATENCY_S = 0.11


def feed_in_the_loop(config: CellConfig, feed, params: FlowParams, seed: int, duration_s: float) -> dict[str, float]:
    """`feed` in a PolicyNode on a memory bus whose clock is cell time, a FlowModel behind a stand-in for the
    feeder's bridge: its statuses every `params.status_period_s`, with the bridge's fields and Unix stamps;
    the node's infeed commands act on the model. The episode's figures (`episode_summary`)."""
    from cell_controller.bus.memory import MemoryBus

    bus = MemoryBus(latency_s=LOOP_LATENCY_S)
    PolicyNode(bus.node("policy", config.namespace), config, FixedRecipeWeldPolicy(config.procedure), feed)
    supervisor = bus.node("supervisor", config.namespace)
    codec = Codec(supervisor)
    supervisor.create_publisher(topics.HEARTBEAT.type, topics.HEARTBEAT.name, topics.HEARTBEAT.qos).publish(
        supervisor.message(topics.HEARTBEAT.type)(data=1))
    supervisor.create_publisher(topics.CELL_STATE.type, topics.CELL_STATE.name, topics.CELL_STATE.qos).publish(
        codec.status("cell", "Execute", 0, {}))
    bridge = bus.node("feeder_bridge", config.namespace)
    model = FlowModel(params, seed)

    def command(msg) -> None:
        fields = Codec.read_array(topics.INFEED, msg)
        model.apply(FeedAction(fields["conveyor_speed_mm_s"], fields["release_blank"] > 0.5))
    bridge.create_subscription(topics.INFEED.type, topics.INFEED.name, command, topics.INFEED.qos)
    t = topics.device_status("feeder")
    status = bridge.create_publisher(t.type, t.name, t.qos)

    def publish_status() -> None:  # as bridges/feeder.py FeederMapping.device_status writes them
        o = model.observation()
        status.publish(codec.status("feeder", "Idle", 0, {
            "fixture_part": "part-1" if o.part_at_fixture else "", "buffer_count": str(o.buffer_count),
            "buffer_capacity": str(o.buffer_capacity), "conveyor_speed_mm_s": repr(o.conveyor_speed_mm_s),
            "time_since_release_s": repr(o.time_since_last_feed_s), "blanks_released": str(model.blanks_released),
            "stamp_s": f"{STAMP_S + model.time_s:.6f}"}))

    def tick() -> None:
        model.step(STEP_S)
        if round(model.time_s / STEP_S) % params.status_ticks == 0:
            publish_status()
    bus.advance(0.0)  # the supervisor's state is in
    publish_status()
    bridge.create_timer(STEP_S, tick)
    bus.advance(duration_s + LOOP_LATENCY_S)
    return episode_summary(model, duration_s)


@pytest.mark.parametrize("name", ["learned_feed", "fixed_rate"])
def test_feeding_in_the_loop_matches_the_in_process_run(config: CellConfig, name: str) -> None:
    """The node's feeding on the flow model's statuses against `run_feed_policy` on the same episode (20 min of
    cell time): the same parts within 1 and the same releases within 2. Not exactly the same: the node's steps
    are differences of Unix stamps written to the microsecond, so the learned policy's belt tracker may see
    a blank reach the belt's end one status apart and decide once otherwise (on 10 episodes of 1 h, `shop` and
    `nominal`: no part and at most 2 releases apart)."""
    described = dataclasses.replace(config, policies=dataclasses.replace(config.policies, feed=name))
    params, seed, duration_s = SCENARIOS["shop"], eval_seeds(1)[0], 1200.0
    in_loop = feed_in_the_loop(described, registry.feed_policy(described), params, seed, duration_s)
    in_process = run_feed_policy(registry.feed_policy(described), params, seed, duration_s)
    print(name, "in the loop", in_loop, "in-process", in_process)
    assert in_process["parts"] >= 30
    assert abs(in_loop["parts"] - in_process["parts"]) <= 1
    assert abs(in_loop["blanks_released"] - in_process["blanks_released"]) <= 2
