"""Units accepted in the cell description and their conversion to the cell's canonical units.

Every physical value in the cell description carries a unit. Each quantity has one
canonical unit (the one the code uses, named in the variable names); other units of the
same dimension are converted on load.
"""
from __future__ import annotations

#: unit -> (dimension, factor to the dimension's canonical unit)
UNITS: dict[str, tuple[str, float]] = {
    "Hz": ("frequency", 1.0),
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "min": ("time", 60.0),
    "A": ("current", 1.0),
    "V": ("voltage", 1.0),
    "mm/s": ("speed", 1.0),
    "m/min": ("speed", 1000.0 / 60.0),
    "mm": ("length", 1.0),
    "m": ("length", 1000.0),
    "deg": ("angle", 1.0),
    "deg/s": ("angular_speed", 1.0),
    "L/min": ("gas_flow", 1.0),
    "kJ": ("energy", 1.0),
    "J": ("energy", 1e-3),
    "W": ("power", 1.0),
    "kW": ("power", 1000.0),
    "parts": ("count", 1.0),
    "1": ("ratio", 1.0),
}

CANONICAL = {
    "frequency": "Hz",
    "time": "s",
    "current": "A",
    "voltage": "V",
    "speed": "mm/s",
    "length": "mm",
    "angle": "deg",
    "angular_speed": "deg/s",
    "gas_flow": "L/min",
    "energy": "kJ",
    "power": "W",
    "count": "parts",
    "ratio": "1",
}


class UnitError(ValueError):
    """A unit is unknown or of the wrong dimension for its key."""


def dimension(unit: str) -> str:
    """The dimension of `unit` (e.g. 'speed' for 'm/min'); UnitError if unknown."""
    try:
        return UNITS[unit][0]
    except KeyError:
        known = ", ".join(sorted(UNITS))
        raise UnitError(f"unknown unit {unit!r} (known: {known})") from None


def to_canonical(value: float, unit: str, expected_dimension: str | None = None) -> float:
    """Convert `value` in `unit` to its dimension's canonical unit.

    Raises UnitError when the unit is unknown or not of `expected_dimension`.
    Wire feed speed is the one speed the cell keeps in m/min (as power sources do): use
    `speed_to_m_min` for it.
    """
    dim, factor = UNITS.get(unit, (None, 0.0))
    if dim is None:
        dimension(unit)
    if expected_dimension is not None and dim != expected_dimension:
        raise UnitError(
            f"unit {unit!r} is a {dim}, expected a {expected_dimension} "
            f"(e.g. {CANONICAL[expected_dimension]!r})"
        )
    return value * factor


def speed_to_m_min(value: float, unit: str) -> float:
    """Convert a speed to m/min (wire feed speed's customary unit); a value in m/min is kept exactly."""
    mm_s = to_canonical(value, unit, "speed")
    return float(value) if unit == "m/min" else mm_s * 60.0 / 1000.0
