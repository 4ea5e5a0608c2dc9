"""Recording a running graph to a rosbag2 MCAP bag, read back with rosbags' reader."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from rosbags.interfaces import QosDurability, QosHistory, QosReliability
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores

from cell_controller.bus.messages import typestore
from cell_controller.bus.record import main_record, record

PEER = str(Path(__file__).with_name("peer.py"))


def start_publisher(topic: str, qos: str, count: int, namespace: str) -> subprocess.Popen:
    """peer.py publishing std_msgs/String 'msg-<i>' `count` times once a reader matched (latched: at once)."""
    return subprocess.Popen([sys.executable, PEER, "pub", topic, qos, str(count), "--ros-args", "-r",
                             f"__ns:={namespace}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=os.environ.copy())


def test_record_namespace_to_mcap(tmp_path: Path) -> None:
    chatter = start_publisher("chatter", "default", 20, "/rec")
    latched = start_publisher("state", "transient_local", 3, "/rec")
    elsewhere = start_publisher("chatter", "transient_local", 3, "/other")
    peers = (chatter, latched, elsewhere)
    stop = threading.Event()
    recorder = threading.Thread(target=record, args=(None, "/rec", tmp_path / "bag"), kwargs={"stop_event": stop})
    try:
        recorder.start()
        assert chatter.stdout.readline().strip() == "published"  # after the recorder's reader matched
        assert latched.stdout.readline().strip() == "published"
        time.sleep(0.5)  # reliable samples still in flight when the publisher printed
        stop.set()
        recorder.join(timeout=10)
    finally:
        stop.set()
        for peer in peers:
            peer.stdin.close()
            peer.wait(timeout=10)

    metadata = yaml.safe_load((tmp_path / "bag" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert (metadata["storage_identifier"], metadata["version"], metadata["message_count"]) == ("mcap", 8, 21)
    with Reader(tmp_path / "bag") as bag:
        connections = {c.topic: c for c in bag.connections}
        assert set(connections) == {"/rec/chatter", "/rec/state"}  # not /other, not /rosout
        for name, durability, depth in (("/rec/chatter", QosDurability.VOLATILE, 10),
                                        ("/rec/state", QosDurability.TRANSIENT_LOCAL, 1)):
            conn = connections[name]
            assert (conn.msgtype, conn.msgcount) == ("std_msgs/msg/String", 20 if depth == 10 else 1)
            assert conn.msgdef.data.strip() == "string data"  # the definition Foxglove / ros2 bag decode with
            (qos,) = conn.ext.offered_qos_profiles
            assert (qos.history, qos.depth, qos.reliability, qos.durability) == (
                QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE, durability)
        store = typestore(Stores.ROS2_HUMBLE)
        texts = {name: [] for name in connections}
        for conn, _stamp_ns, raw in bag.messages():
            texts[conn.topic].append(store.deserialize_cdr(raw, conn.msgtype).data)
    assert texts == {"/rec/chatter": [f"msg-{i}" for i in range(20)], "/rec/state": ["msg-2"]}


def test_record_listed_topics_for_a_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latched = start_publisher("/listed/state", "transient_local", 2, "/")
    try:
        assert latched.stdout.readline().strip() == "published"
        assert main_record(["-o", str(tmp_path / "bag"), "--duration", "0.8", "/listed/state", "/listed/none"]) == 0
    finally:
        latched.stdin.close()
        latched.wait(timeout=10)
    assert "/listed/state [std_msgs/msg/String]: 1 messages" in capsys.readouterr().out
    with Reader(tmp_path / "bag") as bag:
        assert [(c.topic, c.msgcount) for c in bag.connections] == [("/listed/state", 1)]


def test_record_needs_a_stop(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duration_s or stop_event"):
        record(None, "/", tmp_path / "bag")
