"""The safety shield between the welding policy and the actuators.

It clamps every action to the procedure limits and rate limits, and replaces a
non-finite action (or one computed from a non-finite observation) with the fallback
policy's action. Every intervention is counted and reported so the node can log it.
The shield is not a safety function in the ISO 13849 sense: the hardwired chain is.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import astuple, dataclass, fields, replace

from .config import Limit
from .policy import WeldPolicy
from .types import WeldObservation, WeldParameters

#: WeldParameters field -> limit name in the cell description
LIMITED_FIELDS = {
    "current_A": "current",
    "voltage_V": "voltage",
    "wire_feed_m_min": "wire_feed",
    "travel_speed_mm_s": "travel_speed",
    "torch_offset_mm": "torch_offset",
}


@dataclass(frozen=True)
class Shielded:
    """The action sent to the devices and what the shield did to get it."""

    action: WeldParameters
    interventions: tuple[str, ...]


class WeldShield:
    """Clamp, rate-limit and fall back; `counts` holds the interventions so far by kind."""

    def __init__(self, limits: dict[str, Limit], rate_limits_per_s: dict[str, float], fallback: WeldPolicy):
        self.limits = limits
        self.rate_limits_per_s = rate_limits_per_s
        self.fallback = fallback
        self.counts: Counter[str] = Counter()
        self._last: WeldParameters | None = None

    def reset(self, start: WeldParameters | None = None) -> None:
        """A new seam whose devices hold `start` at arc start (the first action is rate-limited
        from it); None: no previous action to rate-limit against."""
        self._last = start
        self.fallback.reset()

    def filter(self, proposed: WeldParameters, observation: WeldObservation, dt_s: float) -> Shielded:
        interventions: list[str] = []
        fallback_action = self.fallback.act(observation, dt_s)
        if not all(math.isfinite(v) for v in astuple(observation)):
            proposed, interventions = fallback_action, ["non_finite_observation"]
        elif not all(math.isfinite(v) for v in astuple(proposed)):
            proposed, interventions = fallback_action, ["non_finite_action"]
        values = {}
        for field in fields(WeldParameters):
            name = field.name
            value = getattr(proposed, name)
            limit = self.limits.get(LIMITED_FIELDS.get(name, ""))
            if limit is not None and not limit.contains(value):
                value = limit.clamp(value)
                interventions.append(f"clamped_{name}")
            rate = self.rate_limits_per_s.get(LIMITED_FIELDS.get(name, ""))
            if rate is not None and self._last is not None:
                previous = getattr(self._last, name)
                step = rate * dt_s
                if abs(value - previous) > step:
                    value = previous + math.copysign(step, value - previous)
                    interventions.append(f"rate_limited_{name}")
            values[name] = value
        action = replace(proposed, **values)
        self._last = action
        self.counts.update(interventions)
        return Shielded(action, tuple(interventions))
