"""The graph on the wire: ros_discovery_info, endpoint names/types/QoS vs the topic table, namespaces, domains.

Three `graph_peer.py` processes hold the whole topic table: cells /cell_a and /cell_b on this
session's domain, /cell_far on another domain. This process only looks (and decodes
`ros_discovery_info` with rosbags, an independent CDR implementation).
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from cyclonedds.sub import DataReader
from rosbags.typesys import Stores

from cell_controller.bus import ros_discovery
from cell_controller.bus.dds import DdsNode, dds_qos, domain_id, participant, shared_topic, take_serialized
from cell_controller.bus.discovery import Graph, check_against_topic_table, discover
from cell_controller.bus.messages import message_class, typestore
from cell_controller.nodes.topics import ALL_TOPICS, JOINT_STATES

GRAPH_PEER = str(Path(__file__).with_name("graph_peer.py"))
PUBLISHERS = sorted({t.publisher for t in ALL_TOPICS})


class Peer:
    """A running graph_peer.py process."""

    def __init__(self, namespace: str, domain: int) -> None:
        env = {**os.environ, "ROS_DOMAIN_ID": str(domain)}
        self.process = subprocess.Popen([sys.executable, GRAPH_PEER, namespace], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)

    def ready(self) -> None:
        assert self.process.stdout.readline().strip() == "ready"

    def send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, Peer]]:
    here = domain_id()
    started = {"/cell_a": Peer("/cell_a", here), "/cell_b": Peer("/cell_b", here),
               "/cell_far": Peer("/cell_far", here + 1)}
    try:
        for peer in started.values():
            peer.ready()
        yield started
    finally:
        for peer in started.values():
            peer.close()


@pytest.fixture(scope="module")
def graph(peers: dict[str, Peer]) -> Graph:
    return discover(1.5)


def participant_of(graph: Graph, namespace: str) -> uuid.UUID:
    """The one participant holding endpoints under `namespace`."""
    owners = {e.participant for e in graph.endpoints if e.topic_name.startswith(f"rt{namespace}/")}
    assert len(owners) == 1, owners
    return owners.pop()


def test_every_endpoint_matches_the_topic_table(graph: Graph) -> None:
    for namespace in ("/cell_a", "/cell_b"):
        assert check_against_topic_table(graph, namespace) == []
        assert {n.name for n in graph.nodes if n.namespace == namespace} == {*PUBLISHERS, "listener"}
    writer = graph.on_topic("rt/cell_a/robot/joint_states", "writer")[0]
    assert (writer.type_name, writer.reliability, writer.durability, writer.depth) == (
        "sensor_msgs::msg::dds_::JointState_", "best_effort", "volatile", 5)
    assert (writer.ros_topic, writer.ros_type) == ("/cell_a/robot/joint_states", "sensor_msgs/msg/JointState")


def test_check_names_each_difference(graph: Graph) -> None:
    writer = graph.on_topic("rt/cell_a/robot/joint_states", "writer")[0]
    reader = graph.on_topic("rt/cell_a/state", "reader")[0]
    changed = [
        dataclasses.replace(writer, reliability="reliable"),
        dataclasses.replace(writer, guid=uuid.uuid4(), type_name="sensor_msgs::msg::dds_::Imu_"),
        dataclasses.replace(writer, guid=uuid.uuid4(), topic_name="rt/cell_a/robot/joint_state"),
        dataclasses.replace(reader, depth=5),
    ]
    others = [e for e in graph.endpoints if e.guid not in (writer.guid, reader.guid)
              and e.topic_name != "rt/cell_a/policy/status"]
    problems = check_against_topic_table(Graph(graph.participants, tuple(others + changed), graph.nodes), "/cell_a")
    expected = ["rt/cell_a/robot/joint_states: writer .* of /cell_a/robot_bridge has QoS .*'reliable'.*sensor_data",
                "rt/cell_a/robot/joint_states: writer .* has type sensor_msgs::msg::dds_::Imu_",
                "rt/cell_a/robot/joint_state: writer .* not in the topic table",
                "rt/cell_a/state: reader .* of /cell_a/listener has QoS .*5\\).*1\\)",
                "rt/cell_a/policy/status: no reader or writer"]
    assert len(problems) == len(expected), problems
    for pattern in expected:
        assert any(re.search(pattern, p) for p in problems), (pattern, problems)
    lenient = check_against_topic_table(Graph(graph.participants, (dataclasses.replace(reader, depth=1000),),
                                              graph.nodes), "/cell_a", table=[t for t in ALL_TOPICS
                                                                               if t.name == "state"],
                                        exact_readers=False)
    assert lenient == []


def test_cells_side_by_side_do_not_cross(graph: Graph, node_factory) -> None:
    a, b = participant_of(graph, "/cell_a"), participant_of(graph, "/cell_b")
    assert a != b
    node = node_factory("probe", ["--ros-args", "-r", "__ns:=/cell_a"])
    sub = node.create_subscription(JOINT_STATES.type, JOINT_STATES.name, lambda msg: None, JOINT_STATES.qos)
    time.sleep(0.5)
    assert sub.publisher_count() == 1  # cell_a's robot_bridge only, not cell_b's


def test_domains_do_not_see_each_other(graph: Graph) -> None:
    assert not [e for e in graph.endpoints if e.topic_name.startswith("rt/cell_far/")]
    assert not [n for n in graph.nodes if n.namespace == "/cell_far"]
    code = "from cell_controller.bus.dds import domain_id; domain_id()"
    bad = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ROS_DOMAIN_ID": "300"},
                         capture_output=True, text=True, timeout=30)
    assert "ROS_DOMAIN_ID='300' is not a domain id" in bad.stderr


def latest_discovery_info(participant_guid: uuid.UUID, wait_s: float) -> object:
    """The last ros_discovery_info sample of a participant, taken as raw CDR and decoded by rosbags."""
    reader = DataReader(
        participant(), shared_topic(ros_discovery.TOPIC, message_class(ros_discovery.TYPE)),
        dds_qos(ros_discovery.READER_QOS))
    store = typestore(Stores.ROS2_HUMBLE)
    found = None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for data, _info in take_serialized(reader, 1000):
            info = store.deserialize_cdr(data, ros_discovery.TYPE)
            if bytes(info.gid.data[:16]) == participant_guid.bytes:
                found = info
        time.sleep(0.05)
    assert found is not None
    return found


def test_ros_discovery_info_names_nodes_and_gids(graph: Graph) -> None:
    a = participant_of(graph, "/cell_a")
    info = latest_discovery_info(a, 0.5)
    assert bytes(info.gid.data) == a.bytes + bytes(8)  # Humble: 16-byte GUID, zero-padded to 24
    nodes = {(n.node_namespace, n.node_name): n for n in info.node_entities_info_seq}
    assert set(nodes) == {("/cell_a", name) for name in [*PUBLISHERS, "listener"]}

    def gids(seq) -> set[bytes]:
        assert all(bytes(g.data[16:]) == bytes(8) for g in seq)
        return {bytes(g.data[:16]) for g in seq}

    rosout = {e.guid.bytes for e in graph.on_topic("rt/rosout", "writer") if e.participant == a}
    for name in PUBLISHERS:
        node = nodes[("/cell_a", name)]
        table = {e.guid.bytes for t in ALL_TOPICS if t.publisher == name
                 for e in graph.on_topic(f"rt/cell_a/{t.name}", "writer")}
        assert table and table < gids(node.writer_gid_seq)
        assert len(gids(node.writer_gid_seq) - table) == 1 and gids(node.writer_gid_seq) - table <= rosout
        assert not node.reader_gid_seq
    listener = nodes[("/cell_a", "listener")]
    assert gids(listener.reader_gid_seq) == {e.guid.bytes for t in ALL_TOPICS
                                             for e in graph.on_topic(f"rt/cell_a/{t.name}", "reader")}


def test_ros_discovery_info_follows_node_shutdown(graph: Graph, peers: dict[str, Peer]) -> None:
    b = participant_of(graph, "/cell_b")
    peers["/cell_b"].send("shutdown policy")
    info = latest_discovery_info(b, 0.5)
    assert "policy" not in {n.node_name for n in info.node_entities_info_seq}
    assert len(info.node_entities_info_seq) == len(PUBLISHERS)
    after = discover(0.3)
    assert not after.on_topic("rt/cell_b/weld/setpoints", "writer")
    assert not [n for n in after.nodes if n.fq_name == "/cell_b/policy"]


@pytest.mark.parametrize("store", [Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY], ids=lambda s: s.name)
def test_entities_info_per_distribution(store: Stores) -> None:
    written: list[object] = []
    me, writer, reader = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    entities = ros_discovery.ParticipantEntities(me, lambda t: message_class(t, store), written.append)
    key = entities.add_node("/cell", "robot_bridge")
    entities.add_writer(key, writer)
    entities.add_reader(key, reader)
    other = entities.add_node("/", "other")
    entities.remove_node(other)
    assert len(written) == 5
    size = {Stores.ROS2_HUMBLE: 24, Stores.ROS2_JAZZY: 16}[store]
    decoded = typestore(store).deserialize_cdr(written[-1].serialize(), ros_discovery.TYPE)
    assert bytes(decoded.gid.data) == ros_discovery.gid(me, size) == me.bytes + bytes(size - 16)
    (node,) = decoded.node_entities_info_seq
    assert (node.node_namespace, node.node_name) == ("/cell", "robot_bridge")
    assert [bytes(g.data) for g in node.writer_gid_seq] == [ros_discovery.gid(writer, size)]
    assert [bytes(g.data) for g in node.reader_gid_seq] == [ros_discovery.gid(reader, size)]


def test_node_in_this_process_is_announced(node_factory) -> None:
    node: DdsNode = node_factory("local", ["--ros-args", "-r", "__ns:=/here"])
    pub = node.create_publisher("std_msgs/msg/String", "x", ros_discovery.QOS)
    found = [n for n in discover(0.2).nodes if n.fq_name == "/here/local"]
    assert len(found) == 1 and pub._writer.guid in found[0].writers
