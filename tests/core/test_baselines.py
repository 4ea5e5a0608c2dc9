"""Baseline policies and the policy registry, built from the real cell description."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cell_controller.core.config import ConfigError, load_cell
from cell_controller.core.policy import AUTONOMOUS_POLICIES, BASELINE_POLICIES
from cell_controller.core.types import FeedObservation, WeldObservation, WeldParameters
from cell_controller.policies import registry
from cell_controller.core.baselines import FixedRateFeedPolicy, FixedRecipeWeldPolicy

CONFIG = load_cell(Path(__file__).resolve().parents[2] / "config" / "cell.yaml")

OBS = WeldObservation(gap_mm=0.5, seam_offset_mm=0.1, pool_width_mm=6.0, actual_current_A=230.0,
                      actual_voltage_V=24.0, actual_wire_feed_m_min=8.0, travel_speed_mm_s=7.0, progress=0.3)


def feed_obs(since_s: float) -> FeedObservation:
    return FeedObservation(buffer_count=1, buffer_capacity=3, part_at_fixture=False, robot_busy=True,
                           machine_busy=False, conveyor_speed_mm_s=0.0, time_since_last_feed_s=since_s)


def test_fixed_recipe_returns_the_procedure_whatever_the_sensors_say() -> None:
    p = CONFIG.procedure
    policy = FixedRecipeWeldPolicy(p)
    expected = WeldParameters(current_A=p.current_A, voltage_V=p.voltage_V, wire_feed_m_min=p.wire_feed_m_min,
                              travel_speed_mm_s=p.travel_speed_mm_s, torch_offset_mm=p.torch_offset_mm)
    for observation in (OBS, replace(OBS, gap_mm=2.5, seam_offset_mm=-1.5), replace(OBS, pool_width_mm=math.nan)):
        for dt in (0.02, 1.0):
            assert policy.act(observation, dt) == expected
    policy.reset()
    assert policy.act(OBS, 0.02) == expected
    assert policy.name == "fixed_recipe"


def test_fixed_recipe_follows_a_different_procedure() -> None:
    procedure = replace(CONFIG.procedure, voltage_V=21.5, torch_offset_mm=-0.5)
    action = FixedRecipeWeldPolicy(procedure).act(OBS, 0.02)
    assert (action.voltage_V, action.torch_offset_mm) == (21.5, -0.5)


def test_fixed_rate_releases_exactly_at_the_interval() -> None:
    interval = 36.0
    policy = FixedRateFeedPolicy(interval, 250.0)
    for since, release in [(0.0, False), (35.999, False), (math.nextafter(36.0, 0.0), False), (36.0, True),
                           (36.001, True), (1e6, True), (math.inf, True)]:
        action = policy.act(feed_obs(since), 0.02)
        assert action.release_blank is release, since
        assert action.conveyor_speed_mm_s == 250.0


@settings(max_examples=200, deadline=None, derandomize=True)
@given(interval=st.floats(0.1, 1000.0), since=st.floats(0.0, 2000.0), speed=st.floats(0.0, 400.0))
def test_fixed_rate_property(interval: float, since: float, speed: float) -> None:
    action = FixedRateFeedPolicy(interval, speed).act(feed_obs(since), 0.02)
    assert action.release_blank == (since >= interval)
    assert action.conveyor_speed_mm_s == speed


def test_registry_builds_the_baselines_the_description_configures() -> None:
    config = replace(CONFIG, policies=replace(CONFIG.policies, weld=BASELINE_POLICIES[0], feed=BASELINE_POLICIES[1]))
    weld = registry.weld_policy(config)
    feed = registry.feed_policy(config)
    assert isinstance(weld, FixedRecipeWeldPolicy) and weld.name == config.policies.weld
    assert isinstance(feed, FixedRateFeedPolicy) and feed.name == config.policies.feed
    assert feed.interval_s == CONFIG.feeding.feed_interval_s
    assert feed.conveyor_speed_mm_s == CONFIG.feeding.conveyor_speed_mm_s
    fallback = registry.weld_policy_fallback(replace(CONFIG, policies=replace(CONFIG.policies, weld="ppo_v3")))
    assert fallback.act(OBS, 0.02) == weld.act(OBS, 0.02)


def test_the_shipped_description_runs_the_autonomous_cell() -> None:
    assert (CONFIG.policies.weld, CONFIG.policies.feed) == AUTONOMOUS_POLICIES
    assert registry.weld_policy(CONFIG).name == "learned_weld" and registry.feed_policy(CONFIG).name == "learned_feed"


def test_unknown_weld_policy_names_the_key() -> None:
    config = replace(CONFIG, policies=replace(CONFIG.policies, weld="ppo_v3"))
    with pytest.raises(ConfigError) as info:
        registry.weld_policy(config)
    assert info.value.key == "policies.weld"
    assert info.value.file == str(CONFIG.path)
    assert "ppo_v3" in info.value.reason
    assert str(info.value).startswith(f"{CONFIG.path}: policies.weld: ")


def test_unknown_feed_policy_names_the_key() -> None:
    config = replace(CONFIG, policies=replace(CONFIG.policies, feed="smart"))
    with pytest.raises(ConfigError) as info:
        registry.feed_policy(config)
    assert info.value.key == "policies.feed" and "smart" in info.value.reason
