"""A flood of 1,000 OPC UA sessions against the twin's feeder server vs the same server unflooded.

The twin's servers run as `cellctl` starts them (a process of their own, loopback); a legitimate client
reads the feeder's heartbeat as the cell does, first alone (the peer), then while
tests/e2e/opcua_flood.py (a process of its own, at the lowest CPU priority) holds every session and
subscription the server's limits let it open. Prints the read latency before and during the flood and
their ratio; the limits themselves are asserted by tests/e2e/test_opcua_fuzz.py.

    python bench/bench_flood.py [--reads 500] [--sessions 1000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cell_controller.cli import Cell
from cell_controller.core.config import load_cell
from cell_controller.launch_plan import launch_plan
from cell_controller.opcua.address_space import DEVICE_HEARTBEAT, spec_for
from cell_controller.opcua.client import DeviceClient
from cell_controller.testing import private_cell_file

FLOOD = Path(__file__).resolve().parent.parent / "tests/e2e/opcua_flood.py"
#: the pause between two reads of the legitimate client, s (the cell's own fastest poll)
READ_PERIOD_S = 0.01


async def read_latencies_s(client: DeviceClient, reads: int) -> list[float]:
    """`reads` heartbeat reads, one per READ_PERIOD_S: each one's latency, s."""
    out = []
    for _ in range(reads):
        started = time.perf_counter()
        await client.read([DEVICE_HEARTBEAT])
        out.append(time.perf_counter() - started)
        await asyncio.sleep(READ_PERIOD_S)
    return out


async def measure(endpoint: str, reads: int, sessions: int) -> tuple[list[float], list[float], dict[str, int]]:
    client = await DeviceClient.connect(endpoint, spec_for("feeder"), 3.0)
    try:
        alone = await read_latencies_s(client, reads)
        flood = await asyncio.create_subprocess_exec(sys.executable, str(FLOOD), endpoint, "feeder", str(sessions),
                                                     stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert flood.stdout is not None and flood.stdin is not None
        counts = json.loads(await asyncio.wait_for(flood.stdout.readline(), 180))
        flooded = await read_latencies_s(client, reads)
        flood.stdin.close()
        await asyncio.wait_for(flood.wait(), 30)
        return alone, flooded, counts
    finally:
        await client.disconnect()


def quantile_ms(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=500, help="reads before and during the flood (default 500)")
    parser.add_argument("--sessions", type=int, default=1000, help="sessions the flood tries (default 1000)")
    args = parser.parse_args(argv)
    env = {**os.environ, "ROS_DOMAIN_ID": str(201 + os.getpid() % 30)}
    with tempfile.TemporaryDirectory(prefix="bench_flood_") as folder:
        config = load_cell(private_cell_file(Path(folder), "bench"))
        cell = Cell(launch_plan(config.path, 1, env), Path(folder) / "logs", env)
        cell.start_servers()
        try:
            alone, flooded, counts = asyncio.run(measure(config.device("feeder").endpoint, args.reads, args.sessions))
        finally:
            cell.stop()
    print(f"{args.sessions} sessions tried: {counts['sessions']} opened, {counts['sessions_refused']} refused, "
          f"{counts['subscriptions']} subscriptions; {args.reads} heartbeat reads before and during the flood")
    print()
    print("| read latency | unflooded (peer) | flooded | ratio |")
    print("|---|---:|---:|---:|")
    for q in (50, 99):
        print(f"| p{q}, ms | {quantile_ms(alone, q):.2f} | {quantile_ms(flooded, q):.2f} | "
              f"{quantile_ms(flooded, q) / quantile_ms(alone, q):.2f}x |")
    print(f"| max, ms | {max(alone) * 1e3:.2f} | {max(flooded) * 1e3:.2f} | {max(flooded) / max(alone):.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
