"""The shield between the welding policy and the actuators, with the real cell description's limits."""
from __future__ import annotations

import math
from dataclasses import astuple, fields, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cell_controller.core.config import load_cell
from cell_controller.core.shield import WeldShield
from cell_controller.core.types import WeldObservation, WeldParameters
from cell_controller.policies.registry import weld_policy_fallback

CONFIG = load_cell(Path(__file__).resolve().parents[2] / "config" / "cell.yaml")
LIMITS = {**CONFIG.device("welder").limits, **CONFIG.device("robot").limits}
RATES = CONFIG.policies.rate_limits_per_s
DT = 1.0 / CONFIG.policies.control_rate_Hz
FALLBACK = weld_policy_fallback(CONFIG).act(None, DT)  # type: ignore[arg-type]  # the fixed recipe ignores it
#: WeldParameters field -> its limit in the cell description: every setpoint is limited
FIELD_LIMITS = {"current_A": "current", "voltage_V": "voltage", "wire_feed_m_min": "wire_feed",
                "travel_speed_mm_s": "travel_speed", "torch_offset_mm": "torch_offset"}
#: the setpoints with a rate limit (a CV power source sets the current through the wire feed)
RATE_FIELDS = {name: key for name, key in FIELD_LIMITS.items() if key in RATES}

OBS = WeldObservation(gap_mm=0.5, seam_offset_mm=0.1, pool_width_mm=6.0, actual_current_A=230.0,
                      actual_voltage_V=24.0, actual_wire_feed_m_min=8.0, travel_speed_mm_s=7.0, progress=0.3)
#: a legal action away from the recipe, so a fallback is visible
GOOD = WeldParameters(current_A=220.0, voltage_V=25.0, wire_feed_m_min=9.0, travel_speed_mm_s=8.0, torch_offset_mm=1.0)


def shield() -> WeldShield:
    return WeldShield(LIMITS, RATES, weld_policy_fallback(CONFIG))


def test_cell_description_limits_are_what_the_shield_enforces() -> None:
    # guards the test's premises: the limits and rate limits exist and the fallback is inside them
    assert set(FIELD_LIMITS) == {f.name for f in fields(WeldParameters)}
    assert set(FIELD_LIMITS.values()) <= set(LIMITS)
    assert set(RATE_FIELDS) == {"voltage_V", "wire_feed_m_min", "travel_speed_mm_s", "torch_offset_mm"}
    for name, key in FIELD_LIMITS.items():
        assert LIMITS[key].contains(getattr(FALLBACK, name))
        assert LIMITS[key].contains(getattr(GOOD, name))
    assert GOOD != FALLBACK


def test_legal_action_passes_untouched() -> None:
    s = shield()
    out = s.filter(GOOD, OBS, DT)
    assert out.action == GOOD and out.interventions == () and sum(s.counts.values()) == 0


@pytest.mark.parametrize("name", [f.name for f in fields(WeldParameters)])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_action_gets_the_fallback(name: str, bad: float) -> None:
    s = shield()
    out = s.filter(replace(GOOD, **{name: bad}), OBS, DT)
    assert out.action == FALLBACK
    assert out.interventions == ("non_finite_action",)
    assert s.counts["non_finite_action"] == 1


@pytest.mark.parametrize("name", [f.name for f in fields(WeldObservation)])
def test_non_finite_observation_gets_the_fallback(name: str) -> None:
    s = shield()
    out = s.filter(GOOD, replace(OBS, **{name: math.nan}), DT)
    assert out.action == FALLBACK
    assert out.interventions == ("non_finite_observation",)
    assert s.counts["non_finite_observation"] == 1 and s.counts["non_finite_action"] == 0


@pytest.mark.parametrize(("name", "proposed"), [
    ("voltage_V", 50.0), ("voltage_V", 0.0), ("wire_feed_m_min", 100.0), ("wire_feed_m_min", -1.0),
    ("travel_speed_mm_s", 0.0), ("travel_speed_mm_s", 1e9), ("torch_offset_mm", -10.0), ("torch_offset_mm", 3.5),
    ("current_A", 5000.0), ("current_A", 0.0),
])
def test_out_of_range_is_clamped_to_the_cell_limits_and_counted(name: str, proposed: float) -> None:
    s = shield()
    out = s.filter(replace(GOOD, **{name: proposed}), OBS, DT)
    limit = LIMITS[FIELD_LIMITS[name]]
    expected = limit.high if proposed > limit.high else limit.low
    assert getattr(out.action, name) == expected
    assert out.interventions == (f"clamped_{name}",)
    assert s.counts[f"clamped_{name}"] == 1
    # every other field is untouched
    assert replace(out.action, **{name: getattr(GOOD, name)}) == GOOD


def test_rate_limits_hold_over_consecutive_calls() -> None:
    s = shield()
    low = WeldParameters(current_A=100.0, voltage_V=17.0, wire_feed_m_min=3.0, travel_speed_mm_s=3.0,
                         torch_offset_mm=-3.0)
    high = WeldParameters(current_A=300.0, voltage_V=30.0, wire_feed_m_min=14.0, travel_speed_mm_s=12.0,
                          torch_offset_mm=3.0)
    previous = s.filter(low, OBS, DT).action
    assert previous == low  # the first action has nothing to be rate-limited against
    limited_calls = 0
    for tick in range(400):
        target = high if (tick // 100) % 2 == 0 else low
        out = s.filter(target, OBS, DT)
        for name, key in RATE_FIELDS.items():
            change = abs(getattr(out.action, name) - getattr(previous, name))
            assert change <= RATES[key] * DT + 1e-9, (tick, name, change)
        limited_calls += bool(out.interventions)
        previous = out.action
    # voltage: 13 V at 8 V/s and 20 ms per tick takes 82 ticks, so every half-period ends at its target
    assert previous == low
    assert limited_calls > 100
    assert s.counts["rate_limited_voltage_V"] > 0 and s.counts["rate_limited_travel_speed_mm_s"] > 0


def test_rate_limit_scales_with_dt() -> None:
    s = shield()
    s.filter(replace(GOOD, voltage_V=17.0), OBS, 0.02)
    out = s.filter(replace(GOOD, voltage_V=30.0), OBS, 0.5)
    assert out.action.voltage_V == pytest.approx(17.0 + RATES["voltage"] * 0.5)


def test_fallback_is_rate_limited_too() -> None:
    s = shield()
    s.filter(replace(GOOD, voltage_V=17.0), OBS, DT)
    out = s.filter(replace(GOOD, voltage_V=math.nan), OBS, DT)
    assert out.action.voltage_V == pytest.approx(17.0 + RATES["voltage"] * DT)
    assert out.interventions[0] == "non_finite_action" and "rate_limited_voltage_V" in out.interventions


def test_reset_clears_rate_limit_memory_and_resets_the_fallback() -> None:
    class SpyFallback:
        name = "spy"
        resets = 0

        def reset(self) -> None:
            self.resets += 1

        def act(self, observation: WeldObservation, dt_s: float) -> WeldParameters:
            return FALLBACK

    spy = SpyFallback()
    s = WeldShield(LIMITS, RATES, spy)
    s.filter(replace(GOOD, voltage_V=17.0), OBS, DT)
    assert s.filter(replace(GOOD, voltage_V=30.0), OBS, DT).action.voltage_V < 30.0
    s.reset()
    assert spy.resets == 1
    out = s.filter(replace(GOOD, voltage_V=30.0), OBS, DT)
    assert out.action.voltage_V == 30.0 and out.interventions == ()


def test_a_seam_started_on_the_procedure_is_rate_limited_from_it() -> None:
    s = shield()
    s.filter(replace(GOOD, voltage_V=17.0), OBS, DT)  # the last seam ended low
    s.reset(FALLBACK)  # the devices load the procedure at arc start
    out = s.filter(replace(GOOD, voltage_V=30.0), OBS, DT)
    assert out.action.voltage_V == pytest.approx(FALLBACK.voltage_V + RATES["voltage"] * DT)
    assert "rate_limited_voltage_V" in out.interventions


_any_float = st.floats(allow_nan=True, allow_infinity=True)
_actions = st.builds(WeldParameters, current_A=_any_float, voltage_V=_any_float, wire_feed_m_min=_any_float,
                     travel_speed_mm_s=_any_float, torch_offset_mm=_any_float)
_observations = st.one_of(
    st.just(OBS),
    st.builds(WeldObservation, *[_any_float for _ in fields(WeldObservation)]),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(steps=st.lists(st.tuples(_actions, _observations, st.floats(0.001, 1.0)), min_size=1, max_size=6))
def test_output_is_always_finite_within_limits_and_rate(steps) -> None:
    s = shield()
    previous = None
    for proposed, observation, dt in steps:
        out = s.filter(proposed, observation, dt)
        assert all(math.isfinite(v) for v in astuple(out.action)), out
        for name, key in FIELD_LIMITS.items():
            assert LIMITS[key].contains(getattr(out.action, name)), (name, out)
        if previous is not None:
            for name, key in RATE_FIELDS.items():
                assert abs(getattr(out.action, name) - getattr(previous, name)) <= RATES[key] * dt + 1e-9
        if not all(math.isfinite(v) for v in astuple(observation)):
            assert out.interventions[0] == "non_finite_observation"
        elif not all(math.isfinite(v) for v in astuple(proposed)):
            assert out.interventions[0] == "non_finite_action"
        previous = out.action
    assert sum(s.counts.values()) >= sum(1 for p, o, _ in steps
                                         if not all(math.isfinite(v) for v in astuple(p) + astuple(o)))
