"""The learned feeding policy: loads, acts, sees in the cell what it saw in training, beats fixed-rate
feeding where an untrained one does not; evaluation table."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from cell_controller.core.types import FeedAction, FeedObservation
from cell_controller.policies.feed_evaluate import (
    BufferRuleFeedPolicy,
    bottleneck_bound_pph,
    eval_seeds,
    evaluate_feed,
    to_markdown,
    tuned_fixed_rate,
)
from cell_controller.policies.feed_learned import (
    N_ACTIONS,
    SHIPPED,
    LearnedFeedPolicy,
    MlpActor,
    decode_action,
)
from cell_controller.policies.feed_train import load_hyperparams, new_model
from cell_controller.sim.envs.feed_env import FeedEnv
from cell_controller.sim.physics.flow import SCENARIOS, run_feed_policy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def learned() -> LearnedFeedPolicy:
    return LearnedFeedPolicy.load()


def test_decode_action_covers_stop_and_release():
    actions = [decode_action(a) for a in range(N_ACTIONS)]
    assert FeedAction(0.0, False) in actions and FeedAction(250.0, True) in actions
    with pytest.raises(ValueError, match="action"):
        decode_action(N_ACTIONS)


def test_shipped_policy_is_small():
    assert SHIPPED.is_file() and SHIPPED.stat().st_size <= 2 * 1024 * 1024


def test_policy_loads_and_acts(learned):
    learned.reset()
    obs = FeedObservation(0, 3, False, False, False, 0.0, 1e6)
    action = learned.act(obs, 0.1)
    assert isinstance(action, FeedAction) and 0.0 <= action.conveyor_speed_mm_s <= 400.0
    held = learned.act(obs, 0.1)  # between decisions: the speed is held, nothing released
    assert held == FeedAction(action.conveyor_speed_mm_s, False)


def test_cell_sees_what_training_saw(learned):
    """The env driven by the actor and the FeedPolicy wrapper in the node's loop give the same episode."""
    env = FeedEnv(scenario="shop", episode_s=600.0)
    obs, _ = env.reset(seed=0, options={"flow_seed": 42})
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(learned.actor(obs))
        done = term or trunc
    summary = run_feed_policy(learned, SCENARIOS["shop"], seed=42, duration_s=600.0)
    assert summary["parts"] == info["episode_summary"]["parts"]
    assert summary["jams"] == info["episode_summary"]["jams"]


def test_registry_builds_learned_feed():
    from cell_controller.core.config import load_cell
    from cell_controller.policies import registry

    config = load_cell(REPO / "config" / "cell.yaml")
    config = dataclasses.replace(config, policies=dataclasses.replace(config.policies, feed="learned_feed"))
    assert registry.feed_policy(config).name == "learned_feed"


def test_evaluation_table_on_a_few_seeds(learned):
    params = SCENARIOS["shop"]
    seeds = eval_seeds(4)
    figures = evaluate_feed({"fixed_rate": tuned_fixed_rate(params), "learned_feed": learned,
                             "buffer_rule": BufferRuleFeedPolicy()}, seeds, params, 1200.0, reference="fixed_rate")
    table = to_markdown(figures, bottleneck_bound_pph(params, seeds), "fixed_rate")
    assert table.count("\n") == 2 + 3
    for f in figures:
        assert f.pph[1] <= f.pph[0] <= f.pph[2]
        assert np.all(f.per_episode_pph >= 0)
    assert figures[0].ratio[0] == pytest.approx(1.0)


#: throughput the shipped policy must reach on the validation episodes, as a multiple of fixed-rate feeding's
#: (its model card: 1.16x on 200 episodes of `shop`)
MIN_THROUGHPUT_RATIO = 1.10


def test_shipped_policy_beats_fixed_rate_feeding_and_an_untrained_one_does_not(learned):
    """On the first 8 held-out episodes of `shop` (1 h each): the shipped policy makes at least 1.10x the
    parts of fixed-rate feeding tuned to the nominal cycle; the same network freshly built (feed.yml,
    seed 0) behind the same wrapper does not."""
    params = SCENARIOS["shop"]
    untrained = LearnedFeedPolicy(MlpActor.from_sb3(new_model(FeedEnv(), load_hyperparams("ppo"), seed=0)))
    figures = evaluate_feed({"fixed_rate": tuned_fixed_rate(params), "shipped": learned, "untrained": untrained},
                            eval_seeds(8), params, 3600.0, reference="fixed_rate")
    ratio = {f.name: f.pph[0] / figures[0].pph[0] for f in figures}
    print(to_markdown(figures, bottleneck_bound_pph(params, eval_seeds(8)), "fixed_rate"))
    assert ratio["shipped"] >= MIN_THROUGHPUT_RATIO
    assert ratio["untrained"] < MIN_THROUGHPUT_RATIO
