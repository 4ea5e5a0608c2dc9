"""The inspection node judges each weld once, when its arc goes out, for the part the robot names last
while the arc burns; its positions come from the travel speed over the samples' stamps; a sample that is not
finite makes the verdict unknown, never a confident one."""
from __future__ import annotations

import math

import pytest

from cell_controller.core.types import DeviceState, DeviceStatus
from cell_controller.nodes import topics
from cell_controller.nodes.codec import Codec
from cell_controller.nodes.inspection import InspectionNode
from cell_controller.policies.inspection import HeatInputRule
from cell_controller.sim.physics.weld import NOMINAL_PROCEDURE

from harness import RecordingPublisher

STAMP_S = 1_790_000_000.0
TICK_S = 0.1  # cell time between samples, s


class RecordingInspector(HeatInputRule):
    """The heat-input rule, keeping the signals it was given (the node is the subject)."""

    def inspect(self, signals):
        self.seen = signals
        return super().inspect(signals)


@pytest.fixture
def rig(bus_node):
    inspector = RecordingInspector()
    node = InspectionNode(bus_node, inspector)
    node.publisher = RecordingPublisher()
    codec = Codec(bus_node)

    def robot(part_id: str) -> None:
        node._on_robot(codec.device_status(DeviceStatus("robot", DeviceState.BUSY, part_id, "", {}), "robot"))

    def tick(stamp_s: float, arc_on: bool = True, current_A: float = NOMINAL_PROCEDURE.current_A,
             speed_mm_s: float = NOMINAL_PROCEDURE.travel_speed_mm_s) -> None:
        node._on_tracker(codec.array(topics.SEAM_TRACKER, (1.0, 0.0, 0.5, speed_mm_s, stamp_s)))
        node._on_process(codec.array(topics.WELD_PROCESS, (current_A, NOMINAL_PROCEDURE.voltage_V,
                                                           NOMINAL_PROCEDURE.wire_feed_m_min, 5000.0, 8.0,
                                                           float(arc_on), stamp_s)))

    def weld(part_id: str, seconds: float, start_s: float = STAMP_S, struck_for: str | None = None,
             **sample) -> None:
        """struck_for: the part the robot's status still names when the arc strikes (default: part_id)."""
        robot(part_id if struck_for is None else struck_for)
        for i in range(int(round(seconds / TICK_S)) + 1):
            if i == 5:
                robot(part_id)
            tick(start_s + i * TICK_S, **sample)
        robot("")  # the part leaves the robot before the arc's end is seen: the weld keeps its part
        tick(start_s + seconds + TICK_S, arc_on=False)
    return node, inspector, weld, tick


def verdicts(node: InspectionNode) -> list[dict[str, str]]:
    return [Codec.values(m) for m in node.publisher.messages]


def test_one_verdict_per_weld_for_the_part_under_the_torch(rig) -> None:
    node, inspector, weld, tick = rig
    weld("P000001", 20.0)
    tick(STAMP_S + 25.0, arc_on=False)  # the arc stays out: nothing more
    (first,) = verdicts(node)
    assert first["part_id"] == "P000001" and first["status"] == "known" and first["level"] == "B"
    assert first["inspector"] == "heat_input_rule" and int(first["samples"]) == 201
    # 20 s at 10 mm/s, integrated over the stamps
    assert inspector.seen.position_mm[-1] == pytest.approx(200.0)
    weld("P000002", 20.0, start_s=STAMP_S + 60.0, speed_mm_s=NOMINAL_PROCEDURE.travel_speed_mm_s * 1.4)
    second = verdicts(node)[1]
    assert second["part_id"] == "P000002" and second["level"] == "D" and float(second["p_worse_than_c"]) == 1.0


def test_a_status_late_at_the_strike_never_gives_the_weld_to_the_part_before(rig) -> None:
    node, _, weld, _ = rig
    weld("P000001", 20.0)
    weld("P000002", 20.0, start_s=STAMP_S + 60.0, struck_for="P000001")  # the robot's status lagged
    weld("P000003", 20.0, start_s=STAMP_S + 120.0, struck_for="")  # the first status of all came late
    assert [v["part_id"] for v in verdicts(node)] == ["P000001", "P000002", "P000003"]


def test_a_sample_that_is_not_finite_makes_the_verdict_unknown(rig) -> None:
    node, _, weld, _ = rig
    weld("P000003", 20.0, current_A=math.nan)
    (verdict,) = verdicts(node)
    assert verdict["status"] == "unknown" and verdict["level"] == "" and "current_A" in verdict["reason"]
    assert node.publisher.messages[0].level in (1, b"\x01")  # WARN
