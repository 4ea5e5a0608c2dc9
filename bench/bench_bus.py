"""Bus benchmarks across two processes; prints markdown table rows, exits 0.

(a) latency: publish-to-receive one-way latency (round trip / 2, µs) of a 6-joint
    sensor_msgs/JointState ping-pong through the bus (DdsNode publish / subscription
    callback / spin_once) and through raw cyclonedds-python (DataWriter / WaitSet /
    take), same message class and QoS (reliable, volatile, keep last 10), same run.
    Target: bus median <= 1.5x raw median.
(b) stream: JointState (6 joints) at --rate-hz for --duration s on reliable QoS from
    one process to another; sent / received / lost. Target: zero loss.

    python bench/bench_bus.py            # 10,000 ping-pongs each, 60 s stream at 1 kHz
    python bench/bench_bus.py --quick    # 10,000 ping-pongs each, 5 s stream (< 60 s in all)

Runs on domain ROS_DOMAIN_ID, or 201 + pid % 30 when unset, so as not to disturb a cell on 0.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

JOINT_STATE = "sensor_msgs/msg/JointState"
JOINTS = [f"joint_{i}" for i in range(1, 7)]
#: Ping-pongs run before measuring (connections, caches, JIT-free warm-up of code paths).
WARMUP = 500
#: How long the stream receiver waits for stragglers after the sender finished, s.
GRACE_S = 2.0


def joint_state(cls: Any, seq: int) -> Any:
    """A 6-joint JointState whose header.frame_id carries the sequence number `seq`."""
    header = cls.__annotations__["header"](frame_id=str(seq))
    return cls(header=header, name=JOINTS, position=[0.1 * seq] * 6, velocity=[0.0] * 6, effort=[0.0] * 6)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- (a) latency ------------------------------------------------------------------------------


def bus_echo() -> None:
    """Echo process: republish every /bench/ping on /bench/pong through the bus."""
    from cell_controller.bus import DEFAULT
    from cell_controller.bus.dds import DdsNode

    node = DdsNode("bench_echo", [])
    pong = node.create_publisher(JOINT_STATE, "/bench/pong", DEFAULT)
    node.create_subscription(JOINT_STATE, "/bench/ping", pong.publish, DEFAULT)
    _serve(node.spin, node.shutdown)


def raw_echo() -> None:
    """Echo process: the same with plain cyclonedds-python entities."""
    from cyclonedds.core import ReadCondition, WaitSet
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader

    dp, ping, pong, qos = _raw_entities()
    reader, writer = DataReader(dp, ping, qos), DataWriter(dp, pong, qos)
    waitset = WaitSet(dp)
    waitset.attach(ReadCondition(reader, _any_state()))
    stopped: list[bool] = []

    def loop() -> None:
        while not stopped:
            if waitset.wait(50_000_000):
                for sample in reader.take(10):
                    if sample.sample_info.valid_data:
                        writer.write(sample)

    _serve(loop, lambda: stopped.append(True))


def _serve(loop: Callable[[], None], stop: Callable[[], None]) -> None:
    """Print 'ready', run `loop` until stdin closes."""
    import threading

    threading.Thread(target=lambda: (sys.stdin.read(), stop()), daemon=True).start()
    print("ready", flush=True)
    loop()


def _any_state() -> int:
    from cyclonedds.core import InstanceState, SampleState, ViewState

    return SampleState.Any | ViewState.Any | InstanceState.Any


def _raw_entities() -> tuple[Any, Any, Any, Any]:
    """(participant, ping topic, pong topic, QoS) for the raw ping-pong."""
    from cyclonedds.topic import Topic

    from cell_controller.bus import DEFAULT
    from cell_controller.bus.dds import dds_qos, participant
    from cell_controller.bus.messages import message_class

    dp, cls = participant(), message_class(JOINT_STATE)
    return dp, Topic(dp, "rt/bench/raw_ping", cls), Topic(dp, "rt/bench/raw_pong", cls), dds_qos(DEFAULT)


def bus_pingpong(samples: int) -> list[float]:
    """Round trips / 2 through the bus, µs."""
    from cell_controller.bus import DEFAULT
    from cell_controller.bus.dds import DdsNode

    node = DdsNode("bench_ping", [])
    got: list[Any] = []
    ping = node.create_publisher(JOINT_STATE, "/bench/ping", DEFAULT)
    pong = node.create_subscription(JOINT_STATE, "/bench/pong", got.append, DEFAULT)
    _wait(lambda: ping.subscription_count() and pong.publisher_count())
    msg = joint_state(node.message(JOINT_STATE), 0)

    def once() -> None:
        got.clear()
        ping.publish(msg)
        while not got:
            node.spin_once(1.0)

    try:
        return _measure(once, samples)
    finally:
        node.shutdown()


def raw_pingpong(samples: int) -> list[float]:
    """Round trips / 2 through plain cyclonedds-python, µs."""
    from cyclonedds.core import ReadCondition, WaitSet
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader

    dp, ping_topic, pong_topic, qos = _raw_entities()
    writer, reader = DataWriter(dp, ping_topic, qos), DataReader(dp, pong_topic, qos)
    waitset = WaitSet(dp)
    waitset.attach(ReadCondition(reader, _any_state()))
    _wait(lambda: writer.get_publication_matched_status().current_count
          and reader.get_subscription_matched_status().current_count)
    msg = joint_state(ping_topic.data_type, 0)

    def once() -> None:
        writer.write(msg)
        while not reader.take(1):
            waitset.wait(1_000_000_000)

    return _measure(once, samples)


def _wait(matched: Callable[[], Any], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not matched():
        if time.monotonic() > deadline:
            raise SystemExit("bench: the peer process never matched")
        time.sleep(0.01)


def _measure(once: Callable[[], None], samples: int) -> list[float]:
    for _ in range(WARMUP):
        once()
    out = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        once()
        out.append((time.perf_counter_ns() - start) / 2e3)
    return out


def latency(samples: int) -> None:
    peers = [_spawn("echo-bus"), _spawn("echo-raw")]
    try:
        bus, raw = bus_pingpong(samples), raw_pingpong(samples)
    finally:
        _stop(peers)
    print("| path | samples | median one-way µs | p99 one-way µs |")
    print("|---|---:|---:|---:|")
    for name, values in (("bus (DdsNode)", bus), ("raw cyclonedds-python", raw)):
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {percentile(values, 0.99):.1f} |")
    ratio = statistics.median(bus) / statistics.median(raw)
    p99_ratio = percentile(bus, 0.99) / percentile(raw, 0.99)
    print(f"| bus / raw | | {ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'MISSED'}) "
          f"| {p99_ratio:.2f}x |")
    print()


# -- (b) stream -------------------------------------------------------------------------------


def stream_qos(depth: int) -> Any:
    """Reliable, volatile, KEEP_LAST `depth` (rmw's default profile has depth 10)."""
    from cell_controller.bus import DEFAULT, QoS

    return QoS(f"reliable_depth_{depth}", DEFAULT.reliability, DEFAULT.durability, depth)


def stream_send(rate_hz: float, duration_s: float, depth: int) -> None:
    """Sender process: publish JointState at `rate_hz` for `duration_s` once matched; print 'sent N S'."""
    from cell_controller.bus.dds import DdsNode

    node = DdsNode("bench_sender", [])
    pub = node.create_publisher(JOINT_STATE, "/bench/joint_states", stream_qos(depth))
    cls = node.message(JOINT_STATE)
    _wait(pub.subscription_count)
    sys.stdin.readline()  # 'go': the receiver matched this writer too
    count = int(rate_hz * duration_s)
    period_s = 1.0 / rate_hz
    start = time.perf_counter()
    for seq in range(count):
        delay = start + seq * period_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pub.publish(joint_state(cls, seq))
    print(f"sent {count} {time.perf_counter() - start:.3f}", flush=True)
    sys.stdin.read()
    node.shutdown()


def stream(rate_hz: float, duration_s: float, depth: int) -> None:
    """Receive the sender's stream on this process's spinning thread and print what arrived."""
    from cell_controller.bus.dds import DdsNode

    node = DdsNode("bench_receiver", [])
    seen: set[int] = set()
    duplicates = [0]

    def on_message(msg: Any) -> None:
        seq = int(msg.header.frame_id)
        duplicates[0] += seq in seen
        seen.add(seq)

    subscription = node.create_subscription(JOINT_STATE, "/bench/joint_states", on_message, stream_qos(depth))
    sender = _spawn("stream-send", "--rate-hz", str(rate_hz), "--duration", str(duration_s), "--depth", str(depth))
    import threading

    report: list[str] = []
    threading.Thread(target=lambda: report.append(sender.stdout.readline()), daemon=True).start()
    try:
        while not subscription.publisher_count():
            node.spin_once(0.01)
        sender.stdin.write("go\n")
        sender.stdin.flush()
        while not report:
            node.spin_once(0.05)
        _, sent_text, elapsed_text = report[0].split()
        sent = int(sent_text)
        deadline = time.monotonic() + GRACE_S
        while len(seen) < sent and time.monotonic() < deadline:
            node.spin_once(0.05)
    finally:
        _stop([sender])
        node.shutdown()
    print("| stream | rate Hz | duration s | sent | received | lost | duplicates |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| JointState 6 joints, reliable keep last {depth} | {rate_hz:g} | {float(elapsed_text):.1f} | {sent} "
          f"| {len(seen)} | {sent - len(seen)} | {duplicates[0]} |")
    missing = sorted(set(range(sent)) - seen)
    if missing:
        print(f"\nlost sequence numbers (first 20): {missing[:20]}")


# -- processes --------------------------------------------------------------------------------


def _spawn(role: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, __file__, "--role", role, *args], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    if role.startswith("echo") and process.stdout.readline().strip() != "ready":
        raise SystemExit(f"bench: the {role} process failed to start")
    return process


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.stdin.close()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000, help="ping-pongs measured per path (default 10000)")
    parser.add_argument("--rate-hz", type=float, default=1000.0, help="stream rate, Hz (default 1000)")
    parser.add_argument("--duration", type=float, default=None, help="stream duration, s (default 60; 5 with --quick)")
    parser.add_argument("--depth", type=int, default=10,
                        help="stream history depth, KEEP_LAST (default 10, as rmw's default profile)")
    parser.add_argument("--quick", action="store_true", help="a run of under a minute")
    parser.add_argument("--role", choices=["echo-bus", "echo-raw", "stream-send"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    duration_s = args.duration if args.duration is not None else (5.0 if args.quick else 60.0)
    os.environ.setdefault("ROS_DOMAIN_ID", str(201 + os.getpid() % 30))
    if args.role == "echo-bus":
        bus_echo()
    elif args.role == "echo-raw":
        raw_echo()
    elif args.role == "stream-send":
        stream_send(args.rate_hz, duration_s, args.depth)
    else:
        latency(args.samples)
        stream(args.rate_hz, duration_s, args.depth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
