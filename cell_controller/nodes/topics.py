"""Every topic of the node graph, declared once: name, type, QoS, publisher, rate and units.

Names are relative: they resolve under the cell's namespace (e.g. /cell/robot/joint_states).
Only standard ROS 2 interfaces are used, so any ROS 2 tool reads the graph. Vectors of
process values travel as std_msgs/Float64MultiArray whose layout.dim[0].label lists the
fields with their units, in order (see `fields`).
"""
from __future__ import annotations

from dataclasses import dataclass

from collections.abc import Callable
from typing import Any

from cell_controller.bus.api import DEFAULT, LATCHED, SENSOR_DATA, Node, Publisher, QoS, Subscription
from cell_controller.bridges.base import process_signals
from cell_controller.opcua.address_space import VariableSpec, spec_for

ROLES = ("robot", "welder", "machine", "feeder")
#: DDS liveliness lease of the supervisor's heartbeat and of each bridge's status, s: a node
#: process that dies is noticed by the nodes that depend on it within this lease
LIVELINESS_LEASE_S = 0.5


@dataclass(frozen=True)
class Topic:
    name: str
    type: str
    qos: QoS
    publisher: str
    rate: str
    content: str
    fields: tuple[str, ...] = ()


JOINT_STATES = Topic("robot/joint_states", "sensor_msgs/msg/JointState", SENSOR_DATA, "robot_bridge",
                     "device publishing rate (50 Hz)", "6 axis positions (rad) and velocities (rad/s)")
TCP_POSE = Topic("robot/tcp_pose", "geometry_msgs/msg/PoseStamped", SENSOR_DATA, "robot_bridge",
                 "device publishing rate (50 Hz)", "torch tip pose in the robot base frame (m, quaternion xyzw)")
SEAM_TRACKER = Topic("robot/seam_tracker", "std_msgs/msg/Float64MultiArray", SENSOR_DATA, "robot_bridge",
                     "device publishing rate (50 Hz)", "laser-line seam tracker and weld progress",
                     ("gap_mm", "seam_offset_mm", "progress", "travel_speed_mm_s", "stamp_s"))
WELD_PROCESS = Topic("welder/process", "std_msgs/msg/Float64MultiArray", SENSOR_DATA, "welder_bridge",
                     "device publishing rate (50 Hz)", "power source actual values and weld-pool width",
                     ("current_A", "voltage_V", "wire_feed_m_min", "arc_power_W", "pool_width_mm", "arc_on",
                      "stamp_s"))
WELD_SETPOINTS = Topic("weld/setpoints", "std_msgs/msg/Float64MultiArray", DEFAULT, "policy",
                       "once per device tick (welder sample + tracker reading, 50 Hz) while the arc is on",
                       "shielded weld setpoints; sensed_stamp_s is the stamp of the tick they answer",
                       ("voltage_V", "wire_feed_m_min", "travel_speed_mm_s", "torch_offset_mm", "sensed_stamp_s"))
INFEED = Topic("feeder/infeed", "std_msgs/msg/Float64MultiArray", DEFAULT, "policy",
               "control rate (50 Hz)", "feeding policy output",
               ("conveyor_speed_mm_s", "release_blank"))
CELL_STATE = Topic("state", "diagnostic_msgs/msg/DiagnosticStatus", LATCHED, "supervisor",
                   "on change", "PackML state (message) and shift progress (values)")
CELL_COMMAND = Topic("command", "std_msgs/msg/String", DEFAULT, "operator",
                     "on demand", "operator command: reset, start, stop, hold, unhold, suspend, unsuspend, abort, "
                     "clear; mode <production|maintenance|manual>; device <role> <verb> [args]; options id=, user=")
HEARTBEAT = Topic("heartbeat", "std_msgs/msg/UInt32", SENSOR_DATA.with_lease(LIVELINESS_LEASE_S), "supervisor",
                  "10 Hz", "the supervisor's life-sign counter; the bridges write it to each device's watchdog")

WELD_INSPECTION = Topic("weld/inspection", "diagnostic_msgs/msg/DiagnosticStatus", DEFAULT, "inspection",
                        "once per weld, when its arc goes out",
                        "the weld's predicted quality (message: part id); values part_id, status (known | "
                        "unknown), level (B | C | D | fail, '' when unknown), p_worse_than_c (0..1, nan when "
                        "unknown), imperfections (comma-separated ISO 6520-1 names), reason, inspector, samples")
POLICY_STATUS = Topic("policy/status", "diagnostic_msgs/msg/DiagnosticStatus", LATCHED, "policy",
                      "1 Hz and on intervention", "policy names and safety-shield intervention counts")
INSPECTION_STATUS = Topic("inspection/status", "diagnostic_msgs/msg/DiagnosticStatus", LATCHED, "inspection",
                          "1 Hz and after each weld", "the inspector's name, welds judged, unknown verdicts")
ALARM_EVENTS = Topic("alarm/events", "diagnostic_msgs/msg/DiagnosticStatus", DEFAULT, "hmi",
                     "on each raise, acknowledgement and clear of an alarm",
                     "an alarm's change (core/alarms.py), which the supervisor journals (kind alarm): values what "
                     "(raised | acknowledged | cleared), tag, priority (high | medium | low), text, user (who "
                     "acknowledged)")
#: the latched statuses an automatic start waits for: the nodes whose work every part needs have loaded it
READY_TOPICS = (POLICY_STATUS, INSPECTION_STATUS)


def device_status(role: str) -> Topic:
    return Topic(f"{role}/status", "diagnostic_msgs/msg/DiagnosticStatus", LATCHED.with_lease(LIVELINESS_LEASE_S),
                 f"{role}_bridge",
                 "on change, at least 2 Hz", "device state (message), level OK/WARN/ERROR/STALE, state values")


def divergence(role: str, signals: tuple[VariableSpec, ...]) -> Topic:
    """twin − real of each process value of a device in shadow (`bridges.base.process_signals`)."""
    return Topic(f"{role}/divergence", "std_msgs/msg/Float64MultiArray", SENSOR_DATA, f"{role}_bridge",
                 "device publishing rate, in shadow only", "twin − real of each process value, in its unit",
                 tuple(f"{v.path} [{v.unit.display}]" for v in signals if v.unit is not None))


def transition_event(role: str) -> Topic:
    """The bridge's `~/transition_event`: each lifecycle transition, as rclpy.lifecycle publishes it."""
    return Topic(f"{role}_bridge/transition_event", "lifecycle_msgs/msg/TransitionEvent", DEFAULT, f"{role}_bridge",
                 "on each lifecycle transition", "the transition and its start and goal states (lifecycle_msgs ids)")


def device_command(role: str) -> Topic:
    return Topic(f"{role}/command", "diagnostic_msgs/msg/DiagnosticStatus", DEFAULT, "supervisor",
                 "on demand", "device command (message) with values id and arguments")


#: the device kind each role's divergence fields are listed for in `ALL_TOPICS` (a cnc's differ from a press's)
_LISTED_KINDS = {"robot": "robot", "welder": "welder", "machine": "press", "feeder": "feeder"}

ALL_TOPICS: tuple[Topic, ...] = (
    JOINT_STATES, TCP_POSE, SEAM_TRACKER, WELD_PROCESS, WELD_SETPOINTS, INFEED, CELL_STATE, CELL_COMMAND,
    HEARTBEAT, POLICY_STATUS, WELD_INSPECTION, INSPECTION_STATUS, ALARM_EVENTS, *(device_status(r) for r in ROLES), *(device_command(r) for r in ROLES),
    *(divergence(r, process_signals(spec_for(_LISTED_KINDS[r]))) for r in ROLES),
    *(transition_event(r) for r in ROLES),
)


def publisher(node: Node, topic: Topic) -> Publisher:
    """`node`'s publisher of `topic`, with the topic's type and QoS."""
    return node.create_publisher(topic.type, topic.name, topic.qos)


def subscribe(node: Node, topic: Topic, callback: Callable[[Any], None]) -> Subscription:
    """`node`'s subscription to `topic`, with the topic's type and QoS."""
    return node.create_subscription(topic.type, topic.name, callback, topic.qos)


def supervisor_alive(heartbeat: Subscription) -> bool:
    """The cell's one supervisor is alive: exactly one writer of `heartbeat` holds its liveliness. None: it
    died. Two or more: a rogue participant or a second supervisor started by mistake, and nobody can tell
    which is the cell's, so none is trusted (the devices' watchdogs are not fed and trip: fail-safe)."""
    return heartbeat.alive_publisher_count() == 1
