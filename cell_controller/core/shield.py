"""The safety shield between the welding policy and the actuators.

It clamps every action to the procedure limits and rate limits, and replaces a
non-finite action (or one computed from a non-finite observation) with the fallback
policy's action. Every intervention is counted and reported so the node can log it.
The shield is not a safety function in the ISO 13849 sense: the hardwired chain is.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, fields, replace

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
        if not _finite(observation):
            proposed, interventions = fallback_action, ["non_finite_observation"]
        elif not _finite(proposed):
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


def _finite(values: WeldObservation | WeldParameters) -> bool:
    """Every field is a finite number (a shallow look: `dataclasses.astuple` deep-copies every call)."""
    return all(math.isfinite(getattr(values, f.name)) for f in fields(values))


#: the bridges let a setpoint move this many times the rate limit over one device tick from the value
#: the device reports (which lags the policy by a tick or two): shielded actions pass, a rogue jump does not
SETPOINT_RATE_SLACK = 3.0


class SetpointGuard:
    """The bridge's own clamp and rate limit on every setpoint written to its device, whoever sent it.

    limits: setpoint name -> Limit (canonical units); rate_limits_per_s: name -> largest change per
    second of cell time; tick_s: the device's sample period in cell time. `counts` tallies what it did.
    """

    def __init__(self, limits: dict[str, Limit], rate_limits_per_s: dict[str, float], tick_s: float):
        self.limits, self.rate_limits_per_s, self.tick_s = limits, rate_limits_per_s, tick_s
        self.counts: Counter[str] = Counter()

    def guard(self, name: str, value: float, device_value: float | None) -> float:
        """`value` clamped to the limit and at most SETPOINT_RATE_SLACK ticks' worth of change from
        `device_value` (the setpoint the device holds now; None: unknown, no rate limit)."""
        limit = self.limits.get(name)
        if limit is not None and not limit.contains(value):
            value = limit.clamp(value)
            self.counts[f"clamped_{name}"] += 1
        rate = self.rate_limits_per_s.get(name)
        if rate is not None and device_value is not None:
            step = SETPOINT_RATE_SLACK * rate * self.tick_s
            if abs(value - device_value) > step:
                value = device_value + math.copysign(step, value - device_value)
                self.counts[f"rate_limited_{name}"] += 1
        return value
