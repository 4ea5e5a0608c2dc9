"""Observation and action mapping of the welding agent, shared by ``WeldEnv`` and the deployed policies.

Pure numpy (no gymnasium): the learned policy in the policy node and the training env
run exactly this code, so what the network sees and does in training is what it sees and
does in the cell.

Observation (``OBS_FIELDS``, float32, each normalised by a fixed centre and scale, clipped
to ±``OBS_CLIP``):

* the laser-line tracker's gap [mm] and seam offset [mm, + = left] ``TRACKER_LOOKAHEAD_MM``
  ahead of the torch, as read now;
* the same two readings *at the torch*: the tracker readings taken when the point under the
  torch was ahead of it, replayed by the torch position (integrated travel, mm);
* weld-pool width [mm] (camera), actual current [A], voltage [V], wire feed [m/min] (power
  source), travel speed [mm/s], progress along the seam (0..1);
* the previous applied setpoints (voltage, wire feed, travel speed, torch offset) in action
  units (see below).

Action (``ACTION_FIELDS``, 4 values in [-1, 1]): voltage, wire feed, travel speed and
lateral torch offset as *adjustments of the welding procedure*.  For voltage, wire feed
and travel speed 0 is the procedure's setpoint, -1 the device's lower limit and +1 its
upper limit (piecewise linear, the limits of config/cell.yaml).  The torch offset is an
adjustment of ±``OFFSET_RESIDUAL_MM`` around the seam *at the torch* as the tracker saw it
(0 = follow the tracked seam), clamped to the robot's torch-offset limit.  Wire feed is
further capped so that the expected CV current stays within the welder's current limit.  The result goes through the same
``WeldShield`` (clamp + rate limits per second of cell time) as in the policy node.
"""
from __future__ import annotations

import math
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cell_controller.core.config import CellConfig, Limit, load_cell
from cell_controller.core.shield import WeldShield
from cell_controller.core.types import WeldObservation, WeldParameters
from cell_controller.core.baselines import FixedRecipeWeldPolicy
from cell_controller.sim.physics.arc import TRACKER_LOOKAHEAD_MM, current_from_wire_feed

__all__ = [
    "ACTION_FIELDS",
    "OBS_FIELDS",
    "OBS_CLIP",
    "OBS_DIM",
    "ACTION_DIM",
    "OFFSET_RESIDUAL_MM",
    "default_cell_config",
    "WeldActionMap",
    "WeldObservationEncoder",
    "WeldControlInterface",
]

#: action components, in order, as WeldParameters fields
ACTION_FIELDS = ("voltage_V", "wire_feed_m_min", "travel_speed_mm_s", "torch_offset_mm")
#: cell-description limit name of each action component
_LIMIT_NAMES = {"voltage_V": "voltage", "wire_feed_m_min": "wire_feed", "travel_speed_mm_s": "travel_speed",
                "torch_offset_mm": "torch_offset"}
ACTION_DIM = len(ACTION_FIELDS)
#: torch-offset action ±1 ↔ ± this many mm around the tracked seam at the torch
OFFSET_RESIDUAL_MM = 1.0

#: observation components: (name, centre, scale) → (value − centre) / scale
_OBS_NORM = (
    ("tracker_gap_mm", 1.2, 0.6),
    ("tracker_seam_offset_mm", 0.0, 3.0),
    ("gap_at_torch_mm", 1.2, 0.6),
    ("seam_offset_at_torch_mm", 0.0, 3.0),
    ("pool_width_mm", 6.0, 2.0),
    ("actual_current_A", 230.0, 80.0),
    ("actual_voltage_V", 24.0, 6.0),
    ("actual_wire_feed_m_min", 8.0, 5.0),
    ("travel_speed_mm_s", 10.0, 5.0),
    ("progress", 0.5, 0.5),
)
OBS_FIELDS = tuple(n for n, _, _ in _OBS_NORM) + tuple(f"previous_{f}" for f in ACTION_FIELDS)
OBS_DIM = len(OBS_FIELDS)
OBS_CLIP = 5.0
_CENTRE = np.array([c for _, c, _ in _OBS_NORM], dtype=np.float64)
_SCALE = np.array([s for _, _, s in _OBS_NORM], dtype=np.float64)


def default_cell_config() -> CellConfig:
    """config/cell.yaml of the checkout this module lives in, else the installed package's copy."""
    here = Path(__file__).resolve().parents[2] / "config" / "cell.yaml"
    return load_cell(here if here.exists() else Path(sys.prefix) / "share/cell_controller/config/cell.yaml")


@dataclass(frozen=True)
class _Axis:
    nominal: float
    low: float
    high: float

    def to_value(self, a: float) -> float:
        a = min(max(a, -1.0), 1.0)
        return self.nominal + a * ((self.high - self.nominal) if a >= 0 else (self.nominal - self.low))

    def to_action(self, value: float) -> float:
        if value >= self.nominal:
            span = self.high - self.nominal
        else:
            span = self.nominal - self.low
        return 0.0 if span <= 0 else min(max((value - self.nominal) / span, -1.0), 1.0)


class WeldActionMap:
    """Normalised action in [-1, 1]^4 ↔ ``WeldParameters`` within the cell's device limits.

    0 maps to the procedure (config ``procedure``), ±1 to the device limits (``devices.*.limits``);
    the torch offset is ``seam_offset_mm`` ± ``OFFSET_RESIDUAL_MM`` (see the module docstring).
    """

    def __init__(self, config: CellConfig):
        limits: dict[str, Limit] = {**config.device("welder").limits, **config.device("robot").limits}
        p = config.procedure
        nominal = {"voltage_V": p.voltage_V, "wire_feed_m_min": p.wire_feed_m_min,
                   "travel_speed_mm_s": p.travel_speed_mm_s, "torch_offset_mm": p.torch_offset_mm}
        self.limits = limits
        self.axes: dict[str, _Axis] = {}
        for name in ACTION_FIELDS:
            lim = limits.get(_LIMIT_NAMES[name])
            if lim is None:
                raise ValueError(f"the cell description has no limit {_LIMIT_NAMES[name]!r} for the action {name}")
            if not lim.contains(nominal[name]):
                raise ValueError(f"procedure {name}={nominal[name]} is outside its limit [{lim.low}, {lim.high}]")
            self.axes[name] = _Axis(nominal[name], lim.low, lim.high)
        self.current_limit = limits.get("current")

    def to_parameters(self, action: np.ndarray, seam_offset_mm: float = 0.0) -> WeldParameters:
        """Setpoints for a normalised action (values outside [-1, 1] are clipped; NaN propagates);
        ``seam_offset_mm`` [mm, + = left]: the tracked seam at the torch."""
        a = np.asarray(action, dtype=np.float64).reshape(ACTION_DIM)
        if not np.all(np.isfinite(a)):
            nan = math.nan
            return WeldParameters(nan, nan, nan, nan, nan)
        v = {name: self.axes[name].to_value(float(a[i])) for i, name in enumerate(ACTION_FIELDS[:3])}
        off = self.axes["torch_offset_mm"]
        v["torch_offset_mm"] = min(max(seam_offset_mm + OFFSET_RESIDUAL_MM * min(max(float(a[3]), -1.0), 1.0),
                                       off.low), off.high)
        U, W = v["voltage_V"], v["wire_feed_m_min"]
        if self.current_limit is not None:  # a CV source's current follows the wire feed: cap the wire feed
            w_max = (self.current_limit.high - current_from_wire_feed(0.0, U)) / 20.0
            w_min = (self.current_limit.low - current_from_wire_feed(0.0, U)) / 20.0
            W = min(max(W, w_min, self.axes["wire_feed_m_min"].low), w_max, self.axes["wire_feed_m_min"].high)
        current_A = current_from_wire_feed(W, U)
        if self.current_limit is not None:  # the cap above holds up to rounding: keep it exact
            current_A = self.current_limit.clamp(current_A)
        return WeldParameters(current_A=current_A, voltage_V=U, wire_feed_m_min=W,
                              travel_speed_mm_s=v["travel_speed_mm_s"], torch_offset_mm=v["torch_offset_mm"])

    def to_action(self, params: WeldParameters, seam_offset_mm: float = 0.0) -> np.ndarray:
        """The normalised action of ``params`` (clipped to [-1, 1]); inverse of ``to_parameters``."""
        a = [self.axes[n].to_action(getattr(params, n)) for n in ACTION_FIELDS[:3]]
        a.append(min(max((params.torch_offset_mm - seam_offset_mm) / OFFSET_RESIDUAL_MM, -1.0), 1.0))
        return np.array(a, dtype=np.float64)


class WeldObservationEncoder:
    """Sensor readings → normalised feature vector (``OBS_FIELDS``); stateful over one seam.

    Keeps the tracker readings of the last ``TRACKER_LOOKAHEAD_MM`` so that the gap and
    seam offset *at the torch* are known: the torch position is integrated from the
    observed travel speed [mm/s] over ``dt_s`` [s of cell time].
    """

    def __init__(self, lookahead_mm: float = TRACKER_LOOKAHEAD_MM):
        self.lookahead_mm = float(lookahead_mm)
        self.reset()

    def reset(self) -> None:
        self.position_mm = 0.0
        self._buffer: deque[tuple[float, float, float]] = deque()  # (seam x [mm], gap, offset)
        self.gap_at_torch_mm = 0.0
        self.seam_offset_at_torch_mm = 0.0

    def _at_torch(self) -> tuple[float, float]:
        buf, x = self._buffer, self.position_mm
        while len(buf) >= 2 and buf[1][0] <= x:
            buf.popleft()
        x0, g0, o0 = buf[0]
        if len(buf) == 1 or x <= x0:
            return g0, o0
        x1, g1, o1 = buf[1]
        t = (x - x0) / (x1 - x0) if x1 > x0 else 1.0
        return g0 + t * (g1 - g0), o0 + t * (o1 - o0)

    def update(self, observation: WeldObservation, dt_s: float) -> None:
        """Advance the torch position by the step just welded and store the tracker reading."""
        self.position_mm += max(0.0, observation.travel_speed_mm_s) * dt_s
        x_seen = self.position_mm + self.lookahead_mm
        if not self._buffer or x_seen > self._buffer[-1][0]:
            self._buffer.append((x_seen, observation.gap_mm, observation.seam_offset_mm))
        self.gap_at_torch_mm, self.seam_offset_at_torch_mm = self._at_torch()

    def features(self, observation: WeldObservation, previous_action: np.ndarray) -> np.ndarray:
        """The normalised vector of the current state (call ``update`` first)."""
        o = observation
        raw = np.array([o.gap_mm, o.seam_offset_mm, self.gap_at_torch_mm, self.seam_offset_at_torch_mm,
                        o.pool_width_mm, o.actual_current_A, o.actual_voltage_V, o.actual_wire_feed_m_min,
                        o.travel_speed_mm_s, o.progress], dtype=np.float64)
        x = np.concatenate([(raw - _CENTRE) / _SCALE, np.asarray(previous_action, dtype=np.float64)])
        x = np.nan_to_num(x, nan=0.0, posinf=OBS_CLIP, neginf=-OBS_CLIP)
        return np.clip(x, -OBS_CLIP, OBS_CLIP).astype(np.float32)


class WeldControlInterface:
    """The agent's side of the loop: features from observations, setpoints from actions.

    ``observe`` then ``act`` once per control tick.  Setpoints pass through a ``WeldShield``
    with the cell's limits and rate limits (the same class as the policy node's), so a
    deployed policy's output is already what the node's shield lets through.
    """

    def __init__(self, config: CellConfig):
        self.config = config
        self.action_map = WeldActionMap(config)
        self.encoder = WeldObservationEncoder()
        limits = {**config.device("welder").limits, **config.device("robot").limits}
        # rate limits a hair (1e-9) inside the cell's, so that rounding of previous + step never makes the
        # node's own shield (same class, same limits) count a no-op intervention
        rates = {k: v * (1.0 - 1e-9) for k, v in config.policies.rate_limits_per_s.items()}
        self.shield = WeldShield(limits, rates, FixedRecipeWeldPolicy(config.procedure))
        self.nominal = FixedRecipeWeldPolicy(config.procedure).action
        self.reset()

    def reset(self) -> None:
        self.encoder.reset()
        self.shield.reset(self.nominal)
        self.applied = self.nominal  # the arc starts on the procedure's setpoints
        self._observation: WeldObservation | None = None

    def observe(self, observation: WeldObservation, dt_s: float) -> np.ndarray:
        """Features after a step of ``dt_s`` [s] that ended with ``observation``."""
        self.encoder.update(observation, dt_s)
        self._observation = observation
        seam = self.encoder.seam_offset_at_torch_mm
        return self.encoder.features(observation, self.action_map.to_action(self.applied, seam))

    def act(self, action: np.ndarray, dt_s: float) -> WeldParameters:
        """Setpoints for the next ``dt_s`` [s] from a normalised action (mapped, clamped, rate-limited)."""
        if self._observation is None:
            raise RuntimeError("observe() before act()")
        proposed = self.action_map.to_parameters(action, self.encoder.seam_offset_at_torch_mm)
        shielded = self.shield.filter(proposed, self._observation, dt_s)
        self.applied = shielded.action
        return self.applied
