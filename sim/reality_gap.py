"""Reality-gap parameter sets: how a real plant differs from the twin's models.

One `RealityGap` names every deviation of a plant from the models of `sim/physics` and
`sim/devices/models.py`, as a factor on a model value (1 = the model) or an offset from it
(0 = the model), with its physical meaning, unit and plausible range (`RealityGap.ranges`).
`NOMINAL` is the twin itself: every model given it behaves exactly as without it.

It is applied by constructor arguments, never globally: `WeldProcess(joint, seed, gap=...)`,
`TwinCell(config, world, gap=...)`. The same sets serve the plant process
(`cell-twin --plant`, the set the cell description's `plant.parameter_set` names), the RL
environments and their evaluation. This module imports neither PyBullet nor asyncua (nor numba).

Named sets (`GAPS`, `gap(name)`):

* ``nominal``: the twin (no gap).
* ``near``: a well-calibrated cell: a few per cent off the models, sensors within calibration.
* ``far``: a plant at the edge of what calibration allows, cooler than the model: lower arc
  efficiency and current, a thinner wire, a more conductive plate (less penetration, narrower
  bead), biased and noisier sensors, a late pool camera, a robot 0.6 mm off its path.
* ``hot``: a plant hotter than the model (higher arc efficiency and current, a less conductive
  plate): more penetration, nearer burn-through.

A parameter file (YAML, `read_parameters` / `write_parameters`; `cellctl calibrate` writes one) holds one
set as `reality_gap: {field: value}` (fields left out are the model's) and, free-form, how it was found
(`calibration`). The cell description's `twin.parameters` names one: the twin then welds as that plant;
`cellctl train weld --params FILE` trains on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from pathlib import Path
from typing import Any, Mapping

import yaml

from cell_controller.core.config import ConfigError, read_yaml

__all__ = ["RealityGap", "UnknownGapError", "NOMINAL", "GAPS", "RANDOM", "gap", "read_parameters",
           "write_parameters", "twin_parameters"]


def _deviation(identity: float, low: float, high: float) -> Any:
    """A field that defaults to the model (`identity`) and is plausible within [low, high]."""
    return field(default=identity, metadata={"range": (low, high)})


@dataclass(frozen=True)
class RealityGap:
    """A plant's deviations from the twin's models. Raises ValueError (naming the field, its value and
    its range) for a value outside its plausible range (`ranges`)."""

    #: the plant's arc thermal efficiency k (EN 1011-1; ISO/TR 17671-1) over the model's
    #: (`arc.ARC_EFFICIENCY_GMAW`, 0.8), 1: calorimetric GMAW values span k = 0.7..0.9
    arc_efficiency_factor: float = _deviation(1.0, 0.7 / 0.8, 0.9 / 0.8)
    #: the plate's thermal conductivity k_th over the model's (`thermal.MILD_STEEL`, 35 W/(m K)), 1:
    #: alloy content and the temperature mean taken move it by about +-20 %
    conductivity_factor: float = _deviation(1.0, 0.8, 1.2)
    #: the plate's thermal diffusivity alpha = k_th / (rho c) over the model's (about 7.4 mm^2/s), 1
    diffusivity_factor: float = _deviation(1.0, 0.8, 1.2)
    #: the wire's actual diameter minus the nominal 1.2 mm, mm (ISO 544 tolerance for solid wire
    #: >= 1 mm: +0.01 / -0.04 mm); a thinner wire carries less current and deposits less
    wire_diameter_error_mm: float = _deviation(0.0, -0.04, 0.01)
    #: the plant's welding current at a given wire feed and voltage over the model's characteristic
    #: (`arc.current_from_wire_feed`), 1: contact-tip wear, stick-out and wire cast, about +-10 %
    current_factor: float = _deviation(1.0, 0.9, 1.1)
    #: constant error of the seam tracker's seam-offset reading (laser line to TCP calibration), mm
    tracker_bias_mm: float = _deviation(0.0, -0.5, 0.5)
    #: standard deviation of the seam tracker's extra noise (spatter, reflections) on its gap and
    #: seam-offset readings, on top of the model's 0.05 mm, mm
    tracker_noise_mm: float = _deviation(0.0, 0.0, 0.3)
    #: the pool camera's latency beyond the model's 40 ms (frame transfer, image processing), s
    camera_latency_extra_s: float = _deviation(0.0, 0.0, 0.1)
    #: offset of the power source's current reading (shunt or Hall sensor calibration), A
    current_sensor_bias_A: float = _deviation(0.0, -10.0, 10.0)
    #: offset of the power source's voltage reading: read at its terminals, it includes the cable
    #: drop (0.5..1.5 V at 200..300 A on a robot's cable set), V
    voltage_sensor_bias_V: float = _deviation(0.0, -0.5, 2.0)
    #: lateral error of the robot's actual path from the programmed one, + = left of travel
    #: (TCP calibration, ISO 9283 path accuracy): the seam lies this much further right of the torch, mm
    robot_path_error_mm: float = _deviation(0.0, -1.0, 1.0)
    #: the machine's cycle-time spread over the model's (`flow.MACHINE_CYCLE_SPREAD`, +-10 %), 1
    machine_cycle_spread_factor: float = _deviation(1.0, 0.0, 3.0)

    def __post_init__(self) -> None:
        for name, (low, high) in self.ranges().items():
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise ValueError(f"RealityGap.{name} must be in [{low:g}, {high:g}], got {value!r}")

    @classmethod
    def draw(cls, rng) -> RealityGap:
        """A plant drawn from ``rng`` (a numpy Generator), every field uniform in its range (a domain
        randomisation's draw)."""
        return cls(**{name: float(rng.uniform(low, high)) for name, (low, high) in cls.ranges().items()})

    @classmethod
    def ranges(cls) -> dict[str, tuple[float, float]]:
        """Each field's plausible range [low, high] in its unit (what a domain randomisation may draw from)."""
        return {f.name: f.metadata["range"] for f in fields(cls)}


class UnknownGapError(LookupError):
    """No parameter set of that name; the message names it and the known sets."""


#: the twin itself: every model given it behaves exactly as without it
NOMINAL = RealityGap()

#: the named parameter sets (see the module docstring)
GAPS: Mapping[str, RealityGap] = MappingProxyType({
    "nominal": NOMINAL,
    "near": RealityGap(arc_efficiency_factor=0.95, conductivity_factor=1.05, diffusivity_factor=1.05,
                       wire_diameter_error_mm=-0.02, current_factor=0.97, tracker_bias_mm=0.2,
                       tracker_noise_mm=0.05, camera_latency_extra_s=0.02, current_sensor_bias_A=3.0,
                       voltage_sensor_bias_V=0.5, robot_path_error_mm=0.2, machine_cycle_spread_factor=1.5),
    "far": RealityGap(arc_efficiency_factor=0.875, conductivity_factor=1.15, diffusivity_factor=1.15,
                      wire_diameter_error_mm=-0.04, current_factor=0.92, tracker_bias_mm=0.5,
                      tracker_noise_mm=0.15, camera_latency_extra_s=0.06, current_sensor_bias_A=8.0,
                      voltage_sensor_bias_V=1.2, robot_path_error_mm=0.6, machine_cycle_spread_factor=2.5),
    "hot": RealityGap(arc_efficiency_factor=1.1, conductivity_factor=0.9, diffusivity_factor=0.9,
                      wire_diameter_error_mm=0.01, current_factor=1.05, current_sensor_bias_A=-4.0,
                      voltage_sensor_bias_V=0.8, machine_cycle_spread_factor=1.5),
})


#: the name that means "a plant drawn per weld from every field's range" (``RealityGap.draw``) where a set is named
RANDOM = "random"


def gap(name: str) -> RealityGap:
    """The parameter set called `name`; UnknownGapError naming it and the known sets."""
    try:
        return GAPS[name]
    except KeyError:
        raise UnknownGapError(f"unknown reality-gap parameter set {name!r} (known: {', '.join(GAPS)})") from None


#: the key of a parameter file that holds the set
PARAMETERS_KEY = "reality_gap"


def read_parameters(path: str | Path) -> RealityGap:
    """The set a parameter file holds; ConfigError naming the file, the key and why."""
    file = Path(path)
    data = read_yaml(file)
    if not isinstance(data, dict) or not isinstance(data.get(PARAMETERS_KEY), dict):
        raise ConfigError(file, PARAMETERS_KEY, "expected a mapping of reality-gap fields (a parameter file "
                                                "that cellctl calibrate writes)")
    values = data[PARAMETERS_KEY]
    known = RealityGap.ranges()
    for key, value in values.items():
        if key not in known:
            raise ConfigError(file, f"{PARAMETERS_KEY}.{key}", f"unknown field (known: {', '.join(known)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(file, f"{PARAMETERS_KEY}.{key}", f"expected a number, got {value!r}")
    try:
        return RealityGap(**{k: float(v) for k, v in values.items()})
    except ValueError as error:
        raise ConfigError(file, PARAMETERS_KEY, str(error)) from None


def twin_parameters(config) -> RealityGap:
    """The plant the twin of `config` (a CellConfig) welds as: its `twin.parameters` file, else the models."""
    return NOMINAL if config.twin_parameters is None else read_parameters(config.twin_parameters)


def write_parameters(path: str | Path, parameters: RealityGap, calibration: Mapping[str, Any]) -> None:
    """Write `parameters` and how they were found to a parameter file (atomically: all or nothing)."""
    file = Path(path)
    text = "# the twin's physical parameters (sim/reality_gap.py), for the cell description's twin.parameters\n" + \
        yaml.safe_dump({PARAMETERS_KEY: {f.name: getattr(parameters, f.name) for f in fields(parameters)},
                        "calibration": dict(calibration)}, sort_keys=False)
    partial = file.with_name(file.name + ".partial")
    partial.write_text(text)
    partial.replace(file)
