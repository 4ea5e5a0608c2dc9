"""The DDS adapter: two-process pub/sub per QoS profile, executor, timers, shutdown, parameters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cell_controller.bus import DEFAULT, LATCHED, PROFILES, SENSOR_DATA, ParameterError, QoS, Reliability
from cell_controller.bus.dds import dds_qos

PEER = str(Path(__file__).with_name("peer.py"))


def start_peer(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, PEER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=os.environ.copy())


def spin_until(node, predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        node.spin_once(0.05)


@pytest.mark.parametrize("qos", [DEFAULT, SENSOR_DATA], ids=lambda q: q.name)
def test_publish_to_another_process(node_factory, qos: QoS) -> None:
    peer = start_peer("sub", "/test/chatter", qos.name, "3")
    try:
        assert peer.stdout.readline().strip() == "ready"
        node = node_factory("talker", ["--ros-args", "-r", "__ns:=/test"])
        pub = node.create_publisher("std_msgs/msg/String", "chatter", qos)
        spin_until(node, lambda: pub.subscription_count() == 1)
        String = node.message("std_msgs/msg/String")
        if qos.reliability is Reliability.RELIABLE:
            for i in range(3):
                pub.publish(String(data=f"m{i}"))
        else:  # best effort may drop samples until the reader has matched this writer too
            for i in range(250):
                if peer.poll() is not None:
                    break
                pub.publish(String(data=f"m{i}"))
                time.sleep(0.02)
        out, _ = peer.communicate(timeout=5)
        received = out.split()
        assert len(received) == 3 and received == sorted(received, key=lambda m: int(m[1:]))
        if qos.reliability is Reliability.RELIABLE:
            assert received == ["m0", "m1", "m2"]
    finally:
        peer.kill()


def test_latched_late_joiner_gets_last_value(node_factory) -> None:
    peer = start_peer("pub", "/test/latched", "transient_local", "3")
    try:
        assert peer.stdout.readline().strip() == "published"
        node = node_factory("late")
        got: list[str] = []
        sub = node.create_subscription("std_msgs/msg/String", "/test/latched", lambda m: got.append(m.data), LATCHED)
        spin_until(node, lambda: got)
        assert got == ["msg-2"]  # KEEP_LAST 1: only the last value
        assert sub.publisher_count() == 1
    finally:
        peer.communicate(input="", timeout=5)


def test_qos_mapping_is_keep_last_xcdr1() -> None:
    from cyclonedds.core import Policy

    qos = dds_qos(LATCHED)
    assert qos[Policy.History] == Policy.History.KeepLast(1)
    assert qos[Policy.Durability] == Policy.Durability.TransientLocal
    assert qos[Policy.DataRepresentation] == Policy.DataRepresentation(use_cdrv0_representation=True)
    assert dds_qos(SENSOR_DATA)[Policy.Reliability] == Policy.Reliability.BestEffort
    assert set(PROFILES) == {"default", "sensor_data", "transient_local"}


def test_in_process_pubsub_private_topic_and_counts(node_factory) -> None:
    node = node_factory("bridge", ["--ros-args", "-r", "__ns:=/cell"])
    listener = node_factory("listener")
    got = []
    pub = node.create_publisher("geometry_msgs/msg/PoseStamped", "~/pose", DEFAULT)
    sub = listener.create_subscription("geometry_msgs/msg/PoseStamped", "/cell/bridge/pose", got.append, DEFAULT)
    spin_until(listener, lambda: sub.publisher_count() == 1 and pub.subscription_count() == 1)
    msg = node.message("geometry_msgs/msg/PoseStamped")()
    msg.pose.position.x = 0.25
    pub.publish(msg)
    spin_until(listener, lambda: got)
    assert got[0].pose.position.x == 0.25
    with pytest.raises(TypeError):
        pub.publish(node.message("std_msgs/msg/String")(data="wrong type"))


def test_timer_period_and_cancel(node_factory) -> None:
    node = node_factory("clock")
    ticks: list[float] = []
    timer = node.create_timer(0.02, lambda: ticks.append(time.monotonic()))
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        node.spin_once(0.1)
    assert 20 <= len(ticks) <= 26
    periods = [b - a for a, b in zip(ticks, ticks[1:])]
    assert 0.015 < sum(periods) / len(periods) < 0.025
    timer.cancel()
    count = len(ticks)
    node.spin_once(0.1)
    assert len(ticks) == count


def test_shutdown_from_another_thread(node_factory) -> None:
    node = node_factory("stopper")
    node.create_timer(10.0, lambda: None)
    threading.Timer(0.2, node.shutdown).start()
    start = time.monotonic()
    node.spin()
    assert time.monotonic() - start < 0.2 + 0.5
    node.shutdown()  # idempotent


def test_shutdown_from_signal_handler(node_factory) -> None:
    node = node_factory("signalled")
    previous = signal.signal(signal.SIGUSR1, lambda *_: node.shutdown())
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        start = time.monotonic()
        node.spin()
        assert time.monotonic() - start < 0.2 + 0.5
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_shutdown_from_callback_releases_entities(node_factory) -> None:
    node = node_factory("self_stop")
    pub = node.create_publisher("std_msgs/msg/String", "/self_stop", DEFAULT)
    node.create_timer(0.01, node.shutdown)
    node.spin()
    assert pub.subscription_count() == 0
    pub.publish(node.message("std_msgs/msg/String")())  # dropped after shutdown, no error


def test_parameters_through_node(node_factory, tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("bridge:\n  ros__parameters:\n    rate_hz: 100\n    typo_hz: 1\n")
    node = node_factory("bridge", ["--ros-args", "--params-file", str(params), "-p", "name:=r1"])
    assert node.declare_parameter("rate_hz", 50.0) == 100.0
    assert node.declare_parameter("name", "x") == "r1"
    with pytest.raises(ParameterError, match=rf"'typo_hz' from params file {params}"):
        node.reject_undeclared_parameters()


def test_logger_named_after_node(node_factory) -> None:
    node = node_factory("talky", ["--ros-args", "-r", "__ns:=/cell", "--log-level", "debug"])
    assert node.get_logger().name == "cell.talky"
    assert node.get_logger().level == 10
    assert abs(node.now_ns() - time.time_ns()) < 1e9


def test_rosout_receives_log_records(node_factory) -> None:
    node = node_factory("noisy")
    got = []
    node.create_subscription("rcl_interfaces/msg/Log", "/rosout", got.append,
                             QoS("rosout", DEFAULT.reliability, LATCHED.durability, 100))
    node.get_logger().error("seam %d lost", 7)
    spin_until(node, lambda: any(m.name == "noisy" for m in got))
    record = next(m for m in got if m.name == "noisy")
    assert (record.level, record.msg, record.function) == (40, "seam 7 lost", "test_rosout_receives_log_records")


def test_adapter_selection_and_lazy_imports() -> None:
    code = (
        "import sys, cell_controller.bus as bus; "
        "assert 'cyclonedds' not in sys.modules and 'rclpy' not in sys.modules; "
        "print(bus.adapter_name()); n = bus.create_node('x', []); print(type(n).__name__); n.shutdown()"
    )
    env = {**os.environ, "CELL_BUS": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=20)
    assert out.stdout.split() == ["dds", "DdsNode"], out.stderr
    bad = subprocess.run([sys.executable, "-c", code], env={**env, "CELL_BUS": "zmq"},
                         capture_output=True, text=True, timeout=20)
    assert "CELL_BUS='zmq'" in bad.stderr


def test_a_sample_that_does_not_decode_is_dropped_counted_and_the_next_one_arrives(node_factory) -> None:
    """Well-formed CDR with a string that is not UTF-8 (no typed publisher sends it, any participant can):
    the subscriber's spin survives, the sample is counted as dropped, the good sample after it arrives."""
    from cyclonedds._clayer import ddspy_write

    node, listener = node_factory("rogue"), node_factory("listener")
    got = []
    pub = node.create_publisher("std_msgs/msg/String", "/cell/command", DEFAULT)
    sub = listener.create_subscription("std_msgs/msg/String", "/cell/command", got.append, DEFAULT)
    spin_until(listener, lambda: pub.subscription_count() == 1)
    String = node.message("std_msgs/msg/String")
    raw = String(data="XXXX").serialize().replace(b"XXXX", b"\xff\xfe\xc3\x28")
    for _ in range(3):
        assert ddspy_write(pub._writer._ref, raw) >= 0
    pub.publish(String(data="after"))
    spin_until(listener, lambda: got)
    assert [m.data for m in got] == ["after"] and sub.dropped == 3
