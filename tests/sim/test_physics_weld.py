"""Weld process twin: contract, physics trends, imperfections, ISO 5817 grading, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from cell_controller.sim.physics.iso5817 import IMPERFECTIONS, iso5817_level
from cell_controller.sim.physics.joint import JointGeometry, generate_joint
from cell_controller.sim.physics.arc import TRACKER_LOOKAHEAD_MM, current_from_wire_feed, deposit_area_mm2, heat_input_J_mm
from cell_controller.sim.physics.weld import (
    NOMINAL_PROCEDURE,
    PARAMETER_LIMITS,
    NominalProcedure,
    ProcessSample,
    WeldProcess,
)

L = 100.0


def joint(gap=1.2, offset=0.0, t=5.0, length=L, mismatch=0.0) -> JointGeometry:
    n = int(round(length)) + 1
    return JointGeometry(t, length, np.full(n, float(gap)), np.full(n, float(offset)), mismatch, 1.0)


def weld(j, proc=NOMINAL_PROCEDURE, offset=None, gas=None, seed=0, **kw):
    p = WeldProcess(j, seed, **kw)
    while not p.done:
        p.step(0.02, proc.voltage_V, proc.wire_feed_m_min, proc.travel_speed_mm_s,
               proc.torch_offset_mm if offset is None else offset,
               proc.gas_flow_l_min if gas is None else gas)
    return p


def steady(p, key):
    """Median of a trace value over the second half of the weld (quasi-steady)."""
    tr = p.trace
    return float(np.median(tr[key][tr["x_mm"] > 0.5 * p.joint.length_mm]))


# -------------------------------------------------------------------------------- relations
def test_heat_input_deposit_and_current_relations():
    assert heat_input_J_mm(24.0, 230.0, 10.0) == pytest.approx(0.8 * 24 * 230 / 10)
    assert deposit_area_mm2(8.0, 10.0, 1.2, 0.95) == pytest.approx(0.95 * np.pi * 1.44 / 4 * 8000 / 60 / 10)
    assert current_from_wire_feed(8.0, 24.0) == pytest.approx(230.0)
    assert current_from_wire_feed(10.0, 24.0) > current_from_wire_feed(6.0, 24.0)
    assert NOMINAL_PROCEDURE.current_A == pytest.approx(230.0)


# -------------------------------------------------------------------------------- joints
def test_generate_joint_is_seeded_and_varied():
    a, b, c = generate_joint(11), generate_joint(11), generate_joint(12)
    np.testing.assert_array_equal(a.gap_mm, b.gap_mm)
    np.testing.assert_array_equal(a.seam_offset_mm, b.seam_offset_mm)
    assert a.thickness_mm == b.thickness_mm and a.mismatch_mm == b.mismatch_mm
    assert not np.array_equal(a.gap_mm, c.gap_mm)
    assert a.gap_mm.shape == (201,) and a.spacing_mm == 1.0 and a.length_mm == 200.0
    gaps = np.array([generate_joint(s).gap_mm.mean() for s in range(40)])
    offs = np.array([np.abs(generate_joint(s).seam_offset_mm).max() for s in range(40)])
    assert 0.8 < gaps.mean() < 1.6 and gaps.std() > 0.15
    assert np.all(gaps >= 0) and offs.max() > 1.5


def test_joint_validation():
    with pytest.raises(ValueError, match="gap_mm"):
        JointGeometry(5.0, 10.0, np.zeros(5), np.zeros(11), 0.0, 1.0)
    with pytest.raises(ValueError, match="thickness_mm"):
        JointGeometry(0.0, 10.0, np.zeros(11), np.zeros(11), 0.0, 1.0)
    with pytest.raises(ValueError, match="length_mm"):
        generate_joint(1, length_mm=-1.0)


# -------------------------------------------------------------------------------- process contract
def test_step_returns_sample_and_validates_inputs():
    p = WeldProcess(joint(), 3)
    s = p.step(0.02, 24.0, 8.0, 10.0, 0.0)
    assert isinstance(s, ProcessSample)
    assert s.torch_position_mm == pytest.approx(0.2)
    assert s.actual_current_A == pytest.approx(230.0, abs=15.0)
    for name, bad in (("voltage_V", 50.0), ("wire_feed_m_min", 0.0), ("travel_speed_mm_s", float("nan")),
                      ("torch_offset_mm", 40.0), ("dt_s", 0.0)):
        args = dict(dt_s=0.02, voltage_V=24.0, wire_feed_m_min=8.0, travel_speed_mm_s=10.0, torch_offset_mm=0.0)
        args[name] = bad
        with pytest.raises(ValueError, match=name):
            p.step(**args)
    assert set(PARAMETER_LIMITS) >= {"voltage_V", "wire_feed_m_min", "travel_speed_mm_s", "torch_offset_mm"}


def test_done_and_step_after_done_raises():
    p = weld(joint(length=20.0))
    assert p.done
    assert p.trace["x_mm"][-1] == pytest.approx(20.0)
    with pytest.raises(RuntimeError):
        p.step(0.02, 24.0, 8.0, 10.0, 0.0)


def test_last_values_are_the_newest_trace_entries():
    p = WeldProcess(joint(length=20.0), 0)
    with pytest.raises(IndexError):
        p.last_values(["x_mm"])
    for _ in range(3):
        p.step(0.02, 24.0, 8.0, 10.0, 0.0)
    tr = p.trace
    assert p.last_values(tr) == {k: a[-1] for k, a in tr.items()}
    assert p.last_values(["x_mm"]) == {"x_mm": pytest.approx(0.6)}
    with pytest.raises(KeyError):
        p.last_values(["no_such_field"])


def test_sensors_without_noise_tracker_lookahead_and_arc_energy():
    n = 201
    x = np.arange(n, dtype=float)
    j = JointGeometry(5.0, 200.0, 0.5 + 0.01 * x, 0.02 * x, 0.0, 1.0)
    p = WeldProcess(j, 0, sensor_noise=False)
    energy = 0.0
    for _ in range(100):
        s = p.step(0.02, 24.0, 8.0, 10.0, 0.0)
        energy += s.actual_voltage_V * s.actual_current_A * 0.02
    xt = s.torch_position_mm
    assert xt == pytest.approx(20.0)
    assert s.tracker_gap_mm == pytest.approx(0.5 + 0.01 * (xt + TRACKER_LOOKAHEAD_MM))
    assert s.tracker_seam_offset_mm == pytest.approx(0.02 * (xt + TRACKER_LOOKAHEAD_MM))
    assert s.arc_energy_J == pytest.approx(energy)
    assert s.arc_power_W == pytest.approx(s.actual_voltage_V * s.actual_current_A)
    # pool width is 40 ms (2 steps) old
    assert s.pool_width_mm == pytest.approx(p.trace["width_mm"][-3])


def test_wire_feeder_lags_the_command():
    p = WeldProcess(joint(), 0, sensor_noise=False)
    for _ in range(10):
        p.step(0.02, 24.0, 6.0, 10.0, 0.0)
    s = p.step(0.02, 24.0, 10.0, 10.0, 0.0)
    assert 6.0 < s.actual_wire_feed_m_min < 9.0
    for _ in range(30):
        s = p.step(0.02, 24.0, 10.0, 10.0, 0.0)
    assert s.actual_wire_feed_m_min == pytest.approx(10.0, abs=0.01)


def test_process_is_deterministic_for_a_seed():
    j = generate_joint(5, length_mm=60.0)
    a, b, c = (weld(j, seed=s) for s in (1, 1, 2))
    ra, rb = a.result(), b.result()
    assert ra.level == rb.level and ra.imperfections == rb.imperfections
    np.testing.assert_array_equal(ra.bead_width_mm, rb.bead_width_mm)
    np.testing.assert_array_equal(a.temperature_field()[2], b.temperature_field()[2])
    pa = WeldProcess(j, 1).step(0.02, 24, 8, 10, 0)
    pb = WeldProcess(j, 1).step(0.02, 24, 8, 10, 0)
    pc = WeldProcess(j, 2).step(0.02, 24, 8, 10, 0)
    assert pa == pb and pa != pc


# -------------------------------------------------------------------------------- physics trends
def test_higher_heat_input_gives_wider_bead_and_deeper_penetration():
    j = joint(gap=0.0, t=10.0)  # thick: penetration is not capped by the thickness
    cold = weld(j, NominalProcedure(travel_speed_mm_s=12.0))
    hot = weld(j, NominalProcedure(travel_speed_mm_s=7.0))
    assert steady(hot, "heat_input_J_mm") > steady(cold, "heat_input_J_mm") * 1.6
    assert steady(hot, "width_mm") > steady(cold, "width_mm") + 0.5
    assert steady(hot, "penetration_mm") > steady(cold, "penetration_mm") + 0.3
    assert 0 < steady(cold, "penetration_mm") < 10.0


def test_nominal_recipe_on_nominal_joint_is_acceptable():
    p = weld(joint(gap=1.2))
    r = p.result()
    assert r.acceptable("C"), (r.level, r.imperfections)
    assert 5.0 < steady(p, "width_mm") < 10.0
    assert steady(p, "joint_penetration_mm") == pytest.approx(5.0)
    assert r.arc_energy_J == pytest.approx(24.0 * 230.0 * r.weld_time_s, rel=0.01)
    assert r.mean_travel_speed_mm_s == pytest.approx(10.0)
    assert r.mean_heat_input_J_mm == pytest.approx(0.8 * 24 * 230 / 10, rel=0.01)
    assert r.bead_width_mm.shape == (10,) and r.complete


def test_wider_gap_raises_burn_through_risk():
    ratios = [steady(weld(joint(gap=g), NominalProcedure(travel_speed_mm_s=8.0)), "root_span_ratio")
              for g in (0.3, 1.2, 2.2)]
    assert ratios[0] < ratios[1] < ratios[2]
    slow = weld(joint(gap=2.2), NominalProcedure(travel_speed_mm_s=6.0)).result()
    assert "burn_through" in slow.imperfection_names and slow.level == "fail"


def test_gap_changes_reinforcement_direction():
    tight = weld(joint(gap=0.0)).result()
    wide = weld(joint(gap=3.0)).result()
    assert tight.reinforcement_mm[-1] > wide.reinforcement_mm[-1] + 1.0
    assert "incompletely_filled_groove" in wide.imperfection_names


@pytest.mark.parametrize("offset, expected", [(2.5, "incomplete_penetration"), (3.6, "lack_of_fusion"),
                                              (8.0, "joint_missed")])
def test_torch_off_the_joint(offset, expected):
    r = weld(joint(gap=1.2), offset=offset).result()
    assert expected in r.imperfection_names
    assert r.level == "fail"


def test_too_much_wire_for_travel_gives_excess_weld_metal():
    ok = weld(joint(gap=0.5)).result()
    r = weld(joint(gap=0.5), NominalProcedure(wire_feed_m_min=10.0, voltage_V=21.0)).result()
    assert "excess_weld_metal" in r.imperfection_names
    assert r.reinforcement_mm[-1] > ok.reinforcement_mm[-1] + 0.1
    order = ("B", "C", "D", "fail")
    lv = [max((iso5817_level("excess_weld_metal", h, 5.0, b) for h, b in zip(x.reinforcement_mm[2:], x.bead_width_mm[2:])),
              key=order.index) for x in (ok, r)]
    assert lv[0] in ("B", "C") and lv[1] in ("D", "fail")


def test_high_voltage_gives_undercut_and_bad_gas_gives_porosity():
    r = weld(joint(), NominalProcedure(voltage_V=31.0)).result()
    assert "undercut" in r.imperfection_names
    ok = weld(joint(), gas=15.0).result()
    assert "porosity" not in ok.imperfection_names
    low = weld(joint(), gas=3.0).result()
    assert "porosity" in low.imperfection_names and low.level == "fail"


# -------------------------------------------------------------------------------- ISO 5817
@pytest.mark.parametrize("name, size, b, level", [
    ("excess_weld_metal", 1.9, 10.0, "B"),   # 1 + 0.1 b = 2.0
    ("excess_weld_metal", 2.4, 10.0, "C"),   # 1 + 0.15 b = 2.5
    ("excess_weld_metal", 3.4, 10.0, "D"),   # 1 + 0.25 b = 3.5
    ("excess_weld_metal", 3.6, 10.0, "fail"),
    ("excess_weld_metal", 5.5, 60.0, "C"),   # B capped at 5 mm
    ("excess_weld_metal", 10.5, 60.0, "fail"),
    ("undercut", 0.2, 0.0, "B"),             # t = 5: B 0.25, C 0.5, D 1.0
    ("undercut", 0.3, 0.0, "C"),
    ("undercut", 0.9, 0.0, "D"),
    ("undercut", 1.1, 0.0, "fail"),
    ("incomplete_penetration", 0.9, 0.0, "D"),   # not permitted at C, B; D: 0.2 t = 1 mm
    ("incomplete_penetration", 1.1, 0.0, "fail"),
    ("excess_penetration", 1.7, 3.0, "C"),   # B 1 + 0.2 b = 1.6, C 1 + 0.6 b = 2.8
    ("porosity", 1.2, 0.0, "C"),
    ("porosity", 3.0, 0.0, "fail"),
    ("burn_through", 1.0, 0.0, "fail"),
    ("joint_missed", 0.0, 0.0, "B"),
    ("linear_misalignment", 0.6, 0.0, "C"),
])
def test_iso5817_levels_on_crafted_sizes(name, size, b, level):
    assert iso5817_level(name, size, 5.0, b) == level


def test_unknown_imperfection_name_raises():
    with pytest.raises(ValueError, match="bogus"):
        iso5817_level("bogus", 1.0, 5.0)


def test_report_lists_only_known_names_and_grades_worst_segment():
    r = weld(generate_joint(2, length_mm=120.0), seed=2).result()
    assert len(r.imperfections) == len(r.segment_level) == r.bead_width_mm.shape[0] == 12
    assert all(n in IMPERFECTIONS for seg in r.imperfections for n in seg)
    graded = [lv for lv, g in zip(r.segment_level, r.segment_graded) if g]
    order = ("B", "C", "D", "fail")
    assert r.level == max(graded, key=order.index)


def test_plot_weld_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    from cell_controller.sim.physics.plot import plot_weld

    out = plot_weld(weld(generate_joint(4, length_mm=60.0), seed=4), tmp_path / "w.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_weld_plot_command_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from cell_controller.sim.physics.plot import main

    out = tmp_path / "cmd.png"
    assert main(["--seed", "5", "--length", "40", "--voltage", "25", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "level" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--voltage", "99"])
