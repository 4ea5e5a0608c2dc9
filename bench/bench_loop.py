"""Benchmark: the 50 Hz welding loop over a shift, sense-to-actuate latency and missed deadlines.

Ours: `cellctl shift --parts N` with the shipped policies (`learned_weld`, `learned_feed`)
on a private copy of config/cell.yaml. Peer, same run: a sensor process publishing
`welder/process` samples at the same rate and a plain cyclonedds-python echo answering
each one with a `weld/setpoints` message at once (no policy, no shield): the floor the
transport sets.

One observer (this process, a `DdsNode` on the cell's namespace) receives the topics and
timestamps them on one clock. For each device tick while the arc is on:

* sense-to-actuate latency = arrival of the setpoints whose `sensed_stamp_s` names the
  tick − arrival of the last of the tick's sensor readings (welder sample and seam-tracker
  reading; the peer has only the sample). The bridge → observer hop appears on both sides
  and cancels, leaving bus hop + policy + shield + bus hop;
* a missed deadline = no such setpoints within one period (1 / welder publishing rate).

It also welds the shift's joints in-process (`policies.evaluate.run_policy`, the
evaluation's loop) and compares the imperfection rate (worse than ISO 5817 C) with the
shift's journal, part by part. The k-th part of a fresh twin is blank k, whose joint
seed is `cell.seed * 100000 + k` (`TwinCell.new_part`).

    python bench/bench_loop.py              # a 20-part shift
    python bench/bench_loop.py --parts 3    # quick
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.journal import Journal, PartRecord
from cell_controller.nodes import topics
from cell_controller.policies import registry
from cell_controller.policies.evaluate import run_policy
from cell_controller.testing import learned_policies, private_cell_file

CELLCTL = str(Path(sys.executable).with_name("cellctl"))
TIMEOUT_PER_PART_S = 60.0
PERIOD_S = 1.0 / 50.0
P99_TARGET_MS = 10.0
MISSED_TARGET = 0.01


@dataclass
class Trace:
    """Arrival times (time.monotonic, s) at the observer, keyed by the device stamp."""

    samples: dict[float, float]  # arc-on welder samples
    trackers: dict[float, float]  # seam-tracker readings
    setpoints: dict[float, float]  # by the stamp they answer

    def latencies_ms(self) -> list[float | None]:
        """Per arc-on tick: ms from its last sensor reading until its setpoints arrived (None: never)."""
        out: list[float | None] = []
        for stamp, t in self.samples.items():
            sensed = max(t, self.trackers.get(stamp, t))
            answered = self.setpoints.get(stamp)
            out.append(None if answered is None else (answered - sensed) * 1e3)
        return out


class Observer:
    """Receives welder/process and weld/setpoints under `namespace` on a spinning DdsNode."""

    def __init__(self, namespace: str):
        from cell_controller.bus.dds import DdsNode
        from cell_controller.nodes.codec import Codec

        self.trace = Trace({}, {}, {})
        self.node = DdsNode("loop_observer", ["--ros-args", "-r", f"__ns:={namespace}"])
        read = Codec.read_array

        def on_sample(msg) -> None:
            now, f = time.monotonic(), read(topics.WELD_PROCESS, msg)
            if f is not None and f["arc_on"] > 0.5:
                self.trace.samples.setdefault(f["stamp_s"], now)

        def on_tracker(msg) -> None:
            now, f = time.monotonic(), read(topics.SEAM_TRACKER, msg)
            if f is not None:
                self.trace.trackers.setdefault(f["stamp_s"], now)

        def on_setpoints(msg) -> None:
            now, f = time.monotonic(), read(topics.WELD_SETPOINTS, msg)
            if f is not None:
                self.trace.setpoints.setdefault(f["sensed_stamp_s"], now)

        for topic, callback in ((topics.WELD_PROCESS, on_sample), (topics.SEAM_TRACKER, on_tracker),
                                (topics.WELD_SETPOINTS, on_setpoints)):
            self.node.create_subscription(topic.type, topic.name, callback, topic.qos)
        self.thread = threading.Thread(target=self.node.spin, daemon=True)
        self.thread.start()

    def close(self) -> Trace:
        time.sleep(0.5)  # the last setpoints in flight
        self.node.shutdown()
        self.thread.join(2.0)
        return self.trace


def shift(parts: int, folder: Path, env: dict[str, str]) -> tuple[Trace, list[PartRecord], CellConfig]:
    """Ours: a shift with the shipped policies, observed; the trace, the journal's parts and the cell."""
    config = private_cell_file(folder, "bench_loop", learned_policies)
    cell = load_cell(config)
    observer = Observer(cell.namespace)
    run = subprocess.run([CELLCTL, "shift", "--parts", str(parts), "--config", str(config)], env=env,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         timeout=60 + TIMEOUT_PER_PART_S * parts)
    trace = observer.close()
    if run.returncode != 0:
        raise SystemExit(f"bench: cellctl shift failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
    with Journal(cell.journal_path, writer=False) as journal:
        records = journal.parts(journal.last_shift_id())
    return trace, records, cell


def in_process_defective(cell: CellConfig, parts: int) -> list[bool]:
    """The same joints welded by the same policy in the evaluation's in-process loop."""
    policy = registry.weld_policy(cell)
    return [run_policy(policy, cell.seed * 100_000 + k, cell).defective for k in range(1, parts + 1)]


# -- the peer: a sensor process and a raw cyclonedds echo -----------------------------------------

def _raw(namespace: str):
    from cyclonedds.topic import Topic

    from cell_controller.bus.dds import dds_qos, participant
    from cell_controller.bus.messages import message_class

    dp, cls = participant(), message_class(topics.WELD_PROCESS.type)
    process = Topic(dp, f"rt{namespace}/{topics.WELD_PROCESS.name}", cls)
    setpoints = Topic(dp, f"rt{namespace}/{topics.WELD_SETPOINTS.name}", cls)
    return dp, cls, process, setpoints, dds_qos


def raw_echo(namespace: str) -> None:
    """Answer every welder sample with setpoints naming its stamp, plain cyclonedds-python."""
    from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader

    dp, cls, process, setpoints, dds_qos = _raw(namespace)
    reader = DataReader(dp, process, dds_qos(topics.WELD_PROCESS.qos))
    writer = DataWriter(dp, setpoints, dds_qos(topics.WELD_SETPOINTS.qos))
    waitset = WaitSet(dp)
    waitset.attach(ReadCondition(reader, SampleState.Any | ViewState.Any | InstanceState.Any))
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    print("ready", flush=True)
    while True:
        if waitset.wait(50_000_000):
            for sample in reader.take(10):
                if sample.sample_info.valid_data:
                    writer.write(cls(layout=sample.layout, data=[24.0, 8.0, 10.0, 0.0, sample.data[6]]))


def sensor(namespace: str, samples: int) -> None:
    """Publish `samples` arc-on welder samples at 50 Hz (the bridge's place in the loop)."""
    from cyclonedds.pub import DataWriter

    from cell_controller.bus.messages import message_class

    dp, cls, process, _, dds_qos = _raw(namespace)
    writer = DataWriter(dp, process, dds_qos(topics.WELD_PROCESS.qos))
    dim_cls, layout_cls = (message_class(t) for t in ("std_msgs/msg/MultiArrayDimension",
                                                       "std_msgs/msg/MultiArrayLayout"))
    time.sleep(1.0)  # discovery
    dim = dim_cls(label=",".join(topics.WELD_PROCESS.fields), size=7, stride=7)
    due = time.monotonic()
    for i in range(samples):
        writer.write(cls(layout=layout_cls(dim=[dim], data_offset=0),
                         data=[230.0, 24.0, 8.0, 5520.0, 8.0, 1.0, 1_790_000_000.0 + 0.1 * i]))
        due += PERIOD_S
        time.sleep(max(0.0, due - time.monotonic()))


def peer(samples: int, env: dict[str, str]) -> Trace:
    namespace = f"/bench_loop_peer_{os.getpid()}"
    observer = Observer(namespace)
    echo = subprocess.Popen([sys.executable, __file__, "--role", "echo", "--namespace", namespace], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None and echo.stdout.readline().strip() == "ready"
        subprocess.run([sys.executable, __file__, "--role", "sensor", "--namespace", namespace,
                        "--samples", str(samples)], env=env, check=True, timeout=60 + samples * PERIOD_S * 2)
    finally:
        echo.stdin.close()  # type: ignore[union-attr]
        echo.wait(5)
    return observer.close()


# -- report -----------------------------------------------------------------------------------------

def figures(trace: Trace) -> dict[str, float]:
    lat = trace.latencies_ms()
    answered = sorted(x for x in lat if x is not None)
    n = len(lat)
    missed = sum(1 for x in lat if x is None or x > PERIOD_S * 1e3)
    stamps = sorted(trace.samples.values())
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]) if b - a < 1.0)

    def q(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")
    return {"samples": n, "answered": len(answered), "p50": q(answered, 0.5), "p99": q(answered, 0.99),
            "max": answered[-1] if answered else float("nan"), "missed": missed / n if n else float("nan"),
            "rate_Hz": 1.0 / q(gaps, 0.5) if gaps else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=20, help="parts in the shift (default 20)")
    parser.add_argument("--role", choices=("echo", "sensor"), help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "echo":
        raw_echo(args.namespace)
        return 0
    if args.role == "sensor":
        sensor(args.namespace, args.samples)
        return 0
    os.environ.setdefault("ROS_DOMAIN_ID", str(201 + os.getpid() % 30))  # the observer's domain, and the shift's
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="bench_loop_") as folder:
        ours, parts, cell = shift(args.parts, Path(folder), env)
    theirs = peer(max(500, len(ours.samples)), env)
    a, b = figures(ours), figures(theirs)
    loop = [not p.good for p in parts]
    alone = in_process_defective(cell, len(parts))
    print(f"`cellctl shift --parts {args.parts}` with learned_weld + learned_feed (policy node, shield, bridges, "
          f"twin), against a plain cyclonedds-python echo fed at 50 Hz; latency = observer's arrival of the "
          f"setpoints − arrival of the last sensor reading of the tick they answer; deadline "
          f"{PERIOD_S * 1e3:.0f} ms")
    print()
    print("| figure | shift (policy node) | raw echo (peer) | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print(f"| arc-on welder samples seen | {a['samples']} | {b['samples']} | | |")
    print(f"| loop rate (median sample interval), Hz | {a['rate_Hz']:.1f} | {b['rate_Hz']:.1f} | | 50 |")
    for key, label in (("p50", "p50"), ("p99", "p99"), ("max", "max")):
        target = f"≤ {P99_TARGET_MS:g} ms" if key == "p99" else ""
        print(f"| sense-to-actuate {label}, ms | {a[key]:.2f} | {b[key]:.2f} | {a[key] / b[key]:.2f}x | {target} |")
    print(f"| missed deadlines | {a['missed']:.2%} | {b['missed']:.2%} | | ≤ {MISSED_TARGET:.0%} |")
    print()
    rate_loop, rate_alone = sum(loop) / len(loop), sum(alone) / len(alone)
    ratio = f"{rate_loop / rate_alone:.2f}x" if rate_alone else "-"
    print(f"Same {len(parts)} joints (seeds {cell.seed * 100_000 + 1}…{cell.seed * 100_000 + len(parts)}), "
          f"learned_weld: shift (OPC UA + DDS) vs the in-process evaluation loop")
    print()
    print("| figure | shift | in-process | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print(f"| welds worse than ISO 5817 C | {sum(loop)} / {len(loop)} ({rate_loop:.1%}) | {sum(alone)} / "
          f"{len(alone)} ({rate_alone:.1%}) | {ratio} | 0.90–1.10x |")
    agree = sum(x == y for x, y in zip(loop, alone))
    print(f"| parts with the same verdict | {agree} / {len(parts)} | | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
