"""Property tests (hypothesis) of the weld process relations, the ISO 5817 grading and the joint generator."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cell_controller.sim.physics.iso5817 import (
    IMPERFECTIONS,
    LEVELS,
    SEGMENT_LENGTH_MM,
    SHORT_MAX_FRACTION,
    SHORT_WINDOW_MM,
    apply_short_rule,
    iso5817_level,
    iso5817_limits,
    worse_level,
)
from cell_controller.sim.physics.joint import JOINT_VARIATION, generate_joint
from cell_controller.sim.physics.arc import DEPOSITION_EFFICIENCY, current_from_wire_feed, deposit_area_mm2, heat_input_J_mm
from cell_controller.sim.physics.weld import PARAMETER_LIMITS, WeldProcess

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rank(level: str) -> int:
    return LEVELS.index(level)


def limit(name: str) -> st.SearchStrategy[float]:
    lo, hi = PARAMETER_LIMITS[name]
    return st.floats(lo, hi, allow_nan=False)


positive = st.floats(0.1, 1e3, allow_nan=False)
factor = st.floats(1.0001, 10.0, allow_nan=False)


# ------------------------------------------------------------------------------------- relations
@FAST
@given(U=positive, I=positive, v=positive, k=factor)
def test_heat_input_is_monotone_in_voltage_current_and_inverse_speed(U, I, v, k):
    hi = heat_input_J_mm(U, I, v)
    assert heat_input_J_mm(U * k, I, v) > hi
    assert heat_input_J_mm(U, I * k, v) > hi
    assert heat_input_J_mm(U, I, v * k) < hi
    assert heat_input_J_mm(U, I, v) == pytest.approx(0.8 * U * I / v, rel=1e-12)


@FAST
@given(wfs=limit("wire_feed_m_min"), U=limit("voltage_V"), d=st.floats(0.8, 1.6), dw=st.floats(0.01, 2.0))
def test_current_rises_with_wire_feed_and_voltage(wfs, U, d, dw):
    I = current_from_wire_feed(wfs, U, d)
    assert current_from_wire_feed(wfs + dw, U, d) > I
    assert current_from_wire_feed(wfs, U + dw, d) > I


@FAST
@given(wfs=limit("wire_feed_m_min"), v=limit("travel_speed_mm_s"), d=st.floats(0.8, 1.6), eff=st.floats(0.5, 1.0))
def test_deposit_area_is_the_wire_mass_balance(wfs, v, d, eff):
    A = deposit_area_mm2(wfs, v, d, eff)
    # volume deposited per second along the seam = wire volume melted per second × efficiency
    wire_mm3_s = math.pi * d * d / 4.0 * wfs * 1000.0 / 60.0
    assert A * v == pytest.approx(eff * wire_mm3_s, rel=1e-12)
    assert deposit_area_mm2(2 * wfs, v, d, eff) == pytest.approx(2 * A, rel=1e-12)
    assert deposit_area_mm2(wfs, 2 * v, d, eff) == pytest.approx(A / 2, rel=1e-12)
    assert deposit_area_mm2(wfs, v, d) == pytest.approx(A * DEPOSITION_EFFICIENCY / eff, rel=1e-12)


# ------------------------------------------------------------------------------------- ISO 5817
names = st.sampled_from(IMPERFECTIONS)
sizes = st.floats(0.0, 20.0, allow_nan=False)
thicknesses = st.floats(3.01, 30.0, allow_nan=False)
widths = st.floats(0.0, 40.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(name=names, a=sizes, b=sizes, t=thicknesses, w=widths)
def test_a_bigger_imperfection_never_gets_a_better_level(name, a, b, t, w):
    small, big = min(a, b), max(a, b)
    assert rank(iso5817_level(name, small, t, w)) <= rank(iso5817_level(name, big, t, w))


@settings(max_examples=300, deadline=None)
@given(name=names, size=sizes, t1=thicknesses, t2=thicknesses, w1=widths, w2=widths)
def test_a_thicker_plate_or_wider_bead_never_gets_a_worse_level(name, size, t1, t2, w1, w2):
    """The limits scale with t and b (ISO 5817 Table 1), so more of either never tightens them."""
    lo = iso5817_level(name, size, min(t1, t2), min(w1, w2))
    hi = iso5817_level(name, size, max(t1, t2), max(w1, w2))
    assert rank(hi) <= rank(lo)


@FAST
@given(name=names, t=thicknesses, w=widths)
def test_limits_tighten_from_d_to_b(name, t, w):
    lim = iso5817_limits(name, t, w)
    order = [lim["D"], lim["C"], lim["B"]]
    # once a level forbids an item, every stricter level forbids it too; permitted sizes shrink D → C → B
    for looser, stricter in zip(order, order[1:]):
        if looser is None:
            assert stricter is None
        elif stricter is not None:
            assert stricter <= looser
    assert iso5817_level(name, 0.0, t, w) == "B"  # absent imperfection meets B


@FAST
@given(a=st.sampled_from(LEVELS), b=st.sampled_from(LEVELS), c=st.sampled_from(LEVELS))
def test_worse_level_is_a_max(a, b, c):
    assert worse_level(a, b) == worse_level(b, a) == LEVELS[max(rank(a), rank(b))]
    assert worse_level(worse_level(a, b), c) == worse_level(a, worse_level(b, c))


n_segments = st.integers(1, 40)


@st.composite
def short_case(draw):
    n = draw(n_segments)
    present = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    levels = [draw(st.sampled_from(("B", "C", "D"))) if p else "B" for p in present]
    graded = np.ones(n, dtype=bool)
    graded[: draw(st.integers(0, min(n, 3)))] = False
    return levels, present, graded, n * SEGMENT_LENGTH_MM


@settings(max_examples=200, deadline=None)
@given(case=short_case())
def test_short_imperfection_rule_per_100_mm_window(case):
    levels, present, graded, welded = case
    out = apply_short_rule(levels, present, ("C", "D"), graded, welded)
    flagged = [bool(g and p and L in ("C", "D")) for L, p, g in zip(levels, present, graded)]
    w = int(round(SHORT_WINDOW_MM / SEGMENT_LENGTH_MM))
    allowed = SHORT_MAX_FRACTION * min(SHORT_WINDOW_MM, welded)
    n = len(levels)
    worst_window = max(sum(flagged[a:a + w]) for a in range(max(1, n - w + 1))) * SEGMENT_LENGTH_MM
    # unchanged where the rule does not bite, and only short imperfections ever become "fail"
    for s in range(n):
        assert out[s] == levels[s] or (flagged[s] and out[s] == "fail")
    assert ("fail" in out) == (worst_window > allowed + 1e-9)
    # adding one more short imperfection never makes any segment better
    free = [s for s in range(n) if not flagged[s] and graded[s]]
    if free:
        s = free[0]
        levels2, present2 = list(levels), present.copy()
        levels2[s], present2[s] = "D", True
        out2 = apply_short_rule(levels2, present2, ("C", "D"), graded, welded)
        assert all(rank(b) >= rank(a) for k, (a, b) in enumerate(zip(out, out2)) if k != s)


# ------------------------------------------------------------------------------------- joints
@FAST
@given(seed=st.integers(0, 2**31 - 1), length=st.floats(10.0, 400.0), spacing=st.sampled_from([0.5, 1.0, 2.0]),
       t=st.floats(3.0, 12.0))
def test_generate_joint_is_deterministic_and_within_its_bounds(seed, length, spacing, t):
    a = generate_joint(seed, length_mm=length, nominal_thickness_mm=t, spacing_mm=spacing)
    b = generate_joint(seed, length_mm=length, nominal_thickness_mm=t, spacing_mm=spacing)
    np.testing.assert_array_equal(a.gap_mm, b.gap_mm)
    np.testing.assert_array_equal(a.seam_offset_mm, b.seam_offset_mm)
    assert (a.thickness_mm, a.mismatch_mm, a.contamination_mm) == (b.thickness_mm, b.mismatch_mm, b.contamination_mm)
    # documented bounds: thickness within ±0.3 mm, gap clipped to [0, 4] mm, mismatch ≥ 0
    assert abs(a.thickness_mm - t) <= 0.3 + 1e-12
    assert a.gap_mm.shape == a.seam_offset_mm.shape == (int(round(length / spacing)) + 1,)
    assert np.all(a.gap_mm >= 0.0) and np.all(a.gap_mm <= 4.0)
    assert np.all(np.isfinite(a.seam_offset_mm))
    # offset = placement + drift + wander (normal terms): far inside 8 sd of each
    V = JOINT_VARIATION
    bound = 8 * (V["offset_sd_mm"] + V["offset_drift_sd_mm"] + 2 * V["offset_wander_sd_mm"])
    assert np.max(np.abs(a.seam_offset_mm)) < bound
    assert a.mismatch_mm >= 0.0
    if a.contamination_mm is not None:
        c0, c1 = a.contamination_mm
        assert 0.0 <= c0 < c1 <= max(length, c0 + 15.0) and 5.0 <= c1 - c0 <= 15.0
    # gap_at / seam_offset_at interpolate the samples and clamp outside the seam
    assert a.gap_at(-5.0) == a.gap_mm[0] and a.gap_at(length + 5.0) == a.gap_mm[-1]
    assert a.gap_at(spacing) == pytest.approx(a.gap_mm[1])


# ------------------------------------------------------------------------------------- process contract
@settings(max_examples=25, deadline=None)
@given(U=limit("voltage_V"), wfs=limit("wire_feed_m_min"), v=limit("travel_speed_mm_s"),
       off=st.floats(-3.0, 3.0), gas=limit("gas_flow_l_min"), dt=st.floats(0.005, 0.05))
def test_one_step_within_limits_keeps_the_contract(U, wfs, v, off, gas, dt):
    p = WeldProcess(generate_joint(1, length_mm=100.0), 1, sensor_noise=False)
    s = p.step(dt, U, wfs, v, off, gas)
    I = current_from_wire_feed(wfs, U)
    assert s.torch_position_mm == pytest.approx(v * dt)
    assert s.actual_current_A == pytest.approx(I) and s.arc_power_W == pytest.approx(U * I)
    assert s.arc_energy_J == pytest.approx(U * I * dt)
    assert s.pool_width_mm >= 0.0 and s.tracker_gap_mm >= 0.0
    assert np.all(np.isfinite(p.temperature_field()[2]))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(set(PARAMETER_LIMITS) - {"dt_s"})), below=st.booleans(),
       by=st.floats(1e-3, 100.0))
def test_step_rejects_values_outside_the_limits(name, below, by):
    lo, hi = PARAMETER_LIMITS[name]
    args = dict(dt_s=0.02, voltage_V=24.0, wire_feed_m_min=8.0, travel_speed_mm_s=10.0, torch_offset_mm=0.0,
                gas_flow_l_min=15.0)
    args[name] = lo - by if below else hi + by
    p = WeldProcess(generate_joint(2, length_mm=50.0), 2)
    with pytest.raises(ValueError, match=name):
        p.step(**args)
