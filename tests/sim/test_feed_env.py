"""FeedEnv and the flow model: contract checkers, reproducibility, the twin's constants."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from cell_controller.core.baselines import FixedRateFeedPolicy
from cell_controller.sim.envs import feed_env
from cell_controller.sim.physics import flow
from cell_controller.sim.physics.flow import SCENARIOS, FlowModel, FlowParams, FlowParamsError, run_feed_policy


def test_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make(feed_env.ENV_ID, episode_s=60.0).unwrapped, skip_render_check=True)


def test_sb3_env_checker():
    from stable_baselines3.common.env_checker import check_env

    check_env(feed_env.FeedEnv(episode_s=60.0), warn=True)


def _rollout(seed: int, scenario: str = "shop") -> tuple[list, list]:
    env = feed_env.FeedEnv(scenario=scenario, episode_s=300.0)
    env.action_space.seed(123)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    done = False
    while not done:
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(r)
        done = term or trunc
    return observations, rewards


def test_seeded_episodes_are_reproducible():
    a, b, c = _rollout(5), _rollout(5), _rollout(6)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0])) and a[1] == b[1]
    assert a[1] != c[1]


def test_episode_truncates_after_episode_s():
    env = feed_env.FeedEnv(episode_s=50.0)
    env.reset(seed=0)
    for i in range(50):
        _, _, term, trunc, info = env.step(0)
        assert not term
    assert trunc and "episode_summary" in info


def test_flow_belt_matches_the_twin():
    """The twin imports the flow model's handling constants and blank pitch; the belt's length
    lives in the PyBullet layout (which the flow model must not import), so compare it."""
    from cell_controller.sim.twin import layout

    assert flow.CONVEYOR_LENGTH_MM == layout.CONVEYOR_LENGTH_MM


def test_twin_scenario_jam_hazard_ignores_speed():
    m = FlowModel(SCENARIOS["twin"], 0)
    m.set_conveyor_speed(400.0)
    assert m.jam_hazard_per_s() == pytest.approx(flow.JAM_PROBABILITY_WHEN_BLOCKED)
    m2 = FlowModel(SCENARIOS["nominal"], 0)
    m2.set_conveyor_speed(400.0)
    assert m2.jam_hazard_per_s() > m.jam_hazard_per_s()
    m2.set_conveyor_speed(0.0)
    assert m2.jam_hazard_per_s() == 0.0


def test_throughput_never_beats_the_bottleneck():
    p = SCENARIOS["nominal"]
    r = run_feed_policy(FixedRateFeedPolicy(5.0, 250.0), p, seed=1, duration_s=1800.0)
    assert r["parts_per_hour"] <= 3600.0 / (p.nominal_cycle_s * (1 - p.robot_cycle_spread)) + 1e-9


def test_flooding_the_buffer_jams_and_stopping_the_belt_does_not():
    p = SCENARIOS["twin"]
    flood = run_feed_policy(FixedRateFeedPolicy(10.0, 250.0), p, seed=2, duration_s=900.0)
    assert flood["jams"] > 0 and flood["blocked_s"] > 0

    class StopWhenFull:
        name = "stop_when_full"

        def reset(self):
            pass

        def act(self, o, dt):
            from cell_controller.core.types import FeedAction
            return FeedAction(0.0 if o.buffer_count >= o.buffer_capacity else 250.0, True)

    calm = run_feed_policy(StopWhenFull(), p, seed=2, duration_s=900.0)
    assert calm["jams"] == 0 and calm["parts"] >= flood["parts"]


def test_invalid_params_name_the_parameter():
    with pytest.raises(FlowParamsError, match="buffer_capacity"):
        FlowParams(buffer_capacity=0)
    with pytest.raises(ValueError, match="scenario"):
        feed_env.FeedEnv(scenario="nope")
