"""Cell KPIs and cost lines from journal records and the PackML state log (core/kpis.py, core/costs.py).

Each expected figure is worked out here from its definition (the module docstrings, the README), on
parts and state logs small enough to do by hand.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from cell_controller.core.config import load_cell
from cell_controller.core.costs import priced, used
from cell_controller.core.journal import Journal, Outcome, PartRecord, StateChange, state_detail
from cell_controller.core.kpis import cell_kpis, percentile, state_times

CONFIG = load_cell(Path(__file__).resolve().parents[2] / "config" / "cell.yaml")


def record(n: int, outcome: Outcome = Outcome.GOOD, cycle_s: float | None = 30.0, level: str = "B",
           arc_kJ: float | None = 150.0, arc_s: float | None = 20.0) -> PartRecord:
    return PartRecord(
        part_id=f"P{n:06d}", shift_id=1, started_at=1000.0 + 10 * n, finished_at=1006.0 + 10 * n, outcome=outcome,
        reason="", cycle_time_s=cycle_s, mean_current_A=230.0, mean_voltage_V=24.0, mean_wire_feed_m_min=8.0,
        mean_travel_speed_mm_s=10.0, arc_energy_kJ=arc_kJ, weld_time_s=arc_s, bead_width_mm=6.0,
        penetration_mm=2.0, imperfections=(), iso5817_level=level, weld_policy="fixed_recipe",
        feed_policy="fixed_rate", backends={}, config_hash="h")


def log(*changes: tuple[float, float | None, str, str]) -> list[StateChange]:
    return [StateChange(*c) for c in changes]


def test_a_parts_electricity_wire_and_gas_follow_from_its_record_and_the_description() -> None:
    lines = used(record(1), CONFIG)
    e, c = CONFIG.energy, CONFIG.costs
    assert c is not None
    drawn_J = 150e3 / e.power_source_efficiency + (e.welder_idle_power_W + e.robot_power_W) * 30.0
    assert lines["electricity"] == (pytest.approx(drawn_J / 3.6e6), "kWh")
    wire_m = 8.0 * 20.0 / 60.0
    assert lines["wire"] == (pytest.approx(wire_m * math.pi * (c.wire_diameter_mm * 1e-3 / 2) ** 2
                                           * c.wire_density_kg_m3), "kg")
    assert lines["shielding_gas"] == (pytest.approx(CONFIG.procedure.gas_flow_L_min * 20.0 / 60.0), "L")
    assert lines["machine_hour"] == (pytest.approx(30.0 / 3600.0), "h")
    assert lines["blank"] == (1.0, "part") and lines["scrap_handling"] == (0.0, "part")


def test_scrap_pays_handling_and_an_interrupted_part_uses_no_blank() -> None:
    scrapped = used(record(1, Outcome.SCRAPPED, cycle_s=None, arc_kJ=40.0, arc_s=5.0), CONFIG)
    assert scrapped["scrap_handling"] == (1.0, "part") and scrapped["machine_hour"] == (0.0, "h")
    interrupted = used(record(2, Outcome.INTERRUPTED, cycle_s=None, arc_kJ=None, arc_s=None), CONFIG)
    assert interrupted["blank"] == (0.0, "part") and interrupted["electricity"] == (0.0, "kWh")


def test_priced_lines_are_quantity_times_price_and_unpriced_ones_have_no_amount() -> None:
    costs = CONFIG.costs
    assert costs is not None
    lines = priced(record(1), CONFIG).costs
    assert lines["electricity"].amount == pytest.approx(lines["electricity"].quantity * costs.electricity_per_kWh)
    assert lines["machine_hour"].amount == pytest.approx(30.0 / 3600.0 * costs.machine_per_h)
    assert priced(record(1), CONFIG).currency == "EUR"
    unpriced = priced(record(1), replace(CONFIG, costs=None))
    assert unpriced.currency == "" and all(line.amount is None for line in unpriced.costs.values())
    assert "wire" not in unpriced.costs  # the wire's size is part of the costs section


def test_availability_counts_execute_against_the_planned_busy_time_in_cell_time() -> None:
    changes = log((10.0, 0.0, "Starting", "Execute"), (12.0, 60.0, "Execute", "Suspending"),
                  (12.2, 61.0, "Suspending", "Suspended"), (16.0, 80.0, "Suspended", "Unsuspending"),
                  (16.2, 81.0, "Unsuspending", "Execute"), (28.0, 140.0, "Execute", "Completing"),
                  (28.2, 141.0, "Completing", "Complete"), (29.0, 150.0, "Complete", "Resetting"))
    times = state_times(changes, 30.0, None, 5.0)
    assert times == {"Execute": 119.0, "Suspending": 1.0, "Suspended": 19.0, "Unsuspending": 1.0, "Completing": 1.0}
    parts = [record(n) for n in range(3)] + [record(3, Outcome.DEFECTIVE, level="D")]
    k = cell_kpis(parts, changes, ideal_cycle_s=25.0)
    assert k.availability == pytest.approx(119.0 / 141.0)
    assert k.performance == pytest.approx(25.0 * 4 / 119.0)
    assert k.quality == pytest.approx(3 / 4)
    assert k.oee == pytest.approx(k.availability * k.performance * k.quality)
    assert k.good_parts_per_hour == pytest.approx(3 * 3600 / 120.0)
    assert k.worse_than_c == 1 and k.worse_than_c_rate == pytest.approx(0.25)
    assert k.levels == {"B": 3, "D": 1}


def test_a_clock_that_goes_back_is_bridged_by_the_wall_time_at_the_shifts_own_rate() -> None:
    # the twin restarted while Held: its clock went from 300 s back to 2 s
    changes = log((0.0, 0.0, "Starting", "Execute"), (20.0, 100.0, "Execute", "Holding"),
                  (21.0, 300.0, "Holding", "Held"), (31.0, 2.0, "Held", "Unholding"),
                  (31.5, 4.5, "Unholding", "Execute"))
    times = state_times(changes, 41.5, None, 5.0)
    assert times["Held"] == pytest.approx(10.0 * 5.0)
    assert times["Holding"] == pytest.approx(200.0) and times["Unholding"] == pytest.approx(2.5)
    assert times["Execute"] == pytest.approx(100.0 + 10.0 * 5.0)  # the open end: wall time at the rate


def test_no_execute_no_times_and_figures_without_a_denominator_are_nan() -> None:
    assert state_times(log((0.0, 0.0, "Idle", "Starting")), 5.0, None, 1.0) == {}
    k = cell_kpis([record(1, Outcome.SCRAPPED, cycle_s=None)], [], ideal_cycle_s=30.0)
    assert math.isnan(k.good_parts_per_hour) and math.isnan(k.availability) and math.isnan(k.cost_per_good_part)
    assert k.scrapped == 1 and k.produced == 0


def test_cost_and_energy_per_good_part_carry_the_scrap_and_parts_without_cost_lines_make_cost_unknown() -> None:
    parts = [priced(record(1), CONFIG), priced(record(2), CONFIG),
             priced(record(3, Outcome.SCRAPPED, cycle_s=None, arc_kJ=50.0, arc_s=6.0), CONFIG)]
    k = cell_kpis(parts, [], ideal_cycle_s=30.0)
    total = sum(line.amount for p in parts for line in p.costs.values())
    assert k.cost_per_good_part == pytest.approx(total / 2)
    assert sum(k.cost_breakdown.values()) == pytest.approx(k.cost_per_good_part)
    assert k.energy_per_good_part_kWh == pytest.approx(sum(p.costs["electricity"].quantity for p in parts) / 2)
    assert k.arc_energy_per_good_part_kJ == pytest.approx((150 + 150 + 50) / 2)
    assert math.isnan(cell_kpis(parts + [record(4)], [], 30.0).cost_per_good_part)  # one part from before costs


def test_percentile_interpolates_between_order_statistics() -> None:
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0
    assert percentile([10.0, 20.0], 95) == pytest.approx(19.5)
    assert math.isnan(percentile([], 95))


def test_a_journaled_shift_gives_the_same_kpis_as_its_records(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        shift = journal.begin_shift(2, "h")
        journal.log_event(shift, "state", "packml", state_detail("Starting", "Execute", "state complete"), 5.0)
        for n in (1, 2):
            journal.record_part(priced(replace(record(n), part_id=journal.allocate_part(shift), shift_id=shift),
                                       CONFIG))
        journal.log_event(shift, "state", "packml", state_detail("Execute", "Completing", "parts done"), 65.0)
        journal.log_event(shift, "state", "packml", state_detail("Completing", "Complete", "state complete"), 66.0)
        k = cell_kpis(journal.parts(shift), journal.state_log(shift), 30.0)
    assert k.run_time_s == pytest.approx(60.0) and k.planned_busy_time_s == pytest.approx(61.0)
    assert k.good == 2 and k.cost_per_good_part > 0 and k.currency == "EUR"
