"""The process model's constants and closed-form formulas: arc, heat input, deposit, root, sensors.

Plain Python, and callable from the process kernel (``weld_kernel``, numba) as they are
(``register_jitable``), so each is declared once. ``weld``'s docstring gives their physics and
sources. Units are in the names: V, A, m/min for wire feed, mm/s, mm, J/mm, mm².
"""
from __future__ import annotations

import math

from numba.extending import register_jitable

__all__ = ["ARC_EFFICIENCY_GMAW", "DEPOSITION_EFFICIENCY", "TRACKER_LOOKAHEAD_MM", "GAP_ARC_DEPTH_FACTOR",
           "JOINT_THERMAL_FACTOR", "SURFACE_TENSION_N_M", "LIQUID_DENSITY_KG_M3", "ARC_RADIUS_MM", "MU0",
           "current_from_wire_feed", "heat_input_J_mm", "deposit_area_mm2"]

ARC_EFFICIENCY_GMAW = 0.8  # EN 1011-1 thermal efficiency factor k
DEPOSITION_EFFICIENCY = 0.95  # ε, GMAW solid wire 0.9..0.98
#: the laser-line seam tracker reads gap and seam offset this far ahead of the torch, mm
TRACKER_LOOKAHEAD_MM = 30.0
GAP_ARC_DEPTH_FACTOR = 1.0  # the fused zone shifts down by this × gap (arc burning into the open root)
#: thermal thickness of the joint / plate thickness: 1.0 for the butt joint.  A single-run fillet on a
#: T-joint sinks heat into three legs (EN 1011-2 Annex D, 2-D shape factor F2 = 0.67, i.e. t / 0.67 ≈ 1.5 t)
JOINT_THERMAL_FACTOR = 1.0
SURFACE_TENSION_N_M = 1.8  # liquid steel (≈ 1.6–1.9 N/m)
LIQUID_DENSITY_KG_M3 = 7000.0
ARC_RADIUS_MM = 3.0  # spray-arc radius for the arc pressure
MU0 = 4e-7 * math.pi


@register_jitable
def current_from_wire_feed(wire_feed_m_min: float, voltage_V: float = 24.0, wire_diameter_mm: float = 1.2) -> float:
    """Welding current [A] of the CV arc for wire feed [m/min] and voltage [V] (1.2 mm G3Si1 fit).

    Other wire diameters scale the WFS term by the wire cross-section (same
    current density at the same melting rate), a rough first-order scaling.
    """
    s = (wire_diameter_mm / 1.2) ** 2
    return 70.0 + 20.0 * wire_feed_m_min * s + 3.0 * (voltage_V - 24.0)


def heat_input_J_mm(voltage_V: float, current_A: float, travel_speed_mm_s: float, k: float = ARC_EFFICIENCY_GMAW) -> float:
    """Heat input HI = k · U · I / v [J/mm] (EN 1011-1; k = 0.8 for GMAW)."""
    return k * voltage_V * current_A / travel_speed_mm_s


@register_jitable
def deposit_area_mm2(wire_feed_m_min: float, travel_speed_mm_s: float, wire_diameter_mm: float = 1.2,
                     efficiency: float = DEPOSITION_EFFICIENCY) -> float:
    """Deposited cross-section A = ε · π d² / 4 · WFS / v [mm²] (wire mass balance)."""
    return efficiency * math.pi * wire_diameter_mm ** 2 / 4.0 * (wire_feed_m_min * 1000.0 / 60.0) / travel_speed_mm_s
