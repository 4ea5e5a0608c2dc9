"""WeldEnv: the gymnasium and SB3 contracts, seeding, the action mapping and its agreement with the loop."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cell_controller.core.config import load_cell
from cell_controller.core.types import WeldObservation
from cell_controller.core.baselines import FixedRecipeWeldPolicy
from cell_controller.policies.evaluate import run_policy
from cell_controller.sim.envs import WELD_ENV_ID
from cell_controller.sim.envs.weld_env import EVAL_SEED_BASE, WeldEnv
from cell_controller.sim.envs.weld_spaces import (ACTION_DIM, OBS_DIM, OFFSET_RESIDUAL_MM, WeldActionMap,
                                                  WeldObservationEncoder)

CONFIG = load_cell(Path(__file__).resolve().parents[2] / "config" / "cell.yaml")
LIMITS = {**CONFIG.device("welder").limits, **CONFIG.device("robot").limits}


def test_registered_and_passes_the_gymnasium_and_sb3_checkers() -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(WELD_ENV_ID)
    assert env.observation_space.shape == (OBS_DIM,) and env.action_space.shape == (ACTION_DIM,)
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(WeldEnv(CONFIG), warn=True)
    env.close()


def rollout(env: WeldEnv, seed: int, n: int) -> tuple[list[np.ndarray], list[float], int]:
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [obs], []
    for _ in range(n):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return observations, rewards, info["joint_seed"]


def test_same_seed_same_episode_other_seed_other_joint() -> None:
    a = rollout(WeldEnv(CONFIG), 3, 25)
    b = rollout(WeldEnv(CONFIG), 3, 25)
    c = rollout(WeldEnv(CONFIG), 4, 25)
    assert a[2] == b[2] and a[2] != c[2]
    assert 0 <= a[2] < EVAL_SEED_BASE  # training never draws an evaluation joint
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0])) and a[1] == b[1]
    assert not np.array_equal(a[0][5], c[0][5])


def test_joint_seed_option_and_dt_argument() -> None:
    env = WeldEnv(CONFIG, dt_s=0.05)
    _, info = env.reset(options={"joint_seed": EVAL_SEED_BASE + 7})
    assert info["joint_seed"] == EVAL_SEED_BASE + 7
    env.step(np.zeros(ACTION_DIM, np.float32))
    assert env.process.time_s == pytest.approx(0.1)  # the arc-start step and one action step
    with pytest.raises(ValueError, match="dt_s"):
        WeldEnv(CONFIG, dt_s=0.5)
    with pytest.raises(ValueError, match="joint_seeds"):
        WeldEnv(CONFIG, joint_seeds=(5, 5))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=4, max_size=4), st.floats(-5.0, 5.0))
def test_every_action_maps_into_the_cell_limits(action: list[float], seam_mm: float) -> None:
    p = WeldActionMap(CONFIG).to_parameters(np.array(action), seam_mm)
    for field, limit in (("voltage_V", "voltage"), ("wire_feed_m_min", "wire_feed"), ("current_A", "current"),
                         ("travel_speed_mm_s", "travel_speed"), ("torch_offset_mm", "torch_offset")):
        assert LIMITS[limit].contains(getattr(p, field)), (field, getattr(p, field))


def test_action_zero_is_the_procedure_and_the_ends_are_the_limits() -> None:
    m = WeldActionMap(CONFIG)
    p0 = m.to_parameters(np.zeros(4))
    proc = CONFIG.procedure
    assert (p0.voltage_V, p0.wire_feed_m_min, p0.travel_speed_mm_s, p0.torch_offset_mm) == (
        proc.voltage_V, proc.wire_feed_m_min, proc.travel_speed_mm_s, 0.0)
    lo, hi = m.to_parameters(-np.ones(4), 0.5), m.to_parameters(np.ones(4), 0.5)
    assert lo.voltage_V == LIMITS["voltage"].low and hi.voltage_V == LIMITS["voltage"].high
    assert lo.travel_speed_mm_s == LIMITS["travel_speed"].low and hi.travel_speed_mm_s == LIMITS["travel_speed"].high
    assert lo.torch_offset_mm == pytest.approx(0.5 - OFFSET_RESIDUAL_MM)
    assert hi.wire_feed_m_min <= LIMITS["wire_feed"].high  # capped by the current limit too
    a = np.array([0.3, -0.4, 0.5, -0.2])
    np.testing.assert_allclose(m.to_action(m.to_parameters(a, 1.0), 1.0), a, atol=1e-12)


def test_env_applies_the_rate_limits_of_the_cell() -> None:
    env = WeldEnv(CONFIG)
    env.reset(seed=0)
    rates = CONFIG.policies.rate_limits_per_s
    previous = None
    for k in range(12):
        _, _, _, _, info = env.step(np.full(ACTION_DIM, 1.0 if k % 2 else -1.0, np.float32))
        p = info["parameters"]
        if previous is not None:
            assert abs(p.voltage_V - previous.voltage_V) <= rates["voltage"] * env.dt_s + 1e-9
            assert abs(p.wire_feed_m_min - previous.wire_feed_m_min) <= rates["wire_feed"] * env.dt_s + 1e-9
            assert abs(p.travel_speed_mm_s - previous.travel_speed_mm_s) <= rates["travel_speed"] * env.dt_s + 1e-9
        previous = p


def test_zero_action_episode_is_the_fixed_recipe_of_the_evaluation_loop() -> None:
    """Env and evaluation loop agree: action 0 (procedure, seam followed) on a joint whose seam
    stays within tracking reach gives the fixed recipe's energy and the episode ends at the seam end."""
    env = WeldEnv(CONFIG)
    env.reset(options={"joint_seed": 1})
    total, done = 0.0, False
    while not done:
        _, r, term, trunc, info = env.step(np.zeros(ACTION_DIM, np.float32))
        total += r
        done = term or trunc
    assert term and not trunc
    fixed = run_policy(FixedRecipeWeldPolicy(CONFIG.procedure), 1, CONFIG)
    assert info["arc_energy_J"] == pytest.approx(fixed.arc_energy_J, rel=1e-9)
    assert info["defective"] == (info["level"] in ("D", "fail"))


def test_encoder_replays_the_tracker_to_the_torch() -> None:
    enc = WeldObservationEncoder(lookahead_mm=30.0)
    for k in range(80):  # 1 mm per step; the seam steps from 0 to 2 mm at x = 40 mm
        x_ahead = (k + 1) * 1.0 + 30.0
        obs = WeldObservation(gap_mm=1.0, seam_offset_mm=2.0 if x_ahead >= 40.0 else 0.0, pool_width_mm=6.0,
                              actual_current_A=230.0, actual_voltage_V=24.0, actual_wire_feed_m_min=8.0,
                              travel_speed_mm_s=10.0, progress=0.1)
        enc.update(obs, 0.1)
        x_torch = (k + 1) * 1.0
        if x_torch <= 38.0:
            assert enc.seam_offset_at_torch_mm == pytest.approx(0.0)
        if x_torch >= 40.0:
            assert enc.seam_offset_at_torch_mm == pytest.approx(2.0)
    f = enc.features(obs, np.zeros(4))
    assert f.shape == (OBS_DIM,) and f.dtype == np.float32


def test_domain_randomisation_draws_a_plant_per_episode_without_changing_the_joints() -> None:
    from cell_controller.sim.reality_gap import GAPS, NOMINAL, RealityGap

    nominal, randomised, far = (WeldEnv(CONFIG, reality_gap=name) for name in ("nominal", "random", "far"))
    seeds_nominal = [nominal.reset(seed=4)[1]["joint_seed"]] + [nominal.reset()[1]["joint_seed"] for _ in range(2)]
    seeds_random, plants = [randomised.reset(seed=4)[1]["joint_seed"]], [randomised.plant]
    for _ in range(2):
        seeds_random.append(randomised.reset()[1]["joint_seed"])
        plants.append(randomised.plant)
    assert seeds_random == seeds_nominal and nominal.plant is NOMINAL  # the joints are the same episodes'
    assert len(set(plants)) == 3 and all(isinstance(p, RealityGap) and p != NOMINAL for p in plants)
    for plant in plants:  # every field inside its range (RealityGap checks it when built)
        for name, (low, high) in RealityGap.ranges().items():
            assert low <= getattr(plant, name) <= high
    again = WeldEnv(CONFIG, reality_gap="random")
    again.reset(seed=4)
    assert again.plant == plants[0]  # reproducible from the joint seed
    far.reset(seed=4)
    assert far.plant == GAPS["far"]
    with pytest.raises(ValueError, match="reality_gap: unknown reality-gap parameter set 'farr'"):
        WeldEnv(CONFIG, reality_gap="farr")
