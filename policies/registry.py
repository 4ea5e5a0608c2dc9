"""Policies by name, as the cell description's `policies.weld` and `policies.feed` name them."""
from __future__ import annotations

import zipfile
from pathlib import Path

from cell_controller.core.config import CellConfig, ConfigError
from cell_controller.core.policy import FeedPolicy, WeldPolicy

from cell_controller.core.baselines import FixedRateFeedPolicy, FixedRecipeWeldPolicy
from .inspection import WeldInspector
from .feed_learned import SHIPPED as FEED_SHIPPED
from .learned import SHIPPED_MODEL


#: policy name -> the model file it loads (None: nothing to load)
WELD_POLICIES: dict[str, Path | None] = {"fixed_recipe": None, "pid_weld": None, "learned_weld": SHIPPED_MODEL}
FEED_POLICIES: dict[str, Path | None] = {"fixed_rate": None, "learned_feed": FEED_SHIPPED}


def check_policies(config: CellConfig) -> None:
    """Refuse unknown policy names and model files that are missing or not a model archive (ConfigError),
    before any node starts."""
    for key, name, known in (("policies.weld", config.policies.weld, WELD_POLICIES),
                             ("policies.feed", config.policies.feed, FEED_POLICIES)):
        if name not in known:
            raise ConfigError(config.path, key, f"unknown policy {name!r} (known: {', '.join(known)})")
        model = known[name]
        if model is not None and not zipfile.is_zipfile(model):
            raise ConfigError(config.path, key, f"{model}: missing or not a model archive (a zip)")


def weld_policy(config: CellConfig) -> WeldPolicy:
    name = config.policies.weld
    if name == FixedRecipeWeldPolicy.name:
        return FixedRecipeWeldPolicy(config.procedure)
    if name == "pid_weld":  # pool-width PID + seam-tracker offset (policies/pid.py)
        from .pid import PidWeldPolicy
        return PidWeldPolicy(config)
    if name == "learned_weld":  # the shipped PPO welding policy (policies/shipped/weld_ppo.md)
        from .learned import LearnedWeldPolicy
        return LearnedWeldPolicy(config, SHIPPED_MODEL)
    raise ConfigError(config.path, "policies.weld",
                      f"unknown welding policy {name!r} (known: fixed_recipe, pid_weld, learned_weld)")


def feed_policy(config: CellConfig) -> FeedPolicy:
    name = config.policies.feed
    if name == FixedRateFeedPolicy.name:
        return FixedRateFeedPolicy(config.feeding.feed_interval_s, config.feeding.conveyor_speed_mm_s)
    if name == "learned_feed":  # the shipped PPO feeding policy (policies/shipped/feed_ppo.md)
        from .feed_learned import LearnedFeedPolicy
        return LearnedFeedPolicy.load()
    raise ConfigError(config.path, "policies.feed",
                      f"unknown feeding policy {name!r} (known: fixed_rate, learned_feed)")


def weld_policy_fallback(config: CellConfig) -> WeldPolicy:
    """The verified controller the shield falls back on: the fixed recipe."""
    return FixedRecipeWeldPolicy(config.procedure)


def inspector(config: CellConfig) -> WeldInspector:
    """The weld inspector `inspection.model` names (policies/inspection.py); ConfigError when its model
    file is missing."""
    from .inspection import SHIPPED_INSPECTION, HeatInputRule, LearnedInspector

    name = config.inspection.model
    if name == HeatInputRule.name:
        return HeatInputRule()
    if name == LearnedInspector.name:
        if not SHIPPED_INSPECTION.is_file():
            raise ConfigError(config.path, "inspection.model", f"{SHIPPED_INSPECTION}: the model file is missing")
        return LearnedInspector.load()
    raise ConfigError(config.path, "inspection.model", f"unknown inspector {name!r}")
