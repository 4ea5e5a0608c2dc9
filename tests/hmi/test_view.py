"""What the operator page is sent (hmi/view.py): trends, weld traces, parts and devices as JSON-able values."""
from __future__ import annotations

import json
import math

from cell_controller.core.journal import CostLine, Outcome, PartRecord
from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.hmi.view import (
    PARTS_SHOWN, TRACES_KEPT, Trend, WeldTraces, device_message, parts_message,
)


def process(stamp_s: float, arc_on: float, current_A: float = 200.0) -> dict[str, float]:
    return {"stamp_s": stamp_s, "current_A": current_A, "voltage_V": 24.0, "wire_feed_m_min": 8.0,
            "arc_power_W": 4800.0, "pool_width_mm": math.nan, "arc_on": arc_on}


def test_a_trend_batch_carries_what_arrived_since_the_last_and_no_nan() -> None:
    trend = Trend()
    assert trend.take() is None
    trend.add_process(process(1.0, 1.0))
    trend.add_setpoints({"sensed_stamp_s": 1.0, "voltage_V": 24.0, "wire_feed_m_min": 8.0, "travel_speed_mm_s": 10.0,
                         "torch_offset_mm": 0.0})
    message = trend.take()
    assert message["process"] == [[1.0, 200.0, 24.0, 8.0, None]]  # a missing pool width is null, not NaN
    assert message["setpoints"] == [[1.0, 24.0, 8.0, 10.0]]
    json.dumps(message, allow_nan=False)
    assert trend.take() is None


def test_each_weld_is_traced_for_the_part_the_robot_named_when_the_arc_struck() -> None:
    traces = WeldTraces()
    traces.robot_part_id, traces.travel_speed_mm_s = "P000001", 10.0
    traces.add_process(process(5.0, 0.0))  # no arc: nothing
    traces.add_process(process(10.0, 1.0))
    traces.robot_part_id = "P000002"  # the robot moves on; the weld under way stays P000001's
    traces.add_process(process(10.5, 1.0, current_A=210.0))
    traces.add_process(process(11.0, 0.0))
    assert traces.trace("P000001") == [[0.0, 200.0, 24.0, 8.0, None, 10.0], [0.5, 210.0, 24.0, 8.0, None, 10.0]]
    assert traces.trace("P000002") is None
    traces.robot_part_id = "P000001"  # Unhold: the weld of P000001 goes on in its trace
    traces.add_process(process(20.0, 1.0))
    assert len(traces.trace("P000001")) == 3 and traces.trace("P000001")[-1][0] == 10.0
    traces.add_process(process(20.5, 0.0))
    traces.robot_part_id = ""  # an arc for no part is traced for none
    traces.add_process(process(30.0, 1.0))
    assert list(traces.traces) == ["P000001"]
    traces.add_process(process(30.5, 0.0))
    for n in range(TRACES_KEPT + 5):
        traces.robot_part_id = f"Q{n}"
        traces.add_process(process(20.0 + n, 1.0))
        traces.add_process(process(20.5 + n, 0.0))
    assert len(traces.traces) == TRACES_KEPT and traces.trace("P000001") is None


def _record(n: int, cycle_time_s: float | None) -> PartRecord:
    return PartRecord(f"P{n:06d}", 1, 0.0, 1.0, Outcome.GOOD, "", cycle_time_s, 200.0, 24.0, 8.0, 10.0, 110.4, 20.0,
                      6.0, 2.0, ("porosity",), "B", "fixed_recipe", "fixed_rate", {}, "h",
                      costs={"electricity": CostLine(0.043, "kWh", 0.01)})


def test_the_parts_table_shows_the_newest_first_with_units_in_the_names() -> None:
    rows = parts_message([_record(n, 24.0 if n else None) for n in range(PARTS_SHOWN + 3)])["rows"]
    assert len(rows) == PARTS_SHOWN and rows[0]["part_id"] == f"P{PARTS_SHOWN + 2:06d}"
    assert rows[0] | {"part_id": ""} == {"part_id": "", "outcome": "good", "level": "B", "imperfections": ["porosity"],
                                         "reason": "", "cycle_time_s": 24.0, "arc_energy_kJ": 110.4,
                                         "energy_kWh": 0.043}


def test_a_device_without_a_bridge_is_shown_gone() -> None:
    assert device_message("robot", None, 0)["state"] == "gone"
    status = DeviceStatus("welder", DeviceState.FAULT, "", "wire stuck", {"backend": "real", "secret": "x"})
    shown = device_message("welder", status, 2)
    assert (shown["state"], shown["level"], shown["values"]) == ("fault", "ERROR", {"backend": "real"})
