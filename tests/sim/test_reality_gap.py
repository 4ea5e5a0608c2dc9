"""Reality-gap parameter sets: nominal is the twin, near and far shift the weld the documented way,
and every deviation reaches the model it names."""
from __future__ import annotations

import dataclasses
import random
import subprocess
import sys

import numpy as np
import pytest

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.sim.devices.models import MACHINE_CYCLE_SPREAD, MachineModel, WelderModel
from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.arc import ARC_EFFICIENCY_GMAW, current_from_wire_feed
from cell_controller.sim.physics.weld import NOMINAL_PROCEDURE, NominalProcedure, WeldProcess, run_fixed_recipe
from cell_controller.sim.physics.weld_report import WeldReport
from cell_controller.sim.reality_gap import GAPS, NOMINAL, RealityGap, UnknownGapError, gap
from cell_controller.testing import REPO

SEED = 5
#: a 100 mm joint: 500 steps, enough for graded segments past the run-on
LENGTH_MM = 100.0


@pytest.fixture(scope="module")
def config() -> CellConfig:
    return load_cell(REPO / "config/cell.yaml")


def weld(reality: RealityGap, procedure: NominalProcedure = NOMINAL_PROCEDURE) -> WeldProcess:
    return run_fixed_recipe(generate_joint(SEED, length_mm=LENGTH_MM), SEED, procedure, gap=reality)


def graded_mean(report: WeldReport, values: np.ndarray) -> float:
    return float(np.nanmean(values[report.segment_graded]))


def samples(process: WeldProcess, n: int) -> list[tuple]:
    p = NOMINAL_PROCEDURE
    return [dataclasses.astuple(process.step(0.02, p.voltage_V, p.wire_feed_m_min, p.travel_speed_mm_s, 0.3))
            for _ in range(n)]


def test_nominal_is_the_model_to_the_bit(config: CellConfig) -> None:
    joint = generate_joint(SEED, length_mm=LENGTH_MM)
    assert samples(WeldProcess(joint, SEED), 200) == samples(WeldProcess(joint, SEED, gap=gap("nominal")), 200)
    first = WeldProcess(joint, SEED, sensor_noise=False, gap=NOMINAL).step(0.02, 24.0, 8.0, 10.0, 0.0)
    assert first.actual_current_A == current_from_wire_feed(8.0, 24.0) == 230.0  # the model's characteristic
    trace = weld(NOMINAL).trace
    np.testing.assert_array_equal(trace["heat_input_J_mm"], ARC_EFFICIENCY_GMAW * (trace["voltage_V"] * trace["current_A"])
                                  / trace["travel_speed_mm_s"])
    welder, twin_welder = WelderModel(config, NOMINAL), WelderModel(config)
    for model in (welder, twin_welder):
        model.arc_start("p1", joint, SEED)
    assert [welder.weld_step(0.02, 10.0, 0.0) for _ in range(50)] == [twin_welder.weld_step(0.02, 10.0, 0.0)
                                                                       for _ in range(50)]
    machines = [MachineModel(config, random.Random(1), reality) for reality in (NOMINAL, RealityGap())]
    assert machines[0].cycle_spread == machines[1].cycle_spread == MACHINE_CYCLE_SPREAD


def test_a_lower_arc_efficiency_penetrates_less_and_a_higher_one_more() -> None:
    fast = NominalProcedure(travel_speed_mm_s=16.0)  # the model's weld penetrates partly: room either way
    nominal, cool, hot = (weld(RealityGap(arc_efficiency_factor=k), fast).result() for k in (1.0, 0.875, 1.1))
    assert graded_mean(cool, cool.joint_penetration_mm) < graded_mean(nominal, nominal.joint_penetration_mm) \
        < graded_mean(hot, hot.joint_penetration_mm)
    assert graded_mean(cool, cool.bead_width_mm) < graded_mean(nominal, nominal.bead_width_mm) \
        < graded_mean(hot, hot.bead_width_mm)
    assert cool.mean_heat_input_J_mm == pytest.approx(0.875 * nominal.mean_heat_input_J_mm)
    assert cool.mean_current_A == nominal.mean_current_A  # the arc is the same, less of its heat goes in


def test_near_and_far_weld_cooler_than_the_model_far_the_most_and_hot_hotter() -> None:
    reports = {name: weld(gap(name)).result() for name in ("nominal", "near", "far", "hot")}
    width = {name: graded_mean(r, r.bead_width_mm) for name, r in reports.items()}
    current = {name: r.mean_current_A for name, r in reports.items()}
    heat = {name: r.mean_heat_input_J_mm for name, r in reports.items()}
    assert width["far"] < width["near"] < width["nominal"] < width["hot"]
    assert current["far"] < current["near"] < current["nominal"] < current["hot"]
    assert heat["far"] < heat["near"] < heat["nominal"] < heat["hot"]
    far, nominal = reports["far"], reports["nominal"]
    assert graded_mean(far, far.joint_penetration_mm) < graded_mean(nominal, nominal.joint_penetration_mm)
    assert "incomplete_penetration" in far.imperfection_names and "burn_through" in reports["hot"].imperfection_names


def test_each_sensor_and_path_deviation_shows_in_what_it_names() -> None:
    reality = RealityGap(current_sensor_bias_A=8.0, voltage_sensor_bias_V=1.2, tracker_bias_mm=0.5,
                         robot_path_error_mm=0.6, camera_latency_extra_s=0.06)
    joint = generate_joint(SEED, length_mm=LENGTH_MM)
    model, plant = (WeldProcess(joint, SEED, sensor_noise=False, gap=g) for g in (NOMINAL, reality))
    for _ in range(100):
        m, p = (process.step(0.02, 24.0, 8.0, 10.0, 0.0) for process in (model, plant))
        assert p.actual_current_A == pytest.approx(m.actual_current_A + 8.0)
        assert p.actual_voltage_V == pytest.approx(m.actual_voltage_V + 1.2)
        # the seam is 0.6 mm further right of the torch, and the tracker reads it 0.5 mm left
        assert p.tracker_seam_offset_mm == pytest.approx(m.tracker_seam_offset_mm - 0.6 + 0.5)
    np.testing.assert_allclose(plant.trace["seam_error_mm"], model.trace["seam_error_mm"] - 0.6)
    assert plant.joint.seam_offset_at(10.0) == pytest.approx(joint.seam_offset_at(10.0) - 0.6)
    noisy = [WeldProcess(joint, SEED, gap=RealityGap(tracker_noise_mm=s)) for s in (0.0, 0.3)]
    offsets = np.array([[p.step(0.02, 24.0, 8.0, 10.0, 0.0).tracker_seam_offset_mm for p in noisy] for _ in range(200)])
    assert np.std(np.diff(offsets[:, 1])) > 2 * np.std(np.diff(offsets[:, 0]))


def test_the_machine_spreads_its_cycles_by_the_gaps_factor(config: CellConfig) -> None:
    machine = MachineModel(config, random.Random(3), gap("far"))
    assert machine.cycle_spread == pytest.approx(MACHINE_CYCLE_SPREAD * 2.5)
    cycles = []
    for n in range(200):
        machine.part_id, machine.state = f"p{n}", "idle"
        assert machine.start_cycle(f"p{n}") == "Accepted"
        cycles.append(machine.cycle_time_s / config.machine_cycle_s - 1.0)
    assert max(map(abs, cycles)) > MACHINE_CYCLE_SPREAD and max(map(abs, cycles)) <= machine.cycle_spread


def test_an_unknown_set_is_refused_naming_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownGapError) as error:
        gap("farther")
    assert "'farther'" in str(error.value) and all(name in str(error.value) for name in GAPS)


@pytest.mark.parametrize("field, value", [("arc_efficiency_factor", 0.5), ("wire_diameter_error_mm", 0.2),
                                          ("tracker_noise_mm", -0.1), ("current_factor", float("nan"))])
def test_a_deviation_outside_its_plausible_range_is_refused_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RealityGap(**{field: value})


def test_every_named_set_lies_within_the_ranges_and_nominal_is_the_identity() -> None:
    for name, reality in GAPS.items():
        for field, (low, high) in RealityGap.ranges().items():
            assert low <= getattr(reality, field) <= high, (name, field)
    assert GAPS["nominal"] == NOMINAL == RealityGap()


def test_the_sets_import_without_pybullet_asyncua_or_numba() -> None:
    code = ("import sys; import cell_controller.sim.reality_gap; "
            "print([m for m in ('pybullet', 'asyncua', 'numba') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
