"""The one interface every policy implements: observation in, action out.

Baselines (`cell_controller.core.baselines`) and learned policies implement the same
protocols, so the policy node, the gym environments and the evaluation never know which
one they run.
"""
from __future__ import annotations

from typing import Protocol

from .types import FeedAction, FeedObservation, WeldObservation, WeldParameters

#: (welding, feeding) policy names of the baseline cell: the fixed recipe and fixed-rate feeding
BASELINE_POLICIES = ("fixed_recipe", "fixed_rate")
#: (welding, feeding) policy names of the autonomous cell: the shipped learned policies
AUTONOMOUS_POLICIES = ("learned_weld", "learned_feed")


class WeldPolicy(Protocol):
    """Chooses weld setpoints once per control tick from the weld sensors."""

    name: str

    def reset(self) -> None:
        """Forget any state: a new seam starts."""

    def act(self, observation: WeldObservation, dt_s: float) -> WeldParameters:
        """Setpoints for the next `dt_s` seconds of cell time."""


class FeedPolicy(Protocol):
    """Chooses conveyor speed and blank releases once per control tick."""

    name: str

    def reset(self) -> None:
        """Forget any state: a new shift starts."""

    def act(self, observation: FeedObservation, dt_s: float) -> FeedAction:
        """Feeder command for the next `dt_s` seconds of cell time."""
