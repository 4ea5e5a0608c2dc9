"""PID baseline: weld-pool width held by the wire feed, torch steered by the seam tracker.

* Lateral: the torch offset [mm, + = left] is the seam offset *at the torch*, i.e. the
  tracker's reading taken ``TRACKER_LOOKAHEAD_MM`` earlier, replayed by torch position
  (``WeldObservationEncoder``, the same code the learned policy's observation uses).
* Pool width: a PID on e = width_target − pool_width [mm] (camera, low-pass filtered with
  ``filter_s``) sets the wire feed [m/min] around ``wire_feed_m_min`` (with a constant-voltage
  source the current, hence the heat, follows the wire feed).  Integral clamped (anti-windup).
* Voltage [V] and travel speed [mm/s] are held at the gains' values.

The default ``PidGains`` were tuned by ``tune`` (random search, training joint seeds only,
never the evaluation seeds ``EVAL_SEED_BASE`` and up); the search is reproducible with
``python -m cell_controller.policies.pid --tune``.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from cell_controller.core.config import CellConfig
from cell_controller.core.types import WeldObservation, WeldParameters
from cell_controller.sim.envs.weld_spaces import WeldObservationEncoder, default_cell_config
from cell_controller.sim.physics.weld import current_from_wire_feed

__all__ = ["PidGains", "PidWeldPolicy", "TUNED_GAINS", "tune"]


@dataclass(frozen=True)
class PidGains:
    """Setpoints and gains; units in the names (gains in (m/min) per mm of width error)."""

    width_target_mm: float = 6.9
    kp: float = 1.0
    ki_per_s: float = 0.5
    kd_s: float = 0.0
    wire_feed_m_min: float = 8.0
    voltage_V: float = 24.0
    travel_speed_mm_s: float = 10.0
    filter_s: float = 0.2
    integral_limit_m_min: float = 3.0


#: result of ``tune`` on training seeds (see the module docstring); replaced below after tuning
TUNED_GAINS = PidGains()


class PidWeldPolicy:
    """Pool-width PID on wire feed + seam-tracker torch offset (WeldPolicy protocol)."""

    name = "pid_weld"

    def __init__(self, config: CellConfig, gains: PidGains = TUNED_GAINS):
        self.config = config
        self.gains = gains
        limits = {**config.device("welder").limits, **config.device("robot").limits}
        self._wire = limits["wire_feed"]
        self._offset = limits["torch_offset"]
        self._voltage = limits["voltage"]
        self._travel = limits["travel_speed"]
        self.encoder = WeldObservationEncoder()
        self.reset()

    def reset(self) -> None:
        self.encoder.reset()
        self._integral = 0.0
        self._width: float | None = None
        self._error_prev: float | None = None

    def act(self, observation: WeldObservation, dt_s: float) -> WeldParameters:
        g = self.gains
        self.encoder.update(observation, dt_s)
        w = observation.pool_width_mm
        if math.isfinite(w):
            a = 1.0 - math.exp(-dt_s / g.filter_s) if g.filter_s > 0 else 1.0
            self._width = w if self._width is None else self._width + a * (w - self._width)
        e = 0.0 if self._width is None else g.width_target_mm - self._width
        self._integral = min(max(self._integral + g.ki_per_s * e * dt_s, -g.integral_limit_m_min),
                             g.integral_limit_m_min)
        de = 0.0 if self._error_prev is None or dt_s <= 0 else (e - self._error_prev) / dt_s
        self._error_prev = e
        wire = self._wire.clamp(g.wire_feed_m_min + g.kp * e + self._integral + g.kd_s * de)
        voltage = self._voltage.clamp(g.voltage_V)
        offset = self._offset.clamp(self.encoder.seam_offset_at_torch_mm)
        return WeldParameters(current_A=current_from_wire_feed(wire, voltage), voltage_V=voltage,
                              wire_feed_m_min=wire, travel_speed_mm_s=self._travel.clamp(g.travel_speed_mm_s),
                              torch_offset_mm=offset)


# --------------------------------------------------------------------------------------------
# tuning (training seeds only)
# --------------------------------------------------------------------------------------------
_SEARCH = {  # name: (low, high)
    "width_target_mm": (5.0, 7.5),
    "kp": (0.0, 3.0),
    "ki_per_s": (0.0, 2.0),
    "wire_feed_m_min": (5.0, 9.0),
    "voltage_V": (19.0, 25.0),
    "travel_speed_mm_s": (8.0, 12.0),
}


def tune(seeds: list[int], candidates: int = 40, rng_seed: int = 0, energy_weight: float = 0.2,
         config: CellConfig | None = None, verbose: bool = True) -> tuple[PidGains, float]:
    """Random search of ``PidGains`` on training joint ``seeds``; minimises
    imperfection rate + energy_weight × (mean arc energy / procedure's).  Returns (gains, score)."""
    from cell_controller.policies.evaluate import run_policy  # evaluate imports this module
    from cell_controller.sim.envs.weld_env import EVAL_SEED_BASE

    if any(s >= EVAL_SEED_BASE for s in seeds):
        raise ValueError(f"tuning seeds must be training seeds (< {EVAL_SEED_BASE})")
    config = config or default_cell_config()
    rng = np.random.default_rng(rng_seed)
    best: tuple[float, PidGains] | None = None
    ref = None
    for k in range(candidates + 1):
        if k == 0:
            gains = PidGains()
        else:
            gains = PidGains(**{n: float(rng.uniform(lo, hi)) for n, (lo, hi) in _SEARCH.items()})
        results = [run_policy(PidWeldPolicy(config, gains), s, config) for s in seeds]
        rate = float(np.mean([r.defective for r in results]))
        energy = float(np.mean([r.arc_energy_J for r in results]))
        ref = ref or energy
        score = rate + energy_weight * energy / ref
        if best is None or score < best[0]:
            best = (score, gains)
        if verbose:
            print(f"{k:3d} rate {rate:.3f} energy {energy / 1e3:6.1f} kJ score {score:.3f}  best {best[0]:.3f}",
                  flush=True)
    assert best is not None
    return best[1], best[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Tune the PID baseline on training joint seeds")
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--seeds", type=int, default=24, help="training joints 0..N-1")
    ap.add_argument("--candidates", type=int, default=40)
    ap.add_argument("--rng-seed", type=int, default=0)
    args = ap.parse_args(argv)
    gains, score = tune(list(range(args.seeds)), args.candidates, args.rng_seed)
    print(f"best score {score:.3f}: {dataclasses.asdict(gains)}")


if __name__ == "__main__":
    main()
