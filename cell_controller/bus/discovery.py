"""What is on the wire: the ROS 2 graph as DDS discovery sees it, and a check against the topic table.

`discover(duration_s)` listens on the domain of ROS_DOMAIN_ID (through this process's
participant) for `duration_s` seconds and returns a `Graph`: participants, every DDS
reader and writer (Cyclone's builtin topics DCPSParticipant / DCPSPublication /
DCPSSubscription: DDS topic and type names, reliability, durability, history depth) and
the ROS nodes that `ros_discovery_info` attributes them to. It sees any ROS 2 process
on the domain (rclpy or rclcpp on rmw_cyclonedds_cpp too), not only this package's.

`check_against_topic_table(graph, namespace)` lists every way the endpoints under a cell's
namespace differ from `cell_controller.nodes.topics` (the one table of topics).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from cyclonedds.builtin import (
    BuiltinDataReader,
    BuiltinTopicDcpsParticipant,
    BuiltinTopicDcpsPublication,
    BuiltinTopicDcpsSubscription,
)
from cyclonedds.core import InstanceState, Policy
from cyclonedds.sub import DataReader

from cell_controller.bus import api, dds, ros_discovery
from cell_controller.bus.messages import dds_type_name, message_class
from cell_controller.bus.names import DDS_TOPIC_PREFIX, dds_topic_name, resolve_topic

if TYPE_CHECKING:
    from cell_controller.nodes.topics import Topic as TableTopic

#: Largest number of builtin-topic samples read at once.
_MAX_SAMPLES = 100_000
#: How often `discover` drains `ros_discovery_info` while it listens, s.
_POLL_S = 0.05
#: Topics every ROS 2 node may carry besides its own; never flagged.
_ROS_INFRASTRUCTURE = frozenset({"rt/rosout", "rt/parameter_events"})
_DURABILITY = {Policy.Durability.Volatile: "volatile", Policy.Durability.TransientLocal: "transient_local",
               Policy.Durability.Transient: "transient", Policy.Durability.Persistent: "persistent"}
#: History depth reported for KEEP_ALL.
KEEP_ALL = -1


@dataclass(frozen=True)
class Endpoint:
    """One DDS DataReader or DataWriter as discovery announces it."""

    kind: str  # "reader" | "writer"
    guid: uuid.UUID
    participant: uuid.UUID
    topic_name: str  # DDS name, e.g. 'rt/cell/robot/joint_states'
    type_name: str  # DDS name, e.g. 'sensor_msgs::msg::dds_::JointState_'
    reliability: str  # api.Reliability values: 'reliable' | 'best_effort'
    durability: str  # 'volatile' | 'transient_local' | 'transient' | 'persistent'
    depth: int  # KEEP_LAST depth, or KEEP_ALL (-1)
    lifespan_ns: int  # 2**63 - 1: infinite
    dds_qos: Any  # the full cyclonedds Qos

    @property
    def ros_topic(self) -> str | None:
        """'/cell/robot/joint_states' for a ROS topic ('rt/...'), else None."""
        prefix = DDS_TOPIC_PREFIX + "/"
        return self.topic_name[len(prefix) - 1:] if self.topic_name.startswith(prefix) else None

    @property
    def ros_type(self) -> str | None:
        """'sensor_msgs/msg/JointState' for a ROS type name ('pkg::msg::dds_::Type_'), else None."""
        parts = self.type_name.split("::")
        if len(parts) != 4 or parts[2] != "dds_" or not parts[3].endswith("_"):
            return None
        return f"{parts[0]}/{parts[1]}/{parts[3][:-1]}"


@dataclass(frozen=True)
class NodeInfo:
    """A ROS node as its participant's `ros_discovery_info` names it; GIDs as DDS GUIDs."""

    namespace: str
    name: str
    participant: uuid.UUID
    readers: frozenset[uuid.UUID]
    writers: frozenset[uuid.UUID]

    @property
    def fq_name(self) -> str:
        return self.namespace.rstrip("/") + "/" + self.name


@dataclass(frozen=True)
class Graph:
    """A snapshot of the domain: alive participants, endpoints and ROS nodes."""

    participants: frozenset[uuid.UUID]
    endpoints: tuple[Endpoint, ...]
    nodes: tuple[NodeInfo, ...]

    def on_topic(self, topic_name: str, kind: str | None = None) -> list[Endpoint]:
        """Endpoints on DDS topic `topic_name` ('rt/...'), optionally only 'reader' or 'writer'."""
        return [e for e in self.endpoints if e.topic_name == topic_name and kind in (None, e.kind)]

    def node_of(self, endpoint: Endpoint) -> NodeInfo | None:
        """The node that owns `endpoint`, if its participant announced one."""
        for node in self.nodes:
            if endpoint.guid in (node.writers if endpoint.kind == "writer" else node.readers):
                return node
        return None


def discover(duration_s: float) -> Graph:
    """Listen for `duration_s` seconds on the domain of ROS_DOMAIN_ID and return what was seen.

    Uses this process's participant (so a process that runs nodes sees them too).
    """
    dp = dds.participant()
    builtin = {kind: BuiltinDataReader(dp, topic) for kind, topic in (
        ("participant", BuiltinTopicDcpsParticipant), ("writer", BuiltinTopicDcpsPublication),
        ("reader", BuiltinTopicDcpsSubscription))}
    info_reader = DataReader(dp, dds.shared_topic(ros_discovery.TOPIC, message_class(ros_discovery.TYPE)),
                             dds.dds_qos(ros_discovery.READER_QOS))
    latest: dict[bytes, Any] = {}  # participant GID -> its last ParticipantEntitiesInfo
    deadline = time.monotonic() + max(duration_s, 0.0)
    while True:
        for sample in info_reader.take(1000):
            latest[bytes(sample.gid.data[:16])] = sample
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
    participants = frozenset(s.key for s in _alive(builtin["participant"]))
    endpoints = tuple(endpoint_from_sample(kind, s) for kind in ("writer", "reader") for s in _alive(builtin[kind]))
    nodes = tuple(
        NodeInfo(n.node_namespace, n.node_name, uuid.UUID(bytes=gid),
                 frozenset(_guid(g) for g in n.reader_gid_seq), frozenset(_guid(g) for g in n.writer_gid_seq))
        for gid, info in latest.items() if uuid.UUID(bytes=gid) in participants
        for n in info.node_entities_info_seq
    )
    return Graph(participants, endpoints, nodes)


def _alive(reader: BuiltinDataReader) -> list[Any]:
    """The latest sample of every alive instance (disposed endpoints and participants dropped)."""
    latest = {s.key: s for s in reader.read(_MAX_SAMPLES)}
    return [s for s in latest.values() if s.sample_info.instance_state == InstanceState.Alive]


def _guid(gid: Any) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(gid.data[:16]))


def endpoint_from_sample(kind: str, sample: Any) -> Endpoint:
    """An Endpoint from a DCPSPublication ('writer') or DCPSSubscription ('reader') sample."""
    qos = sample.qos  # a policy left out (None) has its DDS default
    reliability = qos[Policy.Reliability]
    history = qos[Policy.History] or Policy.History.KeepLast(1)
    lifespan = qos[Policy.Lifespan]
    return Endpoint(
        kind=kind, guid=sample.key, participant=sample.participant_key, topic_name=sample.topic_name,
        type_name=sample.type_name,
        reliability=(api.Reliability.BEST_EFFORT if reliability == Policy.Reliability.BestEffort
                     else api.Reliability.RELIABLE).value,
        durability=_DURABILITY.get(qos[Policy.Durability], "volatile"),
        depth=KEEP_ALL if history == Policy.History.KeepAll else history.depth,
        lifespan_ns=lifespan.lifespan if lifespan is not None else 2**63 - 1,
        dds_qos=qos,
    )


#: the publisher of a topic any node may write (operator commands: ros2 topic pub, the MES node, cellctl)
ANY_NODE = "operator"


def check_against_topic_table(graph: Graph, namespace: str, table: Iterable[TableTopic] | None = None,
                              *, exact_readers: bool = True) -> list[str]:
    """Every difference between the endpoints under `namespace` and the topic table; [] if none.

    - each endpoint's DDS topic (`rt/<namespace>/<name>`) must be in the table (the table's
      names resolve under `namespace`), with the table's DDS type name (`pkg::msg::dds_::Type_`);
    - a writer must offer exactly the table's reliability, durability and depth, and belong to
      the table's publisher node when its participant announces nodes (any node for `ANY_NODE`);
    - a reader must ask for exactly the same QoS, or with `exact_readers=False` (e.g. while
      `ros2 bag record` or `ros2 topic echo` run) only for what the table's writers offer;
    - every table topic must have at least one endpoint.
    `table` defaults to `cell_controller.nodes.topics.ALL_TOPICS`.
    """
    if table is None:
        from cell_controller.nodes.topics import ALL_TOPICS as table
    expected = {dds_topic_name(resolve_topic(t.name, namespace, "_")): t for t in table}
    prefix = dds_topic_name(resolve_topic("_", namespace, "_"))[:-1]
    problems: list[str] = []
    for endpoint in graph.endpoints:
        if not endpoint.topic_name.startswith(prefix) or endpoint.topic_name in _ROS_INFRASTRUCTURE:
            continue
        node = graph.node_of(endpoint)
        who = f"{endpoint.kind} {endpoint.guid} of {node.fq_name if node else 'participant ' + str(endpoint.participant)}"
        topic = expected.get(endpoint.topic_name)
        if topic is None:
            problems.append(f"{endpoint.topic_name}: {who} is on a topic that is not in the topic table")
            continue
        problems += [f"{endpoint.topic_name}: {who} {p}" for p in _endpoint_problems(endpoint, topic, node, exact_readers)]
    for name, topic in expected.items():
        if not graph.on_topic(name):
            problems.append(f"{name}: no reader or writer ({topic.publisher} publishes it per the topic table)")
    return problems


def _endpoint_problems(endpoint: Endpoint, topic: TableTopic, node: NodeInfo | None, exact_readers: bool) -> list[str]:
    problems = []
    if endpoint.type_name != dds_type_name(topic.type):
        problems.append(f"has type {endpoint.type_name}, the table says {dds_type_name(topic.type)}")
    qos = topic.qos
    got = (endpoint.reliability, endpoint.durability, endpoint.depth)
    want = (qos.reliability.value, qos.durability.value, qos.depth)
    if endpoint.kind == "writer" or exact_readers:
        if got != want:
            problems.append(f"has QoS (reliability, durability, depth) {got}, the table says {want} ({qos.name})")
    else:
        if endpoint.reliability == api.Reliability.RELIABLE.value and qos.reliability is not api.Reliability.RELIABLE:
            problems.append(f"asks for a reliable stream, the table's writers are {qos.reliability.value}")
        if endpoint.durability != api.Durability.VOLATILE.value and qos.durability is not api.Durability.TRANSIENT_LOCAL:
            problems.append(f"asks for {endpoint.durability} durability, the table's writers are {qos.durability.value}")
    if endpoint.kind == "writer" and node is not None and topic.publisher != ANY_NODE and node.name != topic.publisher:
        problems.append(f"publishes it, the table says {topic.publisher} does")
    return problems
