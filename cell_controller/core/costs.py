"""What each part used and what it cost: the cost lines stored with its journal record.

A part's lines, from its record and the cell description (`energy:`, `costs:`, the procedure):

* electricity, kWh: the arc energy over the power source's efficiency, plus the welder's idle power and
  the robot's power over the part's cycle time (cell time);
* wire, kg: wire feed speed × arc time × the wire's cross-section × its density;
* shielding_gas, L: the procedure's gas flow × arc time (the gas flows while the arc burns);
* blank, part: 1 for every part used up (all but `interrupted`, which are taken out whole);
* machine_hour, h: the cycle time, priced at the machine-hour rate (labour and overhead);
* scrap_handling, part: 1 for every defective or scrapped part.

A part's cycle time is the cell time since the previous produced part left (core/production.py), so the
cycle times of the produced parts add up to the shift's production time and a scrapped part's time is in
the next part's cycle: every second of the cell is priced once.
"""
from __future__ import annotations

import math
from dataclasses import replace

from .config import CellConfig
from .journal import CostLine, Outcome, PartRecord

J_PER_KWH = 3.6e6
S_PER_H = 3600.0


def used(record: PartRecord, config: CellConfig) -> dict[str, tuple[float, str]]:
    """component -> (quantity, unit) of what making `record`'s part used."""
    energy = config.energy
    cycle_s = record.cycle_time_s or 0.0
    arc_s = record.weld_time_s or 0.0
    electricity_J = (record.arc_energy_kJ or 0.0) * 1e3 / energy.power_source_efficiency \
        + (energy.welder_idle_power_W + energy.robot_power_W) * cycle_s
    lines = {
        "electricity": (electricity_J / J_PER_KWH, "kWh"),
        "shielding_gas": (config.procedure.gas_flow_L_min * arc_s / 60.0, "L"),
        "blank": (0.0 if record.outcome is Outcome.INTERRUPTED else 1.0, "part"),
        "machine_hour": (cycle_s / S_PER_H, "h"),
        "scrap_handling": (1.0 if record.outcome in (Outcome.DEFECTIVE, Outcome.SCRAPPED) else 0.0, "part"),
    }
    if config.costs is not None:
        wire_m = (record.mean_wire_feed_m_min or 0.0) * arc_s / 60.0
        area_m2 = math.pi * (config.costs.wire_diameter_mm * 1e-3 / 2.0) ** 2
        lines["wire"] = (wire_m * area_m2 * config.costs.wire_density_kg_m3, "kg")
    return lines


def priced(record: PartRecord, config: CellConfig) -> PartRecord:
    """`record` with its cost lines (amounts None and no wire mass when the description has no `costs:`)."""
    costs = config.costs
    prices = {} if costs is None else {
        "electricity": costs.electricity_per_kWh, "wire": costs.wire_per_kg,
        "shielding_gas": costs.shielding_gas_per_L, "blank": costs.blank_per_part,
        "machine_hour": costs.machine_per_h, "scrap_handling": costs.scrap_handling_per_part,
    }
    lines = {component: CostLine(quantity, unit, quantity * prices[component] if prices else None)
             for component, (quantity, unit) in used(record, config).items()}
    return replace(record, costs=lines, currency=costs.currency if costs else "")
