"""The policy node: welding and feeding policies in the loop, behind the safety shield.

Sensors come from the bridges' topics; shielded setpoints go back to them. Every shield
intervention is logged and counted on policy/status.

Welding runs on the devices' samples, not on a timer: as soon as the welder sample
(`welder/process`) and the seam-tracker reading (`robot/seam_tracker`) of one device tick
are both in — their stamps within half a tick, as ROS's approximate-time
synchronizer pairs them — and the arc burns, the policy acts once on the pair and the
setpoints are published at once. A reading is never paired with another tick's: at arc
start the tracker still holds the last seam's end. The policy's step `dt_s` is the cell
time between the stamps of the ticks acted on, so a tick the bridges never saw lengthens
the step instead of shifting the policy's idea of where the torch is.

Feeding runs on the feeder's statuses too, while the cell produces, through `FeedLoop`
(core/feed_loop.py), the rule the flow model's runs and the feeding env use as well: at most
`policies.control_rate` times per second of cell time, its step the cell time since the policy was
last asked, a second release withheld until the feeder counts the first blank. Nothing here runs on
the wall clock, so the feeding is the same at any twin time scale (up to the feeder's publishing
period in cell time: the flow model's `status_period_s`).
"""
from __future__ import annotations

from cell_controller.bus.api import Node
from cell_controller.core.config import CellConfig
from cell_controller.core.packml import State
from cell_controller.core.policy import FeedPolicy, WeldPolicy
from cell_controller.core.shield import WeldShield
from cell_controller.core.types import DeviceState, FeedObservation, WeldObservation
from cell_controller.policies import registry
from cell_controller.core.baselines import FixedRecipeWeldPolicy
from cell_controller.core.feed_loop import FeedLoop

from . import topics
from .codec import OK, WARN, Codec
from .runtime import spin_until_signal, start_node

STATUS_PERIOD_S = 1.0
#: the supervisor's states in which blanks are released (production runs or waits for blanks)
FEEDING_STATES = frozenset({State.STARTING, State.EXECUTE, State.SUSPENDING, State.SUSPENDED, State.UNSUSPENDING,
                            State.UNHOLDING})


class PolicyNode:
    def __init__(self, node: Node, config: CellConfig, weld: WeldPolicy, feed: FeedPolicy):
        self.node, self.config, self.weld, self.feed = node, config, weld, feed
        self.log = node.get_logger()
        self.codec = Codec(node)
        limits = {**config.device("welder").limits, **config.device("robot").limits}
        self.shield = WeldShield(limits, config.policies.rate_limits_per_s, registry.weld_policy_fallback(config))
        #: what the devices hold when an arc starts: they load the procedure (job mode)
        self.arc_start_setpoints = FixedRecipeWeldPolicy(config.procedure).action
        self.tracker: dict[str, float] | None = None  # fields of topics.SEAM_TRACKER, the newest reading
        self.process: dict[str, float] | None = None  # fields of topics.WELD_PROCESS, the newest sample
        self.acted_stamp_s: float | None = None  # device stamp of the last tick acted on this weld
        #: cell time between the welder's samples, s (time_scale is 1 whenever a device is real)
        self.tick_s = config.time_scale / config.device("welder").publishing_rate_Hz
        self.feeder: dict[str, str] = {}
        self.arc_was_on = False
        self.feed_loop = FeedLoop(feed, 1.0 / config.policies.control_rate_Hz)
        self.setpoints = topics.publisher(node, topics.WELD_SETPOINTS)
        self.infeed = topics.publisher(node, topics.INFEED)
        self.status = topics.publisher(node, topics.POLICY_STATUS)
        topics.subscribe(node, topics.SEAM_TRACKER, self._on_tracker)
        topics.subscribe(node, topics.WELD_PROCESS, self._on_process)
        self.busy: dict[str, bool] = {"robot": False, "machine": False}
        t = topics.device_status("feeder")
        node.create_subscription(t.type, t.name, self._on_feeder, t.qos)
        for role in self.busy:
            t = topics.device_status(role)
            node.create_subscription(t.type, t.name, lambda msg, role=role: self._on_busy(role, msg), t.qos)
        self.cell_state = ""
        node.create_subscription(topics.CELL_STATE.type, topics.CELL_STATE.name,
                                 lambda msg: setattr(self, "cell_state", msg.message), topics.CELL_STATE.qos)
        self.supervisor = node.create_subscription(topics.HEARTBEAT.type, topics.HEARTBEAT.name, lambda msg: None,
                                                   topics.HEARTBEAT.qos)
        node.create_timer(STATUS_PERIOD_S, self.publish_status)
        self.publish_status()

    def _on_tracker(self, msg) -> None:
        tracker = Codec.read_array(topics.SEAM_TRACKER, msg)
        if tracker is not None:
            self.tracker = tracker
            self.tick_weld()

    def _on_process(self, msg) -> None:
        process = Codec.read_array(topics.WELD_PROCESS, msg)
        if process is None:
            return
        arc_on = process["arc_on"] > 0.5
        if arc_on and not self.arc_was_on:
            self.weld.reset()
            self.shield.reset(self.arc_start_setpoints)
            self.acted_stamp_s = None
        self.arc_was_on = arc_on
        self.process = process
        self.tick_weld()

    def _on_busy(self, role: str, msg) -> None:
        self.busy[role] = self.codec.read_device_status(msg).state is DeviceState.BUSY

    def tick_weld(self) -> None:
        """Act once per device tick whose welder sample and tracker reading are both in, while the arc burns."""
        tracker, process = self.tracker, self.process
        if tracker is None or process is None or not self.arc_was_on:
            return
        stamp_s = process["stamp_s"]
        if abs(tracker["stamp_s"] - stamp_s) > self.tick_s / 2:
            return  # the other reading of this tick is not in yet
        if self.acted_stamp_s is not None and stamp_s <= self.acted_stamp_s:
            return  # this tick (or a newer one) has been acted on
        dt_s = self.tick_s if self.acted_stamp_s is None else stamp_s - self.acted_stamp_s
        self.acted_stamp_s = stamp_s
        observation = WeldObservation(
            gap_mm=tracker["gap_mm"], seam_offset_mm=tracker["seam_offset_mm"],
            pool_width_mm=process["pool_width_mm"], actual_current_A=process["current_A"],
            actual_voltage_V=process["voltage_V"], actual_wire_feed_m_min=process["wire_feed_m_min"],
            travel_speed_mm_s=tracker["travel_speed_mm_s"], progress=tracker["progress"],
        )
        shielded = self.shield.filter(self.weld.act(observation, dt_s), observation, dt_s)
        if shielded.interventions:
            self.log.warning("shield: %s", ", ".join(shielded.interventions))
        a = shielded.action
        self.setpoints.publish(self.codec.array(topics.WELD_SETPOINTS, (
            a.voltage_V, a.wire_feed_m_min, a.travel_speed_mm_s, a.torch_offset_mm, stamp_s)))

    @property
    def feeding(self) -> bool:
        """Blanks are released only while the supervisor lives (its heartbeat's liveliness) and produces."""
        return topics.supervisor_alive(self.supervisor) and self.cell_state in {s.value for s in FEEDING_STATES}

    def _on_feeder(self, msg) -> None:
        self.feeder = self.codec.values(msg)
        self.tick_feed()

    def tick_feed(self) -> None:
        """One feeding decision on the feeder's latest status while the cell produces, if its time has come."""
        f = self.feeder
        stamp_s = float(f.get("stamp_s", 0.0) or 0.0)
        if stamp_s <= 0.0 or not self.feeding:
            return
        observation = FeedObservation(
            buffer_count=int(f.get("buffer_count", 0)), buffer_capacity=int(f.get("buffer_capacity", 0)),
            part_at_fixture=bool(f.get("fixture_part")), robot_busy=self.busy["robot"],
            machine_busy=self.busy["machine"],
            conveyor_speed_mm_s=float(f.get("conveyor_speed_mm_s", 0.0)),
            time_since_last_feed_s=float(f.get("time_since_release_s", "inf")),
        )
        action = self.feed_loop.on_status(stamp_s, observation, int(f.get("blanks_released", 0) or 0))
        if action is None:
            return
        self.infeed.publish(self.codec.array(topics.INFEED, (action.conveyor_speed_mm_s, float(action.release_blank))))

    def publish_status(self) -> None:
        counts = dict(self.shield.counts)
        values = {"weld_policy": self.weld.name, "feed_policy": self.feed.name,
                  "interventions": str(sum(counts.values())), **{k: str(v) for k, v in counts.items()}}
        self.status.publish(self.codec.status("policy", "running", WARN if counts else OK, values))


def main(argv: list[str] | None = None) -> None:
    node, config, policies = start_node("policy", argv, lambda n, c: (registry.weld_policy(c), registry.feed_policy(c)))
    PolicyNode(node, config, *policies)
    spin_until_signal(node)
