"""A shift's cell KPIs from its journal: output, OEE (ISO 22400-2), energy, consumables and cost per good part.

Times are cell time (the devices' clock, s), so a KPI does not change with the twin's time scale.

* production time: the sum of the produced parts' cycle times, i.e. from the shift's start to the
  last produced part leaving (a part's cycle runs from the previous produced part's departure; the
  first part's from the shift's start);
* good parts per hour = good parts / production time;
* OEE per ISO 22400-2, from the PackML state log: planned busy time (PBT) is the time from the
  shift's entry into Execute to its end (Complete, Stopped or Aborted; the last event or record when
  the shift has not ended), run time (APT, actual production time) the time in Execute;
  availability = APT / PBT, performance = ideal cycle × produced parts / APT (the ideal cycle is
  `supervisor.ideal_cycle`), quality = good / produced, OEE = availability × performance × quality
  (a produced part that waits for manual inspection is not good until an operator's verdict says so);
* the bottleneck (the welding robot): its arc-on share of the run time, and the produced parts per
  hour of run time;
* energy, wire, gas and cost per good part: everything the shift used (scrap included) over its good
  parts, from the parts' cost lines (core/costs.py).

State durations use the devices' clock the supervisor journaled with each transition; where it is
missing (an event before any device reported) or goes back (a twin restarted), the wall time between
the two events is converted at the shift's own ratio of cell to wall time.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from .journal import PRODUCED, Outcome, PartRecord, StateChange

#: the states in which a shift has ended (PackML)
END_STATES = frozenset({"Complete", "Stopped", "Aborted"})
RUN_STATE = "Execute"
#: ISO 5817 levels, best first, and those worse than C ("fail": not within D)
ISO5817_LEVELS = ("B", "C", "D", "fail")
WORSE_THAN_C = frozenset({"D", "fail"})


@dataclass(frozen=True)
class CellKpis:
    """One shift's figures. Per-hour and per-part figures are NaN where their denominator is zero."""

    produced: int
    good: int
    defective: int
    scrapped: int
    interrupted: int
    #: produced, routed to manual inspection, no verdict yet (counted in produced, not in good)
    needs_inspection: int
    production_time_s: float
    good_parts_per_hour: float
    mean_cycle_time_s: float
    p95_cycle_time_s: float
    planned_busy_time_s: float
    run_time_s: float
    availability: float
    performance: float
    quality: float
    oee: float
    run_rate_parts_per_hour: float
    robot_arc_share: float
    worse_than_c: int
    arc_energy_per_good_part_kJ: float
    energy_per_good_part_kWh: float
    wire_per_good_part_kg: float
    gas_per_good_part_L: float
    cost_per_good_part: float
    currency: str
    #: component -> amount per good part (currency); empty when unpriced
    cost_breakdown: dict[str, float] = field(default_factory=dict)
    #: ISO 5817 level -> produced parts graded so
    levels: dict[str, int] = field(default_factory=dict)
    #: PackML state -> cell time in it, s, over the planned busy time
    state_times_s: dict[str, float] = field(default_factory=dict)

    @property
    def worse_than_c_rate(self) -> float:
        return _ratio(self.worse_than_c, self.produced)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def state_times(log: list[StateChange], end_at: float, end_cell_s: float | None,
                cell_per_wall: float) -> dict[str, float]:
    """Cell time spent in each state from the first entry into Execute to the shift's end, s.

    `end_at` / `end_cell_s`: the shift's end (wall, Unix s / devices' clock, s) when it has not reached an
    end state; `cell_per_wall`: the conversion where the devices' clock is missing or went back."""
    times: Counter[str] = Counter()
    started = next((i for i, change in enumerate(log) if change.new == RUN_STATE), None)
    if started is None:
        return {}
    changes = log[started:]
    for change, following in zip(changes, [*changes[1:], None]):
        if following is None:
            if change.new in END_STATES:
                break
            next_at, next_cell_s = end_at, end_cell_s
        else:
            next_at, next_cell_s = following.at, following.cell_time_s
        if change.cell_time_s is not None and next_cell_s is not None and next_cell_s >= change.cell_time_s:
            times[change.new] += next_cell_s - change.cell_time_s
        else:
            times[change.new] += max(next_at - change.at, 0.0) * cell_per_wall
        if following is not None and following.new in END_STATES:
            break
    return dict(times)


def cell_kpis(parts: list[PartRecord], log: list[StateChange], ideal_cycle_s: float) -> CellKpis:
    """The KPIs of one shift's part records and PackML state log (core/journal.py)."""
    outcomes = Counter(p.outcome for p in parts)
    produced_parts = [p for p in parts if p.outcome in PRODUCED]
    good, produced = outcomes[Outcome.GOOD], len(produced_parts)
    cycles_s = [p.cycle_time_s for p in produced_parts if p.cycle_time_s is not None]
    production_s = sum(cycles_s)
    wall_span_s = (max(p.finished_at for p in produced_parts) - min(p.started_at for p in produced_parts)
                   if produced_parts else 0.0)
    cell_per_wall = production_s / wall_span_s if production_s > 0 and wall_span_s > 0 else 1.0
    last_at = max([p.finished_at for p in parts] + [c.at for c in log], default=0.0)
    times_s = state_times(log, last_at, None, cell_per_wall)
    busy_s, run_s = sum(times_s.values()), times_s.get(RUN_STATE, 0.0)

    def total(component: str) -> float:
        return sum(p.costs[component].quantity for p in parts if component in p.costs)

    priced = [p for p in parts if p.costs and all(line.amount is not None for line in p.costs.values())]
    currency = next((p.currency for p in priced), "")
    breakdown: dict[str, float] = {}
    if good and priced and len(priced) == len(parts):
        for p in priced:
            for component, line in p.costs.items():
                breakdown[component] = breakdown.get(component, 0.0) + (line.amount or 0.0) / good
    levels = Counter(p.iso5817_level for p in produced_parts if p.iso5817_level)
    availability, performance = _ratio(run_s, busy_s), _ratio(ideal_cycle_s * produced, run_s)
    quality = _ratio(good, produced)
    return CellKpis(
        produced=produced, good=good, defective=outcomes[Outcome.DEFECTIVE], scrapped=outcomes[Outcome.SCRAPPED],
        interrupted=outcomes[Outcome.INTERRUPTED], needs_inspection=outcomes[Outcome.NEEDS_INSPECTION],
        production_time_s=production_s,
        good_parts_per_hour=_ratio(good * 3600.0, production_s),
        mean_cycle_time_s=_ratio(production_s, len(cycles_s)), p95_cycle_time_s=percentile(cycles_s, 95),
        planned_busy_time_s=busy_s, run_time_s=run_s, availability=availability, performance=performance,
        quality=quality, oee=availability * performance * quality,
        run_rate_parts_per_hour=_ratio(produced * 3600.0, run_s),
        robot_arc_share=_ratio(sum(p.weld_time_s or 0.0 for p in parts), run_s),
        worse_than_c=sum(n for level, n in levels.items() if level in WORSE_THAN_C),
        arc_energy_per_good_part_kJ=_ratio(sum(p.arc_energy_kJ or 0.0 for p in parts), good),
        energy_per_good_part_kWh=_ratio(total("electricity"), good),
        wire_per_good_part_kg=_ratio(total("wire"), good), gas_per_good_part_L=_ratio(total("shielding_gas"), good),
        cost_per_good_part=sum(breakdown.values()) if breakdown else math.nan, currency=currency,
        cost_breakdown=breakdown, levels={level: levels[level] for level in ISO5817_LEVELS if levels[level]},
        state_times_s=times_s,
    )
