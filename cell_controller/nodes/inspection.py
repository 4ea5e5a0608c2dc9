"""The inspection node: judges every finished weld from the process topics and publishes the verdict on
`weld/inspection`, which the supervisor records with the part (policies/inspection.py says how).

A weld is the welder's samples while its arc burns (`welder/process`, arc_on), for the part the robot's
status names last while the arc burns: the status seen at the strike may still name the part before (the
robot's approach can be shorter than a status period), and a status that names no part never takes the
weld's away. Each sample is paired with the newest seam-tracker reading
(`robot/seam_tracker`: gap, offset, travel speed); the torch's position along the seam is the travel
speed integrated over the samples' stamps (cell time, s), as a cell without the twin's position knows
it. When the arc goes out the weld is judged once and the verdict published for that part. A sample with
a value that is not finite is kept as it is: the inspector then answers `unknown` with the reason.
"""
from __future__ import annotations

import math

from cell_controller.bus.api import Node
from cell_controller.policies import registry
from cell_controller.policies.inspection import Inspection, WeldInspector, WeldSignals

from . import topics
from .codec import OK, WARN, Codec
from .runtime import spin_until_signal, start_node

STATUS_PERIOD_S = 1.0


def inspection_values(part_id: str, verdict: Inspection, inspector: str, samples: int) -> dict[str, str]:
    """The `weld/inspection` message's values (topics.WELD_INSPECTION)."""
    return {"part_id": part_id, "status": verdict.status, "level": verdict.level,
            "p_worse_than_c": repr(verdict.p_worse_than_c), "imperfections": ",".join(verdict.imperfections),
            "reason": verdict.reason, "inspector": inspector, "samples": str(samples)}


class InspectionNode:
    def __init__(self, node: Node, inspector: WeldInspector):
        self.node, self.inspector = node, inspector
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.robot_part_id = ""
        self.tracker: dict[str, float] | None = None
        self.weld_part_id: str | None = None  # the part under the torch while the arc burns
        self.rows: list[dict[str, float]] = []
        self.position_mm = 0.0
        self.last_stamp_s: float | None = None
        self.publisher = topics.publisher(node, topics.WELD_INSPECTION)
        self.status = topics.publisher(node, topics.INSPECTION_STATUS)
        self.counts = {"welds": 0, "unknown": 0}
        topics.subscribe(node, topics.WELD_PROCESS, self._on_process)
        topics.subscribe(node, topics.SEAM_TRACKER, self._on_tracker)
        topics.subscribe(node, topics.device_status("robot"), self._on_robot)
        node.create_timer(STATUS_PERIOD_S, self.publish_status)
        self.publish_status()

    def publish_status(self) -> None:
        values = {"inspector": self.inspector.name, **{k: str(n) for k, n in self.counts.items()}}
        self.status.publish(self.codec.status("inspection", "running", OK, values))

    def _on_robot(self, msg) -> None:
        self.robot_part_id = self.codec.read_device_status(msg).part_id
        if self.weld_part_id is not None and self.robot_part_id:
            self.weld_part_id = self.robot_part_id

    def _on_tracker(self, msg) -> None:
        self.tracker = Codec.read_array(topics.SEAM_TRACKER, msg, finite=False) or self.tracker

    def _on_process(self, msg) -> None:
        sample = Codec.read_array(topics.WELD_PROCESS, msg, finite=False)
        if sample is None:
            return
        if sample["arc_on"] > 0.5:
            if self.weld_part_id is None:
                self.weld_part_id, self.rows, self.position_mm, self.last_stamp_s = self.robot_part_id, [], 0.0, None
            self._add(sample)
        elif self.weld_part_id is not None:
            self.finish()

    def _add(self, sample: dict[str, float]) -> None:
        tracker = self.tracker or {}
        speed_mm_s = tracker.get("travel_speed_mm_s", math.nan)
        stamp_s = sample["stamp_s"]
        if self.last_stamp_s is not None and math.isfinite(speed_mm_s) and stamp_s > self.last_stamp_s:
            self.position_mm += speed_mm_s * (stamp_s - self.last_stamp_s)
        self.last_stamp_s = stamp_s
        self.rows.append({"position_mm": self.position_mm, "current_A": sample["current_A"],
                          "voltage_V": sample["voltage_V"], "wire_feed_m_min": sample["wire_feed_m_min"],
                          "travel_speed_mm_s": speed_mm_s, "gap_mm": tracker.get("gap_mm", math.nan),
                          "seam_offset_mm": tracker.get("seam_offset_mm", math.nan),
                          "pool_width_mm": sample["pool_width_mm"]})

    def finish(self) -> None:
        """Judge the weld whose arc just went out and publish the verdict."""
        part_id, rows = self.weld_part_id or "", self.rows
        self.weld_part_id, self.rows = None, []
        verdict = self.inspector.inspect(WeldSignals.from_rows(rows))
        values = inspection_values(part_id, verdict, self.inspector.name, len(rows))
        self.publisher.publish(self.codec.status("inspection", part_id, OK if verdict.known else WARN, values))
        self.counts["welds"] += 1
        self.counts["unknown"] += not verdict.known
        self.publish_status()
        self.log.info("weld of %s: %s", part_id or "(no part)", verdict.level or f"unknown ({verdict.reason})")


def main(argv: list[str] | None = None) -> None:
    node, _config, inspector = start_node("inspection", argv, lambda n, c: registry.inspector(c))
    InspectionNode(node, inspector)
    spin_until_signal(node)
