"""Baseline policies: the fixed welding recipe and fixed-rate feeding.

They use only core types, and the twin (``sim``), the policies, the nodes and the safety shield's
fallback all need them, so they live in core: imports point one way (core ← sim ← policies).
"""
from __future__ import annotations

from .config import Procedure
from .types import FeedAction, FeedObservation, WeldObservation, WeldParameters


class FixedRecipeWeldPolicy:
    """Always the welding procedure's setpoints, whatever the sensors say."""

    name = "fixed_recipe"

    def __init__(self, procedure: Procedure):
        self.action = WeldParameters(
            current_A=procedure.current_A,
            voltage_V=procedure.voltage_V,
            wire_feed_m_min=procedure.wire_feed_m_min,
            travel_speed_mm_s=procedure.travel_speed_mm_s,
            torch_offset_mm=procedure.torch_offset_mm,
        )

    def reset(self) -> None:
        """Stateless."""

    def act(self, observation: WeldObservation, dt_s: float) -> WeldParameters:
        return self.action


class FixedRateFeedPolicy:
    """Release one blank every `interval_s` of cell time at a constant conveyor speed."""

    name = "fixed_rate"

    def __init__(self, interval_s: float, conveyor_speed_mm_s: float):
        self.interval_s = interval_s
        self.conveyor_speed_mm_s = conveyor_speed_mm_s

    def reset(self) -> None:
        """Stateless: the feeder reports the time since its last release."""

    def act(self, observation: FeedObservation, dt_s: float) -> FeedAction:
        return FeedAction(self.conveyor_speed_mm_s, observation.time_since_last_feed_s >= self.interval_s)
