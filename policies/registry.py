"""Policies by name, as the cell description's `policies.weld` and `policies.feed` name them."""
from __future__ import annotations

from cell_controller.core.config import CellConfig, ConfigError
from cell_controller.core.policy import FeedPolicy, WeldPolicy

from .baselines import FixedRateFeedPolicy, FixedRecipeWeldPolicy


def weld_policy(config: CellConfig) -> WeldPolicy:
    name = config.policies.weld
    if name == FixedRecipeWeldPolicy.name:
        return FixedRecipeWeldPolicy(config.procedure)
    raise ConfigError(config.path, "policies.weld", f"unknown welding policy {name!r} (known: fixed_recipe)")


def feed_policy(config: CellConfig) -> FeedPolicy:
    name = config.policies.feed
    if name == FixedRateFeedPolicy.name:
        return FixedRateFeedPolicy(config.feeding.feed_interval_s, config.feeding.conveyor_speed_mm_s)
    raise ConfigError(config.path, "policies.feed", f"unknown feeding policy {name!r} (known: fixed_rate)")


def weld_policy_fallback(config: CellConfig) -> WeldPolicy:
    """The verified controller the shield falls back on: the fixed recipe."""
    return FixedRecipeWeldPolicy(config.procedure)
