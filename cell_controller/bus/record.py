"""Record a running graph to a rosbag2 bag (MCAP storage), as `ros2 bag record` would.

Topics are found through DDS discovery (every `rt/` topic under a namespace, or a given
list) while recording runs, so late publishers are picked up too. Each topic gets a reader
whose QoS adapts to what its writers offer (reliable only if they all are, transient local
only if they all are), as rosbag2 does. Messages are stored as the CDR bytes that arrived
(no re-serialization), stamped with the receive time (ns since the Unix epoch). Each
connection carries the message definition (from rosbags' typestore, so Foxglove and
`ros2 bag` decode it), its type hash and the writers' offered QoS profiles.

Metadata version 8 by default: Humble's rosbag2 reads it (it reads QoS profiles as a
string, which version 9 turns into a list), Iron and Jazzy too.
"""
from __future__ import annotations

import argparse
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication
from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
from cyclonedds.sub import DataReader
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer

from cell_controller.bus import api, dds
from cell_controller.bus.discovery import KEEP_ALL, Endpoint, endpoint_from_sample
from cell_controller.bus.messages import message_class, store_for_distro, typestore
from cell_controller.bus.names import dds_topic_name, normalize_namespace, resolve_topic

#: Reader history per topic: room for bursts between two takes.
_READER_DEPTH = 1000
#: Longest wait between looks at discovery and the stop conditions, s.
_SLICE_S = 0.05
#: rmw's infinite duration as rosbag2 writes it in offered_qos_profiles.
_INFINITE = QosTime(9223372036, 854775807)
_ANY = SampleState.Any | ViewState.Any | InstanceState.Any


@dataclass(frozen=True)
class TopicSummary:
    """What one topic contributed to the bag."""

    topic: str  # ROS name, e.g. '/cell/robot/joint_states'
    msgtype: str  # e.g. 'sensor_msgs/msg/JointState'
    count: int


def rosbag_qos(endpoint: Endpoint) -> Qos:
    """rosbag2's offered-QoS record of a discovered writer (lifespan kept, other durations infinite)."""
    lifespan = _INFINITE if endpoint.lifespan_ns >= 2**63 - 1 else QosTime(*divmod(endpoint.lifespan_ns, 10**9))
    return Qos(
        history=QosHistory.KEEP_ALL if endpoint.depth == KEEP_ALL else QosHistory.KEEP_LAST,
        depth=max(endpoint.depth, 0),
        reliability=QosReliability[endpoint.reliability.upper()],
        durability={"transient_local": QosDurability.TRANSIENT_LOCAL}.get(endpoint.durability,
                                                                           QosDurability.VOLATILE),
        deadline=_INFINITE, lifespan=lifespan, liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_INFINITE, avoid_ros_namespace_conventions=False,
    )


def adapted_qos(writers: Sequence[Endpoint]) -> api.QoS:
    """A reader QoS that matches every writer in `writers` and keeps what they keep (rosbag2's rule)."""
    reliable = all(w.reliability == api.Reliability.RELIABLE.value for w in writers)
    latched = all(w.durability == api.Durability.TRANSIENT_LOCAL.value for w in writers)
    return api.QoS("recorder", api.Reliability.RELIABLE if reliable else api.Reliability.BEST_EFFORT,
                   api.Durability.TRANSIENT_LOCAL if latched else api.Durability.VOLATILE, _READER_DEPTH)


class _Recording:
    """The open bag, one reader and connection per recorded topic."""

    def __init__(self, writer: Writer, wanted: set[str] | None, prefix: str) -> None:
        self._writer = writer
        self._wanted = wanted
        self._prefix = prefix
        self._store = store_for_distro()
        self._participant = dds.participant()
        self._publications = BuiltinDataReader(self._participant, BuiltinTopicDcpsPublication)
        self._waitset = WaitSet(self._participant)
        self._topics: dict[str, tuple[DataReader, ReadCondition, Any]] = {}
        self.counts: dict[str, int] = {}

    def discover(self) -> None:
        """Subscribe to every wanted topic whose first writers discovery announced since last time."""
        new: dict[str, list[Endpoint]] = {}
        for sample in self._publications.take(10_000):
            if sample.sample_info.instance_state != InstanceState.Alive:
                continue
            endpoint = endpoint_from_sample("writer", sample)
            name = endpoint.ros_topic
            if name is not None and endpoint.ros_type is not None and name not in self._topics \
                    and self._wants(endpoint.topic_name):
                new.setdefault(name, []).append(endpoint)
        for name, writers in new.items():
            self._subscribe(name, writers[0].ros_type, writers)

    def _wants(self, topic_name: str) -> bool:
        return topic_name in self._wanted if self._wanted is not None else topic_name.startswith(self._prefix)

    def _subscribe(self, name: str, msgtype: str, writers: list[Endpoint]) -> None:
        topic = dds.shared_topic(dds_topic_name(name), message_class(msgtype, self._store))
        reader = DataReader(self._participant, topic, dds.dds_qos(adapted_qos(writers)))
        condition = ReadCondition(reader, _ANY)
        self._waitset.attach(condition)
        connection = self._writer.add_connection(
            name, msgtype, typestore=typestore(self._store), offered_qos_profiles=[rosbag_qos(w) for w in writers])
        self._topics[name] = (reader, condition, connection)
        self.counts[name] = 0

    def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for data, then write every sample that arrived."""
        if self._topics:
            self._waitset.wait(int(timeout_s * 1e9))
        else:
            time.sleep(timeout_s)
        for name, (reader, _condition, connection) in self._topics.items():
            for data, _info in dds.take_serialized(reader, _READER_DEPTH):
                self._writer.write(connection, time.time_ns(), data)
                self.counts[name] += 1

    def close(self) -> None:
        for _reader, condition, _connection in self._topics.values():
            self._waitset.detach(condition)
        self._topics.clear()


def record(topics: Sequence[str] | None, namespace: str, out_dir: str | Path, *, duration_s: float | None = None,
           stop_event: threading.Event | None = None, version: int = 8) -> list[TopicSummary]:
    """Record to a new bag folder `out_dir` (MCAP storage) until `duration_s` s pass or `stop_event` is set.

    `topics`: ROS topic names (relative ones resolve under `namespace`), or None for every
    topic under `namespace` ('/' records everything, /rosout included). Returns per-topic
    message counts. Raises ValueError if neither a duration nor a stop event is given.
    """
    if duration_s is None and stop_event is None:
        raise ValueError("record() needs duration_s or stop_event to know when to stop")
    namespace = normalize_namespace(namespace)
    wanted = None if topics is None else {dds_topic_name(resolve_topic(t, namespace, "recorder")) for t in topics}
    prefix = dds_topic_name(resolve_topic("_", namespace, "recorder"))[:-1]
    deadline = None if duration_s is None else time.monotonic() + duration_s
    writer = Writer(Path(out_dir), version=version, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    recording = _Recording(writer, wanted, prefix)
    try:
        while not (stop_event is not None and stop_event.is_set()):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            recording.discover()
            recording.drain(_SLICE_S if deadline is None else min(_SLICE_S, deadline - now))
        recording.drain(0.0)
    finally:
        recording.close()
        writer.close()
    return [TopicSummary(name, conn.msgtype, recording.counts[name])
            for name, conn in sorted((c.topic, c) for c in writer.connections)]


def main_record(argv: Sequence[str] | None = None) -> int:
    """`cellctl record [-o DIR] [--namespace NS] [--duration S] [TOPIC ...]`; stops on SIGINT/SIGTERM. Exit 0."""
    parser = argparse.ArgumentParser(prog="cellctl record", description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="*", help="topics to record (relative to --namespace); default: all")
    parser.add_argument("-o", "--output", default=time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S"),
                        help="new bag folder (default: rosbag2_<date>-<time>)")
    parser.add_argument("--namespace", default="/", help="record topics under this namespace (default: /)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    summary = record(args.topics or None, args.namespace, args.output, duration_s=args.duration, stop_event=stop)
    for topic in summary:
        print(f"{topic.topic} [{topic.msgtype}]: {topic.count} messages")
    print(f"bag: {args.output}")
    return 0
